"""Feature extraction for the post classifier: the same code at training and at prediction.

A batch of ``Post`` records becomes a ``FeatureFrame``: a 2-D object array that the model's
``Pipeline`` reads (column 0 the cleaned text, column 1 the posting app's key, the rest numeric
structural and context features), plus the per-post evidence the reasons are built from.

Speed matters (the classifier must label tens of thousands of posts per second on one core), so
the text is hashed by ``FastTextHasher``, which works on the whole batch at once with numpy: the
batch's texts are joined into one array of code points, and word and character n-grams are hashed
with vectorised polynomial hashes instead of a Python loop per token.

Context features describe a post against its account's own history: links to the account's own
domains (configured, or inferred from what its link posts point to again and again), how often the
same link, wording or opening words recur, and posting times that look scheduled.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from connectors.base import Post
from connectors.text import app_key, html_to_text, url_domain

# Bump when the features change: a model trained on other features must not be used with these.
FEATURE_VERSION = 3

# Placeholders that stand in for links, handles and media in the text the model sees.
URL_TOKEN = " zurlz "
MENTION_TOKEN = " zmentionz "
PIC_TOKEN = " zpicz "

_URL_RE = re.compile(
    r"(?:https?://|www\.)\S+|\b(?:pic\.twitter\.com|t\.co|bit\.ly|buff\.ly|dlvr\.it|ow\.ly)/\S+",
    re.IGNORECASE,
)
_PIC_RE = re.compile(r"\bpic\.twitter\.com/\S+", re.IGNORECASE)
_MENTION_RE = re.compile(r"(?<![\w/])@[\w.\-]+(?:@[\w.\-]+)?")
_HASHTAG_RE = re.compile(r"(?<![\w&])#\w+")
_RT_RE = re.compile(r"^\s*RT\s+@([\w.\-]+(?:@[\w.\-]+)?)\s*:?", re.IGNORECASE)
_WORD_RE = re.compile(r"\w+")
_WORDING_STRIP = re.compile(r"[\W\d_]+")
_SEP = "\x1e"

# Read-later apps post "Title <link> (via Instapaper)": that passes on someone else's article
# (LABELS.md rule 5, share), so they are not treated as pure automation.
READ_LATER_APPS = frozenset({"instapaper", "pocket", "readability"})

# Big platforms and link shorteners that people link to again and again without owning them:
# never inferred as one of the account's own domains.
# fmt: off
COMMON_DOMAINS = frozenset(
    {
        "t.co", "bit.ly", "ow.ly", "buff.ly", "goo.gl", "tinyurl.com", "lnkd.in", "dlvr.it",
        "youtube.com", "youtu.be", "m.youtube.com", "twitter.com", "x.com", "mobile.twitter.com",
        "pic.twitter.com", "bsky.app", "github.com", "gist.github.com", "instagram.com",
        "facebook.com", "fb.me", "linkedin.com", "open.spotify.com", "spotify.com",
        "swarmapp.com", "4sq.com", "foursquare.com", "flickr.com", "flic.kr", "reddit.com",
        "news.ycombinator.com", "en.wikipedia.org", "wikipedia.org", "medium.com",
        "imgur.com", "i.imgur.com", "tiktok.com", "twitch.tv", "vimeo.com", "apple.news",
        "nytimes.com", "theguardian.com", "bbc.co.uk", "bbc.com", "washingtonpost.com",
        "theverge.com", "arstechnica.com", "wired.com", "techcrunch.com", "mastodon.social",
        "docs.google.com", "drive.google.com", "google.com", "amazon.com", "amzn.to",
        "paper.li", "instapaper.com", "getpocket.com", "pocket.co",
    }
)
# fmt: on

STRUCT_NAMES: tuple[str, ...] = (
    "kind_post",
    "kind_reply",
    "kind_quote",
    "kind_repost",
    "reply_to_self",
    "n_links",
    "n_mentions",
    "has_question",
    "n_questions",
    "ends_with_question",
    "own_chars",
    "own_words",
    "no_own_words",
    "few_own_words",
    "n_hashtags",
    "n_exclaims",
    "app_automation",
    "app_suite",
    "app_unknown",
    "app_read_later",
    "own_domain_configured",
    "own_domain_inferred",
    "link_recurs",
    "wording_recurs",
    "opening_recurs",
    "scheduled_minute",
    "exact_hour",
    "platform_x",
    "platform_mastodon",
    "platform_bluesky",
    "starts_with_mention",
    "empty_text",
    "media_only",
)
N_STRUCT = len(STRUCT_NAMES)
_IX = {name: i for i, name in enumerate(STRUCT_NAMES)}


@dataclass(frozen=True)
class FeatureSettings:
    """What the features need from the config: own domains and the automation app lists."""

    own_domains: frozenset[str] = frozenset()
    automation_apps: frozenset[str] = frozenset()
    suite_apps: frozenset[str] = frozenset()

    @classmethod
    def from_lists(
        cls, own_domains: Sequence[str], automation_apps: Sequence[str], suite_apps: Sequence[str]
    ) -> FeatureSettings:
        return cls(
            own_domains=frozenset(_clean_domain(d) for d in own_domains if d.strip()),
            automation_apps=frozenset(app_key(a) for a in automation_apps if a.strip()),
            suite_apps=frozenset(app_key(a) for a in suite_apps if a.strip()),
        )


def _clean_domain(d: str) -> str:
    d = d.strip().lower()
    if "://" in d:
        d = url_domain(d)
    d = d.strip("/")
    return d[4:] if d.startswith("www.") else d


@dataclass
class FeatureFrame:
    """Model input for a batch of posts plus the evidence behind each post's features."""

    X: np.ndarray  # (n, 2 + N_STRUCT) object array: text, app key, struct features
    struct: np.ndarray  # (n, N_STRUCT) float
    client: list[str | None]
    app_kind: list[str]  # "automation", "read_later", "suite", "" (ordinary or unknown)
    repost_of: list[str | None]  # handle reposted (rule 1), "" for a repost of unknown author
    own_domain: list[str | None]
    own_domain_inferred: list[bool]
    link_count: np.ndarray  # times the post's most repeated link occurs in the history
    wording_count: np.ndarray
    opening: list[str]
    opening_count: np.ndarray
    minute_count: np.ndarray  # posts from the same app at the same minute past the hour
    reply_to: list[str | None]
    reply_to_self: np.ndarray
    n_questions: np.ndarray
    own_words: np.ndarray
    n_links: np.ndarray
    inferred_domains: dict[Hashable, dict[str, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.X.shape[0])


# ---------------------------------------------------------------------------------------------
# Text cleaning
# ---------------------------------------------------------------------------------------------


def clean_text(raw: str | None) -> str:
    """Plain text of a post: Mastodon HTML stripped, entities decoded, whitespace kept simple."""
    if not raw:
        return ""
    if "<" in raw:
        return html_to_text(raw)
    if "&" in raw:
        return html.unescape(raw).strip()
    return raw.strip()


def model_texts(texts: Sequence[str]) -> list[str]:
    """Texts as the model sees them: links, media links and @handles replaced by placeholder
    tokens, lower-cased. Done on the whole batch joined into one string (one regex pass)."""
    if not texts:
        return []
    joined = _SEP.join(t.replace(_SEP, " ") for t in texts)
    joined = _PIC_RE.sub(PIC_TOKEN, joined)
    joined = _URL_RE.sub(URL_TOKEN, joined)
    joined = _MENTION_RE.sub(MENTION_TOKEN, joined)
    return joined.lower().split(_SEP)


# ---------------------------------------------------------------------------------------------
# Vectorised text hashing
# ---------------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1


def _char_classes() -> np.ndarray:
    """Per code point below 0x30000: 0 separator, 1 word character (joins into words),
    2 a character that is a token on its own (CJK, kana, emoji, punctuation)."""
    n = 0x30000
    cls = np.zeros(n, dtype=np.uint8)
    for cp in range(n):
        ch = chr(cp)
        if ch.isspace() or cp < 0x20:
            continue
        if (
            0x2E80 <= cp <= 0x9FFF
            or 0xAC00 <= cp <= 0xD7AF
            or 0xF900 <= cp <= 0xFAFF
            or 0xFF65 <= cp <= 0xFF9F
            or cp >= 0x20000
        ):
            cls[cp] = 2
        elif ch.isalnum() or ch == "_":
            cls[cp] = 1
        elif ch in "'’-":
            cls[cp] = 0
        else:
            cls[cp] = 2
    return cls


_CLASSES: np.ndarray | None = None


def _classes() -> np.ndarray:
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _char_classes()
    return _CLASSES


def _mix(h: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit finaliser (splitmix64) so that nearby polynomial hashes spread over all buckets."""
    h = h ^ np.uint64(seed)
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


class FastTextHasher(TransformerMixin, BaseEstimator):
    """Hashed word 1-2 grams and character n-grams of a batch of texts, as a sparse matrix.

    Language-independent: runs of letters and digits form words; CJK characters, kana, emoji
    and punctuation are tokens on their own (so Japanese gets character uni- and bigrams); the
    character n-grams run over the whole text including spaces. Counts are log-scaled and each
    row is L2-normalised. Stateless, so ``fit`` learns nothing.
    """

    def __init__(
        self,
        n_features: int = 2**16,
        word_ngrams: int = 2,
        char_ngrams: tuple[int, ...] = (2, 3, 4),
    ) -> None:
        self.n_features = n_features
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams

    def fit(self, X: Any, y: Any = None) -> FastTextHasher:
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        texts = [str(t) for t in np.asarray(X, dtype=object).ravel()]
        return hash_texts(texts, self.n_features, self.word_ngrams, tuple(self.char_ngrams))


def hash_texts(
    texts: Sequence[str], n_features: int, word_ngrams: int, char_ngrams: tuple[int, ...]
) -> sp.csr_matrix:
    n_docs = len(texts)
    if n_docs == 0:
        return sp.csr_matrix((0, n_features), dtype=np.float64)
    # One separator code point (0) between documents, and one at the end.
    buf = "\x00".join(texts) + "\x00"
    cps = np.frombuffer(buf.encode("utf-32-le"), dtype=np.uint32)
    doc_of = np.cumsum(cps == 0) - (cps == 0)  # document index of every code point
    doc_of = doc_of.astype(np.int64)
    table = _classes()
    safe = np.minimum(cps, np.uint32(table.shape[0] - 1))
    cls = table[safe]
    cls[cps == 0] = 0
    cp64 = cps.astype(np.uint64)
    rows_parts: list[np.ndarray] = []
    cols_parts: list[np.ndarray] = []
    mod = np.uint64(n_features)

    # -- character n-grams over the raw code points, never crossing a document boundary --------
    sep_pos = np.flatnonzero(cps == 0)
    n_cp = cps.shape[0]
    # distance from each position to the next separator
    next_sep = np.searchsorted(sep_pos, np.arange(n_cp), side="left")
    room = sep_pos[np.minimum(next_sep, len(sep_pos) - 1)] - np.arange(n_cp)
    with np.errstate(over="ignore"):
        for k in char_ngrams:
            if k <= 0 or n_cp < k:
                continue
            h = cp64[: n_cp - k + 1].copy()
            for j in range(1, k):
                h = h * np.uint64(1_000_003) + cp64[j : n_cp - k + 1 + j]
            ok = room[: n_cp - k + 1] >= k
            h = _mix(h[ok], 0x51 + k)
            rows_parts.append(doc_of[: n_cp - k + 1][ok])
            cols_parts.append((h % mod).astype(np.int64))

        # -- word tokens: runs of class 1, or single class-2 characters ---------------------
        is_tok = cls > 0
        prev_cls = np.concatenate(([0], cls[:-1]))
        starts = np.flatnonzero(is_tok & ((cls == 2) | (prev_cls != 1)))
        if starts.size:
            nxt_cls = np.concatenate((cls[1:], [0]))
            ends = np.flatnonzero(is_tok & ((cls == 2) | (nxt_cls != 1))) + 1
            # polynomial hash of each token via prefix sums in wrapping uint64 arithmetic
            base = np.uint64(1_000_003)
            inv_base = np.uint64(pow(1_000_003, -1, 1 << 64))
            pw = np.empty(n_cp, dtype=np.uint64)
            pw[0] = 1
            pw[1:] = base
            pw = np.cumprod(pw)
            ipw = np.empty(n_cp, dtype=np.uint64)
            ipw[0] = 1
            ipw[1:] = inv_base
            ipw = np.cumprod(ipw)
            pref = np.concatenate(([np.uint64(0)], np.cumsum(cp64 * pw)))
            tok_h = (pref[ends] - pref[starts]) * ipw[starts]
            tok_h = _mix(tok_h, 0x77)
            tok_doc = doc_of[starts]
            rows_parts.append(tok_doc)
            cols_parts.append((tok_h % mod).astype(np.int64))
            for k in range(2, word_ngrams + 1):
                if tok_h.size < k:
                    break
                same = tok_doc[: tok_h.size - k + 1] == tok_doc[k - 1 :]
                g = tok_h[: tok_h.size - k + 1].copy()
                for j in range(1, k):
                    g = g * np.uint64(0x9E3779B97F4A7C15) + tok_h[j : tok_h.size - k + 1 + j]
                g = _mix(g[same], 0x100 + k)
                rows_parts.append(tok_doc[: tok_h.size - k + 1][same])
                cols_parts.append((g % mod).astype(np.int64))

    rows = np.concatenate(rows_parts) if rows_parts else np.zeros(0, np.int64)
    cols = np.concatenate(cols_parts) if cols_parts else np.zeros(0, np.int64)
    # Count (row, col) pairs: sort the combined key once, then collapse runs.
    key = rows * n_features + cols
    key.sort()
    uniq, counts = np.unique(key, return_counts=True)
    r = uniq // n_features
    c = uniq % n_features
    vals = np.log1p(counts.astype(np.float64))
    norms = np.sqrt(np.bincount(r, weights=vals * vals, minlength=n_docs))
    norms[norms == 0] = 1.0
    vals = vals / norms[r]
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_docs), out=indptr[1:])
    return sp.csr_matrix((vals, c, indptr), shape=(n_docs, n_features))


class StructColumns(TransformerMixin, BaseEstimator):
    """The numeric structural and context columns as a sparse float matrix, each multiplied by
    a fixed weight (the text block is L2-normalised, so these keep a comparable scale)."""

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def fit(self, X: Any, y: Any = None) -> StructColumns:
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        return sp.csr_matrix(arr * float(self.weight))


class AppTokens(TransformerMixin, BaseEstimator):
    """Hashed words of the posting app's name ("pogoda-bot" -> "pogoda", "bot"), so that an
    unknown app called "...-rss" or "...bot" is recognised from its words."""

    def __init__(self, n_features: int = 2**12) -> None:
        self.n_features = n_features

    def fit(self, X: Any, y: Any = None) -> AppTokens:
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        texts = [str(t) if t is not None else "" for t in np.asarray(X, dtype=object).ravel()]
        return hash_texts(texts, self.n_features, 1, ())


# ---------------------------------------------------------------------------------------------
# The frame: structure and the account's own context
# ---------------------------------------------------------------------------------------------


def _norm_url(u: str) -> str:
    u = u.strip().lower()
    for prefix in ("https://", "http://"):
        if u.startswith(prefix):
            u = u[len(prefix) :]
            break
    if u.startswith("www."):
        u = u[4:]
    u = u.split("#", 1)[0]
    if "?" in u:
        base, _, query = u.partition("?")
        kept = [q for q in query.split("&") if not q.startswith(("utm_", "ref=", "s="))]
        u = base + ("?" + "&".join(kept) if kept else "")
    return u.rstrip("/")


def _domain_matches(domain: str, owned: frozenset[str] | set[str]) -> str | None:
    if not domain:
        return None
    if domain in owned:
        return domain
    parts = domain.split(".")
    for i in range(1, len(parts) - 1):
        parent = ".".join(parts[i:])
        if parent in owned:
            return parent
    return None


def infer_own_domains(
    domains_per_post: Sequence[Sequence[str]], is_original: Sequence[bool]
) -> dict[str, int]:
    """Domains an account links to again and again from its own (not reposted) posts: at least
    three posts and at least a fifth of its link posts. Returns domain -> number of posts."""
    per_domain: Counter[str] = Counter()
    link_posts = 0
    for doms, orig in zip(domains_per_post, is_original, strict=True):
        if not orig or not doms:
            continue
        link_posts += 1
        for d in set(doms):
            if d and d not in COMMON_DOMAINS:
                per_domain[d] += 1
    return {
        d: n for d, n in per_domain.items() if n >= 3 and n >= max(3, math.ceil(0.2 * link_posts))
    }


def build_frame(
    posts: Sequence[Post],
    settings: FeatureSettings,
    groups: Sequence[Hashable] | None = None,
) -> FeatureFrame:
    """Features of ``posts``. ``groups`` names the account history each post belongs to (default:
    its platform and account); context features compare a post with the others of its group."""
    n = len(posts)
    if groups is None:
        groups = [(p.platform, p.account) for p in posts]
    texts = [clean_text(p.text) for p in posts]
    mtexts = model_texts(texts)
    struct = np.zeros((n, N_STRUCT), dtype=np.float64)

    apps = settings.automation_apps
    suites = settings.suite_apps
    clients: list[str | None] = []
    app_keys: list[str] = []
    app_kind: list[str] = []
    repost_of: list[str | None] = []
    reply_to: list[str | None] = []
    own_domain: list[str | None] = [None] * n
    own_inferred: list[bool] = [False] * n
    domains: list[list[str]] = []
    url_keys: list[list[str]] = []
    wording: list[str] = []
    opening: list[str] = []
    minute_key: list[tuple[Hashable, str, int]] = []
    kinds = np.zeros(n, dtype=np.int8)
    reply_self = np.zeros(n, dtype=bool)
    n_links = np.zeros(n, dtype=np.float64)
    n_mentions = np.zeros(n, dtype=np.float64)
    n_q = np.zeros(n, dtype=np.float64)
    ends_q = np.zeros(n, dtype=bool)
    own_chars = np.zeros(n, dtype=np.float64)
    own_words = np.zeros(n, dtype=np.float64)
    n_tags = np.zeros(n, dtype=np.float64)
    n_excl = np.zeros(n, dtype=np.float64)
    exact_hour = np.zeros(n, dtype=bool)
    plat = np.zeros(n, dtype=np.int8)
    starts_mention = np.zeros(n, dtype=bool)
    empty = np.zeros(n, dtype=bool)
    media_only = np.zeros(n, dtype=bool)
    kind_code = {"post": 0, "reply": 1, "quote": 2, "repost": 3}
    plat_code = {"x": 0, "mastodon": 1, "bluesky": 2}

    for i, p in enumerate(posts):
        text = texts[i]
        mt = mtexts[i]
        g = groups[i]
        client = p.client
        key = app_key(client) if client else ""
        clients.append(client)
        app_keys.append(key)
        if not key:
            app_kind.append("")
        elif key in READ_LATER_APPS:
            app_kind.append("read_later")
        elif key in apps:
            app_kind.append("automation")
        elif key in suites:
            app_kind.append("suite")
        else:
            app_kind.append("")
        kind = p.kind
        rt = _RT_RE.match(text) if text[:3].upper() == "RT " else None
        if kind == "repost":
            target = rt.group(1) if rt else None
            repost_of.append(target or "")
        elif rt is not None:
            repost_of.append(rt.group(1))
        else:
            repost_of.append(None)
        kinds[i] = kind_code.get(kind, 0)
        rtu = p.reply_to_user
        reply_to.append(rtu)
        if kind == "reply" and rtu and p.account:
            # a reply to oneself continues a thread ("ana" and "ana@host" are the same person)
            reply_self[i] = rtu.split("@")[0].lower() == p.account.split("@")[0].lower()
        urls = p.urls
        doms = [url_domain(u) for u in urls] if urls else []
        domains.append(doms)
        url_keys.append([_norm_url(u) for u in urls] if urls else [])
        n_url_tokens = mt.count("zurlz")
        n_links[i] = max(len(urls), n_url_tokens)
        n_mentions[i] = max(len(p.mentions), mt.count("zmentionz"))
        # question marks outside links (links were replaced in the model text)
        q = mt.count("?") + mt.count("？") + mt.count("¿")
        n_q[i] = q
        stripped = mt.rstrip(" \n\t.!)\"'»」）🙂😊🤔😅🙏")
        ends_q[i] = stripped.endswith(("?", "？"))
        words = [
            w for w in _WORD_RE.findall(mt) if w not in ("zurlz", "zmentionz", "zpicz", "rt", "via")
        ]
        own_words[i] = len(words) + sum(1 for ch in mt if "\u3040" <= ch <= "\u9fff") / 2.0
        own_chars[i] = sum(len(w) for w in words)
        n_tags[i] = len(_HASHTAG_RE.findall(text))
        n_excl[i] = mt.count("!") + mt.count("！")
        starts_mention[i] = mt.lstrip().startswith("zmentionz")
        empty[i] = not text
        media_only[i] = "zpicz" in mt and not words
        created = p.created_at
        exact_hour[i] = created.minute == 0 and created.second < 5
        plat[i] = plat_code.get(p.platform, 0)
        wk = _WORDING_STRIP.sub(
            " ", mt.replace("zurlz", " ").replace("zmentionz", " ").replace("zpicz", " ")
        ).strip()
        wording.append(wk if len(wk) >= 8 else "")
        opening.append(" ".join(wk.split()[:2]) if len(wk.split()) >= 3 else "")
        minute_key.append((g, key, created.minute))

    original = [r is None for r in repost_of]
    # -- context counts within each group (one pass each over the batch) -----------------------
    link_counter: Counter[tuple[Hashable, str]] = Counter()
    wording_counter: Counter[tuple[Hashable, str]] = Counter()
    opening_counter: Counter[tuple[Hashable, str]] = Counter()
    minute_counter: Counter[tuple[Hashable, str, int]] = Counter()
    app_counter: Counter[tuple[Hashable, str]] = Counter()
    for i in range(n):
        if not original[i]:
            continue
        g = groups[i]
        for u in set(url_keys[i]):
            link_counter[(g, u)] += 1
        if wording[i]:
            wording_counter[(g, wording[i])] += 1
        if opening[i]:
            opening_counter[(g, opening[i])] += 1
        minute_counter[minute_key[i]] += 1
        app_counter[(g, app_keys[i])] += 1

    # own domains: configured ones, plus those inferred per group
    by_group: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    inferred: dict[Hashable, dict[str, int]] = {}
    for g, idx in by_group.items():
        inferred[g] = infer_own_domains([domains[i] for i in idx], [original[i] for i in idx])

    link_count = np.zeros(n, dtype=np.float64)
    wording_count = np.zeros(n, dtype=np.float64)
    opening_count = np.zeros(n, dtype=np.float64)
    minute_count = np.zeros(n, dtype=np.float64)
    scheduled = np.zeros(n, dtype=np.float64)
    configured = settings.own_domains
    for i in range(n):
        g = groups[i]
        if url_keys[i]:
            link_count[i] = max(link_counter.get((g, u), 1) for u in url_keys[i])
        if wording[i]:
            wording_count[i] = wording_counter.get((g, wording[i]), 1)
        if opening[i]:
            opening_count[i] = opening_counter.get((g, opening[i]), 1)
        mc = minute_counter.get(minute_key[i], 1)
        minute_count[i] = mc
        same_app = app_counter.get((g, app_keys[i]), 1)
        # by chance about 1/60 of an app's posts share a minute; far more looks scheduled
        if mc >= 4 and mc >= 0.25 * same_app:
            scheduled[i] = math.log1p(mc - 1)
        if domains[i]:
            inf = inferred.get(g, {})
            for d in domains[i]:
                hit = _domain_matches(d, configured)
                if hit:
                    own_domain[i] = hit
                    own_inferred[i] = False
                    break
                hit = _domain_matches(d, inf.keys())  # type: ignore[arg-type]
                if hit and own_domain[i] is None:
                    own_domain[i] = hit
                    own_inferred[i] = True

    s = struct
    s[:, _IX["kind_post"]] = kinds == 0
    s[:, _IX["kind_reply"]] = (kinds == 1) & ~reply_self
    s[:, _IX["kind_quote"]] = kinds == 2
    s[:, _IX["kind_repost"]] = np.array([r is not None for r in repost_of])
    s[:, _IX["reply_to_self"]] = reply_self
    s[:, _IX["n_links"]] = np.log1p(n_links)
    s[:, _IX["n_mentions"]] = np.log1p(n_mentions)
    s[:, _IX["has_question"]] = n_q > 0
    s[:, _IX["n_questions"]] = np.log1p(n_q)
    s[:, _IX["ends_with_question"]] = ends_q
    s[:, _IX["own_chars"]] = np.log1p(own_chars) / 3.0
    s[:, _IX["own_words"]] = np.log1p(own_words) / 2.0
    s[:, _IX["no_own_words"]] = own_words == 0
    s[:, _IX["few_own_words"]] = (own_words > 0) & (own_words <= 4)
    s[:, _IX["n_hashtags"]] = np.log1p(n_tags)
    s[:, _IX["n_exclaims"]] = np.log1p(n_excl)
    s[:, _IX["app_automation"]] = np.array([k == "automation" for k in app_kind])
    s[:, _IX["app_suite"]] = np.array([k == "suite" for k in app_kind])
    s[:, _IX["app_unknown"]] = np.array([c is None for c in clients])
    s[:, _IX["app_read_later"]] = np.array([k == "read_later" for k in app_kind])
    s[:, _IX["own_domain_configured"]] = np.array(
        [d is not None and not inf for d, inf in zip(own_domain, own_inferred, strict=True)]
    )
    s[:, _IX["own_domain_inferred"]] = np.array(
        [d is not None and inf for d, inf in zip(own_domain, own_inferred, strict=True)]
    )
    s[:, _IX["link_recurs"]] = np.log1p(np.maximum(link_count - 1, 0))
    s[:, _IX["wording_recurs"]] = np.log1p(np.maximum(wording_count - 1, 0))
    s[:, _IX["opening_recurs"]] = np.log1p(np.maximum(opening_count - 1, 0)) / 2.0
    s[:, _IX["scheduled_minute"]] = scheduled / 2.0
    s[:, _IX["exact_hour"]] = exact_hour
    s[:, _IX["platform_x"]] = plat == 0
    s[:, _IX["platform_mastodon"]] = plat == 1
    s[:, _IX["platform_bluesky"]] = plat == 2
    s[:, _IX["starts_with_mention"]] = starts_mention
    s[:, _IX["empty_text"]] = empty
    s[:, _IX["media_only"]] = media_only

    X = np.empty((n, 2 + N_STRUCT), dtype=object)
    X[:, 0] = mtexts
    X[:, 1] = app_keys
    X[:, 2:] = s
    return FeatureFrame(
        X=X,
        struct=s,
        client=clients,
        app_kind=app_kind,
        repost_of=repost_of,
        own_domain=own_domain,
        own_domain_inferred=own_inferred,
        link_count=link_count,
        wording_count=wording_count,
        opening=opening,
        opening_count=opening_count,
        minute_count=minute_count,
        reply_to=reply_to,
        reply_to_self=reply_self,
        n_questions=n_q,
        own_words=own_words,
        n_links=n_links,
        inferred_domains=inferred,
    )
