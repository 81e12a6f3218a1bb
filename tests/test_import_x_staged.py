"""The staged X archive import (DuckDB parses the posts files, ``Store.stage_x_tweets``) against
the streaming Python reader it stands in for: the same rows, column by column, for plain tweets
and for every shape the SQL leaves to Python; and the cases where it must not be used."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

import engage.importer
import engage.store
from connectors.x_archive import XArchiveImporter
from engage import classify
from engage.errors import ImportFormatError
from engage.importer import PostsCopy, copy_ahead, open_importer, run_import
from engage.store import POST_COLUMNS, StagedRange, Store, open_store
from tests.import_archives_build import (
    sample_tweets,
    tweet,
    write_folder,
    write_zip,
    x_files,
)
from tests.test_import_x import odd_tweets


def stored(db: Path) -> list[tuple[Any, ...]]:
    cols = ", ".join("raw::TEXT" if c == "raw" else c for c in POST_COLUMNS)
    with open_store(db, read_only=True) as store:
        return store.con.execute(f"SELECT {cols} FROM posts ORDER BY post_id").fetchall()


class Spy:
    """Records how the batches of an import reached the store."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kinds: list[str] = []
        real = Store.commit_import_batch

        def commit(store: Store, *args: Any) -> Any:
            posts = args[3]
            self.kinds.append(type(posts).__name__)
            return real(store, *args)

        monkeypatch.setattr(Store, "commit_import_batch", commit)


