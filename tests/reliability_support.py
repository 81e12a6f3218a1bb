"""Shared pieces of the reliability tests (issue 8).

- ``FaultProxy``: an HTTP proxy on 127.0.0.1 in front of one of the existing fake platform
  servers (``fetch_fake_mastodon``, ``fetch_fake_x``, ``bluesky_fake_xrpc``). It forwards every
  request to the fake and, by plan, answers some of them with a fault instead: an HTTP status
  with headers (429 with reset headers, 500/502/503, 401), a connection closed before any answer,
  a connection dropped in the middle of the body, a body of malformed or truncated JSON, a stall
  longer than the client's timeout, or the previous answer of the same endpoint again (a page
  that repeats the previous page). The fakes stay untouched; the SDKs talk to the proxy exactly
  as they would to the real service.
- ``Platforms``: the three fakes behind proxies with accounts added through the real CLI.
- ``snapshot``: what a database holds, for "same set of posts as a clean run" comparisons.
- ``scan_for_secrets``: every byte under a folder searched for known secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent

# -------------------------------------------------------------------------------------------------
# Faults
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One injected fault. ``kind``:

    - ``status``: answer ``status`` with ``body`` (JSON) and ``headers``; the fake is not asked
    - ``drop``: read the request, close the connection without an answer
    - ``cut``: ask the fake, send its status, headers and full Content-Length, then half the body
      and close the connection (a connection dropped in the middle of a page)
    - ``garble``: ask the fake, answer 200 with the first ``keep`` bytes of its JSON body (a
      truncated, malformed JSON document with a correct Content-Length)
    - ``stall``: wait ``seconds`` before answering normally (longer than the client's timeout)
    - ``repeat``: answer with the previous answer this proxy gave for the same path (the page
      before), without asking the fake
    """

    kind: str
    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    keep: int = 17


def status(code: int, body: Any = None, **headers: str) -> Fault:
    body = {"error": f"injected HTTP {code}"} if body is None else body
    return Fault("status", status=code, body=body, headers=tuple(headers.items()))


DROP = Fault("drop")
CUT = Fault("cut")
GARBLE = Fault("garble")
REPEAT = Fault("repeat")


def stall(seconds: float) -> Fault:
    return Fault("stall", seconds=seconds)


def rate_limited(platform: str, reset_in: float) -> Fault:
    """HTTP 429 with the platform's own reset headers, the reset ``reset_in`` seconds away."""
    reset_epoch = time.time() + reset_in
    if platform == "mastodon":
        from datetime import UTC, datetime

        iso = datetime.fromtimestamp(reset_epoch, UTC).isoformat().replace("+00:00", "Z")
        return status(
            429,
            {"error": "Too many requests"},
            **{
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": iso,
            },
        )
    if platform == "x":
        return status(
            429,
            {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429},
            **{
                "x-rate-limit-limit": "900",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(reset_epoch)),
            },
        )
    return status(
        429,
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        **{
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(int(reset_epoch)),
            "ratelimit-policy": "3000;w=300",
        },
    )


@dataclass
class Rule:
    match: str  # a substring of the request path
    nth: int  # inject at the nth (0-based) matching request; later ones pass, unless ``every``
    fault: Fault
    every: bool = False  # inject at every matching request from ``nth`` on
    seen: int = 0
    fired: int = 0


_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "date",  # send_response adds its own Date and Server
    "server",
}


