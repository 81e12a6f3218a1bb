"""The import framework: repeatable imports, archive + API keep one row per post, resuming after
a crash, broken input refused with one line (exit 2) leaving the database as it was, labelling
once at the end, and the streaming JSON reader."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.archive import JSONStream
from connectors.base import Post
from engage.errors import ImportFormatError
from engage.importer import open_importer, run_import
from engage.store import Store, open_store
from tests.conftest import REPO
from tests.import_archives_build import (
    ME,
    mastodon_files,
    tweet,
    write_folder,
    write_tar_gz,
    write_zip,
    x_files,
)


def nine_tweets() -> list[dict[str, object]]:
    return [
        tweet(str(3000 + i), f"post {i} about things", f"Sat Mar 0{1 + i} 08:00:00 +0000 2020")
        for i in range(9)
    ]


def all_rows(db: Path) -> list[tuple[object, ...]]:
    with open_store(db, read_only=True) as store:
        return [
            tuple(sorted(p.to_dict().items(), key=lambda kv: kv[0]))
            for batch in store.iter_posts()
            for p in batch
        ]


def post_ids(db: Path) -> list[str]:
    with open_store(db, read_only=True) as store:
        return [p.post_id for batch in store.iter_posts() for p in batch]


# -- repeatable --------------------------------------------------------------------------------


def test_importing_the_same_export_twice_changes_nothing(tmp_path: Path, run_cli) -> None:
    archive = write_zip(tmp_path / "a.zip", x_files())
    db = tmp_path / "e.duckdb"
    assert run_cli("--db", str(db), "import", str(archive), "--no-label").exit_code == 0
    before = all_rows(db)
    r = run_cli("--db", str(db), "import", str(archive), "--no-label")
    assert r.exit_code == 0, r.stderr
    assert "5 read: 0 new, 0 updated, 5 skipped" in r.stdout
    assert all_rows(db) == before


def test_archive_then_api_keeps_one_row_per_post(tmp_path: Path, run_cli) -> None:
    archive = write_zip(tmp_path / "a.zip", x_files())
    db = tmp_path / "e.duckdb"
    assert run_cli("--db", str(db), "import", str(archive), "--no-label").exit_code == 0
    from_api = Post(  # what the X API connector makes of the same post: no posting app
        platform="x",
        account=ME,
        post_id="1002",
        created_at=datetime(2021, 1, 5, 10, 30, tzinfo=UTC),
        text="@sam_k Good question! I use DuckDB for that.",
        kind="reply",
        reply_to_post="999",
        source="api",
        fetched_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    with open_store(db) as store:
        store.upsert_posts([from_api])
        assert store.count_posts() == 5
        (post,) = store.find_posts_by_id("1002")
    assert post.client == "Tweetbot for iOS"  # the archive's app survives the API's None
    assert post.mentions == ["sam_k"]


# -- resuming ----------------------------------------------------------------------------------


def test_an_interrupted_import_is_finished_by_running_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = write_zip(tmp_path / "a.zip", x_files(nine_tweets()))
    db = tmp_path / "e.duckdb"
    real = Store.commit_import_batch
    calls = {"n": 0}

    def dies_on_third_batch(self: Store, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C, or the machine went down
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "commit_import_batch", dies_on_third_batch)
    with open_store(db) as store, pytest.raises(KeyboardInterrupt):
        run_import(store, archive, batch_size=2, classify=False)
    assert len(post_ids(db)) == 4  # two whole batches

    monkeypatch.setattr(Store, "commit_import_batch", real)
    with open_store(db) as store:
        summary = run_import(store, archive, batch_size=2, classify=False)
    assert summary.resumed_from == 4
    assert (summary.read, summary.new, summary.updated, summary.skipped) == (9, 5, 0, 4)
    ids = post_ids(db)
    assert sorted(ids) == [str(3000 + i) for i in range(9)]  # every post exactly once


def test_a_killed_import_process_is_finished_by_running_it_again(tmp_path: Path) -> None:
    archive = write_folder(tmp_path / "arch", x_files(nine_tweets()))
    db = tmp_path / "e.duckdb"
    script = f"""
