"""The dashboard's first frame from the summary every engage writer leaves beside the database.

``engage.goalcache.refresh`` (run by fetch, import, label, demo, train and the dashboard's own
corrections just before their store closes) writes ``<db>.dashboard``: what the first frame
shows (today with the streak, the posts of every day of the last 90 and of the days after per
platform and label, the mentions behind the waiting list, the newest page of posts) and the
database's signature as the writer left it. ``load`` turns it into the same ``Overview`` and
``PostsPage`` the full reads give, with one JSON read and no DuckDB, but only when it still
describes the database at this moment:

- the database's signature (size and modification time of the file, no write-ahead log) is the
  one recorded, so nothing has written it since;
- the settings it was computed with (zone, end of day, goal, waiting days) are the config's;
- "now" is not before the summary's own "now".

Then any later day works: the series, the label mix and the rolling seven days of the range
ending with that day are sums of the summary's days (a day after the newest post has none), the
streak follows ``goals.day_status``'s walk (today counts once reached; a closed day that missed
the goal ends it; at the summary's day it carries on with the streak recorded there). It gives
``None`` (the dashboard reads in full) when that is not exact: a range reaching before the days
the summary holds, a label mix across a change of time zone, a later day that already has
genuine posts (dated ahead: their people are not in the summary), a zone the database had not
recorded yet (its days would start from the day the dashboard opens). Only the waiting list
depends on the time it is looked at; the summary holds the mentions behind it, and
``waiting_at`` applies ``engage.goals.waiting_for_you``'s rule at the dashboard's "now" (a test
checks they agree). The app shows this first, then reads everything again in full in its worker
threads.

Standard library only (plus ``engage.goalcache``, itself standard library at import).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engage import goalcache
from engage.dashboard.model import (
    Overview,
    PostFilter,
    PostsPage,
    Signature,
    TodaySummary,
    db_signature,
)
from engage.vocab import LABELS, Waiting, WaitingSummary

if TYPE_CHECKING:
    from engage.config import Config

log = logging.getLogger(__name__)

LABELS_AND_UNLABELLED = {*LABELS, "unlabelled"}


@dataclass(frozen=True)
class Goal:
    min: int
    target: int


def goal_status(goal: Goal, count: int) -> str:
    """``engage.goals.Goal.status``."""
    if count < goal.min:
        return "below"
    return "met" if count <= goal.target else "exceeded"


@dataclass(frozen=True)
class DayPoint:
    day: date
    genuine: int
    total: int
    unlabelled: int

    @property
    def ratio(self) -> float | None:
        return self.genuine / self.total if self.total else None


@dataclass(frozen=True)
class Post:
    platform: str
    account: str
    post_id: str
    created_at: datetime
    text: str
    kind: str
    url: str | None
    reposted_post: str | None
    client: str | None


@dataclass(frozen=True)
class PostView:
    post: Post
    label: str | None
    confidence: float | None
    reason: str | None
    corrected: bool
    model_label: str | None


@dataclass(frozen=True)
class FirstPaint:
    """The first frame's data and the database signature it describes."""

    sig: Signature
    overview: Overview
    posts: PostsPage


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def waiting_at(
    mentions: Sequence[Sequence[Any]], now: datetime, waiting_days: int, answer_days: int
) -> WaitingSummary:
    """``goals.waiting_for_you`` at ``now`` from the summary's mentions (newest first, each
    ``[platform, mention_id, author, created_at, text, kind, url, answered_at]``), which cover
    at least the last ``max(waiting_days, answer_days)`` days before ``now``."""
    wait_since = now - timedelta(days=waiting_days)
    answer_since = now - timedelta(days=answer_days)
    items: list[Waiting] = []
    delays: list[float] = []
    for platform, mention_id, author, created, text, kind, url, answered in mentions:
        created_at = _when(created)
        if created_at > now:
            continue
        if answered is not None and (answered_at := _when(answered)) <= now:
            if created_at >= answer_since:
                delays.append((answered_at - created_at).total_seconds())
            continue
        if created_at >= wait_since:
            age = now - created_at
            items.append(Waiting(platform, mention_id, author, created_at, text, kind, url, age))
    if delays:
        import statistics  # (only here: it costs a few milliseconds to import)

        median: timedelta | None = timedelta(seconds=statistics.median(delays))
    else:
        median = None
    return WaitingSummary(items, median, len(delays), waiting_days)


