"""Local days: boundaries in two time zones, the configured day-end hour, daylight saving
changes and travel (a changed time zone)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engage import goals
from engage.store import open_store
from tests.goals_support import build_db, make_post, write_config

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_day_bounds_in_two_time_zones() -> None:
    b = goals.DayClock("Europe/Berlin")
    n = goals.DayClock("America/New_York")
    d = date(2025, 6, 10)
    assert b.bounds(d) == (
        datetime(2025, 6, 9, 22, tzinfo=UTC),
        datetime(2025, 6, 10, 22, tzinfo=UTC),
    )
    assert n.bounds(d) == (
        datetime(2025, 6, 10, 4, tzinfo=UTC),
        datetime(2025, 6, 11, 4, tzinfo=UTC),
    )
    # the same instant is a different local day in each zone
    instant = datetime(2025, 6, 10, 23, 30, tzinfo=UTC)
    assert b.day_of(instant) == date(2025, 6, 11)
    assert n.day_of(instant) == date(2025, 6, 10)


def test_day_end_hour_moves_late_nights_to_the_day_before() -> None:
    c = goals.DayClock("Europe/Berlin", day_end_hour=4)
    late = datetime(2025, 6, 11, 2, 30, tzinfo=BERLIN)
    assert c.day_of(late) == date(2025, 6, 10)
    assert c.day_of(datetime(2025, 6, 11, 4, 0, tzinfo=BERLIN)) == date(2025, 6, 11)
    start, end = c.bounds(date(2025, 6, 10))
    assert start == datetime(2025, 6, 10, 4, tzinfo=BERLIN)
    assert end == datetime(2025, 6, 11, 4, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("tz", "spring", "autumn"),
    [
        ("Europe/Berlin", date(2025, 3, 30), date(2025, 10, 26)),
        ("America/New_York", date(2025, 3, 9), date(2025, 11, 2)),
    ],
)
@pytest.mark.parametrize("end_hour", [0, 2, 4])
def test_daylight_saving_days_last_23_and_25_hours(
    tz: str, spring: date, autumn: date, end_hour: int
) -> None:
    c = goals.DayClock(tz, day_end_hour=end_hour)
    for day0, odd in ((spring, timedelta(hours=23)), (autumn, timedelta(hours=25))):
        lengths = [
            c.bounds(day0 + timedelta(days=i))[1] - c.bounds(day0 + timedelta(days=i))[0]
            for i in range(-3, 4)
        ]
        # exactly one day around the change is 23 (or 25) hours long: the change day, or the
        # day before when the day ends at or after the hour of the change
        assert sorted(lengths) == sorted([odd] + [timedelta(hours=24)] * 6)
        assert lengths.index(odd) in (2, 3)
        if end_hour == 0:
            assert lengths.index(odd) == 3
    # days are contiguous, and every instant (every 20 minutes over the weeks around the
    # change) belongs to exactly the day whose bounds contain it
    for day0 in (spring, autumn):
        first = day0 - timedelta(days=3)
        starts, ends = c.bounds_many(first, day0 + timedelta(days=3))
        assert all(ends[i] == starts[i + 1] for i in range(len(starts) - 1))
        t = starts[0]
        while t < ends[-1]:
            d = c.day_of(t)
            i = (d - first).days
            assert starts[i] <= t < ends[i]
            t += timedelta(minutes=20)


def test_posts_on_a_daylight_saving_day_count_once_and_keep_the_streak(
    tmp_path: Path, engage_home: Path
) -> None:
    config = write_config(engage_home, '[time]\ntimezone = "Europe/Berlin"\n')
    # the autumn change: 02:00-03:00 happens twice on 2025-10-26
    posts = []
    for d in (24, 25, 26, 27):
        posts.append((make_post(datetime(2025, 10, d, 12, tzinfo=BERLIN)), "ask"))
        posts.append((make_post(datetime(2025, 10, d, 18, tzinfo=BERLIN)), "answer"))
    first = datetime(2025, 10, 26, 2, 30, tzinfo=BERLIN)  # fold 0 (summer time)
    second = datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=BERLIN)  # an hour later
    posts += [(make_post(first), "comment"), (make_post(second), "comment")]
    db = build_db(tmp_path / "dst.duckdb", posts)
    now = datetime(2025, 10, 27, 20, tzinfo=BERLIN)
    with open_store(db, read_only=True) as store:
        series = goals.daily_series(store, config, 4, date(2025, 10, 27), now=now)
        st = goals.day_status(store, config, date(2025, 10, 27), now)
    assert [p.genuine for p in series] == [2, 2, 4, 2]
    assert st.streak_days == 4
    assert st.rolling_7d == 10


def test_travel_keeps_past_days_and_the_streak(tmp_path: Path, engage_home: Path) -> None:
    """Berlin until 2025-06-10, then New York: the day before the change ends where the first
    New York day begins; no post is lost or counted twice, and the streak goes on."""
    config = write_config(engage_home, '[time]\ntimezone = "Europe/Berlin"\n')
    posts = []
    for d in range(5, 11):  # two genuine posts a day, Berlin afternoons
        for h in (14, 16):
            posts.append((make_post(datetime(2025, 6, d, h, tzinfo=BERLIN)), "comment"))
    for d in range(11, 14):  # then New York evenings (after midnight in Berlin)
        for h in (19, 21):
            posts.append((make_post(datetime(2025, 6, d, h, tzinfo=NEW_YORK)), "answer"))
    db = build_db(tmp_path / "travel.duckdb", posts)
    with open_store(db) as store:  # a writer records the zone in effect (the cache-refresh
        # listener may have done so already when build_db closed its store)
        goals.record_timezone(store, config, datetime(2025, 6, 9, 12, tzinfo=UTC))
        assert not goals.record_timezone(store, config, datetime(2025, 6, 9, 13, tzinfo=UTC))
        assert [tz for _, tz in goals.parse_tz_history(store.get_meta("timezone_history"))] == [
            "Europe/Berlin"
        ]
    config = write_config(engage_home, '[time]\ntimezone = "America/New_York"\n')
    arrival = datetime(2025, 6, 11, 9, tzinfo=NEW_YORK)
    with open_store(db) as store:
        assert goals.record_timezone(store, config, arrival)
    now = datetime(2025, 6, 13, 23, tzinfo=NEW_YORK)
    with open_store(db, read_only=True) as store:
        clock = goals.DayClock.from_store(store, config, now)
        assert clock.zone_name(date(2025, 6, 10)) == "Europe/Berlin"
        assert clock.zone_name(date(2025, 6, 11)) == "America/New_York"
        assert clock.bounds(date(2025, 6, 10))[1] == clock.bounds(date(2025, 6, 11))[0]
        series = goals.daily_series(store, config, 9, date(2025, 6, 13), now=now, clock=clock)
        st = goals.day_status(store, config, date(2025, 6, 13), now)
    assert sum(p.genuine for p in series) == len(posts)
    assert all(p.genuine == 2 for p in series)
    assert st.streak_days == 9


def test_goal_status_range() -> None:
    g = goals.Goal(2, 3)
    assert [g.status(n) for n in range(5)] == ["below", "below", "met", "met", "exceeded"]
