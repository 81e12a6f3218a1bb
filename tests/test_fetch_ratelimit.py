"""The one rate-limit and retry policy, the gap-free paging, and the pure normalisers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors import mastodon as cm
from connectors import x as cx
from connectors.paging import RawPage, walk
from connectors.ratelimit import (
    AuthFailed,
    Fatal,
    HeaderBudget,
    RateLimited,
    RetryPolicy,
    Transient,
    parse_reset,
)
from engage.credentials import SecretMap
from engage.errors import AuthError, ConnectorError, RateLimitError


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class Boom(Exception):
    pass


def _policy(t: FakeTime, **kw: Any) -> RetryPolicy:
    return RetryPolicy(sleep=t.sleep, clock=t.clock, rng=lambda: 0.5, **kw)


def _failing(failures: list[Exception], result: str = "ok") -> Any:
    def fn() -> str:
        if failures:
            raise failures.pop(0)
        return result

    return fn


def test_waits_for_a_reset_within_the_limit_then_succeeds() -> None:
    t = FakeTime()
    reset = t.now + 120
    classify = lambda e: RateLimited(reset)  # noqa: E731
    out = _policy(t, max_wait=900).call(_failing([Boom()]), classify=classify, what="X a: posts")
    assert out == "ok"
    assert t.slept == [pytest.approx(121)]


def test_a_reset_past_the_wait_stops_with_one_line_and_exit_code_4() -> None:
    t = FakeTime()
    classify = lambda e: RateLimited(t.now + 3600)  # noqa: E731
    with pytest.raises(RateLimitError) as info:
        _policy(t, max_wait=900).call(_failing([Boom()]), classify=classify, what="X a: posts")
    msg = info.value.message
    assert "\n" not in msg and "X a: posts" in msg and "resumes" in msg and "900" in msg
    assert info.value.exit_code == 4 and t.slept == []


def test_transient_failures_back_off_exponentially_with_jitter_and_give_up() -> None:
    t = FakeTime()
    policy = RetryPolicy(max_retries=4, base_delay=1, max_delay=5, sleep=t.sleep, clock=t.clock)
    with pytest.raises(ConnectorError) as info:
        policy.call(_failing([Boom()] * 10), classify=lambda e: Transient("HTTP 503"), what="M a")
    assert "gave up after 4 retries" in info.value.message and "HTTP 503" in info.value.message
    assert len(t.slept) == 4
    caps = [1, 2, 4, 5]
    for slept, cap in zip(t.slept, caps, strict=True):
        assert cap / 2 <= slept <= cap


def test_retries_recover_when_the_failure_passes() -> None:
    t = FakeTime()
    out = _policy(t).call(_failing([Boom(), Boom()]), classify=lambda e: Transient("x"), what="w")
    assert out == "ok" and len(t.slept) == 2 and t.slept[1] > t.slept[0]


def test_auth_and_fatal_failures_stop_at_once_and_bugs_are_not_swallowed() -> None:
    t = FakeTime()
    with pytest.raises(AuthError):
        _policy(t).call(_failing([Boom()]), classify=lambda e: AuthFailed("HTTP 401"), what="w")
    with pytest.raises(ConnectorError, match="HTTP 404"):
        _policy(t).call(_failing([Boom()]), classify=lambda e: Fatal("HTTP 404"), what="w")
    with pytest.raises(Boom):
        _policy(t).call(_failing([Boom()]), classify=lambda e: None, what="w")
    assert t.slept == []


def test_a_spent_budget_waits_before_the_request() -> None:
    t = FakeTime()
    budget = HeaderBudget(clock=t.clock)
    budget.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(t.now + 60))})
    calls: list[float] = []
    _policy(t).call(lambda: calls.append(t.now), classify=lambda e: None, what="w", budget=budget)
    assert t.slept == [pytest.approx(61, abs=1)] and calls


def test_reset_headers_in_both_platform_formats() -> None:
    assert parse_reset("1800000060") == 1_800_000_060
    iso = parse_reset("2026-08-01T13:55:00.029100Z")
    assert iso == pytest.approx(datetime(2026, 8, 1, 13, 55, 0, 29100, tzinfo=UTC).timestamp())
    assert parse_reset("30", now=100.0) == 130.0
    assert parse_reset("soon") is None


def test_secret_map_hides_values_in_its_repr() -> None:
    m = SecretMap({"access_token": "tok-SECRET", "expires_at": 5.0})
    assert m["access_token"] == "tok-SECRET" and m.get("expires_at") == 5.0
    assert "tok-SECRET" not in repr(m) and "tok-SECRET" not in f"{m}"


# -- paging -------------------------------------------------------------------------------------


def _timeline(ids: list[int]) -> Any:
    """A newest-first API over ``ids`` with since/max bounds, 3 a page."""

    def fetch(above: str | None, below: str | None) -> RawPage[int]:
        chosen = sorted(ids, reverse=True)
        if above:
            chosen = [i for i in chosen if i > int(above)]
        if below:
            chosen = [i for i in chosen if i < int(below)]
        return RawPage(chosen[:3], more=len(chosen) > 3, reads=len(chosen[:3]))

    return fetch


def _run(
    ids: list[int], cursor: Any, since: datetime | None = None, stop_after: int | None = None
) -> tuple[list[int], Any]:
    got: list[int] = []
    last = cursor
    for n, page in enumerate(
        walk(
            "posts",
            cursor,
            since,
            fetch_page=_timeline(ids),
            convert=lambda items: ([], [int(i) for i in items]),  # type: ignore[misc]
            item_id=str,
            item_time=lambda i: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i),
        )
    ):
        got += page.mentions  # type: ignore[arg-type]
        last = page.cursor
        if stop_after is not None and n + 1 >= stop_after:
            break
    return got, last


def test_paging_interrupted_anywhere_resumes_without_gaps_or_repeats() -> None:
    ids = list(range(1, 11))
    for stop in range(1, 5):
        got, cursor = _run(ids, None, stop_after=stop)
        ids2 = [*ids, 11, 12, 13, 14]  # new posts arrive meanwhile
        rest, cursor = _run(ids2, cursor)
        assert sorted(got + rest) == ids2 and len(got + rest) == len(ids2)
        more, _ = _run([*ids2, 15], cursor)
        assert more == [15]


def test_paging_since_sets_a_floor_and_an_earlier_since_extends_it() -> None:
    ids = list(range(1, 11))
    got, cursor = _run(ids, None, since=datetime(2026, 1, 7, tzinfo=UTC))
    assert sorted(got) == [6, 7, 8, 9, 10] and cursor["floor"].startswith("2026-01-07")
    got, cursor = _run(ids, cursor)
    assert got == []
    got, cursor = _run(ids, cursor, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert sorted(got) == [1, 2, 3, 4, 5] and cursor["complete"] is True


# -- normalisers --------------------------------------------------------------------------------

STATUS = {
    "id": "117020586027094262",
    "created_at": "2026-08-01T13:53:58.160Z",
    "in_reply_to_id": None,
    "in_reply_to_account_id": None,
    "language": "en",
    "uri": "http://localhost:3000/ap/users/1/statuses/117020586019094258",
    "url": "http://localhost:3000/@mastodonpy_test/117020586019094258",
    "content": '<p>New post: <a href="https://blog.example/x" rel="nofollow"><span class="invisible">https://</span><span class="">blog.example/x</span></a> &amp; more</p>',
    "reblog": None,
    "application": {"name": '<a href="https://buffer.com">Buffer</a>', "website": None},
    "mentions": [],
    "quote": None,
    "card": {"url": "https://blog.example/x"},
    "account": {"id": "1", "acct": "mastodonpy_test"},
}


def test_normalise_status_plain_text_app_and_links() -> None:
    p = cm.normalise_status(STATUS, "pat@localhost")
    assert p.text == "New post: blog.example/x & more"
    assert p.client == "Buffer" and p.kind == "post"
    assert p.urls == ["https://blog.example/x"]
    assert p.created_at == datetime(2026, 8, 1, 13, 53, 58, 160000, tzinfo=UTC)
    assert p.raw == STATUS


def test_normalise_status_quote_shapes() -> None:
    shallow = {**STATUS, "quote": {"state": "accepted", "quoted_status_id": "42"}}
    assert (
        cm.normalise_status(shallow, "a").kind,
        cm.normalise_status(shallow, "a").quoted_post,
    ) == ("quote", "42")
    reply = {**STATUS, "in_reply_to_id": "7", "in_reply_to_account_id": "1"}
    assert cm.normalise_status(reply, "a").reply_to_user == "mastodonpy_test"


def test_normalise_notification_without_a_status_is_skipped() -> None:
    assert (
        cm.normalise_notification({"id": "1", "type": "mention", "status": None}, "a", "1") is None
    )


def test_normalise_tweet_kinds() -> None:
    base = {
        "id": "5",
        "text": "t",
        "created_at": "2026-03-01T09:00:00.000Z",
        "edit_history_tweet_ids": ["5"],
    }
    assert cx.normalise_tweet(base, "alice").kind == "post"
    rt = {**base, "text": "RT @bob: hi", "referenced_tweets": [{"type": "retweeted", "id": "4"}]}
    p = cx.normalise_tweet(rt, "alice")
    assert (p.kind, p.reposted_post, p.reply_to_user) == ("repost", "4", "bob")
    q = {**base, "referenced_tweets": [{"type": "quoted", "id": "3"}], "conversation_id": "5"}
    assert (cx.normalise_tweet(q, "alice").kind, cx.normalise_tweet(q, "alice").quoted_post) == (
        "quote",
        "3",
    )
    r = {
        **base,
        "referenced_tweets": [{"type": "replied_to", "id": "2"}],
        "in_reply_to_user_id": "9",
    }
    p = cx.normalise_tweet(r, "alice", {"9": "carol"})
    assert (p.kind, p.reply_to_post, p.reply_to_user, p.client) == ("reply", "2", "carol", None)
