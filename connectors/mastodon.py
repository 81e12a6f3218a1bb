"""Mastodon: the user's own statuses and the posts that mention them, through Mastodon.py.

- Own posts: ``GET /api/v1/accounts/:id/statuses`` (originals, replies, quotes and boosts), 40 a
  page, newest first, walked with ``since_id``/``max_id`` by ``connectors.paging``. The posting
  app comes from each status's ``application`` (the user's own server shows it to them).
- Mentions: ``GET /api/v1/notifications`` with ``types[]=mention`` and ``types[]=quote``.
- Rate limits: Mastodon.py is told to throw on 429 (``ratelimit_method="throw"``) so that waiting
  and retrying happen in ``connectors.ratelimit``, which also reads ``X-RateLimit-*`` headers.

Account setup (used by ``engage account add mastodon``): ``register_app`` registers engage on the
instance, ``authorization_url`` is the page where the user allows it and gets a code,
``exchange_code`` turns the code into an access token, ``verify_token`` says whose token it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from connectors.base import AccountInfo, Connector, FetchSettings, Mention, Page, Post
from connectors.paging import RawPage, walk
from connectors.ratelimit import (
    AuthFailed,
    Failure,
    Fatal,
    HeaderBudget,
    RateLimited,
    RetryPolicy,
    Transient,
)
from connectors.text import html_to_text, normalise_app_name
from engage.errors import AuthError, ConnectorError, UsageError

APP_NAME = "engage"
APP_WEBSITE = "https://github.com/engage-tool/engage"
SCOPES = ["read"]
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
PAGE_SIZE = 40  # the most Mastodon returns per page
TIMEOUT = 30.0
MENTION_TYPES = ["mention", "quote"]


# -- normalising (pure) ---------------------------------------------------------------------------


def to_plain(value: Any) -> Any:
    """Mastodon.py entities back to plain JSON values (ids as text, times as ISO strings)."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return str(value)
    return value


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


