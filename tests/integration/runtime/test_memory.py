"""settle_memory (a service's own process, ServiceApp.main): what was loaded is frozen out of
the collector's sight and young objects are collected less often. In a child process: the
settings are the process's, and a test run must not keep its objects frozen."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
from linli_runtime.memory import GC_THRESHOLDS, settle_memory
assert gc.get_freeze_count() == 0
settle_memory()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert gc.get_threshold() == GC_THRESHOLDS == (10_000, 10, 10)
"""


def test_a_settled_process_freezes_what_it_loaded_and_collects_young_objects_less_often() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