import os, signal, sys, time
from pathlib import Path
import engage.importer as imp
from engage.store import open_store
imp.PROGRESS_EVERY = 1
def progress(n):
    if n == 7:  # two batches of 3 handed over; the process dies without any clean-up
        time.sleep(1.0)  # time for the writer thread to commit what it was handed
        os.kill(os.getpid(), signal.SIGKILL)
store = open_store(Path({str(db)!r}))
imp.run_import(store, {str(archive)!r}, batch_size=3, classify=False, on_progress=progress)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    done = len(post_ids(db))
    assert done in (3, 6)  # whole batches only, committed before the kill
    with open_store(db) as store:
        summary = run_import(store, archive, batch_size=3, classify=False)
    assert summary.resumed_from == done
    assert sorted(post_ids(db)) == [str(3000 + i) for i in range(9)]


def test_a_changed_export_is_imported_from_the_start(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "arch", x_files(nine_tweets()[:4]))
    db = tmp_path / "e.duckdb"
    with open_store(db) as store:
        run_import(store, folder, classify=False)
    write_folder(folder, x_files(nine_tweets()))  # a newer download into the same folder
    with open_store(db) as store:
        summary = run_import(store, folder, classify=False)
    assert summary.resumed_from == 0
    assert (summary.new, summary.skipped) == (5, 4)


# -- broken input --------------------------------------------------------------------------------


def one_error_line(stderr: str, *needles: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("engage: error: ")
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_a_file_that_is_not_an_export(tmp_path: Path, run_cli) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("just some notes\n")
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(notes))
    assert r.exit_code == 2
    one_error_line(r.stderr, str(notes), "not an export engage can import")
    assert not db.exists()  # the database was not even created


def test_a_zip_that_is_not_an_export(tmp_path: Path, run_cli) -> None:
    z = write_zip(tmp_path / "photos.zip", {"img/1.jpg": b"\xff\xd8", "readme.txt": "hi"})
    r = run_cli("--db", str(tmp_path / "e.duckdb"), "import", str(z))
    assert r.exit_code == 2
    one_error_line(r.stderr, str(z), "not an export")


@pytest.mark.parametrize("maker", [write_zip, write_tar_gz])
def test_a_truncated_archive(tmp_path: Path, run_cli, maker) -> None:
    files = x_files(nine_tweets()) if maker is write_zip else mastodon_files()
    name = "a.zip" if maker is write_zip else "a.tar.gz"
    full = maker(tmp_path / ("full-" + name), files)
    cut = tmp_path / name
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(cut))
    assert r.exit_code == 2, r.stderr
    one_error_line(r.stderr, str(cut), "damaged or truncated")
    assert not db.exists()


def malformed_x_files() -> dict[str, str]:
    """An X archive whose posts file is malformed JSON (one value missing)."""
    files = x_files()
    files["data/tweets.js"] = files["data/tweets.js"].replace('"id_str" : "1003",', '"id_str" : ')
    return files


def test_malformed_json_in_the_posts_file(tmp_path: Path, run_cli) -> None:
    archive = write_zip(tmp_path / "a.zip", malformed_x_files())
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(archive))
    assert r.exit_code == 2
    one_error_line(r.stderr, str(archive), "data/tweets.js", "malformed JSON", "line ")
    assert post_ids(db) == []  # nothing of it was saved


def test_malformed_outbox(tmp_path: Path, run_cli) -> None:
    files = mastodon_files()
    files["outbox.json"] = str(files["outbox.json"]).replace('"type": "Announce",', '"type" "A",')
    folder = write_folder(tmp_path / "m", files)
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", str(folder))
    assert r.exit_code == 2
    one_error_line(r.stderr, "outbox.json", "malformed JSON")
    assert post_ids(db) == []


