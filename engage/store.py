"""The one module that speaks SQL: the DuckDB schema, its numbered migrations, upserts and queries.

Times are stored as naive ``TIMESTAMP`` values in UTC and handed out as aware UTC ``datetime``.
DuckDB lets one process write a database file at a time, so every command opens the store for as
short a time as it can; a writer that finds the file locked waits up to ``lock_timeout`` seconds
and then gives up with a ``DatabaseBusyError`` (exit 3) that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from connectors.base import AccountInfo, Mention, Post, PostColumns, json_text
from engage import changes
from engage.errors import DatabaseBusyError, StoreError, UsageError
from engage.vocab import GENUINE_LABELS as GENUINE_LABELS  # re-exported
from engage.vocab import LABELS

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow (with numpy, about 0.15 s to import) is imported by the methods that use it, so that
# a command can open the database and start work in DuckDB first (``engage import`` stages an
# archive while the classifier's libraries load)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Schema. Add new migrations with a new number; never edit one that has shipped.
# ---------------------------------------------------------------------------------------------

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "posts, mentions, labels, corrections, accounts, cursors",
        """
        CREATE TABLE accounts (
            name        TEXT PRIMARY KEY,
            platform    TEXT NOT NULL,
            handle      TEXT NOT NULL,
            user_id     TEXT,
            base_url    TEXT,
            settings    JSON,
            created_at  TIMESTAMP NOT NULL
        );
        CREATE TABLE posts (
            platform       TEXT NOT NULL,
            post_id        TEXT NOT NULL,
            account        TEXT NOT NULL,
            url            TEXT,
            created_at     TIMESTAMP NOT NULL,
            text           TEXT NOT NULL,
            kind           TEXT NOT NULL,
            reply_to_post  TEXT,
            reply_to_user  TEXT,
            quoted_post    TEXT,
            reposted_post  TEXT,
            thread_root    TEXT,
            urls           TEXT[] NOT NULL,
            mentions       TEXT[] NOT NULL,
            client         TEXT,
            lang           TEXT,
            raw            JSON,
            source         TEXT NOT NULL,
            fetched_at     TIMESTAMP,
            PRIMARY KEY (platform, post_id)
        );
        CREATE TABLE mentions (
            platform       TEXT NOT NULL,
            mention_id     TEXT NOT NULL,
            account        TEXT NOT NULL,
            author         TEXT NOT NULL,
            created_at     TIMESTAMP NOT NULL,
            text           TEXT NOT NULL,
            kind           TEXT NOT NULL,
            url            TEXT,
            reply_to_post  TEXT,
            thread_root    TEXT,
            raw            JSON,
            source         TEXT NOT NULL,
            fetched_at     TIMESTAMP,
            PRIMARY KEY (platform, mention_id)
        );
        CREATE TABLE labels (
            platform       TEXT NOT NULL,
            post_id        TEXT NOT NULL,
            label          TEXT NOT NULL,
            confidence     DOUBLE NOT NULL,
            reason         TEXT NOT NULL,
            model_version  TEXT NOT NULL,
            labelled_at    TIMESTAMP NOT NULL,
            PRIMARY KEY (platform, post_id)
        );
        CREATE TABLE corrections (
            platform       TEXT NOT NULL,
            post_id        TEXT NOT NULL,
            label          TEXT NOT NULL,
            corrected_at   TIMESTAMP NOT NULL,
            PRIMARY KEY (platform, post_id)
        );
        CREATE TABLE sync_cursors (
            account     TEXT NOT NULL,
            stream      TEXT NOT NULL,
            cursor      JSON NOT NULL,
            updated_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (account, stream)
        );
        CREATE TABLE import_progress (
            import_key   TEXT PRIMARY KEY,
            path         TEXT NOT NULL,
            kind         TEXT NOT NULL,
            items_done   BIGINT NOT NULL,
            finished     BOOLEAN NOT NULL,
            updated_at   TIMESTAMP NOT NULL
        );
        CREATE TABLE meta (
            key    TEXT PRIMARY KEY,
            value  TEXT NOT NULL
        );
        CREATE VIEW post_labels AS
        SELECT p.platform, p.post_id,
               COALESCE(c.label, l.label)          AS label,
               CASE WHEN c.label IS NOT NULL THEN 1.0 ELSE l.confidence END AS confidence,
               l.reason                             AS reason,
               c.label IS NOT NULL                  AS corrected,
               l.label                              AS model_label,
               l.model_version                      AS model_version
        FROM posts p
        LEFT JOIN labels l USING (platform, post_id)
        LEFT JOIN corrections c USING (platform, post_id);
        """,
    ),
    (
        2,
        "posts.raw compressed with zstd",
        # DuckDB cannot change a column's compression in place: the table is copied. zstd for
        # the platform JSON (about 1 KB a post, read only by export and record loading) halves
        # the file and cuts the time of large imports (100,000 tweets: about 0.6 s of 2.9 s
        # spent in DuckDB), whose checkpoints otherwise analyse every string for FSST.
        """
        CREATE TABLE posts_zstd (
            platform       TEXT NOT NULL,
            post_id        TEXT NOT NULL,
            account        TEXT NOT NULL,
            url            TEXT,
            created_at     TIMESTAMP NOT NULL,
            text           TEXT NOT NULL,
            kind           TEXT NOT NULL,
            reply_to_post  TEXT,
            reply_to_user  TEXT,
            quoted_post    TEXT,
            reposted_post  TEXT,
            thread_root    TEXT,
            urls           TEXT[] NOT NULL,
            mentions       TEXT[] NOT NULL,
            client         TEXT,
            lang           TEXT,
            raw            JSON USING COMPRESSION zstd,
            source         TEXT NOT NULL,
            fetched_at     TIMESTAMP,
            PRIMARY KEY (platform, post_id)
        );
        INSERT INTO posts_zstd SELECT * FROM posts;
        DROP VIEW post_labels;
        DROP TABLE posts;
        ALTER TABLE posts_zstd RENAME TO posts;
        CREATE VIEW post_labels AS
        SELECT p.platform, p.post_id,
               COALESCE(c.label, l.label)          AS label,
               CASE WHEN c.label IS NOT NULL THEN 1.0 ELSE l.confidence END AS confidence,
               l.reason                             AS reason,
               c.label IS NOT NULL                  AS corrected,
               l.label                              AS model_label,
               l.model_version                      AS model_version
        FROM posts p
        LEFT JOIN labels l USING (platform, post_id)
        LEFT JOIN corrections c USING (platform, post_id);
        """,
    ),
]

LATEST_SCHEMA = max(v for v, _, _ in MIGRATIONS)

POST_COLUMNS: tuple[str, ...] = (
    "platform",
    "post_id",
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
    "raw",
    "source",
    "fetched_at",
)
MENTION_COLUMNS: tuple[str, ...] = (
    "platform",
    "mention_id",
    "account",
    "author",
    "created_at",
    "text",
    "kind",
    "url",
    "reply_to_post",
    "thread_root",
    "raw",
    "source",
    "fetched_at",
)


@cache
def _schemas() -> tuple[pa.Schema, pa.Schema]:
    """The Arrow schemas of a batch of posts and of mentions (``POST_COLUMNS``,
    ``MENTION_COLUMNS``): text, but for the times and the lists."""
    import pyarrow as pa

    ts = pa.timestamp("us")
    types = {"created_at": ts, "fetched_at": ts, "urls": pa.list_(pa.string())}
    types["mentions"] = types["urls"]

    def schema(columns: Sequence[str]) -> pa.Schema:
        return pa.schema([(c, types.get(c, pa.string())) for c in columns])

    return schema(POST_COLUMNS), schema(MENTION_COLUMNS)


# Content columns: a difference in one of these makes an upsert count as "updated". The merge
# never lets a missing value (None, empty list) from a poorer source erase a known one: an X API
# fetch, which has no posting app, must not wipe the app an archive import recorded.
_POST_MERGE = {
    "account": "i.account",
    "url": "COALESCE(i.url, p.url)",
    "created_at": "i.created_at",
    "text": "CASE WHEN i.text <> '' THEN i.text ELSE p.text END",
    "kind": "i.kind",
    "reply_to_post": "COALESCE(i.reply_to_post, p.reply_to_post)",
    "reply_to_user": "COALESCE(i.reply_to_user, p.reply_to_user)",
    "quoted_post": "COALESCE(i.quoted_post, p.quoted_post)",
    "reposted_post": "COALESCE(i.reposted_post, p.reposted_post)",
    "thread_root": "COALESCE(i.thread_root, p.thread_root)",
    "urls": "CASE WHEN len(i.urls) > 0 THEN i.urls ELSE p.urls END",
    "mentions": "CASE WHEN len(i.mentions) > 0 THEN i.mentions ELSE p.mentions END",
    "client": "COALESCE(i.client, p.client)",
    "lang": "COALESCE(i.lang, p.lang)",
}
_MENTION_MERGE = {
    "account": "i.account",
    "author": "i.author",
    "created_at": "i.created_at",
    "text": "CASE WHEN i.text <> '' THEN i.text ELSE p.text END",
    "kind": "i.kind",
    "url": "COALESCE(i.url, p.url)",
    "reply_to_post": "COALESCE(i.reply_to_post, p.reply_to_post)",
    "thread_root": "COALESCE(i.thread_root, p.thread_root)",
}
# Metadata columns: refreshed whenever content changes, never counted as a change on their own.
_POST_META = {
    "raw": "COALESCE(i.raw, p.raw)",
    "source": "i.source",
    "fetched_at": "COALESCE(i.fetched_at, p.fetched_at)",
}
_MENTION_META = _POST_META


@dataclass(frozen=True)
class UpsertResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.new + other.new, self.updated + other.updated, self.unchanged + other.unchanged
        )

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged


@dataclass(frozen=True)
class LabelRow:
    platform: str
    post_id: str
    label: str
    confidence: float
    reason: str
    model_version: str


@dataclass(frozen=True)
class PostView:
    """A post as the CLI and reports show it: the record plus its effective label."""

    post: Post
    label: str | None
    confidence: float | None
    reason: str | None
    corrected: bool
    model_label: str | None


def _first(result: duckdb.DuckDBPyConnection) -> Any:
    """The first row of a result, reading it to the end: DuckDB refuses new work on a connection
    whose last result was not finished."""
    rows = result.fetchall()
    return rows[0] if rows else None


def _naive_utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None)


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_LOCK_RE = re.compile(r"Could not set lock|Conflicting lock", re.IGNORECASE)
_PID_RE = re.compile(r"\(PID (\d+)\)")


#: rows per row group of an engage database (DuckDB's default is 122,880). DuckDB writes a
#: transaction's full row groups straight into the database file as they fill, and its commit
#: then only points at them; the rows of a partial row group go through the log and are
#: written again at the next checkpoint. An import commits its posts in batches of whole row
#: groups (``engage.importer.STAGED_BATCH_SIZE``), so with row groups of this size a
#: 100,000-tweet import writes almost nothing twice (its writer: 0.75 s against 1.03 s in
#: batches of 25,000 with the default size). Smaller groups cost the reads over a whole
#: history: 1,000,000 posts, ``engage nudge --live`` 2% slower than with the default, 6% with
#: groups of 24,576 (which imported no faster). Every connection sets it (``_open_duckdb``):
#: it is an option of the connection, not of the file.
ROW_GROUP_SIZE = 49_152
#: the name the database file is attached under (``_open_duckdb``)
_DATABASE = "engage_db"


def _open_duckdb(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to the database file at ``path``, attached with engage's row group size
    (``ROW_GROUP_SIZE``) and made the default database; DuckDB spills to ``<path>.tmp`` as it
    does for a database it opens itself. A cursor of it starts elsewhere: ``Store._cursor``."""
    con = duckdb.connect(config={"temp_directory": f"{path}.tmp"})
    try:
        options = f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}" + (", READ_ONLY" if read_only else "")
        literal = "'" + str(path).replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS {_DATABASE} ({options})")
        con.execute(f"USE {_DATABASE}")
    except BaseException:
        con.close()
        raise
    return con


