"""Bad input, property-based: the importers (X archive, Mastodon archive, Bluesky CAR), the
JSON-lines posts of ``engage classify --jsonl`` and the config loader get malformed, truncated,
oversized and wrongly typed input from hypothesis. Never a traceback: either the input is still
valid and is used, or one ``engage: error:`` line with exit code 2 and the database unchanged.

And upgrades: a database made by every earlier schema version (the first K migrations of
``engage.store.MIGRATIONS``, rows in every table) keeps every row when a current engage opens it.
"""

from __future__ import annotations

import errno
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from bluesky_car_build import Repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from import_archives_build import mastodon_files, tweet, write_zip, x_files
from reliability_support import Snapshot, one_error_line, snapshot
from test_import_bluesky_car import DID
from test_import_bluesky_car import records as car_records

from connectors import x_archive
from engage import paths
from engage.errors import StoreError
from engage.store import MIGRATIONS, open_store

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

# -- building bad exports -------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def _zip_bytes(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _x_items() -> list[dict[str, Any]]:
    text = x_files()["data/tweets.js"]
    return json.loads(text.split("=", 1)[1])


def _x_export(items: list[Any] | None = None, raw_posts: str | None = None) -> bytes:
    files: dict[str, str | bytes] = dict(x_files())
    if raw_posts is not None:
        files["data/tweets.js"] = raw_posts
    elif items is not None:
        files["data/tweets.js"] = "window.YTD.tweets.part0 = " + json.dumps(items)
    return _zip_bytes(files)


def _mastodon_outbox() -> dict[str, Any]:
    return json.loads(mastodon_files()["outbox.json"])


def _mastodon_export(outbox: Any = None, raw_outbox: str | None = None) -> bytes:
    files = dict(mastodon_files())
    if raw_outbox is not None:
        files["outbox.json"] = raw_outbox
    elif outbox is not None:
        files["outbox.json"] = json.dumps(outbox)
    return _zip_bytes(files)


def _car(recs: dict[str, Any] | None = None) -> bytes:
    return Repo(DID, car_records() if recs is None else recs).car()


def _set_path(obj: Any, path: list[int], value: Any) -> Any:
    """Replace the value ``path`` (indexes chosen modulo the sizes found) leads to."""
    if not path or not isinstance(obj, dict | list) or not obj:
        return value
    if isinstance(obj, dict):
        key = sorted(obj)[path[0] % len(obj)]
        obj[key] = _set_path(obj[key], path[1:], value)
    else:
        i = path[0] % len(obj)
        obj[i] = _set_path(obj[i], path[1:], value)
    return obj


