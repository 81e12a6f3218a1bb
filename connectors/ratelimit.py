"""Rate limits and retries for every connector, in one place.

Each connector translates its SDK's exceptions into a ``Failure`` and lets a ``RetryPolicy`` decide
what to do: wait for a rate-limit reset, retry with backoff, or stop with one clear line.

API
---

``policy = RetryPolicy(max_retries=5, max_wait=900.0, sleep=time.sleep, clock=time.time)``
    ``max_retries``: retries of one request (rate-limit waits count too) before giving up;
    ``max_wait``: the longest single wait for a rate-limit reset
    (``fetch.max_rate_limit_wait_seconds``);
    ``sleep``/``clock``/``rng``: injectable, so tests never really wait;
    ``on_wait(seconds, reason)``: told before every wait (the CLI shows it on the progress line).
    ``RetryPolicy.from_settings(FetchSettings, ...)`` builds one from the ``[fetch]`` config.

``policy.call(fn, *args, classify=..., what="Mastodon own posts", budget=None, **kwargs)``
    Runs ``fn(*args, **kwargs)``. When it raises, ``classify(exc)`` returns one of

    - ``RateLimited(reset_at)``: HTTP 429; ``reset_at`` is the epoch second the limit resets
      (None if unknown: then the budget's last reset header, else backoff);
    - ``Transient(detail)``: network trouble or a 5xx; retried with exponential backoff and jitter;
    - ``AuthFailed(detail)``: a token that is expired, revoked or lacks a scope: ``AuthError``
      at once;
    - ``Fatal(detail)``: anything else the platform refused: ``ConnectorError`` at once;
    - ``None``: not a platform failure (a bug): the exception is re-raised unchanged.

    Past ``max_retries``, or when a reset is further away than ``max_wait``, it raises
    ``RateLimitError``/``ConnectorError`` (exit code 4) with one line saying what happened and that
    the next ``engage fetch`` resumes from the stored cursor.

``budget = HeaderBudget(); budget.install(session)``
    A ``requests`` response hook that reads ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` (epoch
    seconds, or an ISO time as Mastodon sends it) from every response. Given to ``policy.call``, a
    spent budget (remaining 0, reset in the future) makes the policy wait for the reset *before* the
    request instead of running into a 429.

Secrets never reach a message made here: only ``what`` and the classifier's ``detail`` do, and
classifiers must not put tokens into ``detail``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from connectors.base import FetchSettings
from engage.errors import AuthError, ConnectorError, RateLimitError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RateLimited:
    reset_at: float | None = None


@dataclass(frozen=True)
class Transient:
    detail: str


@dataclass(frozen=True)
class AuthFailed:
    detail: str


@dataclass(frozen=True)
class Fatal:
    detail: str


Failure = RateLimited | Transient | AuthFailed | Fatal
Classifier = Callable[[BaseException], Failure | None]


def parse_reset(value: str | None, now: float | None = None) -> float | None:
    """An ``X-RateLimit-Reset`` header as epoch seconds: X sends epoch seconds, Mastodon an ISO
    time; a small number (under a day) is taken as seconds from ``now`` (some servers send that)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    if number < 86_400:
        return (time.time() if now is None else now) + number
    return number


class HeaderBudget:
    """The rate-limit budget the server last reported, read from response headers."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self._clock = clock

    def observe(self, headers: Any) -> None:
        remaining = headers.get("X-RateLimit-Remaining") or headers.get("x-rate-limit-remaining")
        reset = headers.get("X-RateLimit-Reset") or headers.get("x-rate-limit-reset")
        if remaining is not None:
            try:
                self.remaining = int(float(remaining))
            except ValueError:
                self.remaining = None
        if reset is not None:
            now = self._clock()
            reset_at = parse_reset(reset, now)
            if reset_at is not None:
                # the reset is in the server's clock: move it to ours by the Date header's skew
                reset_at += _clock_skew(headers.get("Date"), now)
            self.reset_at = reset_at

    def install(self, session: Any) -> None:
        """Observe every response of a ``requests.Session``."""

        def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
            self.observe(response.headers)
            return response

        session.hooks.setdefault("response", []).append(hook)

    def spent_until(self) -> float | None:
        """The reset time when the budget is used up and the reset is still ahead, else None."""
        if (
            self.remaining is not None
            and self.remaining <= 0
            and self.reset_at is not None
            and self.reset_at > self._clock()
        ):
            return self.reset_at
        return None


def _clock_skew(date_header: str | None, now: float) -> float:
    """Our clock minus the server's (from its ``Date`` header); 0 when unknown or under 2 s."""
    if not date_header:
        return 0.0
    try:
        server = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0
    skew = now - server
    if abs(skew) < 2:
        return 0.0
    if abs(skew) > 60:
        log.warning("the server's clock differs from this machine's by %.0f s", skew)
    return skew


