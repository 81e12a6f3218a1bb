"""Streaks, rolling counts, corrections, people and who is waiting for an answer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from engage import goals
from engage.config import load_config
from engage.store import open_store
from tests.goals_support import build_db, make_mention, make_post, write_config

NOW = datetime(2025, 6, 20, 15, 0, tzinfo=UTC)  # a Friday afternoon, UTC config


def _day(n: int, hour: int = 12) -> datetime:
    """``n`` days before NOW's day, at ``hour`` UTC."""
    return datetime(2025, 6, 20, hour, tzinfo=UTC) - timedelta(days=n)


def test_streak_rolling_and_an_open_day(tmp_path: Path) -> None:
    config = load_config()  # UTC (conftest), goal 2-3
    # genuine per day, oldest first: 6 days ago .. today
    per_day = {9: 3, 8: 0, 7: 2, 6: 1, 5: 2, 4: 3, 3: 2, 2: 4, 1: 2, 0: 1}
    posts = []
    for n, k in per_day.items():
        for i in range(k):
            posts.append((make_post(_day(n, 8 + i)), ("ask", "answer", "comment")[i % 3]))
        posts.append((make_post(_day(n, 20)), "auto_promo"))  # never counts
    db = build_db(tmp_path / "s.duckdb", posts)
    with open_store(db, read_only=True) as store:
        today = goals.day_status(store, config, now=NOW)
        yesterday = goals.day_status(store, config, date(2025, 6, 19), NOW)
        six = goals.day_status(store, config, date(2025, 6, 14), NOW)
    assert today.is_open and today.count == 1 and today.status == "below"
    # today is still running: it does not break the 5-day streak (days 5..1)
    assert today.streak_days == 5
    assert today.rolling_7d == 2 + 3 + 2 + 4 + 2 + 1 + 1
    assert not yesterday.is_open and yesterday.streak_days == 5
    assert yesterday.status == "met" and yesterday.rolling_7d == 2 + 1 + 2 + 3 + 2 + 4 + 2
    assert six.streak_days == 0 and six.status == "below"
    assert today.total_posts == 2
    # once today reaches the minimum, the streak includes it
    with open_store(db) as store:
        store.upsert_posts([p := make_post(_day(0, 13))])
        from engage.store import LabelRow

        store.save_labels([LabelRow(p.platform, p.post_id, "comment", 0.9, "t", "t1")])
    with open_store(db, read_only=True) as store:
        today = goals.day_status(store, config, now=NOW)
    assert today.count == 2 and today.status == "met" and today.streak_days == 6


def test_long_streak_reaches_past_the_first_chunk(tmp_path: Path) -> None:
    config = load_config()
    posts = [
        (make_post(_day(n, h)), "comment") for n in range(1, 131) for h in (9, 10)
    ]  # 130 days in a row, then nothing before
    db = build_db(tmp_path / "long.duckdb", posts)
    with open_store(db, read_only=True) as store:
        st = goals.day_status(store, config, now=NOW)
    assert st.streak_days == 130


def test_corrections_win_and_unlabelled_posts_are_reported(tmp_path: Path) -> None:
    config = load_config()
    a = make_post(_day(0, 9))
    b = make_post(_day(0, 10))
    c = make_post(_day(0, 11))
    db = build_db(
        tmp_path / "c.duckdb",
        [(a, "auto_promo"), (b, "comment"), (c, None)],
        corrections=[(a, "answer"), (b, "share")],
    )
    with open_store(db, read_only=True) as store:
        st = goals.day_status(store, config, now=NOW)
    assert st.count == 1
    assert [i.post_id for i in st.interactions] == [a.post_id]
    assert st.interactions[0].label == "answer" and st.interactions[0].corrected
    assert st.by_label == {"ask": 0, "answer": 1, "comment": 0}
    assert st.unlabelled == 1 and st.total_posts == 3


def test_people_are_distinct_accounts_replied_to_mentioned_or_quoted(tmp_path: Path) -> None:
    config = load_config()
    posts = [
        (make_post(_day(0, 9), reply_to_user="ana@social.example", kind="reply"), "answer"),
        (make_post(_day(0, 10), mentions=["@Ana@social.example", "ben@hachyderm.example"]), "ask"),
        (
            make_post(
                _day(0, 11),
                kind="quote",
                quoted_post="https://social.example/@chen/1234",
                mentions=["me@example.social"],  # the user's own handle is not a person
            ),
            "comment",
        ),
        (make_post(_day(0, 12), mentions=["dara@x.example"]), "share"),  # not genuine
    ]
    db = build_db(tmp_path / "p.duckdb", posts)
    with open_store(db, read_only=True) as store:
        st = goals.day_status(store, config, now=NOW)
    assert st.people == ["ana@social.example", "ben@hachyderm.example", "chen@social.example"]
    assert goals.display_handle("mastodon", "ana@social.example") == "@ana"
    assert goals.display_handle("x", "@ana_codes") == "@ana_codes"
    bsky = make_post(NOW, "bluesky", quoted_post="at://did:plc:abc/app.bsky.feed.post/1")
    assert goals.people_of(bsky) == ["did:plc:abc"]


