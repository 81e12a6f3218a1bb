"""The post classifier: one of five labels, a confidence and a readable reason for every post.

Labels are those of LABELS.md (``auto_promo``, ``share``, ``ask``, ``answer``, ``comment``).
Definitional cases are decided before the model and say so in their reason: a repost without own
words is ``share``; a post made by a pure automation or cross-posting app is ``auto_promo``.
Everything else goes through one scikit-learn ``Pipeline`` (a ``ColumnTransformer`` of hashed
text n-grams, hashed posting-app words and structural/context features, then a logistic
regression), built by ``make_pipeline`` and fed by ``engage.features.build_frame``.

Models are saved with ``skops`` and loaded with a fixed list of trusted types, never pickle. The
shipped model lives in ``models/`` (``paths.models_dir()``); ``engage train`` writes a personal
model to ``paths.personal_model_dir()``. A model saved by another scikit-learn version is not
used: engage says so once and falls back (personal -> shipped -> retrained from the shipped
corpus, which takes seconds).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import math
import os
import tempfile
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from connectors.base import POST_KINDS, Post
from engage import paths
from engage.config import Config
from engage.errors import ModelError, UsageError
from engage.features import (
    FEATURE_VERSION,
    N_STRUCT,
    STRUCT_NAMES,
    FeatureFrame,
    FeatureSettings,
    PostFields,
    TokenBatch,
    build_frame,
    hash_texts,
    hashed_scores,
)
from engage.store import LABELS, Store

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# scikit-learn (and skops) are imported where a pipeline is built, trained or loaded: labelling
# with a model's compiled weights (LinearScorer) needs neither, and importing them costs seconds.

log = logging.getLogger(__name__)

MODEL_FILE = "classifier.skops"
CARD_FILE = "model_card.json"
PERSONAL_FILE = "personal.skops"
PERSONAL_CARD = "personal_card.json"

# Types a saved model may contain beyond what skops trusts by default. Loading never trusts
# anything else (never ``trusted=True``, never pickle).
TRUSTED_TYPES: list[str] = [
    "engage.features.AppTokens",
    "engage.features.FastTextHasher",
    "engage.features.StructColumns",
]

# Held-out split: whole personas (batch + persona, "b03-mizuki") whose SHA-256 falls in this
# bucket of HELDOUT_BUCKETS are never trained on by the shipped model.
HELDOUT_BUCKETS = 5
HELDOUT_BUCKET = 0

DEFAULT_C = 8.0
STRUCT_WEIGHT = 1.0
CORRECTION_WEIGHT = 25.0
PSEUDO_WEIGHT = 0.5
RULE_CONFIDENCE = {"repost": 0.99, "automation": 0.97}


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------


def sklearn_version() -> str:
    """The installed scikit-learn's version, without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover - a dependency of engage
        import sklearn

        return str(sklearn.__version__)


def make_pipeline(C: float = DEFAULT_C, struct_weight: float = STRUCT_WEIGHT) -> Pipeline:
    """The classifier: text, app words and structure side by side, then a logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from engage.features import AppTokens, FastTextHasher, StructColumns

    features = ColumnTransformer(
        [
            ("text", FastTextHasher(), 0),
            ("app", AppTokens(), 1),
            ("struct", StructColumns(weight=struct_weight), list(range(2, 2 + N_STRUCT))),
        ],
        sparse_threshold=1.0,
    )
    return Pipeline(
        [
            ("features", features),
            (
                "model",
                # newton-cg: the same objective as lbfgs, but a few Newton steps instead of
                # hundreds of quasi-Newton ones over ~265k weights (5x faster here)
                LogisticRegression(C=C, solver="newton-cg", max_iter=200, class_weight="balanced"),
            ),
        ]
    )


# ---------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------


@dataclass
class LabelledPost:
    post: Post
    label: str
    group: str  # whose history it belongs to ("b03-mizuki" in the corpus)
    row_id: str = ""


def corpus_dir() -> Path:
    return paths.models_dir() / "corpus"


def corpus_files(folder: Path | None = None) -> list[Path]:
    folder = folder or corpus_dir()
    return sorted(folder.glob("*.jsonl"))


def corpus_hash(files: Sequence[Path]) -> str:
    """SHA-256 over the corpus files' names and bytes, in name order."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.name):
        h.update(f.name.encode())
        h.update(b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def load_corpus(folder: Path | None = None) -> list[LabelledPost]:
    """Every labelled post of the shipped corpus (a line that cannot be read is skipped)."""
    rows: list[LabelledPost] = []
    for path in corpus_files(folder):
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    post = post_from_json(obj, f"{path.name}:{lineno}")
                    label = obj["label"]
                    if label not in LABELS:
                        raise ValueError(f"unknown label {label!r}")
                except (ValueError, KeyError, TypeError, UsageError) as exc:
                    log.warning("corpus %s line %d skipped: %s", path.name, lineno, exc)
                    continue
                rid = str(obj.get("id") or f"{path.stem}-{lineno}")
                group = rid.rsplit("-", 1)[0] if rid.count("-") >= 2 else str(obj.get("persona"))
                rows.append(LabelledPost(post, label, group, rid))
    return rows


def is_heldout(group: str) -> bool:
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % HELDOUT_BUCKETS == HELDOUT_BUCKET


def split_corpus(rows: Sequence[LabelledPost]) -> tuple[list[LabelledPost], list[LabelledPost]]:
    train = [r for r in rows if not is_heldout(r.group)]
    test = [r for r in rows if is_heldout(r.group)]
    return train, test


# ---------------------------------------------------------------------------------------------
# JSON posts (engage classify --jsonl, engage eval --data)
# ---------------------------------------------------------------------------------------------

_STR_FIELDS = ("platform", "account", "text", "kind", "reply_to_user", "client", "lang", "url")


def post_from_json(obj: Any, where: str) -> Post:
    """A ``Post`` from one JSON object; a wrong type is a ``UsageError`` naming ``where``."""
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for name in _STR_FIELDS:
        v = obj.get(name)
        if v is not None and not isinstance(v, str):
            raise UsageError(f"{where}: field {name!r} must be a string or null")
    pid = obj.get("post_id", obj.get("id"))
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, str | int)):
        raise UsageError(f"{where}: field 'post_id' must be a string")
    for name in ("urls", "mentions"):
        v = obj.get(name)
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            raise UsageError(f"{where}: field {name!r} must be a list of strings")
    kind = obj.get("kind") or "post"
    if kind not in POST_KINDS:
        raise UsageError(f"{where}: field 'kind' must be one of {', '.join(POST_KINDS)}")
    created = obj.get("created_at")
    if created is None:
        when = datetime(1970, 1, 1, tzinfo=UTC)
    elif isinstance(created, str):
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{where}: field 'created_at' is not an ISO 8601 time") from None
    else:
        raise UsageError(f"{where}: field 'created_at' must be an ISO 8601 string")
    return Post(
        platform=obj.get("platform") or "x",
        account=obj.get("account") or "",
        post_id=str(pid) if pid is not None else where,
        created_at=when,
        text=obj.get("text") or "",
        kind=kind,
        url=obj.get("url"),
        reply_to_user=obj.get("reply_to_user"),
        urls=list(obj.get("urls") or []),
        mentions=list(obj.get("mentions") or []),
        client=obj.get("client"),
        lang=obj.get("lang"),
        source="jsonl",
    )


