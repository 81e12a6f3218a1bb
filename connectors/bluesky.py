"""Bluesky (AT Protocol): the API connector and the one record -> ``Post`` conversion that the API
connector and the repository CAR importer (``connectors.bluesky_car``) share.

The user's own posts and reposts are records in their repository. ``com.atproto.repo.listRecords``
lists every record of a collection (``app.bsky.feed.post``, ``app.bsky.feed.repost``), newest
first by record key (a TID, which sorts by time), so it is complete where the AppView's
``getAuthorFeed`` is not. Mentions, replies and quotes by others come from
``app.bsky.notification.listNotifications``, which the PDS proxies to an AppView.

Ids are AT-URIs (``at://<did>/<collection>/<rkey>``), the same ids the CAR importer produces, so a
fetch after an import adds nothing twice.

Login: a handle and an app password give a session (``create_session``); only the session string
is stored, in the credentials file, and later runs reuse it (the SDK refreshes it, and the
refreshed session goes back to the credentials file through ``updated_secrets``).

The ``atproto`` SDK takes about two seconds to import, so it is imported only inside the functions
that talk to a server: importing this module (entry-point discovery, the CAR importer) stays cheap.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import libipld

from connectors.base import AccountInfo, Connector, FetchSettings, Mention, Page, Post, utc
from connectors.ratelimit import (
    AuthFailed,
    Failure,
    Fatal,
    HeaderBudget,
    RateLimited,
    RetryPolicy,
    Transient,
)
from engage.errors import AuthError, ConnectorError, RateLimitError, UsageError

if TYPE_CHECKING:
    from atproto_client import Client

log = logging.getLogger(__name__)

PLATFORM = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
REPOST_COLLECTION = "app.bsky.feed.repost"
PROFILE_COLLECTION = "app.bsky.actor.profile"
OWN_COLLECTIONS: tuple[str, ...] = (POST_COLLECTION, REPOST_COLLECTION)
MENTION_REASONS: tuple[str, ...] = ("mention", "reply", "quote")
DEFAULT_SERVICE = "https://bsky.social"
PAGE_LIMIT = 100
TIMEOUT = 30.0  # seconds per request, as for the other platforms (httpx's own default is 5)

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_AUTH_ERRORS = frozenset(
    {"ExpiredToken", "InvalidToken", "AuthRequired", "AccountTakedown", "AuthenticationRequired"}
)


# -------------------------------------------------------------------------------------------------
# Pure helpers: AT-URIs, TIDs, JSON form of DAG-CBOR values
# -------------------------------------------------------------------------------------------------


def at_uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def split_at_uri(uri: str) -> tuple[str, str, str]:
    """``(authority, collection, rkey)`` of ``at://authority/collection/rkey``."""
    if not uri.startswith("at://"):
        raise ValueError(f"not an AT-URI: {uri!r}")
    parts = uri[5:].split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a record AT-URI: {uri!r}")
    return parts[0], parts[1], parts[2]


def tid_time(rkey: str) -> datetime | None:
    """The time in a TID record key (13 base32-sortable characters: microseconds since 1970 in
    the top 53 bits), or None when the key is not a TID."""
    if len(rkey) != 13 or any(c not in _TID_ALPHABET for c in rkey):
        return None
    n = 0
    for c in rkey:
        n = n * 32 + _TID_ALPHABET.index(c)
    micros = n >> 10
    try:
        return datetime.fromtimestamp(micros / 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    """An AT Protocol datetime (``2024-05-25T00:57:58.408Z``) as aware UTC, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def json_form(value: Any) -> Any:
    """A decoded DAG-CBOR value in the AT Protocol's JSON form, the form the API returns:
    CID links become ``{"$link": "bafy..."}`` and byte strings ``{"$bytes": "<base64>"}``.

    libipld hands both CIDs and byte strings over as ``bytes``; a value that parses as a CIDv1
    is taken to be a link (records hold byte strings almost never, links in every blob)."""
    if isinstance(value, dict):
        return {str(k): json_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_form(v) for v in value]
    if isinstance(value, bytes):
        cid = cid_text(value)
        if cid is not None:
            return {"$link": cid}
        return {"$bytes": base64.b64encode(value).decode("ascii").rstrip("=")}
    return value


def cid_text(value: bytes) -> str | None:
    """The text form of a binary CIDv1, or None when ``value`` is not one."""
    if len(value) < 4 or value[0] != 1:
        return None
    try:
        return str(libipld.encode_cid(value))
    except ValueError:
        return None


# -------------------------------------------------------------------------------------------------
# Handles engage has seen for DIDs (not secret): a repository export names only its DID
# -------------------------------------------------------------------------------------------------

IDENTITIES_FILE = "bluesky-identities.json"


def _identities_path() -> Path:
    from engage import paths

    return paths.home_dir() / IDENTITIES_FILE


def _load_identities() -> dict[str, str]:
    try:
        data = json.loads(_identities_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def known_handle(did: str) -> str | None:
    """The handle of a configured account with this DID (see ``remember_identity``), or None."""
    return _load_identities().get(did)


def remember_identity(did: str, handle: str) -> None:
    """Record that ``did`` is ``handle`` (when an account is added or fetched), so that importing
    that account's repository export later gives its posts the same handle and URLs."""
    data = _load_identities()
    if data.get(did) == handle:
        return
    data[did] = handle
    path = _identities_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".identities-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot record the handle of %s in %s: %s", did, path, exc)


