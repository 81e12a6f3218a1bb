"""The goal-state cache behind ``engage prompt`` and the fast ``engage nudge``.

A shell prompt cannot wait for DuckDB to load, so every engage process that writes the database
rewrites a small JSON snapshot of today's goal state beside it (``paths.prompt_cache_path``:
``<db>.prompt``). ``refresh(store)`` is registered with ``engage.changes.on_change`` by the CLI
(in the ``cli`` group callback), so it runs inside fetch, import, label, demo and train just before
their store closes. It checkpoints the database first, so the database file is not touched
again after the snapshot is written; a reader can then tell a stale snapshot (one written before
the database file last changed, or while a write-ahead log exists) and fall back to a live query.

The snapshot (version 1) holds: the day it describes with its UTC bounds and the end of the
next day, the goal, today's genuine count and people, the streak up to yesterday, the genuine
counts of the six days before, the people waiting for an answer (up to ten), the median time to
answer, people the user has not talked with for a month, and quiet-hour windows as UTC epochs.
``project(snapshot, now)`` turns it into the state at ``now``: when the cached day has ended the
count restarts at zero and the streak carries over only if the cached day reached the minimum.

The same refresh writes the dashboard's summary beside it (``<db>.dashboard``,
``build_dashboard``): what ``engage dashboard`` shows first (today with the streak, the posts of
each of the last ``DASHBOARD_WINDOW`` days and of the days after per platform and label, so the
series and the label mix of the 30- and 90-day ranges at any later "now", the mentions behind
the waiting list, the newest page of posts), so that its first frame needs one small JSON read
instead of DuckDB and the full queries. It records the database's signature (size and
modification time of the file, after the checkpoint; no write-ahead log), the day it describes
and the settings it was computed with; ``engage.dashboard.summary`` uses it only while the
signature and the settings still hold (on that day or any later one), and reads in full
otherwise.

Module level imports are standard library only (json, os, time): ``engage prompt`` imports this.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from engage.config import Config
    from engage.store import Store

CACHE_VERSION = 1
BUILDING_SUFFIX = ".building"  # engage.demo builds the demo under this name, then renames it
STALE_TOLERANCE_S = 1.0
QUIET_WINDOW_DAYS = 8
DASHBOARD_VERSION = 2
DASHBOARD_WINDOW = 90  # days up to today counted per day (its longest, RANGES[-1])
DASHBOARD_AHEAD = 366  # days after today counted per day, for posts dated ahead
DASHBOARD_PAGE = 200  # its first page of posts (engage.dashboard.model.PAGE_SIZE)


def cache_path_for(db: str | os.PathLike[str]) -> str:
    """``<db>.prompt`` (``paths.prompt_cache_path``); a database being built under a temporary
    ``.building`` name gets the cache of the name it will be renamed to."""
    name = os.fspath(db)
    if name.endswith(BUILDING_SUFFIX):
        name = name[: -len(BUILDING_SUFFIX)]
    return name + ".prompt"


def read(db: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The snapshot for ``db``, or None when there is none (or it is unreadable)."""
    try:
        with open(cache_path_for(db), encoding="utf-8") as fh:
            snap = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(snap, dict) or snap.get("v") != CACHE_VERSION:
        return None
    return snap


def is_fresh(snap: dict[str, Any], db: str | os.PathLike[str]) -> bool:
    """True when nothing has written ``db`` since the snapshot was taken."""
    name = os.fspath(db)
    try:
        mtime = os.stat(name).st_mtime
    except OSError:
        return False
    if os.path.exists(name + ".wal"):
        return False
    return bool(mtime <= float(snap.get("written_at", 0)) + STALE_TOLERANCE_S)