def predictions_made_ahead(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What each call of ``label_new_posts`` is told of labels made ahead (None: nothing): the
    predictions, or, when the import's writer saved them, its count of the posts needing
    labels besides (``needing``)."""
    seen: list[object] = []
    real = classify.label_new_posts

    def spy(
        store: Store, config: object = None, precomputed: object = None, *, needing: object = None
    ) -> dict[str, int]:
        seen.append(precomputed if precomputed is not None else needing)
        return real(store, config, precomputed, needing=needing)  # type: ignore[arg-type]

    monkeypatch.setattr(classify, "label_new_posts", spy)
    return seen


def import_streamed(
    monkeypatch: pytest.MonkeyPatch, path: Path, db: Path, **kw: Any
) -> list[tuple[Any, ...]]:
    with monkeypatch.context() as m:
        m.setattr(XArchiveImporter, "stage_copies", lambda self, *args: None)
        with open_store(db) as store:
            run_import(store, path, classify=False, **kw)
    return stored(db)


def more_odd_tweets() -> list[dict[str, Any]]:
    """Shapes the SQL takes itself and shapes it leaves to Python."""
    no_id_str = tweet("5001", "only a numeric id")
    del no_id_str["id_str"]
    no_id_str["id"] = 5001  # a number, as in very old archives
    text_only = tweet("5002", "old text field")
    text_only["text"] = text_only.pop("full_text")
    null_full = tweet("5003", "ignored")
    null_full["full_text"] = None
    null_full["text"] = "the text field after a null full_text"
    no_entities = tweet("5004", "no entities at all")
    del no_entities["entities"]
    empty_bits = tweet(
        "5005",
        "empty url and mention values",
        urls=[("https://t.co/b", "https://example.org/b")],
        mentions=["", "sam_k"],
    )
    empty_bits["entities"]["urls"][:0] = [
        {"url": "https://t.co/a", "expanded_url": ""},
        {"url": "https://t.co/c", "expanded_url": None},
        {"url": "https://t.co/d"},
    ]
    empty_bits["lang"] = ""
    empty_bits["in_reply_to_status_id_str"] = ""
    unicode_digits = tweet(
        "5006",
        "a quote with Arabic-Indic digits",
        urls=[("https://t.co/d", "https://twitter.com/ada_l/status/\u0663\u0663")],
    )
    upper = tweet(
        "5007",
        "an upper-case status link",
        urls=[("https://t.co/e", "HTTPS://MOBILE.TWITTER.COM/ada_l/STATUSES/123")],
    )
    no_source = tweet("5008", "no source")
    del no_source["source"]
    rt_reply = tweet("5009", "RT @ada_l: a retweet that is also a reply", reply_to=("77", "ada_l"))
    far_future = tweet("5010", "a year outside 1900-2099", "Mon Jan 01 00:00:00 +0000 2150")
    list_entities = tweet("5011", "entities as an empty list")
    list_entities["entities"] = []
    offsets = tweet("5012", "half-hour offset", "Sun Jan 01 00:30:00 +0530 2023")
    west = tweet("5013", "west of Greenwich", "Tue Feb 28 23:59:59 -0800 2017")
    emoji = tweet("5014", 'caf\u00e9 \U0001f600 "quoted" \\ back\nslash')
    reply = tweet("5015", "@sam_k a plain reply", mentions=["sam_k"], reply_to=("998", "sam_k"))
    self_quote = tweet(
        "5016",
        "quoting myself then someone else",
        urls=[
            ("https://t.co/f", "https://x.com/pat_rivera/status/5016"),
            ("https://t.co/g", "https://x.com/ada_l/status/555"),
        ],
    )
    entities = [
        tweet(str(5100 + k), text)
        for k, text in enumerate(
            [
                "fish &amp; chips",  # what the archive writes for "fish & chips"
                "a &amp;lt; b",  # one pass: "&lt;" stays
                "&lt;&gt;&amp;&amp;amp;",
                "AT&T",  # a bare & (left to Python)
                "fish &amp chips",  # no semicolon: html.unescape still reads it
                "&copy; 2024 &#x263A; &#9731;",
                "RT @ada_l: &lt;3",
            ]
        )
    ]
    return [
        *entities, no_id_str, text_only, null_full, no_entities, empty_bits, unicode_digits, upper,
        no_source, rt_reply, far_future, list_entities, offsets, west, emoji, reply, self_quote,
    ]  # fmt: skip


class CountedThread(threading.Thread):
    started: ClassVar[list[str]] = []

    def start(self) -> None:
        CountedThread.started.append(self.name)
        super().start()


@pytest.mark.parametrize("pretty", [True, False])
@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("parts", [1, 3])
def test_staged_rows_equal_the_streamed_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pretty: bool, wrap: bool, parts: int
) -> None:
    tweets = odd_tweets() + more_odd_tweets()
    files = x_files(tweets, parts=2 if wrap else 1, pretty=pretty, wrap=wrap)
    archive = write_zip(tmp_path / "a.zip", files)
    spy = Spy(monkeypatch)
    # as on a large export: the files copied and read in parts (cut between items, pretty
    # files only), the conversion in parts side by side, whatever the machine's cores
    monkeypatch.setattr(engage.importer, "STAGE_PART_BYTES", 3000 if parts > 1 else 1 << 30)
    monkeypatch.setattr(engage.store, "_STAGE_PART_ROWS", len(tweets) // parts)
    monkeypatch.setattr(engage.store.os, "cpu_count", lambda: parts)
    monkeypatch.setattr(engage.store.threading, "Thread", CountedThread)
    CountedThread.started = []
    with open_store(tmp_path / "staged.duckdb") as store:
        summary = run_import(store, archive, classify=False, batch_size=4)
    assert spy.kinds and set(spy.kinds[:-1]) == {"StagedRange"}  # the last one: progress only
    conversions = [n for n in CountedThread.started if n.startswith("engage-convert-")]
    assert len(conversions) >= 2 if parts > 1 else not conversions  # side by side, or none
    reads = [n for n in CountedThread.started if n.startswith("engage-read-")]
    files_read = 2 if wrap else 1
    if parts > 1 and pretty:
        assert len(reads) > files_read + 5  # the 3,000-byte parts
    else:
        assert len(reads) == files_read
    staged = stored(tmp_path / "staged.duckdb")
    streamed = import_streamed(monkeypatch, archive, tmp_path / "streamed.duckdb", batch_size=4)
    by_id = {row[1]: dict(zip(POST_COLUMNS, row, strict=True)) for row in staged}
    # 3001 holds an integer of 2**70: both readers keep it exact in the raw JSON
    assert json.loads(by_id["3001"]["raw"])["huge"] == 2**70
    assert staged == streamed
    assert summary.read == len(tweets)
    # spot checks that the shapes above did what they are for
    assert by_id["5001"]["text"] == "only a numeric id"
    assert by_id["5003"]["text"] == "the text field after a null full_text"
    assert by_id["5005"]["urls"] == ["https://example.org/b"]
    assert by_id["5005"]["mentions"] == ["sam_k"]
    assert (by_id["5005"]["lang"], by_id["5005"]["reply_to_post"]) == (None, None)
    assert by_id["5006"]["quoted_post"] == "\u0663\u0663"
    assert (by_id["5007"]["kind"], by_id["5007"]["quoted_post"]) == ("quote", "123")
    assert by_id["5008"]["client"] is None
    assert by_id["5009"]["kind"] == "repost" and by_id["5009"]["reply_to_user"] == "ada_l"
    assert by_id["5009"]["reply_to_post"] is None
    assert by_id["5010"]["created_at"].year == 2150
    assert by_id["5016"]["quoted_post"] == "555"
    assert by_id["3001"]["text"] == "a <b> tag"
    texts = [by_id[str(5100 + k)]["text"] for k in range(7)]
    assert texts == [
        "fish & chips", "a &lt; b", "<>&&amp;", "AT&T", "fish & chips",
        "\u00a9 2024 \u263a \u2603", "RT @ada_l: <3",
    ]  # fmt: skip
    assert by_id["5106"]["kind"] == "repost"


def test_a_cut_that_falls_inside_an_item_leaves_the_export_to_the_streaming_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a hand-made file whose links are laid out like the top-level items: the copy is cut at
    # the first such place, inside the first tweet; both parts are then invalid JSON, the
    # staged reader declines, and the export is read in Python with the same result
    links = [("https://t.co/a", "https://a.example/1"), ("https://t.co/b", "https://a.example/2")]
    first = tweet("7001", "two links https://t.co/a https://t.co/b", urls=links)
    second = tweet("7002", "plain")
    urls_json = json.dumps(first["entities"]["urls"], indent=2, separators=(",", " : "))
    first_text = json.dumps({"tweet": first}, indent=2, separators=(",", " : ")).replace(
        json.dumps(first["entities"]["urls"], indent=2, separators=(",", " : ")).replace(
            "\n", "\n" + " " * 6
        ),
        urls_json,
    )
    assert "\n  },\n  {\n" in first_text  # the look-alike of an item boundary
    body = ",\n".join(
        [first_text, json.dumps({"tweet": second}, indent=2, separators=(",", " : "))]
    )
    files = x_files([second])
    files["data/tweets.js"] = f"window.YTD.tweets.part0 = [\n{body}\n]"
    archive = write_zip(tmp_path / "a.zip", files)
    spy = Spy(monkeypatch)
    with open_store(tmp_path / "whole.duckdb") as store:
        run_import(store, archive, classify=False)
    assert "StagedRange" in spy.kinds  # copied whole, the file is staged
    spy.kinds.clear()
    monkeypatch.setattr(engage.importer, "STAGE_PART_BYTES", 100)
    with open_store(tmp_path / "staged.duckdb") as store:
        summary = run_import(store, archive, classify=False)
    assert "StagedRange" not in spy.kinds  # cut inside: read by the Python reader
    assert stored(tmp_path / "whole.duckdb") == stored(tmp_path / "staged.duckdb")
    assert summary.read == 2
    streamed = import_streamed(monkeypatch, archive, tmp_path / "streamed.duckdb")
    staged = stored(tmp_path / "staged.duckdb")
    assert staged == streamed
    assert [r[POST_COLUMNS.index("urls")] for r in staged] == [
        ["https://a.example/1", "https://a.example/2"],
        [],
    ]


def test_the_staged_path_is_what_a_plain_archive_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    archive = write_zip(tmp_path / "a.zip", x_files())
    with open_store(tmp_path / "e.duckdb") as store:
        run_import(store, archive, classify=False)
        attached = [
            r[0]
            for r in store.con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        ]
    assert spy.kinds == ["StagedRange", "list"]
    assert "engage_stage" not in attached  # the staged export is gone once imported
    # nothing of it is left on disk either
    assert not list(Path(tmp_path).glob("**/posts-*.json"))


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda text: text.replace('"created_at"', '"created"', 1), id="no-time"),
        pytest.param(lambda text: text[: text.rindex("}")] + "}}, ]", id="trailing-comma"),
        pytest.param(
            lambda text: text.replace(
                '"expanded_url" : "https://blog.example/fast-imports?utm_source=twitter"',
                '"expanded_url" : 5',
                1,
            ),
            id="numeric-link",
        ),
        pytest.param(
            lambda text: text.replace('  {\n    "tweet" : {', '  "oops",\n  {\n    "tweet" : {', 1),
            id="not-an-object",
        ),
    ],
)
def test_what_the_sql_declines_gets_the_streaming_readers_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breakage: Any
) -> None:
    files = x_files()
    files["data/tweets.js"] = breakage(files["data/tweets.js"])
    archive = write_zip(tmp_path / "a.zip", files)
    with open_store(tmp_path / "staged.duckdb") as store, pytest.raises(ImportFormatError) as a:
        run_import(store, archive, classify=False)
    with monkeypatch.context() as m:
        m.setattr(XArchiveImporter, "stage_copies", lambda self, *args: None)
        with (
            open_store(tmp_path / "streamed.duckdb") as store,
            pytest.raises(ImportFormatError) as b,
        ):
            run_import(store, archive, classify=False)
    assert str(a.value) == str(b.value)
    assert stored(tmp_path / "staged.duckdb") == stored(tmp_path / "streamed.duckdb")


def test_an_interrupted_staged_import_resumes_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tweets = [tweet(str(4000 + i), f"post {i}") for i in range(11)]
    archive = write_zip(tmp_path / "a.zip", x_files(tweets, parts=2))
    db = tmp_path / "e.duckdb"
    real = Store.commit_import_batch
    ranges: list[tuple[int, int]] = []

    def dies_on_third_batch(self: Store, *args: Any) -> Any:
        if isinstance(args[3], StagedRange):
            ranges.append((args[3].first, args[3].last))
        if len(ranges) == 3:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(Store, "commit_import_batch", dies_on_third_batch)
    with open_store(db) as store, pytest.raises(KeyboardInterrupt):
        run_import(store, archive, batch_size=3, classify=False)
    assert ranges == [(1, 3), (4, 6), (7, 9)]
    monkeypatch.setattr(Store, "commit_import_batch", real)
    with open_store(db) as store:
        summary = run_import(store, archive, batch_size=4, classify=False)
    assert summary.resumed_from == 6
    assert (summary.read, summary.new, summary.skipped) == (11, 5, 6)
    assert [r[1] for r in stored(db)] == [str(4000 + i) for i in range(11)]


def test_batches_are_looked_up_among_the_stored_posts_only_when_some_were_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first import looks at its whole stage once (nothing stored: no batch can meet a
    stored post); an import into a database that has some of its posts looks at each batch."""
    tweets = [tweet(str(4000 + i), f"post {i}") for i in range(11)]
    archive = write_zip(tmp_path / "a.zip", x_files(tweets))
    real = Store.staged_already_stored
    looked: list[tuple[int, int] | None] = []

    def spy(self: Store, batch: StagedRange | None = None) -> int:
        looked.append(None if batch is None else (batch.first, batch.last))
        return real(self, batch)

    monkeypatch.setattr(Store, "staged_already_stored", spy)
    db = tmp_path / "e.duckdb"
    with open_store(db) as store:
        first = run_import(store, archive, batch_size=4, classify=False)
    assert looked == [None] and first.new == 11
    edited = [tweet(str(4000 + i), f"post {i} edited") for i in (3, 9)]
    more = [tweet(str(5000 + i), f"new {i}") for i in range(3)]
    archive2 = write_zip(tmp_path / "b.zip", x_files(more + edited))
    looked.clear()
    with open_store(db) as store:
        second = run_import(store, archive2, batch_size=2, classify=False)
    assert looked == [None, (1, 2), (3, 4), (5, 5)]
    assert (second.new, second.updated) == (3, 2)
    texts = {r[1]: r[POST_COLUMNS.index("text")] for r in stored(db)}
    assert len(texts) == 14 and texts["4003"] == "post 3 edited" and texts["5002"] == "new 2"


def test_a_repeated_tweet_is_kept_once_as_the_last_copy(tmp_path: Path) -> None:
    tweets = sample_tweets()
    again = copy.deepcopy(tweets[0])
    again["full_text"] = "edited later"
    archive = write_zip(tmp_path / "a.zip", x_files([*tweets, again]))
    with open_store(tmp_path / "e.duckdb") as store:
        summary = run_import(store, archive, classify=False)
    rows = {r[1]: r for r in stored(tmp_path / "e.duckdb")}
    assert len(rows) == len(tweets)
    assert rows[tweets[0]["id_str"]][POST_COLUMNS.index("text")] == "edited later"
    assert (summary.new, summary.read) == (len(tweets), len(tweets) + 1)


def test_labels_made_while_saving_equal_labels_made_after(tmp_path: Path) -> None:
    tweets = odd_tweets()[:-1] + more_odd_tweets()
    archive = write_folder(tmp_path / "arch", x_files(tweets))
    with open_store(tmp_path / "ahead.duckdb") as store:
        summary = run_import(store, archive)
    with open_store(tmp_path / "after.duckdb") as store:
        run_import(store, archive, classify=False)
        counts = classify.label_new_posts(store)
    assert summary.labels == counts

    def labels(db: Path) -> list[tuple[Any, ...]]:
        with open_store(db, read_only=True) as store:
            return store.con.execute(
                "SELECT post_id, label, confidence, reason, model_version FROM labels "
                "ORDER BY post_id"
            ).fetchall()

    assert labels(tmp_path / "ahead.duckdb") == labels(tmp_path / "after.duckdb")
    assert len(labels(tmp_path / "ahead.duckdb")) == len(tweets)


def test_an_account_with_posts_is_labelled_after_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Labels compare a post with the account's whole history: with posts stored already, the
    export is labelled once it is saved, from the database."""
    seen = predictions_made_ahead(monkeypatch)
    tweets = sample_tweets()
    first = write_folder(tmp_path / "one", x_files(tweets[:2]))
    both = write_folder(tmp_path / "two", x_files(tweets))
    with open_store(tmp_path / "e.duckdb") as store:
        run_import(store, first)
        summary = run_import(store, both)
    assert seen[0] is not None and seen[1] is None
    assert summary.labels is not None and sum(summary.labels.values()) == len(tweets) - 2


def test_the_posts_needing_labels_are_counted_with_the_staged_ones_as_labelled_ahead(
    tmp_path: Path,
) -> None:
    tweets = sample_tweets()
    folder = write_folder(tmp_path / "arch", x_files(tweets))
    version = classify.active_model().version
    with open_store(tmp_path / "e.duckdb") as store:
        run_import(store, write_folder(tmp_path / "first", x_files(tweets[:3])), classify=False)
        store.save_label_columns("x", ["1001"], ["share"], [0.5], ["r"], version)
        store.save_label_columns("x", ["1002"], ["share"], [0.5], ["r"], "old-model")
        copies = XArchiveImporter(folder).stage_copies(tmp_path)
        assert copies is not None
        store.stage_x_tweets(copies, "pat_rivera")
        staged_ids = [
            r[0]
            for r in store.con.execute(
                "SELECT post_id FROM engage_stage.posts ORDER BY n"
            ).fetchall()
        ]
        stored_too = store.count_posts_needing_labels(version)
        staged = store.count_posts_needing_labels_staged(version)
        given = store.count_posts_needing_labels(version, {("x", "pat_rivera"): staged_ids})
        store.drop_stage()
    assert staged_ids == ["1001", "1002", "1003", "1004", "1005"]
    # stored: 1001 (labelled), 1002 (an older model's label), 1003; 1002 and 1003 need labels
    assert stored_too == {("x", "pat_rivera"): (2, 2, 1)}
    assert staged == given == {("x", "pat_rivera"): (2, 0, 1)}


def test_the_sql_takes_the_plain_shapes_and_leaves_the_rest_to_python(tmp_path: Path) -> None:
    tweets = odd_tweets()[:-1] + more_odd_tweets()
    folder = write_folder(tmp_path / "arch", x_files(tweets))
    importer = XArchiveImporter(folder)
    copies = importer.stage_copies(tmp_path)
    assert copies is not None
    with open_store(tmp_path / "e.duckdb") as store:
        assert store.stage_x_tweets(copies, "pat_rivera") == len(tweets)
        left = {tweets[n - 1].get("id_str", "5001") for n, _s, _r in store.staged_odd_tweets()}
        store.drop_stage()
    assert left == {
        "3001",  # a space-padded day (3002's unknown weekday is read: neither checks it)
        "5001",  # no id_str
        "5005",  # link entities without a link (Python skips them; the SQL cannot tell them
        #          from an entity that is not an object)
        "5006",  # a link with other than ASCII characters
        "5010",  # a year outside 1900-2099
        "5011",  # entities that are not an object
        "5103",  # a bare &
        "5104",  # &amp without its semicolon
        "5105",  # other HTML entities
    }


def test_entities_of_other_shapes_are_left_to_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shapes: dict[str, Any] = {
        "6001": "not an object",
        "6002": {"urls": "not a list", "user_mentions": []},
        "6003": {"urls": [None], "user_mentions": []},
        "6004": {"urls": [{"url": "https://t.co/a", "expanded_url": 5}], "user_mentions": []},
        "6005": {"urls": ["https://example.org/a"], "user_mentions": []},
        "6006": {"urls": [], "user_mentions": [{"screen_name": None}]},
        "6007": {"urls": [{"url": "https://t.co/b", "expanded_url": "https://example.org/b"}]},
        "6008": {"user_mentions": [{"screen_name": "sam_k"}]},
        "6009": None,
    }
    tweets = []
    for tweet_id, entities in shapes.items():
        t = tweet(tweet_id, f"entities of shape {tweet_id}")
        t["entities"] = entities
        tweets.append(t)
    folder = write_folder(tmp_path / "arch", x_files(tweets))
    copies = XArchiveImporter(folder).stage_copies(tmp_path)
    assert copies is not None
    with open_store(tmp_path / "e.duckdb") as store:
        store.stage_x_tweets(copies, "pat_rivera")
        left = {tweets[n - 1]["id_str"] for n, _s, _r in store.staged_odd_tweets()}
        store.drop_stage()
    # the first five would fail in Python too (the import says which item); 6006 and 6009
    # Python takes (a mention without a name is skipped, null entities are none)
    assert left == {"6001", "6002", "6003", "6004", "6005", "6006", "6009"}
    fine = [t for t in tweets if t["id_str"] in {"6006", "6007", "6008", "6009"}]
    archive = write_folder(tmp_path / "fine", x_files(fine))
    with open_store(tmp_path / "staged.duckdb") as store:
        run_import(store, archive, classify=False)
    staged = stored(tmp_path / "staged.duckdb")
    assert staged == import_streamed(monkeypatch, archive, tmp_path / "streamed.duckdb")
    by_id = {row[1]: row for row in staged}
    urls, mentions = POST_COLUMNS.index("urls"), POST_COLUMNS.index("mentions")
    assert by_id["6007"][urls] == ["https://example.org/b"] and by_id["6007"][mentions] == []
    assert by_id["6008"][urls] == [] and by_id["6008"][mentions] == ["sam_k"]
    assert by_id["6006"][mentions] == [] and by_id["6009"][urls] == []


def test_posts_stored_under_another_account_name_are_labelled_after_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account is new, but its posts are stored (fetched under another name): what they
    become once merged with the archive's copies is only known after the import."""
    seen = predictions_made_ahead(monkeypatch)
    folder = write_folder(tmp_path / "arch", x_files())
    with open_store(tmp_path / "e.duckdb") as store:
        run_import(store, folder, classify=False)
        store.con.execute("UPDATE posts SET account = 'pat_old'")
        summary = run_import(store, folder)
    assert seen == [None]
    assert summary.labels is not None and sum(summary.labels.values()) == 5


def test_an_archive_without_tweets_imports_nothing_and_says_so(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "a.zip", x_files([]))
    with open_store(tmp_path / "e.duckdb") as store:
        summary = run_import(store, archive)
        assert store.count_posts() == 0
    assert (summary.read, summary.new, summary.posts) == (0, 0, 0)
    assert summary.labels == {}


def copy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "engage-copy"]


