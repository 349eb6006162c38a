"""Short ids: a command that names one thing takes the id a list shows (`h-1a2b…`), or a
unique beginning of it, within one community or compound — or the full AIP-122 name.

    full name      communities/chengdu~…~fengshu/helpRequests/h-1a2b3c4d5e6f7a8b   used as given
    complete id    h-1a2b3c4d5e6f7a8b (the shape the service mints)                 placed in the parent
    other id       h-demo-01, h-1a2b                                                the id if it exists,
                                                                                     else the one id it begins

The parent (community or compound) comes from `--community`/`--compound`, or from the token's
scope when it lies inside one; a wider token has its whole scope searched for the id. An id
that matches nothing is NOT FOUND (exit 4); a beginning that matches several is a usage error
naming them (exit 2)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from linli_cli import names
from linli_cli.errors import CliError, ExitCode, usage
from linli_cli.i18n import _
from linli_runtime.names import NAME_ID


@dataclass(frozen=True)
class Kind:
    noun: str            # "help request"
    parent_kind: str     # "communities" or "compounds"
    collection: str      # "helpRequests"
    complete: re.Pattern[str]  # an id as the service mints it
    min_prefix: int      # the shortest beginning accepted
    list_command: str    # where the ids are shown, for the error message

    def name(self, parent_path: str, ident: str) -> str:
        return f"{self.parent_kind}/{names.tilde(parent_path)}/{self.collection}/{ident}"

    def ident(self, name: str) -> str:
        return name.rsplit("/", 1)[-1]

    def full_name(self, value: str, what: str) -> str | None:
        """`value` when it is a full name of this kind (checked), None when it is an id."""
        if not value.startswith(self.parent_kind + "/"):
            return None
        parts = value.split("/")
        if len(parts) != 4 or parts[2] != self.collection or not parts[1] or not NAME_ID.match(parts[3]):
            raise usage(_("{what}: {value!r} is not a {noun} name ({pattern}) nor an id as `{command}` shows").format(
                what=what, value=value, noun=_(self.noun), pattern=f"{self.parent_kind}/…/{self.collection}/…",
                command=self.list_command))
        names.org_path(names.untilde(parts[1]), what)
        return value

    def checked_id(self, value: str, what: str) -> str:
        if not NAME_ID.match(value):
            raise usage(_("{what}: {value!r} is not a {noun} id as `{command}` shows it").format(
                what=what, value=value, noun=_(self.noun), command=self.list_command))
        if len(value) < self.min_prefix:
            raise usage(_("{what}: give at least {count} characters of the {noun} id").format(
                what=what, count=self.min_prefix, noun=_(self.noun)))
        return value


async def resolve(kind: Kind, value: str, parent_path: str | None, *, what: str, area: str,
                  exists: Callable[[str], Awaitable[bool]],
                  candidates: Callable[[], Awaitable[list[str]]]) -> str:
    """The full name `value` stands for (see the module docstring). `parent_path` is the
    community or compound when known; otherwise `candidates` (full names across the token's
    scope, `area` in messages) are searched for the id."""
    given = kind.full_name(value, what)
    if given is not None:
        return given
    ident = kind.checked_id(value, what)
    if parent_path is not None:
        name = kind.name(parent_path, ident)
        if kind.complete.fullmatch(ident) or await exists(name):
            return name
    found_names = await candidates()
    exact = [n for n in found_names if kind.ident(n) == ident]
    matches = exact or sorted(n for n in found_names if kind.ident(n).startswith(ident))
    if not matches:
        raise CliError(_("not found: no {noun} {ident} in {area} (ids as `{command}` shows them)").format(
            noun=_(kind.noun), ident=ident, area=area, command=kind.list_command), ExitCode.NOT_FOUND)
    if len(matches) > 1:
        # Ids alone when they share the parent; full names when found across a wider scope.
        labels = [kind.ident(n) if parent_path is not None else n for n in matches]
        shown = ", ".join(labels[:3]) + (", …" if len(labels) > 3 else "")
        raise usage(_("{what}: {ident} matches {count} {noun}s in {area} ({shown}); give more of the id, "
                      "or the full name").format(what=what, ident=ident, count=len(matches), noun=_(kind.noun),
                                                 area=area, shown=shown))
    return matches[0]


async def found(lookup: Awaitable[object]) -> bool:
    """True when the lookup answers, False on NOT FOUND; any other failure stops the command."""
    try:
        await lookup
    except CliError as exc:
        if exc.code == ExitCode.NOT_FOUND:
            return False
        raise
    return True
