"""Bluesky: the record -> Post conversion, and fetches through the real ``atproto`` SDK against a
fake PDS on 127.0.0.1 (tests/bluesky_fake_xrpc.py): account add, first and incremental fetches,
rate limits, interrupted fetches, session reuse and refresh, mentions, fetch after a CAR import."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bluesky_car_build import Repo
from bluesky_fake_xrpc import FakeBluesky, tid

from connectors.base import AccountInfo, FetchSettings
from connectors.bluesky import (
    BlueskyConnector,
    make_client,
    notification_to_mention,
    record_to_post,
    tid_time,
)
from engage import credentials
from engage.store import open_store

DID = "did:plc:alice7fakeaaaaaaaaaaaaaa"
BOB = "did:plc:bob7fakebbbbbbbbbbbbbbbb"
CAROL = "did:plc:carol7fakecccccccccccccc"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def post_record(text: str, when: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": iso(when),
        "langs": ["en"],
        **extra,
    }


def facet(text: str, part: str, feature: dict[str, Any]) -> dict[str, Any]:
    start = text.encode().index(part.encode())
    return {
        "index": {"byteStart": start, "byteEnd": start + len(part.encode())},
        "features": [feature],
    }


def sample_records(fake: FakeBluesky) -> dict[str, str]:
    """A post with a mention and a link, a link card, a reply, a quote, a repost; returns their
    AT-URIs by name."""
    uris: dict[str, str] = {}
    t = "Hi @bob.test, read https://example.com/a 🎉"
    uris["plain"] = fake.add_record(
        "app.bsky.feed.post",
        post_record(
            t,
            T0,
            facets=[
                facet(t, "@bob.test", {"$type": "app.bsky.richtext.facet#mention", "did": BOB}),
                facet(
                    t,
                    "https://example.com/a",
                    {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"},
                ),
            ],
        ),
    )
    uris["card"] = fake.add_record(
        "app.bsky.feed.post",
        post_record(
            "New on the blog",
            T0 + timedelta(minutes=1),
            langs=["de", "en"],
            embed={
                "$type": "app.bsky.embed.external",
                "external": {"uri": "https://blog.example/p/1", "title": "P1", "description": "d"},
            },
        ),
    )
    root = f"at://{BOB}/app.bsky.feed.post/3kbobroot2222"
    uris["reply"] = fake.add_record(
        "app.bsky.feed.post",
        post_record(
            "I agree",
            T0 + timedelta(minutes=2),
            reply={
                "root": {"uri": root, "cid": "bafyreia"},
                "parent": {"uri": root, "cid": "bafyreia"},
            },
        ),
    )
    uris["self_reply"] = fake.add_record(
        "app.bsky.feed.post",
        post_record(
            "and more",
            T0 + timedelta(minutes=3),
            reply={
                "root": {"uri": uris["plain"], "cid": "bafyreib"},
                "parent": {"uri": uris["plain"], "cid": "bafyreib"},
            },
        ),
    )
    uris["quote"] = fake.add_record(
        "app.bsky.feed.post",
        post_record(
            "look at this",
            T0 + timedelta(minutes=4),
            embed={
                "$type": "app.bsky.embed.recordWithMedia",
                "record": {
                    "$type": "app.bsky.embed.record",
                    "record": {
                        "uri": f"at://{CAROL}/app.bsky.feed.post/3kcarol222222",
                        "cid": "bafyreic",
                    },
                },
                "media": {
                    "$type": "app.bsky.embed.external",
                    "external": {"uri": "https://news.example/x", "title": "", "description": ""},
                },
            },
        ),
    )
    uris["repost"] = fake.add_record(
        "app.bsky.feed.repost",
        {
            "$type": "app.bsky.feed.repost",
            "createdAt": iso(T0 + timedelta(minutes=5)),
            "subject": {"uri": f"at://{CAROL}/app.bsky.feed.post/3kcarol333333", "cid": "bafyreid"},
        },
    )
    # not a post: never imported
    fake.add_record(
        "app.bsky.feed.like",
        {
            "$type": "app.bsky.feed.like",
            "createdAt": iso(T0),
            "subject": {"uri": f"at://{CAROL}/app.bsky.feed.post/3kcarol333333", "cid": "bafyreid"},
        },
    )
    return uris


def bulk_posts(fake: FakeBluesky, n: int, start: datetime) -> None:
    for i in range(n):
        fake.add_record(
            "app.bsky.feed.post", post_record(f"post {i}", start + timedelta(seconds=i))
        )


@pytest.fixture(autouse=True)
def _no_labelling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Labelling new posts is the classifier's business, tested with it; here a fetch only
    stores them (and never waits for a model to be trained)."""
    import engage.classify

    monkeypatch.setattr(engage.classify, "label_new_posts", lambda store, config: {})


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    server = FakeBluesky().start()
    try:
        yield server
    finally:
        server.stop()


