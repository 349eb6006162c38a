"""The README's volunteer-points section (issue 16, defect 14: it repeated its service table and
several sentences): one table naming every service and every method the protos declare, once,
and no sentence twice."""

from __future__ import annotations

import re
from pathlib import Path

from linli.points.v1 import (
    activities_pb2,
    adjustments_pb2,
    awards_pb2,
    funding_pb2,
    ledger_pb2,
    pairings_pb2,
    volunteers_pb2,
)

README = Path(__file__).resolve().parents[3] / "README.md"
MODULES = (ledger_pb2, funding_pb2, volunteers_pb2, activities_pb2, pairings_pb2, awards_pb2, adjustments_pb2)


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## volunteer-points (port 50052)")
    return text[start:text.index("\n## ", start + 1)]


def test_one_table_names_every_service_and_method_once() -> None:
    rows = [line for line in section().splitlines() if line.startswith("| `")]
    listed = {}
    for row in rows:
        service, methods = row.split("|")[1:3]
        name = service.strip().strip("`")
        assert name not in listed, f"{name} is in the table twice"
        listed[name] = re.findall(r"`(\w+)`", methods)
    declared = {service.name: [m.name for m in service.methods]
                for module in MODULES for service in module.DESCRIPTOR.services_by_name.values()}
    assert listed == declared


def test_no_sentence_is_said_twice() -> None:
    prose = re.sub(r"```.*?```", "", section(), flags=re.DOTALL)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(prose.split())) if len(s.strip()) > 40]
    repeated = {s for s in sentences if sentences.count(s) > 1}
    assert repeated == set()