@st.composite
def bad_exports(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, bytes) of a damaged export of one of the three kinds."""
    kind = draw(st.sampled_from(["x", "mastodon", "car"]))
    how = draw(st.sampled_from(["truncate", "bytes", "retype", "inner-cut", "junk", "oversized"]))
    name = "export.car" if kind == "car" else "export.zip"
    if kind == "x":
        good = _x_export()
    elif kind == "mastodon":
        good = _mastodon_export()
    else:
        good = _car()
    if how == "truncate":
        return name, good[: draw(st.integers(0, len(good) - 1))]
    if how == "bytes":
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return name, bytes(data)
    if how == "junk":
        return name, draw(st.binary(min_size=0, max_size=2000))
    path = draw(st.lists(st.integers(0, 50), min_size=1, max_size=5))
    value = draw(json_values)
    if how == "oversized":
        value = "x" * draw(st.sampled_from([100_000, 1_000_000]))
    if kind == "x":
        if how == "inner-cut":
            raw = x_files()["data/tweets.js"]
            return name, _x_export(raw_posts=raw[: draw(st.integers(0, len(raw) - 1))])
        return name, _x_export(_set_path(_x_items(), path, value))
    if kind == "mastodon":
        if how == "inner-cut":
            raw = mastodon_files()["outbox.json"]
            assert isinstance(raw, str)
            return name, _mastodon_export(raw_outbox=raw[: draw(st.integers(0, len(raw) - 1))])
        return name, _mastodon_export(_set_path(_mastodon_outbox(), path, value))
    recs = car_records()
    if how == "inner-cut":
        data = _car(recs)
        return name, data[: draw(st.integers(0, len(data) - 1))]
    if isinstance(value, float | int) and not isinstance(value, bool) and abs(value) >= 2**63:
        value = str(value)  # DAG-CBOR has no integers that large; the builder would refuse
    if isinstance(value, float):
        value = str(value)  # DAG-CBOR floats are rare in records; keep the builder simple
    return name, _car(_set_path(recs, path, value))


def _seed_database(run_cli: Callable[..., Any], tmp_path: Path) -> Snapshot:
    """A database with posts in it, so "unchanged" means something."""
    good = write_zip(tmp_path / "seed.zip", x_files())
    r = run_cli("import", "--no-label", str(good))
    assert r.exit_code == 0, r.stderr
    return snapshot(paths.db_path())


@settings(SETTINGS, max_examples=20)
@given(export=bad_exports())
def test_a_damaged_export_is_refused_in_one_line_or_imported(
    run_cli: Callable[..., Any], tmp_path: Path, export: tuple[str, bytes]
) -> None:
    before = _seed_database(run_cli, tmp_path) if not paths.db_path().exists() else None
    before = before or snapshot(paths.db_path())
    name, data = export
    target = tmp_path / name
    target.write_bytes(data)
    r = run_cli("import", "--no-label", str(target))
    assert r.exit_code in (0, 2), (r.exit_code, r.stderr)
    if r.exit_code == 2:
        line = one_error_line(r.stderr)
        assert str(target) in line or name in line or "--kind" in line, line
        assert snapshot(paths.db_path()) == before


# -- engage classify --jsonl ----------------------------------------------------------------------

post_objects = st.fixed_dictionaries(
    {},
    optional={
        "post_id": json_values,
        "platform": json_values,
        "text": json_values | st.text(max_size=200),
        "kind": json_values | st.sampled_from(["post", "reply", "repost", "quote"]),
        "created_at": json_values | st.just("2024-05-01T10:00:00Z"),
        "urls": json_values,
        "mentions": json_values,
        "client": json_values,
        "label": json_values,
    },
)


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    lines = [json.dumps(o) for o in draw(st.lists(post_objects | json_values, max_size=5))]
    data = "\n".join(lines).encode()
    how = draw(st.sampled_from(["as-is", "truncate", "bytes", "junk"]))
    if how == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "bytes" and data:
        buf = bytearray(data)
        buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        data = bytes(buf)
    elif how == "junk":
        data = draw(st.binary(max_size=300))
    return data


@settings(SETTINGS, max_examples=15)
@given(data=jsonl_files())
def test_jsonl_posts_are_read_or_refused_with_one_line_exit_2(tmp_path: Path, data: bytes) -> None:
    """What ``engage classify --jsonl`` (and ``engage eval --data``) read: every file either
    gives posts or one ``UsageError`` (exit code 2) naming the file, never another exception."""
    from engage.classify import read_jsonl_posts
    from engage.errors import UsageError

    path = tmp_path / "posts.jsonl"
    path.write_bytes(data)
    for labelled in (False, True):
        try:
            posts = read_jsonl_posts(path, labelled=labelled)
        except UsageError as exc:
            assert exc.exit_code == 2
            assert "\n" not in exc.message and str(path) in exc.message
        else:
            # what was read can be labelled and stored: a post the store refuses would be a
            # traceback later
            for post, _label in posts:
                json.dumps([post.text, post.post_id, post.platform], ensure_ascii=False).encode()


@settings(SETTINGS, max_examples=10)
@given(data=jsonl_files())
def test_engage_classify_jsonl_refuses_bad_input_in_one_line_exit_2(
    run_cli: Callable[..., Any], tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_bytes(data)
    r = run_cli("classify", "--jsonl", str(path))
    assert r.exit_code in (0, 2), (r.exit_code, r.stderr)
    if r.exit_code == 2:
        assert str(path) in one_error_line(r.stderr)
    assert not paths.db_path().exists()  # classifying a file never touches the database


def test_engage_classify_jsonl_names_the_bad_line(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": 5}\n', encoding="utf-8")
    r = run_cli("classify", "--jsonl", str(bad))
    assert r.exit_code == 2
    assert "bad.jsonl:2: field 'text' must be a string" in one_error_line(r.stderr)


# -- the config loader ----------------------------------------------------------------------------

SECTIONS = ["goal", "time", "fetch", "database", "nudge", "report", "smtp", "identity", "nope"]
KEYS = [
    "min",
    "target",
    "timezone",
    "day_end_hour",
    "max_retries",
    "max_rate_limit_wait_seconds",
    "x_max_reads",
    "lock_timeout_seconds",
    "quiet_start",
    "port",
    "own_domains",
    "enabled",
    "zzz",
]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


toml_values = st.recursive(
    st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=5,
)


@st.composite
def config_files(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.text(max_size=200))  # mostly not TOML at all
    parts = []
    for section in draw(st.lists(st.sampled_from(SECTIONS), max_size=3, unique=True)):
        parts.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True)):
            parts.append(f"{key} = {_toml_value(draw(toml_values))}")
    text = "\n".join(parts) + "\n"
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@SETTINGS
@given(text=config_files())
def test_a_bad_config_is_one_line_naming_the_file_and_exit_2(
    run_cli: Callable[..., Any], text: str
) -> None:
    path = paths.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    paths.db_path().unlink(missing_ok=True)
    r = run_cli("account", "list")
    assert r.exit_code in (0, 2), (r.exit_code, r.stderr)
    if r.exit_code == 2:
        line = one_error_line(r.stderr)
        assert str(path) in line
        assert not paths.db_path().exists()  # refused before the database was touched


# -- upgrades from every earlier schema version ---------------------------------------------------


#: columns whose values the record classes check (a post's kind, a label)
_KNOWN = {
    ("posts", "kind"): ["post", "reply", "quote"],
    ("mentions", "kind"): ["mention", "reply", "quote"],
    ("labels", "label"): ["ask", "answer", "comment"],
    ("corrections", "label"): ["share", "ask", "auto_promo"],
}


def _value(table: str, column: str, type_name: str, i: int) -> Any:
    if (table, column) in _KNOWN:
        return _KNOWN[table, column][i]
    if column == "platform":
        return ["mastodon", "bluesky", "x"][i]
    t = type_name.upper()
    if t.endswith("[]"):
        return [f"item{i}"]
    if t in ("VARCHAR", "TEXT"):
        return f"v{i}"
    if t in ("INTEGER", "BIGINT", "SMALLINT", "HUGEINT", "UBIGINT", "UINTEGER"):
        return i
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return i + 0.5
    if t == "BOOLEAN":
        return i % 2 == 0
    if t.startswith("TIMESTAMP"):
        return f"2024-01-{i + 1:02d} 10:00:00"
    if t == "DATE":
        return f"2024-01-{i + 1:02d}"
    if t == "JSON":
        return json.dumps({"i": i})
    raise AssertionError(f"no sample value for column type {type_name}")


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_name IN (SELECT table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema = 'main') "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in rows:
        out.setdefault(table, []).append((column, dtype))
    return out


def _rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> list[tuple]:
    cols = ", ".join(f'"{c}"::VARCHAR' for c in columns)
    return sorted(con.execute(f'SELECT {cols} FROM "{table}"').fetchall(), key=repr)


@pytest.mark.parametrize("k", range(1, len(MIGRATIONS) + 1))
def test_upgrading_from_each_earlier_schema_keeps_every_row(
    tmp_path: Path, k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a migration is a write, so change listeners other tests registered (the prompt cache
    # records the time zone in meta) would run at close: this test is about the migrations
    monkeypatch.setattr("engage.changes.listeners", [])
    db = tmp_path / f"schema-{k}.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for version, name, sql in sorted(MIGRATIONS)[:k]:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    tables = {t: cols for t, cols in _tables(con).items() if t != "schema_migrations"}
    assert "posts" in tables
    before = {}
    for table, cols in tables.items():
        names = [c for c, _ in cols]
        marks = ", ".join("?" for _ in cols)
        for i in range(3):
            con.execute(
                f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({marks})',
                [_value(table, c, t, i) for c, t in cols],
            )
        before[table] = (names, _rows(con, table, names))
    con.close()

    with open_store(db) as store:
        assert store.schema_version() == max(v for v, _, _ in MIGRATIONS)
        assert store.count_posts() == 3
    con = duckdb.connect(str(db), read_only=True)
    try:
        for table, (names, rows) in before.items():
            assert _rows(con, table, names) == rows, table
    finally:
        con.close()
    # and the upgraded database is usable: every post can be read back as a record
    with open_store(db, read_only=True) as store:
        assert len([p for batch in store.iter_posts() for p in batch]) == 3


# -- a database where no folder can be made --------------------------------------------------------


def test_a_database_whose_folder_cannot_be_made_is_one_line_not_a_traceback(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """A path under a plain file (no folder can be made there, even by root): the import, which
    copies the archive's posts files beside the database, the demo and opening a store each say
    so in one line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    archive = write_zip(tmp_path / "x.zip", x_files())
    r = run_cli("--db", str(blocker / "e.duckdb"), "import", str(archive))
    assert r.exit_code == 1
    assert "cannot write in" in one_error_line(r.stderr) and str(blocker) in r.stderr
    r = run_cli("demo", "--out", str(blocker / "demo.duckdb"))
    assert r.exit_code == 1
    assert "cannot write the demo database" in one_error_line(r.stderr)
    with pytest.raises(StoreError, match="cannot create the folder of database"):
        open_store(blocker / "sub" / "e.duckdb")
    assert blocker.read_text() == "not a folder" and not list(tmp_path.glob("**/*.duckdb*"))


def test_a_full_disk_while_copying_the_posts_files_is_one_line_and_saves_nothing(
    run_cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import copies the archive's posts files beside the database: a full disk there is
    said in one line with the room needed, and nothing is saved or left behind."""
    before = _seed_database(run_cli, tmp_path)
    archive = write_zip(
        tmp_path / "x.zip", x_files([tweet(str(900 + i), "a post") for i in range(30)])
    )

    def no_room(*args: Any) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(x_archive, "_copy_parts", no_room)
    r = run_cli("import", str(archive))
    assert r.exit_code == 1
    line = one_error_line(r.stderr)
    assert (
        "no room to copy" in line
        and str(paths.db_path().parent) in line
        and "free about 1 MB" in line
    )
    assert snapshot(paths.db_path()) == before
    assert not list(paths.db_path().parent.glob(".engage-import-*"))