def test_a_copy_started_ahead_is_the_one_the_import_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tweets = odd_tweets() + more_odd_tweets()
    archive = write_zip(tmp_path / "a.zip", x_files(tweets, parts=2))
    monkeypatch.setattr(engage.importer, "STAGE_PART_BYTES", 3000)  # many parts
    importer = open_importer(archive)
    beside = tmp_path / "data"  # created for the copy, as the database's folder would be
    copies = copy_ahead(importer, beside)
    assert isinstance(copies, PostsCopy) and copies.folder.parent == beside
    monkeypatch.setattr(engage.importer.threading, "Thread", CountedThread)
    CountedThread.started = []
    with open_store(beside / "ahead.duckdb") as store:
        summary = run_import(store, importer, classify=False, copies=copies)
    assert "engage-copy" not in CountedThread.started  # no second copy was made
    assert summary.read == len(tweets)
    assert stored(beside / "ahead.duckdb") == import_streamed(
        monkeypatch, archive, tmp_path / "streamed.duckdb"
    )
    # the import took the copy over: its folder and thread are gone
    # (files the goal cache may write beside the database are not the copy's)
    assert not list(beside.glob(".engage-import-*"))
    assert copies.folder.parent == beside and not copies.folder.exists()
    assert not copy_threads()
    # without a copy given, the import makes its own, beside the database
    CountedThread.started = []
    with open_store(tmp_path / "own.duckdb") as store:
        run_import(store, archive, classify=False)
    assert CountedThread.started.count("engage-copy") == 1
    assert stored(tmp_path / "own.duckdb") == stored(beside / "ahead.duckdb")
    assert not list(tmp_path.glob(".engage-import-*"))