def project(snap: dict[str, Any], now: float | None = None) -> dict[str, Any] | None:
    """The goal state at ``now`` (epoch seconds) from a snapshot: ``count``, ``min``,
    ``target``, ``status``, ``streak``, ``rolling_7d``, ``people``, ``waiting`` (items still
    inside the waiting window) and ``rolled`` (the snapshot's day has ended). None when the
    snapshot is more than one day behind (a live query is needed for the details)."""
    now = time.time() if now is None else now
    gmin = int(snap["goal"]["min"])
    target = int(snap["goal"]["target"])
    before = [int(x) for x in snap.get("rolling_before", [])][-6:]
    if now < snap["day_end"]:
        count = int(snap["count"])
        streak = int(snap["streak_before"]) + (1 if count >= gmin else 0)
        rolling = sum(before) + count
        people = list(snap.get("people", []))
        rolled = False
        day = snap["day"]
        day_end = snap["day_end"]
    elif now < snap["next_day_end"]:
        last = int(snap["count"])
        count = 0
        streak = int(snap["streak_before"]) + 1 if last >= gmin else 0
        rolling = sum(before[1:]) + last
        people = []
        rolled = True
        day = None
        day_end = snap["next_day_end"]
    else:
        return None
    window = float(snap.get("waiting_days", 14)) * 86400
    waiting = [w for w in snap.get("waiting", []) if now - float(w["at"]) <= window]
    return {
        "day": day,
        "day_end": day_end,
        "count": count,
        "min": gmin,
        "target": target,
        "status": "below" if count < gmin else ("met" if count <= target else "exceeded"),
        "streak": streak,
        "rolling_7d": rolling,
        "people": people,
        "waiting": waiting,
        "waiting_total": len(waiting)
        + max(0, int(snap.get("waiting_total", 0)) - len(snap.get("waiting", []))),
        "median_answer_s": snap.get("median_answer_s"),
        "lapsed": snap.get("lapsed", []),
        "unlabelled": 0 if rolled else int(snap.get("unlabelled", 0)),
        "rolled": rolled,
    }


def in_quiet_hours(snap: dict[str, Any], now: float | None = None) -> bool:
    """Whether ``now`` falls in the configured quiet hours (from the cached UTC windows; past
    them, computed with ``zoneinfo`` from the cached zone)."""
    now = time.time() if now is None else now
    quiet = snap.get("quiet") or {}
    start, end = int(quiet.get("start", 0)), int(quiet.get("end", 0))
    if start == end:
        return False
    windows = quiet.get("windows") or []
    if windows and windows[0][0] - 86400 <= now <= quiet.get("covered_until", 0):
        return any(a <= now < b for a, b in windows)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    hour = datetime.fromtimestamp(now, ZoneInfo(snap.get("timezone", "UTC"))).hour
    return hour_is_quiet(hour, start, end)


def hour_is_quiet(hour: int, start: int, end: int) -> bool:
    """Quiet hours run from ``start`` (inclusive) to ``end`` (exclusive), wrapping midnight
    when ``start > end``; equal values mean no quiet hours."""
    if start == end:
        return False
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


# -- writing (imports the goal library lazily) ---------------------------------------------------


