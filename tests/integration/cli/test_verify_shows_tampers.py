"""`linli compound verify` shows each tamper of the tamper test (issue 14 item 3's acceptance: a
voucher's hash, a posting date, an amount changed in the ledger, the newest disclosure deleted):
exit 7, one line naming the broken disclosure and why, the same in --json; undone, exit 0.

The `linli` app runs in-process (in a worker thread, so that its own event loop leaves the
service's alone) against a real trust-governance on loopback — the tamper test's books and
tampers, shared with the governance and portal tests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner, Result

from linli_cli import app as linli_app
from linli_cli import session
from tests.integration.governance.conftest import Governance, gov  # noqa: F401 (the fixture)
from tests.integration.governance.helpers import JINSHENG, build_chongzhou
from tests.integration.governance.tamper import TAMPERS, sealed_books


async def verify(gov: Governance, config_dir: Path) -> Result:  # noqa: F811
    env = {
        "LINLI_TOKEN": gov.caller("street_officer", "chengdu/chongzhou", subject="e2e-cli").token,
        "LINLI_CONFIG_DIR": str(config_dir),
        **{s.upper().replace("-", "_") + "_SERVICE_ADDR": f"127.0.0.1:{gov.app.port}" for s in session.SERVICES},
    }

    def run() -> Result:
        return CliRunner().invoke(linli_app.app, ["compound", "verify", JINSHENG, "--json"], env=env, prog_name="linli")

    return await asyncio.to_thread(run)


async def test_verify_exits_7_naming_each_tamper(gov: Governance, tmp_path: Path) -> None:  # noqa: F811
    await build_chongzhou(gov)
    books = await sealed_books(gov)
    clean = await verify(gov, tmp_path)
    assert clean.exit_code == 0, clean.output
    assert (json.loads(clean.stdout)["valid"], json.loads(clean.stdout)["checked"]) == (True, 3)
    for tamper in TAMPERS:
        undo = await tamper.apply(gov, books)
        broken = await verify(gov, tmp_path)
        name = tamper.broken(books).name
        shown = json.loads(broken.stdout)
        assert (broken.exit_code, shown["valid"], shown["broken_disclosure"]) == (7, False, name), tamper.name
        [line] = broken.stderr.strip().splitlines()
        assert line.startswith(f"error: disclosure chain broken at {name}: "), line
        for words in tamper.reason:
            assert words in line and words in shown["reason"], (tamper.name, line)
        await undo()
    assert (await verify(gov, tmp_path)).exit_code == 0
