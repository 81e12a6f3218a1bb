"""How the dashboard reaches the database, without Textual (so it is easy to test on its own).

DuckDB lets one process write a database file at a time, and a process that has the file open,
even read-only, keeps a writer from opening it. A cron ``engage report --fetch`` must therefore
never find the dashboard in its way for long, so the dashboard:

- opens the store read-only for each short read (in a worker thread) and closes it at once
  (``StoreGateway.read``), with a small lock timeout; a writer that holds the file makes the read
  raise ``DatabaseBusyError``, which the app shows as "database busy" and retries on its next tick;
- opens it read-write only to store a correction (``StoreGateway.write``), waiting briefly; if the
  writer is still there the correction stays in ``PendingCorrections`` and is retried;
- notices changes by looking at the size and modification time of the ``.duckdb`` and ``.wal``
  files (``db_signature``), which costs two ``stat`` calls and no open.

Within the dashboard's own process, DuckDB refuses a read-write open of a file that a read-only
connection has open, so reads share a lock and a write takes it alone (``ReadWriteLock``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from engage import goalcache, goals
from engage.errors import DatabaseBusyError, EngageError
from engage.store import LABELS, PostView, Store, open_store

if TYPE_CHECKING:
    from engage.config import Config

T = TypeVar("T")
log = logging.getLogger(__name__)

PAGE_SIZE = 200
"""Posts loaded per page of the table; the next page loads when the cursor nears the end."""

Signature = tuple[tuple[int, int] | None, tuple[int, int] | None]


def wal_path(db: Path) -> Path:
    return db.with_name(db.name + ".wal")


def db_signature(db: Path) -> Signature:
    """(mtime_ns, size) of the database file and of its write-ahead log, ``None`` for a missing
    file. Any write by any process changes one of them."""

    def one(p: Path) -> tuple[int, int] | None:
        try:
            st = p.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    return (one(db), one(wal_path(db)))


class ReadWriteLock:
    """Many readers at once, or one writer alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


Opener = Callable[..., Store]


class StoreGateway:
    """Short opens of one database file: ``read(fn)`` and ``write(fn)`` run ``fn(store)`` on a
    store that is open only for that call. Both may raise ``DatabaseBusyError`` (another process
    holds the file) or ``StoreError`` (no database, or not one engage can read)."""

    def __init__(
        self,
        path: Path,
        *,
        read_timeout: float = 0.25,
        write_timeout: float = 2.0,
        opener: Opener = open_store,
    ) -> None:
        self.path = Path(path)
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self._open = opener
        self._lock = ReadWriteLock()

    def exists(self) -> bool:
        return self.path.exists()

    def read(self, fn: Callable[[Store], T]) -> T:
        with self._lock.reading():
            store = self._open(self.path, read_only=True, lock_timeout=self.read_timeout)
            try:
                return fn(store)
            finally:
                store.close()

    def write(self, fn: Callable[[Store], T]) -> T:
        with self._lock.writing():
            store = self._open(
                self.path, read_only=False, lock_timeout=self.write_timeout, create=False
            )
            try:
                return fn(store)
            finally:
                store.close()


def read_outcome(gateway: StoreGateway, fn: Callable[[Store], T]) -> tuple[str, T | str | None]:
    """Run a read and never raise: ``("ok", result)``, ``("busy", None)`` when another process
    holds the database, or ``("error", message)``; the dashboard shows the last two and retries."""
    try:
        return "ok", gateway.read(fn)
    except DatabaseBusyError:
        return "busy", None
    except EngageError as exc:
        return "error", exc.message
    except Exception as exc:  # the file changed under us, a broken file: shown, retried
        log.debug("dashboard read failed", exc_info=True)
        return "error", f"could not read the database ({type(exc).__name__}: {exc})"


# -- the posts table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PostFilter:
    """What the posts table shows: one label (or all) and one platform (or all)."""

    label: str | None = None
    platform: str | None = None

    def next_label(self, step: int = 1) -> PostFilter:
        return replace(self, label=_cycle((None, *LABELS), self.label, step))

    def next_platform(self, platforms: list[str], step: int = 1) -> PostFilter:
        choices = (None, *platforms)
        current = self.platform if self.platform in choices else None
        return replace(self, platform=_cycle(choices, current, step))

    def describe(self) -> str:
        return f"label: {self.label or 'all'} · platform: {self.platform or 'all'}"


