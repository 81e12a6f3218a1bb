"""The dashboard's data layer (no Textual): short opens, busy handling, change detection,
pending corrections, filters, paging, and the chart and mix drawings."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from dashboard_support import NOW, WriterProcess, build_db, build_empty_db, config

from engage import goalcache, goals
from engage.dashboard.components.chart import render_chart
from engage.dashboard.components.panels import mix_bar, mix_lines, without_leading_mentions
from engage.dashboard.data import (
    PendingCorrections,
    PostFilter,
    StoreGateway,
    db_signature,
    load_overview,
    load_posts,
    load_streak,
)
from engage.errors import DatabaseBusyError, StoreError
from engage.store import LABELS, open_store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "engage.duckdb")


def test_reads_close_the_database_so_a_writer_can_open_it_at_once(db: Path) -> None:
    gateway = StoreGateway(db)
    assert gateway.read(lambda s: s.count_posts()) > 100
    # a writer with no patience at all gets in: the read left nothing open
    with WriterProcess(db):
        pass


def test_a_read_while_another_process_writes_raises_busy_quickly(db: Path) -> None:
    gateway = StoreGateway(db, read_timeout=0.1)
    with WriterProcess(db), pytest.raises(DatabaseBusyError):
        gateway.read(lambda s: s.count_posts())
    assert gateway.read(lambda s: s.count_posts()) > 100


def test_a_missing_database_is_a_store_error_and_is_not_created(tmp_path: Path) -> None:
    gateway = StoreGateway(tmp_path / "nothing.duckdb")
    assert not gateway.exists()
    with pytest.raises(StoreError, match="no database"):
        gateway.read(lambda s: s.count_posts())
    with pytest.raises(StoreError):
        gateway.write(lambda s: s.count_posts())
    assert not (tmp_path / "nothing.duckdb").exists()


def test_the_signature_changes_when_another_process_writes(db: Path) -> None:
    before = db_signature(db)
    StoreGateway(db).read(lambda s: s.count_posts())
    assert db_signature(db) == before  # our own reads do not look like changes
    with WriterProcess(db, insert=True):
        during = db_signature(db)
    after = db_signature(db)
    assert during != before
    assert after != before


def test_pending_corrections_survive_a_busy_database_and_are_stored_later(db: Path) -> None:
    gateway = StoreGateway(db, write_timeout=0.1)
    pending = PendingCorrections()
    first = load_posts_now(db)[0].post
    pending.add(first.platform, first.post_id, "ask")
    with WriterProcess(db), pytest.raises(DatabaseBusyError):
        pending.flush(gateway)
    assert len(pending) == 1
    assert pending.flush(gateway) == 1
    assert len(pending) == 0
    view = load_posts_now(db)[0]
    assert (view.label, view.corrected, view.model_label) == ("ask", True, "comment")
    # None means "back to the model's label"
    pending.add(first.platform, first.post_id, None)
    pending.flush(gateway)
    view = load_posts_now(db)[0]
    assert (view.label, view.corrected) == ("comment", False)


def load_posts_now(db: Path):  # type: ignore[no-untyped-def]
    return StoreGateway(db).read(lambda s: load_posts(s, PostFilter()).rows)


def test_filters_cycle_through_every_label_and_platform() -> None:
    f = PostFilter()
    seen = []
    for _ in range(len(LABELS) + 1):
        f = f.next_label()
        seen.append(f.label)
    assert seen == [*LABELS, None]
    assert PostFilter().next_label(-1).label == "comment"
    platforms = ["bluesky", "mastodon", "x"]
    assert PostFilter().next_platform(platforms).platform == "bluesky"
    assert PostFilter(platform="x").next_platform(platforms).platform is None
    assert PostFilter(platform="gone").next_platform(platforms).platform == "bluesky"
    assert PostFilter("ask", "x").describe() == "label: ask · platform: x"


def test_posts_pages_follow_the_filter_newest_first(db: Path) -> None:
    with open_store(db, read_only=True) as store:
        everything = load_posts(store, PostFilter(), limit=10_000)
        asks = load_posts(store, PostFilter(label="ask", platform="x"))
        page1 = load_posts(store, PostFilter(), limit=20)
        page2 = load_posts(store, PostFilter(), offset=20, limit=20)
    assert everything.complete and not page1.complete
    assert asks.rows and all(v.label == "ask" and v.post.platform == "x" for v in asks.rows)
    times = [v.post.created_at for v in everything.rows]
    assert times == sorted(times, reverse=True)
    ids = [v.post.post_id for v in page1.rows + page2.rows]
    assert ids == [v.post.post_id for v in everything.rows[:40]]


def test_overview_of_an_empty_database_says_so(tmp_path: Path) -> None:
    db = build_empty_db(tmp_path / "empty.duckdb")
    ov = StoreGateway(db).read(lambda s: load_overview(s, config(), NOW, 30))
    assert ov.total_posts == 0 and ov.today is None and ov.series is None


def test_overview_has_today_the_series_and_the_mix_of_the_range(db: Path) -> None:
    ov = StoreGateway(db).read(lambda s: load_overview(s, config(), NOW, 90))
    assert ov.today is not None and ov.series is not None and ov.mix is not None
    assert ov.today.day == date(2026, 3, 18) and ov.today.count == 1
    assert ov.today.status == "below" and ov.today.rolling_7d == sum(
        p.genuine for p in ov.series[-7:]
    )
    assert len(ov.series) == 90 and ov.series[-1].day == date(2026, 3, 18)
    assert ov.platforms == ["bluesky", "mastodon", "x"]
    assert sum(sum(m.values()) for m in ov.mix.values()) == ov.total_posts
    assert [w.author for w in ov.today.waiting.items] == [
        "ana@social.example",
        "chen.bsky.social",
    ]


def test_the_streak_comes_from_a_fresh_goal_cache_else_from_a_second_read(db: Path) -> None:
    gateway = StoreGateway(db)
    ov = gateway.read(lambda s: load_overview(s, config(), NOW, 30))
    assert ov.today is not None and ov.today.streak_days is None  # no cache yet
    slow = gateway.read(lambda s: load_streak(s, config(), NOW))
    assert (slow.day, slow.count) == (ov.today.day, ov.today.count)
    assert slow.streak_days == goals_streak(db) and slow.people == ["@fatimaux"]
    # a writer refreshes the cache as every engage writer does; now the overview has it
    with open_store(db) as store:
        goalcache.refresh(store, config(), NOW)
    ov = gateway.read(lambda s: load_overview(s, config(), NOW, 30))
    assert ov.today is not None
    assert (ov.today.streak_days, ov.today.people) == (slow.streak_days, ["@fatimaux"])
    # a write after the cache makes it stale: back to the second read
    newest = load_posts_now(db)[0].post
    with open_store(db) as store:
        store.set_correction(newest.platform, newest.post_id, "share")
    ov = gateway.read(lambda s: load_overview(s, config(), NOW, 30))
    assert ov.today is not None and ov.today.streak_days is None and ov.today.count == 0


def goals_streak(db: Path) -> int:
    with open_store(db, read_only=True) as store:
        return goals.day_status(store, config(), now=NOW, with_waiting=False).streak_days


def _points(genuine: list[int], total: int = 4) -> list[goals.DayPoint]:
    first = date(2026, 1, 1)
    return [
        goals.DayPoint(first + timedelta(days=i), g, total if g or total else 0, 0, {})
        for i, g in enumerate(genuine)
    ]


def test_the_chart_marks_the_goal_range_and_the_ratio() -> None:
    text = render_chart(_points([0, 1, 2, 3, 4]), width=40, height=6, goal_min=2, goal_target=3)
    lines = text.plain.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("  4┤")  # top row, one interaction per row
    assert lines[1].startswith("  3┤") and "┈" in lines[1]  # target
    assert lines[2].startswith("  2┤") and "┈" in lines[2]  # minimum
    assert "┈" not in lines[3]
    # bars: the day with 4 reaches the top row, the day with 0 has no bar at all
    assert lines[0].rstrip().endswith("█")
    assert lines[3][4] != "█"
    assert lines[4].startswith("  %")  # the ratio row, 0/4 = lowest block
    assert lines[5].strip().startswith("Jan 01") and lines[5].rstrip().endswith("Jan 05")


def test_the_chart_folds_days_that_do_not_fit_and_marks_days_without_posts() -> None:
    pts = _points([2] * 90)
    text = render_chart(pts, width=50, height=5, goal_min=2, goal_target=3)
    bars = text.plain.splitlines()[0]
    assert len(bars) <= 50
    empty = render_chart(_points([0, 0], total=0), width=20, height=4, goal_min=2, goal_target=3)
    assert "··" in empty.plain.splitlines()[2]


def test_the_mix_bar_fills_its_width_in_proportion() -> None:
    bar = mix_bar({"auto_promo": 5, "share": 0, "ask": 2, "answer": 2, "comment": 1}, 10)
    assert bar.plain == "█████▒▒░░▞"
    text = mix_lines({"x": {"auto_promo": 1, "comment": 3}}, 30).plain
    assert text.splitlines()[0].startswith("X ") and text.splitlines()[0].endswith("75%")
    assert "█pro" in text and "▞com" in text


def test_the_waiting_list_drops_the_leading_mentions() -> None:
    assert without_leading_mentions("@pat @ana thanks, it worked") == "thanks, it worked"
    assert without_leading_mentions("@pat") == "@pat"
