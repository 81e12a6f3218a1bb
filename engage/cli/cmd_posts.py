"""``engage posts``: list posts with their label, confidence and reason."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engage.cli._common import AppContext, parse_since, pass_app
from engage.vocab import LABELS

if TYPE_CHECKING:
    from engage.store import PostView


def render_post(v: PostView, width: int = 100) -> list[str]:
    """Two lines per post: when, where, label and confidence; then the text and the reason."""
    p = v.post
    if v.label is None:
        tag = "(not labelled yet)"
    elif v.corrected:
        tag = f"{v.label} (corrected by you; model said {v.model_label or '-'})"
    else:
        tag = f"{v.label} {v.confidence:.2f}" if v.confidence is not None else v.label
    text = " ".join((p.text or "").split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    lines = [f"{p.created_at:%Y-%m-%d %H:%M}  {p.platform:<8} {p.post_id}  {tag}", f"    {text}"]
    if v.reason:
        lines.append(f"    why: {v.reason}")
    return lines


@click.command("posts")
@click.option("--label", type=click.Choice(LABELS), help="Only posts with this label.")
@click.option("--since", metavar="DATE", help="Only posts from this date (YYYY-MM-DD) on.")
@click.option(
    "--platform", type=click.Choice(["mastodon", "bluesky", "x"]), help="Only this platform."
)
@click.option("--corrected", is_flag=True, help="Only posts whose label you corrected.")
@click.option("-n", "--limit", type=click.IntRange(1), default=30, show_default=True)
@pass_app
def command(
    app: AppContext,
    label: str | None,
    since: str | None,
    platform: str | None,
    corrected: bool,
    limit: int,
) -> None:
    """List posts, newest first, with label, confidence and the reason for the label.

    \b
    engage posts --label auto_promo --since 2026-01-01
    engage posts --platform mastodon -n 5
    """
    with app.open_store(read_only=True, create=False) as store:
        views = store.query_posts(
            label=label,
            platform=platform,
            since=parse_since(since),
            corrected=True if corrected else None,
            limit=limit,
        )
    if not views:
        click.echo("no posts match", err=True)
        return
    for v in views:
        for line in render_post(v):
            click.echo(line)


DEMO_ACTS = (("talking", 90, 60), ("autobot", 60, 21), ("recovery", 21, -1))


def demo_label_lines(db: Path, end: datetime) -> list[str]:
    """The demo's label mix per act of the story, and a few example posts with their reasons."""
    from engage.store import GENUINE_LABELS, open_store

    with open_store(db, read_only=True) as store:
        views = store.query_posts(limit=None, newest_first=False)
    lines = ["Labels per act (genuine = ask + answer + comment):"]
    for name, from_days, to_days in DEMO_ACTS:
        lo = end - timedelta(days=from_days)
        hi = end - timedelta(days=to_days)
        act = [v for v in views if lo <= v.post.created_at < hi and v.label]
        mix = Counter(v.label for v in act)
        genuine = sum(mix[lab] for lab in GENUINE_LABELS)
        share = f"{genuine / len(act):.0%}" if act else "-"
        cells = ", ".join(f"{lab} {mix[lab]}" for lab in LABELS if mix[lab])
        lines.append(f"  {name:<9} {len(act):>4} posts, {share:>4} genuine: {cells}")
    lines += ["", "Examples (label, confidence, reason):"]
    shown: set[str] = set()
    for v in views:
        if v.label and v.label not in shown and v.reason and v.confidence:
            shown.add(v.label)
            text = " ".join(v.post.text.split())
            text = text if len(text) <= 70 else text[:69] + "…"
            lines.append(f"  {v.label} {v.confidence:.2f}  {text}")
            lines.append(f"      why: {v.reason}")
    return lines
