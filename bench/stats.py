"""Small helpers shared by the benchmarks: percentiles and a results table."""

from __future__ import annotations

import statistics

from rich.console import Console
from rich.table import Table


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(title: str, columns: list[str], rows: list[list[str]], width: int | None = None) -> None:
    """`width`: the console's (rich otherwise takes 80 columns when the output is not a terminal)."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*row)
    Console(width=width).print(table)
