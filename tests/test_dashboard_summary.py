"""The dashboard's first frame from the summary the writers leave (``<db>.dashboard``): the same
data as the full reads while it describes the database, never used once it does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import (
    ACCOUNTS,
    NOW,
    WriterProcess,
    build_db,
    build_empty_db,
    config,
    make_app,
    settle,
)
from textual.widgets import Static

from connectors.base import Mention, Post
from engage import goalcache, goals, nudge, vocab
from engage.config import Config
from engage.dashboard import model, summary
from engage.dashboard.components.panels import WaitingList
from engage.dashboard.components.posts import PostsTable
from engage.dashboard.data import (
    PostFilter,
    StoreGateway,
    load_overview,
    load_posts,
    load_streak,
)
from engage.dashboard.headstart import HeadStart
from engage.store import open_store

pytestmark = pytest.mark.anyio

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


def extra_mentions() -> tuple[list[Mention], list[Post]]:
    """Mentions on the edges of the waiting and answer windows, answered and not, and one
    dated in the future, with the posts that answer two of them."""

    def mention(mid: str, when: Any, text: str = "@sam what do you think?") -> Mention:
        return Mention(
            platform="mastodon",
            mention_id=mid,
            account=ACCOUNTS["mastodon"],
            author=f"{mid}@social.example",
            created_at=when,
            text=text,
            kind="mention",
            url=f"https://social.example/{mid}",
            thread_root=mid,
            source="test",
        )

    def answer(mid: str, when: Any) -> Post:
        return Post(
            platform="mastodon",
            account=ACCOUNTS["mastodon"],
            post_id=f"re-{mid}",
            created_at=when,
            text=f"@{mid} here is what I think",
            kind="reply",
            reply_to_post=mid,
            reply_to_user=f"{mid}@social.example",
            source="test",
        )

    mentions = [
        mention("edge", NOW - 14 * DAY + 2 * HOUR),  # leaves the waiting list two hours on
        mention("later", NOW + HOUR, "@sam see you soon"),  # dated an hour ahead
        mention("quick", NOW - 10 * DAY),
        mention("old", NOW - 30 * DAY + HOUR),  # leaves the answer window an hour on
    ]
    posts = [answer("quick", NOW - 10 * DAY + 2 * HOUR), answer("old", NOW - 30 * DAY + 6 * HOUR)]
    return mentions, posts


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = build_db(tmp_path / "engage.duckdb")
    mentions, posts = extra_mentions()
    with open_store(path) as store:
        store.upsert_mentions(mentions)
        store.upsert_posts(posts)
    return path


def refresh(db: Path, cfg: Config | None = None) -> None:
    """What every engage writer does before its store closes."""
    with open_store(db) as store:
        goalcache.refresh(store, cfg or config(), NOW)


def waiting_key(w: model.WaitingSummaryLike) -> list[Any]:
    items = [
        [i.platform, i.mention_id, i.author, i.created_at, i.text, i.url, i.age, i.who]
        for i in w.items
    ]
    return [items, [i.is_question for i in w.items], w.median_answer]


def overview_key(ov: model.Overview) -> list[Any]:
    assert ov.today is not None and ov.series is not None
    t = ov.today
    return [
        ov.days,
        ov.total_posts,
        ov.platforms,
        (t.day, t.goal.min, t.goal.target, t.count, t.status, t.rolling_7d),
        (t.streak_days, t.people),
        waiting_key(t.waiting),
        [(p.day, p.genuine, p.total, p.ratio) for p in ov.series],
        ov.mix,
    ]


def posts_key(rows: Any) -> list[Any]:
    post = ("platform", "account", "post_id", "created_at", "text", "kind", "url")
    post += ("reposted_post", "client")
    view = ("label", "confidence", "reason", "corrected", "model_label")
    return [[getattr(v.post, k) for k in post] + [getattr(v, k) for k in view] for v in rows]


def full_reads(db: Path, now: Any) -> tuple[model.Overview, model.PostsPage]:
    gateway = StoreGateway(db)
    ov = gateway.read(lambda s: load_overview(s, config(), now, 30))
    page = gateway.read(lambda s: load_posts(s, PostFilter()))
    return ov, page


def test_the_summary_gives_what_the_full_reads_give(db: Path) -> None:
    refresh(db)
    first = summary.load(db, config(), NOW, 30)
    assert first is not None
    ov, page = full_reads(db, NOW)
    assert overview_key(first.overview) == overview_key(ov)
    assert first.overview.today is not None and first.overview.today.streak_days is not None
    assert [w.mention_id for w in ov.today.waiting.items] == ["m-ana-1", "m-chen-1", "edge"]  # type: ignore[union-attr]
    assert ov.today.waiting.median_answer is not None  # type: ignore[union-attr]
    assert posts_key(first.posts.rows) == posts_key(page.rows) and len(page.rows) == 157
    assert first.posts.filter == PostFilter() and first.posts.offset == 0
    assert first.sig == model.db_signature(db)


@pytest.mark.parametrize("later", [HOUR / 2, 90 * timedelta(minutes=1), 3 * HOUR, 8 * HOUR])
def test_the_waiting_list_is_the_one_of_the_moment_it_is_shown(db: Path, later: Any) -> None:
    """Hours after the writer: ages grow, a mention leaves the window, one dated ahead
    arrives, an answer leaves the median's window; exactly as a full read at that moment."""
    refresh(db)
    now = NOW + later
    first = summary.load(db, config(), now, 30)
    assert first is not None and first.overview.today is not None
    with open_store(db, read_only=True) as store:
        live = goals.waiting_for_you(store, config(), now)
    assert waiting_key(first.overview.today.waiting) == waiting_key(live)
    ov, _ = full_reads(db, now)
    assert overview_key(first.overview) == overview_key(ov)


