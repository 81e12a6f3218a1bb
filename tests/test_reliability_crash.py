"""Crash trials: ``engage fetch`` and ``engage import`` run as real CLI subprocesses and are
killed with SIGKILL at seeded random moments. After each kill the database opens, a rerun
completes (exit 0), and the final posts and mentions equal those of a clean, uninterrupted run
exactly (same keys, same content); after a fetch every post is labelled.

- fetch: Mastodon, X and Bluesky accounts in one home, each fake behind a proxy that slows every
  answer a little so a fetch spans several seconds; the Bluesky fake's access tokens live only
  10 minutes, so the SDK refreshes (and rotates) the session on every request and a kill can
  land between a refresh and the credentials file being written.
- import: a large X archive and a large Mastodon archive (generated), alternately.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from reliability_rigs import (
    bluesky_rig,
    cli_command,
    mastodon_rig,
    subprocess_env,
    write_config,
    x_rig,
)
from reliability_support import REPO, Snapshot, snapshot

from connectors.bluesky import create_session
from engage import credentials
from engage.store import open_store

pytestmark = pytest.mark.slow

FETCH_TRIALS = 20
IMPORT_TRIALS = 20
SEED = 8


def _run(cmd: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _killed_at(cmd: list[str], env: dict[str, str], after: float) -> int | None:
    """Start ``cmd``, SIGKILL it ``after`` seconds later; its exit code if it finished first."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def _opens(db: Path) -> None:
    """The database opens after the kill (read-write: migrations and the WAL replay run)."""
    if db.exists():
        with open_store(db, lock_timeout=10) as store:
            store.count_posts()


def _trials(
    n: int,
    one: Callable[[int, float], tuple[int | None, Snapshot, int]],
    clean_seconds: float,
    summary: Path,
) -> list[tuple[int | None, Snapshot, int]]:
    """Run ``one(i, kill_after)`` for ``n`` seeded kill times, two at a time; what happened is
    written to ``summary`` (JSON) for RELIABILITY.md."""
    rng = random.Random(SEED)
    # from the very start (before the database exists) to the end of a clean run
    moments = [rng.uniform(0.05, clean_seconds) for _ in range(n)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, range(n), moments))
    summary.write_text(
        json.dumps(
            {
                "trials": n,
                "killed": sum(1 for code, _, _ in results if code is None),
                "finished_before_kill": sum(1 for code, _, _ in results if code == 0),
                "moments": moments,
                "posts": [len(snap.posts) for _, snap, _ in results],
                "seconds": time.monotonic() - started,
            }
        )
    )
    return results


def test_sigkilled_fetches_resume_to_exactly_the_clean_result(
    tmp_path: Path,
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    engage_home: Path,
) -> None:
    write_config(engage_home, "[fetch]\nmax_retries = 3\n")
    with (
        mastodon_rig(run_cli, n_posts=120, n_mentions=10, delay=0.02) as m,
        x_rig(run_cli, monkeypatch, n_posts=160, n_mentions=10, delay=0.02) as x,
        bluesky_rig(
            run_cli, monkeypatch, n_posts=160, n_mentions=10, delay=0.02, access_ttl=600
        ) as b,
    ):
        rigs = [m, x, b]
        m.fake.remaining = 10**9  # the fake's budget would run out over hundreds of requests
        template = tmp_path / "template"
        shutil.copytree(engage_home, template)

        def home(name: str) -> Path:
            """A copy of the configured home with a Bluesky session of its own (the fake
            rotates refresh tokens: two homes sharing one session would spend each other's)."""
            target = tmp_path / name
            shutil.copytree(template, target)
            session = create_session(b.proxy.url, b.fake.handle, b.fake.app_password)
            credentials.update(
                b.account,
                target / "credentials.json",
                session_string=session["session_string"],
            )
            return target

        # a clean, uninterrupted fetch of each account: the reference, and how long it takes
        clean: dict[str, Snapshot] = {}
        seconds: dict[str, float] = {}
        for rig in rigs:
            h = home(f"clean-{rig.platform}")
            started = time.monotonic()
            r = _run(cli_command("fetch", "--account", rig.account), subprocess_env(h, *rigs))
            seconds[rig.platform] = time.monotonic() - started
            assert r.returncode == 0, r.stderr
            clean[rig.platform] = snapshot(h / "engage.duckdb")
            assert clean[rig.platform].post_keys() == rig.expected_posts
            assert set(clean[rig.platform].mentions) == rig.expected_mentions

        def one(i: int, fraction: float) -> tuple[int | None, Snapshot, int]:
            rig = rigs[i % len(rigs)]
            h = home(f"trial-{i}")
            env = subprocess_env(h, *rigs)
            cmd = cli_command("fetch", "--account", rig.account)
            code = _killed_at(cmd, env, fraction * seconds[rig.platform])
            _opens(h / "engage.duckdb")
            rerun = _run(cmd, env)
            assert rerun.returncode == 0, (i, rig.platform, fraction, rerun.stderr)
            assert "Traceback" not in rerun.stderr
            with open_store(h / "engage.duckdb", read_only=True) as store:
                unlabelled = store.count_unlabelled_posts()
            snap = snapshot(h / "engage.duckdb")
            assert snap == clean[rig.platform], (i, rig.platform, fraction)
            return code, snap, unlabelled

        results = _trials(FETCH_TRIALS, one, 1.0, tmp_path / "summary.json")
    killed = sum(1 for code, _, _ in results if code is None)
    assert killed >= FETCH_TRIALS * 3 // 4, "most trials must really be killed mid-run"
    for code, _snap, unlabelled in results:
        assert code in (None, 0)
        assert unlabelled == 0  # posts saved by a killed run are labelled by the rerun


