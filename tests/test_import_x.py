"""engage import of X archives: every field of every post, both file names, multi-part archives,
zip and folder, the pure conversion, and X's time format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Post
from connectors.x_archive import XArchiveImporter, _x_time_us, parse_x_time, tweet_to_post
from engage.errors import ImportFormatError
from engage.importer import run_import
from engage.store import Store, open_store, post_columns_to_arrow, posts_to_arrow
from tests.import_archives_build import (
    ME,
    sample_tweets,
    tweet,
    write_folder,
    write_zip,
    x_files,
)


def posts_by_id(db: Path) -> dict[str, Post]:
    with open_store(db, read_only=True) as store:
        return {p.post_id: p for batch in store.iter_posts() for p in batch}


def expected(source: str) -> dict[str, dict[str, object]]:
    """Every field of the five sample tweets after import."""
    raw = {t["id_str"]: t for t in sample_tweets()}
    base = {
        "platform": "x",
        "account": ME,
        "source": source,
        "thread_root": None,
        "reposted_post": None,
        "fetched_at": None,
    }
    rows = {
        "1001": {
            "created_at": datetime(2021, 1, 4, 9, 0, tzinfo=UTC),
            "text": "New on the blog: fast imports & more https://t.co/abc",
            "kind": "post",
            "reply_to_post": None,
            "reply_to_user": None,
            "quoted_post": None,
            "urls": ["https://blog.example/fast-imports?utm_source=twitter"],
            "mentions": [],
            "client": "Buffer",
            "lang": "en",
        },
        "1002": {
            "created_at": datetime(2021, 1, 5, 10, 30, tzinfo=UTC),
            "text": "@sam_k Good question! I use DuckDB for that.",
            "kind": "reply",
            "reply_to_post": "999",
            "reply_to_user": "sam_k",
            "quoted_post": None,
            "urls": [],
            "mentions": ["sam_k"],
            "client": "Tweetbot for iOS",  # the Greek Omicron of the archive, folded
            "lang": "en",
        },
        "1003": {
            "created_at": datetime(2021, 1, 6, 11, 45, tzinfo=UTC),
            "text": "RT @ada_l: Shipping the new parser today",
            "kind": "repost",
            "reply_to_post": None,
            "reply_to_user": None,
            "quoted_post": None,
            "urls": [],
            "mentions": ["ada_l"],
            "client": "Tweetbot for iOS",
            "lang": "en",
        },
        "1004": {
            "created_at": datetime(2021, 1, 7, 17, 0, tzinfo=UTC),  # -0500 in the archive
            "text": "This is the thread everyone should read https://t.co/q",
            "kind": "quote",
            "reply_to_post": None,
            "reply_to_user": None,
            "quoted_post": "888",
            "urls": ["https://twitter.com/ada_l/status/888"],
            "mentions": [],
            "client": "Twitter Web App",
            "lang": "en",
        },
        "1005": {
            "created_at": datetime(2021, 1, 8, 7, 15, 30, tzinfo=UTC),
            "text": "Morning coffee and a photo https://t.co/pic",
            "kind": "post",
            "reply_to_post": None,
            "reply_to_user": None,
            "quoted_post": None,
            "urls": [],  # media links are not links
            "mentions": [],
            "client": "Twitter for iPhone",
            "lang": "und",
        },
    }
    return {
        pid: {
            **base,
            **row,
            "post_id": pid,
            "url": f"https://x.com/{ME}/status/{pid}",
            "raw": raw[pid],
        }
        for pid, row in rows.items()
    }


def assert_all_fields(posts: dict[str, Post], source: str) -> None:
    want = expected(source)
    assert sorted(posts) == sorted(want)
    for pid, fields in want.items():
        got = posts[pid].to_dict()
        assert got == fields, pid


def test_zip_with_tweets_js_imports_every_field(tmp_path: Path, run_cli) -> None:
    archive = write_zip(tmp_path / "twitter-2024.zip", x_files())
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(archive), "--no-label")
    assert r.exit_code == 0, r.stderr
    assert "x-archive" in r.stdout and ME in r.stdout
    assert "5 read: 5 new, 0 updated, 0 skipped" in r.stdout
    assert_all_fields(posts_by_id(db), "archive:data/tweets.js")


def test_older_tweet_js_in_an_unpacked_folder(tmp_path: Path, run_cli) -> None:
    # older archives: data/tweet.js, compact JSON, items are the tweet objects themselves
    folder = write_folder(
        tmp_path / "archive", x_files(file_name="tweet.js", wrap=False, pretty=False)
    )
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(folder), "--no-label")
    assert r.exit_code == 0, r.stderr
    assert_all_fields(posts_by_id(db), "archive:data/tweet.js")


def test_the_data_folder_itself_can_be_given(tmp_path: Path, run_cli) -> None:
    folder = write_folder(tmp_path / "archive", x_files())
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(folder / "data"), "--no-label")
    assert r.exit_code == 0, r.stderr
    assert sorted(posts_by_id(db)) == ["1001", "1002", "1003", "1004", "1005"]


def test_multi_part_archive_reads_every_part(tmp_path: Path, run_cli) -> None:
    tweets = [
        tweet(str(2000 + i), f"post number {i}", f"Sat Mar 0{1 + i % 9} 08:00:00 +0000 2020")
        for i in range(9)
    ]
    files = x_files(tweets, parts=3)
    assert {"data/tweets.js", "data/tweets-part1.js", "data/tweets-part2.js"} <= set(files)
    assert files["data/tweets-part2.js"].startswith("window.YTD.tweets.part2 = [")
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(write_zip(tmp_path / "a.zip", files)), "--no-label")
    assert r.exit_code == 0, r.stderr
    posts = posts_by_id(db)
    assert sorted(posts) == [str(2000 + i) for i in range(9)]
    assert posts["2008"].source == "archive:data/tweets-part2.js"
    assert posts["2004"].source == "archive:data/tweets-part1.js"
    assert posts["2000"].text == "post number 0"


def test_kind_is_detected_and_can_be_forced(tmp_path: Path, run_cli) -> None:
    archive = write_zip(tmp_path / "a.zip", x_files())
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", "--kind", "x-archive", str(archive), "--no-label")
    assert r.exit_code == 0, r.stderr
    assert XArchiveImporter.detect(archive)
    assert XArchiveImporter(archive).account() == ME


def test_tweet_to_post_is_pure_and_matches_api_ids() -> None:
    t = tweet(
        "1583",
        "@bob see https://t.co/x",
        reply_to=("1500", "bob"),
        mentions=["bob"],
        urls=[("https://t.co/x", "https://x.com/bob/status/1499")],
    )
    p = tweet_to_post(t, "pat", "archive:data/tweets.js")
    assert (p.platform, p.post_id, p.kind) == ("x", "1583", "reply")
    assert (p.reply_to_post, p.reply_to_user, p.quoted_post) == ("1500", "bob", "1499")
    assert p.raw is t
    # a bare "id" (very old archives) is used when id_str is missing
    old = {"id": 42, "created_at": "Wed Oct 19 20:07:25 +0000 2011", "text": "hi"}
    assert tweet_to_post(old, "pat", "s").post_id == "42"
    assert tweet_to_post(old, "pat", "s").text == "hi"


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("Wed Oct 19 20:07:25 +0000 2022", datetime(2022, 10, 19, 20, 7, 25, tzinfo=UTC)),
        ("Sun Jan 01 00:30:00 +0130 2023", datetime(2022, 12, 31, 23, 0, tzinfo=UTC)),
        ("Tue Feb 28 23:59:59 -0800 2017", datetime(2017, 3, 1, 7, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_x_time(value: str, want: datetime) -> None:
    assert parse_x_time(value) == want


@pytest.mark.parametrize(
    "value", ["", "2022-10-19T20:07:25Z", "Wed Foo 19 20:07:25 +0000 2022", "Wed Oct 19 20:07"]
)
def test_parse_x_time_rejects_other_formats(value: str) -> None:
    with pytest.raises(ValueError, match="not an X time"):
        parse_x_time(value)


# -- the columnar path (what `engage import` uses for X archives) ------------------------------


def odd_tweets() -> list[dict[str, Any]]:
    """Tweets that take the slow branches of ``tweets_to_columns``: times Arrow's strptime
    does not read (a space-padded day, an unknown weekday) but ``parse_x_time`` does, an
    integer too large for orjson, escaped HTML, a quote of the tweet itself, a repeated id."""
    big = tweet("3001", "a &lt;b&gt; tag", "Wed Oct  9 20:07:25 +0000 2022")
    big["huge"] = 2**70
    return [
        *sample_tweets(),
        big,
        tweet("3002", "weekday unknown", "Xyz Oct 19 20:07:25 +0230 2022"),
        tweet(
            "3003",
            "myself https://t.co/s",
            urls=[("https://t.co/s", "https://x.com/pat_rivera/status/3003")],
        ),
        tweet("1001", "the first tweet again, edited", "Mon Jan 04 09:00:00 +0000 2021"),
    ]


@pytest.mark.parametrize("batch_size", [1, 3, 100])
@pytest.mark.parametrize("pretty", [True, False])
def test_columns_hold_exactly_what_the_records_hold(
    tmp_path: Path, batch_size: int, pretty: bool
) -> None:
    tweets = odd_tweets()
    folder = write_folder(tmp_path / "arch", x_files(tweets, parts=2, pretty=pretty))
    imp = XArchiveImporter(folder)
    records = list(imp.iter_items())
    batches = list(imp.iter_post_columns(batch_size))
    assert [b.count for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert sum(b.count for b in batches) == len(records) == len(tweets)

    def rows(table: Any) -> list[dict[str, object]]:
        # raw may be the archive's indented text (the store keeps it compact): same JSON value
        out = [{**r, "raw": json.loads(r["raw"])} for r in table.to_pylist()]
        return sorted(out, key=lambda r: str(r["post_id"]))

    start = 0
    for b in batches:  # batch by batch: a repeated post is kept once in each, the last one
        got = rows(post_columns_to_arrow(b))
        assert got == rows(posts_to_arrow(records[start : start + b.count]))
        start += b.count
    everything = [r for b in batches for r in post_columns_to_arrow(b).to_pylist()]
    assert {r["post_id"] for r in everything} == {p.post_id for p in records}
    for row in everything:
        if row["post_id"] == "3001":
            assert json.loads(row["raw"])["huge"] == 2**70
            assert row["text"] == "a <b> tag"
            assert row["created_at"] == datetime(2022, 10, 9, 20, 7, 25)
        if row["post_id"] == "3002":
            assert row["created_at"] == datetime(2022, 10, 19, 17, 37, 25)
        if row["post_id"] == "3003":
            assert (row["kind"], row["quoted_post"]) == ("post", None)


@pytest.mark.parametrize("pretty", [True, False])
def test_raw_is_stored_compact_and_equal_to_the_tweet(tmp_path: Path, pretty: bool) -> None:
    tweets = odd_tweets()[:-1]
    folder = write_folder(tmp_path / "arch", x_files(tweets, pretty=pretty))
    db = tmp_path / "e.duckdb"
    with open_store(db) as store:
        run_import(store, folder, classify=False)
    with open_store(db, read_only=True) as store:
        texts = dict(store.con.execute("SELECT post_id, raw::TEXT FROM posts").fetchall())
    for t in tweets:
        text = texts[t["id_str"]]
        assert json.loads(text) == t
        assert text == json.dumps(t, ensure_ascii=False, separators=(",", ":"))


def test_a_batch_repeating_a_post_keeps_the_last_one(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "arch", x_files(odd_tweets()))
    (batch,) = XArchiveImporter(folder).iter_post_columns(100)
    rows = post_columns_to_arrow(batch).to_pylist()
    assert len(rows) == batch.count - 1
    (first,) = [r for r in rows if r["post_id"] == "1001"]
    assert first["text"] == "the first tweet again, edited"


@pytest.mark.parametrize(
    ("index", "breakage", "problem"),
    [
        (3, lambda t: t.pop("created_at"), "no created_at"),
        (4, lambda t: t.update(created_at="yesterday"), "not an X time"),
        (2, lambda t: t.pop("id_str") and t.pop("id"), "no id"),
    ],
)
@pytest.mark.parametrize("pretty", [True, False])
def test_a_bad_tweet_gets_the_same_message_on_both_paths(
    tmp_path: Path, index: int, breakage: Any, problem: str, pretty: bool
) -> None:
    tweets = sample_tweets()
    breakage(tweets[index])
    folder = write_folder(tmp_path / "arch", x_files(tweets, pretty=pretty))
    imp = XArchiveImporter(folder)
    with pytest.raises(ImportFormatError) as by_record:
        list(imp.iter_items())
    batches: list[int] = []
    with pytest.raises(ImportFormatError) as by_column:
        for b in imp.iter_post_columns(2):
            batches.append(b.count)
    assert str(by_column.value) == str(by_record.value)
    assert f"item {index + 1} " in str(by_record.value) and problem in str(by_record.value)
    assert batches == [2] * (index // 2)  # the whole batches before the bad tweet


def test_an_item_that_is_not_a_tweet_gets_the_same_message_on_both_paths(tmp_path: Path) -> None:
    files = x_files()
    text = files["data/tweets.js"]
    files["data/tweets.js"] = text.replace(
        '  {\n    "tweet" : {', '  "oops",\n  {\n    "tweet" : {', 1
    )
    imp = XArchiveImporter(write_folder(tmp_path / "arch", files))
    with pytest.raises(ImportFormatError) as by_record:
        list(imp.iter_items())
    with pytest.raises(ImportFormatError) as by_column:
        list(imp.iter_post_columns(10))
    assert "item 1 is not a tweet object" in str(by_record.value)
    assert str(by_column.value) == str(by_record.value)


def test_a_resumed_import_with_another_batch_size_finishes_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tweets = [tweet(str(4000 + i), f"post {i}") for i in range(11)]
    archive = write_zip(tmp_path / "a.zip", x_files(tweets, parts=2))
    db = tmp_path / "e.duckdb"
    real = Store.commit_import_batch
    calls = {"n": 0}

    def dies_on_third_batch(self: Store, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "commit_import_batch", dies_on_third_batch)
    with open_store(db) as store, pytest.raises(KeyboardInterrupt):
        run_import(store, archive, batch_size=3, classify=False)
    monkeypatch.setattr(Store, "commit_import_batch", real)
    with open_store(db) as store:
        summary = run_import(store, archive, classify=False)  # one batch of 10,000
    assert summary.resumed_from == 6
    assert (summary.read, summary.new, summary.skipped) == (11, 5, 6)
    with open_store(db, read_only=True) as store:
        ids = sorted(p.post_id for b in store.iter_posts() for p in b)
    assert ids == [str(4000 + i) for i in range(11)]


_SAMPLE_TIMES = [
    "Wed Oct 19 20:07:25 +0000 2022",
    "Sun Jan 01 00:30:00 +0130 2023",
    "Tue Feb 28 23:59:59 -0800 2017",
    "Wed Oct  9 20:07:25 +0000 2022",  # space-padded day: int() takes it
    "Xyz Feb 29 12:00:00 +0000 2024",  # the weekday is not checked
    "Xyz Feb 29 12:00:00 +0000 2023",  # no such day
    "Wed Oct 19 24:00:00 +0000 2022",
    "Wed Oct 19 20:60:00 +0000 2022",
    "Wed Oct 19 20:07:60 +0000 2022",
    "Wed oct 19 20:07:25 +0000 2022",
    "Wed Oct 19 20:07:25 +9999 2022",
    "Wed Oct 19 20:07:25 -0-10 2022",
    "Mon Jan 01 00:00:00 +0100 0001",
    "Wed Oct 19 20:07:25 +0000 22022",
    "Wed Oct 19 20:07:25 Z 2022",
    "",
]


@settings(max_examples=300, deadline=None)
@given(
    value=st.sampled_from(_SAMPLE_TIMES)
    | st.builds(
        lambda base, i, c: base[:i] + c + base[i + 1 :],
        st.sampled_from(_SAMPLE_TIMES[:3]),
        st.integers(0, 29),
        st.sampled_from(list("0123456789 +-:ZaA\u0663")),
    )
)
def test_the_time_shortcut_agrees_with_parse_x_time(value: str) -> None:
    try:
        want: object = (parse_x_time(value) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
    except (ValueError, OverflowError) as exc:
        want = type(exc)
    try:
        got: object = _x_time_us(value) / 1e6
    except (ValueError, OverflowError) as exc:
        got = type(exc)
    assert got == want