def _cycle(choices: tuple[str | None, ...], current: str | None, step: int) -> str | None:
    i = choices.index(current) if current in choices else 0
    return choices[(i + step) % len(choices)]


@dataclass(frozen=True)
class PostsPage:
    filter: PostFilter
    offset: int
    limit: int
    rows: list[PostView]

    @property
    def complete(self) -> bool:
        """True when there is nothing more to load after this page."""
        return len(self.rows) < self.limit


def load_posts(
    store: Store, filt: PostFilter, offset: int = 0, limit: int = PAGE_SIZE
) -> PostsPage:
    """The newest posts that match ``filt``, ``limit`` of them from ``offset``."""
    rows = store.dashboard_recent_posts(
        label=filt.label, platform=filt.platform, limit=limit, offset=offset
    )
    return PostsPage(filt, offset, limit, rows)


# -- the panels and the chart ------------------------------------------------------------------


@dataclass(frozen=True)
class TodaySummary:
    """Today against the goal. ``streak_days`` and ``people`` are ``None`` until known: they
    come from the goal cache when it is fresh, else from a second, slower read
    (``load_streak``), so the rest of the screen does not wait for them."""

    day: date
    goal: goals.Goal
    count: int
    status: str
    rolling_7d: int
    waiting: goals.WaitingSummary
    streak_days: int | None = None
    people: list[str] | None = None


@dataclass(frozen=True)
class Overview:
    """Everything above the posts table, read in one short open. ``today``, ``series`` and
    ``mix`` are ``None`` when the database has no posts yet."""

    now: datetime
    days: int
    total_posts: int
    platforms: list[str]
    today: TodaySummary | None
    series: list[goals.DayPoint] | None
    mix: dict[str, dict[str, int]] | None


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


@dataclass(frozen=True)
class Streak:
    day: date
    count: int
    streak_days: int
    people: list[str]


def load_streak(store: Store, config: Config, now: datetime) -> Streak:
    """The streak and today's people from ``goals.day_status`` (it walks back through the
    history, which takes a while on a long streak)."""
    status = goals.day_status(store, config, now=now, with_waiting=False)
    people: dict[str, None] = {}
    for it in status.interactions:
        for person in it.people:
            people.setdefault(goals.display_handle(it.platform, person), None)
    return Streak(status.day, status.count, status.streak_days, list(people))


def post_key(platform: str, post_id: str) -> str:
    """The table's row key for a post."""
    return f"{platform}\x1f{post_id}"


def split_post_key(key: str) -> tuple[str, str]:
    platform, _, post_id = key.partition("\x1f")
    return platform, post_id


# -- corrections -------------------------------------------------------------------------------


class PendingCorrections:
    """Corrections the user made that are not stored yet (the database was busy). ``None`` as
    the label means "back to the model's label". Thread-safe: the UI adds, a worker flushes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], str | None] = {}

    def add(self, platform: str, post_id: str, label: str | None) -> None:
        with self._lock:
            self._items[(platform, post_id)] = label

    def get(self, platform: str, post_id: str) -> tuple[bool, str | None]:
        """(is pending, label)."""
        with self._lock:
            key = (platform, post_id)
            return (key in self._items, self._items.get(key))

    def snapshot(self) -> dict[tuple[str, str], str | None]:
        with self._lock:
            return dict(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def flush(self, gateway: StoreGateway) -> int:
        """Store every pending correction in one short read-write open; those stored are
        removed (a newer correction of the same post made meanwhile stays). Raises
        ``DatabaseBusyError`` when the database is held by another process: nothing is lost."""
        items = self.snapshot()
        if not items:
            return 0

        def apply(store: Store) -> None:
            with store.transaction():
                for (platform, post_id), label in items.items():
                    if label is None:
                        store.clear_correction(platform, post_id)
                    else:
                        store.set_correction(platform, post_id, label)

        gateway.write(apply)
        with self._lock:
            for key, label in items.items():
                if key in self._items and self._items[key] == label:
                    del self._items[key]
        return len(items)
