"""Service faults, injected by a proxy in front of each fake platform and met by the real SDKs
(Mastodon.py, tweepy, atproto) through the real CLI: 429 with reset headers (within and past the
configured wait), 500/502/503 once and without end, a connection closed before the answer or in
the middle of a page, truncated JSON, a stall past the client's timeout, a revoked token, a page
that repeats the previous one (once, and without end).

Every case ends in one of two ways: the fetch completes with every post exactly once, or it
stops with one error line and exit code 4, and the next run resumes from the last committed
cursor (its first request carries that cursor) and completes. "Exactly once" is checked twice:
the stored keys equal the fake's, and the "N new posts" lines of all runs add up to the number
of posts (a post stored twice or counted twice would break the sum)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fetch_helpers import quick_labels  # noqa: F401  (autouse fixture)
from reliability_rigs import Rig, bluesky_rig, mastodon_rig, write_config, x_rig
from reliability_support import (
    CUT,
    DROP,
    GARBLE,
    REPEAT,
    Fault,
    SleepRecorder,
    one_error_line,
    rate_limited,
    snapshot,
    stall,
    status,
)

from engage import paths

MAX_RETRIES = 3
MAX_WAIT = 60

PLATFORMS = ("mastodon", "x", "bluesky")


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """Fetches record their waits instead of sleeping (the policy's own clock stays real)."""
    import engage.cli.cmd_fetch as cmd_fetch
    import engage.fetch

    recorder = SleepRecorder()
    real = engage.fetch.fetch_settings

    def settings(config: Any, *, max_reads: int | None = None, **kw: Any) -> Any:
        return real(config, max_reads=max_reads, sleep=recorder)

    monkeypatch.setattr(cmd_fetch, "fetch_settings", settings)
    return recorder


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> float:
    """Client timeouts of one second, so a stalled server is met quickly."""
    import connectors.bluesky as cb
    import connectors.mastodon as cm
    import connectors.x as cx

    for module in (cm, cx, cb):
        monkeypatch.setattr(module, "TIMEOUT", 1.0)
    return 1.0


@pytest.fixture(params=PLATFORMS)
def rig(
    request: pytest.FixtureRequest,
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    engage_home: Any,
) -> Iterator[Rig]:
    write_config(
        engage_home,
        f"[fetch]\nmax_retries = {MAX_RETRIES}\nmax_rate_limit_wait_seconds = {MAX_WAIT}\n",
    )
    if request.param == "mastodon":
        with mastodon_rig(run_cli) as r:
            yield r
    elif request.param == "x":
        with x_rig(run_cli, monkeypatch) as r:
            yield r
    else:
        with bluesky_rig(run_cli, monkeypatch) as r:
            yield r


_NEW = re.compile(r"(\d+) new posts?, (\d+) new mentions?")


def _new_counts(stdout: str) -> tuple[int, int]:
    m = _NEW.search(stdout)
    assert m, stdout
    return int(m.group(1)), int(m.group(2))


class Runs:
    """Fetches of one rig, with their new-post counts added up."""

    def __init__(self, rig: Rig, run_cli: Callable[..., Any]) -> None:
        self.rig = rig
        self.run_cli = run_cli
        self.new_posts = 0
        self.new_mentions = 0
        self.codes: list[int] = []

    def fetch(self) -> Any:
        r = self.run_cli("fetch")
        assert "Traceback" not in r.stderr, r.stderr
        posts, mentions = _new_counts(r.stdout + "\n" + r.stderr)
        self.new_posts += posts
        self.new_mentions += mentions
        self.codes.append(r.exit_code)
        return r

    def complete(self) -> None:
        """Everything stored exactly once, and counted exactly once over all runs."""
        snap = snapshot(paths.db_path())
        assert snap.post_keys() == self.rig.expected_posts
        assert set(snap.mentions) == self.rig.expected_mentions
        assert self.new_posts == len(self.rig.expected_posts)
        assert self.new_mentions == len(self.rig.expected_mentions)

    def stopped(self, r: Any, *words: str) -> str:
        assert r.exit_code == 4, (r.stdout, r.stderr)
        line = one_error_line(r.stderr)
        for w in words:
            assert w in line, line
        assert "stopped early" in r.stdout
        for s in self.rig.secrets:
            assert s not in r.stdout + r.stderr
        return line

    def resumes(self) -> None:
        """The next run starts from the committed cursor: its first own-posts request already
        carries it, then the run completes."""
        before = len(self.rig.requests_to(self.rig.posts_path))
        self.rig.proxy.clear()
        r = self.fetch()
        assert r.exit_code == 0, r.stderr
        first = self.rig.requests_to(self.rig.posts_path)[before]
        assert first.arg(self.rig.resume_param), "the rerun started again from the top"
        self.complete()


def _second_page(rig: Rig, fault: Fault, *, every: bool = False) -> None:
    rig.proxy.inject(rig.posts_path, fault, nth=1, every=every)


# -- faults a retry gets past ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [status(500), status(502), status(503), DROP, CUT],
    ids=["500", "502", "503", "closed-before-answer", "dropped-mid-page"],
)
def test_a_passing_fault_is_retried_with_backoff_and_the_fetch_completes(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder, fault: Fault
) -> None:
    _second_page(rig, fault)
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    assert r.exit_code == 0, r.stderr
    assert rig.proxy.injected() == 1
    runs.complete()
    # one backoff: base 1 s with equal jitter, so between 0.5 and 1 s
    assert len(sleeps.waits) == 1 and 0.5 <= sleeps.waits[0] <= 1.0


