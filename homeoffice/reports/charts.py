"""Charts drawn on the server as inline SVG: a bar chart and a line chart.

Our own few lines rather than a charting library: no script runs in the page (the CSP
allows none inline, and the service runs in closed networks), and the markup is
escaped text we control. Each chart is an image with a name (``<title>``) and a
description in words (``<desc>``), announced through ``role="img"`` and
``aria-labelledby``; the page puts a table with every value beside it.

Only SVG presentation attributes are used (``fill="…"``), never ``style=``: the
Content-Security-Policy's ``style-src 'self'`` blocks inline style attributes.
Colours keep at least 4.5:1 contrast on white for text and 3:1 for graphics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: bars and lines: dark blue, 10:1 on white
INK = "#1d3a8a"
#: text: 15:1 on white
TEXT = "#212529"
#: axis and grid lines: 4.7:1 on white
GRID = "#6c757d"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"

_ID = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Datum:
    """One bar or point: its label, its value (``None`` when hidden) and the text shown."""

    label: str
    value: float | None
    display: str


def _check_id(chart_id: str) -> None:
    if not _ID.match(chart_id):
        raise ValueError(f"chart id {chart_id!r}: lower-case letters, digits and '-' only")


def _open(chart_id: str, width: int, height: int, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="img-fluid" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-family="{escape(FONT)}" '
        f'font-size="15" fill="{TEXT}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _short(label: str, limit: int) -> str:
    """Long labels are cut in the chart; the table beside it carries the full text."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _fractions(highest: int, wanted: Sequence[float]) -> list[float]:
    """The wanted grid positions at which the scale reads a whole number of people."""
    return [f for f in wanted if float(highest * f).is_integer()]


def nice_maximum(value: float) -> int:
    """A round upper end for an axis: 1, 2, 5, 10, 20, 50 … at or above ``value``."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(
    *, chart_id: str, title: str, description: str, data: Sequence[Datum], width: int = 640
) -> Markup:
    """Horizontal bars, one per datum, the value written after each bar.

    A hidden value (``None``) gets no bar, only its text (e.g. "< 5"), so the chart
    never shows more than the table does.
    """
    _check_id(chart_id)
    row, top, bottom = 30, 10, 30
    label_chars = min(max((len(d.label) for d in data), default=4), 28)
    label_width = 20 + int(label_chars * 8.6)
    value_width = 60
    plot = max(width - label_width - value_width, 80)
    height = top + row * max(len(data), 1) + bottom
    highest = nice_maximum(max((d.value or 0 for d in data), default=0))
    parts = _open(chart_id, width, height, title, description)
    x0 = label_width
    # grid lines and scale at 0, the top, and half way when that is a whole number
    for fraction in _fractions(highest, (0, 0.5, 1)):
        x = x0 + plot * fraction
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom + 4}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        number = f"{highest * fraction:g}"
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{escape(number)}</text>'
        )
    for index, datum in enumerate(data):
        y = top + index * row
        middle = y + row / 2 + 4
        parts.append(
            f'<text x="{x0 - 8}" y="{middle:.1f}" text-anchor="end">'
            f"{escape(_short(datum.label, 28))}</text>"
        )
        length = 0.0
        if datum.value:
            length = plot * datum.value / highest
            parts.append(
                f'<rect x="{x0}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" fill="{INK}"/>'
            )
        parts.append(
            f'<text x="{x0 + length + 6:.1f}" y="{middle:.1f}">{escape(datum.display)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    data: Sequence[Datum],
    tick_labels: Sequence[str | None],
    width: int = 640,
    height: int = 260,
) -> Markup:
    """A line through the data from left to right; hidden values break the line.

    ``tick_labels`` has one entry per datum: the text under the x axis at that point,
    or ``None`` for no tick (e.g. only each January of a long series).
    """
    _check_id(chart_id)
    if len(tick_labels) != len(data):
        raise ValueError("one tick label (or None) per datum")
    left, right, top, bottom = 52, 16, 14, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = nice_maximum(max((d.value or 0 for d in data), default=0))
    parts = _open(chart_id, width, height, title, description)
    for fraction in _fractions(highest, (0, 0.25, 0.5, 0.75, 1)):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="{1 if fraction else 1.5}"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(f'{highest * fraction:g}')}</text>"
        )

    def x_of(index: int) -> float:
        return left + (plot_w * index / (len(data) - 1) if len(data) > 1 else plot_w / 2)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - value / highest)

    segment: list[str] = []
    segments: list[list[str]] = []
    for index, datum in enumerate(data):
        if datum.value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x_of(index):.1f},{y_of(datum.value):.1f}")
    if segment:
        segments.append(segment)
    for points in segments:
        if len(points) == 1:
            x, y = points[0].split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{INK}"/>')
        else:
            parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{INK}" '
                f'stroke-width="2.5" stroke-linejoin="round"/>'
            )
    for index, label in enumerate(tick_labels):
        if label is None:
            continue
        x = x_of(index)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 5}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