def read_jsonl_posts(path: Path, *, labelled: bool = False) -> list[tuple[Post, str | None]]:
    """Posts of a JSON-lines file, with their ``label`` when ``labelled``. Any bad line is a
    ``UsageError`` naming the file and the line."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    out: list[tuple[Post, str | None]] = []
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{where}: not valid JSON ({exc.msg})") from None
                post = post_from_json(obj, where)
                label = None
                if labelled:
                    label = obj.get("label")
                    if label not in LABELS:
                        raise UsageError(
                            f"{where}: field 'label' must be one of {', '.join(LABELS)}"
                        )
                out.append((post, label))
        except UnicodeDecodeError:
            raise UsageError(f"{path}: not UTF-8 text") from None
    return out


# ---------------------------------------------------------------------------------------------
# Settings from the config
# ---------------------------------------------------------------------------------------------


def settings_from_config(config: Config | None) -> FeatureSettings:
    if config is None:
        from engage.config import load_config

        config = load_config()
    return FeatureSettings.from_lists(config.own_domains, config.automation_apps, config.suite_apps)


def _default_settings() -> FeatureSettings:
    """What the shipped model is trained with: the default config's app lists, no own domains
    (the corpus personas' own domains are inferred from their histories)."""
    import tomllib

    with paths.default_config_file().open("rb") as fh:
        raw = tomllib.load(fh)
    auto = raw.get("automation", {})
    return FeatureSettings.from_lists([], auto.get("apps", []), auto.get("suites", []))


# ---------------------------------------------------------------------------------------------
# Prediction: rules, model, reasons
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Prediction:
    label: str
    confidence: float
    reason: str


def _rule_masks(frame: FeatureFrame) -> tuple[np.ndarray, np.ndarray]:
    """Posts decided by the definition alone (LABELS.md rules 1 and 2): a repost is ``share``;
    otherwise a post from a pure automation app is ``auto_promo``."""
    share = np.array([r is not None for r in frame.repost_of], dtype=bool)
    auto = ~share & (frame.struct[:, _APP_AUTOMATION] > 0)
    return share, auto


def _rule_array(share: np.ndarray, auto: np.ndarray) -> np.ndarray:
    lab = np.full(share.shape[0], None, dtype=object)
    lab[share] = "share"
    lab[auto] = "auto_promo"
    return lab


def rule_labels(frame: FeatureFrame) -> list[str | None]:
    """Labels that follow from the definition alone, None for the posts the model decides."""
    rules: list[str | None] = _rule_array(*_rule_masks(frame)).tolist()
    return rules


def _plural(n: float, word: str) -> str:
    k = int(n)
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


class _Evidence:
    """A frame's per-post evidence as plain Python lists (reading numpy scalars one by one
    costs more than writing the reason)."""

    def __init__(self, frame: FeatureFrame) -> None:
        st = frame.struct
        self.repost_of = frame.repost_of
        self.client = frame.client
        self.app_kind = frame.app_kind
        self.own_domain = frame.own_domain
        self.own_inferred = frame.own_domain_inferred
        self.link_count = _counts(frame.link_count)
        self.wording_count = _counts(frame.wording_count)
        self.opening = frame.opening
        self.opening_count = _counts(frame.opening_count)
        self.scheduled = (st[:, 25] > 0).tolist()  # scheduled_minute
        self.minute_count = _counts(frame.minute_count)
        self.reply_to_self = np.asarray(frame.reply_to_self, dtype=bool).tolist()
        self.reply_to = frame.reply_to
        self.kind_reply = (st[:, 1] > 0).tolist()
        self.kind_quote = (st[:, 2] > 0).tolist()
        self.hashtags = st[:, 14].tolist()
        self.n_questions = _counts(frame.n_questions)
        self.own_words = _counts(frame.own_words)
        self.n_links = _counts(frame.n_links)


def _counts(values: np.ndarray) -> list[Any]:
    """A float array as a list; as ints when every value is a whole number (small ints are
    shared objects: a list of a hundred thousand counts then costs its pointers only). The
    reasons read these values through ``int``, ``round`` and comparisons only."""
    if values.size and np.all(values == np.floor(values)) and np.abs(values).max() < 2**53:
        out: list[Any] = values.astype(np.int64).tolist()
        return out
    return values.tolist()


_MANY_HASHTAGS = math.log1p(2)


def _context_evidence(ev: _Evidence, i: int) -> list[str]:
    out: list[str] = []
    dom = ev.own_domain[i]
    if dom:
        if ev.own_inferred[i]:
            out.append(f"links to {dom}, which your posts link to again and again")
        else:
            out.append(f"links to your own site {dom}")
    lc = ev.link_count[i]
    wc = ev.wording_count[i]
    if wc >= 2:
        out.append(f"same wording as {_plural(wc - 1, 'other post')}")
    elif lc >= 2:
        out.append(f"same link posted {int(lc)} times")
    elif ev.opening_count[i] >= 3:
        out.append(f'opens with "{ev.opening[i]}" like {int(ev.opening_count[i]) - 1} others')
    if ev.scheduled[i]:
        out.append(
            f"{int(ev.minute_count[i])} posts from this app at the same minute past the hour"
        )
    return out


def _app_evidence(ev: _Evidence, i: int) -> str | None:
    client = ev.client[i]
    if not client:
        return None
    kind = ev.app_kind[i]
    if kind == "automation":
        return f"posted by {client}, an automation app"
    if kind == "suite":
        return f"posted with {client}, a scheduling suite"
    if kind == "read_later":
        return f"posted by {client}, a read-later app"
    return None


def _reply_evidence(ev: _Evidence, i: int) -> str | None:
    if ev.reply_to_self[i]:
        return "continues your own thread"
    if ev.kind_reply[i]:
        who = ev.reply_to[i]
        return f"reply to @{who}" if who else "a reply"
    if ev.kind_quote[i]:
        return "quote post"
    return None


def _words_evidence(ev: _Evidence, i: int) -> str:
    w = round(ev.own_words[i])
    links = int(ev.n_links[i])
    if w == 0:
        return "a link with no words of its own" if links else "no words of its own"
    if links:
        return f"a link with {_plural(w, 'word')} of your own"
    return f"{_plural(w, 'word')} of your own, no link"


def build_reason(
    frame: FeatureFrame, i: int, label: str, rule: str | None, ev: _Evidence | None = None
) -> str:
    """A short readable reason from this post's own evidence, semicolon-separated. Pass the
    frame's ``_Evidence`` when building many reasons of one frame."""
    if ev is None:
        ev = _Evidence(frame)
    parts: list[str] = []
    if rule == "share":
        target = ev.repost_of[i]
        who = f" of @{target}" if target else ""
        return f"repost{who} with no words of its own; a repost is always share (rule)"
    if rule == "auto_promo":
        parts.append(f"posted by {ev.client[i]}, a pure automation app (rule: machine-made)")
        parts += _context_evidence(ev, i)
        return "; ".join(parts)
    nq = ev.n_questions[i]
    reply = _reply_evidence(ev, i)
    app = _app_evidence(ev, i)
    if label == "auto_promo":
        if app:
            parts.append(app)
        parts += _context_evidence(ev, i)
        if ev.hashtags[i] >= _MANY_HASHTAGS:
            parts.append(f"{_plural(math.expm1(ev.hashtags[i]) + 0.5, 'hashtag')}")
        if not parts:
            parts.append("one-way announcement" + (" with a link" if ev.n_links[i] else ""))
        if not nq:
            parts.append("invites no conversation")
    elif label == "share":
        if reply:
            parts.append(reply)
        if app:
            parts.append(app)
        parts.append(_words_evidence(ev, i))
        if ev.own_domain[i] is None and ev.n_links[i]:
            parts.append("someone else's content")
    elif label == "ask":
        if reply:
            parts.append(reply)
        parts.append(f"asks {_plural(nq, 'question')}" if nq else "asks without a question mark")
        if app:
            parts.append(app)
    elif label == "answer":
        parts.append(f"{reply} that gives information or help" if reply else "gives information")
        parts.append(f"{_plural(ev.own_words[i] + 0.5, 'word')} of your own")
    else:  # comment
        if reply:
            parts.append(f"{reply} that reacts")
        parts.append(_words_evidence(ev, i))
        if nq:
            parts.append("question mark but no real question")
        if app:
            parts.append(app)
    return "; ".join(parts)


class LinearScorer:
    """The fitted pipeline of ``make_pipeline`` compiled to plain arrays: the logistic
    regression's weights split by feature block, so that text is scored chunk by chunk straight
    from its n-gram buckets (``features.hashed_scores``), with no sparse matrix built, and the
    posting app once per distinct app. Gives the pipeline's own probabilities (a test checks it)
    at a fraction of the time, and needs no scikit-learn: it is saved beside the model file as
    ``<model>.weights.npz`` (plain arrays, read without pickle) with the model file's SHA-256,
    so labelling loads it instead of the model. A pipeline of any other shape gets no scorer
    and is used as it is."""

    def __init__(
        self,
        *,
        classes: np.ndarray,
        intercept: np.ndarray,
        text_params: tuple[int, int, tuple[int, ...]],
        text_weights: np.ndarray,
        app_features: int,
        app_weights: np.ndarray,
        struct_weights: np.ndarray,
    ) -> None:
        self.classes = classes
        self.intercept = intercept
        self.text_params = text_params
        self.text_weights = np.ascontiguousarray(text_weights)
        self.app_features = app_features
        self.app_weights = np.ascontiguousarray(app_weights)
        self.struct_weights = np.ascontiguousarray(struct_weights)

    @classmethod
    def compile(cls, pipeline: Pipeline) -> LinearScorer | None:
        """The scorer of ``pipeline`` if it is exactly the shape ``make_pipeline`` builds."""
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression

        from engage.features import AppTokens, FastTextHasher, StructColumns

        try:
            steps = [name for name, _ in pipeline.steps]
            features = pipeline.named_steps["features"]
            model = pipeline.named_steps["model"]
            names = [(name, type(t), cols) for name, t, cols in features.transformers_]
            expected = [
                ("text", FastTextHasher, 0),
                ("app", AppTokens, 1),
                ("struct", StructColumns, list(range(2, 2 + N_STRUCT))),
            ]
            multinomial = len(model.classes_) > 2 and model.coef_.shape[0] == len(model.classes_)
            if not (
                steps == ["features", "model"]
                and isinstance(features, ColumnTransformer)
                and type(model) is LogisticRegression
                and names[:3] == expected
                and all(t == "drop" for _, t, _ in features.transformers_[3:])
                and multinomial
            ):
                return None
            coef = np.asarray(model.coef_, dtype=np.float64)
            slices = features.output_indices_
            text = features.named_transformers_["text"]
            app = features.named_transformers_["app"]
            struct = features.named_transformers_["struct"]
            return cls(
                classes=np.asarray([str(c) for c in model.classes_]),
                intercept=np.asarray(model.intercept_, dtype=np.float64),
                text_params=(
                    int(text.n_features),
                    int(text.word_ngrams),
                    tuple(int(k) for k in text.char_ngrams),
                ),
                text_weights=coef[:, slices["text"]].T,
                app_features=int(app.n_features),
                app_weights=coef[:, slices["app"]].T,
                struct_weights=coef[:, slices["struct"]].T * float(struct.weight),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline) -> LinearScorer | None:
        """``compile(pipeline)``, kept for the pipeline most recently asked about."""
        cached = _SCORERS.get(id(pipeline))
        if cached is not None and cached[0] is pipeline:
            return cached[1]
        scorer = cls.compile(pipeline)
        _SCORERS.clear()  # one model is active at a time; keep no stale weights around
        _SCORERS[id(pipeline)] = (pipeline, scorer)
        return scorer

    # -- the weights file ----------------------------------------------------------------------

    @staticmethod
    def weights_path(model_path: Path) -> Path:
        return model_path.with_name(model_path.stem + ".weights.npz")

    def save(self, model_path: Path) -> Path:
        """Write the weights beside ``model_path`` (atomically), tied to its SHA-256."""
        out = self.weights_path(model_path)
        fd, tmp = tempfile.mkstemp(prefix=".weights-", suffix=".npz", dir=out.parent)
        os.close(fd)
        nf, wn, cn = self.text_params
        try:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    model_sha256=np.array(_sha256(model_path)),
                    feature_version=np.array(FEATURE_VERSION),
                    classes=self.classes.astype(str),
                    intercept=self.intercept,
                    text_params=np.array([nf, wn, *cn], dtype=np.int64),
                    text_weights=self.text_weights,
                    app_features=np.array(self.app_features),
                    app_weights=self.app_weights,
                    struct_weights=self.struct_weights,
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, out)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return out

    @classmethod
    def load(cls, model_path: Path) -> LinearScorer | None:
        """The weights saved beside ``model_path``, or None when there are none or they are
        not those of this very model file (or of these features)."""
        path = cls.weights_path(model_path)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["model_sha256"]) != _sha256(model_path):
                    return None
                if int(z["feature_version"]) != FEATURE_VERSION:
                    return None
                tp = [int(v) for v in z["text_params"]]
                return cls(
                    classes=np.asarray([str(c) for c in z["classes"]]),
                    intercept=z["intercept"],
                    text_params=(tp[0], tp[1], tuple(tp[2:])),
                    text_weights=z["text_weights"],
                    app_features=int(z["app_features"]),
                    app_weights=z["app_weights"],
                    struct_weights=z["struct_weights"],
                )
        except (OSError, KeyError, ValueError, TypeError) as exc:
            log.warning("ignoring model weights %s (%s)", path, exc)
            return None

    # -- scoring -------------------------------------------------------------------------------

    def text_scores(self, tb: TokenBatch) -> np.ndarray:
        nf, wn, cn = self.text_params
        return hashed_scores(tb, nf, wn, cn, self.text_weights)

    def proba(self, frame: FeatureFrame, idx: np.ndarray) -> np.ndarray:
        """Class probabilities of the posts ``idx`` of a frame built with ``text_scores``."""
        assert frame.text_scores is not None
        keys = frame.app_keys
        uniq = sorted(set(keys))
        app_scores = np.asarray(hash_texts(uniq, self.app_features, 1, ()) @ self.app_weights)
        pos = {k: j for j, k in enumerate(uniq)}
        code = np.fromiter(map(pos.__getitem__, keys), dtype=np.int64, count=len(keys))
        z = frame.text_scores[idx] + app_scores[code[idx]]
        z += frame.struct[idx] @ self.struct_weights
        z += self.intercept
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_SCORERS: dict[int, tuple[Pipeline, LinearScorer | None]] = {}
_APP_AUTOMATION = STRUCT_NAMES.index("app_automation")


