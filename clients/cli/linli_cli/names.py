"""Resource names (AIP-122) built from org paths, as the services spell them, and the place a
command works on when the operator leaves it out (the signed-in token's scope).

Org paths go city / district / street or town / community / compound / building / household,
so a scope of four segments or more lies inside exactly one community, and one of five or more
inside exactly one compound (a canteen's or a resident's token)."""

from __future__ import annotations

from linli_cli.errors import usage
from linli_cli.i18n import N_, _
from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument

COMMUNITY_DEPTH = 4
COMPOUND_DEPTH = 5


def org_path(value: str, what: str = "PATH") -> str:
    """`/Chengdu/chongzhou/` → `chengdu/chongzhou`; a malformed path is a usage error here,
    before any call."""
    try:
        path = normalize_path(value)
    except InvalidArgument as exc:
        raise usage(f"{what}: {exc.violations[0].description if exc.violations else exc.message}") from None
    if not path:
        raise usage(_("{what}: give an org path such as chengdu/chongzhou").format(what=what))
    return path


def tilde(path: str) -> str:
    return path.replace("/", "~")


def untilde(segment: str) -> str:
    return segment.replace("~", "/")


def compound(path: str) -> str:
    return f"compounds/{tilde(path)}"


def community(path: str) -> str:
    return f"communities/{tilde(path)}"


def enclosing(scope: str, depth: int) -> str | None:
    """The place of `depth` segments that `scope` lies in, or None when the scope is wider."""
    parts = scope.split("/") if scope else []
    return "/".join(parts[:depth]) if len(parts) >= depth else None


KINDS = (N_("community"), N_("compound"))  # what `place_for` may be asked for


def place_for(given: str | None, scope: str, depth: int, kind: str, what: str) -> str:
    """The community (depth 4) or compound (depth 5) a command works on: the one given, else
    the one the token's scope lies in. A wider scope must say which (a usage error, exit 2)."""
    if given:
        return org_path(given, what)
    inside = enclosing(scope, depth)
    if inside is None:
        reach = _("your token reaches {scope}").format(
            scope=scope) if scope else _("your token reaches the whole platform")
        raise usage(_("{what}: say which {kind} ({reach}, more than one {kind})").format(
            what=what, kind=_(kind), reach=reach))
    return inside
