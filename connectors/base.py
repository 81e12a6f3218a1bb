"""The contract every connector and importer speaks.

A connector turns one platform's data into ``Post`` records (the user's own posts and reposts) and
``Mention`` records (other people's posts that address the user). Fetching, normalising and saving
are separate steps: the ``normalise_*`` functions of each module are pure functions from the
platform's JSON to records, and saving is the store's job, never a connector's.

Connectors are found through the ``engage.connectors`` entry-point group, so a new platform is one
new module plus one line in ``pyproject.toml``. Each connector takes its SDK client as a
constructor argument so tests can hand it a client pointed at a local fake server.
"""

from __future__ import annotations

import abc
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson

from engage.errors import ImportFormatError

PostKind = Literal["post", "reply", "repost", "quote"]
POST_KINDS: tuple[str, ...] = ("post", "reply", "repost", "quote")
MentionKind = Literal["mention", "reply", "quote"]
MENTION_KINDS: tuple[str, ...] = ("mention", "reply", "quote")
PLATFORMS: tuple[str, ...] = ("mastodon", "bluesky", "x")


def utc(dt: datetime) -> datetime:
    """Aware UTC ``datetime``; a naive one is taken to be UTC already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@dataclass(slots=True)
class Post:
    """One post the user made or reposted. Keyed by ``(platform, post_id)``; ids are text."""

    platform: str
    account: str
    post_id: str
    created_at: datetime
    text: str = ""
    kind: str = "post"
    url: str | None = None
    reply_to_post: str | None = None
    reply_to_user: str | None = None
    quoted_post: str | None = None
    reposted_post: str | None = None
    thread_root: str | None = None
    urls: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    client: str | None = None
    lang: str | None = None
    raw: Mapping[str, Any] | None = None
    source: str = "api"
    fetched_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in POST_KINDS:
            raise ValueError(f"unknown post kind {self.kind!r}")
        self.created_at = utc(self.created_at)
        if self.fetched_at is not None:
            self.fetched_at = utc(self.fetched_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: the fields of a ``Post``, which are also the store's post columns
POST_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Post))


@dataclass(slots=True)
class Mention:
    """Someone else's post that addresses the user: a mention, a reply to them, or a quote."""

    platform: str
    account: str  # the user's handle it addresses
    mention_id: str
    author: str  # who wrote it (handle)
    created_at: datetime
    text: str = ""
    kind: str = "mention"
    url: str | None = None
    reply_to_post: str | None = None  # the user's post it replies to, if any
    thread_root: str | None = None
    raw: Mapping[str, Any] | None = None
    source: str = "api"
    fetched_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in MENTION_KINDS:
            raise ValueError(f"unknown mention kind {self.kind!r}")
        self.created_at = utc(self.created_at)
        if self.fetched_at is not None:
            self.fetched_at = utc(self.fetched_at)


@dataclass(slots=True)
class PostColumns:
    """``count`` posts in columns named as the store's post columns (``Post`` fields; lists, or
    Arrow arrays, of ``count`` values each; times naive UTC, or integer microseconds since
    1970; ``raw`` as JSON text, str or UTF-8 bytes). Importers that can build them straight from
    the export (``Importer.iter_post_columns``) skip a ``Post`` per record."""

    columns: dict[str, Any]
    count: int

    def tail(self, start: int) -> PostColumns:
        """The posts from index ``start`` on."""
        return PostColumns({k: v[start:] for k, v in self.columns.items()}, self.count - start)

    @classmethod
    def from_posts(cls, posts: list[Post]) -> PostColumns:
        """``posts`` in columns (times naive UTC, ``raw`` as compact JSON text)."""
        columns: dict[str, Any] = {name: [] for name in POST_FIELDS}
        for p in posts:
            for name in POST_FIELDS:
                columns[name].append(getattr(p, name))
        columns["created_at"] = [t.replace(tzinfo=None) for t in columns["created_at"]]
        columns["fetched_at"] = [t and t.replace(tzinfo=None) for t in columns["fetched_at"]]
        columns["raw"] = [json_text(r) for r in columns["raw"]]
        return cls(columns, len(posts))


def json_text(value: Any) -> str | None:
    """``value`` as compact UTF-8 JSON text (None stays None), as the store keeps ``raw``."""
    if value is None:
        return None
    try:
        # orjson: the same compact UTF-8 JSON, seven times faster (raw JSON of every post of a
        # 100,000-post import); json covers what orjson refuses (integers past 64 bits).
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(slots=True)
class Page:
    """One page of a fetch. The store commits ``posts`` and ``mentions`` and only then moves the
    stream's cursor to ``cursor``, so a crash can never leave a gap."""

    stream: str  # "posts" or "mentions"
    posts: list[Post] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    reads: int = 0  # items read from the platform for this page (X bills per read)
    note: str | None = None  # something the user should be told once (a platform limit)