# -------------------------------------------------------------------------------------------------
# Normalising: one record -> Post, one notification -> Mention (pure functions)
# -------------------------------------------------------------------------------------------------


def _mention_handle(text_bytes: bytes, facet: Mapping[str, Any]) -> str | None:
    """The handle written in the text a mention facet covers ("@alice.bsky.social")."""
    index = facet.get("index")
    if not isinstance(index, Mapping):
        return None
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        return None
    try:
        written = text_bytes[start:end].decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if not written.startswith("@") or len(written) < 4:
        return None
    handle = written[1:].rstrip(".,:;!?)").lower()
    return handle if "." in handle and " " not in handle else None


def _embedded_post_uri(embed: Mapping[str, Any]) -> str | None:
    """The post a record embed quotes (``app.bsky.embed.record`` or ``recordWithMedia``)."""
    kind = embed.get("$type")
    ref: Any = None
    if kind == "app.bsky.embed.record":
        ref = embed.get("record")
    elif kind == "app.bsky.embed.recordWithMedia":
        inner = embed.get("record")
        ref = inner.get("record") if isinstance(inner, Mapping) else None
    if not isinstance(ref, Mapping):
        return None
    uri = ref.get("uri")
    if not isinstance(uri, str):
        return None
    try:
        _, collection, _ = split_at_uri(uri)
    except ValueError:
        return None
    # a record embed of a feed, list or starter pack shares it; only a post is quoted
    return uri if collection == POST_COLLECTION else None


