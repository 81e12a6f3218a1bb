"""The daily chart: genuine interactions per day as bars, the goal range as dotted lines, and
the interaction ratio (genuine / all posts) as a row of small blocks under them.

Drawn with characters, not colour alone, so it reads the same with ``NO_COLOR``: bars ``█``,
goal lines ``┈``, ratio ``▁`` (none genuine) to ``█`` (all genuine), ``·`` for a day without posts.
When the days do not fit the width, neighbouring days share a column (their mean)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from engage.dashboard.model import DayPointLike as DayPoint

BLOCKS = " ▁▂▃▄▅▆▇█"
AXIS = 4  # "12┤" plus a space of margin


@dataclass(frozen=True)
class _Column:
    genuine: float
    ratio: float | None


def _columns(points: Sequence[DayPoint], width: int) -> tuple[list[_Column], int]:
    """Columns to draw and how many screen cells each is wide."""
    if not points:
        return [], 1
    if len(points) <= width:
        cell = max(1, min(3, width // len(points)))
        return [_Column(p.genuine, p.ratio) for p in points], cell
    per = math.ceil(len(points) / width)
    cols = []
    for i in range(0, len(points), per):
        chunk = points[i : i + per]
        genuine = sum(p.genuine for p in chunk)
        total = sum(p.total for p in chunk)
        cols.append(_Column(genuine / len(chunk), genuine / total if total else None))
    return cols, 1


def render_chart(
    points: Sequence[DayPoint], width: int, height: int, goal_min: int, goal_target: int
) -> Text:
    """The chart as ``height`` lines of at most ``width`` cells."""
    out = Text(no_wrap=True, overflow="crop")
    if width < AXIS + 5 or height < 3:
        out.append("(too small for the chart)", style="dim")
        return out
    cols, cell = _columns(points, width - AXIS)
    if not cols:
        out.append("no days to show yet", style="dim")
        return out
    rows = max(1, height - 2)  # bars; then the ratio row and the date row
    top = max(max(c.genuine for c in cols), goal_target, 1)
    scale = max(1, math.ceil(top / rows))  # interactions per row of bars

    def row_holds(r: int, level: int) -> bool:  # rows count from 1 at the bottom
        return (r - 1) * scale < level <= r * scale

    for r in range(rows, 0, -1):
        goal_row = row_holds(r, goal_min) or row_holds(r, goal_target)
        label = ""
        if row_holds(r, goal_target):
            label = str(goal_target)
        elif row_holds(r, goal_min):
            label = str(goal_min)
        elif r == rows:
            label = str(r * scale)
        out.append(f"{label:>{AXIS - 1}}┤", style="dim")
        for c in cols:
            fill = min(1.0, max(0.0, c.genuine / scale - (r - 1)))
            ch = BLOCKS[round(fill * 8)]
            if ch == " " and goal_row:
                out.append("┈" * cell, style="magenta")
            else:
                out.append(ch * cell, style="green" if c.genuine >= goal_min else "yellow")
        out.append("\n")
    out.append(f"{'%':>{AXIS - 1}} ", style="dim")
    for c in cols:
        if c.ratio is None:
            out.append("·" * cell, style="dim")
        else:
            ch = BLOCKS[max(1, round(c.ratio * 8))]
            out.append(ch * cell, style="cyan" if c.ratio >= 0.5 else "red")
    out.append("\n")
    first, last = points[0].day, points[-1].day
    span = len(cols) * cell
    left, right = f"{first:%b %d}", f"{last:%b %d}"
    gap = max(1, span - len(left) - len(right))
    out.append(" " * AXIS + left + " " * gap + right, style="dim")
    return out


class DailyChart(Widget):
    """Shows ``render_chart`` at the widget's size; ``update_points`` redraws it."""

    DEFAULT_CSS = """
    DailyChart { height: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.points: list[DayPoint] = []
        self.goal_min = 2
        self.goal_target = 3

    def update_points(self, points: Sequence[DayPoint], goal_min: int, goal_target: int) -> None:
        self.points = list(points)
        self.goal_min = goal_min
        self.goal_target = goal_target
        self.refresh()

    def render(self) -> Text:
        if not self.points:
            return Text("loading…", style="dim")
        return render_chart(
            self.points, self.size.width, self.size.height, self.goal_min, self.goal_target
        )
