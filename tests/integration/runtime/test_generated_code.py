"""gen/python must be exactly what `make proto` makes from protos/: regenerate into a
temporary folder and compare."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "tools" / "genproto.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    committed = ROOT / "gen" / "python"
    fresh, current = _files(tmp_path), _files(committed)
    assert fresh == current, f"run `make proto`: missing {sorted(fresh - current)}, stale {sorted(current - fresh)}"
    differing = [f for f in sorted(fresh) if not filecmp.cmp(tmp_path / f, committed / f, shallow=False)]
    assert not differing, f"run `make proto`: out of date with protos/: {differing}"
