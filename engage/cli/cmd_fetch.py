from __future__ import annotations

import sys
from typing import Any

import click

from connectors.base import AccountInfo
from engage.cli._common import AppContext, parse_since, pass_app
from engage.fetch import AccountFetch, FetchReport, fetch_accounts, fetch_settings


class _RichProgress:
    """Progress bars on stderr (only on a terminal): one line per account."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.tasks: dict[str, Any] = {}
        self.counts: dict[str, list[int]] = {}

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _show(self, account: AccountInfo, extra: str = "") -> None:
        items, new = self.counts[account.name]
        text = f"{account.name}: {items} read, {new} new{extra}"
        self.progress.update(self.tasks[account.name], description=text)

    def account_started(self, account: AccountInfo) -> None:
        self.counts[account.name] = [0, 0]
        self.tasks[account.name] = self.progress.add_task(f"{account.name}: starting", total=None)

    def page_done(self, account: AccountInfo, stream: str, items: int, new: int) -> None:
        self.counts[account.name][0] += items
        self.counts[account.name][1] += new
        self._show(account, f" ({stream})")

    def waiting(self, account: AccountInfo, seconds: float, reason: str) -> None:
        self._show(account, f"; rate limited, waiting {seconds:.0f} s")

    def account_done(self, result: AccountFetch) -> None:
        task = self.tasks.get(result.name)
        if task is not None:
            self.progress.update(task, visible=False)


def _summary_line(a: AccountFetch, width: int) -> str:
    parts = [
        f"{a.new_posts} new post{'s' if a.new_posts != 1 else ''}",
        f"{a.new_mentions} new mention{'s' if a.new_mentions != 1 else ''}",
    ]
    if a.updated_posts:
        parts.append(f"{a.updated_posts} updated")
    if a.read_cap is not None:
        parts.append(f"{a.reads} of {a.read_cap} X reads used")
    line = f"{a.name:<{width}}  " + ", ".join(parts)
    if a.error is not None:
        line += "; stopped early (see the error below)"
    return line


def render(report: FetchReport) -> None:
    width = max((len(a.name) for a in report.accounts), default=0)
    for a in report.accounts:
        click.echo(_summary_line(a, width))
        for note in a.notes:
            click.echo(f"  note: {note}")
    if report.labels:
        total = sum(report.labels.values())
        parts = ", ".join(f"{n} {label}" for label, n in sorted(report.labels.items()) if n)
        click.echo(f"labelled {total} new post{'s' if total != 1 else ''}: {parts}")


@click.command("fetch")
@click.option("--account", "account", metavar="NAME", help="Fetch only this account.")
@click.option(
    "--since",
    metavar="DATE",
    help="Go back no further than this date (YYYY-MM-DD) on a first fetch; an earlier date "
    "than before fetches the older posts too.",
)
@click.option(
    "--max-reads",
    type=int,
    metavar="N",
    help="Most posts to read from X per account (X bills per post read; default "
    "fetch.x_max_reads).",
)
@pass_app
def command(app: AppContext, account: str | None, since: str | None, max_reads: int | None) -> None:
    """Fetch your own posts and the posts that mention you, for every configured account.

    The first fetch goes back as far as each platform allows; later ones fetch only what is new,
    resuming exactly where an interrupted fetch stopped. New posts are labelled.

    \b
    engage fetch
    engage fetch --account mastodon:alice@mastodon.social --since 2026-01-01
    engage fetch --max-reads 200
    """
    config = app.config
    settings = fetch_settings(config, max_reads=max_reads)
    since_dt = parse_since(since)
    if sys.stderr.isatty():
        with _RichProgress() as progress:
            report = fetch_accounts(
                app.db_path,
                config,
                account=account,
                since=since_dt,
                settings=settings,
                progress=progress,
            )
    else:
        report = fetch_accounts(
            app.db_path, config, account=account, since=since_dt, settings=settings
        )
    render(report)
    errors = [a.error for a in report.accounts if a.error is not None]
    for extra in errors[1:]:
        click.echo(f"engage: error: {extra.message}", err=True)
    first = report.first_error
    if first is not None:
        raise first
