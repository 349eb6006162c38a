"""Backups, by structure (the custom resources kubernetes-validate cannot know): production
archives base backups and WAL to S3-compatible storage with credentials from a Secret, a
ScheduledBackup takes one nightly, the point-in-time restore example reads exactly that archive
and writes its own elsewhere; compose dumps every service's database."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.unit.deploy.deploykit import REPO, Doc, find, load_compose, planned_services, render

PRODUCTION = "overlays/production"
RESTORE = REPO / "deploy" / "k8s" / "restore" / "linli-pg-restore.yaml"
COMPOSE = load_compose()
PLANNED = planned_services(COMPOSE)
# Fields of CloudNativePG v1's barmanObjectStore this project may use (a typo fails here, as the
# operator's schema would refuse it).
BARMAN_FIELDS = {"destinationPath", "endpointURL", "endpointCA", "s3Credentials", "wal", "data", "serverName",
                 "tags", "historyTags"}
SCHEDULED_FIELDS = {"schedule", "cluster", "method", "backupOwnerReference", "immediate", "suspend", "target",
                    "online", "pluginConfiguration"}
POOLER_FIELDS = {"cluster", "instances", "type", "pgbouncer", "template", "deploymentStrategy", "monitoring",
                 "serviceTemplate"}


def object_store_problems(store: Doc) -> list[str]:
    problems = []
    if set(store) - BARMAN_FIELDS:
        problems.append(f"unknown barmanObjectStore fields {set(store) - BARMAN_FIELDS}")
    if not str(store.get("destinationPath", "")).startswith("s3://"):
        problems.append("destinationPath must be an s3:// URL (OSS, COS and MinIO speak S3)")
    if not str(store.get("endpointURL", "")).startswith(("https://", "http://")):
        problems.append("endpointURL names the S3-compatible endpoint (OSS, COS, MinIO)")
    for key in ("accessKeyId", "secretAccessKey"):
        ref = (store.get("s3Credentials") or {}).get(key) or {}
        if set(ref) != {"name", "key"}:
            problems.append(f"s3Credentials.{key} must come from a Secret (name, key)")
    return problems


def production_cluster() -> Doc:
    [pg] = find(render(PRODUCTION), "Cluster")
    return pg


def test_production_archives_base_backups_and_wal_to_s3_compatible_storage() -> None:
    backup = production_cluster()["spec"]["backup"]
    assert re.fullmatch(r"\d+[dwm]", backup["retentionPolicy"])
    assert object_store_problems(backup["barmanObjectStore"]) == []
    assert backup["barmanObjectStore"]["wal"]["compression"] in ("gzip", "bzip2", "snappy")


def test_the_object_store_check_refuses_credentials_written_inline() -> None:
    store = dict(production_cluster()["spec"]["backup"]["barmanObjectStore"])
    store["s3Credentials"] = {"accessKeyId": "AKIA…", "secretAccessKey": {"name": "x", "key": "y"}}
    store["destinationPath"] = "/backups"
    assert len(object_store_problems(store)) == 2


def test_a_scheduled_backup_runs_nightly_for_the_cluster() -> None:
    docs = render(PRODUCTION)
    [scheduled] = find(docs, "ScheduledBackup")
    spec = scheduled["spec"]
    assert set(spec) <= SCHEDULED_FIELDS
    assert spec["cluster"]["name"] == production_cluster()["metadata"]["name"]
    assert spec["method"] == "barmanObjectStore"
    fields = spec["schedule"].split()
    assert len(fields) == 6, "CloudNativePG's cron has seconds first"
    assert fields[3:] == ["*", "*", "*"], "every day"
    assert find(render("overlays/dev"), "ScheduledBackup") == [], "dev has no object store"


def test_the_poolers_use_only_known_fields() -> None:
    for overlay in ("base", "overlays/dev", PRODUCTION):
        [pooler] = find(render(overlay), "Pooler")
        assert set(pooler["spec"]) <= POOLER_FIELDS
        assert pooler["spec"]["template"]["spec"]["containers"] == []


def restore_cluster(path: Path = RESTORE) -> Doc:
    [doc] = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return dict(doc)


def test_the_point_in_time_restore_reads_the_production_archive() -> None:
    restore = restore_cluster()
    assert restore["kind"] == "Cluster" and restore["metadata"]["name"] != production_cluster()["metadata"]["name"]
    recovery = restore["spec"]["bootstrap"]["recovery"]
    [source] = [c for c in restore["spec"]["externalClusters"] if c["name"] == recovery["source"]]
    archived = production_cluster()["spec"]["backup"]["barmanObjectStore"]
    for key in ("destinationPath", "endpointURL", "s3Credentials"):
        assert source["barmanObjectStore"][key] == archived[key], key
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d", recovery["recoveryTarget"]["targetTime"])
    # Its own WAL goes elsewhere: two clusters archiving to one path would corrupt it.
    own = restore["spec"]["backup"]["barmanObjectStore"]
    assert object_store_problems(own) == [] and own["destinationPath"] != archived["destinationPath"]
    # The services' roles come back managed from the same secrets.
    roles = {r["name"]: r["passwordSecret"]["name"] for r in restore["spec"]["managed"]["roles"]}
    assert roles == {d.db_name: f"linli-{d.name}-db" for d in PLANNED}


def test_compose_dumps_every_service_database_on_demand() -> None:
    dump = COMPOSE["services"]["pg-dump"]
    assert dump["profiles"] == ["backup"] and dump["restart"] == "no"
    assert dump["environment"]["LINLI_DATABASES"] == COMPOSE["services"]["postgres"]["environment"]["LINLI_DATABASES"]
    assert dump["depends_on"]["postgres"]["condition"] == "service_healthy"
    [script_mount] = [v for v in dump["volumes"] if v.endswith("dump-databases.sh:ro")]
    script = (REPO / script_mount.split(":")[0]).read_text()
    assert "pg_dump --format=custom" in script and "for db in $LINLI_DATABASES" in script
    assert any(v.startswith("${LINLI_BACKUP_DIR:-./backups}:") for v in dump["volumes"])
