"""Helpers for the goal tracker's tests: a small database with posts, labels and mentions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.base import Mention, Post
from engage.config import Config, load_config
from engage.store import LabelRow, open_store

_ids = itertools.count(1)


@dataclass
class P:
    """A post to create: when, label, and optional fields of ``Post``."""

    at: datetime
    label: str | None = "comment"
    platform: str = "mastodon"
    kw: dict[str, Any] | None = None


def make_post(at: datetime, platform: str = "mastodon", **kw: Any) -> Post:
    pid = kw.pop("post_id", f"p{next(_ids)}")
    return Post(
        platform=platform,
        account=kw.pop("account", "me@example.social" if platform == "mastodon" else "me"),
        post_id=pid,
        created_at=at,
        text=kw.pop("text", "hello there"),
        url=kw.pop("url", f"https://example.social/@me/{pid}"),
        **kw,
    )


def make_mention(at: datetime, author: str, platform: str = "mastodon", **kw: Any) -> Mention:
    mid = kw.pop("mention_id", f"m{next(_ids)}")
    return Mention(
        platform=platform,
        account="me@example.social",
        mention_id=mid,
        author=author,
        created_at=at,
        text=kw.pop("text", "@me what do you think?"),
        url=kw.pop("url", f"https://example.social/@{author}/{mid}"),
        thread_root=kw.pop("thread_root", mid),
        **kw,
    )


def write_config(home: Path, text: str) -> Config:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)
    return load_config()


def build_db(
    path: Path,
    posts: list[tuple[Post, str | None]] | None = None,
    mentions: list[Mention] | None = None,
    corrections: list[tuple[Post, str]] | None = None,
) -> Path:
    """Create ``path`` with ``posts`` (each with its model label, or None for unlabelled)."""
    with open_store(path) as store:
        if posts:
            store.upsert_posts([p for p, _ in posts])
            store.save_labels(
                [LabelRow(p.platform, p.post_id, lb, 0.9, "test", "t1") for p, lb in posts if lb]
            )
        if mentions:
            store.upsert_mentions(mentions)
        for p, lb in corrections or []:
            store.set_correction(p.platform, p.post_id, lb)
    return path
