"""The `linli` app in-process against a service (or the token issuer) that is down: the call
really goes out to a port where nothing listens, and the operator gets exit 5 and one line
naming what could not be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from linli_identity.testing import TestIssuer
from typer.testing import CliRunner

from linli_cli import app as linli_app
from linli_cli import session
from linli_runtime.processes import free_port


def test_a_service_that_is_down_fails_with_exit_5_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             issuer: TestIssuer) -> None:
    for name in ("LINLI_TOKEN", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LINLI_CONFIG_DIR", str(tmp_path / "linli"))
    nobody = f"127.0.0.1:{free_port()}"  # free: nothing listens there
    for service in session.SERVICES:
        monkeypatch.setenv(service.upper().replace("-", "_") + "_SERVICE_ADDR", nobody)
    monkeypatch.setenv("LINLI_TOKEN", issuer.issue("acc_op", role="city_operator", scope="chengdu"))
    runner = CliRunner()
    result = runner.invoke(linli_app.app, ["org", "rollup", "chengdu/chongzhou", "--json"], prog_name="linli")
    assert (result.exit_code, result.stdout) == (5, "")
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach trust-governance at {nobody}: is `make run` running?"]


def test_an_id_placed_in_the_tokens_community_or_compound_goes_to_the_service(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: TestIssuer) -> None:
    """Parsed, placed by the token's scope and sent: nothing listens, so exit 5 — not a usage
    error for a place the operator left out."""
    for name in ("LINLI_TOKEN", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LINLI_CONFIG_DIR", str(tmp_path / "linli"))
    nobody = f"127.0.0.1:{free_port()}"
    for service in session.SERVICES:
        monkeypatch.setenv(service.upper().replace("-", "_") + "_SERVICE_ADDR", nobody)
    runner = CliRunner()
    fengshu = "chengdu/jinjiang/chenglonglu/fengshu"
    monkeypatch.setenv("LINLI_TOKEN", issuer.issue("worker-li", role="community_worker", scope=fengshu))
    for args in (["help-requests", "ack", "h-1a2b"], ["help-requests", "list"], ["duty", "now"],
                 ["adjustments", "list"], ["redemptions", "pending"], ["votes", "tally", "7f3a"]):
        result = runner.invoke(linli_app.app, args, prog_name="linli")
        assert result.exit_code == 5, (args, result.stderr)
        assert result.stderr.strip().splitlines()[0].startswith("error: cannot reach"), args


def test_signing_in_while_the_issuer_is_down_fails_with_exit_5_naming_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_CONFIG_DIR", str(tmp_path / "linli"))
    nobody = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(linli_app.app, ["login", "--issuer", nobody], prog_name="linli")
    assert result.exit_code == 5
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach the token issuer at {nobody}") and "make run" in line
