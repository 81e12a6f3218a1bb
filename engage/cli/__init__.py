"""The command line: a thin layer that parses options, calls one library function and renders
its result. Each command lives in its own ``cmd_*.py`` module and is registered below."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from engage import __version__
from engage.cli._common import AppContext, run_guarded
from engage.errors import EngageError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Command modules, in the order `engage --help` lists them; `engage.cli.cmd_NAME` holds the
# command NAME as `command`. A command is added here only once it works.
COMMAND_MODULES: tuple[str, ...] = (
    "engage.cli.cmd_demo",
    "engage.cli.cmd_export",
    "engage.cli.cmd_import",
    "engage.cli.cmd_account",
    "engage.cli.cmd_fetch",
    "engage.cli.cmd_posts",
    "engage.cli.cmd_label",
    "engage.cli.cmd_train",
    "engage.cli.cmd_eval",
    "engage.cli.cmd_classify",
    "engage.cli.cmd_today",
    "engage.cli.cmd_nudge",
    "engage.cli.cmd_prompt",
    "engage.cli.cmd_report",
    "engage.cli.cmd_dashboard",
    "engage.cli.cmd_doctor",
)


def _command_name(module: str) -> str:
    return module.rsplit(".", 1)[1].removeprefix("cmd_")


class _Group(click.Group):
    """Commands are imported only when they run: `engage nudge` must not pay for importing
    scikit-learn, Textual or the platform SDKs that other commands need."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [_command_name(m) for m in COMMAND_MODULES]  # registration order

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            for module in COMMAND_MODULES:
                if _command_name(module) == cmd_name:
                    self.add_command(importlib.import_module(module).command, cmd_name)
                    break
        return self.commands.get(cmd_name)


@click.group(cls=_Group, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="engage")
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False),
    envvar="ENGAGE_DB",
    help="Database file (default: <ENGAGE_HOME>/engage.duckdb; env ENGAGE_DB).",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, db: str | None, verbose: int) -> None:
    """engage: see what you really post, and get back to two or three real conversations a day.

    Start with 'engage demo' to see it on sample data.
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="engage: %(levelname)s %(name)s: %(message)s")
    ctx.obj = AppContext(db_override=db)
    # every command that writes the database rewrites the goal cache (engage prompt/nudge)
    from engage import goalcache
    from engage.changes import on_change  # not engage.store: DuckDB loads when it is needed

    on_change(goalcache.refresh_listener)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; an ``EngageError`` becomes one line on stderr and its exit code."""
    return run_guarded(lambda: cli.main(args=argv, prog_name="engage", standalone_mode=False))


__all__ = ["EngageError", "cli", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
