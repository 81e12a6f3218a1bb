"""Fixed data for the dashboard tests: a small, deterministic history of one person on three
platforms, labelled here (not by the classifier, so the tests do not move when the model does),
and a frozen "now"."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.base import Mention, Post
from engage.config import Config, load_config
from engage.store import LabelRow, open_store

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from engage.dashboard.app import DashboardApp

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)  # a Wednesday afternoon
ACCOUNTS = {"mastodon": "sam@social.example", "bluesky": "sam.bsky.social", "x": "sam_dev"}
FRIENDS = {
    "mastodon": ["ana@social.example", "ben@fosstodon.example"],
    "bluesky": ["chen.bsky.social", "dara.bsky.social"],
    "x": ["eli_makes", "fatimaux"],
}
TEXTS = {
    "auto_promo": "New post: Shipping small tools https://sam.example/blog/{n}",
    "share": "The state of CSS 2026 https://news.example/{n}",
    "ask": "Which test runner do you use for tiny projects? #{n}",
    "answer": "@{f} set container-type on the parent, that fixes it ({n})",
    "comment": "@{f} congrats on the launch, the demo looked great ({n})",
}
REASONS = {
    "auto_promo": "posted by dlvr.it; links to your own site sam.example",
    "share": "a link with its headline and no words of your own",
    "ask": "asks the audience a question",
    "answer": "reply to @{f} that answers their question",
    "comment": "reply to @{f} with words of your own",
}


def make_app(db: Path, opened: list[str] | None = None, **kwargs: Any) -> DashboardApp:
    """The dashboard on ``db`` with the frozen clock, a recording URL opener and quick timers."""
    from engage.dashboard.app import DashboardApp

    sink = opened if opened is not None else []
    return DashboardApp(
        db,
        config(),
        clock=lambda: NOW,
        open_url=lambda url: sink.append(url) or True,
        poll_interval=0.1,
        read_timeout=0.05,
        write_timeout=0.1,
        **kwargs,
    )


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every load the app started has finished and been drawn."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def config() -> Config:
    """The default config in UTC (tests set TZ=UTC and a fresh ENGAGE_HOME)."""
    return load_config()


def make_posts(days: int = 45, now: datetime = NOW) -> tuple[list[Post], list[LabelRow]]:
    rng = random.Random(11)
    posts: list[Post] = []
    labels: list[LabelRow] = []
    n = 0
    today0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(days - 1, -1, -1):
        day = today0 - timedelta(days=back)
        # autobot weeks in the middle, talking before and after
        autobot = 12 <= back < 30
        weights = [5, 4, 1, 1, 1] if autobot else [1, 1, 2, 2, 3]
        count = 1 if back == 0 else rng.randrange(2, 6)
        for i in range(count):
            n += 1
            label = rng.choices(list(TEXTS), weights)[0]
            if back == 0:
                label = "comment"
            platform = ["mastodon", "bluesky", "x"][n % 3]
            friend = FRIENDS[platform][n % 2]
            when = day + timedelta(hours=8 + 2 * i, minutes=rng.randrange(60))
            if when > now:
                when = now - timedelta(minutes=30 + i)
            pid = f"{platform[0]}{n:05d}"
            is_reply = label in ("answer", "comment")
            posts.append(
                Post(
                    platform=platform,
                    account=ACCOUNTS[platform],
                    post_id=pid,
                    url=f"https://{platform}.example/{ACCOUNTS[platform]}/{pid}",
                    created_at=when,
                    text=TEXTS[label].format(n=n, f=friend),
                    kind="reply" if is_reply else ("repost" if label == "share" else "post"),
                    reply_to_user=friend if is_reply else None,
                    mentions=[friend] if is_reply else [],
                    client="dlvr.it" if label == "auto_promo" else None,
                    source="test",
                )
            )
            conf = 0.55 + (n % 40) / 100
            labels.append(
                LabelRow(platform, pid, label, conf, REASONS[label].format(f=friend), "test-1")
            )
    return posts, labels


def make_mentions(now: datetime = NOW) -> list[Mention]:
    return [
        Mention(
            platform="mastodon",
            mention_id="m-ana-1",
            account=ACCOUNTS["mastodon"],
            author="ana@social.example",
            created_at=now - timedelta(hours=3),
            text="@sam do you have a checklist for testing forms with a screen reader?",
            kind="mention",
            url="https://social.example/@ana/m-ana-1",
            thread_root="m-ana-1",
            source="test",
        ),
        Mention(
            platform="bluesky",
            mention_id="m-chen-1",
            account=ACCOUNTS["bluesky"],
            author="chen.bsky.social",
            created_at=now - timedelta(hours=26),
            text="@sam.bsky.social loved your talk yesterday",
            kind="mention",
            url="https://bsky.example/chen/m-chen-1",
            thread_root="m-chen-1",
            source="test",
        ),
    ]


def build_db(path: Path, *, days: int = 45, now: datetime = NOW) -> Path:
    posts, labels = make_posts(days, now)
    with open_store(path) as store:
        store.upsert_posts(posts)
        store.upsert_mentions(make_mentions(now))
        store.save_labels(labels)
    return path


def build_empty_db(path: Path) -> Path:
    with open_store(path):
        pass
    return path


HOLDER = """
import sys
if sys.argv[2] == "hold":  # just the lock, as fast as possible
    import duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.readline()
    con.close()
    sys.exit(0)

from datetime import datetime
from pathlib import Path

from connectors.base import Post
from engage.store import LabelRow, open_store

store = open_store(Path(sys.argv[1]), lock_timeout=10)
if sys.argv[2] == "insert":
    when = datetime.fromisoformat(sys.argv[3])
    store.upsert_posts([Post(platform="mastodon", account="sam@social.example", post_id="new-1",
                             url="https://mastodon.example/new-1", created_at=when,
                             text="A brand new post from the cron fetch", kind="post",
                             source="test")])
    store.save_labels([LabelRow("mastodon", "new-1", "ask", 0.9, "asks a question", "test-1")])
print("holding", flush=True)
sys.stdin.readline()
store.close()
"""


class WriterProcess:
    """Another engage process holding the database read-write (as a running fetch would) until
    ``release()``; with ``insert=True`` it first writes one new post (from "now" + 1 minute)."""

    def __init__(self, db: Path, *, insert: bool = False, now: datetime = NOW) -> None:
        when = (now - timedelta(minutes=1)).isoformat()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), "insert" if insert else "hold", when],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "holding", line

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self.proc.poll() is None:
            self.proc.kill()
