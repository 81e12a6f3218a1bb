"""``engage nudge``: one useful line for the current state of the day's goal.

The line is composed from the goal state (``goalcache.project``): the goal-state cache when it is
fresh (no DuckDB needed, so the nudge answers in well under 250 ms on any database size), else
a live query through ``engage.goals``. Both paths go through ``compose``, so they say the same.

Choices, in order: nothing during quiet hours ([nudge] quiet_start/quiet_end); nothing when the
goal is met and ``--quiet-if-met`` is given; below the minimum: the count against the minimum and
the freshest question (else mention) waiting for an answer, else the streak at stake, else a
person the user has not talked with for a month, else a prompt to ask or answer someone; minimum
met but below the target: one more reaches the target; target met or exceeded: the streak, and who
is still waiting. ``--exit-status`` exits 1 while the minimum is not reached (even when quiet).

Module level imports are standard library only: ``fast_main`` runs before the CLI is imported.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

from engage import goalcache

if TYPE_CHECKING:
    from datetime import datetime

    from engage.config import Config
    from engage.store import Store

# engage.vocab's PLATFORM_NAMES and format_age, repeated: importing it would load dataclasses and
# inspect (about 25 ms) on this fast path; tests/test_dashboard_summary.py checks they agree
PLATFORM_NAMES = {"mastodon": "Mastodon", "bluesky": "Bluesky", "x": "X"}


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 3600:
        return f"{max(1, s // 60)} min"
    if s < 2 * 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _pick_waiting(view: dict[str, Any]) -> dict[str, Any] | None:
    items = list(view.get("waiting") or [])
    if not items:
        return None
    items.sort(key=lambda w: (not w.get("question"), -float(w["at"])))
    return items[0]


def _waiting_phrase(w: dict[str, Any], now: float, still: bool = False) -> str:
    where = PLATFORM_NAMES.get(w["platform"], w["platform"])
    age = _age(now - float(w["at"]))
    if still:
        return f"{w['who']} is still waiting for an answer on {where} ({age})."
    if w.get("question"):
        return f"{w['who']} asked you a question {age} ago on {where}."
    verb = "replied to you" if w.get("kind") == "reply" else "mentioned you"
    return f"{w['who']} {verb} {age} ago on {where}."


def compose(view: dict[str, Any], now: float | None = None, quiet_if_met: bool = False) -> str:
    """The nudge line for a goal state (``goalcache.project`` output); "" means say nothing."""
    now = time.time() if now is None else now
    count, gmin, target = int(view["count"]), int(view["min"]), int(view["target"])
    status, streak = view["status"], int(view["streak"])
    if status != "below" and quiet_if_met:
        return ""
    w = _pick_waiting(view)
    if status == "below":
        head = f"{count} of {gmin} genuine interactions today."
        if w is not None:
            return f"{head} {_waiting_phrase(w, now)}"
        need = gmin - count
        if streak > 0:
            more = "One more" if need == 1 else f"{need} more"
            return f"{head} {more} keep{'s' if need == 1 else ''} your {streak}-day streak going."
        lapsed = view.get("lapsed") or []
        if lapsed:
            c = lapsed[0]
            weeks = max(1, int((now - float(c["last"])) // (7 * 86400)))
            where = PLATFORM_NAMES.get(c["platform"], c["platform"])
            return (
                f"{head} You have not talked with {c['who']} on {where} for "
                f"{_plural(weeks, 'week')}: say hello?"
            )
        return f"{head} Ask someone a real question, or answer one."
    streak_txt = f"{streak}-day streak"
    if status == "met" and count < target:
        line = (
            f"Minimum met ({count}/{target}), {streak_txt}; one more reaches your target"
            if target - count == 1
            else f"Minimum met ({count}/{target}), {streak_txt}; "
            f"{target - count} more reach your target"
        )
        line += "."
    elif status == "met":
        line = f"Goal met ({count}/{target}), {streak_txt}."
    else:
        line = f"Goal exceeded ({count}/{target}), {streak_txt}."
    if w is not None:
        line += " " + _waiting_phrase(w, now, still=True)
    return line


def exit_code(view: dict[str, Any]) -> int:
    return 1 if view["status"] == "below" else 0


def live_view(store: Store, config: Config, now: datetime | None = None) -> dict[str, Any]:
    """The goal state computed from the database (the same shape as ``goalcache.project``)."""
    snap = goalcache.build(store, config, now)
    view = goalcache.project(snap, now.timestamp() if now is not None else None)
    if view is None:  # cannot happen for a snapshot taken at ``now``
        raise RuntimeError("fresh goal snapshot did not cover now")
    view["snapshot"] = snap
    return view


def is_quiet(config: Config, now: float | None = None) -> bool:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = time.time() if now is None else now
    hour = datetime.fromtimestamp(now, ZoneInfo(config.timezone_name)).hour
    return goalcache.hour_is_quiet(
        hour, int(config.values["nudge"]["quiet_start"]), int(config.values["nudge"]["quiet_end"])
    )


def run(
    view: dict[str, Any],
    config: Config,
    *,
    quiet_if_met: bool,
    exit_status: bool,
    ignore_quiet_hours: bool,
    now: float | None = None,
) -> tuple[str, int]:
    """The line to print (maybe "") and the exit code, for a goal state under ``config``."""
    code = exit_code(view) if exit_status else 0
    if not ignore_quiet_hours and is_quiet(config, now):
        return "", code
    return compose(view, now, quiet_if_met), code


# -- fast path ----------------------------------------------------------------------------------

_FLAGS = {"--quiet-if-met", "--exit-status", "--ignore-quiet-hours"}


def fast_main(argv: list[str], db: str | None = None) -> int | None:
    """Answer ``engage nudge ARGS`` from a fresh goal cache. None: the full CLI must answer
    (help, unknown options, ``--live``, no fresh cache, a config file changed since the cache
    was written: the cache carries the goal, zone and quiet hours it was built with)."""
    flags: set[str] = set()
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in _FLAGS:
            flags.add(a)
        elif a == "--db" and args:
            db = args.pop(0)
        elif a.startswith("--db="):
            db = a[5:]
        else:
            return None
    db = db or os.environ.get("ENGAGE_DB")
    if not db:
        from engage import paths

        db = str(paths.db_path())
    snap = goalcache.read(db)
    if snap is None or not goalcache.is_fresh(snap, db):
        return None
    if not goalcache.config_unchanged(snap):
        return None  # the goal, zone or quiet hours may have changed: ask the full CLI
    now = time.time()
    view = goalcache.project(snap, now)
    if view is None:
        return None
    code = exit_code(view) if "--exit-status" in flags else 0
    quiet = "--ignore-quiet-hours" not in flags and goalcache.in_quiet_hours(snap, now)
    line = "" if quiet else compose(view, now, "--quiet-if-met" in flags)
    if line:
        sys.stdout.write(line + "\n")
    return code