def quiet_windows(
    tz_name: str, start: int, end: int, first_day_start: datetime, days: int
) -> list[list[float]]:
    """Quiet-hour intervals as UTC epoch pairs for ``days`` calendar days from the local date of
    ``first_day_start`` (one day earlier too, for windows that wrap midnight)."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    if start == end:
        return []
    tz = ZoneInfo(tz_name)
    d0 = first_day_start.astimezone(tz).date() - timedelta(days=1)
    out: list[list[float]] = []
    for i in range(days + 1):
        d = d0 + timedelta(days=i)
        a = datetime(d.year, d.month, d.day, start, tzinfo=tz).astimezone(UTC)
        e_day = d if start < end else d + timedelta(days=1)
        b = datetime(e_day.year, e_day.month, e_day.day, end, tzinfo=tz).astimezone(UTC)
        out.append([a.timestamp(), b.timestamp()])
    return out


def build(store: Store, config: Config, now: datetime | None = None) -> dict[str, Any]:
    """The snapshot of the goal state at ``now`` (see the module docstring)."""
    return _build(store, config, now)[0]


def _build(store: Store, config: Config, now: datetime | None) -> tuple[dict[str, Any], Any]:
    """``build`` and the ``goals.DayStatus`` it was made from."""
    from datetime import UTC, datetime, timedelta

    from engage import goals

    now = now or datetime.now(UTC)
    status = goals.day_status(store, config, now=now)
    clock = goals.DayClock.from_store(store, config, now)
    series = goals.daily_series(store, config, 7, status.day, now=now, clock=clock)
    _, next_end = clock.bounds(status.day + timedelta(days=1))
    lapsed = goals.lapsed_contacts(store, config, now)
    streak_before = status.streak_days - (1 if status.count >= status.goal.min else 0)
    qs = int(config.values["nudge"]["quiet_start"])
    qe = int(config.values["nudge"]["quiet_end"])
    windows = quiet_windows(clock.tz_name, qs, qe, status.start, QUIET_WINDOW_DAYS)
    waiting = status.waiting
    snap = {
        "v": CACHE_VERSION,
        "config_files": config_fingerprint(),
        "tz_setting": str(config.values["time"]["timezone"]),
        "db": cache_path_for(store.path)[: -len(".prompt")],
        "timezone": clock.tz_name,
        "day_end_hour": clock.day_end_hour,
        "goal": {"min": status.goal.min, "target": status.goal.target},
        "day": status.day.isoformat(),
        "day_start": status.start.timestamp(),
        "day_end": status.end.timestamp(),
        "next_day_end": next_end.timestamp(),
        "count": status.count,
        "by_label": status.by_label,
        "people": [goals.display_handle(_platform_of(status, p), p) for p in status.people],
        "streak_before": max(0, streak_before),
        "rolling_before": [p.genuine for p in series[:-1]],
        "unlabelled": status.unlabelled,
        "waiting_days": waiting.window_days,
        "waiting_total": len(waiting.items),
        "waiting": [
            {
                "platform": w.platform,
                "author": w.author,
                "who": w.who,
                "at": w.created_at.timestamp(),
                "question": w.is_question,
                "kind": w.kind,
                "url": w.url,
            }
            for w in waiting.items[:10]
        ],
        "median_answer_s": (
            waiting.median_answer.total_seconds() if waiting.median_answer is not None else None
        ),
        "lapsed": [
            {"platform": c.platform, "who": c.who, "last": c.last.timestamp(), "posts": c.posts}
            for c in lapsed
        ],
        "quiet": {
            "start": qs,
            "end": qe,
            "windows": windows,
            "covered_until": windows[-1][0] if windows else 0,
        },
    }
    return snap, status


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def config_fingerprint() -> list[list[Any]]:
    """What the cached goal, zone and quiet hours were read from: the default and the user's
    config files with their modification times, and (for ``timezone = "local"``) the
    machine's zone settings."""
    from engage import paths

    files = [str(paths.default_config_file()), str(paths.config_path())]
    out: list[list[Any]] = [[f, _mtime(f)] for f in files]
    try:
        localtime = os.readlink("/etc/localtime")
    except OSError:
        localtime = None
    out.append(["TZ", os.environ.get("TZ")])
    out.append(["/etc/localtime", localtime])
    out.append(["/etc/timezone", _mtime("/etc/timezone")])
    return out


def config_unchanged(snap: dict[str, Any]) -> bool:
    """True when the config (and the machine's zone) is what the snapshot was built with, so
    its goal, zone and quiet hours can be used without loading the config."""
    recorded = snap.get("config_files")
    if not isinstance(recorded, list) or not recorded:
        return False
    from engage import paths

    files = [str(paths.default_config_file()), str(paths.config_path())]
    for i, f in enumerate(files):
        if i >= len(recorded) or recorded[i] != [f, _mtime(f)]:
            return False
    if snap.get("tz_setting") == "local":
        try:
            localtime = os.readlink("/etc/localtime")
        except OSError:
            localtime = None
        now = [
            ["TZ", os.environ.get("TZ")],
            ["/etc/localtime", localtime],
            ["/etc/timezone", _mtime("/etc/timezone")],
        ]
        if recorded[2:] != now:
            return False
    return True


def _platform_of(status: Any, person: str) -> str:
    for it in status.interactions:
        if person in it.people:
            return str(it.platform)
    return ""


