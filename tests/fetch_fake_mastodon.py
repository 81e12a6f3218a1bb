"""A fake Mastodon server speaking the real REST API shapes (as recorded from a Mastodon 4.5 dev
server): app registration, OAuth code exchange, verify_credentials, account statuses and
notifications with ``Link`` pagination, ``X-RateLimit-*`` headers and 429s on demand."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fetch_fake_http import FakeServer, Reply, Request

ME_ID = "117020565966271181"
OTHER_ID = "117020565693913441"
BASE_TIME = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def snowflake(dt: datetime, seq: int = 0) -> str:
    """A Mastodon-style id: milliseconds since the epoch, shifted 16 bits, plus a sequence."""
    return str((int(dt.timestamp() * 1000) << 16) + seq)


def account_json(acct_id: str, username: str, base: str) -> dict[str, Any]:
    return {
        "id": acct_id,
        "username": username,
        "acct": username,
        "display_name": username.title(),
        "locked": False,
        "bot": False,
        "discoverable": None,
        "indexable": True,
        "group": False,
        "created_at": "2026-01-01T00:00:00.000Z",
        "note": "",
        "url": f"{base}/@{username}",
        "uri": f"{base}/ap/users/{acct_id}",
        "avatar": f"{base}/avatars/original/missing.png",
        "avatar_static": f"{base}/avatars/original/missing.png",
        "header": f"{base}/headers/original/missing.png",
        "header_static": f"{base}/headers/original/missing.png",
        "followers_count": 3,
        "following_count": 5,
        "statuses_count": 0,
        "last_status_at": "2026-03-01",
        "emojis": [],
        "fields": [],
    }


@dataclass
class FakeMastodon:
    """State of the fake instance. Add statuses with ``post``/``boost``/``reply``/``mention``."""

    username: str = "alice"
    token: str = "mastodon-token-SECRET-1"
    codes: dict[str, str] = field(default_factory=lambda: {"good-code": "mastodon-token-SECRET-1"})
    statuses: list[dict[str, Any]] = field(default_factory=list)  # the user's, newest last
    notifications: list[dict[str, Any]] = field(default_factory=list)
    # served to the next list requests in turn; None serves that request normally
    failures: list[Reply | None] = field(default_factory=list)
    remaining: int = 300
    apps: list[dict[str, str]] = field(default_factory=list)
    server: FakeServer | None = None
    _clock: itertools.count = field(default_factory=lambda: itertools.count(0))

    @property
    def base(self) -> str:
        assert self.server is not None
        return self.server.url

    def __enter__(self) -> FakeMastodon:
        self.server = FakeServer(self.handle).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.__exit__(*exc)

    # -- building data ----------------------------------------------------------------------

    def _next_time(self) -> datetime:
        return BASE_TIME + timedelta(minutes=7 * next(self._clock))

    def _status(
        self,
        author_id: str,
        author: str,
        html: str,
        when: datetime,
        **extra: Any,
    ) -> dict[str, Any]:
        sid = snowflake(when)
        status = {
            "id": sid,
            "created_at": _iso(when),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "uri": f"{self.base}/ap/users/{author_id}/statuses/{sid}",
            "url": f"{self.base}/@{author}/{sid}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "quotes_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": html,
            "filtered": [],
            "reblog": None,
            "application": {"name": "Web", "website": None},
            "account": account_json(author_id, author, self.base),
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "quote": None,
            "card": None,
            "poll": None,
        }
        status.update(extra)
        return status

    def post(self, text: str, app: str | None = "Web", **extra: Any) -> dict[str, Any]:
        status = self._status(ME_ID, self.username, f"<p>{text}</p>", self._next_time(), **extra)
        status["application"] = {"name": app, "website": None} if app else None
        self.statuses.append(status)
        return status

    def reply_to(self, target_id: str, target_acct: str, text: str) -> dict[str, Any]:
        mention = {
            "id": OTHER_ID,
            "username": target_acct,
            "url": f"{self.base}/@{target_acct}",
            "acct": target_acct,
        }
        return self.post(
            f'<span class="h-card"><a href="{self.base}/@{target_acct}" class="u-url mention">'
            f"@<span>{target_acct}</span></a></span> {text}",
            in_reply_to_id=target_id,
            in_reply_to_account_id=OTHER_ID,
            mentions=[mention],
        )

    def boost(self, text: str) -> dict[str, Any]:
        when = self._next_time()
        original = self._status(OTHER_ID, "bob", f"<p>{text}</p>", when - timedelta(hours=1))
        sid = snowflake(when)
        status = self._status(ME_ID, self.username, "", when)
        status.update(
            {
                "uri": f"{self.base}/ap/users/{ME_ID}/statuses/{sid}/activity",
                "url": f"{self.base}/users/{self.username}/statuses/{sid}/activity",
                "reblog": original,
                "application": None,
                "language": None,
                "reblogged": True,
            }
        )
        self.statuses.append(status)
        return status

    def quote(self, quoted: dict[str, Any], text: str) -> dict[str, Any]:
        return self.post(text, quote={"state": "accepted", "quoted_status": quoted})

    def mention(
        self, text: str, reply_to: str | None = None, ntype: str = "mention"
    ) -> dict[str, Any]:
        when = self._next_time()
        extra: dict[str, Any] = {
            "mentions": [
                {
                    "id": ME_ID,
                    "username": self.username,
                    "url": f"{self.base}/@{self.username}",
                    "acct": self.username,
                }
            ]
        }
        if reply_to:
            extra["in_reply_to_id"] = reply_to
            extra["in_reply_to_account_id"] = ME_ID
        if ntype == "quote":
            target = next(s for s in self.statuses if s["id"] == reply_to)
            extra = {"quote": {"state": "accepted", "quoted_status": target}}
        status = self._status(
            OTHER_ID,
            "bob",
            f'<p><span class="h-card"><a href="{self.base}/@{self.username}" '
            f'class="u-url mention">@<span>{self.username}</span></a></span> {text}</p>',
            when,
            **extra,
        )
        nid = str(100 + len(self.notifications))
        self.notifications.append(
            {
                "id": nid,
                "type": ntype,
                "created_at": _iso(when + timedelta(seconds=1)),
                "group_key": f"ungrouped-{nid}",
                "account": account_json(OTHER_ID, "bob", self.base),
                "status": status,
            }
        )
        # a favourite notification, which the mentions filter must leave out
        self.notifications.append(
            {
                "id": str(100 + len(self.notifications)),
                "type": "favourite",
                "created_at": _iso(when + timedelta(seconds=2)),
                "group_key": "favourite-x",
                "account": account_json(OTHER_ID, "bob", self.base),
                "status": self.statuses[-1] if self.statuses else status,
            }
        )
        return status

    def rate_limit_next(self, reset_in: float, times: int = 1, after: int = 0) -> None:
        """After ``after`` normal list requests, the next ``times`` get HTTP 429 with a reset
        ``reset_in`` seconds away."""
        self.failures.extend([None] * after)
        for _ in range(times):
            reset = datetime.fromtimestamp(time.time() + reset_in, UTC)
            self.failures.append(
                Reply(
                    429,
                    {"error": "Too many requests"},
                    {
                        "X-RateLimit-Limit": "300",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": reset.isoformat().replace("+00:00", "Z"),
                    },
                )
            )

    # -- serving ----------------------------------------------------------------------------

    def _ratelimit_headers(self) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        reset = datetime.now(UTC) + timedelta(minutes=5)
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": reset.isoformat().replace("+00:00", "Z"),
        }

    def _authorised(self, req: Request) -> bool:
        return req.headers.get("Authorization") == f"Bearer {self.token}"

    def handle(self, req: Request) -> Reply:
        path = req.path
        if path == "/api/v1/apps" and req.method == "POST":
            form = req.form()
            app = {
                "id": "7",
                "name": form.get("client_name", ""),
                "website": form.get("website"),
                "scopes": form.get("scopes", "").split(),
                "redirect_uri": form.get("redirect_uris"),
                "redirect_uris": [form.get("redirect_uris")],
                "client_id": "client-id-abc",
                "client_secret": "client-secret-SECRET-2",
                "vapid_key": "BCk",
            }
            self.apps.append(form)
            return Reply(200, app)
        if path in (
            "/api/v1/instance/",
            "/api/v2/instance/",
            "/api/v1/instance",
            "/api/v2/instance",
        ):
            host = self.base.split("://", 1)[1]
            return Reply(
                200,
                {
                    "domain": host,
                    "uri": host,
                    "title": "Mastodon",
                    "version": "4.5.0",
                    "api_versions": {"mastodon": 6},
                    "source_url": "https://github.com/mastodon/mastodon",
                    "description": "",
                    "usage": {"users": {"active_month": 3}},
                    "languages": ["en"],
                    "configuration": {"urls": {"streaming": "ws://localhost:4000", "status": None}},
                    "registrations": {
                        "enabled": False,
                        "approval_required": False,
                        "message": None,
                    },
                    "contact": {"email": "", "account": None},
                    "rules": [],
                },
            )
        if path == "/.well-known/oauth-authorization-server":
            return Reply(
                200,
                {
                    "issuer": f"{self.base}/",
                    "authorization_endpoint": f"{self.base}/oauth/authorize",
                    "token_endpoint": f"{self.base}/oauth/token",
                    "revocation_endpoint": f"{self.base}/oauth/revoke",
                    "scopes_supported": ["read", "write", "profile"],
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code", "client_credentials"],
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_basic",
                        "client_secret_post",
                    ],
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if path == "/oauth/token" and req.method == "POST":
            form = req.form()
            token = self.codes.get(form.get("code", ""))
            if (
                form.get("grant_type") != "authorization_code"
                or token is None
                or form.get("client_secret") != "client-secret-SECRET-2"
            ):
                return Reply(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The provided authorization grant is invalid.",
                    },
                )
            return Reply(
                200,
                {"access_token": token, "token_type": "Bearer", "scope": "read", "created_at": 1},
            )
        if not self._authorised(req):
            return Reply(401, {"error": "The access token is invalid"})
        if path == "/api/v1/accounts/verify_credentials":
            me = account_json(ME_ID, self.username, self.base)
            me["statuses_count"] = len(self.statuses)
            return Reply(200, me, self._ratelimit_headers())
        if path == f"/api/v1/accounts/{ME_ID}/statuses":
            return self._list(req, self.statuses, path)
        if path == "/api/v1/notifications":
            types = req.query.get("types[]")
            items = [n for n in self.notifications if not types or n["type"] in types]
            return self._list(req, items, path)
        return Reply(404, {"error": "Record not found"})

    def _list(self, req: Request, items: list[dict[str, Any]], path: str) -> Reply:
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                return failure
        limit = min(int(req.arg("limit") or 20), 40)
        max_id, since_id, min_id = req.arg("max_id"), req.arg("since_id"), req.arg("min_id")
        chosen = sorted(items, key=lambda s: int(s["id"]), reverse=True)
        if max_id:
            chosen = [s for s in chosen if int(s["id"]) < int(max_id)]
        if since_id:
            chosen = [s for s in chosen if int(s["id"]) > int(since_id)]
        if min_id:
            chosen = [s for s in chosen if int(s["id"]) > int(min_id)][-limit:]
        page = chosen[:limit]
        headers = self._ratelimit_headers()
        if page:
            base = f"{self.base}{path}?limit={limit}"
            headers["Link"] = (
                f'<{base}&max_id={page[-1]["id"]}>; rel="next", '
                f'<{base}&min_id={page[0]["id"]}>; rel="prev"'
            )
        return Reply(200, page, headers)