def read(db: Path) -> dict[str, Any] | None:
    try:
        with open(goalcache.dashboard_path_for(db), encoding="utf-8") as fh:
            snap = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(snap, dict) or snap.get("v") != goalcache.DASHBOARD_VERSION:
        return None
    return snap


def _signature(value: Any) -> Signature:
    db, wal = value
    return (None if db is None else (int(db[0]), int(db[1])), None if wal is None else wal)


def load(db: Path, config: Config, now: datetime, days: int) -> FirstPaint | None:
    """The first frame of the dashboard on ``db`` at ``now`` showing ``days`` days, from the
    summary; ``None`` when there is none or it does not describe the database at ``now``."""
    if days < 1:
        return None
    snap = read(db)
    if snap is None:
        return None
    try:
        return _load(db, snap, config, now, days)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):  # not engage's
        log.debug("dashboard summary of %s not used", db, exc_info=True)
        return None


def day_of(now: datetime, tz: tzinfo, day_end_hour: int) -> date:
    """``goals.DayClock.day_of`` for a clock with one zone: the local day ``now`` is in (days
    start at ``day_end_hour`` local time, so DST days last 23 or 25 hours)."""

    def start(day: date) -> datetime:
        return datetime.combine(day, time(day_end_hour), tzinfo=tz).astimezone(UTC)

    day = (now.astimezone(tz) - timedelta(hours=day_end_hour)).date()
    for _ in range(4):
        begins = start(day)
        if now < begins:
            day -= timedelta(days=1)
        elif now >= max(begins, start(day + timedelta(days=1))):
            day += timedelta(days=1)
        else:
            break
    return day


class Days:
    """The summary's days (``daily``): per day the series' figures, and the posts per platform
    and label that the label mix sums."""

    def __init__(self, daily: dict[str, Any], platforms: Sequence[str]) -> None:
        self.first = date.fromisoformat(daily["first"])
        self.points: list[Any] = daily["points"]
        self.counts: list[Any] = daily["counts"]
        if len(self.counts) != len(self.points):
            raise ValueError("the summary's days do not match")
        self.last = self.first + timedelta(days=len(self.points) - 1)
        self.complete = bool(daily["complete"])
        self.breaks = {date.fromisoformat(d) for d in daily["breaks"]}
        self.labels = [str(lb) for lb in daily["labels"]]
        self.platforms = [str(p) for p in platforms]
        if set(self.labels) != LABELS_AND_UNLABELLED:
            raise ValueError("the summary counts other labels")

    def known(self, first: date, last: date) -> bool:
        """Whether every day from ``first`` to ``last`` is in the summary, or known to have no
        posts."""
        return first >= self.first and (last <= self.last or self.complete)

    def _index(self, day: date) -> int:
        i = (day - self.first).days
        if i < 0:
            raise ValueError(f"{day} is before the summary's days")
        return i

    def point(self, day: date) -> DayPoint:
        i = self._index(day)
        if i >= len(self.points):
            return DayPoint(day, 0, 0, 0)
        genuine, total, unlabelled = self.points[i]
        return DayPoint(day, int(genuine), int(total), int(unlabelled))

    def mix(self, first: date, last: date) -> dict[str, dict[str, int]] | None:
        """``goals.label_mix`` over the days ``first`` .. ``last`` (None across a break)."""
        if any(first <= b < last for b in self.breaks):
            return None
        width = len(self.labels)
        sums = [[0] * width for _ in self.platforms]
        for i in range(self._index(first), min(self._index(last), len(self.counts) - 1) + 1):
            per = self.counts[i]
            if per == 0:
                continue
            if len(per) != len(self.platforms):
                raise ValueError("a day of the summary does not list every platform")
            for acc, c in zip(sums, per, strict=True):
                if c == 0:
                    continue
                if len(c) != width:
                    raise ValueError("a day of the summary does not count every label")
                for k, n in enumerate(c):
                    acc[k] += int(n)
        return {
            p: {lb: n for lb, n in zip(self.labels, acc, strict=True)}
            for p, acc in zip(self.platforms, sums, strict=True)
            if any(acc)
        }