def test_an_archive_of_the_wrong_kind(tmp_path: Path, run_cli) -> None:
    x = write_zip(tmp_path / "x.zip", x_files())
    m = write_zip(tmp_path / "m.zip", mastodon_files())
    db = tmp_path / "e.duckdb"
    r = run_cli("--db", str(db), "import", "--kind", "mastodon-archive", str(x))
    assert r.exit_code == 2
    one_error_line(r.stderr, str(x), "not a mastodon-archive export", "detected as x-archive")
    r = run_cli("--db", str(db), "import", "--kind", "x-archive", str(m))
    assert r.exit_code == 2
    one_error_line(r.stderr, str(m), "not a x-archive export", "mastodon-archive")
    assert not db.exists()


def test_unknown_kind_and_missing_path(tmp_path: Path, run_cli) -> None:
    x = write_zip(tmp_path / "x.zip", x_files())
    r = run_cli("--db", str(tmp_path / "e.duckdb"), "import", "--kind", "myspace", str(x))
    assert r.exit_code == 2
    one_error_line(r.stderr, "unknown export kind 'myspace'", "x-archive")
    r = run_cli("--db", str(tmp_path / "e.duckdb"), "import", str(tmp_path / "nope.zip"))
    assert r.exit_code == 2
    one_error_line(r.stderr, "nope.zip", "no such file")


def test_an_archive_without_its_account_file(tmp_path: Path, run_cli) -> None:
    files = x_files()
    del files["data/account.js"]
    x = write_zip(tmp_path / "x.zip", files)
    r = run_cli("--db", str(tmp_path / "e.duckdb"), "import", str(x))
    assert r.exit_code == 2
    one_error_line(r.stderr, str(x), "data/account.js", "owner is unknown")
    m_files = mastodon_files()
    del m_files["actor.json"]
    m = write_zip(tmp_path / "m.zip", m_files)
    r = run_cli("--db", str(tmp_path / "e.duckdb"), "import", str(m))
    assert r.exit_code == 2
    one_error_line(r.stderr, str(m), "actor.json")


