"""A fake X API v2 on 127.0.0.1 in the real response shapes (``data``/``includes``/``meta`` with
``next_token``, ``x-rate-limit-*`` headers, 429 with an epoch reset), the OAuth 2.0 token
endpoint with PKCE, and the 3,200-post reach of the timelines. tweepy's host is fixed, so
``LoopbackAdapter`` rewrites ``https://api.twitter.com/...`` to this server."""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from fetch_fake_http import FakeServer, Reply, Request
from requests.adapters import HTTPAdapter

ME_ID = "783214"
OTHER_ID = "2244994945"
TWITTER_EPOCH_MS = 1288834974657
BASE_TIME = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class LoopbackAdapter(HTTPAdapter):
    """Sends requests for the fixed X hosts to the fake server instead."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


def snowflake(dt: datetime, seq: int = 0) -> str:
    return str(((int(dt.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22) + seq)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class FakeX:
    username: str = "alice"
    bearer: str = "x-app-bearer-SECRET-3"
    user_tokens: set[str] = field(default_factory=lambda: {"x-user-token-SECRET-4"})
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh -> new access
    tweets: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    pending_codes: dict[str, str] = field(default_factory=dict)  # code -> PKCE challenge
    failures: list[Reply | None] = field(default_factory=list)  # None: serve normally
    reach: int = 3200
    served: int = 0  # posts returned by timeline requests (what X bills as reads)
    server: FakeServer | None = None
    _clock: itertools.count = field(default_factory=lambda: itertools.count(0))

    def __enter__(self) -> FakeX:
        self.server = FakeServer(self.handle).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.__exit__(*exc)

    @property
    def base(self) -> str:
        assert self.server is not None
        return self.server.url

    def mount(self, session: requests.Session) -> requests.Session:
        adapter = LoopbackAdapter(self.base)
        session.mount("https://api.twitter.com", adapter)
        session.mount("https://api.x.com", adapter)
        return session

    # -- data -------------------------------------------------------------------------------

    def _next_time(self) -> datetime:
        return BASE_TIME + timedelta(minutes=11 * next(self._clock))

    def tweet(
        self, text: str, refs: list[tuple[str, str]] | None = None, **extra: Any
    ) -> dict[str, Any]:
        when = self._next_time()
        tid = snowflake(when)
        t: dict[str, Any] = {
            "edit_history_tweet_ids": [tid],
            "id": tid,
            "text": text,
            "created_at": _iso(when),
            "author_id": ME_ID,
            "conversation_id": tid,
            "lang": "en",
        }
        if refs:
            t["referenced_tweets"] = [{"type": k, "id": v} for k, v in refs]
        t.update(extra)
        self.tweets.append(t)
        return t

    def mention(
        self, text: str, reply_to: str | None = None, quote: str | None = None
    ) -> dict[str, Any]:
        when = self._next_time()
        tid = snowflake(when)
        t: dict[str, Any] = {
            "edit_history_tweet_ids": [tid],
            "id": tid,
            "text": f"@{self.username} {text}",
            "created_at": _iso(when),
            "author_id": OTHER_ID,
            "conversation_id": reply_to or tid,
            "lang": "en",
            "entities": {
                "mentions": [{"start": 0, "end": 6, "username": self.username, "id": ME_ID}]
            },
        }
        if reply_to:
            t["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
            t["in_reply_to_user_id"] = ME_ID
        if quote:
            t["referenced_tweets"] = [{"type": "quoted", "id": quote}]
        self.mentions.append(t)
        return t

    def rate_limit_next(self, reset_in: float, times: int = 1, after: int = 0) -> None:
        """After ``after`` normal timeline requests, the next ``times`` get HTTP 429."""
        self.failures.extend([None] * after)
        for _ in range(times):
            self.failures.append(
                Reply(
                    429,
                    {
                        "title": "Too Many Requests",
                        "detail": "Too Many Requests",
                        "type": "about:blank",
                        "status": 429,
                    },
                    {
                        "x-rate-limit-limit": "900",
                        "x-rate-limit-remaining": "0",
                        "x-rate-limit-reset": str(int(time.time() + reset_in)),
                    },
                )
            )

    # -- serving ----------------------------------------------------------------------------

    def _token(self, req: Request) -> str | None:
        auth = req.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def _user(self) -> dict[str, str]:
        return {"id": ME_ID, "name": "Alice", "username": self.username}

    def handle(self, req: Request) -> Reply:
        if req.path == "/2/oauth2/token":
            return self._token_endpoint(req)
        token = self._token(req)
        if token != self.bearer and token not in self.user_tokens:
            return Reply(
                401,
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
            )
        if req.path == "/2/users/me":
            if token == self.bearer:
                return Reply(
                    403,
                    {
                        "title": "Unsupported Authentication",
                        "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
                        "type": "https://api.twitter.com/2/problems/unsupported-authentication",
                        "status": 403,
                    },
                )
            return Reply(200, {"data": self._user()})
        if req.path.startswith("/2/users/by/username/"):
            name = req.path.rsplit("/", 1)[1]
            if name.lower() != self.username.lower():
                return Reply(
                    200,
                    {
                        "errors": [
                            {
                                "value": name,
                                "detail": f"Could not find user with username: [{name}].",
                                "title": "Not Found Error",
                                "resource_type": "user",
                                "parameter": "username",
                                "resource_id": name,
                                "type": "https://api.twitter.com/2/problems/resource-not-found",
                            }
                        ]
                    },
                )
            return Reply(200, {"data": self._user()})
        if req.path == f"/2/users/{ME_ID}/tweets":
            return self._timeline(req, self.tweets)
        if req.path == f"/2/users/{ME_ID}/mentions":
            return self._timeline(req, self.mentions)
        return Reply(
            404, {"title": "Not Found", "status": 404, "type": "about:blank", "detail": "Not Found"}
        )

    def _timeline(self, req: Request, items: list[dict[str, Any]]) -> Reply:
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                return failure
        max_results = int(req.arg("max_results") or 10)
        if not 5 <= max_results <= 100:
            return Reply(
                400,
                {
                    "errors": [
                        {
                            "parameters": {"max_results": [str(max_results)]},
                            "message": "The `max_results` query parameter value is not between 5 and 100",
                        }
                    ],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
            )
        newest = sorted(items, key=lambda t: int(t["id"]), reverse=True)[: self.reach]
        chosen = newest
        if req.arg("since_id"):
            chosen = [t for t in chosen if int(t["id"]) > int(req.arg("since_id") or 0)]
        if req.arg("until_id"):
            chosen = [t for t in chosen if int(t["id"]) < int(req.arg("until_id") or 0)]
        if req.arg("start_time"):
            start = datetime.fromisoformat((req.arg("start_time") or "").replace("Z", "+00:00"))
            chosen = [
                t
                for t in chosen
                if datetime.fromisoformat(t["created_at"].replace("Z", "+00:00")) >= start
            ]
        offset = int(req.arg("pagination_token") or 0)
        page = chosen[offset : offset + max_results]
        self.served += len(page)
        headers = {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": "850",
            "x-rate-limit-reset": str(int(time.time()) + 900),
        }
        if not page:
            return Reply(200, {"meta": {"result_count": 0}}, headers)
        fields = (req.arg("tweet.fields") or "").split(",")
        keep = {"id", "text", "edit_history_tweet_ids", *fields}
        data = [{k: v for k, v in t.items() if k in keep} for t in page]
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
        }
        if offset + max_results < len(chosen):
            meta["next_token"] = str(offset + max_results)
        body: dict[str, Any] = {"data": data, "meta": meta}
        if "author_id" in (req.arg("expansions") or ""):
            body["includes"] = {
                "users": [self._user(), {"id": OTHER_ID, "name": "Bob", "username": "bob"}]
            }
        return Reply(200, body, headers)

    def _token_endpoint(self, req: Request) -> Reply:
        form = req.form()
        bad = Reply(
            400,
            {
                "error": "invalid_request",
                "error_description": "Value passed for the authorization code was invalid.",
            },
        )
        if form.get("grant_type") == "authorization_code":
            challenge = self.pending_codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if challenge is None or digest != challenge or not form.get("client_id"):
                return bad
            access, refresh = "x-user-token-SECRET-5", "x-refresh-SECRET-6"
        elif form.get("grant_type") == "refresh_token":
            access = self.refresh_tokens.pop(form.get("refresh_token", ""), "")
            if not access:
                return bad
            refresh = "x-refresh-SECRET-8"
        else:
            return bad
        self.user_tokens.add(access)
        self.refresh_tokens[refresh] = access + "-next"
        return Reply(
            200,
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": access,
                "scope": "tweet.read users.read offline.access",
                "refresh_token": refresh,
            },
        )