def _connect(path: Path, read_only: bool, lock_timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + max(0.0, lock_timeout)
    delay = 0.05
    said = False
    while True:
        try:
            return _open_duckdb(path, read_only)
        except duckdb.IOException as exc:
            if not _LOCK_RE.search(str(exc)):
                raise StoreError(f"cannot open database {path}: {exc}") from None
            if time.monotonic() >= deadline:
                pid = _PID_RE.search(str(exc))
                holder = f" (PID {pid.group(1)})" if pid else ""
                raise DatabaseBusyError(
                    f"database {path} is in use by another engage process{holder}; waited "
                    f"{lock_timeout:g} s. Try again when it finishes, or raise "
                    "database.lock_timeout_seconds in your config"
                ) from None
            if not said and not read_only:
                # a writer (cron fetch, import) says once that it waits, and for how long
                log.warning(
                    "database %s is busy (another engage process is using it); waiting up to "
                    "%g s (database.lock_timeout_seconds)",
                    path,
                    lock_timeout,
                )
                said = True
            else:
                log.info("database %s is busy; waiting for the other process", path)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        except duckdb.Error as exc:
            raise StoreError(
                f"cannot open database {path}: {exc}; is it a DuckDB file made by engage?"
            ) from None


#: the columns the classifier reads (``Store.post_feature_table``) from ``source``
_FEATURE_SELECT = (
    "SELECT post_id, text, kind, platform, account, client, reply_to_user, urls, "
    "coalesce(len(mentions), 0) AS n_mentions, minute(created_at) AS minute, "
    "second(created_at) AS second FROM {source} ORDER BY created_at, post_id"
)

#: the posts with no model label, or with a label of another model version that the user has
#: not corrected (parameter: the active model's version)
_NEEDING_LABELS = (
    "SELECT p.platform, p.account, p.post_id, l.label IS NOT NULL AS relabel FROM posts p "
    "LEFT JOIN labels l USING (platform, post_id) "
    "LEFT JOIN corrections c USING (platform, post_id) "
    "WHERE l.label IS NULL OR (l.model_version <> $1 AND c.label IS NULL)"
)

#: DuckDB's memory limit while an import writes (``Store.bulk_writes``)
BULK_MEMORY_LIMIT = "128MB"

# -- staged X archive import (see Store.stage_x_tweets) --------------------------------------

_STAGE = "engage_stage"
#: the staged conversion runs in at most this many parts at once, of at least so many items
_STAGE_PARTS = 4
_STAGE_PART_ROWS = 20_000
#: posts file parts read at once (see Store.stage_x_tweets), with this memory limit meanwhile
_STAGE_READERS = 2
STAGE_MEMORY_LIMIT = "256MB"


class StagedFile(Protocol):
    """A plain JSON array of an export's items (``connectors.x_archive.StagedPart``)."""

    @property
    def path(self) -> Path: ...
    @property
    def file_no(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def wrapped(self) -> bool: ...


class StagedImportRejected(Exception):
    """The staged reader does not take this export: import it through the Python reader."""


@dataclass(frozen=True)
class StagedRange:
    """Items ``first`` to ``last`` (1-based, inclusive) of the staged export: one batch."""

    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


# The fields of a tweet that become post columns, each as its JSON text (so that its type can be
# checked: a value of another type than X writes is left to Python).
_TWEET_SPEC = (
    '{"id_str":"JSON","full_text":"JSON","text":"JSON","created_at":"JSON","source":"JSON",'
    '"lang":"JSON","in_reply_to_status_id_str":"JSON","in_reply_to_screen_name":"JSON",'
    '"entities":{"urls":[{"expanded_url":"JSON"}],"user_mentions":[{"screen_name":"JSON"}]}}'
)
# connectors.x_archive._STATUS_URL for ASCII URLs (a URL with other characters is left to
# Python, whose \w and \d and case folding are Unicode's)
_STATUS_ID = r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/\w+/status(?:es)?/(\d+)"
_MONTH_NAMES = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# ``tweets_to_columns`` in SQL, for the tweets of the plain shape; ``odd`` marks the others (a
# field of another JSON type, HTML entities in the text, a time outside the plain format, a
# URL that is not ASCII), which Python converts. It reads the rows $4 to $5 of one part of the
# posts files (``{part}``, see ``Store.stage_x_tweets``), whose first item is item $3 + 1 of the
# export; $1 is the account, $2 the sources of the files. The item's JSON stays in its part
# (``Store._staged_rows``): copying it here took a quarter of the conversion's time.
_STAGE_POSTS_SQL = (
    """
WITH parsed AS (
    SELECT $3 + rowid + 1 AS n, file_no, raw, json_transform(raw, '{spec}') AS f
    FROM {stage}.{part}
    WHERE rowid BETWEEN $4 AND $5
), fields AS (
    SELECT n, file_no, raw, f,
        coalesce(f.full_text, f.text) AS text_json,
        f.created_at ->> '$' AS created
    FROM parsed
), lists AS (
    -- the links and mentions come out of the one parse of the tweet: an element that is not
    -- an object, or has no string where the link or the name is, gives NULL (left to Python)
    SELECT *,
        coalesce(list_transform(f.entities.urls, lambda u: u.expanded_url), []) AS url_json,
        coalesce(list_transform(f.entities.user_mentions, lambda m: m.screen_name), [])
            AS mention_json,
        coalesce(text_json ->> '$', '') AS escaped,
        regexp_full_match(created, '.{{3}} ("""
    + _MONTH_NAMES
    + """) [0-9]{{2}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}} [+-][0-9]{{4}} (19|20)[0-9]{{2}}')
            AS plain_time
    FROM fields
), unescaped AS (
    -- the archive escapes & < > as &amp; &lt; &gt; (html.unescape in Python): a text whose
    -- every & starts one of these three is unescaped here, any other & is left to Python
    SELECT *,
        CASE WHEN NOT contains(escaped, '&') THEN escaped
             ELSE replace(replace(replace(escaped, '&lt;', '<'), '&gt;', '>'), '&amp;', '&')
        END AS text,
        CASE WHEN contains(escaped, '&') THEN
            length(escaped) - length(replace(escaped, '&', ''))
            <> (length(escaped) - length(replace(escaped, '&amp;', ''))) // 5
               + (length(escaped) - length(replace(escaped, '&lt;', ''))) // 4
               + (length(escaped) - length(replace(escaped, '&gt;', ''))) // 4
        ELSE false END AS other_entities
    FROM lists
), values AS (
    SELECT *,
        f.id_str ->> '$' AS post_id,
        nullif(f.in_reply_to_status_id_str ->> '$', '') AS reply_to,
        list_filter(list_transform(url_json, lambda u: u ->> '$'),
                    lambda u: u IS NOT NULL AND u <> '') AS urls,
        list_filter(list_transform(mention_json, lambda m: m ->> '$'),
                    lambda m: m IS NOT NULL AND m <> '') AS mentions,
        CASE WHEN plain_time THEN
            try_strptime(substr(created, 27, 4) || '-' || substr(created, 5, 3) || '-'
                         || substr(created, 9, 2) || ' ' || substr(created, 12, 8),
                         '%Y-%b-%d %H:%M:%S')
            - to_seconds((CASE substr(created, 21, 1) WHEN '-' THEN -1 ELSE 1 END)
                         * (substr(created, 22, 2)::INTEGER * 3600
                            + substr(created, 24, 2)::INTEGER * 60))
        END AS created_at
    FROM unescaped
), typed AS (
    SELECT *,
        list_filter(list_transform(urls, lambda u: regexp_extract(u, '{status}', 1, 'i')),
                    lambda q: q <> '' AND q <> post_id)[1] AS quoted,
        (f.id_str IS NULL OR NOT starts_with(f.id_str, '"')
         OR (text_json IS NOT NULL AND NOT starts_with(text_json, '"'))
         OR other_entities
         OR created_at IS NULL
         OR (f.source IS NOT NULL AND NOT starts_with(f.source, '"'))
         OR (f.lang IS NOT NULL AND NOT starts_with(f.lang, '"'))
         OR (f.in_reply_to_status_id_str IS NOT NULL
             AND NOT starts_with(f.in_reply_to_status_id_str, '"'))
         OR (f.in_reply_to_screen_name IS NOT NULL
             AND NOT starts_with(f.in_reply_to_screen_name, '"'))
         -- entities, urls or user_mentions of another JSON type than X writes (or null)
         -- read as NULL (entities: both its lists NULL), as if missing: the item's JSON says
         -- whether the key is there (looked for only then: CASE, unlike OR, skips the rest)
         OR CASE WHEN f.entities.urls IS NULL OR f.entities.user_mentions IS NULL THEN
                (f.entities.urls IS NULL AND f.entities.user_mentions IS NULL
                 AND contains(raw, '"entities":'))
                OR (f.entities.urls IS NULL AND contains(raw, '"urls":'))
                OR (f.entities.user_mentions IS NULL AND contains(raw, '"user_mentions":'))
            ELSE false END
         OR len(list_filter(url_json, lambda u: u IS NULL OR NOT starts_with(u, '"'))) > 0
         OR len(list_filter(mention_json, lambda m: m IS NULL OR NOT starts_with(m, '"'))) > 0
         OR len(list_filter(urls, lambda u: NOT regexp_full_match(u, '[\\x00-\\x7F]*'))) > 0
        ) IS NOT false AS odd
    FROM values
)
SELECT n,
    'x' AS platform,
    post_id,
    $1 AS account,
    'https://x.com/' || $1 || '/status/' || post_id AS url,
    created_at::TIMESTAMP AS created_at,
    text,
    CASE WHEN starts_with(text, 'RT @') THEN 'repost' WHEN reply_to IS NOT NULL THEN 'reply'
         WHEN quoted IS NOT NULL THEN 'quote' ELSE 'post' END AS kind,
    CASE WHEN NOT starts_with(text, 'RT @') THEN reply_to END AS reply_to_post,
    CASE WHEN reply_to IS NOT NULL THEN nullif(f.in_reply_to_screen_name ->> '$', '') END
        AS reply_to_user,
    CASE WHEN NOT starts_with(text, 'RT @') THEN quoted END AS quoted_post,
    NULL::TEXT AS reposted_post,
    NULL::TEXT AS thread_root,
    urls::TEXT[] AS urls,
    mentions::TEXT[] AS mentions,
    NULL::TEXT AS client,
    nullif(f.lang ->> '$', '') AS lang,
    ($2)[file_no + 1] AS source,
    NULL::TIMESTAMP AS fetched_at,
    f.source ->> '$' AS source_html,
    odd
FROM typed
"""
)


def contextmanager_method(fn: Callable[..., Iterator[None]]) -> Callable[..., Any]:
    """``contextlib.contextmanager`` for ``Store`` methods that also tracks nesting, so an
    upsert inside ``transaction()`` joins the outer transaction instead of opening its own."""
    from contextlib import contextmanager

    cm = contextmanager(fn)

    @contextmanager
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Iterator[None]:
        depth = getattr(self, "_tx_depth", 0)
        if depth:
            self._tx_depth = depth + 1  # type: ignore[attr-defined]
            try:
                yield
            finally:
                self._tx_depth = depth  # type: ignore[attr-defined]
            return
        self._tx_depth = 1  # type: ignore[attr-defined]
        try:
            with cm(self, *args, **kwargs):
                yield
        finally:
            self._tx_depth = 0  # type: ignore[attr-defined]

    return wrapper


class Store:
    """An open engage database. Use as a context manager; close as soon as the work is done."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self._con: duckdb.DuckDBPyConnection | None = con
        self.path = path
        self.read_only = read_only
        self.changed = False
        self._staged_duplicates: bool | None = None  # see staged_duplicates
        #: the staged parts: table, number of items before its first, its number of items
        self._staged_parts: list[tuple[str, int, int]] = []
        self._staged_all_new: bool | None = None  # see staged_all_new

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError(f"database {self.path} is closed")
        return self._con

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own to this database (for another thread, or a result read
        while this one works): a cursor starts in DuckDB's in-memory database, not in the
        database file ``USE`` made the default of this connection."""
        cursor = self.con.cursor()
        try:
            cursor.execute(f"USE {_DATABASE}")
        except BaseException:
            cursor.close()
            raise
        return cursor

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._con is None:
            return
        if self.changed and not self.read_only:
            # listeners read through this same connection, before it closes
            for listener in list(changes.listeners):  # engage.changes.on_change
                try:
                    listener(self)
                except Exception:  # a cache refresh must never break the command
                    log.warning("change listener %r failed", listener, exc_info=True)
        self._con.close()
        self._con = None

    def schema_version(self) -> int:
        try:
            row = _first(self.con.execute("SELECT max(version) FROM schema_migrations"))
        except duckdb.CatalogException:
            return 0
        return int(row[0]) if row and row[0] is not None else 0

    def applied_migrations(self) -> list[tuple[int, str, datetime]]:
        rows = self.con.execute(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
        return [(int(v), str(n), _aware(a) or a) for v, n, a in rows]

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction, and record them."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        current = self.schema_version()
        if current > LATEST_SCHEMA:
            raise StoreError(
                f"database {self.path} has schema version {current}, newer than this engage "
                f"knows ({LATEST_SCHEMA}); upgrade engage"
            )
        applied = []
        for version, name, sql in sorted(MIGRATIONS):
            if version <= current:
                continue
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(sql)
                self.con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()]
                )
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            applied.append(version)
            self.changed = True
        return applied

    @contextmanager_method
    def transaction(self) -> Iterator[None]:
        """All or nothing: the block's writes are committed together or not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
        self.changed = True

    # -- upserts ---------------------------------------------------------------------------

    def upsert_posts(self, posts: Sequence[Post]) -> UpsertResult:
        """Insert new posts and update changed ones, keyed by ``(platform, post_id)``. Running it
        twice with the same posts leaves the same rows and reports them unchanged."""
        if not posts:
            return UpsertResult()
        table = posts_to_arrow(posts)
        return self._upsert(table, "posts", ("platform", "post_id"), _POST_MERGE, _POST_META)

    def upsert_post_columns(self, posts: PostColumns) -> UpsertResult:
        """``upsert_posts`` of posts in columns (an importer's fast path, no ``Post`` objects)."""
        if not posts.count:
            return UpsertResult()
        table = post_columns_to_arrow(posts)
        return self._upsert(table, "posts", ("platform", "post_id"), _POST_MERGE, _POST_META)

    def upsert_mentions(self, mentions: Sequence[Mention]) -> UpsertResult:
        if not mentions:
            return UpsertResult()
        table = mentions_to_arrow(mentions)
        return self._upsert(
            table, "mentions", ("platform", "mention_id"), _MENTION_MERGE, _MENTION_META
        )

    def _upsert(
        self,
        table: pa.Table | str,
        target: str,
        key: tuple[str, ...],
        merge: dict[str, str],
        meta: dict[str, str],
    ) -> UpsertResult:
        """Upsert the rows of ``table`` (an Arrow table, or the name of a table of this
        connection whose ``raw`` is compact already) into ``target``."""
        con = self.con
        if isinstance(table, str):
            view, names, raw = table, list(POST_COLUMNS), "i.raw"
        else:
            view, names = f"incoming_{target}", list(table.column_names)
            # json(): raw is stored compact whatever its layout (an importer may hand over
            # the indented text of its export instead of encoding the decoded value again)
            raw = "json(i.raw)"
            con.register(view, table)
        try:
            own_tx = not self._in_transaction()
            if own_tx:
                con.execute("BEGIN TRANSACTION")
            try:
                using = ", ".join(key)
                on = " AND ".join(f"p.{k} = i.{k}" for k in key)
                changed_pred = " OR ".join(f"p.{c} IS DISTINCT FROM {e}" for c, e in merge.items())
                # rows of this batch that already exist and would change
                key_cols = ", ".join("i." + k for k in key)
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _changed AS SELECT {key_cols} "
                    f"FROM {view} i JOIN {target} p ON {on} WHERE {changed_pred}"
                )
                n_changed = _first(con.execute("SELECT count(*) FROM _changed"))[0]
                n_existing = _first(
                    con.execute(
                        f"SELECT count(*) FROM {view} i SEMI JOIN {target} p USING ({using})"
                    )
                )[0]
                cols = ", ".join(names)
                select_cols = ", ".join(raw if c == "raw" else f"i.{c}" for c in names)
                n_new = _first(
                    con.execute(
                        f"INSERT INTO {target} ({cols}) SELECT {select_cols} FROM {view} i "
                        f"ANTI JOIN {target} p USING ({using})"
                    )
                )[0]
                if n_changed:
                    sets = ", ".join(f"{c} = {e}" for c, e in {**merge, **meta}.items())
                    sets = sets.replace("i.raw", raw)
                    con.execute(
                        f"UPDATE {target} AS p SET {sets} FROM {view} i SEMI JOIN _changed c "
                        f"USING ({using}) WHERE {on}"
                    )
                con.execute("DROP TABLE IF EXISTS _changed")
                if own_tx:
                    con.execute("COMMIT")
            except BaseException:
                if own_tx:
                    con.execute("ROLLBACK")
                raise
        finally:
            if not isinstance(table, str):
                con.unregister(view)
        self.changed = self.changed or bool(n_new or n_changed)
        return UpsertResult(
            new=int(n_new), updated=int(n_changed), unchanged=int(n_existing - n_changed)
        )

    def _in_transaction(self) -> bool:
        return bool(getattr(self, "_tx_depth", 0))

    # -- accounts --------------------------------------------------------------------------

    def add_account(self, account: AccountInfo) -> None:
        existing = self.get_account(account.name)
        if existing is not None:
            raise UsageError(
                f"an account named {account.name!r} exists already; pick another --name or "
                f"remove it with 'engage account remove {account.name}'"
            )
        self.con.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                account.name,
                account.platform,
                account.handle,
                account.user_id,
                account.base_url,
                json.dumps(account.settings),
                _now(),
            ],
        )
        self.changed = True

    def update_account(self, account: AccountInfo) -> None:
        self.con.execute(
            "UPDATE accounts SET platform = ?, handle = ?, user_id = ?, base_url = ?, "
            "settings = ? WHERE name = ?",
            [
                account.platform,
                account.handle,
                account.user_id,
                account.base_url,
                json.dumps(account.settings),
                account.name,
            ],
        )
        self.changed = True

    def get_account(self, name: str) -> AccountInfo | None:
        row = _first(
            self.con.execute(
                "SELECT name, platform, handle, user_id, base_url, settings FROM accounts "
                "WHERE name = ?",
                [name],
            )
        )
        return _account_from_row(row) if row else None

    def list_accounts(self) -> list[AccountInfo]:
        rows = self.con.execute(
            "SELECT name, platform, handle, user_id, base_url, settings FROM accounts "
            "ORDER BY platform, name"
        ).fetchall()
        return [_account_from_row(r) for r in rows]

    def remove_account(self, name: str) -> bool:
        """Forget an account and its cursors. Its posts stay (they are the user's history)."""
        with self.transaction():
            n = self.con.execute(
                "DELETE FROM accounts WHERE name = ? RETURNING name", [name]
            ).fetchall()
            self.con.execute("DELETE FROM sync_cursors WHERE account = ?", [name])
        return bool(n)

    # -- cursors and progress --------------------------------------------------------------

    def get_cursor(self, account: str, stream: str) -> dict[str, Any] | None:
        row = _first(
            self.con.execute(
                "SELECT cursor FROM sync_cursors WHERE account = ? AND stream = ?",
                [account, stream],
            )
        )
        return json.loads(row[0]) if row else None

    def set_cursor(self, account: str, stream: str, cursor: dict[str, Any]) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO sync_cursors VALUES (?, ?, ?, ?)",
            [account, stream, json.dumps(cursor), _now()],
        )
        self.changed = True

    def commit_page(
        self,
        account: str,
        stream: str,
        posts: Sequence[Post],
        mentions: Sequence[Mention],
        cursor: dict[str, Any] | None,
    ) -> UpsertResult:
        """Save one fetched page and move its cursor in the same transaction: the cursor can never
        run ahead of what is stored, so an interrupted fetch leaves no gap."""
        with self.transaction():
            result = self.upsert_posts(posts)
            result = result + self.upsert_mentions(mentions)
            if cursor is not None:
                self.set_cursor(account, stream, cursor)
        return result

    def get_import_progress(self, import_key: str) -> tuple[int, bool] | None:
        row = _first(
            self.con.execute(
                "SELECT items_done, finished FROM import_progress WHERE import_key = ?",
                [import_key],
            )
        )
        return (int(row[0]), bool(row[1])) if row else None

    def set_import_progress(
        self, import_key: str, path: str, kind: str, items_done: int, finished: bool
    ) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO import_progress VALUES (?, ?, ?, ?, ?, ?)",
            [import_key, path, kind, items_done, finished, _now()],
        )
        self.changed = True

    def checkpoint(self) -> None:
        """Write the write-ahead log into the database file."""
        self.con.execute("CHECKPOINT")

    @contextlib.contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Checkpoint less often while a large import commits batch after batch: DuckDB
        rewrites the table's last row group at every automatic checkpoint, so at the default
        threshold (16 MB of log) a 100,000-tweet import spends more time and memory
        checkpointing than inserting. Not a transaction: each batch still commits its own."""
        old, threads, memory = _first(
            self.con.execute(
                "SELECT current_setting('checkpoint_threshold'), current_setting('threads'), "
                "current_setting('memory_limit')"
            )
        )
        self.con.execute("SET checkpoint_threshold = '64MB'")
        # One DuckDB thread: an import's statements are one scan each (DuckDB would not share
        # them out), the other core runs the Python side, and every extra thread keeps memory
        # of its own (staging a 100,000-tweet archive: 338 MB with two threads, 247 MB with one)
        self.con.execute("SET threads = 1")
        # and a small buffer pool: what does not fit (a staged export) goes to temporary files
        self.con.execute(f"SET memory_limit = '{BULK_MEMORY_LIMIT}'")
        try:
            yield
        finally:
            self.con.execute(f"SET checkpoint_threshold = '{old}'")
            self.con.execute(f"SET threads = {int(threads)}")
            self.con.execute(f"SET memory_limit = '{memory}'")

    def commit_import_batch(
        self,
        import_key: str,
        path: str,
        kind: str,
        posts: Sequence[Post] | PostColumns | StagedRange,
        mentions: Sequence[Mention],
        items_done: int,
        finished: bool,
    ) -> UpsertResult:
        """One batch of an import with its progress, in one transaction."""
        with self.transaction():
            if isinstance(posts, StagedRange):
                result = self._upsert_staged(posts)
            elif isinstance(posts, PostColumns):
                result = self.upsert_post_columns(posts)
            else:
                result = self.upsert_posts(posts)
            result = result + self.upsert_mentions(mentions)
            self.set_import_progress(import_key, path, kind, items_done, finished)
        return result

    # -- staged imports (an export parsed by DuckDB itself) ---------------------------------
    #
    # An X archive's posts files are JSON arrays that DuckDB's own JSON reader parses far faster
    # than Python, without Python's global lock. The tweets are read into an in-memory database
    # attached to this connection (nothing of it reaches the database file), turned into the
    # post columns there, and committed batch by batch like any import. ``tweets_to_columns`` is
    # the definition: the SQL below takes only the tweets whose every field has the plain shape
    # X writes (and flags the others, which Python converts with that function), so both give
    # the same rows.

    def stage_x_tweets(self, parts: Iterable[StagedFile], account: str) -> int:
        """Read the parts of the posts files (plain JSON arrays, in reading order) into the
        staging database, as post columns (``_convert_staged``); the number of items. Each
        item's JSON stays in the table of its part, where a batch reads it (``_staged_rows``).
        ``parts`` may be a generator that waits for each part to be written: every part is read
        on a thread of its own as soon as it comes (at most ``_STAGE_READERS`` at once, each
        into a table of its own), and the parts are converted once all are read.

        Raises ``StagedImportRejected`` for anything the SQL does not read as Python would
        (malformed JSON, an item that is not a tweet object): the caller imports the export
        through its Python reader then, which says precisely what is wrong."""
        con = self.con
        self._staged_duplicates = self._staged_all_new = None
        self._staged_parts = []
        con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {_STAGE}")
        limit = _first(con.execute("SELECT current_setting('memory_limit')"))[0]
        # each reader holds its part until it commits: more room than a single reader needs
        con.execute(f"SET memory_limit = '{STAGE_MEMORY_LIMIT}'")
        errors: list[duckdb.Error] = []
        slots = threading.BoundedSemaphore(_STAGE_READERS)
        readers: list[threading.Thread] = []
        sources: dict[int, str] = {}
        wrapped: list[bool] = []

        def read(number: int, part: StagedFile) -> None:
            # the wrapped tweet comes out compact; json() makes any other item compact
            item = "json->'tweet'" if part.wrapped else "json(json)"
            try:
                cursor = self._cursor()
                try:
                    cursor.execute(
                        f"CREATE OR REPLACE TABLE {_STAGE}.part_{number} AS "
                        f"SELECT {int(part.file_no)}::INTEGER AS file_no, {item} AS raw "
                        "FROM read_json_objects(?, format = 'array')",
                        [str(part.path)],
                    )
                finally:
                    cursor.close()
            except duckdb.Error as exc:
                errors.append(exc)
            finally:
                slots.release()

        try:
            try:
                for number, part in enumerate(parts):
                    sources[part.file_no] = part.source
                    wrapped.append(part.wrapped)
                    slots.acquire()
                    if errors:
                        slots.release()
                        continue  # read no more, but take every part the caller hands over
                    reader = threading.Thread(
                        target=read, args=(number, part), name=f"engage-read-{number}", daemon=True
                    )
                    readers.append(reader)
                    reader.start()
            finally:
                for reader in readers:
                    reader.join()
            if errors:
                raise errors[0]
            if not readers:  # nothing to read: an empty part keeps the statements valid
                con.execute(f"CREATE OR REPLACE TABLE {_STAGE}.part_0 (file_no INTEGER, raw JSON)")
            names = [f"part_{number}" for number in range(max(len(readers), 1))]
            every = " UNION ALL ".join(f"SELECT raw FROM {_STAGE}.{name}" for name in names)
            n_odd = _first(
                con.execute(
                    f"SELECT count(*) FILTER (WHERE raw IS NULL OR NOT starts_with(raw, '{{') "
                    f"OR (NOT ? AND contains(raw, '\"tweet\":'))) FROM ({every})",
                    [all(wrapped)],
                )
            )[0]
            if n_odd:
                raise StagedImportRejected(f"{n_odd} items are not plain tweet objects")
            files = [sources.get(k, "") for k in range(max(sources, default=-1) + 1)]
            n_items = self._convert_staged(names, account, files)
        except duckdb.Error as exc:
            self.drop_stage()
            raise StagedImportRejected(str(exc).splitlines()[0]) from None
        finally:
            con.execute(f"SET memory_limit = '{limit}'")
        return n_items

    def _convert_staged(self, parts: list[str], account: str, sources: list[str]) -> int:
        """The items of the staged ``parts`` (tables, in order) as post columns
        (``_STAGE_POSTS_SQL``) in ``{_STAGE}.posts``; the number of items.

        A table is one row group, which DuckDB converts on one thread: the parts are converted
        side by side, one per core, each by its own connection (a thread of its own) appending
        to the same table in any order (every row carries its item number); a part of more
        than ``2 * _STAGE_PART_ROWS`` items is cut into pieces of at least that many. Parallel
        appends do not conflict, and a single statement would not be faster: it spends its
        time in per-row JSON and list functions."""
        con = self.con
        counts = [
            int(_first(con.execute(f"SELECT count(*) FROM {_STAGE}.{part}"))[0]) for part in parts
        ]
        offsets = [sum(counts[:k]) for k in range(len(parts))]
        self._staged_parts = list(zip(parts, offsets, counts, strict=True))
        cores = max(1, min(os.cpu_count() or 1, _STAGE_PARTS))
        tasks: list[tuple[str, int, int, int]] = []
        for part, count, offset in zip(parts, counts, offsets, strict=True):
            pieces = max(1, min(cores, count // _STAGE_PART_ROWS))
            size = max(1, -(-count // pieces))
            tasks += [(part, offset, lo, min(lo + size, count) - 1) for lo in range(0, count, size)]

        def sql(part: str) -> str:
            return _STAGE_POSTS_SQL.format(
                stage=_STAGE, part=part, spec=_TWEET_SPEC, status=_STATUS_ID
            )

        con.execute(
            f"CREATE OR REPLACE TABLE {_STAGE}.posts AS {sql(parts[0])}",
            [account, sources, 0, 0, -1],
        )
        errors: list[duckdb.Error] = []
        todo: queue.SimpleQueue[tuple[str, int, int, int]] = queue.SimpleQueue()
        for task in tasks:
            todo.put(task)

        def convert() -> None:
            cursor = self._cursor()
            try:
                while not errors:
                    try:
                        part, offset, lo, hi = todo.get_nowait()
                    except queue.Empty:
                        return
                    cursor.execute(
                        f"INSERT INTO {_STAGE}.posts {sql(part)}",
                        [account, sources, offset, lo, hi],
                    )
            except duckdb.Error as exc:
                errors.append(exc)
            finally:
                cursor.close()

        if min(cores, len(tasks)) <= 1:
            convert()  # one at a time: on this thread
        else:
            workers = [
                threading.Thread(target=convert, name=f"engage-convert-{k}", daemon=True)
                for k in range(min(cores, len(tasks)))
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        if errors:
            raise errors[0]
        return sum(counts)

    def staged_odd_tweets(self) -> list[tuple[int, str, str]]:
        """(item number, source, raw JSON) of the staged tweets the SQL left to Python."""
        odd = self.con.execute(
            f"SELECT n, source FROM {_STAGE}.posts WHERE odd ORDER BY n"
        ).fetchall()
        if not odd:
            return []  # the usual case: the parts' JSON is not read again
        # only the stretch of the parts that holds them
        raw = self._staged_raw(int(odd[0][0]), int(odd[-1][0]))
        rows = self.con.execute(
            f"SELECT n, raw FROM ({raw}) WHERE n IN (SELECT n FROM {_STAGE}.posts WHERE odd)"
        ).fetchall()
        by_n = {int(n): str(r) for n, r in rows}
        return [(int(n), str(s), by_n[int(n)]) for n, s in odd]

    def _staged_raw(self, first: int, last: int) -> str:
        """SQL for the JSON of the staged items ``first`` to ``last``, with their numbers:
        (n, raw), read from the parts they were staged from."""
        selects = []
        for name, offset, count in self._staged_parts:
            lo = max(first - offset - 1, 0)
            hi = min(last - offset - 1, count - 1)
            if lo <= hi:
                selects.append(
                    f"SELECT {int(offset)} + rowid + 1 AS n, raw FROM {_STAGE}.{name} "
                    f"WHERE rowid BETWEEN {int(lo)} AND {int(hi)}"
                )
        return " UNION ALL ".join(selects) or "SELECT NULL::BIGINT AS n, NULL::JSON AS raw LIMIT 0"

    def _staged_rows(self, first: int, last: int) -> str:
        """SQL for the post columns of the staged items ``first`` to ``last`` (a batch), with
        their JSON from their parts (``_staged_raw``), as ``p`` (their number: ``p.n``)."""
        cols = ", ".join("r.raw" if c == "raw" else f"p.{c}" for c in POST_COLUMNS)
        return (
            f"SELECT {cols} FROM {_STAGE}.posts p JOIN ({self._staged_raw(first, last)}) r "
            f"USING (n) WHERE p.n BETWEEN {int(first)} AND {int(last)} "
        )

    def replace_staged_tweets(self, numbers: Sequence[int], posts: PostColumns) -> None:
        """Put Python's conversion (``posts``, in the order of ``numbers``) in place of the
        staged rows ``numbers``."""
        import pyarrow as pa

        table = post_columns_to_arrow(posts, dedupe=False).append_column(
            "n", pa.array(numbers, pa.int64())
        )
        con = self.con
        con.register("incoming_staged", table)
        try:
            # the raw JSON stays the staged item, in its part
            con.execute(f"DELETE FROM {_STAGE}.posts WHERE odd")
            cols = ", ".join(c for c in POST_COLUMNS if c != "raw")
            con.execute(
                f"INSERT INTO {_STAGE}.posts (n, {cols}, source_html, odd) "
                f"SELECT n, {cols}, NULL, false FROM incoming_staged"
            )
        finally:
            con.unregister("incoming_staged")

    def staged_app_sources(self) -> list[str | None]:
        """The distinct ``source`` HTML of the staged tweets whose app is still to be named."""
        rows = self.con.execute(
            f"SELECT DISTINCT source_html FROM {_STAGE}.posts WHERE NOT odd"
        ).fetchall()
        return [r[0] for r in rows]

    def set_staged_apps(self, apps: dict[str | None, str | None]) -> None:
        """Name the posting app of every staged tweet from its ``source`` HTML."""
        import pyarrow as pa

        table = pa.table(
            {
                "source_html": pa.array(list(apps), pa.string()),
                "client": pa.array(list(apps.values()), pa.string()),
            }
        )
        con = self.con
        con.register("incoming_apps", table)
        try:
            con.execute(
                f"UPDATE {_STAGE}.posts AS p SET client = a.client FROM incoming_apps a "
                "WHERE p.source_html IS NOT DISTINCT FROM a.source_html AND NOT p.odd"
            )
        finally:
            con.unregister("incoming_apps")

    def staged_already_stored(self, batch: StagedRange | None = None) -> int:
        """How many staged posts (of ``batch``, or all) the database has already, under any
        account."""
        first, last = (batch.first, batch.last) if batch is not None else (1, None)
        row = _first(
            self.con.execute(
                f"SELECT count(*) FROM {_STAGE}.posts p SEMI JOIN posts s "
                "ON s.platform = p.platform AND s.post_id = p.post_id "
                "WHERE p.n >= $1 AND ($2 IS NULL OR p.n <= $2)",
                [first, last],
            )
        )
        return int(row[0])

    def staged_all_new(self) -> bool:
        """Whether none of the staged posts is stored (under any account) and none is staged
        twice. Asked before the import saves its first batch, and kept for the stage: the
        import adds only other staged posts meanwhile, so no batch can then meet a stored post
        (100,000 tweets, one traced run: checking every batch took 0.17 s of the writer)."""
        if self._staged_all_new is None:
            self._staged_all_new = (
                not self.staged_duplicates() and self.staged_already_stored() == 0
            )
        return self._staged_all_new

    def staged_duplicates(self) -> bool:
        """Whether a post is staged more than once (an export repeating a tweet)."""
        if self._staged_duplicates is None:
            row = _first(
                self.con.execute(f"SELECT count(*) <> count(DISTINCT post_id) FROM {_STAGE}.posts")
            )
            self._staged_duplicates = bool(row[0])
        return self._staged_duplicates

    def staged_feature_table(self) -> pa.Table:
        """``post_feature_table`` of the staged posts, through a connection of its own: it
        may be read while an import's writer thread saves the staged posts."""
        cursor = self._cursor()
        try:
            return cursor.sql(_FEATURE_SELECT.format(source=f"{_STAGE}.posts")).to_arrow_table()
        finally:
            cursor.close()

    def drop_stage(self) -> None:
        """Forget the staged export (idempotent)."""
        self._staged_duplicates = self._staged_all_new = None
        self._staged_parts = []
        with contextlib.suppress(duckdb.Error):
            self.con.execute(f"DETACH DATABASE IF EXISTS {_STAGE}")

    def _upsert_staged(self, batch: StagedRange) -> UpsertResult:
        """Upsert the staged posts ``batch.first`` to ``batch.last``; a post repeated among
        them is kept once, the last one (as ``post_columns_to_arrow`` does)."""
        con = self.con
        rows = self._staged_rows(batch.first, batch.last)
        if self.staged_all_new() or (
            not self.staged_duplicates() and not self.staged_already_stored(batch)
        ):
            # the usual first import: none of the batch's posts is stored yet, so it is one
            # insert straight from the staging database (no copy of the batch, no comparison)
            new = _first(con.execute(f"INSERT INTO posts ({', '.join(POST_COLUMNS)}) {rows}"))[0]
            self.changed = self.changed or bool(new)
            return UpsertResult(new=int(new))
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _staged_batch AS {rows}"
            + (
                "QUALIFY row_number() OVER (PARTITION BY p.post_id ORDER BY p.n DESC) = 1"
                if self.staged_duplicates()
                else ""
            )
        )
        try:
            return self._upsert(
                "_staged_batch", "posts", ("platform", "post_id"), _POST_MERGE, _POST_META
            )
        finally:
            con.execute("DROP TABLE IF EXISTS _staged_batch")

    # -- labels ----------------------------------------------------------------------------

    def save_labels(self, rows: Sequence[LabelRow]) -> int:
        """Store model output. Corrections live in their own table and are never touched."""
        import pyarrow as pa

        if not rows:
            return 0
        for r in rows:
            if r.label not in LABELS:
                raise ValueError(f"unknown label {r.label!r}")
        now = _now()
        return self._insert_labels(
            pa.table(
                {
                    "platform": [r.platform for r in rows],
                    "post_id": [r.post_id for r in rows],
                    "label": [r.label for r in rows],
                    "confidence": pa.array([float(r.confidence) for r in rows], pa.float64()),
                    "reason": [r.reason for r in rows],
                    "model_version": [r.model_version for r in rows],
                    "labelled_at": pa.array([now] * len(rows), pa.timestamp("us")),
                }
            )
        )

    def save_label_columns(
        self,
        platform: str,
        post_ids: Sequence[str],
        labels: Sequence[str],
        confidences: Sequence[float],
        reasons: Sequence[str],
        model_version: str,
        *,
        replace: bool = True,
    ) -> int:
        """``save_labels`` for one platform's posts given as columns (no row object per post).
        ``replace=False`` when the caller knows that none of the posts has a label yet (a
        plain insert is faster than one that looks for a row to replace)."""
        import pyarrow as pa

        if not post_ids:
            return 0
        unknown = set(labels) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown label {sorted(unknown)[0]!r}")
        table = pa.table(
            {
                "post_id": pa.array(post_ids, pa.string()),
                "label": pa.array(labels, pa.string()),
                "confidence": pa.array(confidences, pa.float64()),
                "reason": pa.array(reasons, pa.string()),
            }
        )
        return self._insert_labels(
            table,
            "$1, post_id, label, confidence, reason, $2, $3",
            [platform, model_version, _now()],
            replace=replace,
        )

    def _insert_labels(
        self,
        table: pa.Table,
        select: str = "*",
        params: list[Any] | None = None,
        *,
        replace: bool = True,
    ) -> int:
        """Insert (or replace) model labels: the labels table's columns, in order, selected as
        ``select`` (with ``params``) from ``table``."""
        con = self.con
        con.register("incoming_labels", table)
        try:
            with self.transaction():
                con.execute(
                    f"INSERT {'OR REPLACE ' if replace else ''}INTO labels "
                    f"SELECT {select} FROM incoming_labels",
                    params or [],
                )
        finally:
            con.unregister("incoming_labels")
        self.changed = True
        return int(table.num_rows)

    def set_correction(self, platform: str, post_id: str, label: str) -> None:
        if label not in LABELS:
            raise UsageError(f"unknown label {label!r}; use one of: {', '.join(LABELS)}")
        self.con.execute(
            "INSERT OR REPLACE INTO corrections VALUES (?, ?, ?, ?)",
            [platform, post_id, label, _now()],
        )
        self.changed = True

    def clear_correction(self, platform: str, post_id: str) -> bool:
        n = self.con.execute(
            "DELETE FROM corrections WHERE platform = ? AND post_id = ? RETURNING post_id",
            [platform, post_id],
        ).fetchall()
        self.changed = self.changed or bool(n)
        return bool(n)

    def corrections(self) -> list[tuple[Post, str]]:
        """Every corrected post with the label the user gave it."""
        rows = self.con.execute(
            f"SELECT {_post_select('p')}, c.label FROM corrections c "
            "JOIN posts p USING (platform, post_id) ORDER BY c.corrected_at"
        ).fetchall()
        return [(_post_from_row(r[:-1]), str(r[-1])) for r in rows]

    def find_posts_by_id(self, post_id: str) -> list[Post]:
        """Posts whose id is ``post_id`` (on any platform), or whose URL is it."""
        rows = self.con.execute(
            f"SELECT {_post_select('p')} FROM posts p WHERE p.post_id = ? OR p.url = ?",
            [post_id, post_id],
        ).fetchall()
        return [_post_from_row(r) for r in rows]

    def labelled_model_versions(self) -> dict[str, int]:
        rows = self.con.execute(
            "SELECT model_version, count(*) FROM labels GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        return {str(v): int(n) for v, n in rows}

    # -- classifier (issue 5) ----------------------------------------------------------------

    def posts_needing_labels(
        self, model_version: str, platform: str | None = None, account: str | None = None
    ) -> list[tuple[str, str, str]]:
        """(platform, account, post_id) of posts with no model label, or with a label from
        another model version that the user has not corrected; of one account if given."""
        rows = self.con.execute(
            f"SELECT platform, account, post_id FROM ({_NEEDING_LABELS}) "
            "WHERE ($2 IS NULL OR platform = $2) "
            "AND ($3 IS NULL OR account = $3) ORDER BY 1, 2, 3",
            [model_version, platform, account],
        ).fetchall()
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    def count_posts_needing_labels(
        self, model_version: str, known: Mapping[tuple[str, str], Sequence[str]] | None = None
    ) -> dict[tuple[str, str], tuple[int, int, int]]:
        """Per (platform, account): how many posts ``posts_needing_labels`` would list, how
        many of those are not among the account's ``known`` post ids, and how many of them
        have a label already (of another model version)."""
        import pyarrow as pa

        known = known or {}
        table = pa.table(
            {
                "platform": [key[0] for key, ids in known.items() for _ in ids],
                "account": [key[1] for key, ids in known.items() for _ in ids],
                "post_id": [post_id for ids in known.values() for post_id in ids],
            },
            schema=pa.schema([(c, pa.string()) for c in ("platform", "account", "post_id")]),
        )
        con = self.con
        con.register("known_posts", table)
        try:
            return self._count_needing(model_version, "known_posts")
        finally:
            con.unregister("known_posts")

    def count_posts_needing_labels_staged(
        self, model_version: str
    ) -> dict[tuple[str, str], tuple[int, int, int]]:
        """``count_posts_needing_labels`` with the staged posts as the ``known`` ones (an
        import labels them ahead), read in the database instead of handed over."""
        return self._count_needing(
            model_version, f"(SELECT DISTINCT platform, account, post_id FROM {_STAGE}.posts)"
        )

    def _count_needing(
        self, model_version: str, known: str
    ) -> dict[tuple[str, str], tuple[int, int, int]]:
        """``count_posts_needing_labels`` with the known posts read from ``known`` (a table or
        a subquery of platform, account, post_id)."""
        rows = self.con.execute(
            "SELECT n.platform, n.account, count(*), "
            "count(*) FILTER (WHERE k.post_id IS NULL), count(*) FILTER (WHERE relabel) "
            f"FROM ({_NEEDING_LABELS}) n LEFT JOIN {known} k "
            "USING (platform, account, post_id) GROUP BY ALL",
            [model_version],
        ).fetchall()
        return {(str(p), str(a)): (int(n), int(u), int(r)) for p, a, n, u, r in rows}

    def post_accounts(self) -> list[tuple[str, str]]:
        """Every (platform, account) that has posts."""
        rows = self.con.execute(
            "SELECT DISTINCT platform, account FROM posts ORDER BY 1, 2"
        ).fetchall()
        return [(str(a), str(b)) for a, b in rows]

    # -- reading posts ---------------------------------------------------------------------

    def count_posts(self) -> int:
        return int(_first(self.con.execute("SELECT count(*) FROM posts"))[0])

    def count_account_posts(self, platform: str, account: str) -> int:
        row = _first(
            self.con.execute(
                "SELECT count(*) FROM posts WHERE platform = ? AND account = ?",
                [platform, account],
            )
        )
        return int(row[0])

    def count_mentions(self) -> int:
        return int(_first(self.con.execute("SELECT count(*) FROM mentions"))[0])

    def iter_posts(
        self,
        *,
        account: str | None = None,
        platform: str | None = None,
        unlabelled_only: bool = False,
        not_model_version: str | None = None,
        batch_size: int = 10_000,
        with_raw: bool = True,
    ) -> Iterator[list[Post]]:
        """All matching posts in ``created_at`` order, in batches (for classifying and features).
        ``with_raw=False`` leaves ``raw`` out (None): labelling a 100,000-post history does not
        need a gigabyte of platform JSON in memory."""
        where: list[str] = []
        params: list[Any] = []
        if account is not None:
            where.append("p.account = ?")
            params.append(account)
        if platform is not None:
            where.append("p.platform = ?")
            params.append(platform)
        if unlabelled_only:
            where.append("l.label IS NULL")
        if not_model_version is not None:
            where.append("(l.model_version IS NULL OR l.model_version <> ?)")
            params.append(not_model_version)
        select = _post_select("p")
        if not with_raw:
            select = select.replace("p.raw", "NULL AS raw")
        sql = f"SELECT {select} FROM posts p LEFT JOIN labels l USING (platform, post_id)"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY p.created_at, p.platform, p.post_id"
        cur = self._cursor()
        try:
            cur.execute(sql, params)
            while True:
                rows = cur.fetchmany(batch_size)
                if not rows:
                    break
                yield [_post_from_row(r) for r in rows]
        finally:
            cur.close()

    def post_feature_table(self, platform: str, account: str) -> pa.Table:
        """One account's whole history in the columns the classifier reads (no raw JSON, no
        ``Post`` objects): post_id, text, kind, platform, account, client, reply_to_user,
        urls, n_mentions, minute and second of created_at, in ``created_at`` order."""
        return self.con.sql(
            _FEATURE_SELECT.format(source="posts WHERE platform = ? AND account = ?"),
            params=[platform, account],
        ).to_arrow_table()

    def query_posts(
        self,
        *,
        label: str | None = None,
        platform: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        corrected: bool | None = None,
        limit: int | None = 50,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[PostView]:
        """Posts with their effective label (the user's correction if any, else the model's)."""
        where: list[str] = []
        params: list[Any] = []
        if label is not None:
            if label not in LABELS:
                raise UsageError(f"unknown label {label!r}; use one of: {', '.join(LABELS)}")
            where.append("pl.label = ?")
            params.append(label)
        if platform is not None:
            where.append("p.platform = ?")
            params.append(platform)
        if since is not None:
            where.append("p.created_at >= ?")
            params.append(_naive_utc(since))
        if until is not None:
            where.append("p.created_at < ?")
            params.append(_naive_utc(until))
        if corrected is not None:
            where.append("pl.corrected = ?")
            params.append(corrected)
        sql = (
            f"SELECT {_post_select('p')}, pl.label, pl.confidence, pl.reason, pl.corrected, "
            "pl.model_label FROM posts p JOIN post_labels pl USING (platform, post_id)"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = "DESC" if newest_first else "ASC"
        sql += f" ORDER BY p.created_at {order}, p.post_id {order}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        rows = self.con.execute(sql, params).fetchall()
        return _post_views(rows)

    def iter_mentions(self, account: str | None = None) -> list[Mention]:
        sql = f"SELECT {', '.join(MENTION_COLUMNS)} FROM mentions"
        params: list[Any] = []
        if account is not None:
            sql += " WHERE account = ?"
            params.append(account)
        sql += " ORDER BY created_at"
        return [_mention_from_row(r) for r in self.con.execute(sql, params).fetchall()]

    # -- summaries -------------------------------------------------------------------------

    def summary_counts(self) -> dict[str, Any]:
        """Posts per platform, per kind and per ISO week (for the demo and doctor)."""
        con = self.con
        by_platform = dict(
            con.execute("SELECT platform, count(*) FROM posts GROUP BY 1 ORDER BY 1").fetchall()
        )
        by_kind = dict(
            con.execute("SELECT kind, count(*) FROM posts GROUP BY 1 ORDER BY 1").fetchall()
        )
        by_week = con.execute(
            "SELECT strftime(date_trunc('week', created_at), '%Y-%m-%d') AS week, platform, "
            "count(*) FROM posts GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        by_label = dict(
            con.execute(
                "SELECT label, count(*) FROM post_labels WHERE label IS NOT NULL "
                "GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        return {
            "posts": self.count_posts(),
            "mentions": self.count_mentions(),
            "by_platform": by_platform,
            "by_kind": by_kind,
            "by_week": [(w, p, int(n)) for w, p, n in by_week],
            "by_label": by_label,
        }

    # -- export ----------------------------------------------------------------------------

    EXPORT_COLUMNS: tuple[str, ...] = (
        *POST_COLUMNS,
        "label",
        "confidence",
        "reason",
        "corrected",
    )

    def export(self, fmt: str, out: Path) -> int:
        """Write one row per post (the ``Post`` fields plus label, confidence, reason,
        corrected) to ``out`` as csv, jsonl or parquet. Returns the number of rows."""
        cols = []
        for c in POST_COLUMNS:
            if fmt == "csv" and c in ("urls", "mentions"):
                cols.append(f"to_json(p.{c}) AS {c}")
            elif c in ("created_at", "fetched_at"):
                cols.append(f"strftime(p.{c}, '%Y-%m-%dT%H:%M:%SZ') AS {c}")
            elif c == "raw" and fmt == "parquet":
                cols.append("p.raw::TEXT AS raw")
            else:
                cols.append(f"p.{c}")
        cols += ["pl.label", "pl.confidence", "pl.reason", "pl.corrected"]
        query = (
            f"SELECT {', '.join(cols)} FROM posts p JOIN post_labels pl USING (platform, post_id) "
            "ORDER BY p.created_at, p.platform, p.post_id"
        )
        options = {
            "csv": "FORMAT csv, HEADER true",
            "jsonl": "FORMAT json",
            "parquet": "FORMAT parquet, COMPRESSION zstd",
        }.get(fmt)
        if options is None:
            raise UsageError(f"unknown export format {fmt!r}; use csv, jsonl or parquet")
        target = str(out).replace("'", "''")
        self.con.execute(f"COPY ({query}) TO '{target}' ({options})")
        return self.count_posts()

    # -- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = _first(self.con.execute("SELECT value FROM meta WHERE key = ?", [key]))
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])
        self.changed = True

    # -- dashboard (issue 7) -------------------------------------------------------------------

    def dashboard_platforms(self) -> list[str]:
        """Every platform that has posts, for the dashboard's platform filter."""
        rows = self.con.execute("SELECT DISTINCT platform FROM posts ORDER BY 1").fetchall()
        return [str(r[0]) for r in rows]

    def dashboard_recent_posts(
        self,
        *,
        label: str | None = None,
        platform: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[PostView]:
        """The newest posts (effective label ``label``, on ``platform``) with their labels, like
        ``query_posts`` but fast on a million posts: the page is picked first from the narrow
        columns, then only its rows are read in full (their time range prunes the scan), and
        ``raw`` is left out (``None``)."""
        where: list[str] = []
        params: list[Any] = []
        source = "posts p"
        if platform is not None:
            # filtered inside the FROM: DuckDB 2.0 drops the LIMIT of this query when the
            # platform test sits in the WHERE next to the label test and corrections is empty
            source = "(SELECT platform, post_id, created_at FROM posts WHERE platform = ?) p"
            params.append(platform)
        if label is not None:
            if label not in LABELS:
                raise UsageError(f"unknown label {label!r}; use one of: {', '.join(LABELS)}")
            source += (
                " LEFT JOIN labels l ON l.platform = p.platform AND l.post_id = p.post_id"
                " LEFT JOIN corrections c ON c.platform = p.platform AND c.post_id = p.post_id"
            )
            where.append("COALESCE(c.label, l.label) = ?")
            params.append(label)
        keys = self.con.execute(
            f"SELECT p.platform, p.post_id, p.created_at FROM {source} "
            + (f"WHERE {' AND '.join(where)} " if where else "")
            + "ORDER BY p.created_at DESC, p.post_id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        if len(keys) > limit:  # the same optimizer slip in another shape: page it here
            keys = keys[offset : offset + limit]
        if not keys:
            return []
        cols = ", ".join("NULL" if c == "raw" else f"p.{c}" for c in POST_COLUMNS)
        rows = self.con.execute(
            "WITH page AS (SELECT unnest($pl) AS platform, unnest($id) AS post_id) "
            f"SELECT {cols}, COALESCE(c.label, l.label), "
            "CASE WHEN c.label IS NOT NULL THEN 1.0 ELSE l.confidence END, l.reason, "
            "c.label IS NOT NULL, l.label "
            "FROM posts p SEMI JOIN page ON p.platform = page.platform "
            "AND p.post_id = page.post_id "
            "LEFT JOIN labels l ON l.platform = p.platform AND l.post_id = p.post_id "
            "LEFT JOIN corrections c ON c.platform = p.platform AND c.post_id = p.post_id "
            "WHERE p.created_at >= $lo AND p.created_at <= $hi "
            "ORDER BY p.created_at DESC, p.post_id DESC",
            {
                "pl": [k[0] for k in keys],
                "id": [k[1] for k in keys],
                "lo": min(k[2] for k in keys),
                "hi": max(k[2] for k in keys),
            },
        ).fetchall()
        return _post_views(rows)

    # -- goals, nudges, reports (issue 6: the goal tracker) --------------------------------------
    # Every "effective label" below is the user's correction when there is one, else the model's:
    # the same rule as the post_labels view. The queries first cut posts to a time range and then
    # pick only those posts' labels and corrections (a semi-join), so a day's figures on a
    # million-post database never build a hash table over every label.

    @staticmethod
    def _goal_with(where: str, cols: str = "p.*") -> str:
        """``WITH p`` (posts matching ``where``), ``l`` and ``c`` (their labels and
        corrections); follow it with ``SELECT ... {_GOAL_FROM}``."""
        return (
            f"WITH p AS (SELECT {cols} FROM posts p WHERE {where}), "
            "l AS (SELECT platform, post_id, label, confidence, reason FROM labels "
            "      WHERE post_id IN (SELECT post_id FROM p)), "
            "c AS (SELECT platform, post_id, label FROM corrections "
            "      WHERE post_id IN (SELECT post_id FROM p)) "
        )

    _GOAL_LABELS = (
        "LEFT JOIN l ON l.platform = p.platform AND l.post_id = p.post_id "
        "LEFT JOIN c ON c.platform = p.platform AND c.post_id = p.post_id "
    )
    _GOAL_FROM = "FROM p " + _GOAL_LABELS

    def _goal_ranges_with(
        self, starts: Sequence[datetime], ends: Sequence[datetime], cols: str
    ) -> tuple[str, dict[str, Any]]:
        """``_goal_with`` for the posts of the half-open UTC ranges ``[starts[i], ends[i])``,
        with ``d`` (i, s, e: the ranges numbered from 0) in front; and its parameters."""
        s = [x.astimezone(UTC).replace(tzinfo=None) for x in starts]
        e = [x.astimezone(UTC).replace(tzinfo=None) for x in ends]
        sql = (
            "WITH d AS (SELECT generate_subscripts($s, 1) - 1 AS i, unnest($s) AS s, "
            "unnest($e) AS e), "
            + self._goal_with("p.created_at >= $lo AND p.created_at < $hi", cols)[len("WITH ") :]
        )
        return sql, {"s": s, "e": e, "lo": min(s), "hi": max(e)}

    def goal_day_tallies(
        self, starts: Sequence[datetime], ends: Sequence[datetime]
    ) -> list[tuple[int, str | None, int]]:
        """Posts per (day index, effective label) for the contiguous, ascending half-open UTC
        ranges ``[starts[i], ends[i])``; a label of None counts unlabelled posts."""
        if not starts:
            return []
        with_ranges, params = self._goal_ranges_with(
            starts, ends, "p.platform, p.post_id, p.created_at"
        )
        rows = self.con.execute(
            with_ranges + "SELECT d.i, COALESCE(c.label, l.label) AS label, count(*) "
            f"FROM p ASOF JOIN d ON p.created_at >= d.s {self._GOAL_LABELS}"
            "WHERE p.created_at < d.e GROUP BY 1, 2",
            params,
        ).fetchall()
        return [(int(i), label, int(n)) for i, label, n in rows]

    def goal_posts(
        self, start: datetime, end: datetime, labels: Sequence[str] | None = None
    ) -> list[PostView]:
        """Posts created in ``[start, end)`` with their effective label, oldest first;
        only those whose effective label is in ``labels`` when given."""
        params: list[Any] = [_naive_utc(start), _naive_utc(end)]
        where = ""
        if labels is not None:
            where = "WHERE list_contains(?, COALESCE(c.label, l.label)) "
            params.append(list(labels))
        rows = self.con.execute(
            self._goal_with("p.created_at >= ? AND p.created_at < ?")
            + f"SELECT {_post_select('p')}, COALESCE(c.label, l.label), "
            "CASE WHEN c.label IS NOT NULL THEN 1.0 ELSE l.confidence END, l.reason, "
            f"c.label IS NOT NULL, l.label {self._GOAL_FROM}{where}"
            "ORDER BY p.created_at, p.platform, p.post_id",
            params,
        ).fetchall()
        return _post_views(rows)

    def goal_label_mix(self, start: datetime, end: datetime) -> list[tuple[str, str | None, int]]:
        """Posts per (platform, effective label) in ``[start, end)``; None = unlabelled."""
        rows = self.con.execute(
            self._goal_with("p.created_at >= ? AND p.created_at < ?", "p.platform, p.post_id")
            + f"SELECT p.platform, COALESCE(c.label, l.label), count(*) {self._GOAL_FROM}"
            "GROUP BY 1, 2 ORDER BY 1, 2",
            [_naive_utc(start), _naive_utc(end)],
        ).fetchall()
        return [(str(p), label, int(n)) for p, label, n in rows]

    def goal_label_mixes(
        self, starts: Sequence[datetime], ends: Sequence[datetime]
    ) -> list[tuple[int, str, str | None, int]]:
        """``goal_label_mix`` of many half-open UTC ranges ``[starts[i], ends[i])`` in one scan:
        posts per (range index, platform, effective label); None = unlabelled."""
        if not starts:
            return []
        with_ranges, params = self._goal_ranges_with(
            starts, ends, "p.platform, p.post_id, p.created_at"
        )
        rows = self.con.execute(
            with_ranges + "SELECT d.i, p.platform, COALESCE(c.label, l.label), count(*) "
            f"FROM p JOIN d ON p.created_at >= d.s AND p.created_at < d.e {self._GOAL_LABELS}"
            "GROUP BY 1, 2, 3",
            params,
        ).fetchall()
        return [(int(i), str(p), label, int(n)) for i, p, label, n in rows]

    def goal_posting_apps(
        self, start: datetime, end: datetime, labels: Sequence[str]
    ) -> list[tuple[str | None, str, str, int]]:
        """(posting app, platform, effective label, posts) in ``[start, end)`` for posts whose
        label is in ``labels``; the app is None where the platform does not record it."""
        rows = self.con.execute(
            self._goal_with(
                "p.created_at >= ? AND p.created_at < ?", "p.platform, p.post_id, p.client"
            )
            + "SELECT p.client, p.platform, COALESCE(c.label, l.label) AS label, count(*) "
            f"{self._GOAL_FROM}WHERE list_contains(?, COALESCE(c.label, l.label)) "
            "GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3",
            [_naive_utc(start), _naive_utc(end), list(labels)],
        ).fetchall()
        return [(cl, str(p), str(lb), int(n)) for cl, p, lb, n in rows]

    def goal_recycled_links(
        self, start: datetime, end: datetime, min_posts: int = 3, limit: int = 20
    ) -> list[tuple[str, int, list[str], datetime, datetime]]:
        """Links posted in at least ``min_posts`` posts in ``[start, end)``: (url, posts,
        platforms, first, last), most repeated first."""
        rows = self.con.execute(
            "SELECT u.url, count(*) AS n, list(DISTINCT u.platform ORDER BY u.platform), "
            "min(u.created_at), max(u.created_at) "
            "FROM (SELECT unnest(urls) AS url, platform, created_at FROM posts "
            "      WHERE created_at >= ? AND created_at < ?) u "
            "GROUP BY 1 HAVING count(*) >= ? ORDER BY 2 DESC, 1 LIMIT ?",
            [_naive_utc(start), _naive_utc(end), min_posts, limit],
        ).fetchall()
        return [
            (str(u), int(n), list(pl), _aware(a) or a, _aware(b) or b) for u, n, pl, a, b in rows
        ]

    def goal_mentions_with_answers(self, since: datetime) -> list[tuple[Mention, datetime | None]]:
        """Mentions of the user created since ``since``, each with the time of the user's first
        answer: a later post of the user's that replies to that post, or replies to that person
        in the same thread (None when unanswered). Newest mention first."""
        since_n = _naive_utc(since)
        norm = "lower(ltrim({}, '@'))"
        rows = self.con.execute(
            f"WITH m AS (SELECT * FROM mentions WHERE created_at >= $since), "
            "p AS (SELECT platform, created_at, reply_to_post, reply_to_user, "
            "      COALESCE(thread_root, reply_to_post) AS root FROM posts "
            "      WHERE created_at >= $since AND (reply_to_post IS NOT NULL "
            "      OR reply_to_user IS NOT NULL)), "
            "a AS ("
            "  SELECT m.platform, m.mention_id, p.created_at FROM m JOIN p "
            "    ON p.platform = m.platform AND p.reply_to_post = m.mention_id "
            "    AND p.created_at > m.created_at "
            "  UNION ALL "
            "  SELECT m.platform, m.mention_id, p.created_at FROM m JOIN p "
            "    ON p.platform = m.platform "
            f"   AND {norm.format('p.reply_to_user')} = {norm.format('m.author')} "
            "    AND p.root = COALESCE(m.thread_root, m.mention_id) "
            "    AND p.created_at > m.created_at), "
            "first AS (SELECT platform, mention_id, min(created_at) AS answered_at FROM a "
            "          GROUP BY 1, 2) "
            f"SELECT {', '.join('m.' + c for c in MENTION_COLUMNS)}, f.answered_at "
            "FROM m LEFT JOIN first f USING (platform, mention_id) "
            "ORDER BY m.created_at DESC, m.platform, m.mention_id",
            {"since": since_n},
        ).fetchall()
        return [(_mention_from_row(r[:-1]), _aware(r[-1])) for r in rows]

    def goal_contacts(
        self, since: datetime, labels: Sequence[str]
    ) -> list[tuple[str, str, datetime, int]]:
        """People the user addressed in posts labelled ``labels`` since ``since`` (replied to or
        mentioned): (platform, person, last time, posts), most recent first."""
        rows = self.con.execute(
            self._goal_with(
                "p.created_at >= ?",
                "p.platform, p.post_id, p.account, p.created_at, p.reply_to_user, p.mentions",
            )
            + ", g AS (SELECT p.platform, p.account, p.created_at, p.reply_to_user, p.mentions "
            f"  {self._GOAL_FROM}WHERE list_contains(?, COALESCE(c.label, l.label))), "
            "people AS (SELECT platform, account, created_at, reply_to_user AS person FROM g "
            "  WHERE reply_to_user IS NOT NULL "
            "  UNION ALL SELECT platform, account, created_at, unnest(mentions) FROM g) "
            "SELECT platform, lower(ltrim(person, '@')) AS who, max(created_at), count(*) "
            "FROM people WHERE lower(ltrim(person, '@')) <> lower(ltrim(account, '@')) "
            "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
            [_naive_utc(since), list(labels)],
        ).fetchall()
        return [(str(p), str(w), _aware(t) or t, int(n)) for p, w, t, n in rows]

    def goal_first_post_time(self) -> datetime | None:
        row = _first(self.con.execute("SELECT min(created_at) FROM posts"))
        return _aware(row[0]) if row else None

    def goal_checkpoint(self) -> None:
        """Write the WAL into the database file now, so closing does not touch the file after
        the goal cache records the time it was written."""
        if not self.read_only:
            self.con.execute("CHECKPOINT")

    # -- reliability (issue 8) -------------------------------------------------------------------

    def count_unlabelled_posts(self) -> int:
        """Posts without a model label: a fetch killed between saving and labelling leaves
        some, and the next fetch labels them even when it finds nothing new."""
        return int(
            _first(
                self.con.execute(
                    "SELECT count(*) FROM posts p ANTI JOIN labels l USING (platform, post_id)"
                )
            )[0]
        )


def open_store(
    path: Path,
    *,
    read_only: bool = False,
    lock_timeout: float = 30.0,
    create: bool = True,
) -> Store:
    """Open (and migrate) the database at ``path``.

    Read-only stores are for commands that only look (nudge, today, dashboard): they can run
    beside each other. A read-only open of a database whose schema is behind migrates it first
    with a short read-write open.
    """
    path = Path(path)
    if not path.exists():
        if read_only or not create:
            raise StoreError(
                f"no database at {path} yet: run 'engage fetch', 'engage import PATH' or "
                "'engage demo' first"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of database {path}: {exc.strerror or exc}; "
                "choose another place with --db or ENGAGE_DB"
            ) from None
    if read_only:
        con = _connect(path, True, lock_timeout)
        store = Store(con, path, True)
        try:
            version = store.schema_version()
        except duckdb.Error as exc:
            store.close()
            raise StoreError(f"cannot read database {path}: {exc}") from None
        if version == LATEST_SCHEMA:
            return store
        store.close()
        with open_store(path, lock_timeout=lock_timeout):
            pass
        return Store(_connect(path, True, lock_timeout), path, True)
    con = _connect(path, False, lock_timeout)
    store = Store(con, path, False)
    try:
        store.migrate()
    except duckdb.Error as exc:
        store.close()
        raise StoreError(f"cannot prepare database {path}: {exc}") from None
    except BaseException:
        store.close()
        raise
    return store


# -- row conversion ----------------------------------------------------------------------------


def _post_select(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in POST_COLUMNS)


def _post_from_row(row: Sequence[Any]) -> Post:
    d = dict(zip(POST_COLUMNS, row, strict=True))
    d["created_at"] = _aware(d["created_at"])
    d["fetched_at"] = _aware(d["fetched_at"])
    d["urls"] = list(d["urls"] or [])
    d["mentions"] = list(d["mentions"] or [])
    raw = d["raw"]
    d["raw"] = json.loads(raw) if isinstance(raw, str) else raw
    return Post(**d)


def _post_views(rows: Sequence[Sequence[Any]]) -> list[PostView]:
    """Rows of the post columns followed by label, confidence, reason, corrected, model label."""
    n = len(POST_COLUMNS)
    return [
        PostView(
            post=_post_from_row(r[:n]),
            label=r[n],
            confidence=r[n + 1],
            reason=r[n + 2],
            corrected=bool(r[n + 3]),
            model_label=r[n + 4],
        )
        for r in rows
    ]


def _mention_from_row(row: Sequence[Any]) -> Mention:
    d = dict(zip(MENTION_COLUMNS, row, strict=True))
    d["created_at"] = _aware(d["created_at"])
    d["fetched_at"] = _aware(d["fetched_at"])
    raw = d["raw"]
    d["raw"] = json.loads(raw) if isinstance(raw, str) else raw
    return Mention(**d)


def _account_from_row(row: Sequence[Any]) -> AccountInfo:
    name, platform, handle, user_id, base_url, settings = row
    return AccountInfo(
        name=name,
        platform=platform,
        handle=handle,
        user_id=user_id,
        base_url=base_url,
        settings=json.loads(settings) if settings else {},
    )


def _dedupe(items: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
    """Last one wins: a page that repeats a post must not make the upsert insert it twice."""
    seen: dict[Any, Any] = {}
    for it in items:
        seen[key(it)] = it
    return list(seen.values())


def posts_to_arrow(posts: Sequence[Post]) -> pa.Table:
    import pyarrow as pa

    posts = _dedupe(posts, lambda p: (p.platform, p.post_id))
    cols: dict[str, list[Any]] = {c: [] for c in POST_COLUMNS}
    for p in posts:
        cols["platform"].append(p.platform)
        cols["post_id"].append(p.post_id)
        cols["account"].append(p.account)
        cols["url"].append(p.url)
        cols["created_at"].append(_naive_utc(p.created_at))
        cols["text"].append(p.text or "")
        cols["kind"].append(p.kind)
        cols["reply_to_post"].append(p.reply_to_post)
        cols["reply_to_user"].append(p.reply_to_user)
        cols["quoted_post"].append(p.quoted_post)
        cols["reposted_post"].append(p.reposted_post)
        cols["thread_root"].append(p.thread_root)
        cols["urls"].append(list(p.urls))
        cols["mentions"].append(list(p.mentions))
        cols["client"].append(p.client)
        cols["lang"].append(p.lang)
        cols["raw"].append(json_text(p.raw))
        cols["source"].append(p.source)
        cols["fetched_at"].append(_naive_utc(p.fetched_at))
    return pa.table(cols, schema=_schemas()[0])


def post_columns_to_arrow(posts: PostColumns, *, dedupe: bool = True) -> pa.Table:
    """``posts_to_arrow`` of posts already in columns; a post repeated in the batch is kept
    once (the last one), as there, unless ``dedupe`` is false."""
    import pyarrow as pa
    import pyarrow.compute as pc  # here: start-up time the other commands do not need

    table = pa.table({c: posts.columns[c] for c in POST_COLUMNS}, schema=_schemas()[0])
    if not dedupe:
        return table
    keys = pc.binary_join_element_wise(table["platform"], table["post_id"], "\x00")
    if pc.count_distinct(keys).as_py() != table.num_rows:
        last: dict[Any, int] = {k: i for i, k in enumerate(keys.to_pylist())}
        table = table.take(sorted(last.values()))
    return table


def mentions_to_arrow(mentions: Sequence[Mention]) -> pa.Table:
    import pyarrow as pa

    mentions = _dedupe(mentions, lambda m: (m.platform, m.mention_id))
    cols: dict[str, list[Any]] = {c: [] for c in MENTION_COLUMNS}
    for m in mentions:
        cols["platform"].append(m.platform)
        cols["mention_id"].append(m.mention_id)
        cols["account"].append(m.account)
        cols["author"].append(m.author)
        cols["created_at"].append(_naive_utc(m.created_at))
        cols["text"].append(m.text or "")
        cols["kind"].append(m.kind)
        cols["url"].append(m.url)
        cols["reply_to_post"].append(m.reply_to_post)
        cols["thread_root"].append(m.thread_root)
        cols["raw"].append(json_text(m.raw))
        cols["source"].append(m.source)
        cols["fetched_at"].append(_naive_utc(m.fetched_at))
    return pa.table(cols, schema=_schemas()[1])
