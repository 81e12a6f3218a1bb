"""X (Twitter): the user's own posts and the posts that mention them, through tweepy's ``Client``.

- Own posts: ``GET /2/users/:id/tweets``; mentions: ``GET /2/users/:id/mentions``; newest first,
  walked with ``since_id``/``until_id`` by ``connectors.paging``. ``referenced_tweets`` tells
  replies (``replied_to``), quotes (``quoted``) and retweets (``retweeted``) apart; the
  ``author_id`` and ``in_reply_to_user_id`` expansions give user names (users, not posts, so
  they cost no post reads).
- Reading costs money per post: every fetch has a read cap (``FetchSettings.x_max_reads``) shared
  by both streams, with a quarter kept for the mentions. A request never asks for more than what
  is left (X returns 5 to 100 posts a request), and the fetch stops cleanly with
  ``ReadCapReached`` before going over; the cursor makes the next fetch continue.
- The API reaches only the latest 3,200 posts and no longer returns the posting app: the first
  complete fetch says so once and points to ``engage import``.
- Access: an app-only bearer token, or an OAuth 2.0 user token (PKCE); a user token that expired
  is refreshed with its refresh token and ``updated_secrets`` hands the new one back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import tweepy
from requests_oauthlib import OAuth2Session

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
from engage.errors import AuthError, ConnectorError, ReadCapReached, UsageError

# tweepy logs request headers (the bearer token) and requests-oauthlib logs token bodies at
# DEBUG: keep them quiet even under 'engage -vv', so no secret reaches a log.
for _noisy in ("tweepy", "requests_oauthlib", "oauthlib"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

TOKEN_URL = "https://api.twitter.com/2/oauth2/token"
SCOPES = ["tweet.read", "users.read", "offline.access"]
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8080/callback"
PAGE_SIZE = 100  # the most X returns per request
TIMEOUT = 30.0  # seconds; tweepy sets no timeout, so a stalled server would hang a cron fetch
MIN_PAGE = 5  # the least a request may ask for
TWEET_FIELDS = [
    "created_at",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "entities",
    "lang",
    "author_id",
]
EXPANSIONS = ["author_id", "in_reply_to_user_id"]
USER_FIELDS = ["username"]
LIMIT_NOTE = (
    "X: the API reaches only your latest 3,200 posts and no longer says which app posted them; "
    "import your X archive with 'engage import PATH' for older posts and their posting apps"
)


def prepare_session(session: requests.Session) -> requests.Session:
    """Every requests session this module uses passes through here once (tests mount an adapter
    that sends the fixed ``api.twitter.com`` host to a server on 127.0.0.1)."""
    return session


# -- normalising (pure) ---------------------------------------------------------------------------


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _refs(tweet: Mapping[str, Any]) -> dict[str, str]:
    return {str(r.get("type")): str(r.get("id")) for r in tweet.get("referenced_tweets") or []}


def users_by_id(response: Mapping[str, Any]) -> dict[str, str]:
    """``includes.users`` of an API response as ``{id: username}``."""
    users = (response.get("includes") or {}).get("users") or []
    return {str(u["id"]): str(u["username"]) for u in users if "id" in u and "username" in u}


def _urls(tweet: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for u in (tweet.get("entities") or {}).get("urls") or []:
        if u.get("media_key"):
            continue  # attached photos and videos, not links
        url = u.get("unwound_url") or u.get("expanded_url") or u.get("url")
        if url and url not in found:
            found.append(str(url))
    return found


def normalise_tweet(
    tweet: Mapping[str, Any], account: str, users: Mapping[str, str] | None = None
) -> Post:
    """One of the user's tweets (X API v2 JSON) as a Post. ``users`` maps user ids to names
    (``includes.users``). The API has no posting app, so ``client`` stays None."""
    users = users or {}
    refs = _refs(tweet)
    reply_to = refs.get("replied_to")
    kind = (
        "repost"
        if "retweeted" in refs
        else "reply"
        if reply_to
        else "quote"
        if "quoted" in refs
        else "post"
    )
    reply_user_id = tweet.get("in_reply_to_user_id")
    reply_to_user = None
    if reply_user_id is not None:
        reply_to_user = users.get(str(reply_user_id), str(reply_user_id))
    if kind == "repost" and reply_to_user is None:
        text = str(tweet.get("text") or "")
        if text.startswith("RT @") and ":" in text:
            reply_to_user = text[4 : text.index(":")]
    tid = str(tweet["id"])
    return Post(
        platform="x",
        account=account,
        post_id=tid,
        created_at=_time(tweet["created_at"]),
        text=str(tweet.get("text") or ""),
        kind=kind,
        url=f"https://x.com/{account}/status/{tid}",
        reply_to_post=reply_to,
        reply_to_user=reply_to_user if kind in ("reply", "repost") else None,
        quoted_post=refs.get("quoted"),
        reposted_post=refs.get("retweeted"),
        thread_root=_id(tweet.get("conversation_id")),
        urls=_urls(tweet),
        mentions=[
            str(m["username"])
            for m in (tweet.get("entities") or {}).get("mentions") or []
            if m.get("username")
        ],
        client=None,
        lang=tweet.get("lang"),
        raw=dict(tweet),
        source="api",
    )


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def normalise_mention(
    tweet: Mapping[str, Any],
    account: str,
    user_id: str | None,
    users: Mapping[str, str] | None = None,
) -> Mention:
    """A tweet from the user's mentions timeline as a Mention: ``reply`` when it answers one of
    the user's posts (``reply_to_post`` is that post), ``quote`` when it quotes a post, else
    ``mention``."""
    users = users or {}
    refs = _refs(tweet)
    author_id = str(tweet.get("author_id") or "")
    kind = "mention"
    reply_to_post = None
    if (
        "replied_to" in refs
        and user_id is not None
        and str(tweet.get("in_reply_to_user_id")) == str(user_id)
    ):
        kind, reply_to_post = "reply", refs["replied_to"]
    elif "quoted" in refs:
        kind, reply_to_post = "quote", refs["quoted"]
    author = users.get(author_id, author_id or "unknown")
    tid = str(tweet["id"])
    return Mention(
        platform="x",
        account=account,
        mention_id=tid,
        author=author,
        created_at=_time(tweet["created_at"]),
        text=str(tweet.get("text") or ""),
        kind=kind,
        url=f"https://x.com/{author}/status/{tid}",
        reply_to_post=reply_to_post,
        thread_root=_id(tweet.get("conversation_id")),
        raw=dict(tweet),
        source="api",
    )


# -- errors ---------------------------------------------------------------------------------------


def classify_error(exc: BaseException) -> Failure | None:
    """tweepy and requests exceptions as ``connectors.ratelimit`` failures."""
    if isinstance(exc, tweepy.TooManyRequests):
        reset = exc.response.headers.get("x-rate-limit-reset") if exc.response else None
        return RateLimited(float(reset) if reset else None)
    if isinstance(exc, tweepy.Unauthorized):
        return AuthFailed("HTTP 401")
    if isinstance(exc, tweepy.Forbidden):
        detail = "; ".join(str(m) for m in exc.api_messages)[:200]
        return AuthFailed(f"HTTP 403 {detail}".strip())
    if isinstance(exc, tweepy.TwitterServerError):
        return Transient(f"X had a server error (HTTP {exc.response.status_code})")
    if isinstance(exc, tweepy.HTTPException):
        status = exc.response.status_code if exc.response is not None else "?"
        detail = "; ".join(str(m) for m in exc.api_messages)[:200]
        return Fatal(f"X refused the request (HTTP {status} {detail})".strip())
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return Transient("X's answer was cut off or is not JSON")
    if isinstance(exc, requests.RequestException):
        return Transient("X could not be reached")
    return None


# -- the connector --------------------------------------------------------------------------------


class _TimeoutSession(requests.Session):
    """A requests session whose requests time out after ``TIMEOUT`` seconds unless told
    otherwise (tweepy passes no timeout at all)."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(*args, **kwargs)