def predict_frame(
    model: Pipeline | None, frame: FeatureFrame, scorer: LinearScorer | None = None
) -> list[Prediction]:
    """Labels, confidences and reasons for the posts of ``frame``: with ``scorer`` (or the
    compiled form of ``model``) when the frame was built with its text scores, else with the
    pipeline ``model`` itself."""
    n = len(frame)
    if n == 0:
        return []
    labels, confs, rules, ev = _frame_labels(model, frame, scorer)
    reasons = _frame_reasons(frame, labels, rules, ev, 0, n, {})
    return [Prediction(*row) for row in zip(labels, confs, reasons, strict=True)]


def _frame_labels(
    model: Pipeline | None, frame: FeatureFrame, scorer: LinearScorer | None
) -> tuple[list[str], list[float], list[str | None], _Evidence]:
    """``predict_frame`` up to the reasons: the labels, the confidences, the rule that decided
    each post (if one did) and the evidence the reasons are built from."""
    n = len(frame)
    share, auto = _rule_masks(frame)
    lab = _rule_array(share, auto)
    rules: list[str | None] = lab.tolist()
    conf = np.zeros(n)
    conf[share] = RULE_CONFIDENCE["repost"]
    conf[auto] = RULE_CONFIDENCE["automation"]
    todo = ~(share | auto)
    if todo.any():
        idx = np.flatnonzero(todo)
        if frame.text_scores is None:
            scorer = None
        elif scorer is None and model is not None:
            scorer = LinearScorer.for_pipeline(model)
        if scorer is not None:
            proba = scorer.proba(frame, idx)
            classes = scorer.classes
        else:
            if model is None:
                raise ValueError("predict_frame needs a pipeline for a frame without text scores")
            proba = model.predict_proba(frame.X[idx])
            classes = np.asarray(model.classes_)
        best = proba.argmax(axis=1)
        lab[idx] = np.array([str(c) for c in classes], dtype=object)[best]
        conf[idx] = proba[np.arange(len(idx)), best]
    return lab.tolist(), np.round(conf, 4).tolist(), rules, _Evidence(frame)


