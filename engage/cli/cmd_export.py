from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import click

from engage.cli._common import AppContext, pass_app
from engage.errors import UsageError


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    default="jsonl",
    show_default=True,
    help="Output format.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@pass_app
def command(app: AppContext, fmt: str, out: str | None) -> None:
    """Export every post with its label: one row per post.

    Columns are the Post fields (platform, account, post_id, url, created_at, text, kind,
    reply_to_post, reply_to_user, quoted_post, reposted_post, thread_root, urls, mentions,
    client, lang, raw, source, fetched_at) plus label, confidence, reason and corrected.

    \b
    engage export --format csv --out posts.csv
    engage export --format parquet --out posts.parquet
    """
    if fmt == "parquet" and out is None and sys.stdout.isatty():
        raise UsageError("parquet is binary: give --out FILE or redirect stdout to a file")
    target = Path(out).expanduser() if out else None
    if target is not None and not target.parent.is_dir():
        raise UsageError(f"--out {out}: folder {target.parent} does not exist")
    tmp_dir = target.parent if target is not None else None
    fd, tmp_name = tempfile.mkstemp(prefix=".engage-export-", suffix=f".{fmt}", dir=tmp_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with app.open_store(read_only=True) as store:
            rows = store.export(fmt, tmp)
        if target is not None:
            os.replace(tmp, target)  # never a half-written file at the destination
            click.echo(f"exported {rows} posts to {target}", err=True)
        else:
            with tmp.open("rb") as fh:
                shutil.copyfileobj(fh, sys.stdout.buffer)
            sys.stdout.flush()
    finally:
        tmp.unlink(missing_ok=True)
