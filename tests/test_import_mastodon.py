"""engage import of Mastodon archives: zip, tar.gz and folder; every field of every post."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import Post
from connectors.mastodon_archive import (
    MastodonArchiveImporter,
    account_from_actor,
    activity_to_post,
    status_id,
)
from engage.store import open_store
from tests.import_archives_build import (
    ACTOR,
    actor_json,
    announce,
    mastodon_files,
    note,
    outbox_json,
    sample_activities,
    write_folder,
    write_tar_gz,
    write_zip,
)

ACCOUNT = "pat@m.example"


def posts_by_id(db: Path) -> dict[str, Post]:
    with open_store(db, read_only=True) as store:
        return {p.post_id: p for batch in store.iter_posts() for p in batch}


def expected() -> dict[str, dict[str, object]]:
    acts = {a["id"].split("/")[-2]: a for a in sample_activities()}
    base = {
        "platform": "mastodon",
        "account": ACCOUNT,
        "source": "archive:outbox.json",
        "thread_root": None,
        "quoted_post": None,
        "client": None,  # the archive records no posting app
        "fetched_at": None,
    }
    rows: dict[str, dict[str, object]] = {
        "111": {
            "created_at": datetime(2023, 1, 2, 9, 0, tzinfo=UTC),
            "text": "New post about streaming JSON: blog.example/stream?a=1&b=2 #python",
            "kind": "post",
            "url": "https://m.example/@pat/111",
            "reply_to_post": None,
            "reply_to_user": None,
            "reposted_post": None,
            "urls": ["https://blog.example/stream?a=1&b=2"],  # not the hashtag link
            "mentions": [],
            "lang": "en",
        },
        "112": {
            "created_at": datetime(2023, 1, 3, 10, 30, tzinfo=UTC),
            "text": "@sam Thanks, that fixed it!\nNext question: tar or zip?",
            "kind": "reply",
            "url": "https://m.example/@pat/112",
            "reply_to_post": "https://other.example/users/sam/statuses/98765",
            "reply_to_user": "sam@other.example",
            "reposted_post": None,
            "urls": [],
            "mentions": ["sam@other.example"],
            "lang": "en",
        },
        "113": {
            "created_at": datetime(2023, 1, 3, 10, 35, tzinfo=UTC),
            "text": "And a follow-up to my own post.",
            "kind": "reply",
            "url": "https://m.example/@pat/113",
            "reply_to_post": "111",  # a post of the same server: the API's in_reply_to_id
            "reply_to_user": ACCOUNT,
            "reposted_post": None,
            "urls": [],
            "mentions": [],
            "lang": "de",
        },
        "114": {
            "created_at": datetime(2023, 1, 4, 12, 0, tzinfo=UTC),
            "text": "",
            "kind": "repost",
            "url": None,
            "reply_to_post": None,
            "reply_to_user": None,
            "reposted_post": "https://other.example/users/ada/statuses/4242",
            "urls": [],
            "mentions": [],
            "lang": None,
        },
    }
    return {pid: {**base, **row, "post_id": pid, "raw": acts[pid]} for pid, row in rows.items()}


def assert_all_fields(posts: dict[str, Post]) -> None:
    want = expected()
    assert sorted(posts) == sorted(want)  # 115, the direct message, is not imported
    for pid, fields in want.items():
        assert posts[pid].to_dict() == fields, pid


@pytest.mark.parametrize("container", ["zip", "tar.gz", "folder"])
def test_mastodon_archive_imports_every_field(tmp_path: Path, run_cli, container: str) -> None:
    files = mastodon_files()
    if container == "zip":
        path = write_zip(tmp_path / "archive-20240501.zip", files)
    elif container == "tar.gz":
        path = write_tar_gz(tmp_path / "archive-20240501.tar.gz", files)
    else:
        path = write_folder(tmp_path / "archive", files)
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(path), "--no-label")
    assert r.exit_code == 0, r.stderr
    assert "mastodon-archive" in r.stdout and ACCOUNT in r.stdout
    assert "4 read: 4 new, 0 updated, 0 skipped" in r.stdout
    assert_all_fields(posts_by_id(db))


def test_total_items_is_never_trusted(tmp_path: Path, run_cli) -> None:
    acts = [note(str(500 + i), f"<p>post {i}</p>", "2023-02-01T00:00:00Z") for i in range(6)]
    for total in (0, 2, 600):
        files = mastodon_files(acts)
        files["outbox.json"] = json.dumps(outbox_json(acts, total=total))
        path = write_zip(tmp_path / f"a{total}.zip", files)
        db = tmp_path / f"e{total}.duckdb"
        assert run_cli("--db", str(db), "import", str(path), "--no-label").exit_code == 0
        assert len(posts_by_id(db)) == 6


def test_outbox_keys_in_any_order(tmp_path: Path, run_cli) -> None:
    acts = [note("700", "<p>hello</p>", "2023-02-01T00:00:00Z")]
    body = {"orderedItems": acts, "type": "OrderedCollection", "totalItems": 1}
    files = mastodon_files(acts)
    files["outbox.json"] = json.dumps(body)
    db = tmp_path / "e.duckdb"
    path = write_folder(tmp_path / "arch", files)
    assert run_cli("--db", str(db), "import", str(path), "--no-label").exit_code == 0
    assert posts_by_id(db)["700"].text == "hello"


def test_account_from_actor_json() -> None:
    assert account_from_actor(actor_json()) == ACCOUNT
    old_style = {"id": "https://old.example/users/kim", "preferredUsername": "kim"}
    assert account_from_actor(old_style) == "kim@old.example"
    with_webfinger = {**old_style, "webfinger": "acct:kim@example.org".removeprefix("acct:")}
    assert account_from_actor(with_webfinger) == "kim@example.org"


def test_status_ids_match_the_api() -> None:
    assert status_id("https://m.example/users/pat/statuses/1234") == "1234"
    assert status_id(f"{ACTOR}/statuses/1234/activity") == "1234"
    boost = activity_to_post(
        announce("99", "https://x.example/@a/1", "2023-01-01T00:00:00Z"), ACCOUNT, ACTOR, "s"
    )
    assert boost is not None and boost.post_id == "99"


def test_other_activity_types_and_objects_are_skipped() -> None:
    assert activity_to_post({"type": "Like", "object": "x"}, ACCOUNT, ACTOR, "s") is None
    create_question = note("5", "<p>poll?</p>", "2023-01-01T00:00:00Z")
    create_question["object"]["type"] = "Question"
    post = activity_to_post(create_question, ACCOUNT, ACTOR, "s")
    assert post is not None and post.text == "poll?"
    quote = note("6", "<p>look</p>", "2023-01-01T00:00:00Z")
    quote["object"]["quote"] = "https://o.example/users/a/statuses/7"
    post = activity_to_post(quote, ACCOUNT, ACTOR, "s")
    assert post is not None and (post.kind, post.quoted_post) == (
        "quote",
        "https://o.example/users/a/statuses/7",
    )


def test_detect(tmp_path: Path) -> None:
    z = write_zip(tmp_path / "m.zip", mastodon_files())
    assert MastodonArchiveImporter.detect(z)
    assert MastodonArchiveImporter(z).account() == ACCOUNT
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert not MastodonArchiveImporter.detect(other)