def test_a_fault_that_does_not_pass_gives_up_after_max_retries_then_resumes(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    _second_page(rig, status(503), every=True)
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    runs.stopped(r, "gave up after 3 retries", "fetch.max_retries")
    assert rig.proxy.injected() == MAX_RETRIES + 1
    # exponential backoff with jitter: attempt k waits between 2^k/2 and 2^k seconds
    assert len(sleeps.waits) == MAX_RETRIES
    for k, wait in enumerate(sleeps.waits):
        assert 2**k / 2 <= wait <= 2**k
    assert len(set(sleeps.waits)) == len(sleeps.waits)  # jittered, not in lock step
    runs.resumes()


# -- rate limits ----------------------------------------------------------------------------------


def test_a_429_within_the_configured_wait_is_waited_out(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    _second_page(rig, rate_limited(rig.platform, reset_in=30))
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    assert r.exit_code == 0, r.stderr
    runs.complete()
    # waited until the reset (plus a second of margin), not a blind backoff
    assert len(sleeps.waits) == 1 and 25 <= sleeps.waits[0] <= 32


def test_a_429_past_the_configured_wait_stops_and_the_next_run_resumes(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    _second_page(rig, rate_limited(rig.platform, reset_in=3600))
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    runs.stopped(r, "rate limited until", "fetch.max_rate_limit_wait_seconds (60 s)")
    assert sleeps.waits == []  # did not wait an hour, did not hammer the server either
    assert 0 < runs.new_posts < len(rig.expected_posts)  # the first page is saved
    runs.resumes()


# -- broken answers -------------------------------------------------------------------------------


def test_truncated_json_is_retried_and_nothing_is_lost(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    _second_page(rig, GARBLE)
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    assert rig.proxy.injected() == 1
    assert r.exit_code == 0, r.stderr
    runs.complete()
    assert len(sleeps.waits) == 1  # one backoff, then the page came whole


def test_truncated_json_without_end_stops_in_one_line_and_resumes(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    _second_page(rig, GARBLE, every=True)
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    runs.stopped(r, "cut off or is not JSON", "fetch.max_retries")
    assert rig.proxy.injected() == MAX_RETRIES + 1
    runs.resumes()


def test_a_stalled_server_times_out_and_is_retried(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder, short_timeouts: float
) -> None:
    _second_page(rig, stall(short_timeouts + 1.5))
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    assert r.exit_code == 0, r.stderr
    assert rig.proxy.injected() == 1
    runs.complete()
    assert len(sleeps.waits) == 1


def test_a_revoked_token_stops_at_once_with_one_line_and_no_secret(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    body: dict[str, Any] = {"error": "The access token was revoked"}
    if rig.platform == "bluesky":
        body = {"error": "InvalidToken", "message": "Token has been revoked"}
    _second_page(rig, status(401, body), every=True)
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    runs.stopped(r, "refused the credentials", "engage account add")
    assert rig.proxy.injected() == 1  # no retry of a refused token
    assert sleeps.waits == []
    runs.resumes()  # the token works again (re-added): the fetch goes on where it stopped


def test_a_page_repeated_once_stops_in_one_line_and_stores_nothing_twice(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    _second_page(rig, REPEAT)
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    assert rig.proxy.injected() == 1
    runs.stopped(r, "same page")
    runs.resumes()


def test_a_server_stuck_on_one_page_does_not_loop_forever(
    rig: Rig, run_cli: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    _second_page(rig, REPEAT, every=True)
    runs = Runs(rig, run_cli)
    r = runs.fetch()
    runs.stopped(r, "same page")
    assert rig.proxy.injected() <= 2
    runs.resumes()
