"""The classifier: rules, reasons, labelling the store, skops round trip, fallbacks, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from connectors.base import Post
from connectors.text import html_to_text
from engage import classify, features, paths
from engage.errors import ModelError, UsageError
from engage.store import LabelRow, open_store

T0 = datetime(2025, 3, 3, 9, 0, 7, tzinfo=UTC)


def post(pid: str, text: str, **kw: object) -> Post:
    fields: dict[str, object] = {
        "platform": "mastodon",
        "account": "pat@mastodon.example",
        "post_id": pid,
        "created_at": T0 + timedelta(hours=int(pid.rsplit("-", 1)[-1]) * 7),
        "text": text,
        "client": "Web",
    }
    fields.update(kw)
    return Post(**fields)  # type: ignore[arg-type]


def store_with(tmp_path: Path, posts: list[Post]):  # type: ignore[no-untyped-def]
    store = open_store(tmp_path / "t.duckdb")
    store.upsert_posts(posts)
    return store


@pytest.fixture
def small_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shipped-corpus stand-in: the first posts of every corpus file (fast to train on)."""
    folder = tmp_path / "small-corpus"
    folder.mkdir()
    for f in classify.corpus_files(paths.models_dir() / "corpus"):
        lines = [x for x in f.read_text(encoding="utf-8").splitlines() if x.strip()][:10]
        (folder / f.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(classify, "corpus_dir", lambda: folder)
    return folder


# -- rules and reasons ---------------------------------------------------------------------------


def test_a_repost_is_share_by_rule_and_the_reason_says_so() -> None:
    posts = [
        post("p-1", "RT @ana_codes: container queries are finally everywhere", platform="x"),
        post("p-2", "", kind="repost"),
    ]
    preds = classify.classify_posts(posts, settings=features.FeatureSettings())
    assert [p.label for p in preds] == ["share", "share"]
    assert "repost of @ana_codes" in preds[0].reason and "(rule)" in preds[0].reason
    assert preds[0].confidence >= 0.95


def test_an_automation_app_post_is_auto_promo_with_app_own_domain_and_recurrence() -> None:
    settings = features.FeatureSettings.from_lists(["patblog.example"], ["dlvr.it"], ["Buffer"])
    link = "https://patblog.example/2025/accessible-forms"
    posts = [
        post(f"p-{i}", f"Accessible forms, the boring way {link}", client="dlvr.it", urls=[link])
        for i in range(1, 5)
    ]
    preds = classify.classify_posts(posts, settings=settings)
    assert {p.label for p in preds} == {"auto_promo"}
    reason = preds[-1].reason
    assert "dlvr.it" in reason
    assert "your own site patblog.example" in reason
    assert "same wording as 3 other posts" in reason


def test_reasons_name_the_reply_target_and_the_question() -> None:
    posts = [
        post(
            "p-1",
            "@ana@social.example how did you structure the migrations in your side project?",
            kind="reply",
            reply_to_user="ana@social.example",
            mentions=["ana@social.example"],
        ),
        post(
            "p-2",
            "@ben you need to set container-type on the parent, not the element itself",
            kind="reply",
            reply_to_user="ben",
            mentions=["ben"],
        ),
    ]
    preds = classify.classify_posts(posts, settings=features.FeatureSettings())
    assert preds[0].label == "ask"
    assert "reply to @ana@social.example" in preds[0].reason and "question" in preds[0].reason
    assert preds[1].label in ("answer", "comment")
    assert "reply to @ben" in preds[1].reason


def test_own_domain_is_inferred_from_links_posted_again_and_again() -> None:
    posts = [
        post(
            f"p-{i}",
            f"New on the blog: part {i} https://pat.example/{i}",
            urls=[f"https://pat.example/{i}"],
        )
        for i in range(1, 6)
    ] + [post("p-9", "lunch was great today, thanks everyone who came")]
    frame = features.build_frame(posts, features.FeatureSettings())
    assert frame.own_domain[:5] == ["pat.example"] * 5
    assert all(frame.own_domain_inferred[:5])
    assert frame.own_domain[5] is None


def test_scheduled_minute_is_seen_in_the_account_history() -> None:
    posts = [
        post(f"p-{i}", f"Tip {i}: use semantic HTML", created_at=T0 + timedelta(days=i))
        for i in range(1, 7)
    ]
    frame = features.build_frame(posts, features.FeatureSettings())
    assert frame.struct[0, features.STRUCT_NAMES.index("scheduled_minute")] > 0
    assert frame.minute_count[0] == 6


def test_batch_html_cleaning_matches_html_to_text() -> None:
    samples = [
        '<p>Hello <span class="h-card"><a href="https://x.example/@ana" class="u-url mention">'
        "@<span>ana</span></a></span> &quot;yes&quot; &#39;no&#39;</p><p>second<br>line</p>",
        '<p><a href="https://example.com/a/very/long"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.com/a/ve</span><span class="invisible">ry/long</span></a></p>',
        "<p>a</p>\n<p>b</p><p>c  <br />  d</p>",
        "<p>other <strong>markup</strong> and <code>:has()</code> <em>too</em></p>",
        "  <p>leading space</p><blockquote><p>quoted</p></blockquote><ul><li>one</li></ul>",
        "<p>a <pid> tag-like word and <3 hearts</p>",
        "<p>script <script>x<y</script> and <hr/> go the slow way</p>",
        '<p><span class="invisible"><span>nested</span></span>shown</p>',
        "<p>&lt;p&gt; escaped &amp;amp; &#x1F600;</p>",
        '<p><a href="https://ooh.directory/"><span class="invisible">https://</span><span '
        'class="">ooh.directory/</span><span class="invisible"></span></a></p>',
        "plain &amp; simple",
        "x < y and y > z",
        "",
    ]
    assert features.clean_texts(samples) == [html_to_text(s) for s in samples]


def test_text_hashing_is_deterministic_and_handles_cjk_and_emoji() -> None:
    texts = ["ビルドキャッシュが効くとほんとに世界変わる", "Das ist genau das Problem 👏", ""]
    a = features.hash_texts(texts, 2**12, 2, (3,))
    b = features.hash_texts(list(texts), 2**12, 2, (3,))
    assert (a != b).nnz == 0
    assert a[0].nnz > 10 and a[1].nnz > 10 and a[2].nnz == 0
    assert np.isclose((a[0].toarray() ** 2).sum(), 1.0, atol=0.5)


EDGE_TEXTS = [
    "",
    "a",
    "ab",
    "日本",
    "zurlz",
    "nul\x00inside the text",
    "Das ist genau das Problem 👏 #css?",
    "ビルドキャッシュが効くとほんとに世界変わる",
    "  spaces   only  ",
    "!!!",
]


def test_hashed_scores_equal_the_hashed_matrix_times_the_weights() -> None:
    rng = np.random.default_rng(7)
    texts = EDGE_TEXTS * 3
    for word_ngrams, char_ngrams in ((2, (3,)), (3, (1, 2, 3)), (1, ()), (2, (4, 3))):
        nf = 2**10
        n_kinds = len(char_ngrams) + max(word_ngrams, 1)
        w = rng.normal(size=(nf * n_kinds, 5))
        tb = features.tokenize(texts)
        expected = features.hash_batch(tb, nf, word_ngrams, char_ngrams) @ w
        got = features.hashed_scores(tb, nf, word_ngrams, char_ngrams, w)
        assert np.allclose(got, expected, rtol=0, atol=1e-9)
    assert np.abs(expected).sum() > 0


def test_features_do_not_depend_on_how_the_batch_is_chunked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = classify.load_corpus()[:300]
    posts = [r.post for r in rows] + [post(f"edge-{i}", t) for i, t in enumerate(EDGE_TEXTS)]
    groups = [r.group for r in rows] + ["edge"] * len(EDGE_TEXTS)
    settings = classify._default_settings()
    scorer = classify.LinearScorer.for_pipeline(classify.load_shipped_model().pipeline)
    assert scorer is not None
    whole = features.build_frame(posts, settings, groups, text_scorer=scorer.text_scores)
    monkeypatch.setattr(features, "CHUNK", 7)
    parts = features.build_frame(posts, settings, groups, text_scorer=scorer.text_scores)
    assert np.array_equal(whole.struct, parts.struct)
    assert np.allclose(whole.text_scores, parts.text_scores, rtol=0, atol=1e-12)
    assert list(whole.opening) == list(parts.opening)
    assert any(o for o in whole.opening)
    assert np.array_equal(
        features.hash_texts(whole.mtexts, 2**10, 2, (3,)).toarray(),
        np.vstack(
            [
                features.hash_texts(whole.mtexts[i : i + 1], 2**10, 2, (3,)).toarray()
                for i in range(len(posts))
            ]
        ),
    )


def test_the_fast_scorer_gives_the_pipelines_own_probabilities() -> None:
    rows = classify.load_corpus()
    model = classify.load_shipped_model().pipeline
    settings = classify._default_settings()
    posts = [r.post for r in rows]
    groups = [r.group for r in rows]
    frame = classify.frame_for(posts, model, settings, groups)
    assert frame.text_scores is not None
    scorer = classify.LinearScorer.for_pipeline(model)
    assert scorer is not None
    idx = np.arange(len(posts))
    assert np.allclose(scorer.proba(frame, idx), model.predict_proba(frame.X), rtol=0, atol=1e-9)
    slow = features.build_frame(posts, settings, groups)
    assert slow.text_scores is None
    fast_preds = classify.predict_frame(model, frame)
    slow_preds = classify.predict_frame(model, slow)
    assert [p.label for p in fast_preds] == [p.label for p in slow_preds]
    assert [p.reason for p in fast_preds] == [p.reason for p in slow_preds]
    assert np.allclose(
        [p.confidence for p in fast_preds], [p.confidence for p in slow_preds], atol=1e-4
    )


def test_a_pipeline_of_another_shape_is_used_as_it_is() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rows = classify.load_corpus()[:400]
    settings = classify._default_settings()
    frame = features.build_frame([r.post for r in rows], settings, [r.group for r in rows])
    plain = classify.make_pipeline()
    plain.steps[-1] = ("model", LogisticRegression(max_iter=300))
    odd = Pipeline([("features", plain.steps[0][1]), ("clf", LogisticRegression(max_iter=300))])
    odd.fit(frame.X, [r.label for r in rows])
    assert classify.LinearScorer.for_pipeline(odd) is None
    preds = classify.predict_frame(
        odd, classify.frame_for([r.post for r in rows], odd, settings, [r.group for r in rows])
    )
    assert len(preds) == len(rows) and all(p.label in classify.LABELS for p in preds)


# -- the store -----------------------------------------------------------------------------------


def test_label_new_posts_labels_new_ones_and_never_touches_corrections(tmp_path: Path) -> None:
    posts = [
        post("p-1", "Anyone have a favourite way to test focus order in a big form?"),
        post("p-2", "", kind="repost"),
        post("p-3", "Spent the morning deleting code instead of writing it. Best kind of day."),
    ]
    with store_with(tmp_path, posts) as store:
        counts = classify.label_new_posts(store)
        assert sum(counts.values()) == 3 and counts["share"] == 1
        assert classify.label_new_posts(store) == {}
        version = classify.active_model().version
        # a label from another model version is redone, unless the user corrected the post
        store.save_labels(
            [
                LabelRow("mastodon", "p-1", "comment", 0.5, "old", "old-model"),
                LabelRow("mastodon", "p-3", "ask", 0.5, "old", "old-model"),
            ]
        )
        store.set_correction("mastodon", "p-3", "comment")
        assert classify.label_new_posts(store) == {"ask": 1}
        views = {v.post.post_id: v for v in store.query_posts(limit=None)}
    assert views["p-1"].label == "ask" and "question" in (views["p-1"].reason or "")
    assert views["p-3"].corrected and views["p-3"].label == "comment"
    assert views["p-3"].model_label == "ask"  # the old model output stays, under the correction
    assert version.startswith("shipped-")


def test_label_new_posts_uses_predictions_made_ahead_only_for_the_posts_they_cover(
    tmp_path: Path,
) -> None:
    texts = [
        "Anyone have a favourite way to test focus order in a big form?",
        "Spent the morning deleting code instead of writing it. Best kind of day.",
        "New on the blog: ten tips for faster builds https://blog.example/tips",
    ]
    posts = [post(f"p-{i}", t) for i, t in enumerate(texts, 1)]
    acc = ("mastodon", "pat@mastodon.example")
    ids = [p.post_id for p in posts]

    def ahead(reason: str) -> classify.Precomputed:
        # the marker reason shows where a saved label came from
        return {acc: (ids, [classify.Prediction("comment", 0.9, reason) for _ in ids])}

    def reasons(store: object) -> dict[str, str | None]:
        return {v.post.post_id: v.reason for v in store.query_posts(limit=None)}  # type: ignore[attr-defined]

    # every post that needs a label was labelled ahead: those labels are saved as they are
    for sub in "abc":
        (tmp_path / sub).mkdir()
    with store_with(tmp_path / "a", posts) as store:
        assert classify.label_new_posts(store, None, ahead("ahead")) == {"comment": 3}
        assert reasons(store) == {pid: "ahead" for pid in ids}
        assert classify.label_new_posts(store, None, ahead("again")) == {}
    # one of them got a label meanwhile: only the other two are saved from ahead
    with store_with(tmp_path / "b", posts) as store:
        version = classify.active_model().version
        store.save_labels([LabelRow("mastodon", "p-2", "ask", 0.5, "meanwhile", version)])
        assert classify.label_new_posts(store, None, ahead("ahead")) == {"comment": 2}
        assert reasons(store) == {"p-1": "ahead", "p-2": "meanwhile", "p-3": "ahead"}
    # a post the predictions do not cover: the account is labelled by the model instead
    extra = post("p-4", "Thanks, that fixed it for me too!")
    with store_with(tmp_path / "c", [*posts, extra]) as store:
        counts = classify.label_new_posts(store, None, ahead("ahead"))
        assert sum(counts.values()) == 4
        assert "ahead" not in reasons(store).values()
        assert all(reasons(store).values())


def test_labels_made_ahead_are_saved_as_they_are_only_when_label_new_posts_would(
    tmp_path: Path,
) -> None:
    posts = [post(f"p-{i}", f"post number {i} about builds") for i in range(1, 4)]
    acc = ("mastodon", "pat@mastodon.example")
    ids = [p.post_id for p in posts]

    def decision(sub: str, stored: list[Post], prepare=None) -> bool:  # type: ignore[no-untyped-def]
        (tmp_path / sub).mkdir()
        with store_with(tmp_path / sub, stored) as store:
            if prepare is not None:
                prepare(store)
            version = classify.active_model().version
            needing = store.count_posts_needing_labels(version, {acc: ids})
        return classify.saves_ahead_as_they_are(needing, acc, ids)

    version = classify.active_model().version
    assert decision("all-new", posts)
    # one of them has a label already: label_new_posts would save only the other two
    assert not decision(
        "labelled",
        posts,
        lambda s: s.save_labels([LabelRow("mastodon", "p-2", "ask", 0.5, "x", version)]),
    )
    # one has a label of another model version: it would be replaced, not inserted
    assert not decision(
        "older",
        posts,
        lambda s: s.save_labels([LabelRow("mastodon", "p-2", "ask", 0.5, "x", "old-model")]),
    )
    # a post of the account the labels do not cover: the account is labelled as a whole
    assert not decision("uncovered", [*posts, post("p-4", "and one more")])
    # no labels made ahead, or none of them needed
    assert not classify.saves_ahead_as_they_are({}, acc, ids)
    assert not classify.saves_ahead_as_they_are({}, acc, [])


def test_prediction_columns_are_classify_posts_in_slices() -> None:
    rows = [r for r in classify.load_corpus() if r.group.startswith("b01")][:50]
    posts = [
        replace(r.post, platform="x", account="pat", post_id=f"{i}") for i, r in enumerate(rows)
    ]
    model = classify.active_model()
    settings = classify.settings_from_config(None)
    whole = classify.classify_posts(posts, model=model, settings=settings)
    for size in (1, 7, 50, 64):
        slices = list(classify.prediction_columns(posts, model=model, settings=settings, size=size))
        assert [len(labels) for labels, _c, _r in slices] == [
            min(size, 50 - lo) for lo in range(0, 50, size)
        ]
        got = [
            classify.Prediction(*row)
            for labels, confidences, reasons in slices
            for row in zip(labels, confidences, reasons, strict=True)
        ]
        assert got == whole
    assert list(classify.prediction_columns([], model=model, settings=settings, size=3)) == []
    with pytest.raises(ValueError):
        list(classify.prediction_columns(posts, model=model, settings=settings, size=0))


def test_the_stores_feature_columns_give_the_same_labels_as_post_records(tmp_path: Path) -> None:
    rows = [r for r in classify.load_corpus() if r.group.startswith("b01")][:400]
    posts = [
        replace(r.post, platform="x", account="pat", post_id=f"{i}") for i, r in enumerate(rows)
    ]
    with store_with(tmp_path, posts) as store:
        table = store.post_feature_table("x", "pat")
    ids = table.column("post_id").to_pylist()
    from_table = classify.classify_posts(features.PostFields.from_arrow(table))
    by_id = {p.post_id: p for p in posts}
    from_posts = classify.classify_posts([by_id[i] for i in ids])
    assert sorted(ids) == sorted(by_id) and len(from_table) == len(posts)
    assert from_table == from_posts
    assert len({p.label for p in from_table}) >= 4


# -- persistence ---------------------------------------------------------------------------------


def test_the_model_round_trips_through_skops_with_identical_predictions(tmp_path: Path) -> None:
    model = classify.load_shipped_model()
    rows = classify.load_corpus()[:300]
    frame = features.build_frame([r.post for r in rows], classify._default_settings())
    classify.save_model(model.pipeline, tmp_path / "m.skops")
    again = classify.load_model_file(tmp_path / "m.skops")
    assert np.array_equal(model.pipeline.predict_proba(frame.X), again.predict_proba(frame.X))


def test_labelling_uses_the_compiled_weights_without_importing_scikit_learn() -> None:
    code = (
        "import sys\n"
        "from engage import classify\n"
        "rows = classify.load_corpus()[:200]\n"
        "preds = classify.classify_posts([r.post for r in rows])\n"
        "assert len(preds) == 200 and all(p.reason for p in preds)\n"
        "print(classify.active_model().kind, 'sklearn' in sys.modules, 'skops' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["shipped", "False", "False"]


def test_weights_are_saved_with_a_model_and_ignored_when_they_belong_to_another(
    tmp_path: Path,
) -> None:
    shipped = classify.load_shipped_model()
    rows = classify.load_corpus()[:300]
    posts = [r.post for r in rows]
    model_path = tmp_path / "m.skops"
    classify.save_model(shipped.pipeline, model_path)
    weights = classify.LinearScorer.weights_path(model_path)
    assert weights.is_file()
    card = dict(shipped.card)
    classify._write_json(tmp_path / "m.json", card)
    fast = classify._load_pair(model_path, tmp_path / "m.json", "personal")
    assert fast._pipeline is None and fast.scorer is not None  # weights only, no skops load
    expected = classify.classify_posts(posts, model=shipped)
    assert classify.classify_posts(posts, model=fast) == expected
    # the pipeline still loads on demand, and gives the same probabilities as the weights
    frame = classify.frame_for(posts, fast.scorer, classify._default_settings())
    assert np.allclose(
        fast.pipeline.predict_proba(frame.X),
        fast.scorer.proba(frame, np.arange(len(posts))),
        rtol=0,
        atol=1e-9,
    )
    # weights written for another model file are not used: that model is loaded and compiled
    stale = classify.LinearScorer.load(model_path)
    assert stale is not None
    stale.intercept = stale.intercept + 100.0 * np.arange(len(stale.intercept))
    stale.save(model_path)
    model_path.write_bytes(model_path.read_bytes())  # same model, weights tied to its hash
    assert classify.LinearScorer.load(model_path) is not None
    other = tmp_path / "other.skops"
    other.write_bytes(model_path.read_bytes() + b"\0")  # another file: hash differs
    shutil.copy(weights, classify.LinearScorer.weights_path(other))
    assert classify.LinearScorer.load(other) is None
    # and a broken weights file is ignored, not a crash
    weights.write_bytes(b"not a zip")
    assert classify.LinearScorer.load(model_path) is None
    again = classify._load_pair(model_path, tmp_path / "m.json", "personal")
    assert again._pipeline is not None
    assert classify.classify_posts(posts, model=again) == expected
    assert classify.LinearScorer.load(model_path) is not None  # rewritten from the pipeline


def test_a_model_with_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = Pipeline([("f", FunctionTransformer(json.dumps))])
    classify.save_model(pipe, tmp_path / "bad.skops")
    with pytest.raises(ModelError, match="does not trust"):
        classify.load_model_file(tmp_path / "bad.skops")


def test_a_model_from_another_sklearn_version_falls_back_to_a_retrained_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_corpus: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(paths.models_dir() / classify.MODEL_FILE, models / classify.MODEL_FILE)
    card = json.loads((paths.models_dir() / classify.CARD_FILE).read_text())
    card["versions"]["scikit-learn"] = "0.24.2"
    (models / classify.CARD_FILE).write_text(json.dumps(card))
    monkeypatch.setattr(paths, "models_dir", lambda: models)
    classify._ACTIVE.clear()
    model = classify.active_model()
    assert model.kind == "retrained"
    assert "scikit-learn 0.24.2" in (model.note or "")
    line = classify.describe_model()
    assert "retrained" in line and "scikit-learn 0.24.2" in line
    preds = classify.classify_posts([post("p-1", "what do you all use for uptime checks?")])
    assert preds[0].label in classify.LABELS
    # the retrained model is cached: the next process does not retrain
    classify._ACTIVE.clear()
    assert classify.active_model().note and "retrained here" in (classify.active_model().note or "")


def test_a_broken_personal_model_falls_back_to_the_shipped_one() -> None:
    pdir = paths.personal_model_dir()
    pdir.mkdir(parents=True)
    (pdir / classify.PERSONAL_FILE).write_bytes(b"not a model")
    card = json.loads((paths.models_dir() / classify.CARD_FILE).read_text())
    card["model_version"] = "personal-broken"
    (pdir / classify.PERSONAL_CARD).write_text(json.dumps(card))
    classify._ACTIVE.clear()
    model = classify.active_model()
    assert model.kind == "shipped"
    assert "cannot be loaded" in (model.note or "")


# -- held-out split and scores -------------------------------------------------------------------


def test_the_heldout_split_keeps_whole_personas_out_and_is_stable() -> None:
    rows = classify.load_corpus()
    train, test = classify.split_corpus(rows)
    assert train and test
    assert not {r.group for r in train} & {r.group for r in test}
    assert classify.is_heldout(test[0].group) and not classify.is_heldout(train[0].group)
    card = json.loads((paths.models_dir() / classify.CARD_FILE).read_text())
    assert card["scores"]["heldout"]["macro_f1"] >= 0.9
    assert set(card["heldout_personas"]) <= {r.group for r in rows}


def test_eval_prints_per_label_scores_macro_f1_and_the_confusion_matrix(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("eval")
    assert res.exit_code == 0, res.stderr
    assert "held-out split" in res.stdout
    assert "macro-F1" in res.stdout and "confusion matrix" in res.stdout
    for label in classify.LABELS:
        assert label in res.stdout
    macro = float(res.stdout.split("macro-F1 ")[1].split()[0])
    assert macro >= 0.9


def test_eval_on_a_labelled_file(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "labelled.jsonl"
    rows = [
        {"text": "RT @ana: big news today", "platform": "x", "label": "share"},
        {"text": "What is your favourite static site generator?", "label": "ask"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run_cli("eval", "--data", str(data))
    assert res.exit_code == 0, res.stderr
    assert "(2 posts)" in res.stdout and "accuracy" in res.stdout


# -- engage classify --jsonl ----------------------------------------------------------------------


def test_classify_jsonl_labels_a_mixed_file_without_a_database(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "posts.jsonl"
    lines = [
        {"post_id": "1", "platform": "x", "text": "RT @ana: this is huge", "kind": "repost"},
        {
            "post_id": "2",
            "text": "<p>Does anyone know a good Rust book？</p>",
            "platform": "mastodon",
        },
        {
            "post_id": "3",
            "text": "New post: Moving my blog https://t.co/abc",
            "client": "WordPress.com",
            "urls": ["https://patblog.example/moving"],
            "created_at": "2024-03-05T09:00:00Z",
        },
        {
            "post_id": "4",
            "text": "@ben thanks, that fixed it!",
            "kind": "reply",
            "reply_to_user": "ben",
        },
    ]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines) + "\n")
    res = run_cli("classify", "--jsonl", str(src))
    assert res.exit_code == 0, res.stderr
    out = [json.loads(x) for x in res.stdout.splitlines()]
    assert [o["post_id"] for o in out] == ["1", "2", "3", "4"]
    assert all(set(o) == {"post_id", "label", "confidence", "reason"} for o in out)
    assert out[0]["label"] == "share" and out[2]["label"] == "auto_promo"
    assert out[1]["label"] == "ask"
    assert "WordPress.com" in out[2]["reason"]
    assert not (paths.home_dir() / "engage.duckdb").exists()
    target = tmp_path / "labels.jsonl"
    res = run_cli("classify", "--jsonl", str(src), "--out", str(target))
    assert res.exit_code == 0 and len(target.read_text().splitlines()) == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\nnot json\n', ":2: not valid JSON"),
        ("[1, 2]\n", ":1: expected a JSON object"),
        ('{"text": 5}\n', ":1: field 'text' must be a string"),
        ('{"urls": "https://a.example"}\n', ":1: field 'urls' must be a list of strings"),
        ('{"kind": "boost"}\n', ":1: field 'kind' must be one of"),
        ('{"created_at": "yesterday"}\n', ":1: field 'created_at' is not an ISO 8601 time"),
    ],
)
def test_classify_jsonl_bad_input_is_one_line_naming_file_and_line(  # type: ignore[no-untyped-def]
    run_cli, tmp_path: Path, content: str, message: str
) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(content)
    res = run_cli("classify", "--jsonl", str(src))
    assert res.exit_code == 2
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
    assert str(src) + message in res.stderr


def test_classify_jsonl_missing_file_exits_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("classify", "--jsonl", str(tmp_path / "nope.jsonl"))
    assert res.exit_code == 2 and "no such file" in res.stderr


# -- engage label / posts / train ----------------------------------------------------------------


def _db_with_posts(posts: list[Post]) -> Path:
    db = paths.home_dir() / "engage.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    with open_store(db) as store:
        store.upsert_posts(posts)
        classify.label_new_posts(store)
    return db


def test_label_corrects_one_post_and_posts_shows_it_as_corrected(run_cli) -> None:  # type: ignore[no-untyped-def]
    _db_with_posts(
        [
            post("p-1", "Anyone going to the meetup on Thursday?"),
            post("p-1", "Anyone going to the meetup on Thursday?", platform="x", account="pat"),
            post("p-2", "Hot take: most dashboards would be better as a weekly email"),
        ]
    )
    res = run_cli("label", "p-2", "ask")
    assert res.exit_code == 0 and "labelled ask" in res.stdout
    res = run_cli("posts", "--corrected")
    assert "corrected by you" in res.stdout and "p-2" in res.stdout
    res = run_cli("posts", "--label", "ask")
    assert "p-2" in res.stdout and "why:" in res.stdout
    res = run_cli("label", "p-1", "comment")
    assert res.exit_code == 2 and "--platform" in res.stderr
    assert run_cli("label", "p-1", "comment", "--platform", "x").exit_code == 0
    assert run_cli("label", "nope", "comment").exit_code == 2
    res = run_cli("label", "p-2", "--clear")
    assert res.exit_code == 0 and "correction removed" in res.stdout
    res = run_cli("posts", "--corrected")
    assert "p-2" not in res.stdout


def test_a_correction_and_train_change_the_labels_of_similar_posts(  # type: ignore[no-untyped-def]
    run_cli, small_corpus: Path
) -> None:
    # Pat posts a weekly digest of their newsletter by hand; the shipped model sees each one as
    # passing on a link, Pat says it is self-promotion.
    digest = [
        post(
            f"p-{i}",
            f"Frontend Notes issue {i}: container queries, forms and a bit of SQLite https://buttondown.example/fn/{i}",
            urls=[f"https://buttondown.example/fn/{i}"],
            created_at=T0 + timedelta(days=7 * i, minutes=13 * i),
        )
        for i in range(1, 13)
    ]
    chat = [
        post("p-40", "@ana thanks, that fixed it!", kind="reply", reply_to_user="ana"),
        post("p-41", "What is everyone reading this week?"),
    ]
    db = _db_with_posts(digest + chat)
    with open_store(db) as store:
        before = {v.post.post_id: v.label for v in store.query_posts(limit=None)}
    target = "auto_promo" if before["p-12"] != "auto_promo" else "share"
    for i in range(1, 6):
        assert run_cli("label", f"p-{i}", target).exit_code == 0
    res = run_cli("train")
    assert res.exit_code == 0, res.stderr
    assert "before (shipped)" in res.stdout and "after (personal)" in res.stdout
    assert "kept:" in res.stdout
    with open_store(db) as store:
        after = {v.post.post_id: v for v in store.query_posts(limit=None)}
    changed = [f"p-{i}" for i in range(6, 13) if after[f"p-{i}"].label == target]
    assert len(changed) >= 5, (before, {k: v.label for k, v in after.items()})
    assert all(after[f"p-{i}"].corrected for i in range(1, 6))
    assert classify.active_model().kind == "personal"
    assert "personal model" in classify.describe_model()
    res = run_cli("train", "--reset")
    assert res.exit_code == 0 and "personal model removed" in res.stdout
    assert classify.active_model().kind != "personal"


def test_train_without_corrections_says_what_to_do(run_cli, small_corpus: Path) -> None:  # type: ignore[no-untyped-def]
    _db_with_posts([post("p-1", "hello")])
    res = run_cli("train")
    assert res.exit_code == 2 and "engage label" in res.stderr


def test_correct_label_needs_a_label_or_clear(tmp_path: Path) -> None:
    with store_with(tmp_path, [post("p-1", "hi")]) as store, pytest.raises(UsageError):
        classify.correct_label(store, "p-1", None)


# -- the demo -------------------------------------------------------------------------------------


def test_the_demo_labels_its_posts_and_shows_the_mix_per_act(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("demo")
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert "Labels per act" in out
    acts = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.startswith("  ") and "genuine:" in line
    }
    assert set(acts) >= {"talking", "autobot", "recovery"}

    def genuine(line: str) -> int:
        return int(line.split("posts,")[1].split("%")[0])

    assert genuine(acts["autobot"]) < 30 < genuine(acts["talking"])
    assert genuine(acts["recovery"]) > 50
    assert "why: " in out
