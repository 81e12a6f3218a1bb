"""X end to end: account setup and fetches through the real CLI and tweepy against a fake X API
on 127.0.0.1 (tweepy's fixed host is rewritten by a mounted adapter)."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fetch_fake_x import ME_ID, FakeX
from fetch_helpers import quick_labels  # noqa: F401  (autouse fixture)

import connectors.x as cx
from connectors.base import Post
from engage import credentials, paths
from engage.store import open_store

SECRETS = ("x-app-bearer-SECRET-3", "x-user-token-SECRET", "x-refresh-SECRET")


@pytest.fixture
def fx(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeX]:
    with FakeX() as server:
        monkeypatch.setattr(cx, "prepare_session", server.mount)
        yield server


def _add_bearer(run_cli, fx: FakeX) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "account", "add", "x", "--username", "alice", "--token-stdin", input=fx.bearer + "\n"
    )
    assert r.exit_code == 0, r.stderr


def _rows() -> tuple[list[Post], list[Any]]:
    with open_store(paths.db_path(), read_only=True) as store:
        return [p for b in store.iter_posts() for p in b], store.iter_mentions()


def _clean(*texts: str) -> None:
    for t in texts:
        for s in SECRETS:
            assert s not in t


def _seed(fx: FakeX) -> None:
    first = fx.tweet(
        "new post https://t.co/abc",
        entities={
            "urls": [
                {
                    "start": 9,
                    "end": 25,
                    "url": "https://t.co/abc",
                    "expanded_url": "https://blog.example/a",
                }
            ]
        },
    )
    fx.tweet("RT @bob: worth reading", refs=[("retweeted", "1500")])
    fx.tweet("@bob yes, tomorrow", refs=[("replied_to", "1501")], in_reply_to_user_id="2244994945")
    fx.tweet("this, again", refs=[("quoted", first["id"])])
    fx.mention("congrats!", reply_to=first["id"])
    fx.mention("look", quote=first["id"])
    fx.mention("ping")


def test_pkce_sign_in_with_a_pasted_redirect_url(
    run_cli, fx: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    flows: list[cx.PkceFlow] = []
    real_start = cx.start_pkce

    def start(*args: Any, **kwargs: Any) -> cx.PkceFlow:
        flow = real_start(*args, **kwargs)
        flows.append(flow)
        # what X's authorize page does: remember the challenge, send the browser back with a code
        challenge = parse_qs(urlsplit(flow.url).query)["code_challenge"][0]
        fx.pending_codes["the-code"] = challenge
        return flow

    class Paste(io.StringIO):
        def readline(self, *args: Any) -> str:
            return f"http://127.0.0.1:8080/callback?state={flows[0].state}&code=the-code\n"

        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(cx, "start_pkce", start)
    monkeypatch.setattr("sys.stdin", Paste())
    r = run_cli("-vv", "account", "add", "x", "--username", "alice", "--client-id", "Q2xpZW50")
    assert r.exit_code == 0, r.stderr
    url = urlsplit(flows[0].url)
    q = parse_qs(url.query)
    assert q["code_challenge_method"] == ["S256"] and q["client_id"] == ["Q2xpZW50"]
    assert q["scope"] == ["tweet.read users.read offline.access"]
    assert flows[0].url in r.stderr
    stored = json.loads(paths.credentials_path().read_text())["x:alice"]
    assert stored["access_token"] == "x-user-token-SECRET-5"
    assert stored["refresh_token"] == "x-refresh-SECRET-6" and stored["client_id"] == "Q2xpZW50"
    assert stat.S_IMODE(paths.credentials_path().stat().st_mode) == 0o600
    _clean(r.stdout, r.stderr)
    with open_store(paths.db_path(), read_only=True) as store:
        (acc,) = store.list_accounts()
    assert (acc.handle, acc.user_id) == ("alice", ME_ID)


def test_a_redirect_url_from_another_authorization_is_refused(
    run_cli, fx: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("http://127.0.0.1:8080/callback?state=forged&code=x\n")
    )
    r = run_cli("account", "add", "x", "--username", "alice", "--client-id", "Q2xpZW50")
    assert r.exit_code == 4 and "state does not match" in r.stderr
    assert not paths.credentials_path().exists()


def test_bearer_token_from_env_and_user_token_checks_the_owner(
    run_cli, fx: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = run_cli("account", "add", "x", "--username", "alice")
    assert r.exit_code == 2 and "--client-id" in r.stderr
    monkeypatch.setenv("ENGAGE_X_BEARER_TOKEN", fx.bearer)
    r = run_cli("account", "add", "x", "--username", "@alice")
    assert r.exit_code == 0, r.stderr
    assert credentials.get("x:alice") == {"auth": "bearer", "bearer_token": fx.bearer}
    r = run_cli(
        "account",
        "add",
        "x",
        "--username",
        "carol",
        "--name",
        "x2",
        "--token-stdin",
        "--token-type",
        "user",
        input="x-user-token-SECRET-4\n",
    )
    assert r.exit_code == 2 and "belongs to @alice, not @carol" in r.stderr
    r = run_cli(
        "account", "add", "x", "--username", "alice", "--name", "x3", "--token-stdin", input="bad\n"
    )
    assert r.exit_code == 4 and "refused the token" in r.stderr
    _clean(r.stdout, r.stderr)


def test_first_and_second_fetch_tell_kinds_apart_and_say_the_api_limit_once(
    run_cli, fx: FakeX
) -> None:
    _seed(fx)
    _add_bearer(run_cli, fx)
    r = run_cli("-vv", "fetch")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "x:alice  4 new posts, 3 new mentions, 7 of 500 X reads used"
    assert "3,200" in lines[1] and "engage import" in lines[1] and "app" in lines[1]
    assert lines[2] == "labelled 4 new posts: 4 comment"
    posts, mentions = _rows()
    by_text = {p.text.split()[0]: p for p in posts}
    assert by_text["new"].kind == "post" and by_text["new"].urls == ["https://blog.example/a"]
    assert by_text["RT"].kind == "repost" and by_text["RT"].reposted_post == "1500"
    assert by_text["@bob"].kind == "reply" and by_text["@bob"].reply_to_user == "bob"
    assert (
        by_text["this,"].kind == "quote" and by_text["this,"].quoted_post == by_text["new"].post_id
    )
    assert all(p.client is None and p.thread_root for p in posts)
    first_id = by_text["new"].post_id
    assert sorted((m.kind, m.reply_to_post, m.author) for m in mentions) == [
        ("mention", None, "bob"),
        ("quote", first_id, "bob"),
        ("reply", first_id, "bob"),
    ]
    _clean(r.stdout, r.stderr)
    fx.tweet("one more")
    fx.mention("and you?")
    served = fx.served
    r = run_cli("fetch")
    assert r.stdout.splitlines() == [
        "x:alice  1 new post, 1 new mention, 2 of 500 X reads used",
        "labelled 1 new post: 1 comment",
    ]
    assert fx.served - served == 2  # only the new posts were read (and billed)
    assert len(_rows()[0]) == 5


def test_the_read_cap_stops_cleanly_and_the_next_fetch_continues(run_cli, fx: FakeX) -> None:
    for i in range(30):
        fx.tweet(f"tweet {i}")
    fx.mention("hello")
    _add_bearer(run_cli, fx)
    r = run_cli("fetch", "--max-reads", "20")  # posts may use 15, a quarter stays for mentions
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "x:alice  15 new posts, 1 new mention, 16 of 20 X reads used"
    assert any("read cap reached" in line for line in lines)
    assert fx.served == 16 <= 20
    r = run_cli("fetch", "--max-reads", "100")
    assert (
        r.stdout.splitlines()[0] == "x:alice  15 new posts, 0 new mentions, 15 of 100 X reads used"
    )
    posts = _rows()[0]
    assert sorted(p.post_id for p in posts) == sorted(t["id"] for t in fx.tweets)
    assert fx.served == 31  # every post read exactly once
    assert run_cli("fetch", "--max-reads", "0").exit_code == 2


def test_the_api_reach_ends_the_first_fetch_with_a_pointer_to_the_archive(
    run_cli, fx: FakeX
) -> None:
    for i in range(12):
        fx.tweet(f"tweet {i}")
    fx.reach = 8  # stands for X's 3,200
    _add_bearer(run_cli, fx)
    r = run_cli("fetch")
    assert r.stdout.splitlines()[0].startswith("x:alice  8 new posts")
    assert "import your X archive" in r.stdout


def test_rate_limit_interrupts_and_the_next_fetch_resumes_without_gaps(run_cli, fx: FakeX) -> None:
    for i in range(130):
        fx.tweet(f"tweet {i}")
    _add_bearer(run_cli, fx)
    fx.rate_limit_next(reset_in=3600, after=1)
    r = run_cli("fetch", "--max-reads", "1000")
    assert r.exit_code == 4
    assert len(r.stderr.strip().splitlines()) == 1 and "rate limited until" in r.stderr
    assert len(_rows()[0]) == 100
    r = run_cli("fetch", "--max-reads", "1000")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("x:alice  30 new posts")
    assert sorted(p.post_id for p in _rows()[0]) == sorted(t["id"] for t in fx.tweets)


def test_fetch_after_an_archive_import_keeps_the_archive_app(run_cli, fx: FakeX) -> None:
    for i in range(6):
        fx.tweet(f"tweet {i}")
    _add_bearer(run_cli, fx)
    with open_store(paths.db_path()) as store:
        store.upsert_posts(
            [
                Post(
                    platform="x",
                    account="alice",
                    post_id=t["id"],  # the archive's id_str
                    created_at=datetime.fromisoformat(t["created_at"].replace("Z", "+00:00")),
                    text=t["text"],
                    client="Buffer",
                    source="archive:data/tweets.js",
                )
                for t in fx.tweets[:3]
            ]
        )
    r = run_cli("fetch")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].startswith("x:alice  3 new posts, 0 new mentions")
    posts = {p.post_id: p for p in _rows()[0]}
    assert sorted(posts) == sorted(t["id"] for t in fx.tweets)
    assert [posts[t["id"]].client for t in fx.tweets] == ["Buffer"] * 3 + [None] * 3


def test_an_expired_user_token_is_refreshed_and_stored(run_cli, fx: FakeX) -> None:
    fx.tweet("hello")
    fx.refresh_tokens["x-refresh-SECRET-old"] = "x-user-token-SECRET-7"
    _add_bearer(run_cli, fx)
    credentials.put(
        "x:alice",
        {
            "auth": "oauth2",
            "access_token": "x-user-token-SECRET-expired",
            "refresh_token": "x-refresh-SECRET-old",
            "client_id": "Q2xpZW50",
            "expires_at": 1.0,
        },
    )
    r = run_cli("fetch")
    assert r.exit_code == 0, r.stderr
    stored = credentials.get("x:alice")
    assert stored["access_token"] == "x-user-token-SECRET-7"
    assert stored["refresh_token"] == "x-refresh-SECRET-8" and stored["expires_at"] > 1.0
    _clean(r.stdout, r.stderr)
