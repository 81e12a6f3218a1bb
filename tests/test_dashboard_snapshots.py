"""Snapshots of the dashboard (pytest-textual-snapshot) on fixed data, a frozen clock and a
fixed terminal size. Update them after an intended change with
``python -m pytest tests/test_dashboard_snapshots.py --snapshot-update`` and look at the SVGs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dashboard_support import build_db, build_empty_db, make_app, settle


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the app shows the path as given: keep it the same every run
    build_db(tmp_path / "engage.duckdb")
    return Path("engage.duckdb")


def test_main_screen_80x24(db: Path, snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(make_app(db), terminal_size=(80, 24), run_before=settle)


def test_main_screen_90_days_on_a_large_terminal(
    db: Path, snap_compare: Callable[..., bool]
) -> None:
    async def run_before(pilot):  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)

    assert snap_compare(make_app(db), terminal_size=(120, 36), run_before=run_before)


def test_main_screen_with_no_color(
    db: Path, snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(make_app(db), terminal_size=(80, 24), run_before=settle)


def test_help_screen(db: Path, snap_compare: Callable[..., bool]) -> None:
    async def run_before(pilot):  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("question_mark")

    assert snap_compare(make_app(db), terminal_size=(80, 24), run_before=run_before)


def test_empty_database(
    tmp_path: Path, snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    build_empty_db(tmp_path / "engage.duckdb")
    app = make_app(Path("engage.duckdb"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
