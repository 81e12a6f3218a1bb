"""``engage prompt``: a very short goal segment for a shell prompt, such as ``✦1/3``.

It reads only the goal-state cache that engage rewrites whenever it writes the database
(``engage.goalcache``; ``<db>.prompt``), never the database itself, so it costs little more than
starting Python. ``fast_main`` is called by ``engage._entry`` before click or DuckDB are imported
and imports only the standard library. It prints nothing (exit 0) when there is no cache yet and
during quiet hours; when the cached day has ended, the count restarts at 0.

Options: ``--db FILE`` (also ``engage --db FILE prompt``, or ``ENGAGE_DB``), ``--ascii``
(``*1/3 !2``), ``--no-waiting`` (leave out how many people wait for an answer),
``--format TEMPLATE`` (fields ``{count} {min} {target} {streak} {waiting} {mark}``),
``--ignore-quiet-hours``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from engage import goalcache

USAGE = """\
Usage: engage prompt [--db FILE] [--ascii] [--no-waiting] [--format TEMPLATE]
                     [--ignore-quiet-hours]

  Print a short goal segment for a shell prompt (e.g. ✦1/3 ✉2) from engage's cache."""


def _db_path(db: str | None) -> str:
    if db:
        return os.path.expanduser(db)
    env = os.environ.get("ENGAGE_DB")
    if env:
        return os.path.expanduser(env)
    home = os.environ.get("ENGAGE_HOME")
    if home:
        return os.path.join(os.path.expanduser(home), "engage.duckdb")
    from engage import paths

    return str(paths.db_path())


def segment(
    snap: dict[str, Any],
    now: float | None = None,
    *,
    ascii_only: bool = False,
    waiting: bool = True,
    template: str | None = None,
) -> str:
    """The prompt text for a cached snapshot at ``now``."""
    now = time.time() if now is None else now
    view = goalcache.project(snap, now)
    if view is None:  # the cache is more than a day old: nothing counted since
        goal = snap["goal"]
        view = {
            "count": 0,
            "target": goal["target"],
            "min": goal["min"],
            "streak": 0,
            "status": "below",
            "waiting_total": 0,
        }
    n_wait = int(view["waiting_total"]) if waiting else 0
    mark = "" if view["status"] == "below" else ("+" if ascii_only else "✓")
    fields = {
        "count": view["count"],
        "min": view["min"],
        "target": view["target"],
        "streak": view["streak"],
        "waiting": n_wait,
        "mark": mark,
    }
    if template is not None:
        return template.format(**fields)
    star, env = ("*", "!") if ascii_only else ("✦", "✉")
    text = f"{star}{view['count']}/{view['target']}{mark}"
    if n_wait:
        text += f" {env}{n_wait}"
    return text


def fast_main(argv: list[str], db: str | None = None) -> int | None:
    """Run ``engage prompt ARGS``. Returns the exit code, or None for ``-h``/``--help`` (the
    full CLI prints the help)."""
    ascii_only = False
    waiting = True
    template = None
    ignore_quiet = False
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("-h", "--help"):
            return None
        if a == "--ascii":
            ascii_only = True
        elif a == "--no-waiting":
            waiting = False
        elif a == "--ignore-quiet-hours":
            ignore_quiet = True
        elif a in ("--db", "--format") and args:
            value = args.pop(0)
            if a == "--db":
                db = value
            else:
                template = value
        elif a.startswith("--db="):
            db = a[5:]
        elif a.startswith("--format="):
            template = a[9:]
        else:
            sys.stderr.write(f"engage: error: unknown option {a!r} (see 'engage prompt --help')\n")
            return 2
    snap = goalcache.read(_db_path(db))
    if snap is None:
        return 0
    now = time.time()
    if not ignore_quiet and goalcache.in_quiet_hours(snap, now):
        return 0
    try:
        text = segment(snap, now, ascii_only=ascii_only, waiting=waiting, template=template)
    except (KeyError, ValueError, IndexError) as exc:
        sys.stderr.write(f"engage: error: bad --format template ({exc})\n")
        return 2
    sys.stdout.write(text + "\n")
    return 0
