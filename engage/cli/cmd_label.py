"""``engage label POST_ID LABEL``: correct one post's label (or ``--clear`` the correction)."""

from __future__ import annotations

import click

from engage.cli._common import AppContext, pass_app
from engage.vocab import LABELS


@click.command("label")
@click.argument("post_id")
@click.argument("label", required=False, type=click.Choice(LABELS))
@click.option(
    "--platform",
    type=click.Choice(["mastodon", "bluesky", "x"]),
    help="Needed when the same id exists on two platforms.",
)
@click.option(
    "--clear", is_flag=True, help="Remove your correction; the model's label shows again."
)
@pass_app
def command(
    app: AppContext, post_id: str, label: str | None, platform: str | None, clear: bool
) -> None:
    """Correct the label of one post (POST_ID is the platform's id or the post's URL).

    Corrections are kept apart from the model's labels and never overwritten by it;
    'engage train' learns from them.

    \b
    engage label 113370000000000001 comment
    engage label https://mastodon.example/@pat/113370000000000001 --clear
    """
    from engage.classify import correct_label  # here: --help must not load the classifier

    with app.open_store() as store:
        result = correct_label(store, post_id, label, platform=platform, clear=clear)
    click.echo(result)
