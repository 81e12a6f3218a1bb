"""The dashboard's first frame from the summary every engage writer leaves beside the database.

``engage.goalcache.refresh`` (run by fetch, import, label, demo, train and the dashboard's own
corrections just before their store closes) writes ``<db>.dashboard``: what the first frame
shows (today with the streak, the 30-day series and label mix, the mentions behind the waiting
list, the newest page of posts) and the database's signature as the writer left it. ``load``
turns it into the same ``Overview`` and ``PostsPage`` the full reads give, with one JSON read and
no DuckDB, but only when it still describes the database at this moment:

- the database's signature (size and modification time of the file, no write-ahead log) is the
  one recorded, so nothing has written it since;
- the settings it was computed with (zone, end of day, goal, waiting days) are the config's;
- "now" is in the same local day or the next one (the summary holds the series and the label
  mix of both ranges), and not before the summary's own "now".

Otherwise it gives ``None`` and the dashboard reads in full. Only the waiting list depends on
the time it is looked at; the summary holds the mentions behind it, and ``waiting_at`` applies
``engage.goals.waiting_for_you``'s rule at the dashboard's "now" (a test checks they agree).
The app shows this first, then reads everything again in full in its worker threads.

Standard library only (plus ``engage.goalcache``, itself standard library at import).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
from engage.vocab import Waiting, WaitingSummary

if TYPE_CHECKING:
    from engage.config import Config

log = logging.getLogger(__name__)


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
    if days != goalcache.DASHBOARD_DAYS:
        return None
    snap = read(db)
    if snap is None:
        return None
    try:
        return _load(db, snap, config, now, days)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):  # not engage's
        log.debug("dashboard summary of %s not used", db, exc_info=True)
        return None


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
    points = [DayPoint(date.fromisoformat(d), g, t, u) for d, g, t, u in snap["series"]]
    if len(points) != days + 1 or points[-2].day.isoformat() != snap["day"]:
        return None
    streak = snap.get("streak")
    people = snap.get("people")
    at = now.timestamp()
    if snap["day_start"] <= at < snap["day_end"]:  # the summary's day
        series, mix, status = points[:-1], snap["mix"], str(snap["status"])
    elif snap["next"]["day_start"] <= at < snap["next"]["day_end"]:  # the day after
        series, mix = points[1:], snap["next"]["mix"]
        today, yesterday = series[-1], series[-2]
        if today.genuine:
            return None  # posts dated ahead of the writer: their people are not in the summary
        status = goal_status(goal, today.genuine)
        # goals.day_status's streak walk: today is open (it counts once reached), yesterday
        # closed (reached, it carries the streak the summary had; else the streak is 0)
        if streak is not None:
            carried = int(streak) if yesterday.genuine >= goal.min else 0
            streak = carried + (1 if today.genuine >= goal.min else 0)
        people = []
    else:
        return None  # a later day
    waiting = waiting_at(
        snap["mentions"], now, int(settings["waiting_days"]), int(snap["answer_days"])
    )
    today_summary = TodaySummary(
        day=series[-1].day,
        goal=goal,
        count=series[-1].genuine,
        status=status,
        rolling_7d=sum(p.genuine for p in series[-7:]),
        waiting=waiting,
        streak_days=None if streak is None else int(streak),
        people=None if people is None else [str(p) for p in people],
    )
    mix = {str(p): {str(k): int(n) for k, n in m.items()} for p, m in mix.items()}
    overview = Overview(now, days, total, list(snap["platforms"]), today_summary, series, mix)
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