def post_on(day_offset: Any, label: str, pid: str) -> tuple[Post, Any]:
    from engage.store import LabelRow

    post = Post(
        platform="x",
        account=ACCOUNTS["x"],
        post_id=pid,
        created_at=NOW.replace(hour=0, minute=0) + day_offset + 10 * HOUR,
        text=f"@eli_makes {label} {pid}",
        kind="reply" if label in ("answer", "comment") else "post",
        reply_to_user="eli_makes" if label in ("answer", "comment") else None,
        mentions=["eli_makes"] if label in ("answer", "comment") else [],
        source="test",
    )
    return post, LabelRow("x", pid, label, 0.9, "test", "test-1")


def add_posts(db: Path, *items: tuple[Post, Any]) -> None:
    with open_store(db) as store:
        store.upsert_posts([p for p, _ in items])
        store.save_labels([lb for _, lb in items])


@pytest.mark.parametrize("reached", [False, True])
@pytest.mark.parametrize("later", [DAY - 15 * HOUR, DAY, DAY + 7 * HOUR])
def test_the_next_day_the_summary_still_gives_what_the_full_reads_give(
    db: Path, reached: bool, later: Any
) -> None:
    """Opened the next day before any writer ran: the range moves by a day, today restarts at
    0, the streak carries over only if yesterday reached the minimum (it has 1 of 2 here, or
    3 with ``reached``); a post dated ahead (tomorrow, not genuine) counts in the mix."""
    extra = [post_on(DAY, "share", "ahead-1")]
    if reached:
        extra += [post_on(timedelta(0), "comment", "today-2"), post_on(timedelta(0), "ask", "t3")]
    add_posts(db, *extra)
    refresh(db)
    now = NOW + later
    first = summary.load(db, config(), now, 30)
    assert first is not None and first.overview.today is not None
    assert first.overview.today.day == (NOW + DAY).date() and first.overview.today.count == 0
    ov, page = full_reads(db, now)
    # the full overview takes the streak from the goal cache only on its own day; compare the
    # rest with it and the streak with the second read
    assert overview_key(first.overview)[:4] == overview_key(ov)[:4]
    assert overview_key(first.overview)[5:] == overview_key(ov)[5:]
    slow = StoreGateway(db).read(lambda s: load_streak(s, config(), now))
    today = first.overview.today
    assert (today.streak_days, today.people) == (slow.streak_days, slow.people)
    assert (today.streak_days > 0) == reached
    assert posts_key(first.posts.rows) == posts_key(page.rows)
    assert first.overview.mix is not None and first.overview.mix["x"]["share"] > 0