@pytest.fixture(scope="module")
def large_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import gen_archives
    finally:
        sys.path.remove(str(REPO / "bench"))
    folder = tmp_path_factory.mktemp("exports")
    return {
        "x": gen_archives.write_x_archive(folder / "x-archive.zip", 8000),
        "mastodon": gen_archives.write_mastodon_archive(folder / "mastodon-archive.zip", 8000),
    }


def test_sigkilled_imports_resume_to_exactly_the_clean_result(
    tmp_path: Path, large_exports: dict[str, Path]
) -> None:
    clean: dict[str, Snapshot] = {}
    seconds: dict[str, float] = {}
    for kind, path in large_exports.items():
        h = tmp_path / f"clean-{kind}"
        started = time.monotonic()
        r = _run(cli_command("import", "--no-label", str(path)), subprocess_env(h))
        seconds[kind] = time.monotonic() - started
        assert r.returncode == 0, r.stderr
        clean[kind] = snapshot(h / "engage.duckdb")
        assert len(clean[kind].posts) > 6000

    kinds = sorted(large_exports)

    def one(i: int, fraction: float) -> tuple[int | None, Snapshot, int]:
        kind = kinds[i % len(kinds)]
        h = tmp_path / f"trial-{i}"
        env = subprocess_env(h)
        cmd = cli_command("import", "--no-label", str(large_exports[kind]))
        code = _killed_at(cmd, env, fraction * seconds[kind])
        _opens(h / "engage.duckdb")
        rerun = _run(cmd, env)
        assert rerun.returncode == 0, (i, kind, rerun.stderr)
        assert "Traceback" not in rerun.stderr
        snap = snapshot(h / "engage.duckdb")
        assert snap == clean[kind], (i, kind, fraction)
        return code, snap, 0

    results = _trials(IMPORT_TRIALS, one, 1.0, tmp_path / "summary.json")
    killed = sum(1 for code, _, _ in results if code is None)
    assert killed >= IMPORT_TRIALS * 3 // 4
    assert all(code in (None, 0) for code, _, _ in results)


@pytest.mark.parametrize(
    ("platform", "point"),
    [
        ("bluesky", "commit_page:1"),  # after the SDK refreshed (rotated) the session
        ("x", "commit_page:2"),
        ("mastodon", "save_label_columns:1"),  # all saved, nothing labelled yet
    ],
)
def test_a_fetch_killed_at_an_exact_point_resumes(
    tmp_path: Path,
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    engage_home: Path,
    platform: str,
    point: str,
) -> None:
    """Deterministic crash points (the process SIGKILLs itself there); the random trials above
    found the first one: a Bluesky session refreshed by the SDK (the server rotates the refresh
    token) was written to the credentials file only after the whole account was fetched, so a
    kill in between left a spent refresh token behind and every later fetch failed with
    'ExpiredToken' until the account was added again."""
    rigs = {
        "mastodon": lambda: mastodon_rig(run_cli, n_posts=100, n_mentions=3),
        "x": lambda: x_rig(run_cli, monkeypatch, n_posts=150, n_mentions=3),
        "bluesky": lambda: bluesky_rig(run_cli, monkeypatch, n_posts=150, access_ttl=600),
    }
    with rigs[platform]() as rig:
        env = subprocess_env(engage_home, rig)
        killed = _run(cli_command("fetch"), {**env, "ENGAGE_TEST_KILL_AT": point})
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        _opens(engage_home / "engage.duckdb")
        rerun = _run(cli_command("fetch"), env)
        assert rerun.returncode == 0, rerun.stderr
        snap = snapshot(engage_home / "engage.duckdb")
        assert snap.post_keys() == rig.expected_posts
        assert set(snap.mentions) == rig.expected_mentions
        with open_store(engage_home / "engage.duckdb", read_only=True) as store:
            assert store.count_unlabelled_posts() == 0
        if platform == "bluesky":
            # one login when the account was added; the session was refreshed, never replaced
            assert len(rig.fake.calls("com.atproto.server.createSession")) == 1
            assert len(rig.fake.calls("com.atproto.server.refreshSession")) >= 2


def test_an_import_killed_at_an_exact_point_resumes(tmp_path: Path) -> None:
    from import_archives_build import write_zip, x_files

    archive = write_zip(tmp_path / "x.zip", x_files())
    clean_home = tmp_path / "clean"
    assert _run(cli_command("import", str(archive)), subprocess_env(clean_home)).returncode == 0
    clean = snapshot(clean_home / "engage.duckdb")
    for point in ("commit_import_batch:1", "save_label_columns:1"):
        h = tmp_path / point.replace(":", "-")
        env = subprocess_env(h)
        killed = _run(cli_command("import", str(archive)), {**env, "ENGAGE_TEST_KILL_AT": point})
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        _opens(h / "engage.duckdb")
        rerun = _run(cli_command("import", str(archive)), env)
        assert rerun.returncode == 0, rerun.stderr
        assert snapshot(h / "engage.duckdb") == clean
        with open_store(h / "engage.duckdb", read_only=True) as store:
            assert store.count_unlabelled_posts() == 0
