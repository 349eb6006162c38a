"""Generate Python code and type stubs from protos/ into gen/python (or another folder).

`make proto` runs this; tests/unit/test_generated_code.py runs it into a temporary folder and
fails when the committed gen/python differs, so generated code never drifts from the protos.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTOS.rglob("*.proto"))


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    files = [str(p.relative_to(PROTOS)) for p in proto_files()]
    bindir = Path(sys.executable).parent  # the venv's bin/, where mypy-protobuf puts its plugins
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *files,
    ]
    code = protoc.main(args)
    if code != 0:
        sys.exit(f"protoc failed with exit code {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "gen" / "python")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
