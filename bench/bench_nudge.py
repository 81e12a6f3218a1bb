"""Benchmark: `engage nudge` on a database of one million posts.

Builds bench/data/nudge-1m.duckdb once (1,000,000 posts over about three years on three
platforms, every post labelled, 30,000 mentions of which most are answered), then times
`engage nudge` as a subprocess: the normal path (answered from the goal cache that every engage
writer refreshes) and `engage nudge --live` (queries the database), each against a bare
`python3 -c pass` measured in the same run. Prints medians.

    python bench/bench_nudge.py [--runs 15] [--posts 1000000] [--rebuild]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from connectors.base import Mention, Post  # noqa: E402
from engage import goalcache  # noqa: E402
from engage.config import load_config  # noqa: E402
from engage.store import LABELS, LabelRow, open_store  # noqa: E402

PLATFORMS = ("mastodon", "bluesky", "x")
FRIENDS = [f"friend{i}" for i in range(300)]


def build(path: Path, n_posts: int, n_mentions: int) -> None:
    rng = random.Random(1)
    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=3 * 365).total_seconds()
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with open_store(tmp) as store:
        mentions = []
        for i in range(n_mentions):
            plat = rng.choice(PLATFORMS)
            when = now - timedelta(seconds=rng.random() * span)
            mentions.append(
                Mention(
                    plat,
                    f"me@{plat}",
                    f"m{i}",
                    rng.choice(FRIENDS),
                    when,
                    text="@me what do you think?" if i % 2 else "@me nice post",
                    thread_root=f"m{i}",
                )
            )
        store.upsert_mentions(mentions)
        answered = {i for i in range(n_mentions) if rng.random() < 0.8}
        batch = 100_000
        for start in range(0, n_posts, batch):
            posts, labels = [], []
            for j in range(start, min(n_posts, start + batch)):
                plat = PLATFORMS[j % 3]
                m_i = j % n_mentions
                reply = m_i in answered and j < n_mentions * 3
                m = mentions[m_i]
                when = (
                    (m.created_at + timedelta(minutes=rng.randrange(5, 600)))
                    if reply
                    else (now - timedelta(seconds=rng.random() * span))
                )
                if when > now:
                    when = now - timedelta(minutes=1)
                posts.append(
                    Post(
                        plat,
                        f"me@{plat}",
                        f"p{j}",
                        when,
                        text=f"post {j}",
                        kind="reply" if reply else "post",
                        reply_to_post=m.mention_id if reply else None,
                        reply_to_user=m.author if reply else None,
                        thread_root=m.thread_root if reply else None,
                        urls=[f"https://blog.example/{j % 50}"] if j % 4 == 0 else [],
                        client=rng.choice(["Web", "dlvr.it", "Buffer", None]),
                    )
                )
                labels.append(LabelRow(plat, f"p{j}", rng.choice(LABELS), 0.9, "bench", "bench"))
            store.upsert_posts(posts)
            store.save_labels(labels)
            print(f"  {start + len(posts):>9} posts", file=sys.stderr)
        goalcache.refresh(store, load_config())
    tmp.replace(path)
    print(f"built {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    engage = shutil.which("engage")
    if engage is None:
        print("engage is not installed (pip install -e .)", file=sys.stderr)
        return 2
    db = HERE / "data" / f"nudge-{args.posts // 1000}k.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, ENGAGE_HOME=home)
        if args.rebuild or not db.exists():
            os.environ["ENGAGE_HOME"] = home
            build(db, args.posts, 30_000)
        else:  # refresh the cache (as any engage writer would) so the run starts fresh
            with open_store(db) as store:
                goalcache.refresh(store, load_config())
        nudge = [engage, "--db", str(db), "nudge", "--ignore-quiet-hours"]
        live = [*nudge, "--live"]
        bare = [sys.executable, "-c", "pass"]
        print(
            "nudge says:",
            subprocess.run(nudge, env=env, capture_output=True, text=True).stdout.strip(),
        )
        print(
            "live says: ",
            subprocess.run(live, env=env, capture_output=True, text=True).stdout.strip(),
        )
        for cmd in (bare, nudge, live):
            timed(cmd, env)
        tb, tn, tl = [], [], []
        for _ in range(args.runs):
            tb.append(timed(bare, env))
            tn.append(timed(nudge, env))
            tl.append(timed(live, env))
    mb, mn, ml = (statistics.median(x) * 1000 for x in (tb, tn, tl))
    print(f"database: {db} ({args.posts:,} posts), runs: {args.runs} each, interleaved")
    print(f"python3 -c pass            median {mb:7.1f} ms")
    print(f"engage nudge (goal cache)  median {mn:7.1f} ms")
    print(f"engage nudge --live        median {ml:7.1f} ms")
    print("cache path under 250 ms:", "yes" if mn < 250 else "NO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
