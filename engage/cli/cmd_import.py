from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from engage.cli._common import AppContext, pass_app
from engage.importer import (
    ImportSummary,
    ProgressCallback,
    brisk_thread_switches,
    copy_ahead,
    open_importer,
    run_import,
)


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress display of items read, on stderr, only when stderr is a terminal."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} posts read"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("import", total=None)
    with progress:
        yield lambda n: progress.update(task, completed=n)


def render_summary(s: ImportSummary) -> list[str]:
    lines = [
        f"Imported {s.kind} {s.path.name} for {s.account} ({s.platform}) in {s.seconds:.1f} s",
        f"{s.read} read: {s.new} new, {s.updated} updated, {s.skipped} skipped",
    ]
    if s.resumed_from:
        lines.append(
            f"(resumed an interrupted import: its first {s.resumed_from} items were already saved)"
        )
    if s.labels is not None:
        if s.labels:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(s.labels.items()))
            lines.append(f"labelled: {counts}")
        else:
            lines.append("labelled: nothing new to label")
    elif s.label_note and not s.label_failed:
        lines.append(s.label_note)
    return lines


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=True, file_okay=True))
@click.option(
    "--kind",
    metavar="KIND",
    help="Export kind, when detection should not guess: x-archive, mastodon-archive, bluesky-car.",
)
@click.option(
    "--no-label",
    is_flag=True,
    help="Only load the posts; label them later.",
)
@pass_app
def command(app: AppContext, path: str, kind: str | None, no_label: bool) -> int:
    """Load an export (X archive, Mastodon archive, Bluesky repo CAR) and label its posts.

    PATH is the zip, tar.gz or CAR file you downloaded, or the folder you unpacked it into.
    The kind and the account are detected. Importing the same export again changes nothing;
    an interrupted import is finished by running the same command again.

    \b
    engage import ~/Downloads/twitter-2024-05-01-abc.zip
    engage import ~/Downloads/archive-20240501.tar.gz --kind mastodon-archive
    engage import repo.car
    """
    config = app.config
    # Recognise the export and read its account before the database is even opened: a file
    # that is not an export leaves the database exactly as it was.
    importer = open_importer(path, kind)
    importer.account()
    # the posts files are copied out of the archive while DuckDB is loaded and the database
    # opened (run_import takes the copy over; closing it again does nothing)
    copies = copy_ahead(importer, app.db_path.parent)
    try:
        with (
            brisk_thread_switches(),  # while the copy runs too: its thread is one of them
            _progress_bar(sys.stderr.isatty()) as on_progress,
            app.open_store() as store,
        ):
            summary = run_import(
                store,
                importer,
                config=config,
                classify=not no_label,
                on_progress=on_progress,
                copies=copies,
            )
    finally:
        if copies is not None:
            copies.close()
    for line in render_summary(summary):
        click.echo(line)
    if summary.label_failed:
        click.echo(f"engage: error: {summary.label_note}", err=True)
        return 1
    return 0
