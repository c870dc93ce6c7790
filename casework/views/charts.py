"""Small server-side SVG charts, drawn with presentation attributes only (the content security
policy allows no style attributes) and described for screen readers by their title and a table
of the same figures beside them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 44
LINE = "#1d70b8"  # GOV.UK blue
THRESHOLD = "#d4351c"  # GOV.UK red
INK = "#0b0c0c"
GRID = "#b1b4b6"


INSET = 28  # the first and last weeks' points (and labels) stay clear of the edges


def _x(index: int, count: int) -> float:
    inner = WIDTH - LEFT - RIGHT - 2 * INSET
    return LEFT + INSET + (inner / 2 if count == 1 else inner * index / (count - 1))


def _y(percent: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - percent / 100)


def weekly_trend(
    weeks: Sequence[tuple[date, float]], threshold: float, *, chart_id: str, title: str
) -> Markup:
    """A line of attendance % per teaching week (``(week start, percent)``, oldest first) with
    the policy's threshold as a dashed line."""
    count = len(weeks)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="casework-chart" aria-labelledby="{chart_id}-title" '
        f'font-family="system-ui, sans-serif" font-size="13">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    for tick in (0, 25, 50, 75, 100):
        y = _y(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">{tick}%</text>'
        )
    # Label every week while they fit, else every nth.
    step = max(1, -(-count // 10))
    for index, (monday, _percent) in enumerate(weeks):
        if index % step == 0 or index == count - 1:
            parts.append(
                f'<text x="{_x(index, count):.1f}" y="{HEIGHT - BOTTOM + 18}" '
                f'text-anchor="middle" fill="{INK}">{monday.day} {monday:%b}</text>'
            )
    y = _y(threshold)
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
        f'stroke="{THRESHOLD}" stroke-width="2" stroke-dasharray="8 4"/>'
        f'<text x="{WIDTH - RIGHT}" y="{y - 6:.1f}" text-anchor="end" fill="{THRESHOLD}">'
        f"Threshold {threshold:g}%</text>"
    )
    points = " ".join(
        f"{_x(i, count):.1f},{_y(percent):.1f}" for i, (_m, percent) in enumerate(weeks)
    )
    if count > 1:
        parts.append(f'<polyline points="{points}" fill="none" stroke="{LINE}" stroke-width="3"/>')
    for index, (_monday, percent) in enumerate(weeks):
        parts.append(
            f'<circle class="casework-chart__week" cx="{_x(index, count):.1f}" '
            f'cy="{_y(percent):.1f}" r="4" fill="{LINE}"/>'
        )
    parts.append(
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.1f}" y="{HEIGHT - 6}" '
        f'text-anchor="middle" fill="{INK}">Teaching week starting</text></svg>'
    )
    return Markup("".join(parts))