def test_the_next_day_a_genuine_post_dated_ahead_sends_the_dashboard_to_the_full_reads(
    db: Path,
) -> None:
    add_posts(db, post_on(DAY, "comment", "ahead-2"))
    refresh(db)
    assert summary.load(db, config(), NOW, 30) is not None
    assert summary.load(db, config(), NOW + DAY, 30) is None  # its people are not in the summary


def zone_config(tz: str, day_end_hour: int = 0) -> Config:
    values = config().values
    return Config(
        {**values, "time": {**values["time"], "timezone": tz, "day_end_hour": day_end_hour}}
    )


def full_overview(db: Path, cfg: Config, now: Any, days: int) -> tuple[model.Overview, Any]:
    """``load_overview`` and the streak of the second read (``load_streak``), at ``now``."""
    gateway = StoreGateway(db)
    ov = gateway.read(lambda s: load_overview(s, cfg, now, days))
    slow = gateway.read(lambda s: load_streak(s, cfg, now))
    return ov, slow


def assert_same_overview(first: summary.FirstPaint, ov: model.Overview, slow: Any) -> None:
    """The summary's overview is the full read's, field by field; the streak and today's people
    are the second read's (the full overview takes them from the goal cache only on the day
    the cache was written)."""
    mine = overview_key(first.overview)
    theirs = overview_key(ov)
    assert mine[:4] == theirs[:4]
    assert mine[5:] == theirs[5:]
    today = first.overview.today
    assert today is not None and (today.day, today.count) == (slow.day, slow.count)
    assert (today.streak_days, today.people) == (slow.streak_days, slow.people)
    if theirs[4] != (None, None):
        assert mine[4] == theirs[4]


LATER_DAYS = [0, 1, 2, 7, 40, 100]
# instants on both sides of Berlin's DST changes (2026-03-29 01:00 UTC, 2026-10-25 01:00 UTC)
DST_INSTANTS = [
    datetime(2026, 3, 28, 22, 59, tzinfo=UTC),
    datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    datetime(2026, 3, 29, 22, 30, tzinfo=UTC),
    datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 22, 59, tzinfo=UTC),
    datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
]


@pytest.mark.parametrize(
    ("tz", "day_end_hour"), [("UTC", 0), ("Europe/Berlin", 0), ("Europe/Berlin", 2)]
)
def test_any_later_day_the_summary_gives_what_the_full_reads_give(
    tmp_path: Path, tz: str, day_end_hour: int
) -> None:
    """Opened days, weeks or months after the last write (and across the DST changes): the
    series, the label mix, today, the rolling seven days, the streak and the waiting list of
    the 30- and 90-day ranges are exactly what the full reads give at that moment."""
    cfg = zone_config(tz, day_end_hour)
    db = build_db(tmp_path / "engage.duckdb", days=120)
    mentions, posts = extra_mentions()
    with open_store(db) as store:
        store.upsert_mentions(mentions)
        store.upsert_posts(posts)
    with open_store(db) as store:
        goalcache.refresh(store, cfg, NOW)
    nows = [NOW + n * DAY for n in LATER_DAYS] + [NOW + n * DAY + 9 * HOUR for n in LATER_DAYS]
    for now in nows + DST_INSTANTS:
        ov30, slow = full_overview(db, cfg, now, 30)
        ov90 = StoreGateway(db).read(lambda s, now=now: load_overview(s, cfg, now, 90))
        for days, ov in ((30, ov30), (90, ov90)):
            first = summary.load(db, cfg, now, days)
            assert first is not None, (now, days)
            assert_same_overview(first, ov, slow)
            assert first.overview.days == days and len(first.overview.series or []) == days
    # the ranges are not empty: the history, the streak and the mix are really compared
    first = summary.load(db, cfg, NOW + 2 * DAY, 90)
    assert first is not None and first.overview.mix and first.overview.today is not None
    assert sum(p.genuine for p in first.overview.series or []) > 50


