"""`linli adjustments` (four eyes: one requests, another approves) and `linli redemptions`
(what went through at the community's merchants, and what is still pending)."""

from __future__ import annotations

from linli_runtime.auth import Role
from linli_runtime.testing.platform import subject_of
from tests.e2e.cli.clikit import FENGSHU, Cli, fresh

HEALTH = "jinchengyijing-health"


def points_of(cli: Cli, volunteer: str, token: str) -> int:
    return int(cli.run("pos", "quote", "--volunteer", volunteer, "--json", token=token).json["available_points"])


def test_an_adjustment_moves_points_only_once_a_second_person_approves(cli: Cli) -> None:
    first = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject="worker-li")
    second = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject="worker-chen")
    before = points_of(cli, "v-050", first)
    requested = cli.run("adjustments", "request", "--volunteer", "v-050", "--points", "25", "--reason",
                        "补记11月探访 visit not recorded", "--json", token=first)
    assert requested.code == 0, requested.err
    ident = requested.json["adjustment_id"]
    assert ident.startswith("adj-") and requested.json["state"] == "proposed"
    assert requested.json["propose_time"].endswith("+08:00")
    waiting = cli.run("adjustments", "list", "--state", "proposed", "--json", token=second).json["adjustments"]
    assert ident in [a["adjustment_id"] for a in waiting]
    assert points_of(cli, "v-050", first) == before

    assert cli.run("adjustments", "approve", ident, token=first).failed_with(1, "SAME_APPROVER")
    approved = cli.run("adjustments", "approve", ident, "--json", token=second)
    assert approved.code == 0, approved.err
    assert (approved.json["state"], approved.json["decided_by"]) == ("approved", subject_of(second))  # the account
    assert approved.json["transfer_id"] and points_of(cli, "v-050", first) == before + 25
    assert cli.run("adjustments", "reject", ident, token=second).failed_with(1, "ADJUSTMENT_APPROVED")

    other = fresh("adj")
    assert cli.run("adjustments", "request", "--id", other, "--volunteer", "v-050", "--points", "-10", "--reason",
                   "重复计分 counted twice", "--community", FENGSHU, token=first).code == 0
    rejected = cli.run("adjustments", "reject", other, "--json", token=second)
    assert rejected.code == 0 and rejected.json["state"] == "rejected", rejected.err
    assert points_of(cli, "v-050", first) == before + 25
    assert other in cli.run("adjustments", "list", token=first).out


def test_adjustment_refusals_have_their_exit_codes(cli: Cli) -> None:
    worker = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    officer = cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing")
    request = ["adjustments", "request", "--volunteer", "v-050", "--reason", "x"]
    cli.refuse([
        (2, ["points"], [*request, "--points", "0"], worker),
        (2, ["--points"], [*request, "--points", "100001"], worker),
        (6, ["permission denied"], [*request, "--points", "5", "--community", FENGSHU], officer),
        (4, ["not found"], ["adjustments", "approve", "adj-no-such"], worker),
        (2, ["--community"], ["adjustments", "list"], officer),
        (3, ["linli login"], ["adjustments", "list", "--community", FENGSHU], None),
    ])


def test_redemptions_list_what_went_through_and_what_is_pending(cli: Cli) -> None:
    operator = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    request_id = fresh("till")
    assert cli.run("pos", "redeem", "--volunteer", "v-043", "--request-id", request_id, token=operator).code == 0
    listed = cli.run("redemptions", "list", "--merchant", HEALTH, "--json", token=operator)
    assert listed.code == 0, listed.err
    mine = [r for r in listed.json["redemptions"] if r["request_id"] == request_id]
    assert len(mine) == 1 and mine[0]["state"] == "committed" and mine[0]["merchant_id"] == HEALTH
    assert mine[0]["create_time"].endswith("+08:00") and "*" in mine[0]["masked_member"]
    committed = cli.run("redemptions", "list", FENGSHU, "--state", "committed", "--json", token=operator).json
    assert {r["state"] for r in committed["redemptions"]} == {"committed"}
    pending = cli.run("redemptions", "pending", "--json", token=operator)
    assert pending.code == 0, pending.err
    assert all(r["state"] == "pending" for r in pending.json["redemptions"])
    assert request_id in cli.run("redemptions", "list", token=operator).out

    officer = cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing")
    cli.refuse([
        (6, ["permission denied"], ["redemptions", "pending", FENGSHU], officer),
        (2, ["--merchant"], ["redemptions", "list", "--merchant", "bad shop!"], operator),
        (4, ["not found"], ["redemptions", "list", "--merchant", "no-such-shop"], operator),
        (2, ["--state"], ["redemptions", "list", "--state", "lost"], operator),
    ])
