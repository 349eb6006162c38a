"""docker-compose.yml through the real tools: valid against the Compose specification
(check-jsonschema), and its NATS configuration accepted by nats-server as each node reads it.
Its structure is checked in tests/unit/deploy/test_compose.py."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import yaml

from tests.unit.deploy.deploykit import COMPOSE_FILE, REPO, checkable_nats_conf, load_compose, nats_test_env

BIN = Path(sys.executable).parent
COMPOSE = load_compose()


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True)


def test_compose_file_matches_the_compose_specification() -> None:
    out = validate(COMPOSE_FILE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_compose_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["postgres"]["healthcheck"]["retries"] = "often"
    broken["services"]["nats-1"]["restrat"] = "always"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    out = validate(path)
    assert out.returncode != 0 and "restrat" in out.stdout


def test_nats_server_accepts_the_configuration_as_each_node_reads_it(tmp_path: Path) -> None:
    nodes = sorted(name for name in COMPOSE["services"] if name.startswith("nats-"))
    assert nodes == ["nats-1", "nats-2", "nats-3"]
    [conf_path] = {COMPOSE["services"][name]["volumes"][1].split(":")[0] for name in nodes}
    # The certificates tls-init writes (linli_runtime.tls's file names), the users' passwords.
    conf = checkable_nats_conf((REPO / conf_path).read_text(), tmp_path, ("nats.pem", "nats-key.pem", "ca.pem"))
    for name in nodes:
        out = subprocess.run([str(BIN / "nats-server"), "-c", str(conf), "-t"],
                             capture_output=True, text=True, env=nats_test_env(NATS_SERVER_NAME=name))
        assert out.returncode == 0, out.stderr
