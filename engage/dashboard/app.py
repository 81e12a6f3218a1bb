"""The dashboard app: layout, keys, and the worker threads that read and write the database.

Every database call runs in a worker thread through ``StoreGateway`` (short opens, closed at
once); the UI thread only draws, and never imports DuckDB (``data.py``, the full reads, is
imported by the workers). The first frame comes from the writers' summary when it describes the
database as it is (``summary.py``, through ``HeadStart``), and the full reads follow at once;
else from the head start's reads. A timer looks at the database files once per ``poll_interval``
and reloads what is out of date: after any change (a cron fetch, a correction made elsewhere),
after a read that found the database busy, and every minute for the clock. Results of a load
that a newer one (another filter, another range) has overtaken are dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, Static

from engage.config import Config
from engage.dashboard.components.chart import DailyChart
from engage.dashboard.components.panels import (
    MixPanel,
    TodayPanel,
    WaitingList,
    clock_text,
    mix_subtitle,
    waiting_subtitle,
    waiting_title,
)
from engage.dashboard.components.posts import PostsPanel, PostsTable
from engage.dashboard.components.screens import DetailsScreen, HelpScreen, RelabelScreen
from engage.dashboard.headstart import HeadStart
from engage.dashboard.model import (
    PAGE_SIZE,
    Overview,
    PendingCorrections,
    PostFilter,
    PostsPage,
    Signature,
    StoreGateway,
    Streak,
    TodaySummary,
    db_signature,
    post_key,
    read_outcome,
)
from engage.dashboard.summary import FirstPaint
from engage.errors import DatabaseBusyError, EngageError

log = logging.getLogger(__name__)

BUSY = "database busy (a fetch is running); retrying"
RANGES = (30, 90)
OVERVIEW_MAX_AGE = 60.0  # seconds: today's panel follows the clock even without writes


def empty_database_message(db: Path, exists: bool) -> str:
    if not exists:
        first = f"There is no engage database at {db} yet."
    else:
        first = f"The database {db} has no posts yet."
    return (
        f"{first}\n\n"
        "Run 'engage account add ...' and 'engage fetch', or 'engage import PATH' with an "
        "archive from X or Mastodon, first.\n"
        "To look around on sample data: 'engage demo --dashboard'.\n\n"
        "This screen updates by itself when posts arrive. q quits, ? shows the keys."
    )


class DashboardApp(App[None]):
    """``engage dashboard``. ``clock`` gives "now" (aware) and ``open_url`` opens a link; both
    can be replaced in tests, as can the timings."""

    CSS_PATH = Path(__file__).with_name("dashboard.tcss")  # absolute: subclasses live elsewhere
    TITLE = "engage"
    ENABLE_COMMAND_PALETTE = False  # every key is on the help screen; nothing hides behind ^p

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help"),
        Binding("r", "toggle_range", "30/90 d"),
        Binding("l", "label_filter(1)", "label"),
        Binding("L", "label_filter(-1)", "label", show=False),
        Binding("p", "platform_filter(1)", "platform"),
        Binding("P", "platform_filter(-1)", "platform", show=False),
        Binding("a", "clear_filters", "all posts", show=False),
        Binding("c", "correct", "correct"),
        Binding("o", "open_url", "open"),
        Binding("v", "details", "details", show=False),
        Binding("ctrl+r", "reload", "reload", show=False),
    ]

    def __init__(
        self,
        db_path: Path,
        config: Config,
        *,
        clock: Callable[[], datetime] | None = None,
        open_url: Callable[[str], Any] = webbrowser.open,
        poll_interval: float = 1.0,
        read_timeout: float = 0.25,
        write_timeout: float = 2.0,
        head_start: HeadStart | None = None,
    ) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.url_opener = open_url
        self.poll_interval = poll_interval
        self.head_start = head_start
        self.gateway = StoreGateway(
            self.db_path, read_timeout=read_timeout, write_timeout=write_timeout
        )
        self.pending = PendingCorrections()
        self.days = RANGES[0]
        self.filter = PostFilter()
        self.platforms: list[str] = []
        self.overview: Overview | None = None
        self.status_message = "loading…"
        self.busy = False
        # load bookkeeping (UI thread only)
        # load bookkeeping (UI thread only): a load is "running" while the newest one started
        # (generation ``_gen``) has not reported back (``_done``); older results are dropped
        self._overview_gen = self._overview_done = 0
        self._overview_sig: Signature | None = None
        self._overview_at = 0.0
        self._posts_gen = self._posts_done = 0
        self._streak_gen = self._streak_done = 0
        self._posts_sig: Signature | None = None
        self._flush_running = False
        self._streak: Streak | None = None
        self._streak_again = False
        self._home: Screen[Any]

    @property
    def _overview_running(self) -> bool:
        return self._overview_gen > self._overview_done

    @property
    def _posts_running(self) -> bool:
        return self._posts_gen > self._posts_done

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="titlebar")
        with Vertical(id="main"):
            with Horizontal(id="top"):
                yield TodayPanel(id="today", classes="panel")
                yield MixPanel(id="mix", classes="panel")
                yield WaitingList(id="waiting", classes="panel")
            yield DailyChart(id="chart", classes="panel")
            yield PostsPanel(self.config.tz, id="posts", classes="panel")
        yield Static(id="empty")
        yield Footer()

    def on_mount(self) -> None:
        # the main screen's widgets, kept: ``self.query_one`` searches whichever pop-up is open,
        # and a timer may still fire while the app shuts down
        self._home = self.screen
        self.w_titlebar = self.query_one("#titlebar", Static)
        self.w_empty = self.query_one("#empty", Static)
        self.w_today = self.query_one(TodayPanel)
        self.w_mix = self.query_one(MixPanel)
        self.w_waiting = self.query_one(WaitingList)
        self.w_chart = self.query_one(DailyChart)
        self.w_posts = self.query_one(PostsPanel)
        self.w_table = self.query_one(PostsTable)
        self.w_today.border_title = "Today"
        self.w_waiting.border_title = "Waiting for you"
        self._set_range_titles()
        self._set_posts_title()
        self._draw_titlebar()
        self.w_table.focus()
        head = self.head_start
        if head is not None and head.first is not None:
            # the writers' summary describes the database as it is: show it, then read in full
            self.head_start = None
            self._show_first_paint(head.first)
        elif head is not None:
            # the first reads are already running (started before Textual was imported)
            self._overview_gen = self._posts_gen = 1
            self._take_head_start(head)
        else:
            self.refresh_stale(force=True)
        self.set_interval(self.poll_interval, self._tick)

    def _set_range_titles(self) -> None:
        g = self.config
        chart = self.w_chart
        chart.border_title = f"Last {self.days} days: genuine per day"
        chart.border_subtitle = f"┈ goal {g.goal_min}-{g.goal_target} · % row: genuine share"
        self.w_mix.border_title = f"Label mix, {self.days} days"
        self.w_mix.border_subtitle = "% genuine"

    def _set_posts_title(self) -> None:
        panel = self.w_posts
        panel.border_title = f"Posts · {self.filter.describe()}"
        panel.border_subtitle = "c correct · o open · v details"

    def _draw_titlebar(self) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("engage", style="bold")
        t.append(f" · {self.db_path.name} · {clock_text(self.clock().astimezone(self.config.tz))}")
        if self.status_message:
            t.append(" · ")
            t.append(self.status_message, style="bold" if self.busy else "")
        n = len(self.pending)
        if n:
            t.append(f" · {n} correction{'s' if n > 1 else ''} not stored yet", style="bold")
        self.w_titlebar.update(t)

    def _set_status(self, message: str, *, busy: bool = False) -> None:
        self.status_message = message
        self.busy = busy
        self._draw_titlebar()

    def _show_empty(self, exists: bool) -> None:
        self._home.add_class("no-data")
        self.w_empty.update(empty_database_message(self.db_path, exists))

    def _hide_empty(self) -> None:
        self._home.remove_class("no-data")

    # -- loading ---------------------------------------------------------------------------

    def _tick(self) -> None:
        if len(self.pending):
            self.flush_corrections()
        self.refresh_stale()

    def refresh_stale(self, *, force: bool = False) -> None:
        """Reload the overview and the posts if the database changed since they were loaded
        (or ``force``). Cheap when nothing changed: two ``stat`` calls."""
        if not self.gateway.exists():
            self._overview_sig = self._posts_sig = None
            self.overview = None
            self._show_empty(exists=False)
            self._set_status("waiting for a database")
            return
        sig = db_signature(self.db_path)
        too_old = time.monotonic() - self._overview_at > OVERVIEW_MAX_AGE
        if (force or sig != self._overview_sig or too_old) and not self._overview_running:
            self._start_overview(sig)
        if (force or sig != self._posts_sig) and not self._posts_running:
            table = self.w_table
            self._start_posts(sig, 0, max(PAGE_SIZE, table.row_count))
        self._draw_titlebar()

    def _start_overview(self, sig: Signature) -> None:
        self._overview_gen += 1
        self._load_overview(self._overview_gen, sig, self.days, self.clock())

    def _start_posts(self, sig: Signature, offset: int, limit: int) -> None:
        self._posts_gen += 1
        self._load_posts(self._posts_gen, sig, self.filter, offset, limit)

    def _call_ui(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on the UI thread; quietly nothing when the app has already exited."""
        try:
            self.call_from_thread(fn, *args)
        except RuntimeError:
            log.debug("dashboard closed before a worker finished")

    def _read(self, fn: Callable[[Any], Any]) -> tuple[str, Any]:
        return read_outcome(self.gateway, fn)

    def _show_first_paint(self, first: FirstPaint) -> None:
        today = first.overview.today
        if today is not None and today.streak_days is not None:
            # the full overview takes the streak from the goal cache only on the day that was
            # written; until a streak read follows, the summary's stands in for one (it is
            # exact for this database, this day and this count)
            people = list(today.people or [])
            self._streak = Streak(today.day, today.count, today.streak_days, people)
        self._overview_gen = self._posts_gen = 1
        self._overview_loaded(1, first.sig, "ok", first.overview)
        self._posts_loaded(1, first.sig, "ok", first.posts)
        # the full reads (the same data, as objects of the store) once this frame is painted
        self.call_after_refresh(self.refresh_stale, force=True)

    @work(thread=True, group="head-start", exit_on_error=False)
    def _take_head_start(self, head: HeadStart) -> None:
        head.done.wait()
        self._call_ui(self._head_start_done, head)

    def _head_start_done(self, head: HeadStart) -> None:
        self.head_start = None
        if head.overview is None or head.posts is None or head.sig is None:
            # no database then (or the reads broke off): the normal loading takes over
            self._overview_done, self._posts_done = self._overview_gen, self._posts_gen
            self.refresh_stale(force=True)
            return
        self._overview_loaded(1, head.sig, *head.overview)
        self._posts_loaded(1, head.sig, *head.posts)

    @work(thread=True, group="overview", exit_on_error=False)
    def _load_overview(self, gen: int, sig: Signature, days: int, now: datetime) -> None:
        from engage.dashboard import data  # DuckDB loads here, in the worker

        kind, result = self._read(lambda store: data.load_overview(store, self.config, now, days))
        self._call_ui(self._overview_loaded, gen, sig, kind, result)

    @work(thread=True, group="posts", exit_on_error=False)
    def _load_posts(
        self, gen: int, sig: Signature, filt: PostFilter, offset: int, limit: int
    ) -> None:
        from engage.dashboard import data

        kind, result = self._read(lambda store: data.load_posts(store, filt, offset, limit))
        self._call_ui(self._posts_loaded, gen, sig, kind, result)

    def _overview_loaded(self, gen: int, sig: Signature, kind: str, result: Any) -> None:
        if gen != self._overview_gen:
            return  # overtaken by a newer load (another range)
        self._overview_done = gen
        if kind == "busy":
            self._set_status(BUSY, busy=True)
            return
        if kind == "error":
            self._set_status(str(result), busy=True)
            return
        overview: Overview = result
        self._overview_sig = sig
        self._overview_at = time.monotonic()
        self.overview = overview
        self.platforms = overview.platforms
        if overview.total_posts == 0:
            self._show_empty(exists=True)
        else:
            self._hide_empty()
            self._show_overview(overview)
            if overview.today is not None and overview.today.streak_days is None:
                self._start_streak()
        self._set_status(f"updated {overview.now.astimezone(self.config.tz):%H:%M:%S}")

    def _show_overview(self, ov: Overview) -> None:
        if ov.today is None or ov.series is None or ov.mix is None:
            return
        today = self._with_streak(ov.today)
        self.w_today.show(today)
        g = today.goal
        self.w_chart.update_points(ov.series, g.min, g.target)
        self.w_mix.show(ov.mix)
        self.w_mix.border_subtitle = mix_subtitle(ov.mix)
        waiting = self.w_waiting
        waiting.show(today.waiting)
        waiting.border_title = waiting_title(today.waiting)
        waiting.border_subtitle = waiting_subtitle(today.waiting)

    def _start_streak(self) -> None:
        """The slow part of today's panel, in its own worker after the rest is shown."""
        if self._streak_gen > self._streak_done:
            self._streak_again = True  # one is running: read again when it is done
            return
        self._streak_again = False
        self._streak_gen += 1
        self._load_streak(self._streak_gen, self.clock())

    @work(thread=True, group="streak", exit_on_error=False)
    def _load_streak(self, gen: int, now: datetime) -> None:
        from engage.dashboard import data

        kind, result = self._read(lambda store: data.load_streak(store, self.config, now))
        self._call_ui(self._streak_loaded, gen, kind, result)

    def _streak_loaded(self, gen: int, kind: str, result: Any) -> None:
        self._streak_done = gen
        if kind == "ok":
            self._streak = result
            ov = self.overview
            if ov is not None and ov.today is not None:
                self.w_today.show(self._with_streak(ov.today))
        if self._streak_again:
            self._start_streak()

    def _with_streak(self, today: TodaySummary) -> TodaySummary:
        """``today`` with the last streak read, while that still describes today."""
        s = self._streak
        if (
            today.streak_days is not None
            or s is None
            or (s.day, s.count) != (today.day, today.count)
        ):
            return today
        return dataclasses.replace(today, streak_days=s.streak_days, people=s.people)

    def _posts_loaded(self, gen: int, sig: Signature, kind: str, result: Any) -> None:
        if gen != self._posts_gen:
            return  # overtaken by a newer load (another filter)
        self._posts_done = gen
        if kind == "busy":
            self._set_status(BUSY, busy=True)
            return
        if kind == "error":
            self._set_status(str(result), busy=True)
            return
        page: PostsPage = result
        if page.offset == 0:
            self._posts_sig = sig
        table = self.w_table
        table.show_page(page, self.pending.snapshot(), keep_cursor=True)
        panel = self.w_posts
        if page.offset == 0 and not page.rows:
            panel.border_subtitle = "no posts match: l / p change the filter, a shows all"
        else:
            panel.border_subtitle = "c correct · o open · v details"
        panel.show_reason(table.selected_view())
        if self.busy:
            self._set_status("updated", busy=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = self.w_table
        self.w_posts.show_reason(table.selected_view())
        if (
            event.data_table is table
            and not table.complete
            and table.near_end()
            and not self._posts_running
            and table.loaded_filter == self.filter
        ):
            sig = self._posts_sig or db_signature(self.db_path)
            self._start_posts(sig, table.row_count, PAGE_SIZE)

    # -- corrections -----------------------------------------------------------------------

    def flush_corrections(self) -> None:
        if self._flush_running or not len(self.pending):
            return
        self._flush_running = True
        self._store_corrections()

    @work(thread=True, group="corrections", exit_on_error=False)
    def _store_corrections(self) -> None:
        items = self.pending.snapshot()
        try:
            self.pending.flush(self.gateway)
        except DatabaseBusyError:
            self._call_ui(self._flushed, "busy", items)
        except EngageError as exc:
            self._call_ui(self._flushed, exc.message, items)
        except Exception as exc:
            log.debug("storing a correction failed", exc_info=True)  # shown in the title bar
            self._call_ui(self._flushed, f"could not store the correction ({exc})", items)
        else:
            self._call_ui(self._flushed, "ok", items)

    def _flushed(self, outcome: str, items: dict[tuple[str, str], str | None]) -> None:
        self._flush_running = False
        if outcome == "busy":
            self._set_status(
                "database busy: your correction is kept and stored when it is free", busy=True
            )
            return
        if outcome != "ok":
            self._set_status(outcome, busy=True)
            return
        table = self.w_table
        for (platform, post_id), label in items.items():
            key = post_key(platform, post_id)
            view = table.views.get(key)
            if view is None:
                continue
            if label is None:
                view = dataclasses.replace(
                    view, label=view.model_label, corrected=False, confidence=None
                )
            else:
                view = dataclasses.replace(view, label=label, corrected=True, confidence=1.0)
            table.replace_view(key, view)
            table.redraw_post(key, self.pending.snapshot())
        self.w_posts.show_reason(table.selected_view())
        n = len(items)
        self._set_status(f"{n} correction{'s' if n > 1 else ''} stored")
        self.refresh_stale(force=True)

    def _correction_chosen(self, key: str, result: str | None) -> None:
        if result is None:
            return
        platform, _, post_id = key.partition("\x1f")
        self.pending.add(platform, post_id, result or None)
        self.w_table.redraw_post(key, self.pending.snapshot())
        self._draw_titlebar()
        self.flush_corrections()

    # -- actions ---------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_range(self) -> None:
        self.days = RANGES[(RANGES.index(self.days) + 1) % len(RANGES)]
        self._set_range_titles()
        if self.gateway.exists():
            self._start_overview(db_signature(self.db_path))

    def _change_filter(self, filt: PostFilter) -> None:
        self.filter = filt
        self._set_posts_title()
        table = self.w_table
        table.clear()
        table.views = {}
        self.w_posts.border_subtitle = "loading…"
        self.w_posts.show_reason(None)
        if self.gateway.exists():
            self._start_posts(db_signature(self.db_path), 0, PAGE_SIZE)

    def action_label_filter(self, step: int) -> None:
        self._change_filter(self.filter.next_label(step))

    def action_platform_filter(self, step: int) -> None:
        self._change_filter(self.filter.next_platform(self.platforms, step))

    def action_clear_filters(self) -> None:
        self._change_filter(PostFilter())

    def action_reload(self) -> None:
        self.refresh_stale(force=True)

    def action_correct(self) -> None:
        table = self.w_table
        key = table.selected_key()
        view = table.views.get(key) if key else None
        if key is None or view is None:
            self.notify("No post selected: pick one in the table first.", severity="warning")
            return
        self.push_screen(RelabelScreen(view), lambda r: self._correction_chosen(key, r))

    def _selected_url(self) -> str | None:
        focused = self.focused
        if isinstance(focused, WaitingList):
            item = focused.selected_item()
            return item.url if item else None
        view = self.w_table.selected_view()
        return view.post.url if view else None

    def action_open_url(self) -> None:
        url = self._selected_url()
        if not url:
            self.notify("Nothing selected with a link.", severity="warning")
            return
        try:
            opened = self.url_opener(url)
        except Exception:
            opened = False
        if opened is False:
            self.notify(f"Could not start a browser; the link is {url}", timeout=10)
        else:
            self.notify(f"Opened {url}")

    def action_details(self) -> None:
        view = self.w_table.selected_view()
        if view is not None:
            self.push_screen(DetailsScreen(view, self.config.tz))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_url()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_open_url()