def test_a_cut_off_posts_file_is_refused_before_anything_is_saved(tmp_path: Path) -> None:
    files = x_files(nine_tweets())
    text = files["data/tweets.js"]
    files["data/tweets.js"] = text[: len(text) * 3 // 4]
    folder = write_folder(tmp_path / "arch", files)
    db = tmp_path / "e.duckdb"
    with open_store(db) as store, pytest.raises(ImportFormatError, match="truncated") as err:
        run_import(store, folder, batch_size=2, classify=False)
    assert "data/tweets.js" in str(err.value)
    assert post_ids(db) == []


def test_a_problem_found_mid_way_keeps_whole_batches_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    tweets = nine_tweets()
    del tweets[6]["created_at"]  # the seventh tweet is broken
    folder = write_folder(tmp_path / "arch", x_files(tweets))
    db = tmp_path / "e.duckdb"
    with open_store(db) as store, pytest.raises(ImportFormatError) as err:
        run_import(store, folder, batch_size=2, classify=False)
    message = str(err.value)
    assert "\n" not in message
    assert "data/tweets.js" in message and "item 7" in message and "created_at" in message
    assert "nothing was lost" in message
    saved = post_ids(db)
    assert sorted(saved) == [str(3000 + i) for i in range(6)]  # three whole batches, all valid
    write_folder(folder, x_files(nine_tweets()))  # the user downloads the archive again
    with open_store(db) as store:
        run_import(store, folder, batch_size=2, classify=False)
    assert sorted(post_ids(db)) == [str(3000 + i) for i in range(9)]


# -- labelling and progress ----------------------------------------------------------------------


def test_labels_once_at_the_end_and_prints_the_counts(
    tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engage import classify

    real = classify.label_new_posts
    calls: list[tuple[int, int]] = []
    told: list[tuple[object, object]] = []

    def label_new_posts(
        store: Store, config: object, precomputed: object | None = None, *, needing=None
    ) -> dict[str, int]:
        saved = store.con.execute("SELECT count(*) FROM labels").fetchone()
        calls.append((store.count_posts(), saved[0] if saved else -1))
        told.append((precomputed, needing))
        return real(store, config, precomputed, needing=needing)  # type: ignore[arg-type]

    monkeypatch.setattr("engage.classify.label_new_posts", label_new_posts)
    db = tmp_path / "e.duckdb"
    archive = write_zip(tmp_path / "a.zip", x_files())
    r = run_cli("--db", str(db), "import", str(archive))
    assert r.exit_code == 0, r.stderr
    # once, after every post was saved; the posts of the new account were labelled while they
    # were being saved, and the import's writer saved the labels after them: nothing is left
    assert calls == [(5, 5)]
    assert told == [(None, {})]
    with open_store(db, read_only=True) as store:
        counts = store.con.execute(
            "SELECT label, count(*) FROM labels GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert sum(n for _label, n in counts) == 5
    assert "labelled: " + ", ".join(f"{label} {n}" for label, n in counts) in r.stdout
    r = run_cli("--db", str(db), "import", str(archive), "--no-label")
    assert calls == [(5, 5)]


def test_labels_made_ahead_go_through_label_new_posts_when_it_would_not_save_them_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A label is stored for one of the export's posts (left from a post no longer stored):
    the labels made ahead are not saved by the writer, but handed to ``label_new_posts`` with
    the writer's count of the posts needing labels, and the stale label is replaced."""
    from engage import classify

    real = classify.label_new_posts
    told: list[tuple[object, object]] = []

    def label_new_posts(
        store: Store, config: object, precomputed: object | None = None, *, needing=None
    ) -> dict[str, int]:
        told.append((precomputed, needing))
        return real(store, config, precomputed, needing=needing)  # type: ignore[arg-type]

    monkeypatch.setattr(classify, "label_new_posts", label_new_posts)
    folder = write_folder(tmp_path / "arch", x_files())
    with open_store(tmp_path / "e.duckdb") as store:
        store.save_label_columns("x", ["1001"], ["share"], [0.5], ["old"], "old-model")
        summary = run_import(store, folder)
        labels = store.con.execute(
            "SELECT post_id, model_version, reason <> 'old' FROM labels ORDER BY post_id"
        ).fetchall()
    ((precomputed, needing),) = told
    assert isinstance(precomputed, dict) and list(precomputed) == [("x", "pat_rivera")]
    assert needing == {("x", "pat_rivera"): (5, 0, 1)}  # five to label, one to replace
    version = classify.active_model().version
    assert [pid for pid, _v, _new in labels] == ["1001", "1002", "1003", "1004", "1005"]
    assert all(v == version and new for _pid, v, new in labels)
    assert summary.labels is not None and sum(summary.labels.values()) == 5


def test_progress_is_reported_and_counts_add_up(tmp_path: Path, monkeypatch) -> None:
    import engage.importer as imp

    monkeypatch.setattr(imp, "PROGRESS_EVERY", 2)
    seen: list[int] = []
    folder = write_folder(tmp_path / "arch", x_files(nine_tweets()))
    with open_store(tmp_path / "e.duckdb") as store:
        summary = run_import(store, folder, batch_size=4, classify=False, on_progress=seen.append)
    assert seen == [2, 4, 6, 8, 9]
    assert (summary.read, summary.posts, summary.new) == (9, 9, 9)
    assert open_importer(folder).kind == "x-archive"


def test_threads_switch_often_during_an_import_and_as_before_after_it(tmp_path: Path) -> None:
    import engage.importer as imp

    during: list[float] = []
    folder = write_folder(tmp_path / "arch", x_files(nine_tweets()))
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        with open_store(tmp_path / "e.duckdb") as store:
            run_import(
                store,
                folder,
                batch_size=4,
                classify=False,
                on_progress=lambda _n: during.append(sys.getswitchinterval()),
            )
            assert during and max(during) == pytest.approx(imp.IMPORT_SWITCH_INTERVAL)
            assert sys.getswitchinterval() == pytest.approx(0.004)
            # a failed import puts it back too
            with pytest.raises(ImportFormatError):
                run_import(store, write_zip(tmp_path / "bad.zip", malformed_x_files()))
            assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        sys.setswitchinterval(before)


# -- the streaming reader ------------------------------------------------------------------------


class TinyChunks(JSONStream):
    CHUNK = 3
    MARGIN = 64


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(json_values, max_size=6), indent=st.sampled_from([None, 1, 2]))
def test_streamed_arrays_equal_json_loads(items: list[object], indent: int | None) -> None:
    text = "window.YTD.tweets.part0 = " + json.dumps(items, indent=indent, ensure_ascii=False)
    js = TinyChunks(io.StringIO(text), "t")
    js.skip_past("=", "prefix")
    assert list(js.iter_array()) == items
    assert js.at_end()


@settings(max_examples=80, deadline=None)
@given(
    items=st.lists(json_values | st.dictionaries(st.text(), json_values), max_size=8),
    indent=st.sampled_from([None, 1, 2, 4]),
    chunk=st.sampled_from([3, 64, 1 << 20]),
)
def test_streamed_array_chunks_equal_json_loads(
    items: list[object], indent: int | None, chunk: int
) -> None:
    text = "window.YTD.tweets.part0 = " + json.dumps(
        items, indent=indent, ensure_ascii=False, separators=(",", " : ") if indent else None
    )

    class Chunks(JSONStream):
        CHUNK = chunk
        MARGIN = 64

    js = Chunks(io.StringIO(text), "t")
    js.skip_past("=", "prefix")
    got = [item for part in js.iter_array_chunks() for item in part]
    assert got == items
    assert js.at_end()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[\n  {\n    "a" : 1\n  },\n  {\n    "b" : 2\n  }', "truncated"),
        ('[\n  {\n    "a" : 1\n  }\n  {\n    "b" : 2\n  }\n]', "expected ',' or ']'"),
        ('[\n  {\n    "a" : 1\n  },\n  {\n    "b" : \n  }\n]', "malformed JSON"),
    ],
)
def test_chunked_stream_errors_match_the_element_by_element_ones(text: str, problem: str) -> None:
    errors = []
    for read in (JSONStream.iter_array, JSONStream.iter_array_chunks):
        js = JSONStream(io.StringIO(text), "export.zip: data/tweets.js")
        with pytest.raises(ImportFormatError) as err:
            list(read(js))
        errors.append(str(err.value))
    assert problem in errors[0]
    assert errors[1] == errors[0]


@settings(max_examples=40, deadline=None)
@given(obj=st.dictionaries(st.text(), json_values, max_size=5))
def test_streamed_object_keys_and_values(obj: dict[str, object]) -> None:
    js = TinyChunks(io.StringIO(json.dumps(obj, indent=1)), "t")
    got = {key: js.value() for key in js.iter_object()}
    assert got == obj


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[{"a": 1}, {"b": 2}', "truncated"),
        ('[{"a": 1} {"b": 2}]', "expected ',' or ']'"),
        ('[{"a": 1}, {"b": }]', "malformed JSON"),
        ('[{"a": "unterminated', "truncated"),
    ],
)
def test_stream_errors_name_the_file_and_line(text: str, problem: str) -> None:
    js = TinyChunks(io.StringIO("\n\n" + text), "export.zip: data/tweets.js")
    with pytest.raises(ImportFormatError) as err:
        list(js.iter_array())
    assert problem in str(err.value)
    assert str(err.value).startswith("export.zip: data/tweets.js: ")
    assert "(line 3)" in str(err.value)


