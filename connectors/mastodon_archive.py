"""The Mastodon account archive (Settings > Import and export > Request your archive): a zip
(newer servers) or tar.gz (older), or the folder it was unpacked into.

``outbox.json`` is an ActivityStreams ``OrderedCollection`` whose ``orderedItems`` are ``Create``
activities (the ``object`` is the ``Note``: HTML ``content``, ``inReplyTo``, ``tag`` with
mentions, ``published``, ``url``) and ``Announce`` activities (boosts: ``object`` is only the
boosted post's URI). ``totalItems`` is not always right, so it is never used. ``actor.json`` is
the owner. The archive records no posting app. ``activity_to_post`` is the pure conversion.

Ids match the Mastodon API's: a post's id is the last path segment of its URI
(``https://m.example/users/pat/statuses/1234`` -> ``1234``), a boost's that of its activity.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connectors.archive import ExportFiles, JSONStream, container_type
from connectors.base import Importer, Mention, Post
from connectors.text import html_to_text
from engage.errors import ImportFormatError

PLATFORM = "mastodon"

_OUTBOX = re.compile(r"^(?P<dir>(?:[^/]+/)?)outbox\.json$")
_POST_TYPES = frozenset({"Note", "Question", "Article", "Page"})
_PUBLIC = frozenset({"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"})
_ANCHOR = re.compile(r"<a\s([^>]*)>", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_CLASS = re.compile(r"""\bclass\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_REL = re.compile(r"""\brel\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def status_id(uri: str) -> str:
    """The status id in a post or activity URI: ``.../statuses/1234`` and
    ``.../statuses/1234/activity`` both give ``1234``."""
    parts = [p for p in urlsplit(uri).path.split("/") if p]
    if parts and parts[-1] == "activity":
        parts.pop()
    if not parts:
        raise ValueError(f"no status id in {uri!r}")
    return parts[-1]


def account_from_actor(actor: Mapping[str, Any]) -> str:
    """``user@domain`` of an ``actor.json``: its ``webfinger`` when the server gives one, else
    ``preferredUsername`` and the host of the actor's id."""
    webfinger = actor.get("webfinger")
    if isinstance(webfinger, str) and "@" in webfinger.strip("@"):
        return webfinger.strip().lstrip("@")
    user = str(actor["preferredUsername"]).strip()
    host = urlsplit(str(actor.get("id") or actor.get("url") or "")).hostname
    if not user or not host:
        raise ValueError("no preferredUsername or id")
    return f"{user}@{host}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _uri(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        v = value.get("id") or value.get("href")
        return str(v) if v else None
    return None


def _is_direct(activity: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """A direct message: addressed neither to the public nor to followers."""
    audience = [
        *_as_list(obj.get("to")),
        *_as_list(obj.get("cc")),
        *_as_list(activity.get("to")),
        *_as_list(activity.get("cc")),
    ]
    if not audience:
        return False  # nothing says it is private: keep it
    for a in audience:
        a = _uri(a) or ""
        if a in _PUBLIC or a.endswith("/followers"):
            return False
    return True


def _content_links(content: str) -> list[str]:
    """Links in the post's HTML, without mention and hashtag links."""
    links: list[str] = []
    for m in _ANCHOR.finditer(content):
        attrs = m.group(1)
        href = _HREF.search(attrs)
        if not href:
            continue
        cls = _CLASS.search(attrs)
        classes = (cls.group(1) or cls.group(2) or "").split() if cls else []
        rel = _REL.search(attrs)
        rels = (rel.group(1) or rel.group(2) or "").split() if rel else []
        if "mention" in classes or "hashtag" in classes or "tag" in rels:
            continue
        url = html.unescape(href.group(1) or href.group(2) or "").strip()
        if url.startswith(("http://", "https://")) and url not in links:
            links.append(url)
    return links


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("no published time")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def activity_to_post(
    activity: Mapping[str, Any], account: str, actor_id: str, source: str
) -> Post | None:
    """One outbox activity as a ``Post``; None for what is not the user's public post or boost
    (direct messages, other activity types)."""
    kind = activity.get("type")
    if kind == "Announce":
        target = _uri(activity.get("object"))
        activity_id = _uri(activity)
        if not target or not activity_id:
            raise ValueError("Announce without id or object")
        return Post(
            platform=PLATFORM,
            account=account,
            post_id=status_id(activity_id),
            created_at=_time(activity.get("published")),
            text="",
            kind="repost",
            reposted_post=target,
            raw=activity,
            source=source,
        )
    if kind != "Create":
        return None
    obj = activity.get("object")
    if not isinstance(obj, Mapping) or obj.get("type") not in _POST_TYPES:
        return None
    if _is_direct(activity, obj):
        return None
    obj_id = _uri(obj)
    if not obj_id:
        raise ValueError("Note without id")
    content_map = obj.get("contentMap") if isinstance(obj.get("contentMap"), Mapping) else {}
    content = obj.get("content")
    if not isinstance(content, str):
        content = next(iter(content_map.values()), "") if content_map else ""
    lang = next(iter(content_map), None) if content_map else None

    mentions: list[str] = []
    mention_hrefs: list[tuple[str, str]] = []
    urls = _content_links(content)
    for tag in _as_list(obj.get("tag")):
        if not isinstance(tag, Mapping):
            continue
        if tag.get("type") == "Mention":
            name = str(tag.get("name") or "").strip().lstrip("@")
            if name:
                mentions.append(name)
                href = _uri(tag)
                if href:
                    mention_hrefs.append((href.rstrip("/") + "/", name))
        elif tag.get("type") == "Link":
            href = _uri(tag)
            if href and href not in urls:
                urls.append(href)

    in_reply_to = _uri(obj.get("inReplyTo"))
    reply_to_post = reply_to_user = None
    if in_reply_to:
        own_host = urlsplit(actor_id).hostname
        if urlsplit(in_reply_to).hostname == own_host:
            reply_to_post = status_id(in_reply_to)  # a local status: the API's in_reply_to_id
        else:
            reply_to_post = in_reply_to  # a remote post: known here only by its URI
        if in_reply_to.startswith(actor_id.rstrip("/") + "/"):
            reply_to_user = account
        else:
            reply_to_user = next((n for h, n in mention_hrefs if in_reply_to.startswith(h)), None)

    quoted = None
    for key in ("quote", "quoteUri", "quoteUrl", "_misskey_quote"):
        quoted = _uri(obj.get(key))
        if quoted:
            break
    post_kind = "reply" if in_reply_to else "quote" if quoted else "post"
    url = obj.get("url")
    return Post(
        platform=PLATFORM,
        account=account,
        post_id=status_id(obj_id),
        created_at=_time(obj.get("published") or activity.get("published")),
        text=html_to_text(content),
        kind=post_kind,
        url=url if isinstance(url, str) else _uri(url) if isinstance(url, Mapping) else None,
        reply_to_post=reply_to_post,
        reply_to_user=reply_to_user,
        quoted_post=quoted,
        urls=urls,
        mentions=mentions,
        lang=lang,
        raw=activity,
        source=source,
    )


class MastodonArchiveImporter(Importer):
    """Reads a Mastodon archive (zip, tar.gz or folder)."""

    kind: ClassVar[str] = "mastodon-archive"
    platform: ClassVar[str] = PLATFORM

    def __init__(self, path: Path) -> None:
        super().__init__(Path(path))
        self._actor: tuple[str, str] | None = None  # (account, actor id)

    @classmethod
    def detect(cls, path: Path) -> bool:
        path = Path(path)
        ctype = container_type(path)
        if ctype is None:
            return False
        with ExportFiles(path, scan_limit=None if ctype != "tar" else 2000) as files:
            return any(_OUTBOX.match(n) for n in files.names)

    def _layout(self, files: ExportFiles) -> tuple[str, str]:
        outboxes = sorted(n for n in files.names if _OUTBOX.match(n))
        if not outboxes:
            raise ImportFormatError(f"{self.path}: no outbox.json in it")
        folder = _OUTBOX.match(outboxes[0]).group("dir")  # type: ignore[union-attr]
        return outboxes[0], f"{folder}actor.json"

    def _read_actor(self, files: ExportFiles) -> tuple[str, str]:
        if self._actor is None:
            _outbox, actor_file = self._layout(files)
            if actor_file not in files:
                raise ImportFormatError(
                    f"{self.path}: no {actor_file}, so the archive's owner is unknown; "
                    "give the whole archive as downloaded"
                )
            actor = files.load_json(actor_file)
            try:
                account = account_from_actor(actor)
                actor_id = str(actor["id"])
            except (KeyError, ValueError, TypeError, AttributeError):
                raise ImportFormatError(
                    f"{self.path}: {actor_file} has no preferredUsername and id"
                ) from None
            self._actor = (account, actor_id)
        return self._actor

    def account(self) -> str:
        if self._actor is not None:
            return self._actor[0]
        with ExportFiles(self.path) as files:
            return self._read_actor(files)[0]

    def fingerprint(self) -> str:
        with ExportFiles(self.path) as files:
            outbox, actor_file = self._layout(files)
            return "\n".join(f"{n}={files.stamp(n)}" for n in (actor_file, outbox) if n in files)

    def iter_items(self) -> Iterator[Post | Mention]:
        with ExportFiles(self.path) as files:
            account, actor_id = self._read_actor(files)
            outbox, _actor_file = self._layout(files)
            files.check_ends_with(outbox, b"}")
            source = f"archive:{outbox}"
            with files.open_text(outbox) as fh:
                js = JSONStream(fh, f"{self.path}: {outbox}")
                seen_items = False
                for key in js.iter_object():
                    if key != "orderedItems":
                        js.value()
                        continue
                    seen_items = True
                    for n, activity in enumerate(js.iter_array(), 1):
                        if not isinstance(activity, dict):
                            raise js.error(f"item {n} is not an activity object")
                        try:
                            post = activity_to_post(activity, account, actor_id, source)
                        except (KeyError, ValueError, TypeError, AttributeError) as exc:
                            raise js.error(f"item {n} is not a valid activity ({exc})") from None
                        if post is not None:
                            yield post
                if not js.at_end():
                    raise js.error("unexpected text after the outbox object")
                if not seen_items:
                    raise ImportFormatError(f"{self.path}: {outbox} has no orderedItems")
