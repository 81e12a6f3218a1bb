"""A fake Bluesky PDS (with an AppView's notifications) on 127.0.0.1 that speaks the real XRPC
shapes to the real ``atproto`` SDK: createSession, getSession, refreshSession (rotating tokens),
listRecords (newest first by rkey, cursor = last rkey, as the reference PDS does),
listNotifications (reasons filter, time-based cursor), describeRepo, and 429 answers with
``ratelimit-*`` headers on demand. Every request is recorded."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid(micros: int, clock_id: int = 7) -> str:
    n = (micros << 10) | clock_id
    out = ""
    for _ in range(13):
        out = TID_ALPHABET[n & 31] + out
        n >>= 5
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(payload: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "ES256K", "typ": "at+jwt"}).encode())
    body = _b64(json.dumps(payload).encode())
    return f"{header}.{body}.{_b64(secrets.token_bytes(32))}"


@dataclass
class Req:
    method: str
    nsid: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class FakeBluesky:
    did: str = "did:plc:alice7fakeaaaaaaaaaaaaaa"
    handle: str = "alice.test"
    app_password: str = "abcd-efgh-ijkl-mnop"
    main_password: str = "hunter2-main-password"
    access_ttl: int = 7200  # seconds an access token lives
    appview: bool = True  # False: app.bsky.* answers like a PDS without an AppView
    #: serve as the AppView behind a real PDS: take the PDS's service-auth JWTs (checked only
    #: for their audience and method) instead of this fake's own sessions
    appview_did: str | None = None
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # coll -> rkey
    notifications: list[dict[str, Any]] = field(default_factory=list)
    handles: dict[str, str] = field(default_factory=dict)  # other repos: did -> handle
    requests: list[Req] = field(default_factory=list)
    #: nsid -> list of (call number to fail, reset epoch); call numbers count that nsid's calls
    fail_429: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    # spent refresh token -> the session it was exchanged for (the real PDS's grace period)
    rotated_refresh: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- server ----------------------------------------------------------------------------

    def start(self) -> FakeBluesky:
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                nsid = parts.path.removeprefix("/xrpc/")
                req = Req(self.command, nsid, parse_qs(parts.query), dict(self.headers), body)
                with outer.lock:
                    outer.requests.append(req)
                    status, payload, headers = outer.respond(req)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def calls(self, nsid: str) -> list[Req]:
        return [r for r in self.requests if r.nsid == nsid]

    # -- data ------------------------------------------------------------------------------

    def add_record(self, collection: str, record: dict[str, Any], rkey: str | None = None) -> str:
        """Store a record (rkey: a TID from its createdAt); returns its AT-URI."""
        if rkey is None:
            created = record["createdAt"].replace("Z", "+00:00")
            from datetime import datetime

            micros = int(datetime.fromisoformat(created).timestamp() * 1_000_000)
            rkey = tid(micros)
        self.records.setdefault(collection, {})[rkey] = record
        return f"at://{self.did}/{collection}/{rkey}"

    def add_notification(
        self,
        reason: str,
        author_did: str,
        author_handle: str,
        record: dict[str, Any],
        indexed_at: str,
        rkey: str,
    ) -> str:
        uri = f"at://{author_did}/app.bsky.feed.post/{rkey}"
        self.notifications.append(
            {
                "uri": uri,
                "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
                "author": {
                    "did": author_did,
                    "handle": author_handle,
                    "displayName": author_handle.split(".")[0].title(),
                    "avatar": "https://cdn.bsky.app/img/avatar/plain/x/y@jpeg",
                    "viewer": {"muted": False, "blockedBy": False},
                    "labels": [],
                    "createdAt": "2023-04-01T00:00:00.000Z",
                    "indexedAt": "2023-04-01T00:00:00.000Z",
                },
                "reason": reason,
                "reasonSubject": f"at://{self.did}/app.bsky.feed.post/3kaaaaaaaaaa2",
                "record": record,
                "isRead": False,
                "indexedAt": indexed_at,
                "labels": [],
            }
        )
        return uri

    # -- handlers --------------------------------------------------------------------------

    def _tokens(self, scope: str) -> dict[str, Any]:
        now = int(time.time())
        access = jwt(
            {
                "scope": scope,
                "sub": self.did,
                "aud": "did:web:fake.test",
                "iat": now,
                "exp": now + self.access_ttl,
            }
        )
        refresh = jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": self.did,
                "aud": "did:web:fake.test",
                "jti": secrets.token_hex(8),
                "iat": now,
                "exp": now + 90 * 86400,
            }
        )
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "didDoc": {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": self.did,
                "alsoKnownAs": [f"at://{self.handle}"],
                "verificationMethod": [],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.url,
                    }
                ],
            },
            "email": "alice@example.com",
            "emailConfirmed": True,
            "active": True,
        }

    def _bearer(self, req: Req) -> str:
        auth = req.headers.get("Authorization") or req.headers.get("authorization") or ""
        return auth.removeprefix("Bearer ").strip()

    def respond(self, req: Req) -> tuple[int, Any, dict[str, str]]:
        calls = len(self.calls(req.nsid)) - 1  # 0-based number of this call of the method
        for n, reset in self.fail_429.get(req.nsid, []):
            if n == calls:
                return (
                    429,
                    {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                    {
                        "ratelimit-limit": "3000",
                        "ratelimit-remaining": "0",
                        "ratelimit-reset": str(reset),
                        "ratelimit-policy": "3000;w=300",
                    },
                )
        headers = {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "2999",
            "ratelimit-reset": str(int(time.time()) + 300),
            "ratelimit-policy": "3000;w=300",
        }
        if req.nsid == "com.atproto.server.createSession":
            body = req.body or {}
            if body.get("identifier") not in (self.handle, self.did):
                return (
                    401,
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                    {},
                )
            if body.get("password") == self.app_password:
                return 200, self._tokens("com.atproto.appPass"), headers
            if body.get("password") == self.main_password:
                return 200, self._tokens("com.atproto.access"), headers
            return (
                401,
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
                {},
            )
        if req.nsid == "com.atproto.server.refreshSession":
            token = self._bearer(req)
            if token not in self.refresh_tokens:
                # Like @atproto/pds, a spent refresh token may be used again for a while and
                # gets the same new session, so a client killed before it stored the answer
                # is not locked out; a revoked successor ends that.
                successor = self.rotated_refresh.get(token)
                if successor is not None and successor["refreshJwt"] in self.refresh_tokens:
                    return 200, successor, headers
                return 400, {"error": "ExpiredToken", "message": "Token has expired"}, {}
            self.refresh_tokens.discard(token)  # refresh tokens rotate: the old one is spent
            fresh = self._tokens("com.atproto.appPass")
            self.rotated_refresh[token] = fresh
            return 200, fresh, headers
        if req.nsid == "com.atproto.repo.listRecords":
            return self._list_records(req, headers)
        if req.nsid == "com.atproto.repo.describeRepo":
            return 200, {"handle": self.handle, "did": self.did, "collections": []}, headers
        # everything else needs a valid access token
        token = self._bearer(req)
        if self.appview_did is not None:
            claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
            if claims.get("aud") != self.appview_did or claims.get("lxm") != req.nsid:
                return 401, {"error": "AuthenticationRequired", "message": "bad audience"}, {}
            if req.nsid == "app.bsky.notification.listNotifications":
                return self._list_notifications(req, headers)
            return 501, {"error": "MethodNotImplemented", "message": "not in this fake"}, {}
        if token not in self.access_tokens:
            return 401, {"error": "AuthenticationRequired", "message": "Invalid token"}, {}
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        if payload["exp"] < time.time():
            return 400, {"error": "ExpiredToken", "message": "Token has expired"}, {}
        if req.nsid == "com.atproto.server.getSession":
            return 200, {"handle": self.handle, "did": self.did, "active": True}, headers
        if req.nsid.startswith("app.bsky.") and not self.appview:
            return (
                400,
                {"error": "InvalidRequest", "message": f"No service configured for {req.nsid}"},
                {},
            )
        if req.nsid == "app.bsky.notification.listNotifications":
            return self._list_notifications(req, headers)
        return 501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}, {}

    def _list_records(self, req: Req, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if req.arg("repo") not in (self.did, self.handle):
            return 400, {"error": "InvalidRequest", "message": "Could not find repo"}, {}
        limit = int(req.arg("limit") or 50)
        if not 1 <= limit <= 100:
            return 400, {"error": "InvalidRequest", "message": "limit out of range"}, {}
        collection = req.arg("collection") or ""
        cursor = req.arg("cursor")
        rkeys = sorted(self.records.get(collection, {}), reverse=True)
        if cursor:
            rkeys = [k for k in rkeys if k < cursor]
        page = rkeys[:limit]
        body: dict[str, Any] = {
            "records": [
                {
                    "uri": f"at://{self.did}/{collection}/{k}",
                    "cid": "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
                    "value": self.records[collection][k],
                }
                for k in page
            ]
        }
        if page:
            body["cursor"] = page[-1]
        return 200, body, headers

    def _list_notifications(
        self, req: Req, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        limit = int(req.arg("limit") or 50)
        reasons = req.query.get("reasons") or []
        items = sorted(self.notifications, key=lambda n: (n["indexedAt"], n["uri"]), reverse=True)
        if reasons:
            items = [n for n in items if n["reason"] in reasons]
        cursor = req.arg("cursor")
        if cursor:
            at, uri = cursor.split("::", 1)
            items = [n for n in items if (n["indexedAt"], n["uri"]) < (at, uri)]
        page = items[:limit]
        body: dict[str, Any] = {"notifications": page, "seenAt": "2024-01-01T00:00:00.000Z"}
        if len(items) > limit:
            body["cursor"] = f"{page[-1]['indexedAt']}::{page[-1]['uri']}"
        return 200, body, headers
