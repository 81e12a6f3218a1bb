from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from engage import mail, report
from engage.cli._common import AppContext, parse_date, pass_app
from engage.errors import EngageError, ReadCapReached


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fetch(app: AppContext) -> tuple[dict[str, Any], EngageError | None]:
    from engage.fetch import fetch_accounts

    try:
        result = fetch_accounts(app.db_path, app.config)
    except EngageError as exc:
        return {"ran": True, "ok": False, "error": exc.message}, exc
    err = result.first_error
    if isinstance(err, ReadCapReached):  # the X read cap is a limit, not a failure
        err = None
    info: dict[str, Any] = {
        "ran": True,
        "ok": err is None,
        "error": None if err is None else err.message,
        "new_posts": result.new_posts,
        "new_mentions": result.new_mentions,
    }
    return info, err


@click.command("report")
@click.option(
    "--date",
    "day",
    metavar="YYYY-MM-DD",
    help="The local day to report on (default: yesterday; 'today' for the day so far).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(report.FORMATS),
    default="text",
    show_default=True,
    help="Output format (json follows engage/report_schema.json).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--fetch", "do_fetch", is_flag=True, help="Fetch every account first.")
@click.option(
    "--email/--no-email",
    default=None,
    help="Send the report by e-mail through [smtp] (default: when smtp.enabled is true).",
)
@pass_app
def command(
    app: AppContext,
    day: str | None,
    fmt: str,
    out: str | None,
    do_fetch: bool,
    email: bool | None,
) -> int:
    """The daily report: the goal tally and what counted, the streak, the interaction ratio for
    7 and 30 days with its trend, the label mix per platform, an automation alert, who is
    waiting for an answer, and suggestions for today.

    With --fetch a failed fetch is reported inside the report and in the exit code (4 for a
    platform failure); the report is written anyway.
    """
    config = app.config
    fetch_info: dict[str, Any] | None = None
    fetch_err: EngageError | None = None
    if do_fetch:
        fetch_info, fetch_err = _fetch(app)
    now = datetime.now(UTC)
    with app.open_store(read_only=True) as store:
        from engage import goals

        clock = goals.DayClock.from_store(store, config, now)
        if day is None:
            d = clock.today(now) - timedelta(days=1)
        elif day == "today":
            d = clock.today(now)
        elif day == "yesterday":
            d = clock.today(now) - timedelta(days=1)
        else:
            d = parse_date(day, "--date")
        data = report.build_report(store, config, d, now, fetch=fetch_info)
    text = report.render(data, fmt)
    if out:
        _write_atomic(Path(out).expanduser(), text)
    else:
        click.echo(text, nl=False)
    send = email if email is not None else bool(config.values["smtp"]["enabled"])
    mail_err: EngageError | None = None
    if send:
        msg = mail.build_message(
            config,
            report.subject(data),
            report.render(data, "text"),
            report.render(data, "html"),
        )
        try:
            mail.send(config, msg)
        except mail.MailError as exc:
            mail_err = exc
    if fetch_err is not None:
        click.echo(f"engage: error: fetch failed: {fetch_err.message}", err=True)
    if mail_err is not None:
        click.echo(f"engage: error: {mail_err.message}", err=True)
    if fetch_err is not None:
        return fetch_err.exit_code or 1
    if mail_err is not None:
        return mail_err.exit_code
    return 0
