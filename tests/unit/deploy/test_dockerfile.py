"""The Dockerfile, read as text (no Docker engine here): multi-stage, slim, non-root, no build
tools in the image that runs, PYTHONUNBUFFERED, any service by build argument."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field

from tests.unit.deploy.deploykit import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|clang|cc|python3?-dev|libpq-dev|pip install)\b")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else ""))
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede FROM, not {keyword}"
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return global_args, stages


GLOBAL_ARGS, STAGES = parse(DOCKERFILE)
FINAL = STAGES[-1]


def env_of(stage: Stage) -> dict[str, str]:
    env = {}
    for args in stage.all("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def test_it_is_multi_stage_on_a_slim_python_base() -> None:
    assert [s.name for s in STAGES] == ["build", "runtime"]
    assert GLOBAL_ARGS["PYTHON_VERSION"] == "3.11", "the interpreter the test suite runs on"
    # Registry-qualified, the registry a build argument (Docker Hub or a mirror of it).
    assert GLOBAL_ARGS["BASE_REGISTRY"] == "docker.io"
    for stage in STAGES:
        assert re.fullmatch(r"\$\{BASE_REGISTRY\}/library/python:\$\{PYTHON_VERSION\}-slim(-\w+)?", stage.base), \
            stage.base
    copies = FINAL.all("COPY")
    assert copies == ["--from=build /opt/linli /opt/linli"], "the final stage takes only the built venv"


def test_no_build_tools_in_the_final_stage() -> None:
    build_stage_runs = " ".join(STAGES[0].all("RUN"))
    assert "build-essential" in build_stage_runs, "the build stage can compile an sdist if it must"
    for args in FINAL.all("RUN"):
        assert not BUILD_TOOLS.search(args), args
    assert not FINAL.all("ADD")


def test_it_runs_unbuffered_as_a_non_root_user() -> None:
    env = env_of(FINAL)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LINLI_HOST"] == "0.0.0.0", "listen on the container's interfaces"
    [user] = FINAL.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and gid.isdigit(), "numeric, so runAsNonRoot can verify it"
    assert any(f"--uid {uid}" in run for run in FINAL.all("RUN"))
    # USER comes after every RUN: nothing runs as root once the user is set, and the service never does.
    keywords = [kw for kw, _ in FINAL.instructions]
    assert keywords.index("USER") > max(i for i, kw in enumerate(keywords) if kw == "RUN")


def test_any_service_is_built_by_build_argument() -> None:
    assert "SERVICE_MODULE" in FINAL.all("ARG")
    assert env_of(FINAL)["LINLI_SERVICE_MODULE"] == "${SERVICE_MODULE}"
    runs = " ".join(FINAL.all("RUN"))
    assert 'test -n "${SERVICE_MODULE}"' in runs and "find_spec('${SERVICE_MODULE}')" in runs
    [entrypoint] = FINAL.all("ENTRYPOINT")
    command = json.loads(entrypoint)
    assert command[:2] == ["/bin/sh", "-c"] and command[2].startswith("exec python -m"), \
        "exec: python is PID 1 and receives SIGTERM (graceful drain)"
    [health] = FINAL.all("HEALTHCHECK")
    assert health.endswith('CMD ["python", "-m", "linli_runtime.healthcheck"]')


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*") or pattern == "**":
                keep = negate
        return keep

    for stage in STAGES:
        for args in stage.all("COPY"):
            if args.startswith("--from"):
                continue
            *sources, _ = args.split()
            for source in sources:
                assert (REPO / source).exists(), source
                assert included(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    for junk in (".venv", "var", ".git", "tests", "deploy"):
        assert not included(junk), f"{junk} should stay out of the build context"
    # The README is part of the package metadata (pyproject readme =), so it must be there.
    assert included("README.md") and included("pyproject.toml") and included("constraints.txt")


def test_the_volunteer_points_image_can_draw_certificates() -> None:
    """Award certificates are PDFs drawn by WeasyPrint with a CJK font (issue 14, item 8): the
    volunteer-points image has Pango and such a font; the other images do without them."""
    from linli_points.descriptor import SERVICE

    [run] = [args for args in FINAL.all("RUN") if "fonts-noto-cjk" in args]
    assert f'if [ "${{SERVICE_MODULE}}" = "{SERVICE.module}" ]' in run
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "fonts-noto-cjk"):
        assert package in run.split()
    assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run
