"""``engage eval``: precision, recall, F1 and the confusion matrix of the active model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from engage.cli._common import AppContext, pass_app

if TYPE_CHECKING:
    from engage.classify import EvalResult


def render_eval(r: EvalResult) -> list[str]:
    s = r.scores
    lines = [
        f"{r.model} on {r.source}",
        "",
        f"{'label':<12}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
    ]
    for lab in s.labels:
        lines.append(
            f"{lab:<12}{s.precision[lab]:>10.3f}{s.recall[lab]:>10.3f}{s.f1[lab]:>10.3f}"
            f"{s.support[lab]:>10}"
        )
    lines += ["", f"macro-F1 {s.macro_f1:.3f}   accuracy {s.accuracy:.3f}   posts {s.n}", ""]
    lines.append("confusion matrix (rows: true label, columns: predicted)")
    short = [lab[:10] for lab in s.labels]
    lines.append(f"{'':<12}" + "".join(f"{x:>11}" for x in short))
    for lab, row in zip(s.labels, s.confusion, strict=True):
        lines.append(f"{lab:<12}" + "".join(f"{x:>11}" for x in row))
    return lines


@click.command("eval")
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    help="A labelled JSON-lines file (Post fields plus 'label') instead of the held-out split.",
)
@pass_app
def command(app: AppContext, data: str | None) -> None:
    """Score the active model: per-label precision, recall, F1, macro-F1, confusion matrix.

    \b
    engage eval
    engage eval --data my_labelled_posts.jsonl
    """
    from engage.classify import evaluate_active  # here: --help must not load the classifier

    result = evaluate_active(Path(data).expanduser() if data else None, app.config)
    for line in render_eval(result):
        click.echo(line)
