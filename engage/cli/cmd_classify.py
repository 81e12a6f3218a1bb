"""``engage classify --jsonl FILE``: label posts from a file without touching the database."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click

from engage.cli._common import AppContext, pass_app
from engage.errors import UsageError


@click.command("classify")
@click.option(
    "--jsonl",
    "jsonl",
    required=True,
    type=click.Path(dir_okay=False),
    help="JSON-lines file of posts (Post fields; missing fields allowed).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@pass_app
def command(app: AppContext, jsonl: str, out: str | None) -> None:
    """Label the posts of a JSON-lines file, one JSON line per post on stdout.

    The posts of one file are treated as one account's history (recurring links, own
    domains, scheduled times). Output lines: {"post_id", "label", "confidence", "reason"}.

    \b
    engage classify --jsonl posts.jsonl
    engage classify --jsonl posts.jsonl --out labels.jsonl
    """
    from engage.classify import classify_jsonl  # here: --help must not load the classifier

    rows = classify_jsonl(Path(jsonl).expanduser(), app.config)
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    if out is None:
        for line in lines:
            click.echo(line)
        sys.stdout.flush()
        return
    target = Path(out).expanduser()
    if not target.parent.is_dir():
        raise UsageError(f"--out {out}: folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".engage-classify-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    click.echo(f"labelled {len(lines)} posts into {target}", err=True)
