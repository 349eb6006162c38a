"""`linli dead-letters` in-process against a service with a real NATS and a poisoned event: the
list shows it with its reason, a replay before the fix fails (exit 1) and changes nothing, after
the fix it is replayed once and recorded; a non-operator gets exit 6, an unknown id exit 4."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from linli_identity.testing import TestIssuer
from typer.testing import CliRunner, Result

from linli_cli import app as linli_app
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer
from tests.integration.runtime.deadkit import CONSUMER, Poisoned, poisoned_service
from tests.integration.runtime.eventkit import applied_counts


@pytest.fixture
async def svc(tmp_path: Path, nats_server: NatsServer, issuer: TestIssuer, clock: ManualClock,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Poisoned]:
    async for s in poisoned_service(f"sqlite+aiosqlite:///{tmp_path / 'points.db'}", nats_server.url, issuer, clock,
                                    name="volunteer-points"):
        monkeypatch.setenv("VOLUNTEER_POINTS_SERVICE_ADDR", f"127.0.0.1:{s.app.port}")
        monkeypatch.setenv("LINLI_CONFIG_DIR", str(tmp_path / "linli"))
        monkeypatch.delenv("LINLI_TOKEN", raising=False)
        monkeypatch.setenv("COLUMNS", "200")  # the table's cells unwrapped, whatever terminal runs the tests
        yield s


async def linli(*args: str, token: str) -> Result:
    """The CLI in a thread of its own (it runs its own event loop), as `linli ARGS --token T`."""
    return await asyncio.to_thread(CliRunner().invoke, linli_app.app, [*args, "--token", token], prog_name="linli")


async def test_list_replay_after_the_fix_and_refusals(svc: Poisoned) -> None:
    s = svc
    admin = s.issuer.issue("ops-wang", role="platform_admin", scope="")
    name = await s.poison("thing-1")
    short = f"volunteer-points/{name.removeprefix('deadLetters/')}"

    listed = await linli("dead-letters", "list", "--service", "volunteer-points", "--json", token=admin)
    assert listed.exit_code == 0, listed.stderr
    [letter] = json.loads(listed.stdout)["dead_letters"]
    assert (letter["name"], letter["consumer"], letter["state"]) == (short, CONSUMER, "pending")
    assert "thing-1" in letter["reason"]
    table = await linli("dead-letters", "list", "--service", "volunteer-points", token=admin)
    assert short in table.stdout and "poison" in table.stdout

    early = await linli("dead-letters", "replay", short, "--reason", "try", token=admin)
    assert early.exit_code == 1 and "REPLAY_FAILED" in early.stderr and len(early.stderr.splitlines()) == 1
    s.things.known.add("thing-1")
    done = await linli("dead-letters", "replay", short, "--reason", "thing-1 registered", "--json", token=admin)
    assert done.exit_code == 0, done.stderr
    assert (json.loads(done.stdout)["state"], json.loads(done.stdout)["resolved_by"]) == ("replayed", "ops-wang")
    again = await linli("dead-letters", "replay", short, "--reason", "again", token=admin)
    assert again.exit_code == 1 and "DEAD_LETTER_RESOLVED" in again.stderr
    assert await applied_counts(s.app.db) == {"thing-1": 1}
    shown = await linli("dead-letters", "show", short, "--json", token=admin)
    assert json.loads(shown.stdout)["resolution_reason"] == "thing-1 registered"

    worker = s.issuer.issue("worker-li", role="community_worker", scope="chengdu/test")
    denied = await linli("dead-letters", "discard", short, "--reason", "x", token=worker)
    assert denied.exit_code == 6 and "OPERATORS_ONLY" in denied.stderr
    unknown = await linli("dead-letters", "replay", "volunteer-points/999999", "--reason", "x", token=admin)
    assert unknown.exit_code == 4 and "not found" in unknown.stderr
    assert (await linli("dead-letters", "replay", short, token=admin)).exit_code == 2, "--reason is required"
    assert (await linli("dead-letters", "show", "nowhere/1", token=admin)).exit_code == 2
