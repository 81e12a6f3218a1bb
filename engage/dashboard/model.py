"""What the dashboard's screen shows, and how it reaches the database, without DuckDB.

The screen must paint before DuckDB, pyarrow and the goal library are loaded (they cost about
half a second to import; see ``summary.py`` for the first paint from the writers' summary). So
the app and its components import only this module (standard library): the records they draw
are described by protocols that both the full reads (``engage.goals`` and ``engage.store``
objects, in ``data.py``) and the summary (``summary.py``) satisfy; the labels, platform names and
helpers they share with the core come from ``engage.vocab`` (standard library only).

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from engage.errors import DatabaseBusyError, EngageError
from engage.vocab import LABELS

if TYPE_CHECKING:
    from engage.store import Store

T = TypeVar("T")
log = logging.getLogger(__name__)

PAGE_SIZE = 200
"""Posts loaded per page of the table; the next page loads when the cursor nears the end."""

# -- what the panels draw (engage.goals / engage.store records are ones) -----------------------


class GoalLike(Protocol):
    @property
    def min(self) -> int: ...
    @property
    def target(self) -> int: ...


class DayPointLike(Protocol):
    """One local day (``engage.goals.DayPoint`` is one)."""

    @property
    def day(self) -> date: ...
    @property
    def genuine(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def ratio(self) -> float | None: ...


class WaitingLike(Protocol):
    """A mention the user has not answered (``engage.goals.Waiting``)."""

    @property
    def platform(self) -> str: ...
    @property
    def mention_id(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def text(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def age(self) -> timedelta: ...
    @property
    def is_question(self) -> bool: ...
    @property
    def who(self) -> str: ...


class WaitingSummaryLike(Protocol):
    """``engage.goals.WaitingSummary``."""

    @property
    def items(self) -> Sequence[WaitingLike]: ...
    @property
    def median_answer(self) -> timedelta | None: ...


class PostLike(Protocol):
    """The fields of ``connectors.base.Post`` that the table and the details show."""

    @property
    def platform(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def post_id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def text(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def reposted_post(self) -> str | None: ...
    @property
    def client(self) -> str | None: ...


class PostViewLike(Protocol):
    """A post and its effective label (``engage.store.PostView``); a dataclass, so a stored
    correction is shown with ``dataclasses.replace``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def post(self) -> PostLike: ...
    @property
    def label(self) -> str | None: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def corrected(self) -> bool: ...
    @property
    def model_label(self) -> str | None: ...


# -- the change signature ----------------------------------------------------------------------

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


# -- short opens -------------------------------------------------------------------------------


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


Opener = Callable[..., "Store"]


def _open_store(path: Path, **kwargs: Any) -> Store:
    from engage.store import open_store  # DuckDB loads here, in the worker thread that reads

    return open_store(path, **kwargs)


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
        opener: Opener = _open_store,
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
    rows: Sequence[PostViewLike]

    @property
    def complete(self) -> bool:
        """True when there is nothing more to load after this page."""
        return len(self.rows) < self.limit


def post_key(platform: str, post_id: str) -> str:
    """The table's row key for a post."""
    return f"{platform}\x1f{post_id}"


def split_post_key(key: str) -> tuple[str, str]:
    platform, _, post_id = key.partition("\x1f")
    return platform, post_id


# -- the panels and the chart ------------------------------------------------------------------


@dataclass(frozen=True)
class TodaySummary:
    """Today against the goal. ``streak_days`` and ``people`` are ``None`` until known: they
    come from the goal cache when it is fresh, else from a second, slower read
    (``load_streak``), so the rest of the screen does not wait for them."""

    day: date
    goal: GoalLike
    count: int
    status: str
    rolling_7d: int
    waiting: WaitingSummaryLike
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
    series: Sequence[DayPointLike] | None
    mix: dict[str, dict[str, int]] | None


@dataclass(frozen=True)
class Streak:
    day: date
    count: int
    streak_days: int
    people: list[str]


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
