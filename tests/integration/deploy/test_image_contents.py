"""What the Dockerfile installs into the image: the project's wheel (`pip install --no-deps .`).
Built here the same way, it must carry every registered service — its module and its entry
point, so `linli platform services` and the registry work inside the container — and the data
files the runtime reads (migrations, the demo data set)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from linli_runtime.registry import GROUP, ServiceDescriptor, installed_services
from tests.unit.deploy.deploykit import REPO

pytestmark = pytest.mark.xdist_group("image-wheel")  # the wheel is built once (module-scoped), on one worker


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
                   check=True, capture_output=True)
    [built] = out.glob("linli-*.whl")
    return zipfile.ZipFile(built)


def entry_points(wheel: zipfile.ZipFile) -> str:
    [name] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    return wheel.read(name).decode()


def test_the_wheel_carries_the_runtime_contracts_and_their_data_files(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "linli_runtime/server.py" in names and "linli_runtime/cluster.py" in names
    assert "linli/events/v1/envelope_pb2.py" in names
    assert "linli_runtime/migrations/env.py" in names
    assert any(n.startswith("linli_runtime/migrations/versions/") for n in names)
    assert "linli_runtime/demo/chengdu.toml" in names, "the demo profile seeds from it"
    assert "linli = linli_cli.app:app" in entry_points(wheel)
    assert "linli_cli/app.py" in names, "the `linli` command line ships with the image"


@pytest.mark.parametrize("descriptor", installed_services(), ids=lambda d: d.name)
def test_every_registered_service_is_in_the_image(wheel: zipfile.ZipFile, descriptor: ServiceDescriptor) -> None:
    module_path = descriptor.module.replace(".", "/") + ".py"
    assert module_path in wheel.namelist(), "add the service's folder to [tool.hatch.build.targets.wheel] packages"
    section = entry_points(wheel).split(f"[{GROUP}]", 1)
    assert len(section) == 2 and f"{descriptor.name} = " in section[1]
    package = descriptor.module.split(".")[0]
    migrations = [n for n in wheel.namelist() if n.startswith(f"{package}/migrations/versions/")]
    in_source = list(REPO.glob(f"services/*/{package}/migrations/versions/*.py"))
    assert len(migrations) >= len(in_source), "every migration ships in the image"