_HREF = re.compile(r"<a\s[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'(\w[\w-]*)\s*=\s*"([^"]*)"')


def _links(content: str | None) -> list[str]:
    """Links in status HTML that are not mentions or hashtags."""
    found: list[str] = []
    for tag in _HREF.findall(content or ""):
        attrs = dict(_ATTR.findall(tag))
        classes = attrs.get("class", "").split()
        if "mention" in classes or "hashtag" in classes:
            continue
        href = attrs.get("href", "")
        if href.startswith(("http://", "https://")) and href not in found:
            found.append(href)
    return found


def _quoted_id(status: Mapping[str, Any]) -> tuple[bool, str | None]:
    """(is it a quote, the quoted status id). Mastodon 4.4+ sends ``quote`` as
    ``{"state", "quoted_status"}`` (or, nested, ``{"state", "quoted_status_id"}``); some forks
    send the quoted status itself."""
    quote = status.get("quote")
    if not isinstance(quote, Mapping):
        return False, None
    if "quoted_status" in quote:
        inner = quote.get("quoted_status")
        return True, _id(inner.get("id")) if isinstance(inner, Mapping) else None
    if "quoted_status_id" in quote:
        return True, _id(quote.get("quoted_status_id"))
    return True, _id(quote.get("id"))


def _acct_of(status: Mapping[str, Any], account_id: Any) -> str | None:
    if account_id is None:
        return None
    for m in status.get("mentions") or []:
        if str(m.get("id")) == str(account_id):
            return str(m.get("acct"))
    author = status.get("account") or {}
    if str(author.get("id")) == str(account_id):
        return str(author.get("acct"))
    return str(account_id)


def normalise_status(status: Mapping[str, Any], account: str) -> Post:
    """A status from the user's own timeline (Mastodon JSON or a Mastodon.py entity) as a Post.

    ``account`` is the user's handle (``name@instance``)."""
    raw = to_plain(status)
    boosted = raw.get("reblog")
    if isinstance(boosted, Mapping):
        return Post(
            platform="mastodon",
            account=account,
            post_id=str(raw["id"]),
            created_at=_time(raw["created_at"]),
            text=html_to_text(boosted.get("content")),
            kind="repost",
            url=boosted.get("url") or boosted.get("uri"),
            reposted_post=_id(boosted.get("id")),
            reply_to_user=(boosted.get("account") or {}).get("acct"),
            urls=_links(boosted.get("content")) + _card_url(boosted, []),
            mentions=[str(m.get("acct")) for m in boosted.get("mentions") or []],
            client=None,  # a boost is not written with an app
            lang=boosted.get("language"),
            raw=raw,
            source="api",
        )
    is_quote, quoted = _quoted_id(raw)
    reply_to = _id(raw.get("in_reply_to_id"))
    kind = "reply" if reply_to else "quote" if is_quote else "post"
    links = _links(raw.get("content"))
    app = raw.get("application") or {}
    return Post(
        platform="mastodon",
        account=account,
        post_id=str(raw["id"]),
        created_at=_time(raw["created_at"]),
        text=html_to_text(raw.get("content")),
        kind=kind,
        url=raw.get("url") or raw.get("uri"),
        reply_to_post=reply_to,
        reply_to_user=_acct_of(raw, raw.get("in_reply_to_account_id")) if reply_to else None,
        quoted_post=quoted,
        urls=links + _card_url(raw, links),
        mentions=[str(m.get("acct")) for m in raw.get("mentions") or []],
        client=normalise_app_name(app.get("name") if isinstance(app, Mapping) else None),
        lang=raw.get("language"),
        raw=raw,
        source="api",
    )


def _card_url(status: Mapping[str, Any], known: list[str]) -> list[str]:
    card = status.get("card")
    if isinstance(card, Mapping) and card.get("url") and card["url"] not in known:
        return [str(card["url"])]
    return []


def normalise_notification(
    notification: Mapping[str, Any], account: str, user_id: str | None
) -> Mention | None:
    """A mention or quote notification as a Mention (None for one without a status).

    A status that replies to one of the user's posts is kind ``reply`` with ``reply_to_post`` set;
    a quote notification is kind ``quote`` with ``reply_to_post`` the quoted post."""
    raw = to_plain(notification)
    status = raw.get("status")
    if not isinstance(status, Mapping):
        return None
    ntype = raw.get("type")
    kind = "mention"
    reply_to_post = None
    if ntype == "quote":
        kind = "quote"
        reply_to_post = _quoted_id(status)[1]
    elif status.get("in_reply_to_id") and (
        user_id is not None and str(status.get("in_reply_to_account_id")) == str(user_id)
    ):
        kind = "reply"
        reply_to_post = _id(status.get("in_reply_to_id"))
    author = status.get("account") or raw.get("account") or {}
    return Mention(
        platform="mastodon",
        account=account,
        mention_id=str(status["id"]),
        author=str(author.get("acct") or author.get("username") or "unknown"),
        created_at=_time(status["created_at"]),
        text=html_to_text(status.get("content")),
        kind=kind,
        url=status.get("url") or status.get("uri"),
        reply_to_post=reply_to_post,
        thread_root=None,
        raw=raw,
        source="api",
    )


# -- errors ---------------------------------------------------------------------------------------


def classify_error(exc: BaseException) -> Failure | None:
    """Mastodon.py exceptions as ``connectors.ratelimit`` failures (no secrets in details)."""
    if isinstance(exc, MastodonRatelimitError):
        return RateLimited(None)  # the reset time is in the budget read from the headers
    if isinstance(exc, MastodonNetworkError):
        return Transient("the instance could not be reached")
    if isinstance(exc, MastodonUnauthorizedError):
        return AuthFailed("HTTP 401")
    if isinstance(exc, MastodonServerError):
        code = exc.args[1] if len(exc.args) > 1 else "5xx"
        return Transient(f"the instance had a server error (HTTP {code})")
    if isinstance(exc, MastodonAPIError) and str(exc.args[0] if exc.args else "").startswith(
        "Could not parse response as JSON"
    ):
        # a body cut off on the way (Mastodon.py puts the parse error where the status goes)
        return Transient("the instance's answer was cut off or is not JSON")
    if isinstance(exc, MastodonAPIError):
        code = exc.args[1] if len(exc.args) > 1 else None
        message = exc.args[3] if len(exc.args) > 3 and exc.args[3] else ""
        if code == 429:
            return RateLimited(None)
        if code == 403:
            return AuthFailed(f"HTTP 403 {message}".strip())
        return Fatal(f"the instance refused the request (HTTP {code} {message})".strip())
    if isinstance(exc, requests.RequestException):
        return Transient("the instance could not be reached")
    if isinstance(exc, MastodonError):
        return Fatal(type(exc).__name__)
    return None


# -- the connector --------------------------------------------------------------------------------


def _reveal(value: Any) -> str:
    reveal = getattr(value, "reveal", None)
    return str(reveal() if callable(reveal) else value)


def make_client(base_url: str, access_token: str | None = None, **kwargs: Any) -> Mastodon:
    """A Mastodon.py client that throws on rate limits (``connectors.ratelimit`` waits)."""
    return Mastodon(
        access_token=access_token,
        api_base_url=base_url,
        ratelimit_method="throw",
        request_timeout=TIMEOUT,
        user_agent=APP_NAME,
        **kwargs,
    )


class MastodonConnector(Connector):
    platform = "mastodon"
    streams = ("posts", "mentions")

    def __init__(
        self,
        api: Mastodon,
        account: AccountInfo,
        settings: FetchSettings | None = None,
        *,
        budget: HeaderBudget | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.api = api
        self.account = account
        self.settings = settings or FetchSettings()
        self.policy = RetryPolicy.from_settings(self.settings)
        self.budget = budget or HeaderBudget(clock=self.settings.clock)
        if budget is None:
            self.budget.install(api.session)
        self.page_size = page_size
        self._user_id = account.user_id

    @classmethod
    def from_account(
        cls, account: AccountInfo, secrets: Mapping[str, Any], settings: FetchSettings
    ) -> MastodonConnector:
        token = secrets.get("access_token")
        if not token or not account.base_url:
            raise AuthError(
                f"{account.name}: no Mastodon access token stored; add the account again with "
                f"'engage account add mastodon --instance URL --name {account.name}'"
            )
        return cls(make_client(account.base_url, _reveal(token)), account, settings)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.policy.call(
            fn,
            *args,
            classify=classify_error,
            what=f"Mastodon {self.account.name}: {what}",
            budget=self.budget,
            **kwargs,
        )

    def user_id(self) -> str:
        if self._user_id is None:
            me = self._call("verify credentials", self.api.account_verify_credentials)
            self._user_id = str(me["id"])
        return self._user_id

    def fetch(
        self, stream: str, cursor: dict[str, Any] | None, since: datetime | None = None
    ) -> Iterator[Page]:
        handle = self.account.handle
        if stream == "posts":
            user_id = self.user_id()

            def fetch_statuses(above: str | None, below: str | None) -> RawPage[Any]:
                items = self._call(
                    "own posts",
                    self.api.account_statuses,
                    user_id,
                    since_id=above,
                    max_id=below,
                    limit=self.page_size,
                )
                return RawPage(items=list(items), more=bool(items), reads=len(items))

            def convert_statuses(items: Sequence[Any]) -> tuple[list[Post], list[Mention]]:
                return [normalise_status(s, handle) for s in items], []

            yield from walk(
                stream,
                cursor,
                since,
                fetch_page=fetch_statuses,
                convert=convert_statuses,
                item_id=lambda s: str(s["id"]),
                item_time=lambda s: _time(s["created_at"]),
            )
        elif stream == "mentions":
            user_id = self.user_id()

            def fetch_notifications(above: str | None, below: str | None) -> RawPage[Any]:
                items = self._call(
                    "mentions",
                    self.api.notifications,
                    types=MENTION_TYPES,
                    since_id=above,
                    max_id=below,
                    limit=self.page_size,
                )
                return RawPage(items=list(items), more=bool(items), reads=len(items))

            def convert_notifications(
                items: Sequence[Any],
            ) -> tuple[list[Post], list[Mention]]:
                found = (normalise_notification(n, handle, user_id) for n in items)
                return [], [m for m in found if m is not None]

            yield from walk(
                stream,
                cursor,
                since,
                fetch_page=fetch_notifications,
                convert=convert_notifications,
                item_id=lambda n: str(n["id"]),
                item_time=lambda n: _time(n["created_at"]),
            )
        else:
            raise ValueError(f"unknown Mastodon stream {stream!r}")


# -- account setup --------------------------------------------------------------------------------


def normalise_instance(url: str) -> str:
    """``mastodon.social`` or ``https://mastodon.social/`` as ``https://mastodon.social``."""
    url = url.strip()
    if not url:
        raise UsageError("--instance is empty; give the server's address, e.g. mastodon.social")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--instance {url!r} is not a server address such as mastodon.social")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _setup_error(instance: str, exc: BaseException) -> ConnectorError:
    if isinstance(exc, MastodonUnauthorizedError):
        return AuthError(f"{instance} refused the access token (HTTP 401); check it and try again")
    if isinstance(exc, MastodonNetworkError | requests.RequestException):
        return ConnectorError(f"cannot reach {instance}; check the address and your connection")
    if isinstance(exc, MastodonAPIError):
        code = exc.args[1] if len(exc.args) > 1 else "?"
        return ConnectorError(f"{instance} refused the request (HTTP {code})")
    return ConnectorError(f"{instance}: {type(exc).__name__}")


def register_app(instance: str) -> tuple[str, str]:
    """Register engage on the instance (read-only scope); returns (client_id, client_secret)."""
    try:
        client_id, client_secret = Mastodon.create_app(
            APP_NAME,
            scopes=SCOPES,
            redirect_uris=OOB_REDIRECT,
            website=APP_WEBSITE,
            api_base_url=instance,
            request_timeout=TIMEOUT,
            user_agent=APP_NAME,
        )
    except (MastodonError, requests.RequestException) as exc:
        raise _setup_error(instance, exc) from None
    return str(client_id), str(client_secret)


def authorization_url(instance: str, client_id: str, client_secret: str) -> str:
    """The page where the user allows engage to read their account and is shown a code."""
    try:
        api = make_client(instance, client_id=client_id, client_secret=client_secret)
        return str(
            api.auth_request_url(
                redirect_uris=OOB_REDIRECT,
                scopes=SCOPES,
                allow_http=instance.startswith("http://"),
            )
        )
    except (MastodonError, requests.RequestException) as exc:
        raise _setup_error(instance, exc) from None


def exchange_code(instance: str, client_id: str, client_secret: str, code: str) -> str:
    """The access token for an authorization code the user pasted."""
    try:
        api = make_client(instance, client_id=client_id, client_secret=client_secret)
        token = api.log_in(
            code=code.strip(),
            redirect_uri=OOB_REDIRECT,
            scopes=SCOPES,
            allow_http=instance.startswith("http://"),
        )
    except RecursionError:
        # Mastodon.py 2.3 retries its version check without end when /api/v2/instance fails
        raise ConnectorError(
            f"{instance} does not answer /api/v2/instance/ as a Mastodon server does; check the "
            "address, or make a token in the server's settings and use --token-stdin"
        ) from None
    except MastodonIllegalArgumentError:
        raise AuthError(
            f"{instance} did not accept the authorization code; run the command again and paste "
            "the new code it shows"
        ) from None
    except (MastodonError, requests.RequestException) as exc:
        raise _setup_error(instance, exc) from None
    return str(token)


def verify_token(instance: str, access_token: str) -> dict[str, str]:
    """Whose token it is: ``{"id", "username", "handle"}`` with handle ``name@host``."""
    try:
        api = make_client(instance, access_token)
        me = api.account_verify_credentials()
    except (MastodonError, requests.RequestException) as exc:
        raise _setup_error(instance, exc) from None
    username = str(me["username"])
    host = urlsplit(instance).hostname or instance
    return {"id": str(me["id"]), "username": username, "handle": f"{username}@{host}"}