def test_waiting_list_and_median_time_to_answer(tmp_path: Path) -> None:
    config = load_config()
    q1 = make_mention(NOW - timedelta(hours=3), "ana@social.example", text="@me a question?")
    answered_direct = make_mention(NOW - timedelta(days=2), "ben@hachyderm.example")
    answered_thread = make_mention(
        NOW - timedelta(days=3), "chen@fosstodon.example", thread_root="root-1"
    )
    answered_before = make_mention(NOW - timedelta(days=4), "dara@mastodon.example")
    old = make_mention(NOW - timedelta(days=20), "eli@social.example")
    other_platform = make_mention(
        NOW - timedelta(hours=1), "fatima.bsky.social", "bluesky", text="nice one"
    )
    posts = [
        # a reply to the post itself, 1 hour later
        (
            make_post(
                answered_direct.created_at + timedelta(hours=1),
                kind="reply",
                reply_to_post=answered_direct.mention_id,
                reply_to_user=answered_direct.author,
            ),
            "answer",
        ),
        # a reply to the same person elsewhere in the same thread, 3 hours later
        (
            make_post(
                answered_thread.created_at + timedelta(hours=3),
                kind="reply",
                reply_to_post="some-other-post",
                reply_to_user="@Chen@fosstodon.example",
                thread_root="root-1",
            ),
            "comment",
        ),
        # a reply to Dara *before* Dara's mention does not answer it
        (
            make_post(
                answered_before.created_at - timedelta(hours=1),
                kind="reply",
                reply_to_post="earlier",
                reply_to_user=answered_before.author,
                thread_root=answered_before.thread_root,
            ),
            "comment",
        ),
        # a reply on another platform does not answer the Bluesky mention
        (
            make_post(
                NOW - timedelta(minutes=30),
                kind="reply",
                reply_to_post=other_platform.mention_id,
                reply_to_user=other_platform.author,
            ),
            "answer",
        ),
    ]
    mentions = [q1, answered_direct, answered_thread, answered_before, old, other_platform]
    db = build_db(tmp_path / "w.duckdb", posts, mentions)
    with open_store(db, read_only=True) as store:
        w = goals.waiting_for_you(store, config, NOW)
        st = goals.day_status(store, config, now=NOW)
    assert [x.author for x in w.items] == [
        "fatima.bsky.social",
        "ana@social.example",
        "dara@mastodon.example",
    ]  # newest first; Eli's is older than waiting_days (14)
    assert w.answered == 2
    assert w.median_answer == timedelta(hours=2)
    assert w.items[1].is_question and w.items[1].who == "@ana"
    assert [x.author for x in st.waiting.items] == [x.author for x in w.items]
    # suggestions: answer the question first, then the others, at most three
    sugg = goals.suggestions(w, [], NOW)
    assert sugg[0].kind == "answer" and sugg[0].person == "ana@social.example"
    assert len(sugg) <= 3


def test_waiting_days_is_configurable(tmp_path: Path, engage_home: Path) -> None:
    config = write_config(engage_home, "[goal]\nwaiting_days = 30\n")
    old = make_mention(NOW - timedelta(days=20), "eli@social.example")
    db = build_db(tmp_path / "wd.duckdb", [], [old])
    with open_store(db, read_only=True) as store:
        assert [x.author for x in goals.waiting_for_you(store, config, NOW).items] == [
            "eli@social.example"
        ]


def test_lapsed_contacts_and_reconnect_suggestions(tmp_path: Path) -> None:
    config = load_config()
    posts = [
        (
            make_post(NOW - timedelta(days=60 + i), reply_to_user="ben@h.example", kind="reply"),
            "answer",
        )
        for i in range(3)
    ]
    posts.append((make_post(NOW - timedelta(days=50), mentions=["ana@s.example"]), "comment"))
    posts.append((make_post(NOW - timedelta(days=2), mentions=["ana@s.example"]), "comment"))
    db = build_db(tmp_path / "l.duckdb", posts)
    with open_store(db, read_only=True) as store:
        lapsed = goals.lapsed_contacts(store, config, NOW)
        st = goals.day_status(store, config, now=NOW)
    assert [(c.person, c.posts) for c in lapsed] == [("ben@h.example", 3)]
    sugg = goals.suggestions(st.waiting, lapsed, NOW)
    assert sugg[0].kind == "reconnect" and "@ben" in sugg[0].text and "8 weeks" in sugg[0].text
    assert sugg[-1].kind == "ask"


def test_series_ratio_label_mix_and_automation(tmp_path: Path) -> None:
    config = load_config()
    posts = []
    for n in range(14):
        posts.append((make_post(_day(n, 9), client="Ivory"), "comment"))
        posts.append(
            (
                make_post(_day(n, 10), "x", client="dlvr.it", urls=["https://blog.example/a"]),
                "auto_promo",
            )
        )
        if n < 7:  # the last week got worse: one more non-genuine post a day
            posts.append((make_post(_day(n, 11), "bluesky", urls=["https://o.example"]), "share"))
    db = build_db(tmp_path / "r.duckdb", posts)
    today = date(2025, 6, 20)
    with open_store(db, read_only=True) as store:
        series = goals.daily_series(store, config, 14, today, now=NOW)
        r7 = goals.ratio(store, config, 7, today, now=NOW)
        mix = goals.label_mix(store, config, today - timedelta(days=6), today)
        auto = goals.automation_sources(store, config, today - timedelta(days=29), today)
    assert [p.total for p in series] == [2] * 7 + [3] * 7
    assert series[-1].ratio == 1 / 3
    assert r7.ratio == 7 / 21 and r7.previous == 0.5 and r7.trend == "down"
    assert mix["x"]["auto_promo"] == 7 and mix["bluesky"]["share"] == 7
    assert mix["mastodon"]["comment"] == 7
    assert auto.apps[0].app == "dlvr.it" and auto.apps[0].posts == 14
    assert auto.apps[0].known_automation
    assert auto.apps[1].app is None and auto.apps[1].platforms == ["bluesky"]
    assert [(x.url, x.posts) for x in auto.recycled_links] == [
        ("https://blog.example/a", 14),
        ("https://o.example", 7),
    ]