@pytest.mark.parametrize("reached", [False, True])
def test_later_days_walk_the_streak_through_posts_dated_ahead(db: Path, reached: bool) -> None:
    """Genuine posts dated ahead of the writer (two tomorrow, one in four days) and a share in
    a week: the day that has them goes to the full reads (their people are not in the
    summary), the days after count them in the streak, the mix and the rolling seven days;
    the streak carries on through the writer's day only if it reached the goal."""
    extra = [
        post_on(DAY, "comment", "ahead-1"),
        post_on(DAY, "answer", "ahead-2"),
        post_on(4 * DAY, "ask", "ahead-3"),
        post_on(7 * DAY, "share", "ahead-4"),
    ]
    if reached:
        extra += [post_on(timedelta(0), "comment", "today-2")]
    add_posts(db, *extra)
    refresh(db)
    cfg = config()
    streaks = {}
    for n in (0, 1, 2, 3, 4, 5, 7, 8, 12, 40):
        now = NOW + n * DAY
        first = summary.load(db, cfg, now, 30)
        if n in (1, 4):
            assert first is None, n  # genuine posts on that day
            continue
        assert first is not None, n
        ov, slow = full_overview(db, cfg, now, 30)
        assert_same_overview(first, ov, slow)
        assert first.overview.today is not None
        streaks[n] = first.overview.today.streak_days
    # tomorrow reached the goal: two days later the streak is that day, plus the writer's
    # day's streak when the writer's day reached it too
    assert streaks[0] is not None and (streaks[0] > 0 or not reached)
    assert streaks[2] == 1 + (streaks[0] if reached else 0)
    assert streaks[3] == streaks[5] == streaks[40] == 0  # a closed day below the goal ends it


def test_a_range_longer_than_the_summary_is_served_only_where_its_days_cover_it(
    db: Path,
) -> None:
    refresh(db)
    cfg = config()
    assert summary.load(db, cfg, NOW, 365) is None  # reaches before the summary's 90 days
    assert summary.load(db, cfg, NOW + 200 * DAY, 365) is None
    now = NOW + 300 * DAY  # 365 days back from here: all inside the summary's days or after
    first = summary.load(db, cfg, now, 365)
    assert first is not None
    ov, slow = full_overview(db, cfg, now, 365)
    assert_same_overview(first, ov, slow)
    assert first.overview.mix and len(first.overview.series or []) == 365
    assert summary.load(db, cfg, now, 0) is None


def test_a_zone_the_database_has_not_recorded_limits_the_summary_to_its_own_day(
    db: Path,
) -> None:
    """A read-only refresh (a writer's late refresh) cannot record a new zone: the days from
    today on then start where the dashboard's "now" first sees that zone, so the summary serves
    only the day it was written on."""
    refresh(db)  # records UTC
    berlin = zone_config("Europe/Berlin")
    with open_store(db, read_only=True) as store:
        goalcache.refresh(store, berlin, NOW)
    assert summary.load(db, berlin, NOW, 30) is not None
    assert summary.load(db, berlin, NOW + 3 * HOUR, 30) is not None
    assert summary.load(db, berlin, NOW + DAY, 30) is None
    assert summary.load(db, berlin, NOW + 5 * DAY, 30) is None