def add_account(run_cli: Any, fake: FakeBluesky, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGAGE_BLUESKY_APP_PASSWORD", fake.app_password)
    r = run_cli("account", "add", "bluesky", "--handle", fake.handle, "--service", fake.url)
    assert r.exit_code == 0, r.stderr
    monkeypatch.delenv("ENGAGE_BLUESKY_APP_PASSWORD")


def db(engage_home: Path) -> Path:
    return engage_home / "engage.duckdb"


def stored_posts(engage_home: Path) -> dict[str, Any]:
    with open_store(db(engage_home), read_only=True) as store:
        return {p.post_id: p for batch in store.iter_posts() for p in batch}


# -------------------------------------------------------------------------------------------------
# normalising (pure)
# -------------------------------------------------------------------------------------------------


def test_record_to_post_fields() -> None:
    fake = FakeBluesky()
    fake.url = "http://unused"
    uris = sample_records(fake)

    def conv(name: str) -> Any:
        _, coll, rkey = uris[name][5:].split("/")
        return record_to_post(
            fake.records[coll][rkey],
            did=DID,
            handle="alice.test",
            collection=coll,
            rkey=rkey,
            source="api",
        )

    plain = conv("plain")
    rkey = uris["plain"].rsplit("/", 1)[1]
    assert plain.post_id == uris["plain"]
    assert plain.kind == "post"
    assert plain.text == "Hi @bob.test, read https://example.com/a 🎉"
    assert plain.created_at == T0
    assert plain.mentions == ["bob.test"]
    assert plain.urls == ["https://example.com/a"]
    assert plain.url == f"https://bsky.app/profile/alice.test/post/{rkey}"
    assert plain.lang == "en" and plain.client is None and plain.source == "api"
    assert plain.raw is not None and plain.raw["facets"][0]["features"][0]["did"] == BOB
    assert plain.account == "alice.test" and plain.platform == "bluesky"

    card = conv("card")
    assert (card.kind, card.urls, card.lang) == ("post", ["https://blog.example/p/1"], "de")

    reply = conv("reply")
    assert reply.kind == "reply"
    assert (
        reply.reply_to_post == reply.thread_root == f"at://{BOB}/app.bsky.feed.post/3kbobroot2222"
    )
    assert reply.reply_to_user == BOB  # bob's handle is not known: his DID

    self_reply = conv("self_reply")
    assert self_reply.reply_to_user == "alice.test"  # a thread of one's own
    assert self_reply.reply_to_post == self_reply.thread_root == uris["plain"]

    quote = conv("quote")
    assert quote.kind == "quote"
    assert quote.quoted_post == f"at://{CAROL}/app.bsky.feed.post/3kcarol222222"
    assert quote.urls == ["https://news.example/x"]

    repost = conv("repost")
    assert repost.kind == "repost" and repost.text == "" and repost.url is None
    assert repost.reposted_post == f"at://{CAROL}/app.bsky.feed.post/3kcarol333333"


def test_mention_handles_from_text_known_or_did() -> None:
    t = "hey @Bob.Test and you"
    rec = post_record(
        t,
        T0,
        facets=[
            facet(t, "@Bob.Test", {"$type": "app.bsky.richtext.facet#mention", "did": BOB}),
            # a facet over text that is no handle: the known handle, else the DID
            facet(t, "you", {"$type": "app.bsky.richtext.facet#mention", "did": CAROL}),
            facet(t, "and", {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:x"}),
        ],
        reply={
            "root": {"uri": f"at://{CAROL}/app.bsky.feed.post/3k", "cid": "b"},
            "parent": {"uri": f"at://{BOB}/app.bsky.feed.post/3k", "cid": "b"},
        },
    )
    p = record_to_post(
        rec,
        did=DID,
        handle="alice.test",
        collection="app.bsky.feed.post",
        rkey="3kaaaaaaaaaa2",
        source="api",
        known_handles={CAROL: "carol.test"},
    )
    assert p is not None
    assert p.mentions == ["bob.test", "carol.test", "did:plc:x"]
    assert p.reply_to_user == "bob.test"  # the parent's author is mentioned in the post


def test_other_records_and_bad_times() -> None:
    like = {"$type": "app.bsky.feed.like", "createdAt": iso(T0), "subject": {"uri": "at://a/b/c"}}
    assert (
        record_to_post(
            like, did=DID, handle="a", collection="app.bsky.feed.like", rkey="3k", source="api"
        )
        is None
    )
    # a missing createdAt falls back to the time in the TID
    key = tid(int(T0.timestamp() * 1_000_000))
    assert tid_time(key) == T0
    p = record_to_post(
        {"text": "x"}, did=DID, handle="a", collection="app.bsky.feed.post", rkey=key, source="api"
    )
    assert p is not None and p.created_at == T0
    with pytest.raises(ValueError):
        record_to_post(
            {"text": "x"},
            did=DID,
            handle="a",
            collection="app.bsky.feed.post",
            rkey="self",
            source="api",
        )


def test_notification_to_mention() -> None:
    fake = FakeBluesky()
    fake.url = "http://unused"
    uri = fake.add_notification(
        "reply",
        BOB,
        "bob.test",
        post_record(
            "@alice.test yes",
            T0,
            reply={
                "root": {"uri": f"at://{DID}/app.bsky.feed.post/3kroot2222222", "cid": "b"},
                "parent": {"uri": f"at://{DID}/app.bsky.feed.post/3kpar22222222", "cid": "b"},
            },
        ),
        "2024-03-01T12:00:01.000Z",
        "3kbobreply222",
    )
    m = notification_to_mention(fake.notifications[0], "alice.test")
    assert m is not None
    assert (m.mention_id, m.author, m.kind, m.text) == (uri, "bob.test", "reply", "@alice.test yes")
    assert m.reply_to_post == f"at://{DID}/app.bsky.feed.post/3kpar22222222"
    assert m.thread_root == f"at://{DID}/app.bsky.feed.post/3kroot2222222"
    assert m.url == "https://bsky.app/profile/bob.test/post/3kbobreply222"
    assert m.created_at == T0 and m.account == "alice.test"
    like = dict(fake.notifications[0], reason="like")
    assert notification_to_mention(like, "alice.test") is None


# -------------------------------------------------------------------------------------------------
# account add
# -------------------------------------------------------------------------------------------------


def test_account_add_from_env_keeps_only_the_session(
    run_cli: Any, fake: FakeBluesky, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_BLUESKY_APP_PASSWORD", fake.app_password)
    r = run_cli("account", "add", "bluesky", "--handle", "@alice.test", "--service", fake.url)
    assert r.exit_code == 0, r.stderr
    assert "alice.test" in r.stdout
    assert len(fake.calls("com.atproto.server.createSession")) == 1
    creds_file = engage_home / "credentials.json"
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    stored = credentials.get("bluesky:alice.test")
    assert set(stored) == {"auth", "session_string"}
    assert fake.app_password not in creds_file.read_text()
    session = stored["session_string"]
    assert session.split(":::")[1] == DID and session.split(":::")[4] == fake.url
    with open_store(db(engage_home), read_only=True) as store:
        acc = store.get_account("bluesky:alice.test")
    assert acc is not None
    assert (acc.platform, acc.handle, acc.user_id, acc.base_url) == (
        "bluesky",
        "alice.test",
        DID,
        fake.url,
    )
    # no secret anywhere but the credentials file
    blob = db(engage_home).read_bytes()
    for secret in (fake.app_password, session.split(":::")[2], session.split(":::")[3]):
        assert secret.encode() not in blob
        assert secret not in r.stdout + r.stderr


def test_account_add_reads_app_password_from_stdin(run_cli: Any, fake: FakeBluesky) -> None:
    r = run_cli(
        "account",
        "add",
        "bluesky",
        "--handle",
        "alice.test",
        "--service",
        fake.url,
        "--name",
        "me",
        input=fake.app_password + "\n",
    )
    assert r.exit_code == 0, r.stderr
    assert fake.app_password not in r.stdout + r.stderr
    assert fake.calls("com.atproto.server.createSession")[0].body["password"] == fake.app_password
    assert "session_string" in credentials.get("me")


def test_account_add_refuses_wrong_and_main_passwords(
    run_cli: Any, fake: FakeBluesky, engage_home: Path
) -> None:
    r = run_cli(
        "account",
        "add",
        "bluesky",
        "--handle",
        "alice.test",
        "--service",
        fake.url,
        input="wrong-password\n",
    )
    assert r.exit_code == 4
    assert "refused" in r.stderr and "wrong-password" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if "error" in line]) == 1
    assert "Traceback" not in r.stderr
    r = run_cli(
        "account",
        "add",
        "bluesky",
        "--handle",
        "alice.test",
        "--service",
        fake.url,
        input=fake.main_password + "\n",
    )
    assert r.exit_code == 2
    assert "app password" in r.stderr and fake.main_password not in r.stderr
    assert credentials.load_all() == {}


# -------------------------------------------------------------------------------------------------
# fetch
# -------------------------------------------------------------------------------------------------


def test_first_and_incremental_fetch(
    run_cli: Any, fake: FakeBluesky, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uris = sample_records(fake)
    bulk_posts(fake, 230, T0 - timedelta(days=30))  # three listRecords pages of posts
    add_account(run_cli, fake, monkeypatch)
    r = run_cli("fetch")
    assert r.exit_code == 0, r.stderr
    posts = stored_posts(engage_home)
    assert len(posts) == 236
    assert set(uris.values()) <= set(posts)
    assert posts[uris["quote"]].kind == "quote" and posts[uris["repost"]].kind == "repost"
    assert posts[uris["plain"]].mentions == ["bob.test"]
    assert all(p.source == "api" and p.fetched_at is not None for p in posts.values())
    listed = fake.calls("com.atproto.repo.listRecords")
    assert all(r.arg("limit") == "100" for r in listed)
    # 235 posts: pages of 100, 100 and 35, then the empty page that ends the listing
    assert [r.arg("collection") for r in listed].count("app.bsky.feed.post") == 4

    # the second fetch reads one page per collection and stores only what is new
    before = len(listed)
    later = datetime.now(UTC).replace(microsecond=0)
    new1 = fake.add_record("app.bsky.feed.post", post_record("fresh one", later))
    new2 = fake.add_record(
        "app.bsky.feed.repost",
        {
            "$type": "app.bsky.feed.repost",
            "createdAt": iso(later + timedelta(seconds=1)),
            "subject": {"uri": f"at://{BOB}/app.bsky.feed.post/3kbob2222222x", "cid": "bafyreie"},
        },
    )
    r = run_cli("fetch")
    assert r.exit_code == 0, r.stderr
    posts2 = stored_posts(engage_home)
    assert set(posts2) - set(posts) == {new1, new2}
    assert len(fake.calls("com.atproto.repo.listRecords")) - before == 2
    # nothing new: nothing changes
    r = run_cli("fetch")
    assert r.exit_code == 0, r.stderr
    assert stored_posts(engage_home).keys() == posts2.keys()
    # sessions are reused: one login in all
    assert len(fake.calls("com.atproto.server.createSession")) == 1


def test_rate_limited_fetch_stops_and_resumes_without_gaps(
    run_cli: Any, fake: FakeBluesky, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk_posts(fake, 250, T0)
    add_account(run_cli, fake, monkeypatch)
    # the second listRecords call is refused until an hour from now: past the allowed wait
    fake.fail_429["com.atproto.repo.listRecords"] = [(1, int(time.time()) + 3600)]
    r = run_cli("fetch")
    assert r.exit_code == 4
    assert "rate limited until" in r.stderr and "resumes" in r.stderr
    assert len(stored_posts(engage_home)) == 100  # the first page was committed
    with open_store(db(engage_home), read_only=True) as store:
        cursor = store.get_cursor("bluesky:alice.test", "posts")
    assert cursor is not None
    window = cursor["collections"]["app.bsky.feed.post"]["window"]
    assert window["cursor"] is not None  # the walk in progress is remembered

    # newer posts arrive meanwhile; the rerun finishes the old walk and then picks them up
    bulk_posts(fake, 5, datetime.now(UTC).replace(microsecond=0))
    fake.fail_429.clear()
    n = len(fake.requests)
    r = run_cli("fetch")
    assert r.exit_code == 0, r.stderr
    assert len(stored_posts(engage_home)) == 255
    resumed = [q for q in fake.requests[n:] if q.nsid == "com.atproto.repo.listRecords"]
    assert resumed[0].arg("cursor") == window["cursor"]
    # and the next fetch reads only the newest page
    n = len(fake.requests)
    assert run_cli("fetch").exit_code == 0
    assert len([q for q in fake.requests[n:] if q.nsid == "com.atproto.repo.listRecords"]) == 2


def test_rate_limit_waits_for_the_reset(fake: FakeBluesky) -> None:
    bulk_posts(fake, 150, T0)
    slept: list[float] = []
    reset = int(time.time()) + 120
    fake.fail_429["com.atproto.repo.listRecords"] = [(1, reset)]
    client = make_client(fake.url)
    client.login(fake.handle, fake.app_password, fetch_bsky_profile=False)
    acc = AccountInfo("bs", "bluesky", fake.handle, fake.did, fake.url)
    conn = BlueskyConnector(client, acc, FetchSettings(sleep=slept.append))
    pages = list(conn.fetch("posts", None))
    assert sum(len(p.posts) for p in pages) == 150
    assert len(slept) == 1 and 110 <= slept[0] <= 125  # waited for ratelimit-reset, once
    # pages of 100 and 50, the retry, the empty last page, the (empty) reposts
    assert len(fake.calls("com.atproto.repo.listRecords")) == 5


def test_session_is_refreshed_and_persisted(
    run_cli: Any, fake: FakeBluesky, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample_records(fake)
    fake.access_ttl = 60  # within the SDK's 15-minute margin: refreshed before the first use
    add_account(run_cli, fake, monkeypatch)
    first = credentials.get("bluesky:alice.test")["session_string"]
    fake.access_ttl = 7200
    assert run_cli("fetch").exit_code == 0
    assert len(fake.calls("com.atproto.server.refreshSession")) == 1
    second = credentials.get("bluesky:alice.test")["session_string"]
    assert second != first  # the rotated session was saved
    assert first.split(":::")[3] not in fake.refresh_tokens  # the old refresh token is spent
    assert second.split(":::")[3] in fake.refresh_tokens
    # the next run uses the saved session as it is: no login, no refresh
    assert run_cli("fetch").exit_code == 0
    assert len(fake.calls("com.atproto.server.refreshSession")) == 1
    assert len(fake.calls("com.atproto.server.createSession")) == 1
    assert stat.S_IMODE((engage_home / "credentials.json").stat().st_mode) == 0o600


def test_expired_session_asks_to_add_the_account_again(
    run_cli: Any, fake: FakeBluesky, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.access_ttl = 60
    add_account(run_cli, fake, monkeypatch)
    fake.refresh_tokens.clear()  # revoked on the server
    r = run_cli("fetch")
    assert r.exit_code == 4
    assert "engage account add" in r.stderr
    session = credentials.get("bluesky:alice.test")["session_string"]
    assert session.split(":::")[3] not in r.stderr


def test_mentions_are_fetched_incrementally(
    run_cli: Any, fake: FakeBluesky, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample_records(fake)
    for i in range(120):
        fake.add_notification(
            "mention",
            BOB,
            "bob.test",
            post_record(f"@alice.test {i}", T0),
            f"2024-03-01T12:{i // 60:02d}:{i % 60:02d}.000Z",
            f"3kbob{i:08d}",
        )
    fake.add_notification(
        "like",
        BOB,
        "bob.test",
        {"$type": "app.bsky.feed.like"},
        "2024-03-01T13:00:00.000Z",
        "3kboblike2222",
    )
    add_account(run_cli, fake, monkeypatch)
    assert run_cli("fetch").exit_code == 0
    with open_store(db(engage_home), read_only=True) as store:
        mentions = store.iter_mentions()
    assert len(mentions) == 120
    assert {m.author for m in mentions} == {"bob.test"}
    calls = fake.calls("app.bsky.notification.listNotifications")
    assert len(calls) == 2
    assert sorted(calls[0].query["reasons"]) == ["mention", "quote", "reply"]
    fake.add_notification(
        "quote",
        CAROL,
        "carol.test",
        post_record("quoting you", T0),
        "2024-03-02T00:00:00.000Z",
        "3kcarolq22222",
    )
    assert run_cli("fetch").exit_code == 0
    with open_store(db(engage_home), read_only=True) as store:
        mentions = store.iter_mentions()
    assert len(mentions) == 121
    assert len(fake.calls("app.bsky.notification.listNotifications")) == 3


def test_without_appview_posts_are_kept_and_mentions_noted(
    run_cli: Any, fake: FakeBluesky, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uris = sample_records(fake)
    fake.appview = False
    add_account(run_cli, fake, monkeypatch)
    r = run_cli("fetch")
    assert r.exit_code == 0, r.stderr
    assert set(stored_posts(engage_home)) == set(uris.values())
    assert "mentions not fetched" in r.stdout + r.stderr
    assert "no AppView" in r.stdout + r.stderr


def test_fetch_after_car_import_adds_nothing_twice(
    run_cli: Any,
    fake: FakeBluesky,
    engage_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    uris = sample_records(fake)
    add_account(run_cli, fake, monkeypatch)
    repo = Repo(DID, {f"{c}/{k}": v for c, recs in fake.records.items() for k, v in recs.items()})
    car = tmp_path / "repo.car"
    car.write_bytes(repo.car())
    r = run_cli("import", str(car), "--no-label")
    assert r.exit_code == 0, r.stderr
    imported = stored_posts(engage_home)
    assert set(imported) == set(uris.values())
    assert {p.source for p in imported.values()} == {"archive:repo.car"}
    r = run_cli("fetch")
    assert r.exit_code == 0, r.stderr
    fetched = stored_posts(engage_home)
    assert fetched.keys() == imported.keys()
    for key, p in fetched.items():
        q = imported[key]
        for f in (
            "account",
            "url",
            "created_at",
            "text",
            "kind",
            "reply_to_post",
            "reply_to_user",
            "quoted_post",
            "reposted_post",
            "thread_root",
            "urls",
            "mentions",
            "client",
            "lang",
        ):
            assert getattr(p, f) == getattr(q, f), (key, f)
        assert json.loads(json.dumps(p.raw)) == json.loads(json.dumps(q.raw))


def test_connector_reprs_hold_no_secrets(fake: FakeBluesky, engage_home: Path) -> None:
    client = make_client(fake.url)
    client.login(fake.handle, fake.app_password, fetch_bsky_profile=False)
    session = client.export_session_string()
    acc = AccountInfo("bs", "bluesky", fake.handle, fake.did, fake.url)
    conn = BlueskyConnector.from_account(
        acc, credentials.SecretMap({"session_string": session}), FetchSettings()
    )
    assert conn.updated_secrets() is None  # nothing refreshed yet
    for text in (repr(conn), repr(conn.client._session), repr(acc)):
        assert session.split(":::")[2] not in text
    assert os.environ.get("ENGAGE_BLUESKY_APP_PASSWORD") is None