@pytest.mark.parametrize("indent", [2, None])
@pytest.mark.parametrize("number", [-(2**63) - 1, 2**64, 2**70, -(2**100)])
def test_integers_past_64_bits_are_read_exactly(indent: int | None, number: int) -> None:
    """orjson reads such an integer as a float without a word: the reader must not let it."""
    items = [{"tweet": {"id_str": "1", "n": number, "s": "id 1234567890123456789012"}}] * 3
    text = "window.YTD.tweets.part0 = " + json.dumps(items, indent=indent)
    js = JSONStream(io.StringIO(text), "tweets.js")
    js.skip_past("=", "prefix")
    assert [x for chunk in js.iter_array_chunks() for x in chunk] == items
    js = JSONStream(io.StringIO(text), "tweets.js")
    js.skip_past("=", "prefix")
    assert list(js.iter_array()) == items


# -- the default post columns of an importer -----------------------------------------------------


def test_default_post_columns_hold_what_the_records_hold(tmp_path: Path) -> None:
    from engage.store import post_columns_to_arrow, posts_to_arrow

    importer = open_importer(write_zip(tmp_path / "m.zip", mastodon_files()))
    assert not importer.columnar  # the default of connectors.base.Importer, not an override
    records = list(importer.iter_items())
    batches = list(importer.iter_post_columns(2))
    assert [b.count for b in batches] == [2] * (len(records) // 2) + (
        [len(records) % 2] if len(records) % 2 else []
    )
    start = 0
    for b in batches:
        assert (
            post_columns_to_arrow(b).to_pylist()
            == posts_to_arrow(records[start : start + b.count]).to_pylist()
        )
        start += b.count
    assert start == len(records) > 2