def make_client(token: str) -> tweepy.Client:
    """A tweepy client returning raw JSON; ``token`` is an app bearer token or an OAuth 2.0 user
    access token (both go in the ``Authorization: Bearer`` header)."""
    client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
    client.session = _TimeoutSession()
    prepare_session(client.session)
    return client


def _reveal(value: Any) -> str:
    reveal = getattr(value, "reveal", None)
    return str(reveal() if callable(reveal) else value)


class XConnector(Connector):
    platform = "x"
    streams = ("posts", "mentions")

    def __init__(
        self,
        client: tweepy.Client,
        account: AccountInfo,
        settings: FetchSettings | None = None,
        *,
        secrets: Mapping[str, Any] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.client = client
        self.account = account
        self.settings = settings or FetchSettings()
        self.policy = RetryPolicy.from_settings(self.settings)
        self.budget = HeaderBudget(clock=self.settings.clock)
        self.budget.install(client.session)
        self.page_size = max(MIN_PAGE, min(PAGE_SIZE, page_size))
        self.reads = 0
        self._reads_by_stream: dict[str, int] = {}
        self._secrets = {
            k: _reveal(v) if isinstance(v, str) or hasattr(v, "reveal") else v
            for k, v in (secrets or {}).items()
        }
        self._fresh: dict[str, Any] | None = None

    @classmethod
    def from_account(
        cls, account: AccountInfo, secrets: Mapping[str, Any], settings: FetchSettings
    ) -> XConnector:
        token = secrets.get("access_token") or secrets.get("bearer_token")
        if not token or not account.user_id:
            raise AuthError(
                f"{account.name}: no X token stored; add the account again with 'engage account "
                f"add x --username {account.handle} --name {account.name}'"
            )
        connector = cls(make_client(_reveal(token)), account, settings, secrets=secrets)
        connector._refresh_if_expired()
        return connector

    # -- tokens -----------------------------------------------------------------------------

    def _can_refresh(self) -> bool:
        return bool(self._secrets.get("refresh_token") and self._secrets.get("client_id"))

    def _refresh_if_expired(self) -> None:
        expires_at = self._secrets.get("expires_at")
        if expires_at and self._can_refresh() and float(expires_at) <= self.settings.clock() + 60:
            self._refresh()

    def _refresh(self) -> None:
        token = refresh_user_token(
            str(self._secrets["client_id"]),
            str(self._secrets["refresh_token"]),
            self._secrets.get("client_secret"),
        )
        self._secrets.update(token)
        self._fresh = dict(self._secrets)
        self.client.bearer_token = token["access_token"]
        if self.settings.on_secrets is not None:
            # saved now: X has already spent the old refresh token
            self.settings.on_secrets(dict(self._fresh))

    def updated_secrets(self) -> dict[str, Any] | None:
        return self._fresh

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def attempt() -> Any:
            return self.policy.call(
                fn,
                *args,
                classify=classify_error,
                what=f"X {self.account.name}: {what}",
                budget=self.budget,
                **kwargs,
            )

        try:
            return attempt()
        except AuthError:
            if self._fresh is not None or not self._can_refresh():
                raise
            self._refresh()  # the access token expired early: refresh once and try again
            return attempt()

    # -- fetching ---------------------------------------------------------------------------

    def _allowance(self, stream: str) -> int:
        """Reads this stream may still use: the posts may use three quarters of the cap, the
        mentions whatever the cap has left."""
        cap = self.settings.x_max_reads
        if stream == "posts":
            return cap - cap // 4 - self._reads_by_stream.get(stream, 0)
        return cap - self.reads

    def fetch(
        self, stream: str, cursor: dict[str, Any] | None, since: datetime | None = None
    ) -> Iterator[Page]:
        if stream not in self.streams:
            raise ValueError(f"unknown X stream {stream!r}")
        user_id = str(self.account.user_id)
        handle = self.account.handle
        method = (
            self.client.get_users_tweets if stream == "posts" else self.client.get_users_mentions
        )
        what = "own posts" if stream == "posts" else "mentions"

        def fetch_page(above: str | None, below: str | None) -> RawPage[Any]:
            left = self._allowance(stream)
            if left < MIN_PAGE:
                cap = self.settings.x_max_reads
                raise ReadCapReached(
                    f"X {self.account.name}: read cap reached ({self.reads} of {cap} reads used "
                    f"for {what} and mentions); the next fetch continues from here (raise it "
                    "with --max-reads or fetch.x_max_reads)"
                )
            params: dict[str, Any] = {
                "max_results": min(self.page_size, left),
                "tweet_fields": TWEET_FIELDS,
                "expansions": EXPANSIONS,
                "user_fields": USER_FIELDS,
            }
            if above is not None:
                params["since_id"] = above
            if below is not None:
                params["until_id"] = below
            if above is None and since is not None:
                params["start_time"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
            response = self._call(what, method, user_id, user_auth=False, **params)
            data = list(response.get("data") or [])
            self.reads += len(data)
            self._reads_by_stream[stream] = self._reads_by_stream.get(stream, 0) + len(data)
            users = users_by_id(response)
            for t in data:
                t["_users"] = {
                    k: v
                    for k, v in users.items()
                    if k in (str(t.get("author_id")), str(t.get("in_reply_to_user_id")))
                }
            more = bool((response.get("meta") or {}).get("next_token"))
            return RawPage(items=data, more=more, reads=len(data))

        def convert(items: Sequence[Any]) -> tuple[list[Post], list[Mention]]:
            posts: list[Post] = []
            mentions: list[Mention] = []
            for t in items:
                users = t.pop("_users", {})
                if stream == "posts":
                    posts.append(normalise_tweet(t, handle, users))
                else:
                    mentions.append(normalise_mention(t, handle, user_id, users))
            return posts, mentions

        yield from walk(
            stream,
            cursor,
            since,
            fetch_page=fetch_page,
            convert=convert,
            item_id=lambda t: str(t["id"]),
            item_time=lambda t: _time(t["created_at"]),
            limit_note=LIMIT_NOTE if stream == "posts" else None,
        )


# -- account setup --------------------------------------------------------------------------------


def lookup_user(token: str, username: str, *, user_token: bool) -> dict[str, str]:
    """``{"id", "username"}`` of the account: ``/2/users/me`` for a user token (and a check that
    it is ``username``'s), ``/2/users/by/username/:name`` for an app bearer token."""
    client = make_client(token)
    username = username.lstrip("@")
    try:
        if user_token:
            response = client.get_me(user_auth=False)
        else:
            response = client.get_user(username=username, user_auth=False)
    except (tweepy.TweepyException, requests.RequestException) as exc:
        failure = classify_error(exc)
        if isinstance(failure, AuthFailed):
            raise AuthError(
                f"X refused the token ({failure.detail}); check it and try again"
            ) from None
        detail = getattr(failure, "detail", type(exc).__name__)
        raise ConnectorError(f"X: could not look up @{username} ({detail})") from None
    data = response.get("data")
    if not data:
        raise UsageError(f"X has no user @{username}; check --username")
    if user_token and str(data["username"]).lower() != username.lower():
        raise UsageError(
            f"the token belongs to @{data['username']}, not @{username}; give --username "
            f"{data['username']} or authorise as @{username}"
        )
    return {"id": str(data["id"]), "username": str(data["username"])}


@dataclass
class PkceFlow:
    """An OAuth 2.0 authorization in progress: send the user to ``url``, then hand the URL they
    were redirected to to ``finish_pkce``."""

    handler: tweepy.OAuth2UserHandler
    url: str
    state: str
    redirect_uri: str


def start_pkce(client_id: str, redirect_uri: str, client_secret: str | None = None) -> PkceFlow:
    handler = tweepy.OAuth2UserHandler(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=SCOPES,
        client_secret=client_secret or None,
    )
    prepare_session(handler)
    url = handler.get_authorization_url()
    state = parse_qs(urlsplit(url).query).get("state", [""])[0]
    return PkceFlow(handler, url, state, redirect_uri)


def _token_record(
    token: Mapping[str, Any], client_id: str, client_secret: str | None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "auth": "oauth2",
        "access_token": str(token["access_token"]),
        "client_id": client_id,
    }
    if token.get("refresh_token"):
        record["refresh_token"] = str(token["refresh_token"])
    if token.get("expires_at"):
        record["expires_at"] = float(token["expires_at"])
    elif token.get("expires_in"):
        record["expires_at"] = time.time() + float(token["expires_in"])
    if client_secret:
        record["client_secret"] = client_secret
    return record


def finish_pkce(
    flow: PkceFlow, redirected_to: str, client_secret: str | None = None
) -> dict[str, Any]:
    """Exchange the code in the pasted redirect URL for tokens (state checked first)."""
    query = parse_qs(urlsplit(redirected_to.strip()).query)
    if "error" in query:
        raise AuthError(
            f"X did not grant access ({query['error'][0]}); run the command again and allow it"
        )
    code = query.get("code", [""])[0]
    if not code:
        raise UsageError(
            "that is not the URL X sent you to: paste the whole address from the browser's "
            f"address bar after allowing access (it starts with {flow.redirect_uri} and has "
            "'code=' in it)"
        )
    if query.get("state", [""])[0] != flow.state:
        raise AuthError(
            "the pasted URL belongs to another authorization (state does not match); run the "
            "command again and use the URL it prints"
        )
    try:
        token = OAuth2Session.fetch_token(
            flow.handler,
            TOKEN_URL,
            code=code,
            auth=flow.handler.auth,
            include_client_id=True,
            code_verifier=flow.handler._client.code_verifier,
            timeout=TIMEOUT,
        )
    except Exception as exc:  # oauthlib raises its own error tree for refused codes
        if isinstance(exc, requests.RequestException):
            raise ConnectorError("X could not be reached; check your connection") from None
        raise AuthError(
            f"X did not accept the authorization code ({type(exc).__name__}); run the command "
            "again and paste the new redirect URL"
        ) from None
    client_id = str(flow.handler.client_id)
    return _token_record(token, client_id, client_secret)


def refresh_user_token(
    client_id: str, refresh_token: str, client_secret: str | None = None
) -> dict[str, Any]:
    """New tokens for an expired OAuth 2.0 user token (X rotates the refresh token too)."""
    session = OAuth2Session(client_id)
    prepare_session(session)
    auth = requests.auth.HTTPBasicAuth(client_id, client_secret) if client_secret else None
    try:
        token = session.refresh_token(
            TOKEN_URL,
            refresh_token=refresh_token,
            auth=auth,
            client_id=client_id,
            timeout=TIMEOUT,
        )
    except Exception as exc:
        if isinstance(exc, requests.RequestException):
            raise ConnectorError("X could not be reached to refresh the token") from None
        raise AuthError(
            f"X refused to refresh the access token ({type(exc).__name__}); add the account "
            "again with 'engage account add x'"
        ) from None
    return _token_record(token, client_id, client_secret)
