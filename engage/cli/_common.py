"""What every command shares: the app context (paths, config, store) and error handling."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from engage import paths
from engage.config import Config, load_config
from engage.errors import EngageError, UsageError

if TYPE_CHECKING:
    from engage.store import Store

log = logging.getLogger("engage.cli")


@dataclass
class AppContext:
    db_override: str | None = None
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config()
        return self._config

    @property
    def db_path(self) -> Path:
        return paths.db_path(self.db_override)

    def open_store(self, *, read_only: bool = False, create: bool = True) -> Store:
        # imported here: DuckDB and pyarrow cost a few hundred ms, and the dashboard's first
        # frame does not wait for them (it opens the database in its worker threads)
        from engage.store import open_store

        return open_store(
            self.db_path,
            read_only=read_only,
            lock_timeout=self.config.lock_timeout,
            create=create,
        )


pass_app = click.make_pass_decorator(AppContext)


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop with one line on stderr."""
    raise _Exit(message, code)


class _Exit(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _err(message: str) -> None:
    click.echo(f"engage: error: {message}", err=True)


def run_guarded(fn: Callable[[], Any]) -> NoReturn:
    """Run the click app; map every user-facing failure to one stderr line and an exit code."""
    try:
        result = fn()
    except EngageError as exc:
        _err(exc.message)
        sys.exit(exc.exit_code)
    except _Exit as exc:
        _err(str(exc))
        sys.exit(exc.code)
    except click.exceptions.Abort:
        click.echo("engage: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        # click's own usage errors: keep them to one line plus the help hint
        msg = exc.format_message().splitlines()[0] if exc.format_message() else str(exc)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _err(f"{msg}{hint}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("engage: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug, not a user mistake: say so in one line, details in the log
        log.debug("internal error", exc_info=True)
        _err(
            f"internal error ({type(exc).__name__}); please report it, with the output of "
            "'engage -vv ...'"
        )
        sys.exit(70)
    sys.exit(result if isinstance(result, int) else 0)


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date; use YYYY-MM-DD") from None


def parse_since(value: str | None, option: str = "--since") -> datetime | None:
    """A date (YYYY-MM-DD, start of that UTC day) or an ISO timestamp, as aware UTC."""
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a date; use YYYY-MM-DD or an ISO time"
        ) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