def _frame_reasons(
    frame: FeatureFrame,
    labels: list[str],
    rules: list[str | None],
    ev: _Evidence,
    lo: int,
    hi: int,
    texts: dict[str, str],
) -> list[str]:
    """The reasons of the posts ``lo`` to ``hi`` (excluded) of ``frame``. Equal reasons share
    one string of ``texts`` (a history repeats its evidence: the same app, the same repost
    target...), so a hundred thousand labels hold tens of thousands of strings."""
    share_text = texts.setdefault
    return [
        share_text(reason, reason)
        for reason in map(
            build_reason, repeat(frame), range(lo, hi), labels[lo:hi], rules[lo:hi], repeat(ev)
        )
    ]


def frame_for(
    posts: Sequence[Post] | PostFields,
    model: Pipeline | LinearScorer | None,
    settings: FeatureSettings,
    groups: Sequence[Hashable] | None = None,
) -> FeatureFrame:
    """``build_frame`` with the text scored on the way when the model (a pipeline or its
    compiled scorer) allows it."""
    if model is None or isinstance(model, LinearScorer):
        scorer = model
    else:
        scorer = LinearScorer.for_pipeline(model)
    return build_frame(posts, settings, groups, text_scorer=scorer.text_scores if scorer else None)


# ---------------------------------------------------------------------------------------------
# Model files: save, load, find the active one
# ---------------------------------------------------------------------------------------------


class ActiveModel:
    """The model in use: its card, and either the loaded pipeline or (for labelling, which is
    all most commands do) only its compiled weights; the pipeline is then loaded on first use."""

    def __init__(
        self,
        pipeline: Pipeline | None,
        card: dict[str, Any],
        kind: str,  # "shipped", "personal" or "retrained"
        path: Path | None,
        note: str | None = None,  # why a fallback happened
        *,
        scorer: LinearScorer | None = None,
    ) -> None:
        if pipeline is None and path is None:
            raise ValueError("a model needs a pipeline or a file to load it from")
        self._pipeline = pipeline
        self.card = card
        self.kind = kind
        self.path = path
        self.note = note
        self._scorer = scorer
        self._scorer_known = scorer is not None

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            assert self.path is not None
            self._pipeline = _load_checked(self.path)
        return self._pipeline

    @property
    def scorer(self) -> LinearScorer | None:
        """The compiled weights, or None for a pipeline of another shape."""
        if not self._scorer_known:
            self._scorer = LinearScorer.for_pipeline(self.pipeline)
            self._scorer_known = True
        return self._scorer

    @property
    def version(self) -> str:
        return str(self.card["model_version"])

    @property
    def macro_f1(self) -> float | None:
        v = self.card.get("scores", {}).get("heldout", {}).get("macro_f1")
        return float(v) if v is not None else None


def save_model(pipeline: Pipeline, path: Path) -> None:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".skops", dir=path.parent)
    os.close(fd)
    try:
        sio.dump(pipeline, tmp)
        os.chmod(tmp, 0o644)  # a model holds no secret; mkstemp's 0600 would surprise git
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    scorer = LinearScorer.compile(pipeline)
    if scorer is not None:
        scorer.save(path)
    else:
        LinearScorer.weights_path(path).unlink(missing_ok=True)


