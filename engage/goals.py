"""The goal tracker: labelled posts turned into days, goals, streaks, ratios and who is waiting.

This is the library behind ``engage today``, ``engage nudge``, ``engage prompt``, ``engage report``
and the dashboard. It reads through an open ``Store`` (read-only is enough) and a ``Config``; it
never writes SQL itself and never imports click or textual. Every function takes ``now`` (an aware
``datetime``, default the current time) so results are reproducible in tests.

Public API (stable; the dashboard builds on it)
-----------------------------------------------

Days and goals

- ``DayClock.from_store(store, config)`` / ``DayClock(tz_name, day_end_hour, history)``: the user's
  local days. ``clock.today(now)`` is the current local day (a ``date``), ``clock.bounds(day)`` its
  half-open UTC range ``(start, end)``, ``clock.day_of(instant)`` the day an instant belongs to.
  A day ends at ``[time] day_end_hour`` local time; DST days last 23 or 25 hours. Changes of
  ``[time] timezone`` are remembered (database meta key ``timezone_history``) so past days keep
  their boundaries when the user travels: the day before a change ends where the first day in
  the new zone begins, so no instant is counted twice or lost and streaks continue.
- ``Goal(min, target)`` with ``goal.status(count)`` -> ``"below"`` (count < min), ``"met"``
  (min <= count <= target) or ``"exceeded"`` (count > target). ``Goal.from_config(config)``.

Today (or any day)

- ``day_status(store, config, day=None, now=None) -> DayStatus``: for ``day`` (default today):
  ``count`` of genuine interactions (effective label ask, answer or comment), ``by_label``,
  ``status``, ``people`` (distinct other accounts replied to, mentioned or quoted in them),
  ``interactions`` (the posts that counted, as ``Interaction``), ``streak_days`` (consecutive days
  that reached ``goal.min``, ending with ``day``; a day still in progress does not break it),
  ``rolling_7d`` (genuine interactions in the 7 days ending with ``day``), ``total_posts``,
  ``unlabelled`` (posts of the day without a label yet), ``is_open`` (the day is still running),
  and ``waiting`` (a ``WaitingSummary``).

Series and mixes

- ``daily_series(store, config, days=30, end=None, now=None) -> list[DayPoint]``: one point per
  local day, oldest first, ending with ``end`` (default today): ``genuine``, ``total``,
  ``ratio`` (genuine / total, None on a day without posts), ``by_label``, ``unlabelled``.
- ``ratio(store, config, days, end=None, now=None) -> RatioPoint``: genuine / all posts over the
  ``days`` local days ending with ``end``, with the same figure for the ``days`` before that
  and the ``trend`` (``"up"``, ``"down"``, ``"flat"`` or ``"none"``).
- ``label_mix(store, config, start, end) -> dict[platform, dict[label, int]]`` for the local days
  ``start`` .. ``end`` (inclusive); unlabelled posts are counted under ``"unlabelled"``.
- ``automation_sources(store, config, start, end, min_repeats=3) -> Automation``: posting apps
  of non-genuine posts (``AppCount``: app, platforms, posts, by_label, known_automation) and
  links posted again and again (``RecycledLink``: url, posts, platforms, first, last).

Who is waiting

- ``waiting_for_you(store, config, now=None) -> WaitingSummary``: mentions and replies of other
  people (the connectors' mentions table) from the last ``[goal] waiting_days`` days that the
  user has not answered, newest first (``items: list[Waiting]``); ``median_answer`` (a
  ``timedelta`` or None) and ``answered`` over the mentions of the last 30 days that were
  answered. Answered = the user later replied to that post, or to that person in the same thread.
- ``lapsed_contacts(store, config, now=None, quiet_days=30, lookback_days=180, limit=3)``:
  people the user talked with in genuine posts but not in the last ``quiet_days`` days.
- ``suggestions(waiting, lapsed, now=None, limit=3) -> list[Suggestion]``: two or three
  concrete things to do today (answer who is waiting, reconnect with a lapsed contact, ask).

Helpers

- ``display_handle(platform, handle)`` (``ana@social.example`` -> ``@ana``),
  ``PLATFORM_NAMES``, ``format_age(timedelta)`` (``"3 h"``), ``people_of(post)``.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from engage.vocab import (
    GENUINE_LABELS,
    LABELS,
    PLATFORM_NAMES,
    Waiting,
    WaitingSummary,
    display_handle,
    format_age,
)

if TYPE_CHECKING:
    from connectors.base import Mention, Post
    from engage.config import Config
    from engage.store import PostView, Store

log = logging.getLogger(__name__)

NOT_GENUINE_LABELS: tuple[str, ...] = tuple(x for x in LABELS if x not in GENUINE_LABELS)
TZ_HISTORY_KEY = "timezone_history"
ANSWER_WINDOW_DAYS = 30  # the median time to answer is taken over this many days of mentions
_FIRST_DAY = date(1970, 1, 1)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Days
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayClock:
    """The user's local days. ``history`` lists ``(first_day, tz_name)`` periods, oldest first:
    each zone applies from its first day until the next period starts, and the first zone also
    to every day before it. ``tz_name`` is the zone of every day when the history is empty."""

    tz_name: str
    day_end_hour: int = 0
    history: tuple[tuple[date, str], ...] = ()

    @classmethod
    def from_config(cls, config: Config) -> DayClock:
        return cls(config.timezone_name, config.day_end_hour)

    @classmethod
    def from_store(cls, store: Store, config: Config, now: datetime | None = None) -> DayClock:
        """The configured clock plus the time-zone history recorded in the database. When the
        configured zone differs from the last recorded one, it takes effect from the current
        local day in the new zone (the same rule ``record_timezone`` writes down)."""
        history = parse_tz_history(store.get_meta(TZ_HISTORY_KEY))
        clock = cls(config.timezone_name, config.day_end_hour, tuple(history))
        return clock.with_zone(config.timezone_name, now)

    def with_zone(self, tz_name: str, now: datetime | None = None) -> DayClock:
        """This clock with ``tz_name`` in effect from today (in ``tz_name``) on."""
        hist = list(self.history)
        if hist and hist[-1][1] == tz_name:
            return DayClock(tz_name, self.day_end_hour, tuple(hist))
        if not hist:
            if self.tz_name == tz_name:
                return DayClock(tz_name, self.day_end_hour, ((_FIRST_DAY, tz_name),))
            hist = [(_FIRST_DAY, self.tz_name)]
        fresh = DayClock(tz_name, self.day_end_hour)
        first = fresh._simple_day_of(_now(now))
        # a change recorded twice on one day: the later zone wins that day
        hist = [h for h in hist if h[0] < first] or hist[:1]
        hist.append((first, tz_name))
        return DayClock(tz_name, self.day_end_hour, tuple(hist))

    def zone_name(self, day: date) -> str:
        if not self.history:
            return self.tz_name
        name = self.history[0][1]
        for first, tz in self.history:
            if first > day:
                break
            name = tz
        return name

    def zone(self, day: date) -> ZoneInfo:
        return ZoneInfo(self.zone_name(day))

    def _start_in(self, day: date, tz: ZoneInfo) -> datetime:
        return datetime.combine(day, time(self.day_end_hour), tzinfo=tz).astimezone(UTC)

    def start(self, day: date) -> datetime:
        """When ``day`` begins, as an aware UTC datetime."""
        return self._start_in(day, self.zone(day))

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        """The half-open UTC range ``[start, end)`` of the local day."""
        start = self.start(day)
        end = self.start(day + timedelta(days=1))
        return start, max(start, end)

    def bounds_many(self, first: date, last: date) -> tuple[list[datetime], list[datetime]]:
        """Starts and ends of every day from ``first`` to ``last`` inclusive."""
        n = (last - first).days + 1
        edges = [self.start(first + timedelta(days=i)) for i in range(n + 1)]
        starts, ends = [], []
        for i in range(n):
            starts.append(edges[i])
            ends.append(max(edges[i], edges[i + 1]))
        return starts, ends

    def _simple_day_of(self, instant: datetime) -> date:
        local = instant.astimezone(ZoneInfo(self.tz_name))
        return (local - timedelta(hours=self.day_end_hour)).date()

    def day_of(self, instant: datetime) -> date:
        """The local day ``instant`` belongs to (exactly one)."""
        instant = instant.astimezone(UTC)
        day = (
            instant.astimezone(self.zone(self._simple_day_of(instant)))
            - timedelta(hours=self.day_end_hour)
        ).date()
        for _ in range(4):
            start, end = self.bounds(day)
            if instant < start:
                day -= timedelta(days=1)
            elif instant >= end:
                day += timedelta(days=1)
            else:
                return day
        return day

    def today(self, now: datetime | None = None) -> date:
        return self.day_of(_now(now))

    def local_hour(self, instant: datetime) -> int:
        """The wall-clock hour of ``instant`` in the zone of its day."""
        return instant.astimezone(self.zone(self.day_of(instant))).hour


def parse_tz_history(text: str | None) -> list[tuple[date, str]]:
    if not text:
        return []
    try:
        raw = json.loads(text)
        out = [(date.fromisoformat(d), str(tz)) for d, tz in raw]
    except (ValueError, TypeError):
        log.warning("ignoring an unreadable %s in the database", TZ_HISTORY_KEY)
        return []
    return sorted(out)


def record_timezone(store: Store, config: Config, now: datetime | None = None) -> bool:
    """Write the configured time zone into the database's history when it changed (called by
    every writer through the cache refresh). Returns True when something was recorded."""
    old = store.get_meta(TZ_HISTORY_KEY)
    history = parse_tz_history(old)
    clock = DayClock(config.timezone_name, config.day_end_hour, tuple(history))
    clock = clock.with_zone(config.timezone_name, now)
    if list(clock.history) == history:
        return False
    store.set_meta(TZ_HISTORY_KEY, json.dumps([[d.isoformat(), tz] for d, tz in clock.history]))
    return True


@dataclass(frozen=True)
class Goal:
    min: int = 2
    target: int = 3

    @classmethod
    def from_config(cls, config: Config) -> Goal:
        return cls(config.goal_min, config.goal_target)

    def status(self, count: int) -> str:
        if count < self.min:
            return "below"
        if count <= self.target:
            return "met"
        return "exceeded"


# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------


def norm_handle(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


def _quoted_author(quoted: str | None) -> str | None:
    """The author of a quoted post when its id names one (an AT-URI's DID, a post URL)."""
    if not quoted:
        return None
    if quoted.startswith("at://"):
        return quoted[5:].split("/", 1)[0] or None
    if quoted.startswith(("http://", "https://")):
        parts = quoted.split("/")
        if len(parts) > 4:
            host, first = parts[2], parts[3]
            if first.startswith("@"):
                return f"{first[1:]}@{host}" if "@" not in first[1:] else first[1:]
            if first == "profile" and len(parts) > 4:
                return parts[4]
            if host.endswith(("twitter.com", "x.com")):
                return first
    return None


def people_of(post: Post) -> list[str]:
    """Other accounts a post replies to, mentions or quotes (normalised, in order of first
    appearance); the author's own handle is left out."""
    own = norm_handle(post.account)
    seen: dict[str, None] = {}
    for h in [post.reply_to_user, *post.mentions, _quoted_author(post.quoted_post)]:
        if h:
            n = norm_handle(h)
            if n and n != own:
                seen.setdefault(n, None)
    return list(seen)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interaction:
    """A post that counted toward the goal."""

    platform: str
    post_id: str
    url: str | None
    created_at: datetime
    label: str
    text: str
    people: tuple[str, ...]
    corrected: bool


@dataclass(frozen=True)
class DayStatus:
    day: date
    start: datetime
    end: datetime
    timezone: str
    goal: Goal
    count: int
    status: str
    by_label: dict[str, int]
    people: list[str]
    interactions: list[Interaction]
    streak_days: int
    rolling_7d: int
    total_posts: int
    unlabelled: int
    is_open: bool
    waiting: WaitingSummary


@dataclass(frozen=True)
class DayPoint:
    day: date
    genuine: int
    total: int
    unlabelled: int
    by_label: dict[str, int]

    @property
    def ratio(self) -> float | None:
        return self.genuine / self.total if self.total else None


@dataclass(frozen=True)
class RatioPoint:
    days: int
    genuine: int
    total: int
    ratio: float | None
    previous: float | None
    trend: str  # "up", "down", "flat", "none"


@dataclass(frozen=True)
class AppCount:
    app: str | None
    platforms: list[str]
    posts: int
    by_label: dict[str, int]
    known_automation: bool  # listed in [automation] apps (pure automation / cross-posting)
    suite: bool  # listed in [automation] suites (management suites)


@dataclass(frozen=True)
class RecycledLink:
    url: str
    posts: int
    platforms: list[str]
    first: datetime
    last: datetime


@dataclass(frozen=True)
class Automation:
    start: date
    end: date
    apps: list[AppCount]
    recycled_links: list[RecycledLink]


@dataclass(frozen=True)
class Contact:
    platform: str
    person: str
    last: datetime
    posts: int

    @property
    def who(self) -> str:
        return display_handle(self.platform, self.person)


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "answer", "reconnect", "ask", "target"
    text: str
    person: str | None = None
    platform: str | None = None
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Tallies
# ---------------------------------------------------------------------------------------------


def _points(store: Store, clock: DayClock, first: date, last: date) -> list[DayPoint]:
    starts, ends = clock.bounds_many(first, last)
    n = len(starts)
    per: list[dict[str | None, int]] = [{} for _ in range(n)]
    for i, label, count in store.goal_day_tallies(starts, ends):
        per[i][label] = per[i].get(label, 0) + count
    out = []
    for i in range(n):
        d = per[i]
        by_label = {lb: d.get(lb, 0) for lb in LABELS}
        out.append(
            DayPoint(
                day=first + timedelta(days=i),
                genuine=sum(by_label[g] for g in GENUINE_LABELS),
                total=sum(d.values()),
                unlabelled=d.get(None, 0),
                by_label=by_label,
            )
        )
    return out


def daily_series(
    store: Store,
    config: Config,
    days: int = 30,
    end: date | None = None,
    now: datetime | None = None,
    clock: DayClock | None = None,
) -> list[DayPoint]:
    """One ``DayPoint`` per local day for the ``days`` days ending with ``end`` (default today)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    clock = clock or DayClock.from_store(store, config, now)
    end = end or clock.today(now)
    return _points(store, clock, end - timedelta(days=days - 1), end)


def _streak(
    store: Store, clock: DayClock, goal: Goal, day: date, is_open: bool, known: list[DayPoint]
) -> int:
    """Consecutive days reaching ``goal.min`` ending with ``day``. ``known`` holds points that
    end with ``day`` (oldest first); older ones are fetched (once) only when needed."""
    points = list(known)
    first_post = None
    streak = 0
    idx = len(points) - 1
    cursor_day = day
    while True:
        if idx < 0:
            if first_post is None:
                first_post = store.goal_first_post_time()
                if first_post is None:
                    return streak
            if clock.bounds(cursor_day)[1] <= first_post:
                return streak
            # the rest of the history in one query (the streak filled the first window)
            chunk_first = min(clock.day_of(first_post), cursor_day)
            points = _points(store, clock, chunk_first, cursor_day)
            idx = len(points) - 1
        p = points[idx]
        if p.genuine >= goal.min:
            streak += 1
        elif not (p.day == day and is_open):
            return streak
        idx -= 1
        cursor_day = p.day - timedelta(days=1)


def _interaction(v: PostView) -> Interaction:
    p = v.post
    return Interaction(
        platform=p.platform,
        post_id=p.post_id,
        url=p.url,
        created_at=p.created_at,
        label=v.label or "",
        text=p.text,
        people=tuple(people_of(p)),
        corrected=v.corrected,
    )


def day_status(
    store: Store,
    config: Config,
    day: date | None = None,
    now: datetime | None = None,
    *,
    with_waiting: bool = True,
) -> DayStatus:
    """Everything about one local day (default today); see the module docstring."""
    now = _now(now)
    clock = DayClock.from_store(store, config, now)
    goal = Goal.from_config(config)
    day = day or clock.today(now)
    start, end = clock.bounds(day)
    is_open = start <= now < end
    known = _points(store, clock, day - timedelta(days=59), day)
    today = known[-1]
    views = store.goal_posts(start, end, GENUINE_LABELS)
    interactions = [_interaction(v) for v in views]
    people: dict[str, None] = {}
    for it in interactions:
        for person in it.people:
            people.setdefault(person, None)
    waiting = (
        waiting_for_you(store, config, now if is_open or now < start else end)
        if with_waiting
        else WaitingSummary([], None, 0, _waiting_days(config))
    )
    return DayStatus(
        day=day,
        start=start,
        end=end,
        timezone=clock.zone_name(day),
        goal=goal,
        count=today.genuine,
        status=goal.status(today.genuine),
        by_label={g: today.by_label[g] for g in GENUINE_LABELS},
        people=list(people),
        interactions=interactions,
        streak_days=_streak(store, clock, goal, day, is_open, known),
        rolling_7d=sum(p.genuine for p in known[-7:]),
        total_posts=today.total,
        unlabelled=today.unlabelled,
        is_open=is_open,
        waiting=waiting,
    )


def ratio(
    store: Store,
    config: Config,
    days: int,
    end: date | None = None,
    now: datetime | None = None,
    clock: DayClock | None = None,
    series: Sequence[DayPoint] | None = None,
) -> RatioPoint:
    """Genuine / all posts over the ``days`` local days ending with ``end``, with the figure for
    the ``days`` before and the trend between them (a change under 5 points is ``"flat"``).
    ``series`` may pass ``2 * days`` points ending with ``end`` to avoid a query."""
    clock = clock or DayClock.from_store(store, config, now)
    end = end or clock.today(now)
    pts = (
        list(series)
        if series is not None
        else _points(store, clock, end - timedelta(days=2 * days - 1), end)
    )
    cur, prev = pts[-days:], pts[-2 * days : -days]
    g, t = sum(p.genuine for p in cur), sum(p.total for p in cur)
    pg, pt = sum(p.genuine for p in prev), sum(p.total for p in prev)
    r = g / t if t else None
    pr = pg / pt if pt else None
    if r is None or pr is None:
        trend = "none"
    elif r - pr > 0.05:
        trend = "up"
    elif pr - r > 0.05:
        trend = "down"
    else:
        trend = "flat"
    return RatioPoint(days=days, genuine=g, total=t, ratio=r, previous=pr, trend=trend)


def label_mix(
    store: Store, config: Config, start: date, end: date, clock: DayClock | None = None
) -> dict[str, dict[str, int]]:
    """Posts per platform and effective label for the local days ``start`` .. ``end``."""
    clock = clock or DayClock.from_store(store, config)
    lo, hi = clock.bounds(start)[0], clock.bounds(end)[1]
    out: dict[str, dict[str, int]] = {}
    for platform, label, n in store.goal_label_mix(lo, hi):
        d = out.setdefault(platform, {lb: 0 for lb in (*LABELS, "unlabelled")})
        d[label or "unlabelled"] += n
    return out


def _app_key(name: str) -> str:
    return " ".join(name.casefold().split())


def automation_sources(
    store: Store,
    config: Config,
    start: date,
    end: date,
    min_repeats: int = 3,
    clock: DayClock | None = None,
) -> Automation:
    """Posting apps of non-genuine posts, and links posted at least ``min_repeats`` times, in
    the local days ``start`` .. ``end``."""
    clock = clock or DayClock.from_store(store, config)
    lo, hi = clock.bounds(start)[0], clock.bounds(end)[1]
    known = {_app_key(a) for a in config.automation_apps}
    suites = {_app_key(a) for a in config.suite_apps}
    apps: dict[str | None, dict[str, Any]] = {}
    for app, platform, label, n in store.goal_posting_apps(lo, hi, NOT_GENUINE_LABELS):
        a = apps.setdefault(app, {"platforms": set(), "posts": 0, "by_label": {}})
        a["platforms"].add(platform)
        a["posts"] += n
        a["by_label"][label] = a["by_label"].get(label, 0) + n
    app_counts = [
        AppCount(
            app=app,
            platforms=sorted(a["platforms"]),
            posts=a["posts"],
            by_label=dict(sorted(a["by_label"].items())),
            known_automation=app is not None and _app_key(app) in known,
            suite=app is not None and _app_key(app) in suites,
        )
        for app, a in apps.items()
    ]
    app_counts.sort(key=lambda a: (-a.posts, a.app is None, a.app or ""))
    links = [
        RecycledLink(url=u, posts=n, platforms=pl, first=f, last=la)
        for u, n, pl, f, la in store.goal_recycled_links(lo, hi, min_repeats)
    ]
    return Automation(start=start, end=end, apps=app_counts, recycled_links=links)


# ---------------------------------------------------------------------------------------------
# Who is waiting
# ---------------------------------------------------------------------------------------------


def _waiting_days(config: Config) -> int:
    return int(config.values["goal"]["waiting_days"])


def waiting_for_you(store: Store, config: Config, now: datetime | None = None) -> WaitingSummary:
    """Unanswered mentions of the last ``[goal] waiting_days`` days (newest first) and the
    median time the user took to answer the mentions of the last 30 days."""
    now = _now(now)
    wdays = _waiting_days(config)
    since = now - timedelta(days=max(wdays, ANSWER_WINDOW_DAYS))
    wait_since = now - timedelta(days=wdays)
    answer_since = now - timedelta(days=ANSWER_WINDOW_DAYS)
    items: list[Waiting] = []
    delays: list[float] = []
    for m, answered_at in store.goal_mentions_with_answers(since):
        if m.created_at > now:
            continue
        if answered_at is not None and answered_at <= now:
            if m.created_at >= answer_since:
                delays.append((answered_at - m.created_at).total_seconds())
            continue
        if m.created_at >= wait_since:
            items.append(_waiting(m, now))
    median = timedelta(seconds=statistics.median(delays)) if delays else None
    return WaitingSummary(items, median, len(delays), wdays)


def _waiting(m: Mention, now: datetime) -> Waiting:
    return Waiting(
        platform=m.platform,
        mention_id=m.mention_id,
        author=m.author,
        created_at=m.created_at,
        text=m.text,
        kind=m.kind,
        url=m.url,
        age=now - m.created_at,
    )


def lapsed_contacts(
    store: Store,
    config: Config,
    now: datetime | None = None,
    quiet_days: int = 30,
    lookback_days: int = 180,
    limit: int = 3,
) -> list[Contact]:
    """People the user had genuine interactions with in the last ``lookback_days`` days but
    none in the last ``quiet_days``; the most talked-with first."""
    now = _now(now)
    cutoff = now - timedelta(days=quiet_days)
    rows = store.goal_contacts(now - timedelta(days=lookback_days), GENUINE_LABELS)
    recent = {(p, w) for p, w, last, _ in rows if last >= cutoff}
    recent_people = {w for _, w in recent}
    lapsed = [
        Contact(p, w, last, n)
        for p, w, last, n in rows
        if last < cutoff and (p, w) not in recent and w not in recent_people
    ]
    lapsed.sort(key=lambda c: (-c.posts, -c.last.timestamp(), c.platform, c.person))
    return lapsed[:limit]


def suggestions(
    waiting: WaitingSummary,
    lapsed: Iterable[Contact],
    now: datetime | None = None,
    limit: int = 3,
) -> list[Suggestion]:
    """Concrete things to do today: answer who is waiting (questions first, newest first, one
    per person), reconnect with people gone quiet, else ask something. At most ``limit``."""
    now = _now(now)
    out: list[Suggestion] = []
    items = sorted(waiting.items, key=lambda w: (not w.is_question, -w.created_at.timestamp()))
    seen: set[tuple[str, str]] = set()
    for w in items:
        if len(out) >= max(1, limit - 1):
            break
        key = (w.platform, norm_handle(w.author))
        if key in seen:
            continue
        seen.add(key)
        what = "question" if w.is_question else ("reply" if w.kind == "reply" else "mention")
        out.append(
            Suggestion(
                kind="answer",
                text=(
                    f"Answer {w.who}'s {what} on {PLATFORM_NAMES.get(w.platform, w.platform)} "
                    f'({format_age(now - w.created_at)} ago): "{_short(w.text)}"'
                ),
                person=w.author,
                platform=w.platform,
                url=w.url,
            )
        )
    for c in lapsed:
        if len(out) >= limit:
            break
        weeks = max(1, (now - c.last).days // 7)
        out.append(
            Suggestion(
                kind="reconnect",
                text=(
                    f"Check in with {c.who} on {PLATFORM_NAMES.get(c.platform, c.platform)}: "
                    f"you talked {c.posts} time{'s' if c.posts != 1 else ''}, the last "
                    f"{weeks} week{'s' if weeks != 1 else ''} ago."
                ),
                person=c.person,
                platform=c.platform,
            )
        )
    if len(out) < 2:
        out.append(
            Suggestion(
                kind="ask",
                text="Ask your followers a real question about something you are working on.",
            )
        )
    return out[:limit]


def _short(text: str, n: int = 70) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1].rstrip() + "…"
