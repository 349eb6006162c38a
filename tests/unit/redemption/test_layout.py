"""partner-redemption keeps the skeleton's boundaries (services/README.md): servicers issue no
SQL, and only the servicers, the app and the client of volunteer-points speak gRPC or know
volunteer-points' protos. Reads the source; imports nothing."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "services" / "partner-redemption" / "linli_redemption"
SQL = re.compile(r"\bsa\.|\bselect\(|\binsert\(|\bupdate\(|\bdelete\(|sqlalchemy|\.transaction\(|run_in_transaction")
GRPC = re.compile(r"^\s*(import grpc|from grpc[ .]|from google\.rpc|from grpc_status)", re.MULTILINE)
POINTS_PROTOS = re.compile(r"linli\.points\.v1")


def modules() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")
            if "migrations" not in p.parts}


def test_servicers_issue_no_sql() -> None:
    servicers = {name: text for name, text in modules().items() if name.startswith("api/")}
    assert len(servicers) >= 6
    offenders = {name: SQL.findall(text.split('"""', 2)[-1]) for name, text in servicers.items()}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_only_the_servicers_the_app_and_the_points_client_speak_grpc() -> None:
    allowed = {"app.py", "points_client.py"}
    speaking = {name for name, text in modules().items() if GRPC.search(text)}
    assert speaking and all(name.startswith("api/") or name in allowed for name in speaking), speaking
    knowing_points = {name for name, text in modules().items() if POINTS_PROTOS.search(text)}
    assert knowing_points == {"points_client.py"}
