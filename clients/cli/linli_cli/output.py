"""Output: rich tables for people, or with `--json` one JSON document on stdout for scripts
(snake_case keys that stay stable; amounts in integer fen or points, as the services keep
them). Progress bars and notes go to stderr, and only when stderr is a terminal, so stdout
stays clean and a failure leaves exactly one line on stderr.

Times are China time with the offset, everywhere: `2026-11-10T09:05:00+08:00` in JSON,
`2026-11-10 09:05+08:00` in tables — the services store UTC, people read Asia/Shanghai."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer
from google.protobuf.timestamp_pb2 import Timestamp
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from linli_cli import export
from linli_cli.errors import usage
from linli_cli.i18n import _
from linli_runtime.times import SHANGHAI, from_timestamp, iso_local

CHINA = SHANGHAI

# Every command takes these two; typer reads LINLI_TOKEN when --token is absent.
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document (stable keys) instead of tables.")]
Token = Annotated[str | None, typer.Option("--token", envvar="LINLI_TOKEN", show_envvar=True,
                                           help="Bearer token to use instead of the one `linli login` stored.")]


def stdout() -> Console:
    # Wide enough for the tables when stdout is a pipe or a file (tests, `| less`).
    return Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "140")), highlight=False)


def stderr() -> Console:
    return Console(stderr=True)


def emit(as_json: bool, data: Any, render: Callable[[Console], None]) -> None:
    target = export.requested.get()
    if target is not None and target.wanted:  # --csv FILE / --xlsx FILE: the file instead of the table
        if as_json and target.csv == "-":
            raise usage(_("--json and --csv - both write to stdout: choose one"))
        export.write(data, target)
        if not as_json:
            return
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False))
    else:
        render(stdout())


def note(message: str) -> None:
    """A remark for a person at a terminal (never in --json output, never on a pipe)."""
    console = stderr()
    if console.is_terminal:
        console.print(message)


@contextmanager
def progress(enabled: bool) -> Iterator[Progress]:
    """A progress display on stderr; silent (but still usable) when stderr is not a terminal
    or `enabled` is false (--json)."""
    console = stderr()
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=False,
                   disable=not (enabled and console.is_terminal))
    with bar:
        yield bar


def yuan(fen: int) -> str:
    """12345 fen → `¥123.45` (negative with a minus sign)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def when(ts: Timestamp) -> str | None:
    """A protobuf timestamp as ISO 8601 in China time with its offset (`…T09:05:00+08:00`), or
    None when unset."""
    moment = from_timestamp(ts)
    return iso(moment) if moment is not None else None


def iso(moment: datetime) -> str:
    """An instant as ISO 8601 in China time with its offset, to the second."""
    return iso_local(moment, CHINA)


def local(ts: Timestamp) -> str:
    """For tables: China time to the minute, with the offset (`2026-11-10 09:05+08:00`)."""
    moment = from_timestamp(ts)
    return clock_time(moment) if moment is not None else ""


def clock_time(moment: datetime) -> str:
    """`2026-11-10 09:05+08:00`."""
    shown = moment.astimezone(CHINA)
    offset = shown.strftime("%z")
    return f"{shown:%Y-%m-%d %H:%M}{offset[:3]}:{offset[3:]}"


def today() -> datetime:
    return datetime.now(CHINA)


def enum_name(value_name: str, prefix: str) -> str:
    """`ROLLOUT_STAGE_ADOPTED`, prefix `ROLLOUT_STAGE_` → `adopted`."""
    return value_name.removeprefix(prefix).lower()


class Headed(Table):
    """A table whose column headers speak the run's language: headers are written in English
    in the code (`table.add_column("points")`) and looked up in the catalogue here
    (tools/cli_messages.py collects them from every `add_column` and `for column in (…)`)."""

    def add_column(self, header: Any = "", *args: Any, **kwargs: Any) -> None:
        super().add_column(_(header) if isinstance(header, str) and header else header, *args, **kwargs)


def titled(title: str) -> Table:
    """A table at least as wide as its title (so the title never wraps above a narrow table)."""
    return Headed(title=title, title_justify="left", min_width=cell_len(title))
