from __future__ import annotations

from pathlib import Path

import click

from engage import paths
from engage.cli._common import AppContext, pass_app


def render_summary(counts: dict[str, object]) -> list[str]:
    """Posts per platform, per kind and per week, as plain text lines."""
    lines = []
    by_platform: dict[str, int] = counts["by_platform"]  # type: ignore[assignment]
    by_kind: dict[str, int] = counts["by_kind"]  # type: ignore[assignment]
    by_week: list[tuple[str, str, int]] = counts["by_week"]  # type: ignore[assignment]
    lines.append(f"{counts['posts']} posts, {counts['mentions']} mentions of you")
    lines.append("")
    lines.append("Posts per platform: " + ", ".join(f"{p} {n}" for p, n in by_platform.items()))
    lines.append("Posts per kind:     " + ", ".join(f"{k} {n}" for k, n in by_kind.items()))
    lines.append("")
    platforms = sorted(by_platform)
    weeks: dict[str, dict[str, int]] = {}
    for week, platform, n in by_week:
        weeks.setdefault(week, {})[platform] = n
    header = "week of     " + "".join(f"{p:>10}" for p in platforms) + "     total"
    lines.append(header)
    for week, row in weeks.items():
        total = sum(row.values())
        cells = "".join(f"{row.get(p, 0):>10}" for p in platforms)
        lines.append(f"{week}  {cells}{total:>10}  {'#' * min(total, 40)}")
    return lines


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Where to build the demo database (default: <ENGAGE_HOME>/demo/demo.duckdb).",
)
@click.option("--dashboard", is_flag=True, help="Then open the dashboard on the demo database.")
@pass_app
def command(app: AppContext, out: str | None, dashboard: bool) -> None:
    """Build a demo database from built-in sample data and show what engage sees in it.

    Ninety days of Pat Rivera on Mastodon, Bluesky and X: a healthy mix, then weeks of
    scheduled self-promotion and bare reposts, then a recovery. Your own database is never
    touched; point any command at the demo with --db.
    """
    if dashboard:
        from engage.cli.cmd_dashboard import require_terminal

        require_terminal()
    path = Path(out).expanduser() if out else paths.demo_db_path()
    if app.db_override and Path(app.db_override).expanduser().resolve() == path.resolve():
        pass  # the user pointed --db at the demo file itself: fine, it is the demo's
    from engage.demo import write_demo_database  # here: --help must not load DuckDB
    from engage.store import open_store

    result = write_demo_database(path)
    with open_store(path, read_only=True) as store:
        counts = store.summary_counts()
    click.echo(f"Demo database: {result.path}")
    click.echo(
        f"Pat Rivera, {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d}: "
        "talking, then autobot mode, then a recovery."
    )
    click.echo("")
    for line in render_summary(counts):
        click.echo(line)
    click.echo("")
    from engage.cli.cmd_posts import demo_label_lines  # the classifier on Pat's story

    for line in demo_label_lines(result.path, result.end):
        click.echo(line)
    click.echo("")
    click.echo(f"Try: engage --db {result.path} export --format csv | head")
    from engage.cli.cmd_today import demo_lines  # the goal tracker on Pat's story

    for line in demo_lines(result.path, app.config):
        click.echo(line)
    if dashboard:
        from engage.cli.cmd_dashboard import launch

        launch(result.path, app.config)
