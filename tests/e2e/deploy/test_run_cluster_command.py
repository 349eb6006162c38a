"""`make run-cluster` = `linli platform run-cluster`: comes up with every installed service (none
needed for the command itself), prints where things listen, and stops cleanly on Ctrl-C. On
free ports: the documented ones may be held on this machine (a developer's own platform), and
then the command refuses to start rather than move (tests/e2e/runtime/test_platform_ports.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from linli_runtime.events.streams import STREAMS
from linli_runtime.registry import installed_services
from linli_runtime.testing.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_run_cluster_comes_up_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    linli = Path(sys.executable).parent / "linli"
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(linli), "platform", "run-cluster", "--var-dir", str(tmp_path / "var"),
                                 "--no-demo-data", "--free-ports"], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "COLUMNS": "200"})
        try:
            def running() -> bool:
                text = log.read_text(errors="replace")
                assert proc.poll() is None, text
                return "Linli cluster is running" in text

            try:
                asyncio.run(wait_until(running, timeout=60 + 15 * len(installed_services()), interval=0.2,
                                       what="the cluster to come up"))
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{log.read_text(errors='replace')}") from None
            text = log.read_text(errors="replace")
            for node in (1, 2, 3):
                assert f"linli-nats-{node}" in text
            assert "PostgreSQL" in text and f"{len(STREAMS)} × 3 replicas" in text
            for d in installed_services():
                assert f"{d.name} ×2" in text
            # The issuer (identity, started first) and how to sign in.
            assert "token issuer (OIDC)" in text and "linli login --issuer http://127.0.0.1:" in text
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:  # a failed check: Ctrl-C first, or its services outlive it
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    assert "stopped; data kept under" in log.read_text(errors="replace")
    for node in (1, 2, 3):
        assert (tmp_path / "var" / "nats" / f"n{node}" / "jetstream").is_dir()
