"""The three platforms of the reliability tests: the existing fakes (Mastodon, X, Bluesky), each
behind a ``FaultProxy``, seeded with several pages of posts and mentions, and the account added
through the real CLI. A rig knows what a complete fetch must store, so a test can check "every
post exactly once" without a second clean run."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bluesky_fake_xrpc import FakeBluesky
from fetch_fake_mastodon import FakeMastodon
from fetch_fake_x import FakeX, LoopbackAdapter
from reliability_support import REPO, FaultProxy

BLUESKY_T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BOB = "did:plc:bob7fakebbbbbbbbbbbbbbbb"

#: the module a subprocess runs instead of ``python -m engage`` when X is configured: it only
#: sends tweepy's fixed https://api.twitter.com to the proxy (ENGAGE_TEST_X_BASE), then runs the
#: real CLI entry point
X_LAUNCHER = str(REPO / "tests" / "reliability_launch.py")


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class Rig:
    platform: str
    account: str  # the account name engage gives it
    posts_path: str  # a substring of the own-posts endpoint's path
    mentions_path: str
    resume_param: str  # the query parameter that carries a resumed cursor
    proxy: FaultProxy
    fake: Any
    expected_posts: set[tuple[str, str]] = field(default_factory=set)
    expected_mentions: set[tuple[str, str]] = field(default_factory=set)
    secrets: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # for subprocesses of the CLI

    def requests_to(self, part: str) -> list[Any]:
        """Requests the fake received whose path contains ``part``."""
        if self.platform == "bluesky":
            return [r for r in self.fake.requests if part in r.nsid]
        return [r for r in self.fake.server.requests if part in r.path]

    def query_arg(self, request: Any, name: str) -> str | None:
        if self.platform == "bluesky":
            return request.arg(name)
        return request.arg(name)


# -- Mastodon -------------------------------------------------------------------------------------


def _seed_mastodon(fm: FakeMastodon, n_posts: int, n_mentions: int) -> Rig:
    for i in range(n_posts):
        if i % 7 == 3:
            fm.boost(f"a thread worth reading {i}")
        else:
            fm.post(f"post number {i} about backups", app="Ivory" if i % 2 else "dlvr.it")
    for i in range(n_mentions):
        fm.mention(f"question {i} for you?")
    return Rig(
        "mastodon",
        "mastodon:alice@127.0.0.1",
        "/statuses",
        "/notifications",
        "max_id",
        proxy=None,  # type: ignore[arg-type]
        fake=fm,
        expected_posts={("mastodon", s["id"]) for s in fm.statuses},
        expected_mentions={
            ("mastodon", n["status"]["id"])
            for n in fm.notifications
            if n["type"] in ("mention", "quote")
        },
        secrets=(fm.token, "client-secret-SECRET-2"),
    )


@contextmanager
def mastodon_rig(
    run_cli: Callable[..., Any], *, n_posts: int = 90, n_mentions: int = 6, delay: float = 0.0
) -> Iterator[Rig]:
    with FakeMastodon() as fm, FaultProxy(fm.base, delay=delay) as proxy:
        rig = _seed_mastodon(fm, n_posts, n_mentions)
        rig.proxy = proxy
        r = run_cli(
            "account",
            "add",
            "mastodon",
            "--instance",
            proxy.url,
            "--token-stdin",
            input=fm.token + "\n",
        )
        assert r.exit_code == 0, r.stderr
        yield rig


# -- X --------------------------------------------------------------------------------------------


def _seed_x(fx: FakeX, n_posts: int, n_mentions: int) -> None:
    first = None
    for i in range(n_posts):
        if i % 9 == 4:
            fx.tweet(f"RT @bob: worth reading {i}", refs=[("retweeted", str(1500 + i))])
        else:
            t = fx.tweet(f"tweet number {i} https://t.co/x{i}")
            first = first or t
    for i in range(n_mentions):
        fx.mention(f"what do you think {i}?", reply_to=first["id"] if first and i % 2 else None)


def x_session_mounter(base: str) -> Callable[[Any], Any]:
    def mount(session: Any) -> Any:
        adapter = LoopbackAdapter(base)
        session.mount("https://api.twitter.com", adapter)
        session.mount("https://api.x.com", adapter)
        return session

    return mount


@contextmanager
def x_rig(
    run_cli: Callable[..., Any],
    monkeypatch: Any,
    *,
    n_posts: int = 250,
    n_mentions: int = 12,
    delay: float = 0.0,
) -> Iterator[Rig]:
    import connectors.x as cx

    with FakeX() as fx, FaultProxy(fx.base, delay=delay) as proxy:
        _seed_x(fx, n_posts, n_mentions)
        monkeypatch.setattr(cx, "prepare_session", x_session_mounter(proxy.url))
        rig = Rig(
            "x",
            "x:alice",
            "/tweets",
            "/mentions",
            "until_id",
            proxy=proxy,
            fake=fx,
            expected_posts={("x", t["id"]) for t in fx.tweets},
            expected_mentions={("x", t["id"]) for t in fx.mentions},
            secrets=(fx.bearer,),
            env={"ENGAGE_TEST_X_BASE": proxy.url},
        )
        r = run_cli(
            "account", "add", "x", "--username", "alice", "--token-stdin", input=fx.bearer + "\n"
        )
        assert r.exit_code == 0, r.stderr
        yield rig


# -- Bluesky --------------------------------------------------------------------------------------


def _seed_bluesky(fake: FakeBluesky, n_posts: int, n_mentions: int) -> None:
    for i in range(n_posts):
        when = BLUESKY_T0 + timedelta(minutes=i)
        fake.add_record(
            "app.bsky.feed.post",
            {
                "$type": "app.bsky.feed.post",
                "text": f"skeet number {i}",
                "createdAt": _iso(when),
                "langs": ["en"],
            },
        )
    for i in range(n_mentions):
        fake.add_notification(
            "mention",
            BOB,
            "bob.test",
            {
                "$type": "app.bsky.feed.post",
                "text": f"@alice.test question {i}?",
                "createdAt": _iso(BLUESKY_T0),
                "langs": ["en"],
            },
            f"2024-03-01T12:{i // 60:02d}:{i % 60:02d}.000Z",
            f"3kbob{i:08d}",
        )


@contextmanager
def bluesky_rig(
    run_cli: Callable[..., Any],
    monkeypatch: Any,
    *,
    n_posts: int = 250,
    n_mentions: int = 8,
    delay: float = 0.0,
    access_ttl: int = 7200,
) -> Iterator[Rig]:
    fake = FakeBluesky(access_ttl=access_ttl).start()
    with ExitStack() as stack:
        stack.callback(fake.stop)
        proxy = stack.enter_context(FaultProxy(fake.url, delay=delay))
        fake.url = proxy.url  # the DID document sends the SDK to the proxy, not around it
        _seed_bluesky(fake, n_posts, n_mentions)
        rig = Rig(
            "bluesky",
            "bluesky:alice.test",
            "listRecords",
            "listNotifications",
            "cursor",
            proxy=proxy,
            fake=fake,
            expected_posts={
                ("bluesky", f"at://{fake.did}/{coll}/{rkey}")
                for coll, recs in fake.records.items()
                for rkey in recs
            },
            expected_mentions={("bluesky", n["uri"]) for n in fake.notifications},
            secrets=(fake.app_password, fake.main_password),
        )
        monkeypatch.setenv("ENGAGE_BLUESKY_APP_PASSWORD", fake.app_password)
        r = run_cli("account", "add", "bluesky", "--handle", fake.handle, "--service", proxy.url)
        monkeypatch.delenv("ENGAGE_BLUESKY_APP_PASSWORD")
        assert r.exit_code == 0, r.stderr
        yield rig


def session_tokens(fake: FakeBluesky) -> set[str]:
    """Every access and refresh token the fake Bluesky handed out (all of them secrets)."""
    return set(fake.access_tokens) | set(fake.refresh_tokens)


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def cli_command(*args: str) -> list[str]:
    """``python <launcher> ARGS``: the real CLI entry point in a subprocess (X's fixed host sent
    to the proxy when ENGAGE_TEST_X_BASE is set)."""
    return [sys.executable, X_LAUNCHER, *args]


def subprocess_env(home: Path, *rigs: Rig) -> dict[str, str]:
    env = dict(os.environ)
    env["ENGAGE_HOME"] = str(home)
    env.pop("ENGAGE_DB", None)
    env["TZ"] = "UTC"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    for rig in rigs:
        env.update(rig.env)
    return env