def test_a_label_mix_across_a_day_the_zone_change_left_empty_goes_to_the_full_reads(
    db: Path,
) -> None:
    """From a zone 12 h behind UTC to one 14 h ahead, the day before the change ends before
    it began: the label mix of a range across it is not a sum of days, ranges after it are."""
    west, east = zone_config("Etc/GMT+12"), zone_config("Pacific/Kiritimati")
    with open_store(db) as store:
        goalcache.refresh(store, west, NOW - 10 * DAY)
        goalcache.refresh(store, east, NOW)
    snap = summary.read(db)
    assert snap is not None and snap["daily"]["breaks"]
    assert summary.load(db, east, NOW, 30) is None
    for n in (40, 100):
        now = NOW + n * DAY
        first = summary.load(db, east, now, 30)
        assert first is not None
        ov, slow = full_overview(db, east, now, 30)
        assert_same_overview(first, ov, slow)
    assert summary.load(db, east, NOW + 40 * DAY, 90) is None


def test_the_summary_keeps_its_days_per_platform_and_label(db: Path) -> None:
    refresh(db)
    snap = summary.read(db)
    assert snap is not None
    daily = snap["daily"]
    assert len(daily["counts"]) == goalcache.DASHBOARD_WINDOW  # no post after today
    assert daily["complete"] and daily["labels"] == [*vocab.LABELS, "unlabelled"]
    assert all(day == 0 or len(day) == len(snap["platforms"]) for day in daily["counts"])
    assert len(daily["points"]) == len(daily["counts"]) and daily["breaks"] == []
    assert daily["first"] == (NOW - (goalcache.DASHBOARD_WINDOW - 1) * DAY).date().isoformat()


def test_the_summary_is_not_used_once_it_does_not_describe_the_database(
    db: Path, tmp_path: Path
) -> None:
    assert summary.load(db, config(), NOW, 30) is None  # none written yet
    refresh(db)
    assert summary.load(db, config(), NOW, 30) is not None
    assert summary.load(db, config(), NOW, 365) is None  # before the summary's first day
    assert summary.load(db, config(), NOW - HOUR, 30) is None  # a clock behind the writer's
    other = Config({**config().values, "goal": {**config().values["goal"], "min": 1}})
    assert summary.load(db, other, NOW, 30) is None  # another goal
    wal = model.wal_path(db)
    wal.write_bytes(b"")  # a writer at work
    assert summary.load(db, config(), NOW, 30) is None
    wal.unlink()
    assert summary.load(db, config(), NOW, 30) is not None
    # a write after the summary (the dashboard's own corrections refresh it through the CLI;
    # here no listener runs)
    with open_store(db) as store:
        store.set_correction("x", "x00002", "share")
    assert summary.load(db, config(), NOW, 30) is None
    refresh(db)
    assert summary.load(db, config(), NOW, 30) is not None
    # a copy of the database (another file) does not take the summary for its own
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    assert summary.load(copy, config(), NOW, 30) is None
    # a summary engage did not write
    good = json.loads(Path(goalcache.dashboard_path_for(db)).read_text())
    Path(goalcache.dashboard_path_for(db)).write_text(
        json.dumps({"v": goalcache.DASHBOARD_VERSION, "sig": 3})
    )
    assert summary.load(db, config(), NOW, 30) is None
    Path(goalcache.dashboard_path_for(db)).write_text(json.dumps({**good, "daily": [1]}))
    assert summary.load(db, config(), NOW, 30) is None
    broken = {**good["daily"], "counts": [[[1, 2]]] * len(good["daily"]["counts"])}
    Path(goalcache.dashboard_path_for(db)).write_text(json.dumps({**good, "daily": broken}))
    assert summary.load(db, config(), NOW, 30) is None
    Path(goalcache.dashboard_path_for(db)).write_text(json.dumps({**good, "v": 1}))
    assert summary.load(db, config(), NOW, 30) is None  # an older engage's summary
    Path(goalcache.dashboard_path_for(db)).write_text("not json")
    assert summary.load(db, config(), NOW, 30) is None


def test_an_empty_database_has_an_empty_summary(tmp_path: Path) -> None:
    db = build_empty_db(tmp_path / "empty.duckdb")
    refresh(db)
    first = summary.load(db, config(), NOW, 30)
    assert first is not None
    assert first.overview.total_posts == 0 and first.overview.today is None
    assert list(first.posts.rows) == []


