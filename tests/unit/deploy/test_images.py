"""Images that build and pull in China: every image registry-qualified, the registry set in one
place (compose: ${LINLI_REGISTRY} / ${LINLI_BASE_REGISTRY}; Kubernetes: each overlay's one
`images:` block); the build takes a PyPI mirror, a Debian mirror and a base-image registry as
arguments and installs only hashed pins (requirements.lock, covering every runtime dependency at
constraints.txt's versions); compose rotates every container's logs."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.unit.deploy.deploykit import REPO, find, load_compose, render
from tests.unit.deploy.test_dockerfile import STAGES, env_of

COMPOSE = load_compose()
LINLI_IMAGE = re.compile(r"\$\{LINLI_REGISTRY:-docker\.io/linli\}/[a-z-]+:\$\{LINLI_VERSION:-dev\}")
BASE_IMAGE = re.compile(r"\$\{LINLI_BASE_REGISTRY:-docker\.io\}/library/[a-z]+:[\w.-]+")
LOCK = REPO / "requirements.lock"
BUILD_LOCK = REPO / "requirements-build.lock"


def test_compose_images_are_registry_qualified_from_one_setting() -> None:
    for name, service in COMPOSE["services"].items():
        image = service["image"]
        assert LINLI_IMAGE.fullmatch(image) or BASE_IMAGE.fullmatch(image), (name, image)


def test_compose_builds_take_the_mirrors_and_the_base_registry() -> None:
    for name, service in COMPOSE["services"].items():
        if "build" in service:
            args = service["build"]["args"]
            assert {"BASE_REGISTRY", "PIP_INDEX_URL", "DEBIAN_MIRROR", "SERVICE_MODULE"} <= set(args), name
            assert args["BASE_REGISTRY"] == "${LINLI_BASE_REGISTRY:-docker.io}"


def test_compose_rotates_every_containers_logs() -> None:
    for name, service in COMPOSE["services"].items():
        logging = service.get("logging") or {}
        assert logging.get("driver") == "json-file", name
        assert re.fullmatch(r"\d+[km]", logging["options"]["max-size"]) and int(logging["options"]["max-file"]) >= 2


def registry(image: str) -> str:
    first = image.split("/", 1)[0]
    assert "/" in image and ("." in first or ":" in first or first == "localhost"), f"{image}: not registry-qualified"
    return first


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/production"])
def test_kubernetes_images_are_registry_qualified_and_linlis_share_one_registry(overlay: str) -> None:
    images = [c["image"] for kind in ("Deployment", "StatefulSet") for w in find(render(overlay), kind)
              for c in w["spec"]["template"]["spec"]["containers"]]
    linli = {registry(i) + "/" + i.split("/")[1] for i in images if "/linli/" in i or i.split("/")[1] == "linli"}
    assert len(linli) == 1, linli
    for image in images:
        registry(image)
    [pg] = find(render(overlay), "Cluster")
    registry(pg["spec"]["imageName"])


def test_the_dockerfile_takes_mirrors_and_installs_only_hashed_pins() -> None:
    build = STAGES[0]
    assert {"PIP_INDEX_URL=https://pypi.org/simple", "DEBIAN_MIRROR="} <= set(build.all("ARG"))
    assert env_of(build)["PIP_INDEX_URL"] == "${PIP_INDEX_URL}"
    runs = " ".join(build.all("RUN"))
    assert "${DEBIAN_MIRROR}" in runs and "debian.sources" in runs
    installs = re.findall(r"pip install ([^&]+)", runs)
    for install in installs:
        assert "--require-hashes" in install or "--no-deps /tmp/wheels/" in install, install
    assert "--requirement requirements.lock" in runs and "--requirement requirements-build.lock" in runs
    assert "--no-build-isolation" in runs, "the wheel is built with the hashed backend, not an unpinned one"


# -- the lock ----------------------------------------------------------------------------------------


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) of a pip-compile --generate-hashes file."""
    text = path.read_text()
    entries: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s\\]+)", block)
        if match:
            entries[canonicalize_name(match.group(1))] = (match.group(2), block.count("--hash=sha256:"))
    return entries


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line:
            name, _, pinned = line.partition("==")
            pins[canonicalize_name(name)] = pinned.strip()
    return pins


def runtime_dependencies() -> set[str]:
    """Every distribution the platform needs at run time: pyproject's dependencies and theirs,
    with markers evaluated as in the image (CPython 3.11 on Linux), no extras."""
    environment = {**default_environment(), "python_version": "3.11", "sys_platform": "linux",
                   "platform_system": "Linux", "extra": ""}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate(environment)):
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue  # not installed here: its own dependencies are the lock's to know
        todo += [r for r in map(Requirement, requires) if not r.marker or r.marker.evaluate(environment)]
    return seen


def test_the_lock_covers_every_runtime_dependency_at_the_constrained_version() -> None:
    lock = locked(LOCK)
    missing = runtime_dependencies() - set(lock)
    assert missing == set(), f"not in requirements.lock: {sorted(missing)} — run make lock"
    pins = constraints()
    for name, (pinned, hashes) in lock.items():
        assert pins.get(name) == pinned, f"{name}=={pinned} in the lock, {pins.get(name)} in constraints.txt"
        assert hashes >= 1, f"{name} has no hash"
    assert not re.search(r"^--(extra-)?index-url|^--find-links", LOCK.read_text(), re.MULTILINE), \
        "no machine's package index in the lock"


def test_the_build_lock_pins_the_build_backend() -> None:
    lock = locked(BUILD_LOCK)
    backend = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    for requirement in map(Requirement, backend):
        name = canonicalize_name(requirement.name)
        assert name in lock and requirement.specifier.contains(lock[name][0])
    pins = constraints()
    assert all(pins.get(name) == version and hashes for name, (version, hashes) in lock.items())


def test_the_lock_check_sees_a_missing_dependency(tmp_path: Path) -> None:
    path = tmp_path / "requirements.lock"
    text = LOCK.read_text()
    path.write_text(re.sub(r"(?ms)^grpcio==.*?(?=^\S)", "", text))
    assert "grpcio" in runtime_dependencies() and "grpcio" not in locked(path)