def test_closing_a_copy_stops_it_at_the_next_part_and_removes_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engage.importer, "STAGE_PART_BYTES", 100)  # a part per tweet or so
    archive = write_zip(tmp_path / "a.zip", x_files(odd_tweets() + more_odd_tweets()))
    handed: list[Path] = []
    real_put = PostsCopy._put

    def put(self: PostsCopy, part: Any) -> None:
        real_put(self, part)  # raises once the copy is closed
        handed.append(part.path)
        if len(handed) == 1:
            self._stop.wait(10)  # hold the copy after its first part until close()

    monkeypatch.setattr(PostsCopy, "_put", put)
    copies = copy_ahead(open_importer(archive), tmp_path)
    assert copies is not None
    first = next(copies.parts())
    assert first.path.parent == copies.folder and first.path.exists()
    copies.close()
    assert handed == [first.path]  # the next part was not handed over: the copy stopped
    assert not copies.folder.exists()
    assert not copy_threads()
    copies.close()  # again: nothing to do


def test_run_import_refuses_a_copy_of_another_export_and_closes_it(tmp_path: Path) -> None:
    first = write_zip(tmp_path / "a.zip", x_files())
    other = write_zip(tmp_path / "b.zip", x_files())
    copies = copy_ahead(open_importer(other), tmp_path)
    with open_store(tmp_path / "e.duckdb") as store:
        with pytest.raises(ValueError, match="not of the export"):
            run_import(store, first, copies=copies)
        assert store.count_posts() == 0
    assert copies is not None and not copies.folder.exists()
    assert not copy_threads()


