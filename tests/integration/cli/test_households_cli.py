"""`linli households claims` in-process against a real identity service (SQLite and PostgreSQL,
real NATS): the committee member lists the compound's pending claims (the owners' register's
entry is left out, with a warning, when trust-governance is unreachable), approves one — the
owner is bound — and rejects another with a reason; their own claim is refused (exit 6)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from linli.identity.v1 import identity_pb2 as pb
from linli_cli import app as linli_app
from tests.integration.identity.conftest import Identity, rid
from tests.integration.identity.conftest import identity as identity

SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"


@pytest.fixture(autouse=True)
def cli_env(identity: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_SERVICE_ADDR", f"127.0.0.1:{identity.app.port}")
    monkeypatch.setenv("TRUST_GOVERNANCE_SERVICE_ADDR", "127.0.0.1:9")  # nothing listens: the register is away
    monkeypatch.setenv("LINLI_CONFIG_DIR", str(tmp_path / "linli"))
    monkeypatch.delenv("LINLI_TOKEN", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


async def linli(*args: str, token: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, linli_app.app, [*args, "--token", token], prog_name="linli")


async def claim(identity: Identity, account: str, unit: str, name: str) -> str:
    reply = await (await identity.caller(account))(identity.household_claims.CreateHouseholdClaim,
                                                    pb.CreateHouseholdClaimRequest(household_claim=pb.HouseholdClaim(
                                                        household_path=unit, register_name=name), request_id=rid()))
    return str(reply.household_claim.name).removeprefix("householdClaims/")


async def test_list_approve_reject_and_never_ones_own(identity: Identity) -> None:
    member_id = await identity.with_grant("业委会委员", "owners_committee", SHENGJIAN)
    owner_id = await identity.person("周八", "+8613700002001")
    first = await claim(identity, owner_id, f"{SHENGJIAN}/b3/h101", "周八")
    second = await claim(identity, owner_id, f"{SHENGJIAN}/b3/h102", "周八")
    own = await claim(identity, member_id, f"{SHENGJIAN}/b3/h103", "委员本人")
    member = await identity.token(member_id)

    listed = await linli("households", "claims", "list", "--scope", SHENGJIAN, "--json", token=member)
    assert listed.exit_code == 0, listed.stderr
    assert [c["name"] for c in json.loads(listed.stdout)["household_claims"]] == [first, second, own]
    assert all("register" not in c for c in json.loads(listed.stdout)["household_claims"])
    table = await linli("households", "claims", "list", token=member)  # the token's one place
    assert first in table.stdout and "周八" in table.stdout and "register could not be read" in table.stdout

    done = await linli("households", "claims", "approve", first, "--reason", "名册一致", "--json", token=member)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "approved" and json.loads(done.stdout)["grant"]
    refused = await linli("households", "claims", "reject", second, "--reason", "名册上不是周八", token=member)
    assert refused.exit_code == 0 and "名册上不是周八" in refused.stdout
    mine = await linli("households", "claims", "approve", own, token=member)
    assert mine.exit_code == 6 and "SAME_ACCOUNT" in mine.stderr
    assert (await linli("households", "claims", "reject", second, token=member)).exit_code == 2  # --reason needed
    assert (await linli("households", "claims", "approve", "hcl_nope", token=member)).exit_code == 2
    grants = await (await identity.caller(owner_id))(identity.grants.ListGrants,
                                                      pb.ListGrantsRequest(parent="accounts/me"))
    assert [(g.role, g.scope) for g in grants.grants] == [("resident", f"{SHENGJIAN}/b3/h101")]
