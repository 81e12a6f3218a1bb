"""The Bluesky repository CAR importer on CARs the tests build themselves
(tests/bluesky_car_build.py): the MST walk, every field, v2 repos, broken files, re-import and
interrupted imports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bluesky_car_build import Link, Repo, cid_of, dag_cbor

from connectors.bluesky import remember_identity
from connectors.bluesky_car import BlueskyCarImporter
from engage.importer import open_importer, run_import
from engage.store import open_store

DID = "did:plc:alice7fakeaaaaaaaaaaaaaa"
BOB = "did:plc:bob7fakebbbbbbbbbbbbbbbb"
CAROL = "did:plc:carol7fakecccccccccccccc"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
IMAGE = Link(b"\x01\x55\x12\x20" + bytes(range(32)))


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def records() -> dict[str, dict[str, Any]]:
    text = "Hi @bob.test see https://example.com/a"
    b = text.encode()
    recs: dict[str, dict[str, Any]] = {
        "app.bsky.feed.post/3kaaaaaaaaa22": {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": iso(T0),
            "langs": ["en"],
            "facets": [
                {
                    "index": {"byteStart": b.index(b"@bob"), "byteEnd": b.index(b"@bob") + 9},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BOB}],
                },
                {
                    "index": {"byteStart": b.index(b"https"), "byteEnd": len(b)},
                    "features": [
                        {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"}
                    ],
                },
            ],
        },
        "app.bsky.feed.post/3kaaaaaaaaa32": {
            "$type": "app.bsky.feed.post",
            "text": "card",
            "createdAt": iso(T0 + timedelta(1)),
            "embed": {
                "$type": "app.bsky.embed.external",
                "external": {
                    "uri": "https://blog.example/1",
                    "title": "t",
                    "description": "d",
                    "thumb": {
                        "$type": "blob",
                        "ref": IMAGE,
                        "mimeType": "image/jpeg",
                        "size": 1234,
                    },
                },
            },
        },
        "app.bsky.feed.post/3kaaaaaaaaa42": {
            "$type": "app.bsky.feed.post",
            "text": "reply",
            "createdAt": iso(T0 + timedelta(2)),
            "reply": {
                "root": {"uri": f"at://{BOB}/app.bsky.feed.post/3kbob", "cid": "bafyrei1"},
                "parent": {
                    "uri": f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaa22",
                    "cid": "bafyrei2",
                },
            },
        },
        "app.bsky.feed.post/3kaaaaaaaaa52": {
            "$type": "app.bsky.feed.post",
            "text": "quote",
            "createdAt": iso(T0 + timedelta(3)),
            "langs": ["fr"],
            "embed": {
                "$type": "app.bsky.embed.record",
                "record": {"uri": f"at://{CAROL}/app.bsky.feed.post/3kc", "cid": "bafy3"},
            },
        },
        "app.bsky.feed.repost/3kaaaaaaaaa62": {
            "$type": "app.bsky.feed.repost",
            "createdAt": iso(T0 + timedelta(4)),
            "subject": {"uri": f"at://{CAROL}/app.bsky.feed.post/3kd", "cid": "bafy4"},
        },
        "app.bsky.actor.profile/self": {"$type": "app.bsky.actor.profile", "displayName": "A"},
        "app.bsky.feed.like/3kaaaaaaaaa72": {
            "$type": "app.bsky.feed.like",
            "createdAt": iso(T0),
            "subject": {"uri": f"at://{CAROL}/app.bsky.feed.post/3kd", "cid": "bafy4"},
        },
        "app.bsky.graph.follow/3kaaaaaaaaa82": {
            "$type": "app.bsky.graph.follow",
            "createdAt": iso(T0),
            "subject": CAROL,
        },
    }
    for i in range(12):  # enough keys for subtrees on both sides of the root's entries
        recs[f"app.bsky.feed.post/3kb{i:010d}".replace("0", "a").replace("1", "b")] = {
            "$type": "app.bsky.feed.post",
            "text": f"bulk {i}",
            "createdAt": iso(T0 + timedelta(days=10, minutes=i)),
        }
    return recs


def write(tmp_path: Path, repo: Repo, name: str = "repo.car") -> Path:
    path = tmp_path / name
    path.write_bytes(repo.car())
    return path


def count(db: Path) -> int:
    with open_store(db) as store:
        return store.count_posts()


def test_walks_the_mst_and_converts_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, Repo(DID, records()))
    imp = open_importer(path)
    assert isinstance(imp, BlueskyCarImporter)
    assert imp.account() == DID  # no handle known for the DID yet
    items = list(imp.iter_items())
    assert len(items) == 17  # 16 posts and a repost; profile, like and follow are skipped
    by_id = {p.post_id: p for p in items}
    assert [p.post_id for p in items] == sorted(by_id)  # key order: stable
    plain = by_id[f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaa22"]
    assert plain.text == "Hi @bob.test see https://example.com/a"
    assert plain.kind == "post" and plain.mentions == ["bob.test"]
    assert plain.urls == ["https://example.com/a"] and plain.lang == "en"
    assert plain.created_at == T0 and plain.client is None
    assert plain.url == f"https://bsky.app/profile/{DID}/post/3kaaaaaaaaa22"
    assert plain.source == "archive:repo.car" and plain.platform == "bluesky"
    card = by_id[f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaa32"]
    assert card.urls == ["https://blog.example/1"]
    assert card.raw is not None
    thumb = card.raw["embed"]["external"]["thumb"]
    assert thumb["ref"] == {"$link": "bafkreiaaaebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4"}
    reply = by_id[f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaa42"]
    assert reply.kind == "reply"
    assert reply.reply_to_post == f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaa22"
    assert reply.thread_root == f"at://{BOB}/app.bsky.feed.post/3kbob"
    assert reply.reply_to_user == DID  # own DID, no handle known
    quote = by_id[f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaa52"]
    assert (quote.kind, quote.quoted_post, quote.lang) == (
        "quote",
        f"at://{CAROL}/app.bsky.feed.post/3kc",
        "fr",
    )
    repost = by_id[f"at://{DID}/app.bsky.feed.repost/3kaaaaaaaaa62"]
    assert (repost.kind, repost.text, repost.reposted_post) == (
        "repost",
        "",
        f"at://{CAROL}/app.bsky.feed.post/3kd",
    )
    assert repost.created_at == T0 + timedelta(4)


def test_account_handle_from_a_configured_account(tmp_path: Path) -> None:
    remember_identity(DID, "alice.test")  # what 'engage account add bluesky' records
    path = write(tmp_path, Repo(DID, records()))
    imp = BlueskyCarImporter(path)
    assert imp.account() == "alice.test"
    posts = {p.post_id: p for p in imp.iter_items()}
    p = posts[f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaa42"]
    assert p.url == "https://bsky.app/profile/alice.test/post/3kaaaaaaaaa42"
    assert p.reply_to_user == "alice.test" and p.account == "alice.test"


def test_v2_repository(tmp_path: Path) -> None:
    path = write(tmp_path, Repo(DID, records(), version=2))
    assert len(list(BlueskyCarImporter(path).iter_items())) == 17


def test_detects_a_car_without_the_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, Repo(DID, records()), name="export.bin")
    assert BlueskyCarImporter.detect(path)
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert not BlueskyCarImporter.detect(other)


def test_import_reimport_and_fields_in_the_database(
    run_cli: Any, tmp_path: Path, engage_home: Path
) -> None:
    path = write(tmp_path, Repo(DID, records()))
    r = run_cli("import", str(path), "--no-label")
    assert r.exit_code == 0, r.stderr
    assert "17 new" in r.stdout and "bluesky" in r.stdout
    db = engage_home / "engage.duckdb"
    assert count(db) == 17
    r = run_cli("import", str(path), "--no-label")
    assert r.exit_code == 0, r.stderr
    assert "0 new, 0 updated" in r.stdout
    assert count(db) == 17
    with open_store(db) as store:
        p = store.find_posts_by_id(f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaa22")[0]
    assert p.mentions == ["bob.test"] and p.urls == ["https://example.com/a"]


@pytest.mark.parametrize(
    ("name", "make", "problem"),
    [
        ("truncated", lambda car: car[: len(car) - 40], "truncated CAR file"),
        ("garbage", lambda car: b"this is not a CAR file at all" * 10, "not a CAR file"),
        ("empty", lambda car: b"", "not a CAR file"),
    ],
)
def test_broken_files_fail_cleanly(
    run_cli: Any, tmp_path: Path, engage_home: Path, name: str, make: Any, problem: str
) -> None:
    good = write(tmp_path, Repo(DID, records()), name="good.car")
    assert run_cli("import", str(good), "--no-label").exit_code == 0
    bad = tmp_path / f"{name}.car"
    bad.write_bytes(make(good.read_bytes()))
    db = engage_home / "engage.duckdb"
    r = run_cli("import", str(bad), "--no-label")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and problem in lines[0], r.stderr
    assert count(db) == 17  # unchanged


@pytest.mark.parametrize(
    ("drop", "problem"),
    [
        ({"commit"}, "commit block"),
        ({"mst-root"}, "MST block"),
        ({"mst-child"}, "MST block"),
        ({"app.bsky.feed.post/3kaaaaaaaaa32"}, "record app.bsky.feed.post/3kaaaaaaaaa32"),
    ],
)
def test_missing_blocks_fail_before_anything_is_saved(
    run_cli: Any, tmp_path: Path, engage_home: Path, drop: set[str], problem: str
) -> None:
    path = write(tmp_path, Repo(DID, records(), drop=drop), name="partial.car")
    r = run_cli("import", str(path), "--no-label")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and problem in lines[0], r.stderr
    assert count(engage_home / "engage.duckdb") == 0


def test_forced_kind_on_another_file(run_cli: Any, tmp_path: Path) -> None:
    other = tmp_path / "tweets.js"
    other.write_text("window.YTD.tweets.part0 = []")
    r = run_cli("import", str(other), "--kind", "bluesky-car", "--no-label")
    assert r.exit_code == 2
    assert "not a bluesky-car export" in r.stderr


def test_root_that_is_not_a_commit(run_cli: Any, tmp_path: Path) -> None:
    from bluesky_car_build import car_bytes

    block = dag_cbor({"hello": "world"})
    path = tmp_path / "odd.car"
    path.write_bytes(car_bytes(cid_of(block), [(cid_of(block), block)]))
    r = run_cli("import", str(path), "--no-label")
    assert r.exit_code == 2 and "not a repository commit" in r.stderr


def test_interrupted_import_resumes_with_every_post_once(
    tmp_path: Path, engage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, Repo(DID, records()))
    db = engage_home / "engage.duckdb"
    from engage.store import Store

    real = Store.commit_import_batch
    calls = {"n": 0}

    def dying(self: Store, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process is killed during the third batch
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "commit_import_batch", dying)
    with pytest.raises(KeyboardInterrupt), open_store(db) as store:
        run_import(store, path, batch_size=5, classify=False)
    assert count(db) == 10
    monkeypatch.setattr(Store, "commit_import_batch", real)
    with open_store(db) as store:
        summary = run_import(store, path, batch_size=5, classify=False)
    assert summary.resumed_from == 10
    assert summary.new == 7 and summary.read == 17
    with open_store(db) as store:
        ids = [p.post_id for batch in store.iter_posts() for p in batch]
    assert len(ids) == len(set(ids)) == 17
