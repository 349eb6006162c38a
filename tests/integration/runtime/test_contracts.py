"""The contract kept stable (issue 15, item 8), through buf itself as `make lint` runs it: the
protos pass `buf lint` and `buf breaking` against the last release (protos/baseline.binpb, written
by `make proto-release`), and a change that would break a released client is refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BUF = Path(sys.executable).parent / "buf"
BASELINE = ROOT / "protos" / "baseline.binpb"


def buf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def checkout(tmp_path: Path) -> Path:
    """The protos and buf.yaml as committed, to change in a test."""
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    return tmp_path


def test_the_protos_pass_buf_lint_and_break_nothing_released() -> None:
    assert BASELINE.is_file(), "no release baseline: run `make proto-release`"
    lint = buf("lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    breaking = buf("breaking", "--against", str(BASELINE))
    assert breaking.returncode == 0, f"breaks the released contract:\n{breaking.stdout}{breaking.stderr}"


@pytest.mark.parametrize(("change", "found"), [
    # A field renumbered: a released client would read the wrong field.
    (("linli/points/v1/ledger.proto", "int64 amount = 5;", "int64 amount = 55;"), "amount"),
    # An RPC removed from a released service.
    (("linli/redemption/v1/pos.proto", "rpc CancelRedemption(", "rpc CancelRedemptionNow("), "CancelRedemption"),
])
def test_a_change_that_breaks_a_released_client_is_refused(
    tmp_path: Path, change: tuple[str, str, str], found: str
) -> None:
    repo = checkout(tmp_path)
    path, old, new = change
    proto = repo / "protos" / path
    text = proto.read_text()
    assert old in text, f"{path} no longer holds {old!r}: pick another change"
    proto.write_text(text.replace(old, new, 1))
    breaking = buf("breaking", "--against", str(BASELINE), cwd=repo)
    assert breaking.returncode != 0 and found in breaking.stdout, breaking.stdout + breaking.stderr
