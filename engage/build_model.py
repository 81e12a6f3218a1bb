"""Build the shipped classifier: ``python -m engage.build_model [--out models/]``.

Fits the model on the training part of ``models/corpus/`` (C chosen by persona-grouped
cross-validation on that part), scores it on the fixed held-out split, and writes
``classifier.skops``, ``model_card.json`` and ``MODEL_CARD.md``. A maintainer's tool: the user
never needs it (``engage train`` builds personal models).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from engage import paths
from engage.classify import CARD_FILE, MODEL_FILE, _write_json, save_model, train_shipped
from engage.store import LABELS

CORPUS_NOTE = (
    "Hand-written for engage in five writing batches (batch_01 ... batch_05), each by a "
    "different writer with their own personas (people, organisations, bots) across X, Mastodon "
    "and Bluesky, in ten languages (English, Japanese, German, Dutch, Polish, Spanish, "
    "Portuguese, French, Italian, Korean). The writers followed LABELS.md and the figures of "
    "REAL_POSTS.md (reposts, replies, links, question marks, posting apps, Mastodon HTML, empty "
    "Bluesky texts with link cards, threads, test posts). No real person's posts are in it."
)


def render_markdown(card: dict[str, Any]) -> str:
    held = card["scores"]["heldout"] or {}
    lines = [
        "# engage post classifier: model card",
        "",
        f"- **model version**: `{card['model_version']}`",
        f"- **trained**: {card['trained_at']}",
        f"- **labels**: {', '.join(f'`{x}`' for x in card['labels'])} (see LABELS.md)",
        f"- **training data**: {card['corpus_posts']} posts in {len(card['corpus_files'])} files, "
        f"SHA-256 `{card['corpus_sha256']}`",
        "- **libraries**: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()),
        f"- **features**: version {card['feature_version']}",
        "",
        "## How the corpus was made",
        "",
        CORPUS_NOTE,
        "",
        "## Split",
        "",
        f"{card['split']}. Training part: {card['train_posts']} posts; held-out part: "
        f"{card['heldout_posts']} posts from {len(card['heldout_personas'])} personas "
        f"({', '.join(card['heldout_personas'])}). The held-out part is never used for training "
        "or for choosing hyper-parameters.",
        "",
        "## Model",
        "",
        "One scikit-learn `Pipeline`: a `ColumnTransformer` of (1) hashed word 1-2-grams and "
        "character 3-grams of the cleaned text (HTML stripped, lower-cased, links, @handles "
        "and media replaced by placeholder tokens; CJK characters, emoji and punctuation are "
        "tokens of their own; `engage.features.FastTextHasher`, 2^14 buckets per n-gram kind, "
        "counts scaled to unit row length), (2) hashed words of the posting app's name, (3) "
        f"{len(card.get('struct_features', []))} structural and account-context columns "
        "(kind, thread, links, mentions, question marks incl. full-width, length, hashtags, "
        "automation/suite app, own-domain link configured or inferred, recurring link, "
        "wording and opening, scheduled minute, exact hour, platform); then a multinomial "
        "`LogisticRegression` with balanced class weights. "
        f"C = {card['hyperparameters']['C']}, chosen by 5-fold persona-grouped "
        f"cross-validation on the training part (macro-F1 by C: {card['cv_macro_f1_by_C']}).",
        "",
        "Decided before the model, by definition (and said so in the reason): a repost without "
        "own words is `share`; a post from a pure automation app in the config's "
        "`[automation] apps` list is `auto_promo` (read-later apps such as Instapaper and Pocket "
        "are not treated as automation: they pass on other people's articles, LABELS.md rule 5).",
        "",
        "Saved with skops; loaded trusting only skops' defaults plus "
        "`engage.features.FastTextHasher`, `AppTokens` and `StructColumns`. Beside it, "
        "`classifier.weights.npz` holds the same logistic regression compiled to plain arrays "
        "(read without pickle, tied to the `.skops` file's SHA-256): labelling uses it and "
        "needs neither scikit-learn nor skops at run time.",
        "",
        "## Scores on the held-out split",
        "",
        f"macro-F1 **{held.get('macro_f1')}**, accuracy {held.get('accuracy')}, "
        f"{held.get('n')} posts.",
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for lab in LABELS:
        d = held.get("per_label", {}).get(lab, {})
        lines.append(
            f"| `{lab}` | {d.get('precision')} | {d.get('recall')} | {d.get('f1')} | "
            f"{d.get('support')} |"
        )
    cm = held.get("confusion", {})
    if cm:
        lines += ["", "Confusion matrix (rows: gold, columns: predicted):", ""]
        labs = cm["labels"]
        lines.append("| gold \\ predicted | " + " | ".join(labs) + " |")
        lines.append("|---" * (len(labs) + 1) + "|")
        for lab, row in zip(labs, cm["rows_gold_cols_predicted"], strict=True):
            lines.append(f"| {lab} | " + " | ".join(str(x) for x in row) + " |")
    lines += [
        "",
        "## Limits",
        "",
        "The corpus is hand-written; real posts differ (typos, slang, mixed languages, odd "
        "apps). The account-context features and `engage train` (a personal model from your "
        "corrections and your own history) are how engage adapts to a real account. Scores "
        "here measure generalisation to unseen personas of the same writers, not to the real "
        "world.",
        "",
        "## Corpus changes made by the classifier engineer",
        "",
    ]
    changes = card.get("corpus_changes") or ["none"]
    lines += [f"- {c}" for c in changes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=paths.models_dir())
    ap.add_argument("--no-cv", action="store_true", help="skip choosing C (quick build)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    t0 = time.perf_counter()
    pipe, card = train_shipped(select_c=not args.no_cv)
    from engage.features import STRUCT_NAMES

    card["struct_features"] = list(STRUCT_NAMES)
    changes_file = args.out / "corpus_changes.json"
    if changes_file.exists():
        card["corpus_changes"] = json.loads(changes_file.read_text(encoding="utf-8"))
    card["corpus_note"] = CORPUS_NOTE
    save_model(pipe, args.out / MODEL_FILE)
    _write_json(args.out / CARD_FILE, card)
    (args.out / "MODEL_CARD.md").write_text(render_markdown(card), encoding="utf-8")
    held = card["scores"]["heldout"]
    print(
        f"{card['model_version']}: held-out macro-F1 {held['macro_f1']} on {held['n']} posts; "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