def _clock_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M UTC")


class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, and waits for rate-limit resets."""

    def __init__(
        self,
        *,
        max_retries: int = 5,
        max_wait: float = 900.0,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.clock = clock
        self.rng = rng
        self.on_wait = on_wait
        self.waited = 0.0  # total seconds slept, for reports and tests

    @classmethod
    def from_settings(cls, settings: FetchSettings, **kwargs: Any) -> RetryPolicy:
        """A policy with the settings' limits, sleep, clock and wait callback."""
        options: dict[str, Any] = {
            "max_retries": settings.max_retries,
            "max_wait": settings.max_rate_limit_wait,
            "sleep": settings.sleep,
            "clock": settings.clock,
            "on_wait": settings.on_wait,
        }
        options.update(kwargs)
        return cls(**options)

    def backoff(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (0-based): doubling, capped, with "equal jitter" (half
        fixed, half random) so many clients do not retry in step."""
        delay = min(self.max_delay, self.base_delay * (2**attempt))
        return delay / 2 + self.rng() * delay / 2

    def _wait(self, seconds: float, reason: str) -> None:
        seconds = max(0.0, seconds)
        log.info("%s; waiting %.0f s", reason, seconds)
        if self.on_wait is not None:
            self.on_wait(seconds, reason)
        self.sleep(seconds)
        self.waited += seconds

    def _wait_for_reset(self, reset_at: float, what: str) -> None:
        wait = reset_at - self.clock() + 1.0  # one second of margin for clock skew
        if wait > self.max_wait:
            minutes = max(1, round((reset_at - self.clock()) / 60))
            raise RateLimitError(
                f"{what}: rate limited until {_clock_text(reset_at)} (in about {minutes} min), "
                f"longer than fetch.max_rate_limit_wait_seconds ({self.max_wait:g} s); what was "
                "fetched is saved, and the next 'engage fetch' resumes from there"
            )
        self._wait(wait, f"{what}: rate limited")

    def call(
        self,
        fn: Callable[..., T],
        *args: Any,
        classify: Classifier,
        what: str,
        budget: HeaderBudget | None = None,
        **kwargs: Any,
    ) -> T:
        attempt = 0
        while True:
            if budget is not None:
                spent = budget.spent_until()
                if spent is not None:
                    self._wait_for_reset(spent, what)
                    budget.remaining = None  # the reset has passed; the next response tells more
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                if isinstance(failure, AuthFailed):
                    raise AuthError(
                        f"{what}: the platform refused the credentials ({failure.detail}); add "
                        "the account again with 'engage account add'"
                    ) from None
                if isinstance(failure, Fatal):
                    raise ConnectorError(f"{what}: {failure.detail}") from None
                if attempt >= self.max_retries:
                    if isinstance(failure, RateLimited):
                        raise RateLimitError(
                            f"{what}: still rate limited after {attempt} retries "
                            "(fetch.max_retries); what was fetched is saved, and the next "
                            "'engage fetch' resumes from there"
                        ) from None
                    raise ConnectorError(
                        f"{what}: {failure.detail}; gave up after {attempt} retries "
                        "(fetch.max_retries). What was fetched is saved; run 'engage fetch' "
                        "again later"
                    ) from None
                if isinstance(failure, RateLimited):
                    reset_at = failure.reset_at
                    if reset_at is None and budget is not None:
                        reset_at = budget.reset_at
                    if reset_at is not None and reset_at > self.clock():
                        self._wait_for_reset(reset_at, what)
                        if budget is not None:
                            budget.remaining = None  # the reset has passed
                    else:
                        self._wait(self.backoff(attempt), f"{what}: rate limited")
                else:
                    self._wait(self.backoff(attempt), f"{what}: {failure.detail}")
                attempt += 1
