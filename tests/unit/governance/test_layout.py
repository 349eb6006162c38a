"""trust-governance keeps the services' skeleton (services/README.md): servicers issue no SQL
and open no transactions of their own, and only the API layer and the app speak gRPC."""

from __future__ import annotations

import re
from pathlib import Path

import linli_governance

PACKAGE = Path(linli_governance.__file__).parent
SQL = re.compile(
    r"\bsa\.|\bsqlalchemy\b|\bselect\(|\binsert\(|\bupdate\(|\bdelete\(|\.transaction\(|\.session\(|\.begin\("
)
GRPC = re.compile(r"^\s*(import grpc\b|from grpc\b)", re.MULTILINE)


def sources(where: Path) -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in sorted(where.rglob("*.py"))}


def test_the_layout_is_the_skeleton() -> None:
    for module in ("app", "settings", "tables", "names", "consumers", "demo", "descriptor", "api/convert"):
        assert (PACKAGE / f"{module}.py").is_file(), module
    assert (PACKAGE / "migrations" / "env.py").is_file()
    assert not (PACKAGE / "main.py").exists()


def test_servicers_issue_no_sql_and_open_no_transaction() -> None:
    found = {name: SQL.findall(text) for name, text in sources(PACKAGE / "api").items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_only_the_api_and_the_app_import_grpc() -> None:
    speaking = {name for name, text in sources(PACKAGE).items() if GRPC.search(text)}
    assert {name for name in speaking if not (name.startswith("api/") or name == "app.py")} == set()