def test_engage_import_leaves_no_copy_behind_when_the_database_cannot_be_opened(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = write_zip(tmp_path / "a.zip", x_files())
    real_put = PostsCopy._put

    def put(self: PostsCopy, part: Any) -> None:
        real_put(self, part)
        self._stop.wait(10)  # a large archive: still copying when the database fails to open

    monkeypatch.setattr(PostsCopy, "_put", put)
    db = tmp_path / "data" / "engage.duckdb"
    db.parent.mkdir()
    db.write_text("not a database")
    result = run_cli("--db", str(db), "import", str(archive))
    assert result.exit_code != 0
    assert result.stderr.startswith("engage: error: cannot open database")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(db.parent.iterdir()) == [db]  # the copy started ahead is gone with its folder
    assert not copy_threads()
    assert db.read_text() == "not a database"


def test_engage_import_reaches_the_copy_before_loading_the_heavy_libraries() -> None:
    """``engage import`` starts copying the archive (``copy_ahead``) before it opens the
    database, and stages it in DuckDB while the classifier's libraries load: the modules it
    needs up to the copy load no DuckDB, and opening a store loads no pyarrow or numpy."""
    code = (
        "import sys\n"
        "import engage.cli, engage.cli.cmd_import, engage.importer\n"
        "early = sorted(m for m in ('duckdb', 'pyarrow', 'numpy', 'scipy', 'sklearn')"
        " if m in sys.modules)\n"
        "import engage.store\n"
        "store = sorted(m for m in ('pyarrow', 'numpy', 'scipy', 'sklearn') if m in sys.modules)\n"
        "print(','.join(early) + '|' + ','.join(store))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "|"


def test_a_staged_import_commits_whole_row_groups() -> None:
    # DuckDB writes a transaction's full row groups to the file once, as they fill; a batch
    # that ends inside a row group sends its rows through the log (see engage.store)
    assert engage.importer.STAGED_BATCH_SIZE % engage.store.ROW_GROUP_SIZE == 0
