"""The X (Twitter) data archive: the zip a user downloads from their account settings, or the
folder it was unpacked into.

Posts are in ``data/tweets.js`` (2022 on), ``data/tweet.js`` (older) and, for large accounts,
``data/tweets-part1.js``, ``data/tweets-part2.js`` ...: each a ``window.YTD.tweets.partN = [...]``
JavaScript assignment of ``{"tweet": {...}}`` items (older: the tweet object itself), every
number a string. The owner is in ``data/account.js``. Unlike the X API, the archive has every
post and the posting app of each (``source``). ``tweet_to_post`` is the pure conversion.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar

import orjson

from connectors.archive import ExportFiles, JSONStream, container_type, loads_exact
from connectors.base import Importer, Mention, Post, PostColumns
from connectors.text import normalise_app_name
from engage.errors import ImportFormatError

PLATFORM = "x"

# data/tweets.js, data/tweet.js, data/tweets-part1.js (also without the data/ folder, when the
# user points at the unpacked data folder itself)
_POSTS_FILE = re.compile(r"^(?P<dir>(?:.*/)?)(?P<stem>tweets?)(?:-part(?P<part>\d+))?\.js$")
_STATUS_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?P<user>\w+)/status(?:es)?/(?P<id>\d+)",
    re.IGNORECASE,
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def parse_x_time(value: str) -> datetime:
    """``Wed Oct 19 20:07:25 +0000 2022`` as aware UTC (fixed positions: much faster than
    ``strptime``, which matters at a hundred thousand tweets)."""
    try:
        if len(value) != 30 or value[3] != " " or value[19:21] not in (" +", " -"):
            raise ValueError
        dt = datetime(
            int(value[26:30]),
            _MONTHS[value[4:7]],
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
            tzinfo=UTC,
        )
        offset = value[20:25]
        if offset != "+0000":
            sign = -1 if offset[0] == "-" else 1
            dt -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"not an X time: {value!r}") from None
    return dt


@lru_cache(maxsize=4096)
def _app_name(source: str | None) -> str | None:
    """``normalise_app_name`` of a ``source``; an archive repeats a few apps many times."""
    return normalise_app_name(source)


def _tweet_fields(tweet: Mapping[str, Any], account: str) -> _Fields:
    """What ``tweet_to_post`` makes of a tweet, but its time: post_id, text, kind, url,
    reply_to_post, reply_to_user, quoted_post, urls, mentions, client, lang."""
    post_id = str(tweet["id_str"]) if "id_str" in tweet else str(tweet["id"])
    text = tweet.get("full_text")
    if text is None:
        text = tweet.get("text") or ""
    if "&" in text:
        text = html.unescape(text)  # the archive escapes & < > as the old API did
    entities = tweet.get("entities") or {}
    urls = [u["expanded_url"] for u in entities.get("urls") or () if u.get("expanded_url")]
    mentions = [
        m["screen_name"] for m in entities.get("user_mentions") or () if m.get("screen_name")
    ]
    reply_to = tweet.get("in_reply_to_status_id_str") or None
    quoted = None
    for u in urls:
        m = _STATUS_URL.match(u)
        if m and m.group("id") != post_id:
            quoted = m.group("id")
            break
    if text.startswith("RT @"):
        kind = "repost"
        quoted = None
    elif reply_to:
        kind = "reply"
    elif quoted:
        kind = "quote"
    else:
        kind = "post"
    return (
        post_id,
        text,
        kind,
        f"https://x.com/{account}/status/{post_id}",
        reply_to if kind != "repost" else None,
        (tweet.get("in_reply_to_screen_name") or None) if reply_to else None,
        quoted,
        urls,
        mentions,
        _app_name(tweet.get("source")),
        tweet.get("lang") or None,
    )


_Fields = tuple[
    str,
    str,
    str,
    str,
    str | None,
    str | None,
    str | None,
    list[str],
    list[str],
    str | None,
    str | None,
]
#: the post columns ``_tweet_fields`` fills, in its order
_FIELD_COLUMNS = (
    "post_id",
    "text",
    "kind",
    "url",
    "reply_to_post",
    "reply_to_user",
    "quoted_post",
    "urls",
    "mentions",
    "client",
    "lang",
)


def tweet_to_post(tweet: Mapping[str, Any], account: str, source: str) -> Post:
    """One archive tweet as a ``Post`` (``account`` is the owner's screen name)."""
    (post_id, text, kind, url, reply_to_post, reply_to_user, quoted, urls, mentions, client,
     lang) = _tweet_fields(tweet, account)  # fmt: skip
    return Post(
        platform=PLATFORM,
        account=account,
        post_id=post_id,
        created_at=parse_x_time(tweet["created_at"]),
        text=text,
        kind=kind,
        url=url,
        reply_to_post=reply_to_post,
        reply_to_user=reply_to_user,
        quoted_post=quoted,
        urls=urls,
        mentions=mentions,
        client=client,
        lang=lang,
        raw=tweet,
        source=source,
    )


def tweets_to_columns(
    tweets: Sequence[Mapping[str, Any]],
    account: str,
    sources: Sequence[str],
    texts: Sequence[bytes | None] | None = None,
) -> dict[str, Any]:
    """``tweet_to_post`` of many tweets at once, as the store's post columns (lists; times as
    naive UTC microseconds since 1970): the same values, without a ``Post`` per tweet.
    ``texts`` may give the JSON text of some tweets, used as ``raw`` as it is. A tweet that is
    not valid raises ``_BadTweet`` with its index and the problem."""
    rows = []
    times = []
    for i, tweet in enumerate(tweets):
        try:
            rows.append(_tweet_fields(tweet, account))
            times.append(_x_time_us(tweet["created_at"]))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise _BadTweet(i, exc) from None
    n = len(rows)
    columns: dict[str, Any] = {c: [] for c in _FIELD_COLUMNS}
    if n:
        columns = dict(zip(_FIELD_COLUMNS, zip(*rows, strict=True), strict=True))
    columns["created_at"] = times
    columns["platform"] = [PLATFORM] * n
    columns["account"] = [account] * n
    columns["reposted_post"] = [None] * n
    columns["thread_root"] = [None] * n
    if texts is None:
        columns["raw"] = [_raw_json(t) for t in tweets]
    else:
        pairs = zip(tweets, texts, strict=False)  # texts may run past a bad tweet
        columns["raw"] = [_raw_json(t) if x is None else x for t, x in pairs]
    columns["source"] = sources
    columns["fetched_at"] = [None] * n
    return columns


class _BadTweet(Exception):
    def __init__(self, index: int, problem: BaseException) -> None:
        super().__init__(index, problem)
        self.index = index
        self.problem = problem


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@lru_cache(maxsize=1 << 16)
def _day_us(month: str, day: str, year: str) -> int:
    """Microseconds from 1970 to the start of a day of X's time format (raises as
    ``parse_x_time`` does for a day that does not exist)."""
    y = int(year)
    if not 1 < y < 9999:
        raise ValueError(year)  # near the ends of datetime's range: parse_x_time decides
    return (datetime(y, _MONTHS[month], int(day), tzinfo=UTC) - _EPOCH) // _US


def _x_time_us(value: str) -> int:
    """``parse_x_time(value)`` as naive UTC microseconds since 1970: the same checks and
    arithmetic without a ``datetime`` per tweet (an archive's tweets share their days). What
    this shortcut does not take goes through ``parse_x_time``, which raises or reads it."""
    if len(value) == 30 and value[3] == " " and value[19:21] in (" +", " -"):
        try:
            h, m, s = int(value[11:13]), int(value[14:16]), int(value[17:19])
            if 0 <= h < 24 and 0 <= m < 60 and 0 <= s < 60:
                us = _day_us(value[4:7], value[8:10], value[26:30])
                us += (h * 3600 + m * 60 + s) * 1_000_000
                offset = value[20:25]
                if offset != "+0000":
                    sign = -1 if offset[0] == "-" else 1
                    us -= sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60) * 1_000_000
                return us
        except (ValueError, KeyError):
            pass
    return (parse_x_time(value) - _EPOCH) // _US


