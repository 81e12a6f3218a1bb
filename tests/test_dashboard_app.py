"""The dashboard driven through Textual's Pilot: keys, filters, relabel, range switch, empty
database, and another process holding the database while the dashboard refreshes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from dashboard_support import (
    NOW,
    WriterProcess,
    build_db,
    build_empty_db,
    config,
    make_app,
    settle,
)
from textual.pilot import Pilot
from textual.widgets import Static

from engage.dashboard import app as app_module
from engage.dashboard import data as data_module
from engage.dashboard.app import BUSY, DashboardApp
from engage.dashboard.components.chart import DailyChart
from engage.dashboard.components.panels import MixPanel, WaitingList
from engage.dashboard.components.posts import PostsPanel, PostsTable
from engage.dashboard.components.screens import KEYS, DetailsScreen, HelpScreen, RelabelScreen
from engage.dashboard.headstart import HeadStart
from engage.store import open_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


async def until(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
        await pilot.pause()


def text_of(app: DashboardApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def labels_shown(app: DashboardApp) -> set[str]:
    table = app.query_one(PostsTable)
    return {str(table.get_cell_at((r, 2))).rstrip("*…") for r in range(table.row_count)}


def platforms_shown(app: DashboardApp) -> set[str]:
    table = app.query_one(PostsTable)
    return {str(table.get_cell_at((r, 1))) for r in range(table.row_count)}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "engage.duckdb")


async def test_the_main_screen_shows_today_the_chart_the_mix_the_posts_and_who_waits(
    db: Path,
) -> None:
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "1/3 today · below goal" in text_of(app, "#today-text")
        assert "7 days" in text_of(app, "#today-text")
        table = app.query_one(PostsTable)
        assert table.row_count > 100
        assert table.selected_view().post.created_at.date() == NOW.date()  # newest first
        assert app.query_one(DailyChart).points[-1].day == NOW.date()
        assert set(app.query_one(MixPanel).mix or {}) == {"bluesky", "mastodon", "x"}
        waiting = app.query_one(WaitingList)
        assert [w.who for w in waiting.items] == ["@ana", "@chen.bsky.social"]
        assert waiting.border_title == "Waiting for you (2)"
        assert "updated 15:30:00" in text_of(app, "#titlebar")
        assert "why: reply to @fatimaux" in text_of(app, "#post-reason")


async def test_label_and_platform_keys_filter_the_posts(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert labels_shown(app) == {"auto_promo"}
        assert "label: auto_promo" in str(app.query_one(PostsPanel).border_title)
        await pilot.press("l")
        await settle(pilot)
        assert labels_shown(app) == {"share"}
        await pilot.press("L", "L")
        await settle(pilot)
        assert labels_shown(app) == {"auto_promo", "share", "ask", "answer", "comment"}
        await pilot.press("p")
        await settle(pilot)
        assert platforms_shown(app) == {"bluesky"}
        await pilot.press("p", "l", "l", "l")  # mastodon, ask
        await settle(pilot)
        assert platforms_shown(app) == {"mastodon"} and labels_shown(app) == {"ask"}
        assert app.query_one(PostsTable).row_count > 0
        await pilot.press("a")
        await settle(pilot)
        assert len(platforms_shown(app)) == 3 and len(labels_shown(app)) == 5


async def test_a_filter_with_no_match_says_how_to_get_posts_back(tmp_path: Path) -> None:
    db = build_db(tmp_path / "engage.duckdb", days=1)  # one comment, no auto_promo at all
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert app.query_one(PostsTable).row_count == 0
        assert "no posts match" in str(app.query_one(PostsPanel).border_subtitle)


async def test_relabel_is_shown_at_once_stored_as_a_correction_and_counted(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(PostsTable)
        post = table.selected_view().post
        await pilot.press("c")
        assert isinstance(app.screen, RelabelScreen)
        await pilot.press("2")  # share
        assert str(table.get_cell_at((0, 2))).startswith("share")  # before any write finished
        await settle(pilot)
        assert str(table.get_cell_at((0, 2))) == "share*"
        assert "0/3 today" in text_of(app, "#today-text")  # today's only genuine post is gone
        with open_store(db, read_only=True) as store:
            view = store.query_posts(limit=1)[0]
        assert (view.post.post_id, view.label, view.corrected) == (post.post_id, "share", True)
        assert "your correction" in text_of(app, "#post-reason")
        await pilot.press("c", "0")  # back to the model's label
        await settle(pilot)
        assert str(table.get_cell_at((0, 2))) == "comment"
        assert "1/3 today" in text_of(app, "#today-text")
        await pilot.press("c", "escape")  # cancel changes nothing
        await settle(pilot)
        assert str(table.get_cell_at((0, 2))) == "comment"
    with open_store(db, read_only=True) as store:
        assert store.corrections() == []


async def test_relabel_while_a_writer_holds_the_database_is_kept_and_stored_later(
    db: Path,
) -> None:
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(PostsTable)
        with WriterProcess(db) as writer:
            await pilot.press("c", "3")  # ask
            await until(pilot, lambda: "kept" in app.status_message)
            assert str(table.get_cell_at((0, 2))) == "ask…"
            assert "1 correction not stored yet" in text_of(app, "#titlebar")
            writer.release()
            await until(pilot, lambda: len(app.pending) == 0)
        await settle(pilot)
        await until(pilot, lambda: str(table.get_cell_at((0, 2))) == "ask*")
    with open_store(db, read_only=True) as store:
        assert [label for _, label in store.corrections()] == ["ask"]


async def test_a_writer_holding_the_database_during_a_refresh_shows_busy_then_new_data(
    db: Path,
) -> None:
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows_before = app.query_one(PostsTable).row_count
        with WriterProcess(db, insert=True) as writer:
            # the files changed and the writer still holds them: the refresh finds it busy
            await until(pilot, lambda: app.status_message == BUSY)
            assert BUSY in text_of(app, "#titlebar")
            assert app.query_one(PostsTable).row_count == rows_before  # old data stays
            await asyncio.sleep(0.3)  # several more ticks, still busy, still alive
            await pilot.pause()
            assert app.is_running and app.status_message == BUSY
            writer.release()
            await until(pilot, lambda: app.query_one(PostsTable).row_count == rows_before + 1)
        await settle(pilot)
        table = app.query_one(PostsTable)
        assert next(iter(table.views.values())).post.post_id == "new-1"  # on top
        assert table.cursor_row == 1  # the selection stayed on the post the user had selected
        assert "2/3 today" in text_of(app, "#today-text")
        assert app.status_message.startswith("updated")


async def test_an_open_dashboard_does_not_keep_a_cron_writer_out(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await asyncio.sleep(0.3)  # a few ticks of change detection
        with WriterProcess(db, insert=True):  # would raise if it could not lock the file
            pass
        await until(pilot, lambda: app.query_one(PostsTable).row_count > 0 and not app.busy)


async def test_range_key_switches_the_chart_between_30_and_90_days(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        chart = app.query_one(DailyChart)
        assert len(chart.points) == 30 and "30 days" in str(chart.border_title)
        await pilot.press("r")
        await settle(pilot)
        assert len(chart.points) == 90 and "90 days" in str(chart.border_title)
        assert "90 days" in str(app.query_one(MixPanel).border_title)
        await pilot.press("r")
        await settle(pilot)
        assert len(chart.points) == 30


async def test_an_empty_database_says_what_to_run_first(tmp_path: Path) -> None:
    db = build_empty_db(tmp_path / "engage.duckdb")
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        message = text_of(app, "#empty")
        assert "has no posts yet" in message
        assert "engage fetch" in message and "engage import" in message
        assert app.screen.has_class("no-data")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)


async def test_a_missing_database_is_waited_for_and_shown_when_it_appears(tmp_path: Path) -> None:
    db = tmp_path / "engage.duckdb"
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no engage database" in text_of(app, "#empty")
        assert not db.exists()  # the dashboard never creates one
        await asyncio.to_thread(build_db, db)
        await until(pilot, lambda: app.query_one(PostsTable).row_count > 0)
        assert not app.screen.has_class("no-data")


async def test_help_lists_every_key(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = " ".join(k for k, _ in KEYS)
        for binding in DashboardApp.BINDINGS:
            key = binding.key if hasattr(binding, "key") else binding[0]  # type: ignore[index]
            shown = {"question_mark": "?", "ctrl+r": "Ctrl+R"}.get(key, key)
            assert shown in listed.split() or shown in listed, key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        assert not app.is_running


async def test_open_and_details_use_the_selected_post_or_the_waiting_person(db: Path) -> None:
    opened: list[str] = []
    app = make_app(db, opened)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(PostsTable)
        await pilot.press("down")
        second = table.selected_view().post.url
        await pilot.press("o")
        await pilot.press("enter")
        assert opened == [second, second]
        await pilot.press("v")
        assert isinstance(app.screen, DetailsScreen)
        await pilot.press("escape")
        await pilot.pause()
        app.set_focus(app.query_one(WaitingList))
        await pilot.pause()
        assert app.focused is app.query_one(WaitingList)
        await pilot.press("o")
        assert opened[-1] == "https://social.example/@ana/m-ana-1"


async def test_scrolling_to_the_end_loads_the_next_page(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "PAGE_SIZE", 40)
    monkeypatch.setattr(data_module, "PAGE_SIZE", 40)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(PostsTable)
        assert table.row_count == 40
        await pilot.press("end")
        await settle(pilot)
        assert table.row_count == 80
        ids = [v.post.post_id for v in table.views.values()]
        assert len(set(ids)) == 80
        times = [v.post.created_at for v in table.views.values()]
        assert times == sorted(times, reverse=True)


def test_the_core_does_not_load_the_dashboard_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, engage.cli, engage.goals, engage.store\n"
        "print(any(m.startswith(('textual', 'engage.dashboard')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_the_head_start_reads_give_the_first_data_without_reading_again(db: Path) -> None:
    head = HeadStart(db, config(), NOW)  # as run_dashboard starts it, before the app exists
    app = make_app(db, head_start=head)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "1/3 today" in text_of(app, "#today-text")
        assert app.query_one(PostsTable).row_count > 100
        assert (app._overview_gen, app._posts_gen) == (1, 1)  # nothing was read twice
        await pilot.press("l")
        await settle(pilot)
        assert labels_shown(app) == {"auto_promo"}


async def test_a_head_start_without_a_database_hands_over_to_the_normal_loading(
    tmp_path: Path,
) -> None:
    db = tmp_path / "engage.duckdb"
    app = make_app(db, head_start=HeadStart(db, config(), NOW))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no engage database" in text_of(app, "#empty")
        await asyncio.to_thread(build_db, db)
        await until(pilot, lambda: app.query_one(PostsTable).row_count > 0)
