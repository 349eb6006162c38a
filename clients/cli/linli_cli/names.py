"""Resource names (AIP-122) built from org paths, as the services spell them."""

from __future__ import annotations

from linli_cli.errors import usage
from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument


def org_path(value: str, what: str = "PATH") -> str:
    """`/Chengdu/chongzhou/` → `chengdu/chongzhou`; a malformed path is a usage error here,
    before any call."""
    try:
        path = normalize_path(value)
    except InvalidArgument as exc:
        raise usage(f"{what}: {exc.violations[0].description if exc.violations else exc.message}") from None
    if not path:
        raise usage(f"{what}: give an org path such as chengdu/chongzhou")
    return path


def tilde(path: str) -> str:
    return path.replace("/", "~")


def compound(path: str) -> str:
    return f"compounds/{tilde(path)}"


def community(path: str) -> str:
    return f"communities/{tilde(path)}"
