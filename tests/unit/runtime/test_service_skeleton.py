"""Every platform service keeps the skeleton of services/README.md: the same files in the same
places, servicers (`api/`) that issue no SQL, gRPC only at the edges (`api/`, `app.py`, clients of
other services `*_client.py`), and no service importing another's package.

Read from the source (ast), for every installed gRPC service: a new service is checked the day
its entry point exists.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from linli_runtime.registry import ServiceDescriptor, installed_services

SKELETON_FILES = ("app.py", "settings.py", "tables.py", "names.py", "consumers.py", "demo.py")
SKELETON_PACKAGES = ("api", "migrations")
# Core statements: sqlalchemy's and sqlmodel's functions, and a Table's own methods (`t.insert()`).
SQL_CALLS = {"select", "insert", "update", "delete"}
SQLMODEL_SQL = {"select", "insert", "update", "delete", "col", "text", "Session"}

SERVICES = installed_services()
GRPC_SERVICES = [d for d in SERVICES if d.protocol == "grpc"]


def package_of(descriptor: ServiceDescriptor) -> str:
    return descriptor.module.split(".")[0]


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not an installed package"
    return Path(next(iter(spec.submodule_search_locations)))


def modules(root: Path) -> Iterator[Path]:
    yield from sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(tree: ast.Module) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of every import in the module, relative imports left out (they stay home)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, [alias.name for alias in node.names]


def sql_in(tree: ast.Module) -> list[str]:
    """What in the module builds or runs SQL: `sa.…`, select/insert/update/delete (a function, or
    a Table's method called without arguments: `accounts.update()`), a sqlalchemy import, or
    sqlmodel's statement helpers."""
    found = []
    for module, names in imported(tree):
        top = module.split(".")[0]
        if top == "sqlalchemy":
            found.append(f"imports {module}")
        elif top == "sqlmodel" and (SQLMODEL_SQL & set(names) or not names):
            found.append(f"imports {', '.join(sorted(SQLMODEL_SQL & set(names))) or module} from sqlmodel")
    statements: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sa":
            statements.append((node.lineno, f"sa.{node.attr}"))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in SQL_CALLS:
                statements.append((node.lineno, f"{func.id}("))
            elif isinstance(func, ast.Attribute) and func.attr in SQL_CALLS and not node.args and not node.keywords:
                statements.append((node.lineno, f".{func.attr}()"))
    return found + [f"line {line}: {what}" for line, what in sorted(statements)]


def imports_grpc(tree: ast.Module) -> list[str]:
    """gRPC itself, its helper packages (grpc_status, …) and generated stubs (`*_pb2_grpc`);
    messages (`*_pb2`) are plain data and welcome anywhere."""
    found = set()
    for module, names in imported(tree):
        if module.split(".")[0] == "grpc" or module.startswith("grpc_") or module.endswith("_pb2_grpc"):
            found.add(module)
        found |= {f"{module}.{name}" for name in names if name.endswith("_pb2_grpc")}
    return sorted(found)


@pytest.mark.parametrize("descriptor", GRPC_SERVICES, ids=lambda d: d.name)
def test_the_service_has_the_skeleton(descriptor: ServiceDescriptor) -> None:
    root = package_dir(package_of(descriptor))
    missing = [name for name in SKELETON_FILES if not (root / name).is_file()]
    missing += [f"{name}/" for name in SKELETON_PACKAGES if not (root / name).is_dir()]
    if (root / "api").is_dir() and not (root / "api" / "__init__.py").is_file():
        missing.append("api/__init__.py")
    assert missing == [], f"{root}: missing {missing} (see services/README.md)"


@pytest.mark.parametrize("descriptor", GRPC_SERVICES, ids=lambda d: d.name)
def test_no_servicer_issues_sql(descriptor: ServiceDescriptor) -> None:
    api = package_dir(package_of(descriptor)) / "api"
    found = {str(path.relative_to(api.parent)): sql for path in modules(api) if (sql := sql_in(parse(path)))}
    assert found == {}, "servicers parse, authorise, call the domain and convert; SQL belongs in the domain modules"


@pytest.mark.parametrize("descriptor", GRPC_SERVICES, ids=lambda d: d.name)
def test_grpc_only_at_the_edges(descriptor: ServiceDescriptor) -> None:
    root = package_dir(package_of(descriptor))
    found = {}
    for path in modules(root):
        relative = path.relative_to(root)
        if relative.parts[0] == "api" or relative.as_posix() == "app.py" or path.name.endswith("_client.py"):
            continue
        if grpc := imports_grpc(parse(path)):
            found[relative.as_posix()] = grpc
    assert found == {}, "only api/, app.py and clients of other services (*_client.py) may import gRPC"


@pytest.mark.parametrize("descriptor", GRPC_SERVICES, ids=lambda d: d.name)
def test_no_service_imports_another_service(descriptor: ServiceDescriptor) -> None:
    own = package_of(descriptor)
    others = {package_of(d) for d in SERVICES} - {own}
    root = package_dir(own)
    found = {}
    for path in modules(root):
        if reached := sorted({m for m, _ in imported(parse(path)) if m.split(".")[0] in others}):
            found[path.relative_to(root).as_posix()] = reached
    assert found == {}, "a service talks to another over gRPC or events, never through its package"


# -- the checks themselves fail when they should -------------------------------------------------

SERVICER_WITH_SQL = '''
import sqlalchemy as sa
from sqlmodel import select
from linli_points.tables import accounts

async def handler(conn, d):
    d.update({"a": 1})                       # a dict: fine
    await conn.execute(accounts.update().where(accounts.c.id == 1))
    await conn.execute(select(accounts))
    return sa.func.count()
'''


def test_the_sql_check_sees_statements_and_not_dicts() -> None:
    found = sql_in(ast.parse(SERVICER_WITH_SQL))
    assert found == ["imports sqlalchemy", "imports select from sqlmodel", "line 8: .update()", "line 9: select(",
                     "line 10: sa.func"]


def test_the_grpc_check_sees_grpc_and_stubs_and_not_messages() -> None:
    tree = ast.parse("import grpc\nfrom grpc_status import rpc_status\n"
                     "from linli.points.v1 import ledger_pb2, ledger_pb2_grpc\n"
                     "from linli.points.v1.ledger_pb2 import X\n")
    assert imports_grpc(tree) == ["grpc", "grpc_status", "linli.points.v1.ledger_pb2_grpc"]
    assert imports_grpc(ast.parse("import linli.points.v1.ledger_pb2_grpc as stubs\n")) == [
        "linli.points.v1.ledger_pb2_grpc"]
    assert imports_grpc(ast.parse("from linli.points.v1 import ledger_pb2\n")) == []