def _tweets_of(items: list[Any]) -> list[dict[str, Any]]:
    """The tweet of each item (``{"tweet": {...}}``, or the tweet itself in older archives),
    up to the first item that is not a tweet object."""
    try:
        tweets = [item.get("tweet", item) for item in items]
        if set(map(type, tweets)) <= {dict}:
            return tweets
    except AttributeError:
        pass
    tweets = []
    for item in items:
        tweet = item.get("tweet", item) if isinstance(item, dict) else None
        if not isinstance(tweet, dict):
            break
        tweets.append(tweet)
    return tweets


def _tweet_texts(items: list[Any], bodies: list[bytes] | None) -> list[bytes | None]:
    """The JSON text of each ``{"tweet": {...}}`` item's tweet as the file has it (indented;
    the store keeps JSON compact), cut from the item's text (``bodies``, see
    ``JSONStream.chunk_item_bodies``) instead of encoding the decoded tweet again; None where
    the item has another shape."""
    out: list[bytes | None] = [None] * len(items)
    if bodies is None:
        return out
    usual: bytes | None = None  # the text between the two braces in this file's layout
    for k, item in enumerate(items):
        if len(item) != 1:
            continue
        body = bodies[k]
        a = body.find(b"{")
        b = body.find(b"{", a + 1)
        if b > a >= 0:
            key = body[a + 1 : b]
            if key == usual or key.translate(None, b" \t\r\n") == b'"tweet":':
                usual = key
                out[k] = body[b:]
    return out


