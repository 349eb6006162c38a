"""The service keeps the skeleton of services/README.md: servicers in api/ issue no SQL and open
no transactions of their own, only api/ and app.py speak gRPC, and the migrations carry the
service's own prefix."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import linli_notification
from linli_notification.descriptor import SERVICE

PACKAGE = Path(linli_notification.__file__).parent
SQL = re.compile(r"\bsa\.|\bsqlalchemy\b|\b(select|insert|update|delete)\(|\.transaction\(|\.session\(")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_skeleton_is_all_there() -> None:
    for part in ("app.py", "settings.py", "api/__init__.py", "api/convert.py", "tables.py", "names.py",
                 "consumers.py", "demo.py", "migrations/env.py", "descriptor.py"):
        assert (PACKAGE / part).is_file(), part
    assert not (PACKAGE / "main.py").exists()
    assert SERVICE.module == "linli_notification.app"


def test_servicers_issue_no_sql() -> None:
    for path in sorted((PACKAGE / "api").glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert not SQL.search(line), f"{path.name}:{number}: {line.strip()}"


def test_only_the_api_and_the_app_speak_grpc() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "api" or relative == Path("app.py"):
            continue
        grpc = {m for m in imported_modules(path) if m == "grpc" or m.startswith("grpc.") or m.endswith("_pb2_grpc")}
        assert not grpc, f"{relative} imports {grpc}"


def test_revision_ids_carry_the_services_prefix() -> None:
    scripts = sorted((PACKAGE / "migrations" / "versions").glob("*.py"))
    assert scripts
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        revision = re.search(r"^revision: str = ['\"](\w+)['\"]", text, re.M)
        assert revision and revision.group(1).startswith("nt") and script.name.startswith(revision.group(1)), script
