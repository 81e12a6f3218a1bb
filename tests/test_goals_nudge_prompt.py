"""engage nudge (its choices, quiet hours, exit status, the fast path) and engage prompt (the
cache, a cache from a previous day, quiet hours, the global --db option)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engage import _entry, goalcache, nudge, prompt
from engage.changes import on_change
from engage.config import load_config
from engage.store import LabelRow, open_store
from tests.goals_support import build_db, make_mention, make_post, write_config

NOW = time.time()


def view(**kw: Any) -> dict[str, Any]:
    v: dict[str, Any] = {
        "count": 1,
        "min": 2,
        "target": 3,
        "status": "below",
        "streak": 0,
        "waiting": [],
        "lapsed": [],
    }
    v.update(kw)
    return v


def waiting(who: str = "@ana", hours: float = 3, question: bool = True, **kw: Any) -> dict:
    return {
        "who": who,
        "platform": "mastodon",
        "at": NOW - hours * 3600,
        "question": question,
        "kind": kw.get("kind", "mention"),
    }


def test_nudge_below_goal_names_who_asked() -> None:
    v = view(waiting=[waiting(hours=5, question=False), waiting(hours=3)])
    assert nudge.compose(v, NOW) == (
        "1 of 2 genuine interactions today. @ana asked you a question 3 h ago on Mastodon."
    )
    v = view(waiting=[waiting("@ben", 0.5, question=False, kind="reply")])
    assert nudge.compose(v, NOW).endswith("@ben replied to you 30 min ago on Mastodon.")


def test_nudge_below_goal_without_waiting() -> None:
    assert nudge.compose(view(streak=4), NOW) == (
        "1 of 2 genuine interactions today. One more keeps your 4-day streak going."
    )
    assert "2 more keep your 4-day streak" in nudge.compose(view(count=0, streak=4), NOW)
    lapsed = [{"who": "@ben", "platform": "x", "last": NOW - 40 * 86400, "posts": 5}]
    assert nudge.compose(view(lapsed=lapsed), NOW) == (
        "1 of 2 genuine interactions today. You have not talked with @ben on X for 5 weeks: "
        "say hello?"
    )
    assert nudge.compose(view(), NOW).endswith("Ask someone a real question, or answer one.")


def test_nudge_met_and_exceeded() -> None:
    assert nudge.compose(view(count=3, status="met", streak=5), NOW) == (
        "Goal met (3/3), 5-day streak."
    )
    assert nudge.compose(view(count=2, status="met", streak=1), NOW) == (
        "Minimum met (2/3), 1-day streak; one more reaches your target."
    )
    line = nudge.compose(view(count=4, status="exceeded", streak=2, waiting=[waiting()]), NOW)
    assert (
        line == "Goal exceeded (4/3), 2-day streak. @ana is still waiting for an answer on "
        "Mastodon (3 h)."
    )
    assert nudge.compose(view(count=3, status="met"), NOW, quiet_if_met=True) == ""
    assert nudge.compose(view(), NOW, quiet_if_met=True) != ""


def _db_with_today(tmp_path: Path, genuine: int, *, ask_hours: float | None = 3) -> Path:
    now = datetime.now(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    posts = [
        (make_post(start + (now - start) * (i + 1) / (genuine + 2)), "comment")
        for i in range(genuine)
    ]
    mentions = []
    if ask_hours is not None:  # (may be yesterday's: people wait across days)
        mentions.append(
            make_mention(now - timedelta(hours=ask_hours), "ana@social.example", text="@me how?")
        )
    return build_db(tmp_path / "today.duckdb", posts, mentions)


def _no_quiet(home: Path, extra: str = "") -> None:
    write_config(home, "[nudge]\nquiet_start = 0\nquiet_end = 0\n" + extra)


def test_nudge_cli_quiet_if_met_and_exit_status(
    tmp_path: Path, engage_home: Path, run_cli: Any
) -> None:
    _no_quiet(engage_home)
    db = _db_with_today(tmp_path, 1)
    r = run_cli("--db", str(db), "nudge", "--exit-status")
    assert r.exit_code == 1
    assert r.stdout.startswith("1 of 2 genuine interactions today. @ana asked you a question")
    r = run_cli("--db", str(db), "nudge")
    assert r.exit_code == 0 and r.stdout
    db2 = _db_with_today(tmp_path / "b", 3, ask_hours=None)
    r = run_cli("--db", str(db2), "nudge", "--exit-status", "--quiet-if-met")
    assert (r.exit_code, r.stdout) == (0, "")
    r = run_cli("--db", str(db2), "nudge")
    assert r.stdout.startswith("Goal met (3/3), 1-day streak.")


def test_nudge_respects_quiet_hours(tmp_path: Path, engage_home: Path, run_cli: Any) -> None:
    hour = datetime.now(UTC).hour
    write_config(engage_home, f"[nudge]\nquiet_start = {hour}\nquiet_end = {(hour + 2) % 24}\n")
    db = _db_with_today(tmp_path, 0)
    r = run_cli("--db", str(db), "nudge", "--exit-status")
    assert (r.exit_code, r.stdout) == (1, "")  # silent, but scripts still learn the state
    r = run_cli("--db", str(db), "nudge", "--ignore-quiet-hours")
    assert r.stdout.startswith("0 of 2")


def test_quiet_hours_wrap_midnight() -> None:
    assert [h for h in range(24) if goalcache.hour_is_quiet(h, 22, 7)] == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        22,
        23,
    ]
    assert [h for h in range(24) if goalcache.hour_is_quiet(h, 9, 12)] == [9, 10, 11]
    assert not any(goalcache.hour_is_quiet(h, 5, 5) for h in range(24))


def _refresh(db: Path) -> dict[str, Any]:
    with open_store(db) as store:
        goalcache.refresh(store, load_config())
    snap = goalcache.read(db)
    assert snap is not None
    return snap


def test_fast_nudge_answers_from_a_fresh_cache_only(
    tmp_path: Path, engage_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_quiet(engage_home)
    db = _db_with_today(tmp_path, 1)
    Path(str(db) + ".prompt").unlink(missing_ok=True)  # (a listener from another test may run)
    assert nudge.fast_main([], db=str(db)) is None  # no cache yet: the CLI answers
    _refresh(db)
    capsys.readouterr()
    assert nudge.fast_main(["--exit-status"], db=str(db)) == 1
    assert capsys.readouterr().out.startswith("1 of 2 genuine interactions today. @ana asked")
    assert nudge.fast_main(["--live"], db=str(db)) is None
    assert nudge.fast_main(["-h"], db=str(db)) is None
    # a changed time zone in the config: the cached day is not the user's day any more
    assert nudge.fast_main([], db=str(db)) == 0
    _no_quiet(engage_home, '[time]\ntimezone = "Asia/Tokyo"\n')
    assert nudge.fast_main([], db=str(db)) is None
    _no_quiet(engage_home)  # any change of the config file: the CLI answers until a refresh
    assert nudge.fast_main([], db=str(db)) is None
    from engage.cli import main

    with pytest.raises(SystemExit):
        main(["--db", str(db), "nudge"])  # the live nudge keeps what it computed
    assert nudge.fast_main([], db=str(db)) == 0
    # a write that did not refresh the cache makes it stale
    later = time.time() + 5
    import os

    os.utime(db, (later, later))  # (as if another tool wrote the file)
    assert nudge.fast_main([], db=str(db)) is None


def test_cache_is_refreshed_by_every_writer(
    tmp_path: Path, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_quiet(engage_home)
    db = _db_with_today(tmp_path, 0, ask_hours=None)
    on_change(goalcache.refresh_listener)  # what the CLI group callback registers
    monkeypatch.setattr(goalcache, "_last_refresh", {})
    monkeypatch.setattr(goalcache, "_pending", set())
    monkeypatch.setattr("atexit.register", lambda fn: fn)
    now = datetime.now(UTC)

    def add_genuine(seconds_ago: int) -> None:
        p = make_post(now - timedelta(seconds=seconds_ago))
        with open_store(db) as store:
            store.upsert_posts([p])
            store.save_labels([LabelRow(p.platform, p.post_id, "ask", 0.9, "t", "t1")])

    add_genuine(5)
    snap = goalcache.read(db)
    assert snap is not None and snap["count"] == 1
    assert goalcache.is_fresh(snap, db)
    with open_store(db, read_only=True):
        pass
    assert goalcache.is_fresh(snap, db)  # readers do not touch the file
    # a second write right after (a fetch commits page by page): marked, refreshed at exit
    add_genuine(4)
    assert goalcache.read(db)["count"] == 1  # type: ignore[index]
    assert goalcache._pending == {str(db)}
    goalcache._refresh_pending()
    snap = goalcache.read(db)
    assert snap is not None and snap["count"] == 2 and goalcache.is_fresh(snap, db)


def test_cli_writers_refresh_the_cache(engage_home: Path, run_cli: Any) -> None:
    demo = engage_home / "demo" / "demo.duckdb"
    r = run_cli("demo")
    assert r.exit_code == 0, r.stderr
    assert "$ engage --db" in r.stdout and "engage daily report" in r.stdout
    assert "genuine interactions today" in r.stdout
    snap = goalcache.read(demo)
    assert snap is not None and snap["db"] == str(demo)
    assert not (demo.parent / "demo.duckdb.building.prompt").exists()


def test_prompt_from_cache(tmp_path: Path, engage_home: Path, capsys: Any) -> None:
    _no_quiet(engage_home)
    db = _db_with_today(tmp_path, 1)
    Path(str(db) + ".prompt").unlink(missing_ok=True)  # (a listener from another test may run)
    capsys.readouterr()
    assert prompt.fast_main(["--db", str(db)]) == 0
    assert capsys.readouterr().out == ""  # no cache: nothing
    snap = _refresh(db)
    assert prompt.fast_main(["--db", str(db)]) == 0
    assert capsys.readouterr().out == "✦1/3 ✉1\n"
    assert prompt.fast_main(["--db", str(db), "--ascii", "--no-waiting"]) == 0
    assert capsys.readouterr().out == "*1/3\n"
    assert prompt.fast_main(["--db", str(db), "--format", "{count}of{min} s{streak}"]) == 0
    assert capsys.readouterr().out == "1of2 s0\n"
    assert prompt.fast_main(["--bogus"]) == 2
    assert prompt.fast_main(["--help"]) is None
    # a cache from the previous local day: the count restarts, the streak carries over only
    # when that day reached the minimum
    old = dict(snap, count=2)
    shift = old["day_end"] - old["day_start"]
    later = old["next_day_end"] - 60
    assert prompt.segment(old, later, waiting=False) == "✦0/3"
    p = goalcache.project(old, later)
    assert p is not None and p["rolled"] and p["count"] == 0 and p["streak"] == 1
    assert goalcache.project(dict(snap, count=1), later)["streak"] == 0  # type: ignore[index]
    assert goalcache.project(old, old["next_day_end"] + shift) is None
    assert prompt.segment(old, old["next_day_end"] + shift, waiting=False) == "✦0/3"


def test_prompt_is_silent_in_quiet_hours(tmp_path: Path, engage_home: Path, capsys: Any) -> None:
    hour = datetime.now(UTC).hour
    write_config(engage_home, f"[nudge]\nquiet_start = {hour}\nquiet_end = {(hour + 2) % 24}\n")
    db = _db_with_today(tmp_path, 1)
    _refresh(db)
    capsys.readouterr()
    assert prompt.fast_main(["--db", str(db)]) == 0
    assert capsys.readouterr().out == ""
    assert prompt.fast_main(["--db", str(db), "--ignore-quiet-hours"]) == 0
    assert capsys.readouterr().out.startswith("✦1/3")


def test_entry_point_routes_global_db_to_the_fast_paths(
    tmp_path: Path, engage_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _no_quiet(engage_home)
    db = _db_with_today(tmp_path, 1)
    _refresh(db)
    assert _entry._split_global(["--db", "x", "prompt"]) == ("x", ["prompt"])
    assert _entry._split_global(["--db=x", "nudge"]) == ("x", ["nudge"])
    assert _entry._split_global(["-v", "nudge"]) == (None, ["-v", "nudge"])
    for argv, expect in (
        (["--db", str(db), "prompt"], "✦1/3 ✉1\n"),
        (["prompt", "--db", str(db)], "✦1/3 ✉1\n"),
        (["--db", str(db), "nudge"], "1 of 2 genuine"),
    ):
        monkeypatch.setattr(sys, "argv", ["engage", *argv])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            _entry.main()
        assert exc.value.code == 0
        assert capsys.readouterr().out.startswith(expect)
    monkeypatch.setenv("ENGAGE_DB", str(db))
    monkeypatch.setattr(sys, "argv", ["engage", "prompt", "--ascii"])
    with pytest.raises(SystemExit):
        _entry.main()
    assert capsys.readouterr().out == "*1/3 !1\n"


def test_fast_paths_import_only_the_standard_library(tmp_path: Path, engage_home: Path) -> None:
    _no_quiet(engage_home)
    db = _db_with_today(tmp_path, 1)
    _refresh(db)
    code = (
        "import sys\n"
        f"sys.argv = ['engage', '--db', {str(db)!r}, 'prompt']\n"
        "from engage import _entry\n"
        "try:\n    _entry.main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('duckdb', 'click', 'pyarrow', 'sklearn', 'platformdirs')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "ENGAGE_HOME": str(engage_home)},
    )
    assert "HEAVY []" in out.stdout
    assert json.loads(Path(str(db) + ".prompt").read_text())["v"] == 1
