"""Charts as inline SVG, drawn on the server: no JavaScript, readable by screen readers (each
chart is `role="img"` with a `<title>` and a `<desc>` naming its figures), and scaled to the
screen by its viewBox. Text never sits on a coloured bar, so its contrast is the page's."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Drawn for a phone's width (text at about its nominal size there); CSS caps how wide it grows.
WIDTH = 360
TEXT = "#1f2937"
MUTED = "#4b5563"
TRACK = "#e5e7eb"
FILL = "#9f1239"
OVER = "#b45309"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Bar:
    label: str  # shown above the bar
    value: float
    value_text: str  # shown at the bar's end
    target: float | None = None  # a track (budget) or a marker (SLA) the value is measured against
    over: bool = False  # drawn in the warning colour


def _svg(height: int, title: str, desc: str, body: str) -> Markup:
    n = next(_ids)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="chart-t{n} chart-d{n}" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-t{n}">{escape(title)}</title><desc id="chart-d{n}">{escape(desc)}</desc>'
        f"{body}</svg>"
    )


def hbars(bars: Sequence[Bar], *, title: str, desc: str, target_is_track: bool = True) -> Markup:
    """One horizontal bar per row, label above it. With targets: a grey track of the target's
    length behind the bar (budget vs actual), or a dark tick at the target (an SLA)."""
    if not bars:
        return Markup("")
    scale_max = max(max(b.value, b.target or 0) for b in bars) or 1
    usable = WIDTH - 150
    row = 46
    parts = []
    for i, b in enumerate(bars):
        y = i * row
        parts.append(f'<text x="0" y="{y + 15}" font-size="13" fill="{TEXT}">{escape(b.label)}</text>')
        if b.target is not None and target_is_track:
            parts.append(f'<rect x="0" y="{y + 22}" width="{usable * b.target / scale_max:.1f}" height="18" '
                         f'rx="3" fill="{TRACK}"/>')
        width = max(usable * b.value / scale_max, 2 if b.value else 0)
        colour = OVER if b.over else FILL
        parts.append(f'<rect x="0" y="{y + 22}" width="{width:.1f}" height="18" rx="3" fill="{colour}"/>')
        if b.target is not None and not target_is_track:
            tx = usable * b.target / scale_max
            parts.append(f'<rect x="{tx - 1.5:.1f}" y="{y + 18}" width="3" height="26" fill="{TEXT}"/>')
        end = max(width, usable * (b.target or 0) / scale_max if target_is_track else width)
        parts.append(f'<text x="{end + 6:.1f}" y="{y + 35}" font-size="12" fill="{MUTED}">'
                     f"{escape(b.value_text)}</text>")
    return _svg(len(bars) * row + 4, title, desc, "".join(parts))


def columns(points: Sequence[tuple[str, float, str]], *, title: str, desc: str) -> Markup:
    """Vertical columns over time: (period label, value, value text)."""
    if not points:
        return Markup("")
    height, top, bottom = 200, 28, 26
    top_value = max(v for _, v, _ in points) or 1
    slot = WIDTH / max(len(points), 1)
    bar_w = min(56, slot * 0.6)
    parts = [f'<line x1="0" y1="{height - bottom}" x2="{WIDTH}" y2="{height - bottom}" stroke="{MUTED}"/>']
    for i, (label, value, text) in enumerate(points):
        h = (height - top - bottom) * value / top_value
        x = i * slot + (slot - bar_w) / 2
        y = height - bottom - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="3" fill="{FILL}"/>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 8:.1f}" font-size="12" text-anchor="middle" '
                     f'fill="{TEXT}">{escape(text)}</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 8}" font-size="12" text-anchor="middle" '
                     f'fill="{MUTED}">{escape(label)}</text>')
    return _svg(height, title, desc, "".join(parts))


def stacked(groups: Sequence[tuple[str, Sequence[int]]], series: Sequence[tuple[str, str]], *, title: str,
            desc: str, label: Callable[[int], str] = str) -> Markup:
    """One horizontal stacked bar per group (e.g. a street's compounds by rollout stage);
    `series` gives each segment's legend text and colour, in order."""
    if not groups:
        return Markup("")
    total_max = max(sum(counts) for _, counts in groups) or 1
    usable = WIDTH - 70
    row = 46
    legend_h = 24 * ((len(series) + 1) // 2)
    parts = []
    for i, (name, colour) in enumerate(series):
        lx, ly = (i % 2) * (WIDTH / 2), (i // 2) * 24
        parts.append(f'<rect x="{lx:.1f}" y="{ly + 4}" width="14" height="14" rx="2" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 20:.1f}" y="{ly + 16}" font-size="12" fill="{TEXT}">{escape(name)}</text>')
    for i, (name, counts) in enumerate(groups):
        y = legend_h + i * row
        parts.append(f'<text x="0" y="{y + 15}" font-size="13" fill="{TEXT}">{escape(name)}</text>')
        x = 0.0
        for count, (_, colour) in zip(counts, series, strict=True):
            w = usable * count / total_max
            if w:
                parts.append(f'<rect x="{x:.1f}" y="{y + 22}" width="{w:.1f}" height="18" fill="{colour}"/>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 35}" font-size="12" fill="{MUTED}">'
                     f"{escape(label(sum(counts)))}</text>")
    return _svg(legend_h + len(groups) * row + 4, title, desc, "".join(parts))
