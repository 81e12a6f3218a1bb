"""Shared test set-up: every test gets its own ENGAGE_HOME, so no test can touch a real user's
database, config or credentials."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def engage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "engage-home"
    monkeypatch.setenv("ENGAGE_HOME", str(home))
    for var in (
        "ENGAGE_DB",
        "ENGAGE_BLUESKY_APP_PASSWORD",
        "ENGAGE_X_BEARER_TOKEN",
        "ENGAGE_SMTP_PASSWORD",
        "NO_COLOR",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TZ", "UTC")
    return home


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``engage ARGS`` in-process through the real entry point (error mapping included)."""
    from engage.cli import main

    def run(*args: str, input: str | None = None) -> CliResult:
        capsys.readouterr()
        old_stdin = sys.stdin
        if input is not None:
            import io

            sys.stdin = io.StringIO(input)
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdin = old_stdin
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run