def test_default_post_columns_refuse_an_export_with_mentions(tmp_path: Path) -> None:
    from connectors.base import Importer, Mention

    class WithMentions(Importer):
        kind = "test-mentions"
        platform = "x"

        @classmethod
        def detect(cls, path: Path) -> bool:
            return True

        def account(self) -> str:
            return "pat"

        def iter_items(self):  # type: ignore[no-untyped-def]
            when = datetime(2024, 1, 1, tzinfo=UTC)
            yield Post(platform="x", account="pat", post_id="1", created_at=when)
            yield Mention(
                platform="x", account="pat", mention_id="2", author="sam", created_at=when
            )

    batches = WithMentions(tmp_path).iter_post_columns(1)
    assert next(batches).count == 1  # the whole batch before the mention
    with pytest.raises(ImportFormatError, match="mentions"):
        next(batches)


def test_labels_made_ahead_that_fail_to_save_are_made_by_the_next_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engage.importer as imp

    monkeypatch.setattr(imp, "AHEAD_LABEL_SLICE", 2)  # five posts: three slices
    real = Store.save_label_columns
    calls: list[int] = []

    def failing(self: Store, platform: str, post_ids, *args, **kw) -> int:  # type: ignore[no-untyped-def]
        calls.append(len(post_ids))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, platform, post_ids, *args, **kw)

    monkeypatch.setattr(Store, "save_label_columns", failing)
    db = tmp_path / "e.duckdb"
    folder = write_folder(tmp_path / "arch", x_files())
    with open_store(db) as store, pytest.raises(OSError, match="No space"):
        run_import(store, folder)
    assert calls == [2, 2]  # nothing more is written after the failure
    with open_store(db, read_only=True) as store:
        assert store.count_posts() == 5  # the posts were saved before the labels
        # each slice is its own transaction: the first is saved, the second not at all
        assert store.con.execute("SELECT count(*) FROM labels").fetchone() == (2,)
    monkeypatch.setattr(Store, "save_label_columns", real)
    with open_store(db) as store:
        summary = run_import(store, folder)  # run again: the missing labels are made
        assert store.con.execute("SELECT count(*) FROM labels").fetchone() == (5,)
    assert summary.labels is not None and sum(summary.labels.values()) == 3