def load_model_file(path: Path) -> Pipeline:
    """Load a skops model trusting only ``TRUSTED_TYPES`` plus what skops trusts by default."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelError(
            f"model {path} contains types engage does not trust ({', '.join(unexpected)}); "
            "run 'engage train --reset'"
        )
    model = sio.load(path, trusted=[t for t in untrusted if t in TRUSTED_TYPES])
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline):
        raise ModelError(f"model {path} is not a scikit-learn Pipeline; run 'engage train --reset'")
    return model


def _read_card(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {path} cannot be read ({exc})") from None
    if not isinstance(card, dict) or "model_version" not in card:
        raise ModelError(f"model card {path} has no model_version")
    return card


def _compatible(card: dict[str, Any], path: Path) -> None:
    made_with = card.get("versions", {}).get("scikit-learn")
    if made_with != sklearn_version():
        raise ModelError(
            f"model {path} was made with scikit-learn {made_with}, this is {sklearn_version()}"
        )
    if card.get("feature_version") != FEATURE_VERSION:
        raise ModelError(
            f"model {path} uses features v{card.get('feature_version')}, this engage has "
            f"v{FEATURE_VERSION}"
        )


def _load_checked(model_path: Path) -> Pipeline:
    try:
        return load_model_file(model_path)
    except ModelError:
        raise
    except Exception as exc:  # a damaged file or skops refusing it: a fallback, not a crash
        raise ModelError(
            f"model {model_path} cannot be loaded ({type(exc).__name__}: {exc})"
        ) from None


def _load_pair(model_path: Path, card_path: Path, kind: str) -> ActiveModel:
    if not model_path.is_file():
        raise ModelError(f"no model at {model_path}")
    card = _read_card(card_path)
    _compatible(card, model_path)
    scorer = LinearScorer.load(model_path)
    if scorer is not None:  # this very file's weights: the pipeline loads only if needed
        return ActiveModel(None, card, kind, model_path, scorer=scorer)
    model = ActiveModel(_load_checked(model_path), card, kind, model_path)
    if model.scorer is not None:
        try:
            model.scorer.save(model_path)
        except OSError as exc:  # a read-only install: compiled again next time
            log.debug("cannot save the weights of %s: %s", model_path, exc)
    return model


def load_shipped_model() -> ActiveModel:
    """The shipped model, or (when it cannot be used here) one retrained from the shipped
    corpus, cached under the personal model folder."""
    folder = paths.models_dir()
    try:
        return _load_pair(folder / MODEL_FILE, folder / CARD_FILE, "shipped")
    except ModelError as exc:
        reason = exc.message
    cache = paths.personal_model_dir() / "retrained"
    try:
        model = _load_pair(cache / MODEL_FILE, cache / CARD_FILE, "retrained")
        if model.card.get("corpus_sha256") == corpus_hash(corpus_files()):
            model.note = f"{reason}; using the model retrained here from the shipped corpus"
            return model
    except ModelError:
        pass
    log.warning("%s; retraining from the shipped corpus (a few seconds)", reason)
    if not corpus_files():
        raise ModelError(f"{reason}; and no shipped corpus to retrain from in {corpus_dir()}")
    pipe, card = train_shipped(select_c=False)
    card["model_version"] = f"{card['model_version']}-sk{sklearn_version()}"
    try:
        save_model(pipe, cache / MODEL_FILE)
        _write_json(cache / CARD_FILE, card)
    except OSError as exc:
        log.warning("cannot cache the retrained model in %s: %s", cache, exc)
    return ActiveModel(pipe, card, "retrained", None, note=f"{reason}; retrained from corpus")


_ACTIVE: dict[tuple[Any, ...], ActiveModel] = {}


def _file_sig(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def active_model() -> ActiveModel:
    """The personal model if there is a usable one, else the shipped model (cached per process
    until one of the files changes)."""
    pdir = paths.personal_model_dir()
    sig = (
        str(pdir),
        _file_sig(pdir / PERSONAL_FILE),
        _file_sig(pdir / PERSONAL_CARD),
        _file_sig(paths.models_dir() / MODEL_FILE),
    )
    cached = _ACTIVE.get(sig)
    if cached is not None:
        return cached
    model: ActiveModel | None = None
    if (pdir / PERSONAL_FILE).exists():
        try:
            model = _load_pair(pdir / PERSONAL_FILE, pdir / PERSONAL_CARD, "personal")
        except ModelError as exc:
            log.warning("%s; using the shipped model (run 'engage train' to rebuild yours)", exc)
            model = load_shipped_model()
            model.note = f"{exc.message}; using the shipped model"
    if model is None:
        model = load_shipped_model()
    _ACTIVE.clear()
    _ACTIVE[sig] = model
    return model


def describe_model() -> str:
    """One line for ``engage doctor``: which model is active, its version and macro-F1."""
    model = active_model()
    f1 = model.macro_f1
    score = f"held-out macro-F1 {f1:.3f}" if f1 is not None else "no held-out score"
    where = f" ({model.path})" if model.path else ""
    extra = f"; note: {model.note}" if model.note else ""
    return f"{model.kind} model {model.version}{where}; {score}{extra}"


# ---------------------------------------------------------------------------------------------
# Labelling
# ---------------------------------------------------------------------------------------------


def classify_posts(
    posts: Sequence[Post] | PostFields,
    config: Config | None = None,
    *,
    groups: Sequence[Hashable] | None = None,
    model: ActiveModel | None = None,
    settings: FeatureSettings | None = None,
) -> list[Prediction]:
    """Label ``posts``; context features compare each post with the others of its group
    (default: its platform and account)."""
    model = model or active_model()
    settings = settings or settings_from_config(config)
    with _no_cyclic_gc():
        frame, pipeline, scorer = _model_frame(posts, model, settings, groups)
        return predict_frame(pipeline, frame, scorer)


def _model_frame(
    posts: Sequence[Post] | PostFields,
    model: ActiveModel,
    settings: FeatureSettings,
    groups: Sequence[Hashable] | None = None,
) -> tuple[FeatureFrame, Pipeline | None, LinearScorer | None]:
    """The features of ``posts`` for ``model``, with what scores them: its compiled weights
    (the text scored on the way), or else its pipeline."""
    scorer = model.scorer
    if scorer is not None:
        return frame_for(posts, scorer, settings, groups), None, scorer
    return frame_for(posts, None, settings, groups), model.pipeline, None


def prediction_columns(
    posts: Sequence[Post] | PostFields,
    *,
    model: ActiveModel,
    settings: FeatureSettings,
    size: int,
) -> Iterator[tuple[list[str], list[float], list[str]]]:
    """``classify_posts`` of one account's ``posts`` as columns (labels, confidences,
    reasons), ``size`` posts at a time, in order. The features and labels come at once; the
    reasons, a fifth of the time, are built slice by slice, so that the caller can save a
    slice while the next is built."""
    if size < 1:
        raise ValueError("size must be at least 1")
    with _no_cyclic_gc():
        frame, pipeline, scorer = _model_frame(posts, model, settings)
        n = len(frame)
        if n == 0:
            return
        labels, confs, rules, ev = _frame_labels(pipeline, frame, scorer)
        texts: dict[str, str] = {}
        for lo in range(0, n, size):
            hi = min(lo + size, n)
            yield (
                labels[lo:hi],
                confs[lo:hi],
                _frame_reasons(frame, labels, rules, ev, lo, hi, texts),
            )


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Labelling makes hundreds of thousands of small objects and no reference cycles: the
    cyclic garbage collector would only walk the whole heap again and again meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: predictions made ahead for one account's posts: post ids and their predictions, in order
Precomputed = Mapping[tuple[str, str], tuple[list[str], list[Prediction]]]


def feature_fields(table: Any) -> tuple[list[str], PostFields]:
    """The post ids and the fields of a ``Store.post_feature_table`` (one account's posts).
    The caller drops the table before classifying: the fields are all that is read."""
    post_ids: list[str] = table.column("post_id").to_pylist()
    return post_ids, PostFields.from_arrow(table)


#: what ``Store.count_posts_needing_labels`` says: per (platform, account), how many posts need
#: a label, how many of those are not among the posts labelled ahead, how many have one already
Needing = Mapping[tuple[str, str], tuple[int, int, int]]


def saves_ahead_as_they_are(
    needing: Needing, key: tuple[str, str], post_ids: Sequence[str]
) -> bool:
    """Whether ``label_new_posts`` would save the predictions made ahead for ``post_ids`` (the
    posts of the account ``key``) exactly as they are, given the count of the posts needing
    labels with those ids known (``needing``): every one of them needs its label, none of the
    account's posts that need one is left out, and none has a label to replace."""
    n_needing, not_ahead, relabel = needing.get(key, (0, 0, 0))
    return n_needing == len(post_ids) > 0 and not not_ahead and not relabel


def label_new_posts(
    store: Store,
    config: Config | None = None,
    precomputed: Precomputed | None = None,
    *,
    needing: Needing | None = None,
) -> dict[str, int]:
    """Label every post that has no label yet, or whose label came from another model version
    and is not corrected by the user. Returns the number of posts labelled per label.

    ``precomputed`` may hold the predictions of an account's whole history made ahead
    (``feature_fields`` and ``classify_posts``) with the active model (an import labels the
    export while it is being saved); they are used for the posts of that account that they
    cover. ``needing``: the posts needing labels, counted already (with the ids of
    ``precomputed``) by a caller that wrote nothing since."""
    model = active_model()
    ahead_ids = {key: ids for key, (ids, _preds) in (precomputed or {}).items()}
    if needing is None:
        # counted, not listed: an import's predictions made ahead usually cover every post
        # that needs a label, and a list of a hundred thousand ids would be read for nothing
        needing = store.count_posts_needing_labels(model.version, ahead_ids)
    if not needing:
        return {}
    settings = settings_from_config(config)
    counts: Counter[str] = Counter()
    with _no_cyclic_gc():
        for (platform, account), (n_needing, not_ahead, relabel) in sorted(needing.items()):
            ahead = (precomputed or {}).get((platform, account))
            wanted: set[str] | None = None
            if ahead is None or not_ahead or n_needing < len(ahead[0]):
                wanted = {
                    post_id
                    for _p, _a, post_id in store.posts_needing_labels(
                        model.version, platform, account
                    )
                }
            if ahead is not None and not not_ahead:
                post_ids, preds = ahead
            else:
                # the whole history as columns (context features compare a post with all others)
                table = store.post_feature_table(platform, account)
                post_ids, fields = feature_fields(table)
                del table
                preds = classify_posts(fields, model=model, settings=settings)
                del fields
            if wanted is not None and len(wanted) < len(post_ids):
                keep = [j for j, pid in enumerate(post_ids) if pid in wanted]
                post_ids = [post_ids[j] for j in keep]
                preds = [preds[j] for j in keep]
            labels = [p.label for p in preds]
            store.save_label_columns(
                platform,
                post_ids,
                labels,
                [p.confidence for p in preds],
                [p.reason for p in preds],
                model.version,
                replace=bool(relabel),  # the posts saved are among those counted
            )
            del preds
            counts.update(labels)
    return {label: counts[label] for label in LABELS if counts[label]}


def correct_label(
    store: Store,
    post_id: str,
    label: str | None,
    *,
    platform: str | None = None,
    clear: bool = False,
) -> str:
    """Record (or with ``clear`` remove) the user's label for one post, found by its platform
    id or URL. Returns a sentence saying what was done."""
    if clear == (label is not None):
        raise UsageError("give a LABEL to set, or --clear to remove your correction")
    found = store.find_posts_by_id(post_id)
    if platform is not None:
        found = [p for p in found if p.platform == platform]
    if not found:
        where = f" on {platform}" if platform else ""
        raise UsageError(f"no post with id or URL {post_id!r}{where}; see 'engage posts'")
    if len(found) > 1:
        platforms = ", ".join(sorted({p.platform for p in found}))
        raise UsageError(
            f"post id {post_id!r} exists on {platforms}; add --platform to say which one"
        )
    post = found[0]
    if clear:
        removed = store.clear_correction(post.platform, post.post_id)
        if not removed:
            return f"{post.platform} post {post.post_id} had no correction"
        return f"{post.platform} post {post.post_id}: correction removed; the model's label shows"
    assert label is not None
    store.set_correction(post.platform, post.post_id, label)
    return (
        f"{post.platform} post {post.post_id} labelled {label} (your correction; the model "
        "never overwrites it; 'engage train' learns from it)"
    )


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------


@dataclass
class Scores:
    labels: tuple[str, ...]
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    macro_f1: float
    accuracy: float
    confusion: list[list[int]]  # rows: gold label, columns: predicted, in ``labels`` order
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "n": self.n,
            "per_label": {
                lab: {
                    "precision": round(self.precision[lab], 4),
                    "recall": round(self.recall[lab], 4),
                    "f1": round(self.f1[lab], 4),
                    "support": self.support[lab],
                }
                for lab in self.labels
            },
            "confusion": {"labels": list(self.labels), "rows_gold_cols_predicted": self.confusion},
        }


