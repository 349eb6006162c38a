"""The documented one-liner (`tools/help_request_demo.py`) as a user runs it: its own
nats-server and service process tree, Ms Wan's Saturday from intake to thanks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_ms_wan_saturday_is_routed_escalated_resolved_and_thanked() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "help_request_demo.py")], capture_output=True,
                         text=True, timeout=90, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "routed to worker-zhao — Saturday's duty worker" in out
    assert "open meal providers now: 邻家小馆 (枫香小厨 is closed on Saturdays)" in out
    assert "with worker-sun (backup)" in out and "with worker-he (community head)" in out
    assert out.count("escalates (1 escalation)") == 2
    assert "day-1 follow-up given to worker-sun" in out
    assert "worker-he          万阿姨向您致谢（锦旗）" in out
    assert "canteen-staff-liu  您提交的求助已解决" in out
