"""``engage train``: fit a personal model from your corrections; ``--reset`` goes back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from engage.cli._common import AppContext, pass_app

if TYPE_CHECKING:
    from engage.classify import TrainReport


def render_report(r: TrainReport) -> list[str]:
    b, a = r.before, r.after
    return [
        f"training data: shipped corpus + {r.corrections} corrections (weighted up) + "
        f"{r.pseudo} posts of your own history with clear structural evidence",
        "cross-validated    corpus macro-F1   your corrections right",
        f"  before (shipped)  {b['corpus_macro_f1']:.3f}             "
        f"{b['corrections_accuracy']:.0%}",
        f"  after (personal)  {a['corpus_macro_f1']:.3f}             "
        f"{a['corrections_accuracy']:.0%}",
        f"{'kept' if r.kept else 'not kept'}: {r.message} ({r.model_version})",
    ]


@click.command("train")
@click.option("--reset", is_flag=True, help="Delete your personal model; use the shipped one.")
@pass_app
def command(app: AppContext, reset: bool) -> None:
    """Fit a personal model on the shipped corpus plus your corrections.

    Reports cross-validated scores before and after and keeps the new model only if it is
    not worse; then relabels your posts with the active model.

    \b
    engage label 113370000000000001 auto_promo   # correct a few labels first
    engage train
    engage train --reset
    """
    # here: --help must not load the classifier
    from engage.classify import label_new_posts, reset_personal, train_personal

    if reset:
        found = reset_personal()
        click.echo("personal model removed" if found else "no personal model; nothing to reset")
        report = None
    else:
        with app.open_store() as store:
            report = train_personal(store, app.config)
        for line in render_report(report):
            click.echo(line)
    with app.open_store() as store:
        counts = label_new_posts(store, app.config)
    if counts:
        click.echo("relabelled: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    elif report is not None and report.kept:
        click.echo("relabelled: nothing changed")
