"""Benchmark: `engage dashboard` on a database of one million posts.

Uses the database of bench/bench_nudge.py (bench/data/nudge-1000k.duckdb: 1,000,000 labelled
posts over three years on three platforms, 30,000 mentions), building it with that script's
generator when it is missing. Each run starts a fresh Python process that opens the dashboard
headless at 80x24 and records, from the moment the process was started:

- ``frame``: the first frame is painted;
- ``data``: today's panel, the chart, the label mix, the waiting list and the first page of
  posts are painted with data (what "first paint" means for a person looking at it);
- ``streak``: the streak is shown too.

Four cases: with the caches every engage writer leaves beside the database (the goal cache and
the dashboard's summary, ``<db>.dashboard``: the first frame comes from the summary, then the
full reads run), as after any fetch or import; the same after importing what the ``engage``
command loads before it runs ``dashboard`` (``engage.cli``, which imports the store: DuckDB and
pyarrow); the same caches with the dashboard's clock ``--later`` days after the write (opened
after a weekend without a fetch: ``DashboardApp``'s and ``HeadStart``'s "now" come from a clock
that runs that many days ahead); and on a copy of the database without the caches (the first
frame waits for the full reads, the streak for a second read). The baselines in the same run:
``python3 -c pass`` and a bare Textual app (one Static) painting its first frame headless. Then,
in one process, the time from a key press to the redrawn screen: the label filter (``l``), the
platform filter (``p``) and the range switch (``r``). Prints medians, the load average before
and after, the time the writers' refresh took (the goal cache and the summary) and the summary's
size.

    python bench/bench_dashboard.py [--runs 7] [--posts 1000000] [--later 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, os, sys, time
t0 = float(os.environ["BENCH_T0"])
from pathlib import Path
marks = {}
def mark(name):
    marks.setdefault(name, time.time() - t0)

if sys.argv[1] == "bare":
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("hello")
        def on_mount(self):
            self.call_after_refresh(lambda: (mark("frame"), self.exit()))

    Bare().run(headless=True, size=(80, 24))
    print(json.dumps(marks))
    sys.exit(0)

if sys.argv[2] == "cli":  # what `engage dashboard` has loaded before run_dashboard
    import engage.cli
    import engage.cli.cmd_dashboard

# exactly what run_dashboard does: start the reads, then import Textual and build the app
from datetime import UTC, datetime, timedelta
from engage.config import load_config
from engage.dashboard.headstart import HeadStart

ahead = timedelta(days=float(sys.argv[3]))  # the dashboard opened this long after the write

def clock():
    return datetime.now(UTC) + ahead

config = load_config()
head = HeadStart(Path(sys.argv[1]), config, clock())
from engage.dashboard.app import DashboardApp

class Timed(DashboardApp):
    def on_mount(self):  # runs after DashboardApp.on_mount (Textual calls both)
        self.call_after_refresh(mark, "frame")
        self.set_timer(60, self.exit)

    def _check(self):
        ov = self.overview
        if ov is None or self.w_table.row_count == 0:
            return
        if "data" not in marks:
            self.call_after_refresh(mark, "data")
        if ov.today is not None and self.w_today.query_one("#today-text").render():
            shown = ov.today.streak_days is not None or self._streak is not None
            if shown:
                self.call_after_refresh(lambda: (mark("streak"), self.exit()))

    def _overview_loaded(self, *a):
        super()._overview_loaded(*a)
        self._check()

    def _posts_loaded(self, *a):
        super()._posts_loaded(*a)
        self._check()

    def _streak_loaded(self, *a):
        super()._streak_loaded(*a)
        self._check()

Timed(Path(sys.argv[1]), config, clock=clock, head_start=head).run(headless=True, size=(80, 24))
print(json.dumps(marks))
"""


def child(args: list[str], env: dict[str, str]) -> dict[str, float]:
    env = dict(env, BENCH_T0=repr(time.time()))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, check=True
    )
    return {k: float(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def bare_python(env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - t


async def key_latencies(db: Path, runs: int) -> dict[str, list[float]]:
    """Key press to redrawn screen, in one process (the app already open)."""
    from engage.config import load_config
    from engage.dashboard.app import DashboardApp

    app = DashboardApp(db, load_config())
    out: dict[str, list[float]] = {"l": [], "p": [], "r": []}
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for _ in range(runs):
            for key in ("l", "p", "r"):
                t = time.perf_counter()
                await pilot.press(key)
                while app._posts_running or app._overview_running:
                    await asyncio.sleep(0.002)
                await pilot.pause()
                out[key].append(time.perf_counter() - t)
        await app.workers.wait_for_complete()
    return out


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.0f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--later", type=float, default=3, help="days after the write (default 3)")
    args = ap.parse_args()
    db = HERE / "data" / f"nudge-{args.posts // 1000}k.duckdb"
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, ENGAGE_HOME=home)
        os.environ["ENGAGE_HOME"] = home
        from engage import goalcache
        from engage.config import load_config
        from engage.store import open_store

        if not db.exists():
            import bench_nudge

            db.parent.mkdir(parents=True, exist_ok=True)
            bench_nudge.build(db, args.posts, 30_000)
        refresh_started = time.perf_counter()
        with open_store(db) as store:  # what every engage writer does before it closes
            goalcache.refresh(store, load_config())
        refresh_s = time.perf_counter() - refresh_started
        summary_bytes = os.path.getsize(goalcache.dashboard_path_for(db))
        nocache = Path(home) / "copy.duckdb"
        shutil.copyfile(db, nocache)

        child(["bare"], env)  # warm the file cache
        child([str(db), "cli", "0"], env)
        load_before = os.getloadavg()
        results: dict[str, list[float]] = {}
        python: list[float] = []
        later = str(args.later)
        cases = (
            ("cache", db, "app", "0"),
            ("cli", db, "cli", "0"),
            ("later", db, "app", later),
            ("nocache", nocache, "app", "0"),
        )
        for _ in range(args.runs):
            python.append(bare_python(env))
            results.setdefault("bare", []).append(child(["bare"], env)["frame"])
            for name, path, how, ahead in cases:
                marks = child([str(path), how, ahead], env)
                for k, v in marks.items():
                    results.setdefault(f"{name}.{k}", []).append(v)
        keys = asyncio.run(key_latencies(db, args.runs))
        load_after = os.getloadavg()

    print(f"database: {db} ({args.posts:,} posts), 80x24 headless, {args.runs} runs each")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print(f"writers' refresh (goal cache, summary) {refresh_s:.2f} s; summary {summary_bytes:,} B")
    print(f"python3 -c pass                                   {ms(python)}")
    print(f"bare Textual app, first frame                     {ms(results['bare'])}")
    for name, label in (
        ("cache", "the writers' caches"),
        ("cli", "the writers' caches, after the CLI's imports"),
        ("later", f"the writers' caches, opened {args.later:g} days after the write"),
        ("nocache", "no caches"),
    ):
        print(f"dashboard ({label}):")
        print(f"  first frame                                     {ms(results[name + '.frame'])}")
        print(f"  data painted (first paint with data)            {ms(results[name + '.data'])}")
        print(f"  streak shown                                    {ms(results[name + '.streak'])}")
    print("in one process, key press to redrawn screen:")
    print(f"  l (label filter)                                {ms(keys['l'])}")
    print(f"  p (platform filter)                             {ms(keys['p'])}")
    print(f"  r (30/90-day range)                             {ms(keys['r'])}")
    for name in ("cache", "later"):
        data = statistics.median(results[name + ".data"])
        print(f"first paint with data under 1.5 s ({name}):", "yes" if data < 1.5 else "NO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