def streak_at(
    day: date, summary_day: date, summary_streak: int, genuine: Callable[[date], int], goal: Goal
) -> int:
    """``goals.day_status``'s streak on ``day`` (still open), on or after the summary's day:
    days reaching ``goal.min`` back from ``day`` (an open day below it does not break it, a
    closed one does); at the summary's day, once closed, the streak recorded there (which
    counted it, open, only if reached) carries on if it reached the goal."""
    if day == summary_day:
        return summary_streak
    streak = 0
    d = day
    while d > summary_day:
        if genuine(d) >= goal.min:
            streak += 1
        elif d != day:
            return streak
        d -= timedelta(days=1)
    return streak + summary_streak if genuine(summary_day) >= goal.min else streak


def _load(
    db: Path, snap: dict[str, Any], config: Config, now: datetime, days: int
) -> FirstPaint | None:
    sig = db_signature(db)
    if sig[1] is not None or _signature(snap["sig"]) != sig:
        return None  # written since (or being written now)
    if snap["settings"] != goalcache.dashboard_settings(config):
        return None
    page = PostsPage(PostFilter(), 0, int(snap.get("page_size", 0)), [])
    total = int(snap["total_posts"])
    if total == 0:
        return FirstPaint(sig, Overview(now, days, 0, [], None, None, None), page)
    if _when(snap["now"]) > now:
        return None  # a clock behind the summary's
    settings = snap["settings"]
    goal = Goal(int(settings["goal"][0]), int(settings["goal"][1]))
    summary_day = date.fromisoformat(snap["day"])
    at = now.timestamp()
    if snap["day_start"] <= at < snap["day_end"]:
        today = summary_day
    elif not snap["clock_fixed"]:
        return None  # the days from today on start where the configured zone is first recorded
    else:
        from zoneinfo import ZoneInfo

        today = day_of(now, ZoneInfo(str(settings["timezone"])), int(settings["day_end_hour"]))
        if today <= summary_day:
            return None  # not the summary's clock
    platforms = [str(p) for p in snap["platforms"]]
    counts = Days(snap["daily"], platforms)
    first = today - timedelta(days=max(days, 7) - 1)
    if not counts.known(first, today):
        return None
    series = [counts.point(first + timedelta(days=i)) for i in range(max(days, 7))]
    mix = counts.mix(series[-days].day, today)
    if mix is None:
        return None
    count = series[-1].genuine
    streak = snap.get("streak")
    people = snap.get("people")
    if today != summary_day:
        if count:
            return None  # posts dated ahead of the writer: their people are not in the summary
        people = [] if people is not None else None
        if streak is not None:
            streak = streak_at(
                today, summary_day, int(streak), lambda d: counts.point(d).genuine, goal
            )
    waiting = waiting_at(
        snap["mentions"], now, int(settings["waiting_days"]), int(snap["answer_days"])
    )
    today_summary = TodaySummary(
        day=today,
        goal=goal,
        count=count,
        status=goal_status(goal, count),
        rolling_7d=sum(p.genuine for p in series[-7:]),
        waiting=waiting,
        streak_days=None if streak is None else int(streak),
        people=None if people is None else [str(p) for p in people],
    )
    overview = Overview(now, days, total, platforms, today_summary, series[-days:], mix)
    rows = [
        PostView(
            Post(
                p["platform"],
                p["account"],
                p["post_id"],
                _when(p["created_at"]).astimezone(UTC),
                p["text"],
                p["kind"],
                p["url"],
                p["reposted_post"],
                p["client"],
            ),
            p["label"],
            p["confidence"],
            p["reason"],
            bool(p["corrected"]),
            p["model_label"],
        )
        for p in snap["posts"]
    ]
    return FirstPaint(sig, overview, PostsPage(PostFilter(), 0, page.limit, rows))