@dataclass(slots=True)
class AccountInfo:
    """What engage knows about a configured account (no secrets here)."""

    name: str
    platform: str
    handle: str
    user_id: str | None = None
    base_url: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits a fetch runs under (from the ``[fetch]`` config section and CLI options).

    ``sleep`` and ``clock`` are what rate-limit waits and backoff use (tests pass fakes so they
    never really wait); ``on_wait(seconds, reason)`` is told before each wait (progress display);
    ``on_secrets(values)`` is told at once when the connector's secrets change (a refreshed token
    or session), so they are saved before a crash could lose a refresh token the platform has
    already rotated.
    """

    max_retries: int = 5
    max_rate_limit_wait: float = 900.0
    x_max_reads: int = 500
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    on_wait: Callable[[float, str], None] | None = None
    on_secrets: Callable[[dict[str, Any]], None] | None = None


class Connector(abc.ABC):
    """Fetches one account's own posts and the posts that mention it, page by page.

    Construct it with an SDK client (tests pass one pointed at a loopback fake), or from stored
    account data and secrets with ``from_account``.
    """

    platform: ClassVar[str]
    #: streams this connector fetches, in order
    streams: ClassVar[tuple[str, ...]] = ("posts", "mentions")

    @classmethod
    @abc.abstractmethod
    def from_account(
        cls, account: AccountInfo, secrets: Mapping[str, Any], settings: FetchSettings
    ) -> Connector:
        """Build the connector (and its SDK client) for a configured account."""

    def updated_secrets(self) -> dict[str, Any] | None:
        """Secrets to store after a fetch (a refreshed token, a new session), or None."""
        return None

    @abc.abstractmethod
    def fetch(
        self, stream: str, cursor: dict[str, Any] | None, since: datetime | None = None
    ) -> Iterator[Page]:
        """Yield pages of ``stream`` starting after ``cursor`` (None: the first fetch, going back
        as far as the platform allows, or to ``since``). Each page carries the cursor to store
        once the page is committed."""


class Importer(abc.ABC):
    """Reads one kind of official export (a file or an unpacked folder) into records.

    ``iter_items`` yields records in a stable order, so an import can record how many items it
    has committed and a rerun after a crash can skip them.
    """

    kind: ClassVar[str]  # "x-archive", "mastodon-archive", "bluesky-car"
    platform: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    @abc.abstractmethod
    def detect(cls, path: Path) -> bool:
        """True when ``path`` looks like this kind of export (cheap: names, first bytes)."""

    @abc.abstractmethod
    def account(self) -> str:
        """The handle of the account the export belongs to."""

    @abc.abstractmethod
    def iter_items(self) -> Iterator[Post | Mention]:
        """Every record of the export; raises ``ImportFormatError`` on broken input."""

    #: True when ``iter_post_columns`` is implemented: the export holds only posts
    columnar: ClassVar[bool] = False

    def iter_post_columns(self, batch_size: int) -> Iterator[PostColumns]:
        """The same records as ``iter_items``, in order, ``batch_size`` at a time (the last
        batch may be smaller), when they are all posts: a faster path for large exports. A
        problem raises after every whole batch before the bad record was yielded, as
        ``iter_items`` would. Importers that set ``columnar`` build the columns straight from
        the export; this default gathers the records of ``iter_items``."""
        batch: list[Post] = []
        for item in self.iter_items():
            if not isinstance(item, Post):
                raise ImportFormatError(
                    f"{self.path}: holds mentions as well as posts; its records cannot be "
                    "read as post columns"
                )
            batch.append(item)
            if len(batch) == batch_size:
                yield PostColumns.from_posts(batch)
                batch = []
        if batch:
            yield PostColumns.from_posts(batch)

    def fingerprint(self) -> str:
        """What identifies this copy of the export for resuming an interrupted import (with the
        kind and the account): size and modification time of the file, or of every file in an
        unpacked folder. Importers may override it with something narrower (the posts files)."""
        path = Path(self.path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            parts = []
            for p in files:
                st = p.stat()
                parts.append(f"{p.relative_to(path).as_posix()}:{st.st_size}:{st.st_mtime_ns}")
            return "\n".join(parts)
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"


def discover_importers() -> dict[str, type[Importer]]:
    """Importer classes registered in the ``engage.importers`` entry-point group, by kind."""
    found: dict[str, type[Importer]] = {}
    for ep in entry_points(group="engage.importers"):
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, Importer):
            found[ep.name] = cls
    return found


def discover_connectors() -> dict[str, type[Connector]]:
    """Connector classes registered in the ``engage.connectors`` entry-point group, by name."""
    found: dict[str, type[Connector]] = {}
    for ep in entry_points(group="engage.connectors"):
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, Connector):
            found[ep.name] = cls
    return found
