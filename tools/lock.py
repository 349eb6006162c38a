"""`make lock`: the image's dependencies pinned with hashes, from constraints.txt.

    requirements.lock        every runtime dependency of the platform (pyproject's
                             [project.dependencies], transitively), at constraints.txt's versions
    requirements-build.lock  what builds the platform's wheel ([build-system].requires)

The Dockerfile installs both with `pip install --require-hashes`, so a mirror of PyPI (build
argument PIP_INDEX_URL) can serve the files but cannot change them. Every hash PyPI publishes for
a version is kept (any platform's wheel). tests/unit/deploy/test_images.py fails when a runtime
dependency is missing from the lock or pinned otherwise than in constraints.txt: run `make lock`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMON = ["--generate-hashes", "--allow-unsafe", "--strip-extras", "--no-emit-index-url", "--no-emit-find-links",
          "--no-header", "--quiet", "--constraint", str(REPO / "constraints.txt")]


def compile_lock(source: Path, output: Path) -> None:
    command = [sys.executable, "-m", "piptools", "compile", *COMMON, "--output-file", str(output), str(source)]
    subprocess.run(command, check=True, cwd=REPO)
    # Paths in the "via" comments say where the pins came from; make them repository-relative.
    text = output.read_text().replace(str(REPO) + "/", "")
    output.write_text(text)


def main() -> None:
    compile_lock(REPO / "pyproject.toml", REPO / "requirements.lock")
    build_requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "build-requirements.in"
        source.write_text("\n".join(build_requires) + "\n")
        compile_lock(source, REPO / "requirements-build.lock")
    text = (REPO / "requirements-build.lock").read_text()
    (REPO / "requirements-build.lock").write_text(text.replace(str(source), "[build-system] requires"))


if __name__ == "__main__":
    main()