def test_a_summary_that_fails_to_build_is_removed_and_the_prompt_cache_still_written(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh(db)
    assert os.path.exists(goalcache.dashboard_path_for(db))

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(goalcache, "build_dashboard", broken)
    with open_store(db) as store:
        store.set_correction("x", "x00002", "share")
        goalcache.refresh(store, config(), NOW)
    assert not os.path.exists(goalcache.dashboard_path_for(db))
    snap = goalcache.read(db)
    assert snap is not None and goalcache.is_fresh(snap, db)
    assert summary.load(db, config(), NOW, 30) is None


def test_the_summary_file_sits_beside_the_database_under_its_final_name(tmp_path: Path) -> None:
    assert goalcache.dashboard_path_for(tmp_path / "e.duckdb") == str(
        tmp_path / "e.duckdb.dashboard"
    )
    building = tmp_path / f"e.duckdb{goalcache.BUILDING_SUFFIX}"
    assert goalcache.dashboard_path_for(building) == str(tmp_path / "e.duckdb.dashboard")


def test_the_copies_kept_off_the_slow_imports_are_the_cores() -> None:
    # engage.nudge keeps its own platform names and ages (engage.vocab would import dataclasses
    # on the nudge's fast path); the goal cache writes the dashboard's first page
    assert nudge.PLATFORM_NAMES == vocab.PLATFORM_NAMES
    for s in (0, 59, 61, 3599, 3600, 7200, 2 * 86400 - 1, 2 * 86400, 10 * 86400):
        assert nudge._age(s) == vocab.format_age(timedelta(seconds=s))
    assert goalcache.DASHBOARD_PAGE == model.PAGE_SIZE


def test_the_first_frame_from_the_summary_loads_no_duckdb(db: Path) -> None:
    refresh(db)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from datetime import datetime\n"
        "from engage.config import load_config\n"
        "from engage.dashboard.headstart import HeadStart\n"
        f"head = HeadStart(Path({str(db)!r}), load_config(), datetime.fromisoformat({NOW.isoformat()!r}))\n"
        "import engage.dashboard.app\n"
        "heavy = ('duckdb', 'pyarrow', 'numpy', 'engage.store', 'engage.goals', 'engage.dashboard.data')\n"
        "print(head.first is not None, [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True []"


def screen_texts(app: Any) -> dict[str, Any]:
    table = app.query_one(PostsTable)
    return {
        "today": str(app.query_one("#today-text", Static).render()),
        "waiting": [w.mention_id for w in app.query_one(WaitingList).items],
        "waiting_title": app.query_one(WaitingList).border_title,
        "mix": app.w_mix.mix,
        "chart": [(p.day, p.genuine, p.total) for p in app.w_chart.points],
        "rows": [
            [str(table.get_cell_at((r, c))) for c in range(6)] for r in range(table.row_count)
        ],
    }


async def test_the_first_frame_comes_from_the_summary_even_while_a_writer_holds_the_database(
    db: Path,
) -> None:
    refresh(db)
    with WriterProcess(db):  # every read fails as busy: what shows can only be the summary
        head = HeadStart(db, config(), NOW)
        assert head.first is not None
        app = make_app(db, head_start=head)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            shown = screen_texts(app)
            assert "1/3 today" in shown["today"] and "streak" in shown["today"]
            assert len(shown["rows"]) == 157 and shown["chart"] and shown["mix"]
            assert shown["waiting"] == ["m-ana-1", "m-chen-1", "edge"]
            await settle(pilot)  # the full reads ran after the first frame, and found it busy
            assert app.busy and app._overview_gen >= 2
            assert screen_texts(app) == shown
    # the writer has gone: the full reads show the same screen
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not app.busy
        assert screen_texts(app) == shown


async def test_after_the_first_frame_the_full_reads_take_over(db: Path) -> None:
    refresh(db)
    app = make_app(db, head_start=HeadStart(db, config(), NOW))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert (app._overview_done, app._posts_done) == (2, 2)  # the summary, then in full
        table = app.query_one(PostsTable)
        assert type(table.selected_view()).__module__ == "engage.store"
        await pilot.press("l")
        await settle(pilot)
        assert {str(table.get_cell_at((r, 2))) for r in range(table.row_count)} <= {
            "auto_promo",
            "auto_promo*",
        }


def test_summary_json_holds_no_raw_platform_data(db: Path) -> None:
    refresh(db)
    snap = json.loads(Path(goalcache.dashboard_path_for(db)).read_text())
    assert all("raw" not in p for p in snap["posts"])
    assert snap["sig"] == goalcache.db_signature(db)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_the_summary_finds_the_day_of_now_as_the_goal_tracker_does(tz: str) -> None:
    """Every half hour over the days around both DST changes, for every end-of-day hour."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    instants = []
    for around in (datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC)):
        for i in range(-48, 48):
            instants.append(around + i * timedelta(minutes=30))
    for around in (datetime(2026, 4, 5, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)):
        for i in range(-48, 48):
            instants.append(around + i * timedelta(minutes=30))
    for hour in range(24):
        clock = goals.DayClock(tz, hour)
        for now in instants:
            assert summary.day_of(now, zone, hour) == clock.day_of(now), (hour, now)


async def test_days_after_the_write_the_streak_stays_on_screen_while_it_is_read_again(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three days on, the full overview has no streak (the goal cache is of another day): the
    summary's stays shown until the streak read (held back here) gives the same."""
    import threading

    from engage.dashboard import data
    from engage.dashboard.app import DashboardApp

    refresh(db)
    later = NOW + 3 * DAY
    release = threading.Event()
    slow_streak = data.load_streak

    def held(*args: Any) -> Any:
        release.wait(30)
        return slow_streak(*args)

    monkeypatch.setattr(data, "load_streak", held)
    head = HeadStart(db, config(), later)
    assert head.first is not None and head.first.overview.today is not None
    expected = head.first.overview.today.streak_days
    assert expected is not None
    app = DashboardApp(db, config(), clock=lambda: later, poll_interval=0.1, head_start=head)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(1000):  # up to 20 s on a busy machine
            await pilot.pause(0.02)
            if app._overview_done >= 2 and app._streak_gen >= 1:
                break
        assert app._overview_done >= 2 and app._streak_done < app._streak_gen  # read, held
        assert app.overview is not None and app.overview.today is not None
        assert app.overview.today.streak_days is None  # the full overview's
        days = "day" if expected == 1 else "days"
        assert f"streak {expected} {days}" in screen_texts(app)["today"]
        release.set()
        await settle(pilot)
        assert app._streak is not None and app._streak.streak_days == expected
        assert f"streak {expected} {days}" in screen_texts(app)["today"]


def test_the_label_mixes_of_many_ranges_are_each_ranges_label_mix(db: Path) -> None:
    """``Store.goal_label_mixes`` (one scan, for the summary's days) counts as one
    ``goal_label_mix`` per range, overlapping and empty ranges too."""
    add_posts(db, post_on(DAY, "share", "ahead-1"))
    starts = [NOW - n * DAY for n in (40, 20, 3, 2, 1)] + [NOW, NOW + HOUR, NOW + 2 * HOUR]
    ends = [NOW - 30 * DAY, NOW, NOW - 2 * DAY, NOW - DAY, NOW, NOW, NOW + 2 * HOUR, NOW + 3 * DAY]
    with open_store(db, read_only=True) as store:
        got: dict[int, dict[tuple[str, str | None], int]] = {}
        for i, platform, label, n in store.goal_label_mixes(starts, ends):
            got.setdefault(i, {})[(platform, label)] = n
        for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
            one = {(p, lb): n for p, lb, n in store.goal_label_mix(s, e)}
            assert got.get(i, {}) == one, i
    assert got[1] and got[7]  # not all empty