def score(gold: Sequence[str], pred: Sequence[str]) -> Scores:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(LABELS)
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0.0)
    present = [i for i, lab in enumerate(labels) if s[i] > 0 or lab in pred]
    macro = float(np.mean([f[i] for i in present])) if present else 0.0
    cm = confusion_matrix(gold, pred, labels=labels)
    acc = float(np.mean([g == q for g, q in zip(gold, pred, strict=True)])) if gold else 0.0
    return Scores(
        labels=tuple(labels),
        precision={lab: float(p[i]) for i, lab in enumerate(labels)},
        recall={lab: float(r[i]) for i, lab in enumerate(labels)},
        f1={lab: float(f[i]) for i, lab in enumerate(labels)},
        support={lab: int(s[i]) for i, lab in enumerate(labels)},
        macro_f1=macro,
        accuracy=acc,
        confusion=[[int(x) for x in row] for row in cm],
        n=len(gold),
    )


def evaluate(rows: Sequence[LabelledPost], model: ActiveModel, settings: FeatureSettings) -> Scores:
    preds = classify_posts(
        [r.post for r in rows], model=model, settings=settings, groups=[r.group for r in rows]
    )
    return score([r.label for r in rows], [p.label for p in preds])


@dataclass
class EvalResult:
    source: str
    model: str
    scores: Scores


def evaluate_active(data: Path | None = None, config: Config | None = None) -> EvalResult:
    """Scores of the active model on the shipped held-out split, or on a labelled JSONL file
    (whose posts are one account's history, or one per ``persona`` field when given)."""
    model = active_model()
    if data is None:
        _, test = split_corpus(load_corpus())
        if not test:
            raise ModelError(f"no held-out posts in {corpus_dir()}")
        scores = evaluate(test, model, _default_settings())
        source = f"shipped held-out split ({len(test)} posts, whole personas never trained on)"
    else:
        items = read_jsonl_posts(data, labelled=True)
        if not items:
            raise UsageError(f"{data}: no posts in the file")
        groups = _file_groups(data)
        rows = [LabelledPost(p, str(lab), g) for (p, lab), g in zip(items, groups, strict=True)]
        scores = evaluate(rows, model, settings_from_config(config))
        source = f"{data} ({len(rows)} posts)"
    return EvalResult(source, f"{model.kind} model {model.version}", scores)


def _file_groups(path: Path) -> list[str]:
    groups = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            obj = json.loads(line)
            groups.append(str(obj.get("persona") or "file"))
    return groups