def write(path: str, snap: dict[str, Any]) -> None:
    """Write the snapshot atomically (a prompt never reads half a file)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(snap, fh, separators=(",", ":"))
    os.replace(tmp, path)


def refresh(store: Store, config: Config | None = None, now: datetime | None = None) -> str:
    """Record the configured time zone, checkpoint, and rewrite the cache of ``store``'s
    database. The ``on_change`` listener; returns the cache path."""
    from engage import goals
    from engage.config import load_config

    config = config or load_config()
    if not store.read_only:
        goals.record_timezone(store, config, now)
        store.goal_checkpoint()
    snap, status = _build(store, config, now)
    snap["written_at"] = time.time()
    path = cache_path_for(store.path)
    write(path, snap)
    try:
        write(dashboard_path_for(store.path), build_dashboard(store, config, now, status))
    except Exception:  # the dashboard then reads in full; the prompt's cache is written
        import logging

        logging.getLogger(__name__).warning("dashboard summary not written", exc_info=True)
        with contextlib.suppress(OSError):
            os.remove(dashboard_path_for(store.path))
    return path


# -- the dashboard's summary ---------------------------------------------------------------------


def dashboard_path_for(db: str | os.PathLike[str]) -> str:
    """``<db>.dashboard`` (named after the final name of a database built as ``.building``)."""
    return cache_path_for(db)[: -len(".prompt")] + ".dashboard"


def db_signature(db: str | os.PathLike[str]) -> list[list[int] | None]:
    """``[[mtime_ns, size] of the file, [mtime_ns, size] of its write-ahead log]``, ``None``
    for a missing file (``engage.dashboard.model.db_signature``, as JSON)."""
    out: list[list[int] | None] = []
    for name in (os.fspath(db), os.fspath(db) + ".wal"):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            out.append(None)
        else:
            out.append([st.st_mtime_ns, st.st_size])
    return out


def dashboard_settings(config: Config) -> dict[str, Any]:
    """The settings the summary depends on; a dashboard with other ones reads in full."""
    return {
        "timezone": config.timezone_name,
        "day_end_hour": config.day_end_hour,
        "goal": [config.goal_min, config.goal_target],
        "waiting_days": int(config.values["goal"]["waiting_days"]),
    }


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def build_dashboard(
    store: Store, config: Config, now: datetime | None = None, status: Any = None
) -> dict[str, Any]:
    """The dashboard's summary of ``store`` at ``now`` (version ``DASHBOARD_VERSION``): what
    ``engage.dashboard.data.load_overview`` and ``load_posts`` (the first page, no filter) read,
    plus the streak, in a form that serves any later "now" while nothing writes:

    - ``daily``: for every local day from ``DASHBOARD_WINDOW - 1`` days before today to the day
      of the newest post (at most ``DASHBOARD_AHEAD`` days ahead; ``complete`` says whether
      that reached it), the series' figures (``points``: genuine, total, unlabelled, as
      ``goals.daily_series``) and the posts per platform and effective label (``counts``, as
      ``goals.label_mix`` counts the day's range). The series, today's count and the rolling
      seven days of any range inside are these days, its label mix their sum; a day after them
      has no posts. ``breaks`` lists the days whose end is not the next day's start (a change
      of time zone in the window): a label mix across one is not a sum of days;
    - ``streak`` and ``people``: ``goals.day_status``'s at ``now``; a later day walks back
      through ``daily`` to today and carries this streak on if today reached the goal;
    - ``clock_fixed``: the local days from today on do not depend on "now" (the configured
      zone is the last one the database recorded), so a later "now" finds its day with
      ``zoneinfo`` alone; otherwise the summary serves today only;
    - the mentions behind the waiting list (those of the last ``max(waiting_days,
      ANSWER_WINDOW_DAYS)`` days with the time of their answer): the dashboard applies
      ``goals.waiting_for_you``'s rule at its own "now".

    ``status``: ``goals.day_status`` at ``now`` when the caller has it (the streak walks the
    history)."""
    from datetime import UTC, datetime, timedelta

    from engage import goals
    from engage.vocab import LABELS

    now = now or datetime.now(UTC)
    settings = dashboard_settings(config)
    out: dict[str, Any] = {
        "v": DASHBOARD_VERSION,
        "db": dashboard_path_for(store.path)[: -len(".dashboard")],
        "now": now.isoformat(),
        "settings": settings,
        "total_posts": store.count_posts(),
    }
    if out["total_posts"] == 0:
        out["sig"] = db_signature(store.path)
        return out
    clock = goals.DayClock.from_store(store, config, now)
    recorded = goals.parse_tz_history(store.get_meta(goals.TZ_HISTORY_KEY))
    day = clock.today(now)
    start, end = clock.bounds(day)
    views = store.dashboard_recent_posts(limit=DASHBOARD_PAGE)
    newest = clock.day_of(views[0].post.created_at) if views else day
    first = day - timedelta(days=DASHBOARD_WINDOW - 1)
    last = min(max(day, newest), day + timedelta(days=DASHBOARD_AHEAD))
    n_days = (last - first).days + 1
    points = goals.daily_series(store, config, n_days, last, now, clock)
    starts, ends = clock.bounds_many(first, last)
    platforms = store.dashboard_platforms()
    columns = [*LABELS, "unlabelled"]
    breaks = {i for i in range(n_days - 1) if ends[i] != starts[i + 1]}
    counts: list[Any] = [0] * n_days
    for i, platform, label, n in store.goal_label_mixes(starts, ends):
        if counts[i] == 0:
            counts[i] = [[0] * len(columns) for _ in platforms]
        # a label engage does not know raises: no summary, the dashboard reads in full
        counts[i][platforms.index(platform)][columns.index(label or "unlabelled")] += n
    counts = [c if c == 0 else [x if any(x) else 0 for x in c] for c in counts]
    if status is None:
        status = goals.day_status(store, config, now=now, with_waiting=False)
    people: dict[str, None] = {}
    for it in status.interactions:
        for person in it.people:
            people.setdefault(goals.display_handle(it.platform, person), None)
    answer_days = goals.ANSWER_WINDOW_DAYS
    since = now - timedelta(days=max(settings["waiting_days"], answer_days))
    mentions = [
        (m.platform, m.mention_id, m.author, _iso(m.created_at), m.text, m.kind, m.url, _iso(at))
        for m, at in store.goal_mentions_with_answers(since)
    ]
    posts = [
        {
            "platform": v.post.platform,
            "account": v.post.account,
            "post_id": v.post.post_id,
            "created_at": _iso(v.post.created_at),
            "text": v.post.text,
            "kind": v.post.kind,
            "url": v.post.url,
            "reposted_post": v.post.reposted_post,
            "client": v.post.client,
            "label": v.label,
            "confidence": v.confidence,
            "reason": v.reason,
            "corrected": v.corrected,
            "model_label": v.model_label,
        }
        for v in views
    ]
    out.update(
        {
            "day": day.isoformat(),
            "day_start": start.timestamp(),
            "day_end": end.timestamp(),
            "clock_fixed": not recorded or recorded[-1][1] == clock.tz_name,
            "streak": status.streak_days if status.day == day else None,
            "people": list(people) if status.day == day else None,
            "daily": {
                "first": first.isoformat(),
                "complete": newest <= last,
                # per day: [genuine, total, unlabelled] as goals.daily_series counts them
                "points": [[p.genuine, p.total, p.unlabelled] for p in points],
                # per day, per platform of "platforms": the posts per label of "labels" in
                # the day's range (as goals.label_mix counts them); 0 for none
                "labels": columns,
                "counts": counts,
                "breaks": [(first + timedelta(days=i)).isoformat() for i in sorted(breaks)],
            },
            "platforms": platforms,
            "answer_days": answer_days,
            "mentions": mentions,
            "page_size": DASHBOARD_PAGE,
            "posts": posts,
        }
    )
    # last: the file as the reads saw it (a writer has checkpointed; nothing writes after this)
    out["sig"] = db_signature(store.path)
    return out


THROTTLE_S = 2.0
_last_refresh: dict[str, float] = {}
_pending: set[str] = set()


def refresh_listener(store: Store) -> None:
    """``engage.changes.on_change`` listener: ``refresh`` with the config loaded afresh.

    A fetch commits page by page, each in its own short store session; refreshing after every
    page would repeat the goal queries many times a second. So a database refreshed by this
    process less than ``THROTTLE_S`` seconds ago is only marked, and refreshed once more when
    the process exits (through a short read-only open)."""
    key = str(store.path)
    now = time.monotonic()
    if now - _last_refresh.get(key, -1e9) < THROTTLE_S:
        if not _pending:
            import atexit

            atexit.register(_refresh_pending)
        _pending.add(key)
        return
    refresh(store)
    _last_refresh[key] = time.monotonic()
    _pending.discard(key)


def _refresh_pending() -> None:
    import logging
    from pathlib import Path

    from engage.config import load_config
    from engage.store import open_store

    for key in sorted(_pending):
        try:
            with open_store(Path(key), read_only=True, lock_timeout=5) as store:
                refresh(store, load_config())
        except Exception:  # never fail an exiting command over the prompt cache
            logging.getLogger(__name__).info("goal cache of %s not refreshed", key, exc_info=True)
    _pending.clear()


def save_from_reader(db: str | os.PathLike[str], snap: dict[str, Any]) -> None:
    """Keep a snapshot a read-only command computed (``engage nudge`` after a config change),
    unless a writer is busy (a write-ahead log exists): its own refresh will follow."""
    name = os.fspath(db)
    if os.path.exists(name + ".wal"):
        return
    from contextlib import suppress

    with suppress(OSError):  # a read-only directory: the prompt simply has no cache
        write(cache_path_for(name), dict(snap, written_at=time.time()))