def _raw_json(tweet: Mapping[str, Any]) -> bytes:
    """The tweet as compact JSON (UTF-8), as the store writes ``Post.raw``. Bytes, not text:
    Arrow takes them as they are, where a ``str`` is encoded again (0.8 s for 100,000 tweets)."""
    try:
        return orjson.dumps(tweet, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(tweet, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _posts_files(names: list[str]) -> list[str]:
    """The posts files of the archive in reading order: tweets.js / tweet.js, then the parts."""
    found = []
    for name in names:
        m = _POSTS_FILE.match(name)
        if not m:
            continue
        folder = m.group("dir")
        if folder and not (folder == "data/" or folder.endswith("/data/")):
            continue  # tweets.js elsewhere (media folders, other tools' files) is not the archive
        found.append((folder, int(m.group("part") or 0), m.group("stem"), name))
    if not found:
        return []
    first_dir = min(f[0] for f in found)  # one archive only: the outermost data folder
    return [name for folder, _p, _s, name in sorted(found) if folder == first_dir]


class XArchiveImporter(Importer):
    """Reads an X archive (zip, folder, or the unpacked ``data`` folder)."""

    kind: ClassVar[str] = "x-archive"
    platform: ClassVar[str] = PLATFORM
    columnar: ClassVar[bool] = True

    def __init__(self, path: Path) -> None:
        super().__init__(Path(path))
        self._account: str | None = None

    @classmethod
    def detect(cls, path: Path) -> bool:
        path = Path(path)
        ctype = container_type(path)
        if ctype is None:
            return False
        with ExportFiles(path, scan_limit=None if ctype != "tar" else 2000) as files:
            return bool(_posts_files(files.names))

    def _open(self) -> ExportFiles:
        return ExportFiles(self.path)

    def _layout(self, files: ExportFiles) -> tuple[list[str], str]:
        posts = _posts_files(files.names)
        if not posts:
            raise ImportFormatError(f"{self.path}: no data/tweets.js or data/tweet.js in it")
        folder = _POSTS_FILE.match(posts[0]).group("dir")  # type: ignore[union-attr]
        return posts, f"{folder}account.js"

    def posts_bytes(self) -> int:
        """The unpacked size of the posts files (what ``stage_copies`` writes, about)."""
        with self._open() as files:
            posts_files, _account_file = self._layout(files)
            return sum(files.size(name) for name in posts_files)

    def _whole_posts_files(self, files: ExportFiles) -> list[str]:
        """The posts files in reading order; a cut-off file is refused before anything of the
        export is saved."""
        posts_files, _account_file = self._layout(files)
        for name in posts_files:
            files.check_ends_with(name, b"]")
        return posts_files

    def account(self) -> str:
        if self._account is not None:
            return self._account
        with self._open() as files:
            _posts, account_file = self._layout(files)
            if account_file not in files:
                raise ImportFormatError(
                    f"{self.path}: no {account_file}, so the archive's owner is unknown; "
                    "give the whole archive as downloaded"
                )
            data = files.load_json(account_file)
        try:
            item = data[0]
            acc = item.get("account", item)
            username = str(acc["username"]).strip()
        except (LookupError, TypeError, AttributeError):
            raise ImportFormatError(
                f"{self.path}: {account_file} has no account username"
            ) from None
        if not username:
            raise ImportFormatError(f"{self.path}: {account_file} has an empty username")
        self._account = username
        return username

    def fingerprint(self) -> str:
        with self._open() as files:
            posts, account_file = self._layout(files)
            stamps = [f"{n}={files.stamp(n)}" for n in [account_file, *posts] if n in files]
        return "\n".join(stamps)

    def iter_items(self) -> Iterator[Post | Mention]:
        account = self.account()
        with self._open() as files:
            posts_files = self._whole_posts_files(files)
            for name in posts_files:
                yield from self._read_posts_file(files, name, account)

    def iter_post_columns(self, batch_size: int) -> Iterator[PostColumns]:
        account = self.account()
        pending = _Pending()
        with self._open() as files:
            posts_files = self._whole_posts_files(files)
            for name in posts_files:
                for columns, count in self._read_posts_columns(files, name, account):
                    pending.add(columns, count)
                    while pending.count >= batch_size:
                        yield pending.take(batch_size)
        if pending.count:
            yield pending.take(pending.count)

    def _read_posts_columns(
        self, files: ExportFiles, name: str, account: str
    ) -> Iterator[tuple[dict[str, Any], int]]:
        """``_read_posts_file`` in columns, a chunk of the file at a time. The tweets of a
        chunk before a bad one are yielded before the error is raised."""
        where = f"{self.path}: {name}"
        source = f"archive:{name}"
        with files.open_text(name) as fh:
            js = JSONStream(fh, where)
            self._skip_prefix(js)
            done = 0  # items of the file before this chunk
            for items in js.iter_array_chunks():
                tweets = _tweets_of(items)
                texts = _tweet_texts(items[: len(tweets)], js.chunk_item_bodies())
                try:
                    columns = tweets_to_columns(tweets, account, [source] * len(tweets), texts)
                except _BadTweet as bad:
                    good = tweets[: bad.index]
                    if good:
                        ok = tweets_to_columns(good, account, [source] * len(good), texts)
                        yield ok, len(good)
                    k = bad.index
                    raise ImportFormatError(
                        f"{where}: item {done + k + 1} is not a valid tweet "
                        f"({_problem(bad.problem)}) (line {js.chunk_item_line(k)})"
                    ) from None
                if tweets:
                    yield columns, len(tweets)
                if len(tweets) < len(items):
                    k = len(tweets)
                    raise ImportFormatError(
                        f"{where}: item {done + k + 1} is not a tweet object "
                        f"(line {js.chunk_item_line(k)})"
                    )
                done += len(items)
            self._check_end(js)

    def stage_copies(
        self,
        folder: Path,
        on_part: Callable[[StagedPart], None] | None = None,
        part_size: int | None = None,
    ) -> list[StagedPart] | None:
        """Copies of the posts files in ``folder`` as plain JSON arrays, for a reader that
        parses the JSON itself (the store's staged import), in reading order. The
        ``window.YTD.tweets.part0 =`` prefix and a final ``;`` become spaces. None when a
        file's framing is not the usual one: the streaming reader then says what is wrong.

        With ``part_size``, a file of X's pretty layout is cut into arrays of about that many
        bytes at the boundaries between its items (``\n  },\n  {\n``: the only place where
        that can stand in valid JSON is between two items of the top-level array, since a
        string holds no raw line break; a cut anywhere else leaves both parts invalid, and the
        reader refuses them). ``on_part`` is called with each part as soon as it is written,
        so that it can be read while the next one is copied."""
        out: list[StagedPart] = []

        def done(part: StagedPart) -> None:
            out.append(part)
            if on_part is not None:
                on_part(part)

        with self._open() as files:
            posts_files = self._whole_posts_files(files)
            for k, name in enumerate(posts_files):
                with files.open_binary(name) as src:
                    if not _copy_parts(
                        src, folder, k, f"archive:{name}", part_size or 0, len(out), done
                    ):
                        return None
        return out

    @staticmethod
    def _skip_prefix(js: JSONStream) -> None:
        if js.peek() != "[":
            head = js.skip_past("=", "'window.YTD.tweets.part0 =' prefix")
            if not head.strip().startswith("window.YTD."):
                raise js.error("not an X archive file: it does not start with window.YTD")

    @staticmethod
    def _check_end(js: JSONStream) -> None:
        if js.peek() == ";":
            js.expect(";", "';'")
        if not js.at_end():
            raise js.error("unexpected text after the list of tweets")

    def _read_posts_file(self, files: ExportFiles, name: str, account: str) -> Iterator[Post]:
        where = f"{self.path}: {name}"
        source = f"archive:{name}"
        with files.open_text(name) as fh:
            js = JSONStream(fh, where)
            self._skip_prefix(js)
            for n, item in enumerate(js.iter_array(), 1):
                tweet = item.get("tweet", item) if isinstance(item, dict) else None
                if not isinstance(tweet, dict):
                    raise js.error(f"item {n} is not a tweet object")
                try:
                    yield tweet_to_post(tweet, account, source)
                except (KeyError, ValueError, TypeError, AttributeError) as exc:
                    raise js.error(f"item {n} is not a valid tweet ({_problem(exc)})") from None
            self._check_end(js)


class _Pending:
    """Post columns gathered from the chunks of the posts files until a batch is full."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[str, Any], int]] = []
        self.count = 0

    def add(self, columns: dict[str, Any], count: int) -> None:
        self.parts.append((columns, count))
        self.count += count

    def take(self, size: int) -> PostColumns:
        """The first ``size`` posts gathered (``size`` <= ``count``)."""
        out: dict[str, Any] = {}
        taken: list[tuple[dict[str, Any], int]] = []
        left = size
        while left:
            columns, count = self.parts[0]
            if count <= left:
                taken.append(self.parts.pop(0))
                left -= count
            else:
                taken.append(({k: v[:left] for k, v in columns.items()}, left))
                self.parts[0] = ({k: v[left:] for k, v in columns.items()}, count - left)
                left = 0
        if len(taken) == 1:
            out = dict(taken[0][0])
        else:
            for name in taken[0][0]:
                out[name] = list(chain.from_iterable(part[name] for part, _n in taken))
        self.count -= size
        return PostColumns(out, size)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!s}"
    return str(exc)


_COPY_CHUNK = 1 << 20
_FRAME_HEAD = 64 * 1024


@dataclass(frozen=True)
class StagedPart:
    """A plain JSON array copied from a posts file (``XArchiveImporter.stage_copies``):
    ``file_no`` counts the posts files, ``source`` names it, ``wrapped`` when its items are
    ``{"tweet": {...}}``."""

    path: Path
    file_no: int
    source: str
    wrapped: bool


#: where two items of a posts file in X's layout meet: the comma is the array's own
_ITEM_BOUNDARY = b"\n  },\n  {\n"


def _copy_parts(
    src: Any,
    folder: Path,
    file_no: int,
    source: str,
    part_size: int,
    first_part: int,
    done: Callable[[StagedPart], None],
) -> bool:
    """Copy a posts file from ``src`` into parts ``folder/posts-<n>.json`` (numbered on from
    ``first_part``) with its ``window.YTD...=`` prefix (and a UTF-8 byte-order mark) as spaces
    and its final ``;`` blanked, cut at item boundaries after every ``part_size`` bytes (0: one
    part); ``done`` is called with each part once written. False when the file does not start
    or end as an X posts file does."""
    head = src.read(_FRAME_HEAD)
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    body = head[start:].lstrip()
    if not body.startswith(b"["):
        if not body.startswith(b"window.YTD."):
            return False
        eq = head.find(b"=", start)
        if eq < 0 or not head[eq + 1 :].lstrip().startswith(b"["):
            return False
        start = eq + 1
    first = head[start:].lstrip()[1:].lstrip()
    wrapped = first.startswith(b"{") and first[1:].lstrip().startswith(b'"tweet"')
    number = first_part
    path = folder / f"posts-{number}.json"
    dst = path.open("wb")
    try:
        dst.write(b" " * start)
        written = 0
        chunk = head[start:]
        while chunk:
            # the first boundary once the part has its size (one that straddles two chunks is
            # not seen: the part ends at the next one)
            cut = (
                chunk.find(_ITEM_BOUNDARY, max(0, part_size - written))
                if part_size and written + len(chunk) >= part_size
                else -1
            )
            if cut < 0:
                dst.write(chunk)
                written += len(chunk)
                chunk = src.read(_COPY_CHUNK)
                continue
            dst.write(chunk[: cut + 4] + b"]")  # ends with the item's "}"
            dst.close()
            done(StagedPart(path, file_no, source, wrapped))
            number += 1
            path = folder / f"posts-{number}.json"
            dst = path.open("wb")
            chunk = b"[" + chunk[cut + 5 :]  # the comma becomes the next part's "["
            written = 0
    finally:
        dst.close()
    if not _blank_final_semicolon(path):
        return False
    done(StagedPart(path, file_no, source, wrapped))
    return True


def _blank_final_semicolon(path: Path) -> bool:
    """Turn the ``;`` after the array's ``]`` into a space; False if the file does not end
    with ``]`` (and blanks)."""
    with path.open("r+b") as fh:
        size = fh.seek(0, 2)
        at = max(0, size - 64)
        fh.seek(at)
        tail = fh.read()
        end = tail.rstrip(b" \t\r\n")
        if end.endswith(b";"):
            fh.seek(at + len(end) - 1)
            fh.write(b" ")
            end = end[:-1].rstrip(b" \t\r\n")
        return end.endswith(b"]")


def odd_tweets_to_columns(
    rows: Sequence[tuple[int, str, str]], account: str
) -> tuple[list[int], dict[str, Any]] | None:
    """``tweets_to_columns`` of staged tweets given as (item number, source, raw JSON): the
    item numbers and the columns, or None if one of them is not a valid tweet (the streaming
    reader then reports it with its place in the file)."""
    tweets = [loads_exact(raw) for _n, _source, raw in rows]
    texts = [raw.encode() for _n, _source, raw in rows]
    try:
        columns = tweets_to_columns(tweets, account, [s for _n, s, _r in rows], texts)
    except _BadTweet:
        return None
    return [n for n, _s, _r in rows], columns


def app_names(sources: Sequence[str | None]) -> dict[str | None, str | None]:
    """The posting app named by each ``source`` HTML (see ``normalise_app_name``)."""
    return {s: _app_name(s) for s in sources}
