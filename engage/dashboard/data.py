"""The dashboard's full reads, without Textual (so they are easy to test on their own): the
posts table, the overview (today, the chart, the label mix, who is waiting) and the streak,
through ``engage.goals`` and ``engage.store``. They run in worker threads, on a store that
``StoreGateway`` opens only for that read (see ``model.py`` for how the dashboard shares the
database with writers); importing this module loads DuckDB, so the app imports it only there.

The names of ``model.py`` are available here too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engage import goalcache, goals
from engage.dashboard.model import (
    PAGE_SIZE,
    Opener,
    Overview,
    PendingCorrections,
    PostFilter,
    PostsPage,
    ReadWriteLock,
    Signature,
    StoreGateway,
    Streak,
    TodaySummary,
    db_signature,
    post_key,
    read_outcome,
    split_post_key,
    wal_path,
)
from engage.store import Store

if TYPE_CHECKING:
    from engage.config import Config

__all__ = [
    "PAGE_SIZE",
    "Opener",
    "Overview",
    "PendingCorrections",
    "PostFilter",
    "PostsPage",
    "ReadWriteLock",
    "Signature",
    "StoreGateway",
    "Streak",
    "TodaySummary",
    "cached_streak",
    "db_signature",
    "load_overview",
    "load_posts",
    "load_streak",
    "post_key",
    "read_outcome",
    "split_post_key",
    "wal_path",
]


def load_posts(
    store: Store, filt: PostFilter, offset: int = 0, limit: int = PAGE_SIZE
) -> PostsPage:
    """The newest posts that match ``filt``, ``limit`` of them from ``offset``."""
    rows = store.dashboard_recent_posts(
        label=filt.label, platform=filt.platform, limit=limit, offset=offset
    )
    return PostsPage(filt, offset, limit, rows)


def load_overview(store: Store, config: Config, now: datetime, days: int) -> Overview:
    """Today's count, the rolling seven days and who is waiting, the daily series of the last
    ``days`` days and the label mix per platform over the same days, through ``engage.goals``;
    the streak too when the goal cache (``engage.goalcache``) is fresh."""
    total = store.count_posts()
    if total == 0:
        return Overview(now, days, 0, [], None, None, None)
    clock = goals.DayClock.from_store(store, config, now)
    goal = goals.Goal.from_config(config)
    series = goals.daily_series(store, config, days=max(days, 7), now=now, clock=clock)
    mix = goals.label_mix(store, config, series[-days].day, series[-1].day, clock=clock)
    last = series[-1]
    today = TodaySummary(
        day=last.day,
        goal=goal,
        count=last.genuine,
        status=goal.status(last.genuine),
        rolling_7d=sum(p.genuine for p in series[-7:]),
        waiting=goals.waiting_for_you(store, config, now),
    )
    cached = cached_streak(store.path, today, now)
    if cached is not None:
        today = replace(today, streak_days=cached[0], people=cached[1])
    return Overview(now, days, total, store.dashboard_platforms(), today, series[-days:], mix)


def cached_streak(db: Path, today: TodaySummary, now: datetime) -> tuple[int, list[str]] | None:
    """(streak, people) from the goal cache that every engage writer refreshes, when it
    describes this database as it is now: written after the last change, for the same day, the
    same goal and the same count."""
    snap = goalcache.read(db)
    if snap is None or not goalcache.is_fresh(snap, db):
        return None
    try:
        state = goalcache.project(snap, now.timestamp())
    except (KeyError, TypeError, ValueError):
        return None
    if (
        state is None
        or state["rolled"]
        or state["day"] != today.day.isoformat()
        or (state["min"], state["target"]) != (today.goal.min, today.goal.target)
        or state["count"] != today.count
    ):
        return None
    return int(state["streak"]), [str(p) for p in state["people"]]


def load_streak(store: Store, config: Config, now: datetime) -> Streak:
    """The streak and today's people from ``goals.day_status`` (it walks back through the
    history, which takes a while on a long streak)."""
    status = goals.day_status(store, config, now=now, with_waiting=False)
    people: dict[str, None] = {}
    for it in status.interactions:
        for person in it.people:
            people.setdefault(goals.display_handle(it.platform, person), None)
    return Streak(status.day, status.count, status.streak_days, list(people))