def _external_uris(embed: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    kind = embed.get("$type")
    if kind == "app.bsky.embed.external":
        ext = embed.get("external")
        if isinstance(ext, Mapping) and isinstance(ext.get("uri"), str):
            found.append(ext["uri"])
    elif kind == "app.bsky.embed.recordWithMedia":
        media = embed.get("media")
        if isinstance(media, Mapping):
            found.extend(_external_uris(media))
    return found


def _did_of(uri: Any) -> str | None:
    if not isinstance(uri, str):
        return None
    try:
        return split_at_uri(uri)[0]
    except ValueError:
        return None


def post_url(handle: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{handle}/post/{rkey}"


def record_to_post(
    record: Mapping[str, Any],
    *,
    did: str,
    handle: str,
    collection: str,
    rkey: str,
    source: str,
    known_handles: Mapping[str, str] | None = None,
) -> Post | None:
    """One repository record of the user as a ``Post`` (``record`` in JSON form: see
    ``json_form``); None for a record that is neither a post nor a repost.

    ``known_handles`` maps DIDs to handles the caller knows; the user's own DID is always known.
    A mention facet names a DID; its handle is the "@handle" the facet's text covers, else a known
    handle, else the DID itself. The same goes for the author of the post a reply answers.
    """
    if collection not in OWN_COLLECTIONS:
        return None
    record_type = record.get("$type")
    if record_type is not None and record_type != collection:
        return None
    created = parse_time(record.get("createdAt")) or tid_time(rkey)
    if created is None:
        raise ValueError(f"record {collection}/{rkey} has no valid createdAt")
    handles: dict[str, str] = dict(known_handles or {})
    handles[did] = handle
    uri = at_uri(did, collection, rkey)
    raw = dict(record)
    if collection == REPOST_COLLECTION:
        subject = record.get("subject")
        target = subject.get("uri") if isinstance(subject, Mapping) else None
        if not isinstance(target, str):
            raise ValueError(f"repost {rkey} has no subject uri")
        return Post(
            platform=PLATFORM,
            account=handle,
            post_id=uri,
            created_at=created,
            text="",
            kind="repost",
            reposted_post=target,
            raw=raw,
            source=source,
        )

    text = record.get("text") if isinstance(record.get("text"), str) else ""
    assert isinstance(text, str)
    text_bytes = text.encode("utf-8")
    urls: list[str] = []
    mentions: list[str] = []
    facets = record.get("facets")
    for facet in facets if isinstance(facets, list) else []:
        if not isinstance(facet, Mapping):
            continue
        features = facet.get("features")
        for feature in features if isinstance(features, list) else []:
            if not isinstance(feature, Mapping):
                continue
            ftype = feature.get("$type")
            if ftype == "app.bsky.richtext.facet#link" and isinstance(feature.get("uri"), str):
                if feature["uri"] not in urls:
                    urls.append(feature["uri"])
            elif ftype == "app.bsky.richtext.facet#mention" and isinstance(feature.get("did"), str):
                mention_did = feature["did"]
                name = _mention_handle(text_bytes, facet) or handles.get(mention_did)
                if name is not None:
                    handles.setdefault(mention_did, name)
                name = name or mention_did
                if name not in mentions:
                    mentions.append(name)

    embed = record.get("embed")
    quoted = None
    if isinstance(embed, Mapping):
        quoted = _embedded_post_uri(embed)
        for u in _external_uris(embed):
            if u not in urls:
                urls.append(u)

    reply_to_post = thread_root = reply_to_user = None
    reply = record.get("reply")
    if isinstance(reply, Mapping):
        parent, root = reply.get("parent"), reply.get("root")
        if isinstance(parent, Mapping) and isinstance(parent.get("uri"), str):
            reply_to_post = parent["uri"]
        if isinstance(root, Mapping) and isinstance(root.get("uri"), str):
            thread_root = root["uri"]
        parent_did = _did_of(reply_to_post)
        if parent_did is not None:
            reply_to_user = handles.get(parent_did, parent_did)

    kind = "reply" if reply_to_post else "quote" if quoted else "post"
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    return Post(
        platform=PLATFORM,
        account=handle,
        post_id=uri,
        created_at=created,
        text=text,
        kind=kind,
        url=post_url(handle, rkey),
        reply_to_post=reply_to_post,
        reply_to_user=reply_to_user,
        quoted_post=quoted,
        thread_root=thread_root,
        urls=urls,
        mentions=mentions,
        client=None,  # Bluesky records no posting app
        lang=lang,
        raw=raw,
        source=source,
    )


def notification_to_mention(notification: Mapping[str, Any], account: str) -> Mention | None:
    """One ``listNotifications`` item (reason mention, reply or quote) as a ``Mention``."""
    reason = notification.get("reason")
    if reason not in MENTION_REASONS:
        return None
    uri = notification.get("uri")
    record = notification.get("record")
    if not isinstance(uri, str) or not isinstance(record, Mapping):
        return None
    author = notification.get("author")
    author = author if isinstance(author, Mapping) else {}
    author_did = author.get("did") or _did_of(uri) or ""
    author_handle = author.get("handle") or author_did
    created = parse_time(record.get("createdAt")) or parse_time(notification.get("indexedAt"))
    if created is None:
        return None
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, Mapping) else None
    root = reply.get("root") if isinstance(reply, Mapping) else None
    try:
        rkey = split_at_uri(uri)[2]
        url = post_url(str(author_handle), rkey)
    except ValueError:
        url = None
    text = record.get("text")
    return Mention(
        platform=PLATFORM,
        account=account,
        mention_id=uri,
        author=str(author_handle),
        created_at=created,
        text=text if isinstance(text, str) else "",
        kind=str(reason),
        url=url,
        reply_to_post=parent.get("uri") if isinstance(parent, Mapping) else None,
        thread_root=root.get("uri") if isinstance(root, Mapping) else None,
        raw=dict(notification),
        source="api",
    )


# -------------------------------------------------------------------------------------------------
# The SDK: errors, client, login
# -------------------------------------------------------------------------------------------------


def _xrpc_error(exc: BaseException) -> tuple[int | None, str, str]:
    """``(status, error name, message)`` of an SDK request error (no secrets are in these)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None, type(exc).__name__, ""
    content = getattr(response, "content", None)
    name = getattr(content, "error", None) or ""
    message = getattr(content, "message", None) or ""
    return getattr(response, "status_code", None), str(name), str(message)


class BrokenAnswer(Exception):
    """The server's answer was cut off or is not JSON (the SDK raises a bare ValueError)."""


def classify_error(exc: BaseException) -> Failure | None:
    """An ``atproto`` exception as a ``ratelimit`` failure (None: not a platform failure)."""
    import httpx
    from atproto_client import exceptions as ax

    if isinstance(exc, BrokenAnswer):
        return Transient("the server's answer was cut off or is not JSON")
    if isinstance(exc, httpx.TransportError):  # what the SDK passes on unwrapped
        return Transient(f"connection failed ({type(exc).__name__})")
    if isinstance(exc, ax.RateLimitExceededError):
        reset = exc.reset_at
        if reset is not None:
            return RateLimited(reset.timestamp())
        retry = exc.retry_after
        return RateLimited(None if retry is None else datetime.now(UTC).timestamp() + retry)
    if isinstance(exc, ax.LoginRequiredError):
        return AuthFailed("no session")
    if isinstance(exc, ax.NetworkError):
        status, name, message = _xrpc_error(exc)
        if status is None:
            return Transient("cannot reach the server")
        return Transient(f"HTTP {status} {name or message}".strip())
    if isinstance(exc, ax.RequestErrorBase):
        status, name, message = _xrpc_error(exc)
        detail = f"HTTP {status} {name}{': ' + message if message else ''}".strip()
        if isinstance(exc, ax.UnauthorizedError) or name in _AUTH_ERRORS:
            return AuthFailed(detail)
        if status is not None and status >= 500:
            return Transient(detail)
        return Fatal(detail)
    return None


def _budget_hook(budget: HeaderBudget) -> Callable[[Any], None]:
    """An httpx response hook feeding Bluesky's ``ratelimit-*`` headers to a ``HeaderBudget``."""

    def hook(response: Any) -> None:
        h = response.headers
        seen = {
            "X-RateLimit-Remaining": h.get("ratelimit-remaining"),
            "X-RateLimit-Reset": h.get("ratelimit-reset"),
            "Date": h.get("date"),
        }
        budget.observe({k: v for k, v in seen.items() if v is not None})

    return hook


def make_client(service: str | None, budget: HeaderBudget | None = None) -> Client:
    from atproto_client import Client
    from atproto_client.request import Request

    hooks = {"response": [_budget_hook(budget)]} if budget is not None else {}
    return Client(
        base_url=service or DEFAULT_SERVICE,
        request=Request(event_hooks=hooks, timeout=TIMEOUT),
    )


def _normal_service(service: str | None) -> str:
    service = (service or DEFAULT_SERVICE).strip().rstrip("/")
    if service.endswith("/xrpc"):
        service = service[: -len("/xrpc")]
    if not service.startswith(("http://", "https://")):
        raise UsageError(
            f"--service must be an http(s) URL like {DEFAULT_SERVICE}, not {service!r}"
        )
    return service


def create_session(service: str, handle: str, app_password: str) -> dict[str, str]:
    """Log in once with a handle and an app password; returns ``did``, ``handle``, ``service``
    (the user's PDS) and ``session_string`` (to store in the credentials file; the app password
    itself is never stored). A main account password is refused: it would give engage full
    control of the account."""
    from atproto_client import exceptions as ax

    service = _normal_service(service)
    handle = handle.strip().lstrip("@")
    if not handle:
        raise UsageError("give your Bluesky handle, e.g. --handle alice.bsky.social")
    if not app_password:
        raise UsageError(
            "an app password is needed (Bluesky: Settings > Privacy and security > App passwords)"
        )
    import httpx

    client = make_client(service)
    try:
        client.login(handle, app_password, fetch_bsky_profile=False)
    except (ax.AtProtocolError, httpx.TransportError) as exc:
        failure = classify_error(exc)
        if isinstance(failure, AuthFailed):
            raise AuthError(
                f"Bluesky at {service} refused the handle {handle!r} or the app password "
                f"({failure.detail}); check both, or create a new app password"
            ) from None
        if isinstance(failure, RateLimited):
            raise RateLimitError(
                f"Bluesky at {service}: too many logins (30 per 5 minutes, 300 per day); "
                "try again later"
            ) from None
        detail = failure.detail if isinstance(failure, Transient | Fatal) else type(exc).__name__
        raise ConnectorError(f"Bluesky at {service}: login failed ({detail})") from None
    finally:
        client.request.close()
    session = client._session
    assert session is not None
    scope = str(getattr(session.access_jwt_payload, "scope", "") or "")
    if scope == "com.atproto.access":
        raise UsageError(
            "that is your account password; engage needs an app password (Bluesky: Settings > "
            "Privacy and security > App passwords), which you can revoke at any time"
        )
    remember_identity(session.did, session.handle)
    return {
        "did": session.did,
        "handle": session.handle,
        "service": str(session.pds_endpoint or service).rstrip("/"),
        "session_string": client.export_session_string(),
    }


# -------------------------------------------------------------------------------------------------
# Incremental walking of a newest-first listing
# -------------------------------------------------------------------------------------------------

#: (cursor) -> (items newest first, next cursor or None)
ListFn = Callable[[str | None], tuple[list[dict[str, Any]], str | None]]


def empty_state() -> dict[str, Any]:
    return {"top": None, "window": None, "bottom": None, "floor": None, "complete": False}


def walk_newest_first(
    state: dict[str, Any],
    since: datetime | None,
    *,
    list_page: ListFn,
    key: Callable[[dict[str, Any]], str],
    when: Callable[[dict[str, Any]], datetime | None],
    inclusive_top: bool,
) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Yield ``(items, state)`` page by page for a listing that returns items newest first with an
    opaque server cursor. ``state`` (stored with each page) is::

        {"top": key of the newest item below which everything is stored (None at first),
         "window": {"kind": "new"|"backfill", "above": key|None, "cursor": server cursor|None,
                    "new_top": key|None} | None  (the walk in progress),
         "bottom": server cursor to go on past the oldest item reached,
         "floor": ISO time a --since walk stopped at, "complete": reached the very first item}

    A walk resumes an open window (an interrupted first fetch continues from its last committed
    page, with no gap), then walks from the newest item down to ``top`` and stops there; with a
    ``since`` older than an earlier ``floor`` it then goes on from ``bottom``. ``top`` only moves
    when a window is finished, so items newer than it are never skipped.
    """
    ran_new = False
    while True:
        window = state["window"]
        if window is None:
            if not ran_new:
                ran_new = True
                state["window"] = {
                    "kind": "new",
                    "above": state["top"],
                    "cursor": None,
                    "new_top": None,
                }
                continue
            floor = parse_time(state["floor"])
            if (
                floor is not None
                and not state["complete"]
                and state["bottom"] is not None
                and (since is None or utc(since) < floor)
            ):
                state["window"] = {
                    "kind": "backfill",
                    "above": None,
                    "cursor": state["bottom"],
                    "new_top": None,
                }
                continue
            return
        before = window["cursor"]
        items, next_cursor = list_page(before)
        if before is not None and next_cursor == before:
            # the server sent the same page again: asking on would loop for ever; the pages
            # before are saved with their cursor, so the next fetch resumes from there
            raise ConnectorError(
                "Bluesky: the server sent the same page again instead of the next one; what "
                "was fetched is saved, and the next 'engage fetch' resumes from there"
            )
        kept: list[dict[str, Any]] = []
        hit_top = hit_since = False
        above = window["above"]
        for item in items:
            k = key(item)
            if above is not None and (k <= above if inclusive_top else k < above):
                hit_top = True
                break
            t = when(item)
            if since is not None and t is not None and t < utc(since):
                hit_since = True
                break
            kept.append(item)
        if (
            window["kind"] == "new"
            and window["new_top"] is None
            and items
            and not (hit_top and not kept)
        ):
            window["new_top"] = key(items[0])
        if above is None:
            state["bottom"] = before if hit_since else next_cursor
        done = hit_top or hit_since or not items or not next_cursor
        if done:
            new_top = window["new_top"]
            if (
                window["kind"] == "new"
                and new_top is not None
                and (state["top"] is None or new_top > state["top"])
            ):
                state["top"] = new_top
            if above is None:
                if hit_since and since is not None:
                    floor = parse_time(state["floor"])
                    if floor is None or utc(since) < floor:
                        state["floor"] = utc(since).isoformat()
                else:
                    state["complete"] = True
                    state["floor"] = None
            state["window"] = None
        else:
            window["cursor"] = next_cursor
        yield kept, copy.deepcopy(state)


# -------------------------------------------------------------------------------------------------
# The connector
# -------------------------------------------------------------------------------------------------


def _reveal(value: Any) -> str:
    reveal = getattr(value, "reveal", None)
    return str(reveal() if callable(reveal) else value)


class BlueskyConnector(Connector):
    """Fetches one Bluesky account: its posts and reposts from its repository (``posts``) and
    mentions, replies and quotes from its notifications (``mentions``)."""

    platform: ClassVar[str] = PLATFORM
    streams: ClassVar[tuple[str, ...]] = ("posts", "mentions")

    def __init__(
        self,
        client: Client,
        account: AccountInfo,
        settings: FetchSettings | None = None,
        *,
        did: str | None = None,
        budget: HeaderBudget | None = None,
    ) -> None:
        from atproto_client import SessionEvent

        settings = settings or FetchSettings()
        self.client = client
        self.account = account
        self.settings = settings
        self.budget = budget
        self.policy = RetryPolicy.from_settings(settings)
        session = client._session
        self.did = did or account.user_id or (session.did if session is not None else None)
        if not self.did:
            raise AuthError(
                f"{account.name}: no Bluesky DID known; add the account again with "
                f"'engage account add bluesky --handle {account.handle}'"
            )
        self.handle = account.handle
        self._fresh_session: str | None = None

        def remember(event: Any, session: Any) -> None:
            if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
                self._fresh_session = session.encode()
                if settings.on_secrets is not None:
                    # saved now: the server has already spent the old refresh token
                    settings.on_secrets({"session_string": self._fresh_session})

        client.on_session_change(remember)

    @classmethod
    def from_account(
        cls, account: AccountInfo, secrets: Mapping[str, Any], settings: FetchSettings
    ) -> BlueskyConnector:
        session_string = secrets.get("session_string")
        if not session_string:
            raise AuthError(
                f"{account.name}: no Bluesky session stored; add the account again with "
                f"'engage account add bluesky --handle {account.handle} --name {account.name}'"
            )
        budget = HeaderBudget(clock=settings.clock)
        client = make_client(account.base_url, budget)
        # Importing the session makes no request; the SDK refreshes it when it is near expiry.
        client.login(session_string=_reveal(session_string), fetch_bsky_profile=False)
        connector = cls(client, account, settings, budget=budget)
        assert connector.did is not None
        remember_identity(connector.did, account.handle)
        return connector

    def updated_secrets(self) -> dict[str, Any] | None:
        if self._fresh_session is None:
            return None
        return {"session_string": self._fresh_session}

    def _call(self, what: str, nsid: str, params: Any) -> dict[str, Any]:
        def invoke() -> dict[str, Any]:
            try:
                response = self.client.invoke_query(nsid, params=params)
            except ValueError as exc:
                # pydantic_core.from_json raises a bare ValueError for a truncated or malformed
                # body; its subclasses (validation errors) are bugs and pass on unchanged
                if type(exc) is not ValueError and not isinstance(exc, json.JSONDecodeError):
                    raise
                raise BrokenAnswer(type(exc).__name__) from None
            content = response.content
            if not isinstance(content, dict):
                raise ConnectorError(
                    f"Bluesky {self.account.name}: {what}: the server did not answer with JSON"
                )
            return content

        return self.policy.call(
            invoke,
            classify=classify_error,
            what=f"Bluesky {self.account.name}: {what}",
            budget=self.budget,
        )

    def fetch(
        self, stream: str, cursor: dict[str, Any] | None, since: datetime | None = None
    ) -> Iterator[Page]:
        if stream == "posts":
            yield from self._fetch_posts(cursor, since)
        elif stream == "mentions":
            yield from self._fetch_mentions(cursor, since)
        else:
            raise ValueError(f"unknown stream {stream!r}")

    # -- own posts and reposts: listRecords ------------------------------------------------

    def _list_records(self, collection: str) -> ListFn:
        from atproto_client import models

        def list_page(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
            params = models.ComAtprotoRepoListRecords.Params(
                repo=self.did, collection=collection, limit=PAGE_LIMIT, cursor=cursor
            )
            body = self._call(f"list {collection} records", "com.atproto.repo.listRecords", params)
            records = body.get("records")
            if not isinstance(records, list):
                raise ConnectorError(
                    f"Bluesky {self.account.name}: listRecords answered without records"
                )
            next_cursor = body.get("cursor")
            return records, next_cursor if isinstance(next_cursor, str) and next_cursor else None

        return list_page

    def _records_to_posts(self, collection: str, records: Sequence[dict[str, Any]]) -> list[Post]:
        assert self.did is not None
        posts: list[Post] = []
        for item in records:
            uri, value = item.get("uri"), item.get("value")
            if not isinstance(uri, str) or not isinstance(value, Mapping):
                continue
            try:
                _, coll, rkey = split_at_uri(uri)
                post = record_to_post(
                    value,
                    did=self.did,
                    handle=self.handle,
                    collection=coll,
                    rkey=rkey,
                    source="api",
                )
            except ValueError as exc:
                log.warning("Bluesky %s: skipped record %s: %s", self.account.name, uri, exc)
                continue
            if post is not None:
                posts.append(post)
        return posts

    def _fetch_posts(self, cursor: dict[str, Any] | None, since: datetime | None) -> Iterator[Page]:
        state = copy.deepcopy(cursor) if cursor else {}
        collections = state.setdefault("collections", {})
        for collection in OWN_COLLECTIONS:
            cstate = {**empty_state(), **collections.get(collection, {})}
            collections[collection] = cstate
            pages = walk_newest_first(
                cstate,
                since,
                list_page=self._list_records(collection),
                key=_record_key,
                when=_record_time,
                inclusive_top=True,
            )
            for items, new_state in pages:
                collections[collection] = new_state
                yield Page(
                    stream="posts",
                    posts=self._records_to_posts(collection, items),
                    cursor=copy.deepcopy(state),
                    reads=len(items),
                )

    # -- mentions, replies, quotes: listNotifications --------------------------------------

    def _fetch_mentions(
        self, cursor: dict[str, Any] | None, since: datetime | None
    ) -> Iterator[Page]:
        from atproto_client import models

        state = {**empty_state(), **copy.deepcopy(cursor or {})}

        def list_page(c: str | None) -> tuple[list[dict[str, Any]], str | None]:
            params = models.AppBskyNotificationListNotifications.Params(
                limit=PAGE_LIMIT, cursor=c, reasons=list(MENTION_REASONS)
            )
            body = self._call(
                "list notifications", "app.bsky.notification.listNotifications", params
            )
            items = body.get("notifications")
            if not isinstance(items, list):
                raise ConnectorError(
                    f"Bluesky {self.account.name}: listNotifications answered without notifications"
                )
            next_cursor = body.get("cursor")
            return items, next_cursor if isinstance(next_cursor, str) and next_cursor else None

        pages = walk_newest_first(
            state,
            since,
            list_page=list_page,
            key=_notification_key,
            when=lambda n: parse_time(n.get("indexedAt")),
            inclusive_top=False,
        )
        try:
            for items, new_state in pages:
                mentions = [
                    m
                    for m in (notification_to_mention(n, self.handle) for n in items)
                    if m is not None
                ]
                yield Page(stream="mentions", mentions=mentions, cursor=new_state, reads=len(items))
        except ConnectorError as exc:
            if not _no_appview(exc):
                raise
            note = (
                f"Bluesky {self.account.name}: mentions not fetched: the server "
                f"{self.account.base_url or ''} has no AppView for notifications "
                "(app.bsky.notification.listNotifications); your posts were fetched"
            )
            log.info("%s", note)  # shown once as the page note
            yield Page(stream="mentions", cursor=None, note=" ".join(note.split()))


def _no_appview(exc: ConnectorError) -> bool:
    """A PDS without an AppView answers app.bsky queries with 400 "No service configured" (or 501
    / MethodNotImplemented, or 502 when the AppView it points at is down)."""
    text = exc.message
    return (
        "No service configured" in text
        or "MethodNotImplemented" in text
        or "HTTP 501" in text
        or "HTTP 404" in text
    )


def _record_key(item: Mapping[str, Any]) -> str:
    return split_at_uri(str(item.get("uri")))[2]


def _record_time(item: Mapping[str, Any]) -> datetime | None:
    value = item.get("value")
    if isinstance(value, Mapping):
        t = parse_time(value.get("createdAt"))
        if t is not None:
            return t
    try:
        return tid_time(_record_key(item))
    except ValueError:
        return None


def _notification_key(item: Mapping[str, Any]) -> str:
    t = parse_time(item.get("indexedAt"))
    return t.isoformat() if t is not None else ""