def classify_jsonl(path: Path, config: Config | None = None) -> list[dict[str, Any]]:
    """``engage classify --jsonl``: label the posts of a file as one account's history."""
    items = read_jsonl_posts(path)
    posts = [p for p, _ in items]
    preds = classify_posts(posts, config, groups=["file"] * len(posts))
    return [
        {"post_id": p.post_id, "label": r.label, "confidence": r.confidence, "reason": r.reason}
        for p, r in zip(posts, preds, strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _library_versions() -> dict[str, str]:
    import scipy
    import skops

    return {
        "scikit-learn": sklearn_version(),
        "skops": skops.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def fit_pipeline(
    rows: Sequence[LabelledPost],
    settings: FeatureSettings,
    C: float = DEFAULT_C,
    weights: Sequence[float] | None = None,
) -> Pipeline:
    frame = build_frame([r.post for r in rows], settings, [r.group for r in rows])
    pipe = make_pipeline(C)
    y = np.array([r.label for r in rows])
    if weights is None:
        pipe.fit(frame.X, y)
    else:
        pipe.fit(frame.X, y, model__sample_weight=np.asarray(weights, dtype=float))
    return pipe


def persona_folds(groups: Sequence[str], k: int) -> np.ndarray:
    """Fold of each row by a hash of its group: whole personas move together."""
    uniq = sorted(set(groups))
    fold_of = {
        g: int.from_bytes(hashlib.sha256(("fold:" + g).encode()).digest()[:8], "big") % k
        for g in uniq
    }
    return np.array([fold_of[g] for g in groups])


def cross_validate(
    rows: Sequence[LabelledPost], settings: FeatureSettings, C: float, k: int = 5
) -> Scores:
    """Persona-grouped k-fold cross-validation on ``rows`` (rules applied as in use)."""
    folds = persona_folds([r.group for r in rows], k)
    frame = build_frame([r.post for r in rows], settings, [r.group for r in rows])
    y = np.array([r.label for r in rows])
    pred = np.empty(len(rows), dtype=object)
    for f in range(k):
        tr = folds != f
        te = ~tr
        if not te.any():
            continue
        pipe = make_pipeline(C)
        pipe.fit(frame.X[tr], y[tr])
        sub = _subframe(frame, np.flatnonzero(te))
        pred[te] = [p.label for p in predict_frame(pipe, sub)]
    return score(list(y), [str(p) for p in pred])


def _subframe(frame: FeatureFrame, idx: np.ndarray) -> FeatureFrame:
    """Rows ``idx`` of a frame (context features stay those computed on the whole history)."""

    def pick(seq: Any) -> Any:
        if isinstance(seq, np.ndarray):
            return seq[idx]
        return [seq[i] for i in idx]

    return FeatureFrame(
        mtexts=pick(frame.mtexts),
        app_keys=pick(frame.app_keys),
        struct=frame.struct[idx],
        client=pick(frame.client),
        app_kind=pick(frame.app_kind),
        repost_of=pick(frame.repost_of),
        own_domain=pick(frame.own_domain),
        own_domain_inferred=pick(frame.own_domain_inferred),
        link_count=pick(frame.link_count),
        wording_count=pick(frame.wording_count),
        opening=pick(frame.opening),
        opening_count=pick(frame.opening_count),
        minute_count=pick(frame.minute_count),
        reply_to=pick(frame.reply_to),
        reply_to_self=pick(frame.reply_to_self),
        n_questions=pick(frame.n_questions),
        own_words=pick(frame.own_words),
        n_links=pick(frame.n_links),
        text_scores=None if frame.text_scores is None else frame.text_scores[idx],
    )


C_GRID = (2.0, 8.0, 32.0)


def train_shipped(select_c: bool = True) -> tuple[Pipeline, dict[str, Any]]:
    """Fit the shipped model on the training part of the corpus (C chosen by persona-grouped
    cross-validation on that part only) and score it on the held-out split."""
    files = corpus_files()
    rows = load_corpus()
    train, test = split_corpus(rows)
    settings = _default_settings()
    cv: dict[str, Any] = {}
    best_c = DEFAULT_C
    if select_c:
        best = -1.0
        for c in C_GRID:
            s = cross_validate(train, settings, c)
            cv[str(c)] = round(s.macro_f1, 4)
            if s.macro_f1 > best:
                best, best_c = s.macro_f1, c
    pipe = fit_pipeline(train, settings, best_c)
    data_hash = corpus_hash(files)
    version_src = f"{data_hash}:{FEATURE_VERSION}:{best_c}:newton-cg"
    version = "shipped-" + hashlib.sha256(version_src.encode()).hexdigest()[:10]
    provisional = ActiveModel(pipe, {"model_version": version}, "shipped", None)
    held = evaluate(test, provisional, settings) if test else None
    card: dict[str, Any] = {
        "model_version": version,
        "kind": "shipped",
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "labels": list(LABELS),
        "feature_version": FEATURE_VERSION,
        "corpus_sha256": data_hash,
        "corpus_files": [f.name for f in files],
        "corpus_posts": len(rows),
        "train_posts": len(train),
        "heldout_posts": len(test),
        "heldout_personas": sorted({r.group for r in test}),
        "split": (
            f"persona-level: SHA-256 of the batch+persona id prefix (e.g. 'b03-mizuki'), first 8 "
            f"bytes as a big-endian integer, modulo {HELDOUT_BUCKETS} == {HELDOUT_BUCKET} is "
            "held out"
        ),
        "hyperparameters": {
            "C": best_c,
            "solver": "newton-cg",
            "class_weight": "balanced",
            "struct_weight": 1.0,
        },
        "cv_macro_f1_by_C": cv,
        "versions": _library_versions(),
        "scores": {"heldout": held.to_dict() if held else None},
    }
    if select_c:
        card["scores"]["cv_train"] = {"macro_f1": cv[str(best_c)], "folds": 5}
    return pipe, card


# ---------------------------------------------------------------------------------------------
# The personal model (engage train)
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainReport:
    kept: bool
    corrections: int
    pseudo: int
    before: dict[str, float]
    after: dict[str, float]
    model_version: str
    message: str
    relabelled: dict[str, int] = field(default_factory=dict)


def _user_rows(
    store: Store, settings: FeatureSettings, base: ActiveModel
) -> tuple[list[LabelledPost], FeatureFrame | None, list[LabelledPost], FeatureFrame | None]:
    """The user's corrected posts, and confident structural evidence from their own history
    (reposts, posts from automation apps, replies the current model is sure about), each with
    features computed against the whole history of its account."""
    corrections = {(p.platform, p.post_id): lab for p, lab in store.corrections()}
    corrected: list[LabelledPost] = []
    pseudo: list[LabelledPost] = []
    c_frames: list[FeatureFrame] = []
    p_frames: list[FeatureFrame] = []
    for platform, account in store.post_accounts():
        history = [
            p
            for b in store.iter_posts(account=account, platform=platform, with_raw=False)
            for p in b
        ]
        group = f"user:{platform}:{account}"
        frame = build_frame(history, settings, [group] * len(history))
        preds = predict_frame(base.pipeline, frame)
        rules = rule_labels(frame)
        c_idx: list[int] = []
        p_idx: list[int] = []
        for i, p in enumerate(history):
            lab = corrections.get((p.platform, p.post_id))
            if lab is not None:
                corrected.append(LabelledPost(p, lab, group, f"{p.platform}:{p.post_id}"))
                c_idx.append(i)
            elif rules[i] is not None or (frame.struct[i, 1] > 0 and preds[i].confidence >= 0.9):
                pseudo.append(LabelledPost(p, preds[i].label, group, f"{p.platform}:{p.post_id}"))
                p_idx.append(i)
        if c_idx:
            c_frames.append(_subframe(frame, np.array(c_idx)))
        if p_idx:
            p_frames.append(_subframe(frame, np.array(p_idx)))
    return corrected, _concat_frames(c_frames), pseudo, _concat_frames(p_frames)


def _concat_frames(frames: Sequence[FeatureFrame]) -> FeatureFrame | None:
    if not frames:
        return None
    if len(frames) == 1:
        return frames[0]
    idx = [np.arange(len(f)) for f in frames]
    out = _subframe(frames[0], idx[0])
    for f, ix in zip(frames[1:], idx[1:], strict=True):
        part = _subframe(f, ix)
        for name in vars(out):
            a, b = getattr(out, name), getattr(part, name)
            if isinstance(a, np.ndarray):
                setattr(out, name, np.concatenate([a, b]))
            elif isinstance(a, list):
                setattr(out, name, a + list(b))
    return out


def _hash_fold(key: str, k: int) -> int:
    return int.from_bytes(hashlib.sha256(("cfold:" + key).encode()).digest()[:8], "big") % k


def train_personal(store: Store, config: Config | None = None, k: int = 3) -> TrainReport:
    """Fit a personal model on the shipped corpus plus the user's corrections (weighted up) and
    confident evidence from their history; keep it only when cross-validation says it is not
    worse than the shipped recipe."""
    shipped = load_shipped_model()
    settings = settings_from_config(config)
    train, _ = split_corpus(load_corpus())
    if not train:
        raise ModelError(f"no training corpus in {corpus_dir()}")
    corrected, c_frame, pseudo, p_frame = _user_rows(store, settings, shipped)
    if not corrected or c_frame is None:
        raise UsageError(
            "no corrections yet: correct a few labels with 'engage label POST_ID LABEL', "
            "then run 'engage train'"
        )
    # pseudo-labels matter while corrections are few; a deterministic sample keeps it quick
    max_pseudo = 0 if len(corrected) >= 200 else 400
    order = sorted(
        range(len(pseudo)), key=lambda i: hashlib.sha256(pseudo[i].row_id.encode()).hexdigest()
    )[:max_pseudo]
    pseudo = [pseudo[i] for i in order]
    train_frame = build_frame(
        [r.post for r in train], _default_settings(), [r.group for r in train]
    )
    frames = [train_frame, c_frame]
    if pseudo and p_frame is not None:
        frames.append(_subframe(p_frame, np.array(order, dtype=int)))
    frame = _concat_frames(frames)
    assert frame is not None
    c = float(shipped.card.get("hyperparameters", {}).get("C", DEFAULT_C))

    # Cross-validation, before (shipped recipe) and after (personal recipe), on the same folds:
    # corpus personas by hash, corrections by hash of their id.
    rows = train + corrected + pseudo
    kind = np.array([0] * len(train) + [1] * len(corrected) + [2] * len(pseudo))
    folds = np.concatenate(
        [
            persona_folds([r.group for r in train], k),
            np.array([_hash_fold(r.row_id, k) for r in corrected], dtype=int),
            np.array([_hash_fold(r.row_id, k) for r in pseudo], dtype=int),
        ]
    )
    y = np.array([r.label for r in rows])
    w_after = np.where(kind == 1, CORRECTION_WEIGHT, np.where(kind == 2, PSEUDO_WEIGHT, 1.0))
    pred_before = np.empty(len(rows), dtype=object)
    pred_after = np.empty(len(rows), dtype=object)
    for f in range(k):
        te = folds == f
        if not te.any():
            continue
        sub = _subframe(frame, np.flatnonzero(te))
        tr_before = (folds != f) & (kind == 0)
        pb = make_pipeline(c).fit(frame.X[tr_before], y[tr_before])
        pred_before[te] = [p.label for p in predict_frame(pb, sub)]
        tr_after = folds != f
        pa = make_pipeline(c).fit(
            frame.X[tr_after], y[tr_after], model__sample_weight=w_after[tr_after]
        )
        pred_after[te] = [p.label for p in predict_frame(pa, sub)]

    def summary(pred: np.ndarray) -> dict[str, float]:
        corpus = kind == 0
        corr = kind == 1
        s = score(list(y[corpus]), [str(x) for x in pred[corpus]])
        acc = float(np.mean(pred[corr] == y[corr])) if corr.any() else 0.0
        return {"corpus_macro_f1": round(s.macro_f1, 4), "corrections_accuracy": round(acc, 4)}

    before = summary(pred_before)
    after = summary(pred_after)
    not_worse = (
        after["corrections_accuracy"] >= before["corrections_accuracy"]
        and after["corpus_macro_f1"] >= before["corpus_macro_f1"] - 0.01
    )
    if not not_worse:
        return TrainReport(
            False,
            len(corrected),
            len(pseudo),
            before,
            after,
            active_model().version,
            "the personal model scored worse in cross-validation; kept the current model",
        )
    pipe = make_pipeline(c).fit(frame.X, y, model__sample_weight=w_after)
    ident = hashlib.sha256(
        (
            shipped.version
            + json.dumps(sorted((r.row_id, r.label) for r in corrected))
            + str(len(pseudo))
            + datetime.now(UTC).isoformat()
        ).encode()
    ).hexdigest()[:10]
    version = f"personal-{ident}"
    provisional = ActiveModel(pipe, {"model_version": version}, "personal", None)
    _, test = split_corpus(load_corpus())
    held = evaluate(test, provisional, _default_settings()) if test else None
    card = {
        "model_version": version,
        "kind": "personal",
        "base_model": shipped.version,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "labels": list(LABELS),
        "feature_version": FEATURE_VERSION,
        "corpus_sha256": shipped.card.get("corpus_sha256"),
        "corrections": len(corrected),
        "correction_weight": CORRECTION_WEIGHT,
        "pseudo_labelled": len(pseudo),
        "pseudo_weight": PSEUDO_WEIGHT,
        "hyperparameters": {"C": c},
        "versions": _library_versions(),
        "scores": {
            "heldout": held.to_dict() if held else None,
            "cv_before": before,
            "cv_after": after,
        },
    }
    pdir = paths.personal_model_dir()
    save_model(pipe, pdir / PERSONAL_FILE)
    _write_json(pdir / PERSONAL_CARD, card)
    _ACTIVE.clear()
    return TrainReport(
        True, len(corrected), len(pseudo), before, after, version, "personal model saved"
    )


def reset_personal() -> bool:
    """Remove the personal model; the shipped one is used again. True if there was one."""
    pdir = paths.personal_model_dir()
    found = False
    for name in (PERSONAL_FILE, PERSONAL_CARD):
        target = pdir / name
        if target.exists():
            target.unlink()
            found = True
    LinearScorer.weights_path(pdir / PERSONAL_FILE).unlink(missing_ok=True)
    _ACTIVE.clear()
    return found


def iter_all(items: Iterable[list[Post]]) -> list[Post]:
    return [p for batch in items for p in batch]
