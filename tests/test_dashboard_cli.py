"""`engage dashboard` and `engage demo --dashboard`: the CLI side (the app itself is driven in
test_dashboard_app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import engage.dashboard
from engage import paths
from engage.cli import cmd_dashboard


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cmd_dashboard, "_is_terminal", lambda: True)
    monkeypatch.setattr(
        engage.dashboard,
        "run_dashboard",
        lambda db, config, **kw: calls.append({"db": db, "config": config, **kw}),
    )
    return calls


def test_dashboard_opens_the_chosen_database(run_cli, launched, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "team.duckdb"
    result = run_cli("--db", str(db), "dashboard", "--poll", "2")
    assert result.exit_code == 0, result.stderr
    assert launched[0]["db"] == db and launched[0]["poll_interval"] == 2.0
    assert not db.exists()  # opening the dashboard never creates a database


def test_dashboard_without_a_terminal_is_one_line_and_exit_2(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("dashboard")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "engage: error: engage dashboard needs a terminal; for a text summary use "
        "'engage today' or 'engage report'"
    )


def test_demo_dashboard_opens_the_demo_database(run_cli, launched) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("demo", "--dashboard")
    assert result.exit_code == 0, result.stderr
    assert launched[0]["db"] == paths.demo_db_path()
    assert paths.demo_db_path().exists()


def test_demo_dashboard_without_a_terminal_stops_before_building(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("demo", "--dashboard")
    assert result.exit_code == 2 and "needs a terminal" in result.stderr
    assert not paths.demo_db_path().exists()


def test_dashboard_help_names_the_keys_screen(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("dashboard", "-h")
    assert result.exit_code == 0
    assert "--poll" in result.stdout and "Press ? for the keys" in result.stdout
