from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors.base import AccountInfo, Mention, Post
from engage.errors import DatabaseBusyError, StoreError, UsageError
from engage.store import LATEST_SCHEMA, MIGRATIONS, ROW_GROUP_SIZE, LabelRow, open_store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_posts(n: int, platform: str = "x") -> list[Post]:
    return [
        Post(
            platform=platform,
            account="pat",
            post_id=str(1000 + i),
            created_at=T0 + timedelta(minutes=i),
            text=f"post number {i}",
            urls=[f"https://patblog.example/{i}"],
            mentions=["ana"] if i % 2 else [],
            raw={"id": str(1000 + i)},
        )
        for i in range(n)
    ]


def all_rows(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT * FROM posts ORDER BY platform, post_id").fetchall()
    finally:
        con.close()


def test_upserting_the_same_posts_twice_leaves_the_same_rows(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    posts = make_posts(50)
    with open_store(db) as store:
        first = store.upsert_posts(posts)
    rows_after_first = all_rows(db)
    with open_store(db) as store:
        second = store.upsert_posts(posts)
    assert (first.new, first.updated, first.unchanged) == (50, 0, 0)
    assert (second.new, second.updated, second.unchanged) == (0, 0, 50)
    assert all_rows(db) == rows_after_first


def test_upsert_counts_changed_rows_and_never_erases_known_values(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    archive = Post("x", "pat", "1", T0, text="hello", client="Buffer", urls=["https://a.example"])
    api = Post("x", "pat", "1", T0, text="hello edited", client=None, urls=[])
    with open_store(db) as store:
        store.upsert_posts([archive])
        result = store.upsert_posts([api])
        (post,) = store.find_posts_by_id("1")
    assert (result.new, result.updated, result.unchanged) == (0, 1, 0)
    assert post.text == "hello edited"
    assert post.client == "Buffer"  # the API knows no posting app: keep the archive's
    assert post.urls == ["https://a.example"]


def test_a_batch_that_repeats_a_post_stores_it_once(tmp_path: Path) -> None:
    posts = make_posts(3)
    with open_store(tmp_path / "e.duckdb") as store:
        result = store.upsert_posts(posts + posts[:2])
        assert store.count_posts() == 3
    assert result.new == 3


def test_migrations_run_once_and_are_recorded(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with open_store(db) as store:
        applied = store.applied_migrations()
    with open_store(db) as store:
        assert store.migrate() == []
        assert store.applied_migrations() == applied
    assert [v for v, _, _ in applied] == sorted(v for v, _, _ in MIGRATIONS)
    assert applied[-1][0] == LATEST_SCHEMA


def test_a_database_from_a_newer_engage_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with open_store(db) as store:
        store.con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    with pytest.raises(StoreError, match="newer than this engage"):
        open_store(db)


def test_commit_page_is_all_or_nothing(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    good = make_posts(3)
    bad_mention = Mention("x", "pat", "m1", "ana", T0, text="hi")
    with open_store(db) as store:
        store.commit_page("acct", "posts", good[:1], [], {"since_id": "1000"})

        def boom(*_a: object) -> None:
            raise RuntimeError("disk full")

        store.upsert_mentions = boom  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            store.commit_page("acct", "posts", good[1:], [bad_mention], {"since_id": "1002"})
        assert store.count_posts() == 1
        assert store.get_cursor("acct", "posts") == {"since_id": "1000"}


def test_labels_and_corrections_are_kept_apart(tmp_path: Path) -> None:
    with open_store(tmp_path / "e.duckdb") as store:
        store.upsert_posts(make_posts(2))
        store.save_labels([LabelRow("x", "1000", "share", 0.8, "link only", "m1")])
        store.set_correction("x", "1000", "comment")
        store.save_labels([LabelRow("x", "1000", "auto_promo", 0.9, "scheduled", "m2")])
        (view,) = [v for v in store.query_posts(limit=None) if v.post.post_id == "1000"]
        assert view.label == "comment"
        assert view.corrected is True
        assert view.model_label == "auto_promo"
        assert store.clear_correction("x", "1000")
        (view,) = [v for v in store.query_posts(limit=None) if v.post.post_id == "1000"]
        assert view.label == "auto_promo" and not view.corrected
        with pytest.raises(UsageError, match="unknown label"):
            store.set_correction("x", "1000", "spam")


def test_query_filters_by_label_platform_and_time(tmp_path: Path) -> None:
    with open_store(tmp_path / "e.duckdb") as store:
        store.upsert_posts(make_posts(4, "x") + make_posts(2, "mastodon"))
        store.save_labels(
            [
                LabelRow("x", str(1000 + i), "ask" if i < 2 else "share", 0.7, "r", "m")
                for i in range(4)
            ]
        )
        assert {v.post.post_id for v in store.query_posts(label="ask")} == {"1000", "1001"}
        assert len(store.query_posts(platform="mastodon")) == 2
        since = store.query_posts(since=T0 + timedelta(minutes=3), platform="x")
        assert [v.post.post_id for v in since] == ["1003"]


def test_accounts_and_cursors(tmp_path: Path) -> None:
    with open_store(tmp_path / "e.duckdb") as store:
        store.add_account(
            AccountInfo("work", "mastodon", "pat@example.social", "42", "https://example.social")
        )
        with pytest.raises(UsageError, match="exists already"):
            store.add_account(AccountInfo("work", "x", "pat"))
        store.set_cursor("work", "posts", {"since_id": "9"})
        assert [a.name for a in store.list_accounts()] == ["work"]
        assert store.remove_account("work")
        assert store.get_cursor("work", "posts") is None
        assert store.list_accounts() == []


def test_read_only_open_of_a_missing_database_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="engage fetch"):
        open_store(tmp_path / "none.duckdb", read_only=True)


def test_a_writer_waits_for_the_lock_then_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with open_store(db):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(db)!r})
                print("locked", flush=True)
                time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(DatabaseBusyError, match="in use by another engage process") as err:
            open_store(db, lock_timeout=0.5)
        assert time.monotonic() - started >= 0.5
        assert err.value.exit_code == 3
    finally:
        holder.kill()
        holder.wait()
    with open_store(db, lock_timeout=2) as store:  # free again
        assert store.count_posts() == 0


def test_export_writes_every_post_field_and_the_label(tmp_path: Path) -> None:
    import csv
    import json

    import pyarrow.parquet as pq

    with open_store(tmp_path / "e.duckdb") as store:
        store.upsert_posts(make_posts(3))
        store.save_labels([LabelRow("x", "1001", "comment", 0.75, "own words", "m1")])
        store.set_correction("x", "1002", "ask")
        store.export("csv", tmp_path / "o.csv")
        store.export("jsonl", tmp_path / "o.jsonl")
        store.export("parquet", tmp_path / "o.parquet")
    rows = list(csv.DictReader((tmp_path / "o.csv").open()))
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    table = pq.read_table(tmp_path / "o.parquet").to_pylist()
    for got in (rows, lines, table):
        assert [r["post_id"] for r in got] == ["1000", "1001", "1002"]
    assert lines[1]["label"] == "comment" and lines[1]["reason"] == "own words"
    assert lines[2]["label"] == "ask" and lines[2]["corrected"] is True
    assert lines[1]["mentions"] == ["ana"] and lines[0]["created_at"] == "2025-03-01T12:00:00Z"
    assert json.loads(rows[0]["urls"]) == ["https://patblog.example/0"]
    assert table[1]["confidence"] == pytest.approx(0.75)


def test_iter_posts_can_leave_the_raw_json_out(tmp_path: Path) -> None:
    with open_store(tmp_path / "e.duckdb") as store:
        store.upsert_posts(make_posts(3))
        lean = [p for batch in store.iter_posts(with_raw=False) for p in batch]
        full = [p for batch in store.iter_posts() for p in batch]
    assert [p.raw for p in lean] == [None, None, None]
    assert [p.raw for p in full] == [{"id": "1000"}, {"id": "1001"}, {"id": "1002"}]
    assert [p.text for p in lean] == [p.text for p in full]


def _insert_generated_posts(con: duckdb.DuckDBPyConnection, first_id: int, n: int) -> None:
    con.execute(
        "INSERT INTO posts (platform, post_id, account, created_at, text, kind, urls, mentions, "
        "source) SELECT 'x', (? + range)::TEXT, 'pat', TIMESTAMP '2025-03-01' "
        "+ range * INTERVAL 1 MINUTE, 'generated ' || range, 'post', [], [], 'test' FROM range(?)",
        [first_id, n],
    )


def _row_groups(con: duckdb.DuckDBPyConnection) -> list[tuple[int, int]]:
    """(row group, rows) of the posts table."""
    return [
        (int(g), int(n))
        for g, n in con.execute(
            "SELECT row_group_id, max(count) FROM pragma_storage_info('posts') "
            "WHERE column_name = 'post_id' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    ]


def test_the_database_keeps_posts_in_row_groups_of_engage_size(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with open_store(db) as store:
        _insert_generated_posts(store.con, 10_000_000, ROW_GROUP_SIZE + 100)
        store.checkpoint()
        layout = _row_groups(store.con)
        spill_to = store.con.execute("SELECT current_setting('temp_directory')").fetchone()
    # DuckDB's own default would have kept all of them in one row group of 122,880
    assert layout == [(0, ROW_GROUP_SIZE), (1, 100)]
    assert spill_to == (f"{db}.tmp",)  # where DuckDB spills for a database it opens itself
    with open_store(db, read_only=True) as store:
        assert _row_groups(store.con) == layout
        assert store.con.execute("SELECT count(*) FROM posts").fetchone() == (ROW_GROUP_SIZE + 100,)


def test_a_database_with_duckdbs_own_row_groups_opens_and_takes_new_posts(
    tmp_path: Path,
) -> None:
    # an older engage (or DuckDB's own shell) wrote this file with row groups of 122,880 rows
    db = tmp_path / "e.duckdb"
    open_store(db).close()
    con = duckdb.connect(str(db))
    try:
        _insert_generated_posts(con, 10_000_000, 130_000)
        con.execute("CHECKPOINT")
        assert _row_groups(con) == [(0, 122_880), (1, 7_120)]
    finally:
        con.close()
    with open_store(db) as store:
        result = store.upsert_posts(make_posts(5))
        store.checkpoint()
    assert (result.new, result.updated) == (5, 0)
    rows = all_rows(db)
    assert len(rows) == 130_005
    assert len({(r[0], r[1]) for r in rows}) == 130_005
    with open_store(db, read_only=True) as store:
        found = [store.find_posts_by_id(str(i)) for i in (1000, 1004, 10_000_000, 10_129_999)]
    assert [[p.text for p in f] for f in found] == [
        ["post number 0"],
        ["post number 4"],
        ["generated 0"],
        ["generated 129999"],
    ]


def test_a_database_path_with_quotes_and_spaces_opens(tmp_path: Path) -> None:
    db = tmp_path / "Pat's posts" / 'it\'s "mine".duckdb'
    with open_store(db) as store:
        store.upsert_posts(make_posts(2))
    with open_store(db, read_only=True) as store:
        assert store.count_posts() == 2
    assert len(all_rows(db)) == 2
