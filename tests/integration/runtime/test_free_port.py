"""free_port() hands out ports the kernel will not give away and no other Linli process chose.

CI once failed because a port chosen by bind(0) for volunteer-points was taken, a moment before
volunteer-points bound it, by another service's listener on port 0: both came from the kernel's
ephemeral range."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys

from linli_runtime import processes
from linli_runtime.processes import free_port


def test_free_ports_lie_outside_the_kernels_ephemeral_range_and_differ() -> None:
    low, high = processes._ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert not [p for p in ports if low <= p <= high]


def test_a_port_bound_to_zero_is_never_one_free_port_handed_out() -> None:
    chosen = {free_port() for _ in range(20)}
    sockets = []
    try:
        for _ in range(200):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        assert not chosen & {s.getsockname()[1] for s in sockets}
    finally:
        for s in sockets:
            s.close()


def test_a_port_another_live_process_reserved_is_not_handed_out(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(processes, "_RESERVATIONS", tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        candidates = list(dict.fromkeys(itertools.islice(processes._candidates(), 10)))[:3]  # 3 distinct
        monkeypatch.setattr(processes, "_candidates", lambda: list(candidates))
        (tmp_path / str(candidates[0])).write_text(str(other.pid))
        assert free_port() == candidates[1]
    finally:
        other.kill()
        other.wait()
    # Its process gone, the reservation is taken over.
    monkeypatch.setattr(processes, "_candidates", lambda: list(candidates))
    assert free_port() == candidates[0]
