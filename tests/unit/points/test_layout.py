"""volunteer-points keeps the skeleton of services/README.md: servicers issue no SQL and own no
transactions, only api/ and app.py speak gRPC, and the ledger's tables are read only inside the
ledger package."""

from __future__ import annotations

import re
from pathlib import Path

import linli_points

PACKAGE = Path(linli_points.__file__).parent
SQL = re.compile(r"\bsa\.|\bselect\(|\binsert\(|\bupdate\(|\bdelete\(|sqlalchemy|run_in_transaction|\.transaction\(|"
                 r"\.engine\b")
GRPC = re.compile(r"^\s*(import grpc|from grpc\b)", re.MULTILINE)
LEDGER_TABLES = re.compile(r"ledger\.tables\b|ledger import tables|"
                           r"\b(Account|AccountSlot|TransferRecord|HoldRecord|Lot|LotUse)\b")


def sources(under: Path = PACKAGE) -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in sorted(under.rglob("*.py"))}


def test_the_servicers_issue_no_sql() -> None:
    found = {name: SQL.findall(text) for name, text in sources(PACKAGE / "api").items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_only_the_servicers_and_the_app_import_grpc() -> None:
    importers = {name for name, text in sources().items() if GRPC.search(text)}
    assert importers, "the servicers import grpc: the pattern must find them"
    assert {name for name in importers if not (name.startswith("api/") or name == "app.py")} == set()


def test_the_ledger_tables_are_read_only_through_the_ledger_package() -> None:
    readers = {name for name, text in sources().items() if LEDGER_TABLES.search(text)}
    # tables.py re-exports them so that one MetaData covers the service.
    assert readers - {"tables.py"} == {name for name in readers if name.startswith("ledger/")}
