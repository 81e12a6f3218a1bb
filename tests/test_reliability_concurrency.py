"""Concurrent use of one database, with real CLI subprocesses: the dashboard reading while
``engage report --fetch`` runs from cron, two fetches started at once, a nudge while an import
runs, and a writer that finds the database held: it says it is waiting, and gives up after
``database.lock_timeout_seconds`` with one line and exit code 3."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from import_archives_build import write_zip, x_files
from reliability_rigs import cli_command, mastodon_rig, subprocess_env, write_config
from reliability_support import one_error_line, snapshot

from engage.config import load_config
from engage.errors import DatabaseBusyError
from engage.store import open_store

pytestmark = pytest.mark.slow


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_dashboard_reads_while_report_fetch_runs_and_two_fetches_at_once(
    run_cli: Callable[..., Any], engage_home: Path
) -> None:
    from engage.dashboard.data import StoreGateway, load_overview

    with mastodon_rig(run_cli, n_posts=160, n_mentions=6, delay=0.05) as m:
        env = subprocess_env(engage_home, m)
        db = engage_home / "engage.duckdb"
        config = load_config()
        gateway = StoreGateway(db)  # the dashboard's own short, read-only opens
        reads = {"ok": 0, "busy": 0}
        errors: list[BaseException] = []
        stop = threading.Event()

        def dashboard() -> None:
            while not stop.is_set():
                try:
                    gateway.read(lambda s: load_overview(s, config, datetime.now(UTC), 30))
                    reads["ok"] += 1
                except DatabaseBusyError:
                    reads["busy"] += 1  # the app shows "busy" and reads again on its next tick
                except BaseException as exc:  # anything else would be a dashboard failure
                    errors.append(exc)
                time.sleep(0.05)

        thread = threading.Thread(target=dashboard, daemon=True)
        thread.start()
        try:
            code, out, err = _finish(_start(["report", "--fetch", "--format", "json"], env))
            assert code == 0, err
            assert '"ok": true' in out.replace(" ", "").replace('"ok":true', '"ok": true')
            # two fetches at once, still with the dashboard reading
            m.fake.post("one more post while two fetches run")
            m.expected_posts.add(("mastodon", m.fake.statuses[-1]["id"]))
            first = _start(["fetch"], env)
            second = _start(["fetch"], env)
            results = [_finish(first), _finish(second)]
        finally:
            stop.set()
            thread.join(10)
        for code, _out, err in results:
            assert code == 0, err
            assert "Traceback" not in err
        assert errors == []
        assert reads["ok"] >= 3
        snap = snapshot(db)
        assert snap.post_keys() == m.expected_posts
        assert set(snap.mentions) == m.expected_mentions


def test_a_nudge_while_an_import_runs(engage_home: Path, tmp_path: Path) -> None:
    import sys

    from reliability_support import REPO

    sys.path.insert(0, str(REPO / "bench"))
    try:
        import gen_archives
    finally:
        sys.path.remove(str(REPO / "bench"))
    archive = gen_archives.write_x_archive(tmp_path / "x.zip", 40000)
    env = subprocess_env(engage_home)
    small = write_zip(tmp_path / "small.zip", x_files())
    first = subprocess.run(
        cli_command("import", "--no-label", str(small)), env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    db = engage_home / "engage.duckdb"
    before = db.stat().st_mtime_ns
    importing = _start(["import", "--no-label", str(archive)], env)
    deadline = time.monotonic() + 60
    wal = db.with_name(db.name + ".wal")
    while db.stat().st_mtime_ns == before and not wal.exists() and importing.poll() is None:
        assert time.monotonic() < deadline, "the import never wrote"
        time.sleep(0.05)
    assert importing.poll() is None  # its first batches are in: it holds the database
    nudges = [
        subprocess.run(
            cli_command("nudge", *extra, "--ignore-quiet-hours"),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for extra in ((), ("--live",))
    ]
    code, _out, err = _finish(importing)
    assert code == 0, err
    for nudge in nudges:
        assert nudge.returncode == 0, nudge.stderr
        assert nudge.stdout.strip()
        assert "Traceback" not in nudge.stderr


def _hold(db: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Another engage process holding the database for writing until its stdin is closed."""
    holder = subprocess.Popen(
        [
            cli_command()[0],
            "-c",
            "import sys; from engage.store import open_store\n"
            f"s = open_store({str(db)!r})\nprint('held', flush=True)\nsys.stdin.read()",
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(30)


def test_a_writer_that_must_wait_says_so_and_gives_up_after_the_lock_timeout(
    engage_home: Path, tmp_path: Path
) -> None:
    write_config(engage_home, "[database]\nlock_timeout_seconds = 2\n")
    env = subprocess_env(engage_home)
    archive = write_zip(tmp_path / "x.zip", x_files())
    db = engage_home / "engage.duckdb"
    holder = _hold(db, env)
    try:
        started = time.monotonic()
        r = subprocess.run(
            cli_command("import", "--no-label", str(archive)),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        waited = time.monotonic() - started
    finally:
        _release(holder)
    assert r.returncode == 3, r.stderr
    line = one_error_line(r.stderr)
    assert "in use by another engage process" in line
    assert "waited 2 s" in line and "database.lock_timeout_seconds" in line
    said = r.stderr.split("engage: error:")[0]
    assert "is busy" in said and "waiting up to 2 s" in said  # it said so while it waited
    assert waited >= 2
    with open_store(db, read_only=True) as store:
        assert store.count_posts() == 0  # the database is as it was
    # with a longer timeout the same writer waits for the holder and then succeeds
    write_config(engage_home, "[database]\nlock_timeout_seconds = 60\n")
    holder = _hold(db, env)
    importing = _start(["import", "--no-label", str(archive)], env)
    try:
        assert importing.stderr is not None
        first = importing.stderr.readline()
        assert "is busy" in first and "waiting up to 60 s" in first
    finally:
        _release(holder)
    code, out, _err = _finish(importing)
    assert code == 0, _err
    assert "5 new" in out