class FaultProxy:
    """An HTTP/1.1 proxy to ``upstream`` (``http://127.0.0.1:PORT``) that injects faults."""

    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: list[Rule] = []
        self.delay = delay  # seconds added to every answer (slows a fetch for crash trials)
        self.log: list[tuple[str, str]] = []  # (path, what happened)
        self._last: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                outer._serve(self)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- planning ---------------------------------------------------------------------------

    def inject(self, match: str, fault: Fault, *, nth: int = 0, every: bool = False) -> Rule:
        rule = Rule(match, nth, fault, every)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def injected(self) -> int:
        """Faults injected so far (also those of rules cleared since)."""
        return sum(1 for _, what in self.log if what != "pass")

    def _pick(self, path: str) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.match not in path:
                    continue
                n = rule.seen
                rule.seen += 1
                if n == rule.nth or (rule.every and n >= rule.nth):
                    rule.fired += 1
                    return rule.fault
        return None

    # -- serving ----------------------------------------------------------------------------

    def _forward(
        self, h: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
            headers["Host"] = f"{self.upstream.hostname}:{self.upstream.port}"
            headers["Connection"] = "close"
            conn.request(h.command, h.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP]
            return resp.status, kept, data
        finally:
            conn.close()

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        code: int,
        headers: Iterable[tuple[str, str]],
        data: bytes,
        *,
        declared: int | None = None,
    ) -> None:
        h.send_response(code)
        has_type = False
        for k, v in headers:
            has_type = has_type or k.lower() == "content-type"
            h.send_header(k, v)
        if not has_type:
            h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data) if declared is None else declared))
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()

    @staticmethod
    def _hang_up(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        try:
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = urlsplit(h.path).path
        fault = self._pick(path)
        if self.delay:
            time.sleep(self.delay)
        kind = fault.kind if fault is not None else "pass"
        self.log.append((path, kind))
        if fault is None:
            code, headers, data = self._forward(h, body)
            self._last[path] = (code, headers, data)
            self._send(h, code, headers, data)
            return
        if fault.kind == "status":
            data = json.dumps(fault.body).encode()
            self._send(h, fault.status, fault.headers, data)
        elif fault.kind == "drop":
            self._hang_up(h)
        elif fault.kind == "cut":
            code, headers, data = self._forward(h, body)
            self._send(h, code, headers, data[: max(1, len(data) // 2)], declared=len(data))
            self._hang_up(h)
        elif fault.kind == "garble":
            code, headers, data = self._forward(h, body)
            self._send(h, 200, headers, data[: fault.keep])
        elif fault.kind == "stall":
            time.sleep(fault.seconds)
            try:
                code, headers, data = self._forward(h, body)
                self._send(h, code, headers, data)
            except OSError:
                pass  # the client gave up long ago
        elif fault.kind == "repeat":
            previous = self._last.get(path)
            if previous is None:
                previous = self._forward(h, body)
            self._send(h, *previous)
        else:  # pragma: no cover - a typo in a test
            raise ValueError(fault.kind)


# -------------------------------------------------------------------------------------------------
# What a database holds
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    posts: dict[tuple[str, str], str]  # (platform, post_id) -> digest of the content columns
    mentions: dict[tuple[str, str], str]

    def post_keys(self) -> set[tuple[str, str]]:
        return set(self.posts)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:16]


def snapshot(db: Path) -> Snapshot:
    """The posts and mentions in ``db`` with a digest of their content (not ``fetched_at``,
    which differs between runs by design)."""
    from engage.store import open_store

    with open_store(db, read_only=True, lock_timeout=30) as store:
        posts = {
            (p.platform, p.post_id): _digest(
                p.account,
                p.created_at,
                p.text,
                p.kind,
                p.url,
                p.reply_to_post,
                p.reply_to_user,
                p.quoted_post,
                p.reposted_post,
                p.urls,
                p.mentions,
                p.client,
                p.lang,
            )
            for batch in store.iter_posts()
            for p in batch
        }
        mentions = {
            (m.platform, m.mention_id): _digest(
                m.account, m.author, m.created_at, m.text, m.kind, m.url, m.reply_to_post
            )
            for m in store.iter_mentions()
        }
    return Snapshot(posts, mentions)


# -------------------------------------------------------------------------------------------------
# Secrets
# -------------------------------------------------------------------------------------------------


def secret_forms(secret: str) -> list[bytes]:
    """The byte forms a secret could be written in: UTF-8, UTF-16 (both orders), and for long
    ones a 12-character piece from the middle (catches a secret cut by a line break)."""
    forms = [secret.encode(), secret.encode("utf-16-le"), secret.encode("utf-16-be")]
    if len(secret) >= 24:
        mid = len(secret) // 2
        forms.append(secret[mid - 6 : mid + 6].encode())
    return forms


def scan_for_secrets(
    root: Path, secrets: Iterable[str], *, skip: Iterable[str] = ()
) -> dict[str, list[str]]:
    """``{file: [secrets found in it]}`` for every file under ``root`` (names in ``skip`` left
    out). Empty when nothing leaked."""
    skipped = set(skip)
    found: dict[str, list[str]] = {}
    forms = {s: secret_forms(s) for s in secrets}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name in skipped:
                continue
            path = Path(dirpath) / name
            try:
                data = path.read_bytes()
            except OSError:
                continue
            hits = [s for s, fs in forms.items() if any(f in data for f in fs)]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def texts_with_secrets(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    found = []
    for text in texts:
        for s in secrets:
            forms = [s] + ([s[len(s) // 2 - 6 : len(s) // 2 + 6]] if len(s) >= 24 else [])
            if any(f in text for f in forms):
                found.append(s)
    return found


# -------------------------------------------------------------------------------------------------
# Small helpers
# -------------------------------------------------------------------------------------------------


def one_error_line(stderr: str) -> str:
    """The single ``engage: error:`` line of a failed run (asserts there is exactly one line of
    error and no traceback)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("engage: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def wait_until(check: Callable[[], bool], timeout: float = 30.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


@dataclass
class SleepRecorder:
    """Stands in for ``time.sleep`` in a fetch: records every wait, never really waits."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def iter_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        yield from fh
