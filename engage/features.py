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

import functools
import html
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from connectors.base import Post
from connectors.text import app_key, html_to_text, url_domain

# Bump when the features change: a model trained on other features must not be used with these.
FEATURE_VERSION = 5

# Placeholders that stand in for links, handles and media in the text the model sees.
URL_TOKEN = " zurlz "
MENTION_TOKEN = " zmentionz "
PIC_TOKEN = " zpicz "

# Applied to lower-cased text; each pattern starts with a literal so the scan is fast.
_URL_RE = re.compile(r"(?:https?://|www\.)\S+")
# Each alternative starts with a literal letter before its look-behind, so the scan can skip
# ahead (3x faster than a leading look-behind on a large batch).
_BARE_LINK_RE = re.compile(
    r"(?:t(?<![\w./]t)\.co|b(?<![\w./]b)it\.ly|b(?<![\w./]b)uff\.ly|d(?<![\w./]d)lvr\.it"
    r"|o(?<![\w./]o)w\.ly)/\S+"
)
_BARE_LINK_HINTS = ("t.co/", "bit.ly/", "buff.ly/", "dlvr.it/", "ow.ly/")
_PIC_RE = re.compile(r"pic\.twitter\.com/\S+")
_MENTION_RE = re.compile(r"@(?<![\w/]@)[\w.\-]+(?:@[\w.\-]+)?")
# Mastodon's own HTML (p, br, a, span, and inline or block tags that html_to_text drops without
# a trace: code, strong, lists...): converted for the whole batch with a few regexes; any other
# markup (or a "<" that is no tag) goes through connectors.text.html_to_text post by post.
_OTHER_TAG_RE = re.compile(
    r"<(?!/?(?:p|br|a|span|code|pre|strong|em|b|i|u|s|del|ins|sub|sup|small|mark|blockquote"
    r"|ul|ol|li|h[1-6]|q|cite|abbr|kbd)[\s>/])"
)
_INVISIBLE_RE = re.compile(r'<span class="invisible">[^<]*</span>')
# markup inside an invisible span (an empty one, common in Mastodon links, is fine)
_NESTED_INVISIBLE_RE = re.compile(r'class="invisible"><(?!/span>)')
_BR_RE = re.compile(r"<br\s*/?>")
_FIRST_P_RE = re.compile(r"\x1e\s*<p(?:\s[^>]*)?>")
_P_RE = re.compile(r"<p(?:\s[^>]*)?>")
_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_NL_RE = re.compile(r"[ \t]+\n")
_MANY_NL_RE = re.compile(r"\n{3,}")
_RT_RE = re.compile(r"^\s*RT\s+@([\w.\-]+(?:@[\w.\-]+)?)\s*:?", re.IGNORECASE)
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

    mtexts: list[str]  # the text as the model sees it (model_texts)
    app_keys: list[str]  # the posting app's key ("" for none)
    struct: np.ndarray  # (n, N_STRUCT) float
    client: list[str | None]
    app_kind: list[str]  # "automation", "read_later", "suite", "" (ordinary or unknown)
    repost_of: list[str | None]  # handle reposted (rule 1), "" for a repost of unknown author
    own_domain: list[str | None]
    own_domain_inferred: list[bool]
    link_count: np.ndarray  # times the post's most repeated link occurs in the history
    wording_count: np.ndarray
    opening: Sequence[str]
    opening_count: np.ndarray
    minute_count: np.ndarray  # posts from the same app at the same minute past the hour
    reply_to: list[str | None]
    reply_to_self: np.ndarray
    n_questions: np.ndarray
    own_words: np.ndarray
    n_links: np.ndarray
    inferred_domains: dict[Hashable, dict[str, int]] = field(default_factory=dict)
    text_scores: np.ndarray | None = None  # (n, classes) from build_frame's text_scorer

    def __len__(self) -> int:
        return len(self.mtexts)

    @property
    def X(self) -> np.ndarray:
        """The pipeline's input: an (n, 2 + N_STRUCT) object array of text, app key and the
        structural features."""
        X = np.empty((len(self), 2 + N_STRUCT), dtype=object)
        X[:, 0] = self.mtexts
        X[:, 1] = self.app_keys
        X[:, 2:] = self.struct
        return X


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


def clean_texts(raw: Sequence[str | None]) -> list[str]:
    """``clean_text`` for a batch. Mastodon's usual markup (paragraphs, line breaks, links,
    mention and invisible spans) is converted for all posts at once with the same result as
    ``html_to_text``; posts with any other markup use ``html_to_text`` itself."""
    out = [t or "" for t in raw]
    simple: list[int] = []
    for i, t in enumerate(out):
        if "<" in t:
            if _OTHER_TAG_RE.search(t) or _SEP in t or _NESTED_INVISIBLE_RE.search(t):
                out[i] = html_to_text(t)
            else:
                simple.append(i)
        elif "&" in t:
            out[i] = html.unescape(t).strip()
        else:
            out[i] = t.strip()
    if simple:
        # a separator in front too, so a text's first paragraph is always found after one
        joined = _SEP + _SEP.join(out[i] for i in simple)
        joined = _INVISIBLE_RE.sub("", joined)
        joined = _BR_RE.sub("\n", joined)
        joined = _FIRST_P_RE.sub(_SEP, joined)
        joined = _P_RE.sub("\n\n", joined)
        joined = html.unescape(_TAG_RE.sub("", joined))
        if " \n" in joined or "\t\n" in joined:
            joined = _SPACE_NL_RE.sub("\n", joined)
        if "\n\n\n" in joined:
            joined = _MANY_NL_RE.sub("\n\n", joined)
        for i, t in zip(simple, joined[1:].split(_SEP), strict=True):
            out[i] = t.strip()
    return out


def model_texts(texts: Sequence[str]) -> list[str]:
    """Texts as the model sees them: lower-cased, links, media links and @handles replaced by
    placeholder tokens. Done on the whole batch joined into one string (one pass per regex)."""
    if not texts:
        return []
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - 1:  # a text contained the separator itself
        joined = _SEP.join(t.replace(_SEP, " ") for t in texts)
    joined = joined.lower()
    if "pic.twitter.com/" in joined:
        joined = _PIC_RE.sub(PIC_TOKEN, joined)
    joined = _URL_RE.sub(URL_TOKEN, joined)
    if any(h in joined for h in _BARE_LINK_HINTS):
        # only the few texts that hold a bare short link go through that (slower) pattern
        parts = joined.split(_SEP)
        for i, t in enumerate(parts):
            if any(h in t for h in _BARE_LINK_HINTS):
                parts[i] = _BARE_LINK_RE.sub(URL_TOKEN, t)
        joined = _SEP.join(parts)
    joined = _MENTION_RE.sub(MENTION_TOKEN, joined)
    return joined.split(_SEP)


# ---------------------------------------------------------------------------------------------
# Vectorised tokenising and hashing
# ---------------------------------------------------------------------------------------------

_U64 = np.uint64
_TOKEN_BASE = 1_000_003
_GOLDEN = 0x9E3779B97F4A7C15
_TABLES: tuple[np.ndarray, np.ndarray] | None = None

# Per code point flags (the second table): counted per post without a Python loop.
FLAG_QUESTION = 1  # ? and its full-width and Spanish forms
FLAG_EXCLAIM = 2
FLAG_HASH = 4
FLAG_CJK = 8  # kana, CJK ideographs, Hangul: a word is about two of them


def _char_classes() -> np.ndarray:
    """Per code point below 0x30000: 0 separator, 1 word character (joins into words),
    2 a character that is a token on its own (CJK, kana, Hangul, emoji, punctuation)."""
    cls = np.zeros(0x30000, dtype=np.uint8)

    def scan(lo: int, hi: int) -> None:
        for cp in range(lo, hi):
            ch = chr(cp)
            if cp < 0x20 or ch.isspace() or ch in "'’-":
                continue
            cls[cp] = 1 if (ch.isalnum() or ch == "_") else 2

    scan(0, 0x2E80)
    cls[0x2E80:0xA000] = 2  # CJK radicals, kana, ideographs
    scan(0xA000, 0xAC00)
    cls[0xAC00:0xD7B0] = 2  # Hangul syllables
    scan(0xD7B0, 0xF900)
    cls[0xF900:0xFB00] = 2  # CJK compatibility ideographs
    scan(0xFB00, 0x10000)
    cls[0xFF65:0xFFA0] = 2  # half-width kana
    cls[0x10000:0x1F000] = 1  # historic scripts, mathematical letters
    cls[0x1F000:0x20000] = 2  # emoji and pictographs
    cls[0x20000:] = 2  # more ideographs
    return cls


def _char_flags() -> np.ndarray:
    flags = np.zeros(0x30000, dtype=np.uint8)
    flags[list(_Q_CHARS)] |= FLAG_QUESTION
    flags[list(_EXCL_CHARS)] |= FLAG_EXCLAIM
    flags[ord("#")] |= FLAG_HASH
    flags[0x3040:0xA000] |= FLAG_CJK
    flags[0xAC00:0xD7B0] |= FLAG_CJK
    return flags


def _tables() -> tuple[np.ndarray, np.ndarray]:
    global _TABLES
    if _TABLES is None:
        _TABLES = (_char_classes(), _char_flags())
    return _TABLES


@dataclass
class TokenBatch:
    """A batch of texts as one code-point array with its tokens (spans and hashes).

    Document ``d`` occupies code points ``doc_start[d] .. doc_start[d] + doc_len[d]``, followed
    by a 0 that ends it; its tokens are ``tok_bounds[d] .. tok_bounds[d + 1]``."""

    n_docs: int
    cps: np.ndarray  # uint64 code points; 0 ends every document
    cls: np.ndarray  # uint8 class of each code point
    flags: np.ndarray  # uint8 FLAG_* bits of each code point
    doc_start: np.ndarray  # int64 first code point of each document
    doc_len: np.ndarray  # int64 code points of each document (without its ending 0)
    starts: np.ndarray  # int64 token starts
    ends: np.ndarray  # int64 token ends (exclusive)
    tok_doc: np.ndarray  # int64 document of each token
    tok_bounds: np.ndarray  # int64 (n_docs + 1) first token of each document
    tok_hash: np.ndarray  # uint64 polynomial hash of each token's code points

    def per_doc(self, values: np.ndarray) -> np.ndarray:
        """Sum of a per-code-point value over each document."""
        cs = np.zeros(values.shape[0] + 1, dtype=np.int64)
        np.cumsum(values, out=cs[1:])
        ends = self.doc_start + self.doc_len
        return (cs[ends] - cs[self.doc_start]).astype(np.float64)

    def per_doc_tokens(self, values: np.ndarray) -> np.ndarray:
        """Sum of a per-token value over each document."""
        cs = np.zeros(
            values.shape[0] + 1, dtype=values.dtype if values.dtype.kind == "f" else np.int64
        )
        np.cumsum(values, out=cs[1:])
        b = self.tok_bounds
        return (cs[b[1:]] - cs[b[:-1]]).astype(np.float64)


_POWERS: dict[str, np.ndarray] = {}


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """base^i and base^-i (mod 2^64) for i < n, grown on demand and kept."""
    have = _POWERS.get("pw")
    if have is None or have.shape[0] < n:
        size = max(n, 1 << 16, 2 * (have.shape[0] if have is not None else 0))
        with np.errstate(over="ignore"):
            pw = np.full(size, _TOKEN_BASE, dtype=np.uint64)
            pw[0] = 1
            np.cumprod(pw, out=pw)
            inv = np.full(size, pow(_TOKEN_BASE, -1, 1 << 64), dtype=np.uint64)
            inv[0] = 1
            np.cumprod(inv, out=inv)
        _POWERS["pw"], _POWERS["inv"] = pw, inv
    return _POWERS["pw"][:n], _POWERS["inv"][:n]


# Texts are tokenised and hashed this many at a time: the arrays of one chunk stay in the CPU's
# cache, and memory stays flat however long the history is.
CHUNK = 2048
TEXT_SLICE = 8192  # texts cleaned and joined for the regexes this many at a time


def tokenize(texts: Sequence[str]) -> TokenBatch:
    """Tokens of a batch of texts (runs of word characters; CJK, emoji and punctuation one by
    one), with their polynomial hashes."""
    n_docs = len(texts)
    buf = "\x00".join(texts) + "\x00"
    cps32 = np.frombuffer(buf.encode("utf-32-le"), dtype=np.uint32)
    sep = np.flatnonzero(cps32 == 0)
    if sep.shape[0] != n_docs:  # a text contained NUL itself
        buf = "\x00".join(t.replace("\x00", " ") for t in texts) + "\x00"
        cps32 = np.frombuffer(buf.encode("utf-32-le"), dtype=np.uint32)
        sep = np.flatnonzero(cps32 == 0)
    doc_start = np.empty(n_docs, dtype=np.int64)
    if n_docs:
        doc_start[0] = 0
        doc_start[1:] = sep[:-1] + 1
    doc_len = sep - doc_start
    table, ftable = _tables()
    idx = np.minimum(cps32, table.shape[0] - 1)
    cls = table[idx]
    flags = ftable[idx]
    cps = cps32.astype(np.uint64)
    n_cp = cps.shape[0]
    word = cls == 1
    single = cls == 2
    prev_word = np.empty_like(word)
    prev_word[0] = False
    prev_word[1:] = word[:-1]
    next_word = np.empty_like(word)
    next_word[-1] = False
    next_word[:-1] = word[1:]
    starts = np.flatnonzero(single | (word & ~prev_word))
    ends = np.flatnonzero(single | (word & ~next_word)) + 1
    tok_bounds = np.searchsorted(starts, np.append(doc_start, n_cp))
    tok_doc = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(tok_bounds))
    pw, inv = _powers(n_cp)
    with np.errstate(over="ignore"):
        # hash of span [a, b) = (P[b] - P[a]) * base^-a, with P the prefix sums of cp * base^i
        pref = np.zeros(n_cp + 1, dtype=np.uint64)
        np.cumsum(cps * pw, out=pref[1:])
        tok_hash = (pref[ends] - pref[starts]) * inv[starts]
    return TokenBatch(
        n_docs, cps, cls, flags, doc_start, doc_len, starts, ends, tok_doc, tok_bounds, tok_hash
    )


def _token_hash(word: str) -> int:
    h = 0
    for i, ch in enumerate(word):
        h = (h + ord(ch) * pow(_TOKEN_BASE, i, 1 << 64)) % (1 << 64)
    return h


_PLACEHOLDER_HASHES = np.array(
    [_token_hash(w) for w in ("zurlz", "zmentionz", "zpicz", "rt", "via")], dtype=np.uint64
)
_MENTION_HASH = _PLACEHOLDER_HASHES[1]


def _bucket(h: np.ndarray, bits: int) -> np.ndarray:
    """Fibonacci hashing: the top ``bits`` bits of h * golden ratio."""
    with np.errstate(over="ignore"):
        return ((h * _U64(_GOLDEN)) >> _U64(64 - bits)).astype(np.int64)


def _block(rows: np.ndarray, cols: np.ndarray, n_docs: int, width: int) -> sp.csr_matrix:
    """CSR block from (row, col) pairs already in row order; values filled in later."""
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_docs), out=indptr[1:])
    return sp.csr_matrix((np.ones(cols.shape[0]), cols, indptr), shape=(n_docs, width), copy=False)


def _bits(n_features: int) -> int:
    bits = max(1, int(n_features).bit_length() - 1)
    if 1 << bits != n_features:
        raise ValueError(f"n_features must be a power of two, not {n_features}")
    return bits


def _char_keys(batch: TokenBatch, k: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Buckets of the character k-grams at every position (the last k - 1 positions padded),
    and which of them lie inside one document (no document's ending 0 in them)."""
    cols, bad = _char_buckets(batch, k, bits)
    ok = np.ones(cols.shape[0], dtype=bool)
    ok[bad] = False
    return cols, ok


def _char_buckets(batch: TokenBatch, k: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Buckets of the character k-grams at every position, and the positions whose k-gram runs
    into a document's ending 0 (the k positions up to each 0; the padded end is one of them).
    Every step works in place on one array: this runs over every character of every post."""
    cps = batch.cps
    n_cp = cps.shape[0]
    pad = np.zeros(n_cp + k - 1, dtype=np.uint64)
    pad[:n_cp] = cps
    # up to three 21-bit code points packed exactly into one 64-bit key
    h = pad[:n_cp] << _U64(21 * (k - 1))
    for j in range(1, k):
        shift = 21 * (k - 1 - j)
        h |= pad[j : n_cp + j] << _U64(shift) if shift else pad[j : n_cp + j]
    with np.errstate(over="ignore"):
        h += _U64(k)
        h *= _U64(_GOLDEN)
    h >>= _U64(64 - bits)
    sep = batch.doc_start + batch.doc_len  # each document's ending 0
    bad = (sep[:, None] - np.arange(k)[None, :]).ravel()
    return h.view(np.int64), bad[bad >= 0]


def _word_keys(batch: TokenBatch, k: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Buckets of the word k-grams starting at every token, and which lie inside one document."""
    th = batch.tok_hash
    td = batch.tok_doc
    t = th.shape[0]
    if k == 1:
        return _bucket(th ^ _U64(0x5851F42D4C957F2D), bits), np.ones(t, dtype=bool)
    m = max(t - k + 1, 0)
    g = np.zeros(t, dtype=np.uint64)
    ok = np.zeros(t, dtype=bool)
    if m:
        with np.errstate(over="ignore"):
            gm = th[:m].copy()
            for j in range(1, k):
                gm = gm * _U64(_GOLDEN) + th[j : m + j]
        g[:m] = gm
        ok[:m] = td[:m] == td[k - 1 :]
    return _bucket(g + _U64(k), bits), ok


def _kinds(word_ngrams: int, char_ngrams: tuple[int, ...]) -> list[tuple[str, int]]:
    """The n-gram kinds in block order: one block per kind, always, so that the width never
    depends on the batch (a char kind outside 1..3 stays an empty block)."""
    words = [("word", k) for k in range(1, max(word_ngrams, 1) + 1)]
    return [("char", k) for k in char_ngrams] + words


def hash_batch(
    batch: TokenBatch, n_features: int, word_ngrams: int, char_ngrams: tuple[int, ...]
) -> sp.csr_matrix:
    """Hashed n-gram counts; each n-gram kind has its own block of ``n_features`` columns, and
    each row is scaled to unit length (counting repeats as distinct)."""
    n_docs = batch.n_docs
    bits = _bits(n_features)
    cp_doc = np.repeat(np.arange(n_docs, dtype=np.int64), batch.doc_len + 1)
    mats = []
    with np.errstate(over="ignore"):
        for kind, k in _kinds(word_ngrams, char_ngrams):
            if kind == "char":
                if not 1 <= k <= 3:
                    rows = cols = np.zeros(0, dtype=np.int64)
                else:
                    cols, ok = _char_keys(batch, k, bits)
                    rows, cols = cp_doc[ok], cols[ok]
            else:
                cols, ok = _word_keys(batch, k, bits)
                rows, cols = batch.tok_doc[ok], cols[ok]
            mats.append(_block(rows, cols, n_docs, n_features))
    out = sp.hstack(mats, format="csr") if len(mats) > 1 else mats[0]
    per_row = np.diff(out.indptr)
    scale = 1.0 / np.sqrt(np.maximum(per_row, 1))
    out.data = np.repeat(scale, per_row)
    # duplicate (row, column) entries are kept: every product with the matrix sums them
    return out


def hashed_scores(
    batch: TokenBatch,
    n_features: int,
    word_ngrams: int,
    char_ngrams: tuple[int, ...],
    weights: np.ndarray,
) -> np.ndarray:
    """``hash_batch(batch, ...) @ weights`` without building and stacking the scaled matrix: for
    each n-gram kind the weight rows of its buckets are summed per document (a CSR matrix of
    ones laid straight over the positions or tokens, times the weights), then each document's
    sum is scaled like its row. ``weights`` has one row per column of the hashed block (its
    kinds side by side) and one column per class. This is how a linear model scores text fast."""
    n_docs = batch.n_docs
    bits = _bits(n_features)
    n_out = weights.shape[1]
    total = np.zeros((n_docs, n_out), dtype=np.float64)
    count = np.zeros(n_docs, dtype=np.float64)
    zero = np.zeros((1, n_out), dtype=weights.dtype)
    with np.errstate(over="ignore"):
        for b, (kind, k) in enumerate(_kinds(word_ngrams, char_ngrams)):
            if kind == "char" and not 1 <= k <= 3:
                continue
            # the kind's weights plus one zero row: n-grams across documents point to it
            w = np.concatenate([weights[b * n_features : (b + 1) * n_features], zero])
            if kind == "char":
                cols, bad = _char_buckets(batch, k, bits)
                seg = batch.doc_start  # every document owns its positions and its ending 0
                count += np.maximum(batch.doc_len - k + 1, 0)
            else:
                cols, ok = _word_keys(batch, k, bits)
                bad = ~ok
                seg = batch.tok_bounds[:-1]
                count += np.maximum(np.diff(batch.tok_bounds) - k + 1, 0)
            if cols.shape[0] == 0:
                continue
            cols[bad] = n_features
            # one row per document over its positions (char) or tokens (word): a CSR matrix
            # of ones times the weights sums them, much faster than gathering rows
            indptr = np.append(seg, cols.shape[0])
            ones = np.ones(cols.shape[0])
            m = sp.csr_matrix((ones, cols, indptr), shape=(n_docs, n_features + 1), copy=False)
            total += m @ w
    return total / np.sqrt(np.maximum(count, 1.0))[:, None]


def hash_texts(
    texts: Sequence[str], n_features: int, word_ngrams: int, char_ngrams: tuple[int, ...]
) -> sp.csr_matrix:
    if not texts:
        width = n_features * (len(char_ngrams) + max(word_ngrams, 1))
        return sp.csr_matrix((0, width), dtype=np.float64)
    parts = [
        hash_batch(tokenize(texts[i : i + CHUNK]), n_features, word_ngrams, char_ngrams)
        for i in range(0, len(texts), CHUNK)
    ]
    return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")


# The pipeline's transformers (FastTextHasher, StructColumns, AppTokens) subclass scikit-learn's
# base classes, so they live in engage._transformers and are imported from there on first use:
# labelling with the compiled weights (engage.classify.LinearScorer) never imports scikit-learn.
# Saved models name them engage.features.<Name>, which resolves here.
_TRANSFORMERS = frozenset({"FastTextHasher", "StructColumns", "AppTokens"})


def __getattr__(name: str) -> Any:
    if name in _TRANSFORMERS:
        from engage import _transformers

        return getattr(_transformers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# The frame: structure and the account's own context
# ---------------------------------------------------------------------------------------------


def _norm_url(u: str) -> str:
    """A link's identity: no scheme, no www., no fragment, no tracking parameters, no final /."""
    u = u.strip().lower()
    if u.startswith("https://"):
        u = u[8:]
    elif u.startswith("http://"):
        u = u[7:]
    if u.startswith("www."):
        u = u[4:]
    if "#" in u:
        u = u.split("#", 1)[0]
    if "?" in u:
        base, _, query = u.partition("?")
        kept = [q for q in query.split("&") if not q.startswith(("utm_", "ref=", "s="))]
        u = base + ("?" + "&".join(kept) if kept else "")
    return u.rstrip("/")


def _domain_of(norm_url: str) -> str:
    host = norm_url.split("/", 1)[0].split("?", 1)[0]
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    if ":" in host:
        host = host.split(":", 1)[0]
    return host[4:] if host.startswith("www.") else host


def _domain_matches(domain: str, owned: Iterable[str]) -> str | None:
    owned_set = owned if isinstance(owned, (set, frozenset, dict)) else set(owned)
    if not domain:
        return None
    if domain in owned_set:
        return domain
    parts = domain.split(".")
    for i in range(1, len(parts) - 1):
        parent = ".".join(parts[i:])
        if parent in owned_set:
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
    need = max(3, math.ceil(0.2 * link_posts))
    return {d: n for d, n in per_domain.items() if n >= need}


def _count_keys(keys: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """For every key, how many of the ``counted`` rows have the same key."""
    out = np.zeros(keys.shape[0], dtype=np.float64)
    if not counted.any():
        return out
    uniq, counts = np.unique(keys[counted], return_counts=True)
    pos = np.searchsorted(uniq, keys)
    pos = np.minimum(pos, uniq.shape[0] - 1)
    hit = uniq[pos] == keys
    out[hit] = counts[pos[hit]]
    return out


def _combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (a.astype(np.uint64) * _U64(_GOLDEN)) ^ b.astype(np.uint64)


_MINUTE = operator.attrgetter("minute")
_IS_NONE = functools.partial(operator.is_, None)  # x is None, for map()
_SECOND = operator.attrgetter("second")
_KIND_CODE = {"post": 0, "reply": 1, "quote": 2, "repost": 3}
_PLATFORM_CODE = {"x": 0, "mastodon": 1, "bluesky": 2}
_Q_CHARS = (ord("?"), 0xFF1F, 0xBF)
_EXCL_CHARS = (ord("!"), 0xFF01)


@dataclass
class PostFields:
    """The fields of a batch of posts that the features read, as columns: built from ``Post``
    records, or straight from the store's Arrow columns (no ``Post`` object per row)."""

    text: list[str | None]
    kind: list[str]
    platform: list[str]
    account: list[str]
    client: list[str | None]
    reply_to_user: list[str | None]
    urls: list[Sequence[str]]
    n_mentions: np.ndarray  # float
    minute: np.ndarray  # int, of created_at (UTC)
    second: np.ndarray

    def __len__(self) -> int:
        return len(self.text)

    @classmethod
    def from_posts(cls, posts: Sequence[Post]) -> PostFields:
        def column(name: str) -> list[Any]:
            return list(map(operator.attrgetter(name), posts))

        n = len(posts)
        times = column("created_at")
        return cls(
            text=column("text"),
            kind=column("kind"),
            platform=column("platform"),
            account=column("account"),
            client=column("client"),
            reply_to_user=column("reply_to_user"),
            urls=column("urls"),
            n_mentions=np.fromiter(map(len, column("mentions")), dtype=np.float64, count=n),
            minute=np.fromiter(map(_MINUTE, times), dtype=np.int64, count=n),
            second=np.fromiter(map(_SECOND, times), dtype=np.int64, count=n),
        )

    @classmethod
    def from_arrow(cls, table: Any) -> PostFields:
        """From a ``pyarrow.Table`` with the columns text, kind, platform, account, client,
        reply_to_user, urls (list of strings), n_mentions, minute and second."""

        def col(name: str) -> list[Any]:
            return table.column(name).to_pylist()

        def shared(name: str) -> list[Any]:
            # a column of few distinct values: one string object per value, not per row
            encoded = table.column(name).combine_chunks().dictionary_encode()
            values = np.array([*encoded.dictionary.to_pylist(), None], dtype=object)
            codes = encoded.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)
            out: list[Any] = values[codes].tolist()
            return out

        return cls(
            text=col("text"),
            kind=shared("kind"),
            platform=shared("platform"),
            account=shared("account"),
            client=shared("client"),
            reply_to_user=shared("reply_to_user"),
            urls=[u or () for u in col("urls")],
            n_mentions=table.column("n_mentions").to_numpy(zero_copy_only=False).astype(float),
            minute=table.column("minute").to_numpy(zero_copy_only=False).astype(np.int64),
            second=table.column("second").to_numpy(zero_copy_only=False).astype(np.int64),
        )


def build_frame(
    posts: Sequence[Post] | PostFields,
    settings: FeatureSettings,
    groups: Sequence[Hashable] | None = None,
    text_scorer: Callable[[TokenBatch], np.ndarray] | None = None,
) -> FeatureFrame:
    """Features of ``posts``. ``groups`` names the account history each post belongs to (default:
    its platform and account); context features compare a post with the others of its group.
    Everything that can be is computed for the whole batch at once, the text in chunks.
    ``text_scorer``, if given, is called with each chunk's tokens and returns per-post scores
    (a linear model's text part, see ``hashed_scores``), kept in ``FeatureFrame.text_scores``."""
    cols = posts if isinstance(posts, PostFields) else PostFields.from_posts(posts)
    n = len(cols)
    if groups is None:
        groups = list(zip(cols.platform, cols.account, strict=True))
    gmap: dict[Hashable, int] = {}
    gcode = np.array([gmap.setdefault(g, len(gmap)) for g in groups], dtype=np.int64)
    raw_texts, kind_s, plat_s = cols.text, cols.kind, cols.platform
    clients, reply_to, urls_l, accounts = cols.client, cols.reply_to_user, cols.urls, cols.account
    n_mentions_l, minute, second = cols.n_mentions, cols.minute, cols.second
    # in slices: one joined string of a whole history (four bytes a character as soon as one
    # emoji is in it) would be copied by every regex pass
    texts: list[str] = []
    mtexts: list[str] = []
    for lo in range(0, n, TEXT_SLICE):
        cleaned = clean_texts(raw_texts[lo : lo + TEXT_SLICE])
        texts += cleaned
        mtexts += model_texts(cleaned)
    kind_codes = {k: _KIND_CODE.get(k, 0) for k in set(kind_s)}
    kinds = np.fromiter(map(kind_codes.__getitem__, kind_s), dtype=np.int8, count=n)
    plat_codes = {k: _PLATFORM_CODE.get(k, 0) for k in set(plat_s)}
    plat = np.fromiter(map(plat_codes.__getitem__, plat_s), dtype=np.int8, count=n)

    # -- posting app ----------------------------------------------------------------------------
    app_info: dict[str | None, tuple[str, str, int]] = {}
    for c in set(clients):
        key = app_key(c) if c else ""
        if not key:
            kind = ""
        elif key in READ_LATER_APPS:
            kind = "read_later"
        elif key in settings.automation_apps:
            kind = "automation"
        elif key in settings.suite_apps:
            kind = "suite"
        else:
            kind = ""
        app_info[c] = (key, kind, len(app_info) + 1)
    code_of = {c: info[2] for c, info in app_info.items()}
    app_code = np.fromiter(map(code_of.__getitem__, clients), dtype=np.int64, count=n)
    by_code = [("", "")] + [(key, kind) for key, kind, _ in app_info.values()]
    key_table = np.array([k for k, _ in by_code], dtype=object)
    kind_table = np.array([k for _, k in by_code], dtype=object)
    app_keys: list[str] = key_table[app_code].tolist()
    app_kind: list[str] = kind_table[app_code].tolist()
    kind_at = kind_table[app_code]
    no_client = np.zeros(len(by_code), dtype=bool)
    if None in code_of:
        no_client[code_of[None]] = True

    # -- reposts (rule 1) and threads -----------------------------------------------------------
    repost_of: list[str | None] = [None] * n
    for i in np.flatnonzero(kinds == 3).tolist():
        m = _RT_RE.match(texts[i])
        repost_of[i] = m.group(1) if m else ""
    for i in [i for i, t in enumerate(texts) if t.startswith(("RT ", "rt "))]:
        if repost_of[i] is None:
            m = _RT_RE.match(texts[i])
            if m:
                repost_of[i] = m.group(1)
    original = np.fromiter(map(_IS_NONE, repost_of), dtype=bool, count=n)
    reply_self = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(kinds == 1).tolist():
        rtu = reply_to[i]
        acc = accounts[i]
        if rtu and acc:
            # a reply to oneself continues a thread ("ana" and "ana@host" are the same person)
            reply_self[i] = rtu.split("@")[0].lower() == acc.split("@")[0].lower()

    # -- text statistics, vectorised over chunks of the batch ----------------------------------
    ts = _TextStats(n)
    scores: np.ndarray | None = None
    for lo in range(0, n, CHUNK):
        tb = tokenize(mtexts[lo : lo + CHUNK])
        ts.fill(tb, lo)
        if text_scorer is not None:
            part = text_scorer(tb)
            if scores is None:
                scores = np.zeros((n, part.shape[1]), dtype=np.float64)
            scores[lo : lo + tb.n_docs] = part
        del tb
    n_q, n_excl, n_tags, own_words, own_chars = (
        ts.n_q,
        ts.n_excl,
        ts.n_tags,
        ts.own_words,
        ts.own_chars,
    )
    n_links = np.maximum(np.fromiter(map(len, urls_l), np.float64, count=n), ts.n_url_tokens)
    n_mentions = np.maximum(n_mentions_l, ts.n_ment_tokens)
    starts_mention = ts.starts_mention
    ends_q = np.array(
        [
            t.rstrip(" \n\t.!)\"'»」）🙂😊🤔😅🙏").endswith(("?", "？"))
            if "?" in t or "？" in t
            else False
            for t in mtexts
        ],
        dtype=bool,
    )
    wording_hash, opening_hash, wording_len = ts.wording_hash, ts.opening_hash, ts.wording_len
    has_wording = wording_len >= 8

    # -- context counts within each group ------------------------------------------------------
    wording_count = _count_keys(_combine(gcode, wording_hash), original & has_wording)
    wording_count[~has_wording] = 0
    has_opening = ts.opening_span[:, 0] >= 0
    opening_count = _count_keys(_combine(gcode, opening_hash), original & has_opening)
    opening_count[~has_opening] = 0
    minute_key = (gcode * 4096 + app_code) * 64 + minute
    minute_count = _count_keys(minute_key, original)
    app_total = _count_keys(gcode * 4096 + app_code, original)
    scheduled = np.where(
        (minute_count >= 4) & (minute_count >= 0.25 * app_total),
        np.log1p(np.maximum(minute_count - 1, 0)),
        0.0,
    )
    exact_hour = (minute == 0) & (second < 5)

    # links: the same link again, and own domains (configured, or inferred per group)
    link_count = np.zeros(n, dtype=np.float64)
    own_domain: list[str | None] = [None] * n
    own_inferred: list[bool] = [False] * n
    with_links = [i for i in range(n) if urls_l[i]]
    inferred: dict[Hashable, dict[str, int]] = {}
    if with_links:
        link_post: list[int] = []
        link_key: list[int] = []
        post_domains: dict[int, list[str]] = {}
        for i in with_links:
            seen: set[str] = set()
            doms: list[str] = []
            for u in urls_l[i]:
                nu = _norm_url(u)
                if nu in seen:
                    continue
                seen.add(nu)
                link_post.append(i)
                link_key.append(hash((int(gcode[i]), nu)))
                doms.append(_domain_of(nu))
            post_domains[i] = doms
        lp = np.array(link_post, dtype=np.int64)
        lk = np.array(link_key, dtype=np.int64)
        lc = _count_keys(lk, original[lp])
        np.maximum.at(link_count, lp, np.maximum(lc, 1))
        per_group: dict[int, list[int]] = {}
        for i in with_links:
            per_group.setdefault(int(gcode[i]), []).append(i)
        groups_by_code = {v: k for k, v in gmap.items()}
        configured = settings.own_domains
        match_cache: dict[tuple[int, str], tuple[str | None, bool]] = {}
        for code, idx in per_group.items():
            inf = infer_own_domains(
                [post_domains[i] for i in idx], [bool(original[i]) for i in idx]
            )
            inferred[groups_by_code[code]] = inf
            for i in idx:
                for d in post_domains[i]:
                    ck = (code, d)
                    hit = match_cache.get(ck)
                    if hit is None:
                        conf = _domain_matches(d, configured)
                        hit = (conf, False) if conf else (_domain_matches(d, inf), True)
                        match_cache[ck] = hit
                    if hit[0] and (own_domain[i] is None or (own_inferred[i] and not hit[1])):
                        own_domain[i], own_inferred[i] = hit
    own_arr = ~np.fromiter(map(_IS_NONE, own_domain), dtype=bool, count=n)
    inf_arr = np.array(own_inferred, dtype=bool)

    s = np.zeros((n, N_STRUCT), dtype=np.float64)
    s[:, _IX["kind_post"]] = kinds == 0
    s[:, _IX["kind_reply"]] = (kinds == 1) & ~reply_self
    s[:, _IX["kind_quote"]] = kinds == 2
    s[:, _IX["kind_repost"]] = ~original
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
    s[:, _IX["app_automation"]] = kind_at == "automation"
    s[:, _IX["app_suite"]] = kind_at == "suite"
    s[:, _IX["app_unknown"]] = no_client[app_code]
    s[:, _IX["app_read_later"]] = kind_at == "read_later"
    s[:, _IX["own_domain_configured"]] = own_arr & ~inf_arr
    s[:, _IX["own_domain_inferred"]] = own_arr & inf_arr
    s[:, _IX["link_recurs"]] = np.log1p(np.maximum(link_count - 1, 0))
    s[:, _IX["wording_recurs"]] = np.log1p(np.maximum(wording_count - 1, 0))
    s[:, _IX["opening_recurs"]] = np.log1p(np.maximum(opening_count - 1, 0)) / 2.0
    s[:, _IX["scheduled_minute"]] = scheduled / 2.0
    s[:, _IX["exact_hour"]] = exact_hour
    s[:, _IX["platform_x"]] = plat == 0
    s[:, _IX["platform_mastodon"]] = plat == 1
    s[:, _IX["platform_bluesky"]] = plat == 2
    s[:, _IX["starts_with_mention"]] = starts_mention
    s[:, _IX["empty_text"]] = ~np.fromiter(map(bool, texts), dtype=bool, count=n)
    s[:, _IX["media_only"]] = (ts.n_pic > 0) & (own_words == 0)
    return FeatureFrame(
        mtexts=mtexts,
        app_keys=app_keys,
        struct=s,
        client=clients,
        app_kind=app_kind,
        repost_of=repost_of,
        own_domain=own_domain,
        own_domain_inferred=own_inferred,
        link_count=link_count,
        wording_count=wording_count,
        opening=_OpeningWords(mtexts, ts.opening_span),
        opening_count=opening_count,
        minute_count=minute_count,
        reply_to=reply_to,
        reply_to_self=reply_self,
        n_questions=n_q,
        own_words=own_words,
        n_links=n_links,
        inferred_domains=inferred,
        text_scores=scores,
    )


class _TextStats:
    """Per-post statistics of the model texts, filled chunk by chunk from their tokens."""

    def __init__(self, n: int) -> None:
        z = np.zeros
        self.n_q, self.n_excl, self.n_tags = z(n), z(n), z(n)
        self.own_words, self.own_chars = z(n), z(n)
        self.n_url_tokens, self.n_ment_tokens, self.n_pic = z(n), z(n), z(n)
        self.starts_mention = z(n, dtype=bool)
        self.wording_hash = z(n, dtype=np.uint64)
        self.opening_hash = z(n, dtype=np.uint64)
        self.wording_len = z(n)
        # code-point spans of the first two words of the wording, in the post's model text
        self.opening_span = np.full((n, 4), -1, dtype=np.int64)

    def fill(self, tb: TokenBatch, lo: int) -> None:
        n = tb.n_docs
        sl = slice(lo, lo + n)
        flags = tb.flags
        self.n_q[sl] = tb.per_doc(flags & FLAG_QUESTION)
        self.n_excl[sl] = tb.per_doc((flags & FLAG_EXCLAIM) >> 1)
        self.n_tags[sl] = tb.per_doc((flags & FLAG_HASH) >> 2)
        n_cjk = tb.per_doc((flags & FLAG_CJK) >> 3)
        tok_first = tb.cps[tb.starts]
        is_word_tok = tb.cls[tb.starts] == 1
        th = tb.tok_hash
        ph = _PLACEHOLDER_HASHES
        placeholder = np.isin(th, ph) & is_word_tok
        own_tok = is_word_tok & ~placeholder
        tok_len = tb.ends - tb.starts
        self.own_words[sl] = tb.per_doc_tokens(own_tok) + n_cjk / 2.0
        self.own_chars[sl] = tb.per_doc_tokens(tok_len * own_tok)
        self.n_url_tokens[sl] = tb.per_doc_tokens(th == ph[0])
        self.n_ment_tokens[sl] = tb.per_doc_tokens(th == _MENTION_HASH)
        self.n_pic[sl] = tb.per_doc_tokens(th == ph[2])
        first = tb.tok_bounds[:-1]
        has_tok = first < tb.tok_bounds[1:]
        if th.size:
            self.starts_mention[sl] = has_tok & (
                th[np.minimum(first, th.size - 1)] == _MENTION_HASH
            )

        # wording and opening keys: the post's own words (no links, handles, digits)
        cjk_tok = ((tok_first >= 0x3040) & (tok_first <= 0x9FFF)) | (
            (tok_first >= 0xAC00) & (tok_first <= 0xD7AF)
        )
        digit_tok = (tok_first >= ord("0")) & (tok_first <= ord("9"))
        wtok = np.flatnonzero((own_tok & ~digit_tok) | cjk_tok)
        if not wtok.size:
            return
        wdoc = tb.tok_doc[wtok]
        wh = th[wtok]
        with np.errstate(over="ignore"):
            pw = np.full(wtok.size, _GOLDEN, dtype=np.uint64)
            pw[0] = 1
            np.cumprod(pw, out=pw)
            docs, seg = np.unique(wdoc, return_index=True)
            sums = np.add.reduceat(wh * pw, seg)
            invp = np.full(wtok.size, pow(_GOLDEN, -1, 1 << 64), dtype=np.uint64)
            invp[0] = 1
            np.cumprod(invp, out=invp)
            gdocs = docs + lo
            self.wording_hash[gdocs] = sums * invp[seg]
            counts = np.diff(np.append(seg, wtok.size))
            self.wording_len[gdocs] = np.add.reduceat(tok_len[wtok].astype(float), seg)
            two = counts >= 3
            s0, s1 = seg[two], seg[two] + 1
            self.opening_hash[gdocs[two]] = wh[s0] * _U64(_GOLDEN) + wh[s1]
            base = tb.doc_start[docs[two]]
            t0, t1 = wtok[s0], wtok[s1]
            self.opening_span[gdocs[two]] = np.stack(
                [
                    tb.starts[t0] - base,
                    tb.ends[t0] - base,
                    tb.starts[t1] - base,
                    tb.ends[t1] - base,
                ],
                axis=1,
            )


class _OpeningWords(Sequence[str]):
    """The first two words of each post's own wording, read from the text only when a reason
    needs them."""

    def __init__(self, mtexts: list[str], spans: np.ndarray) -> None:
        self._mtexts = mtexts
        self._spans = spans
        self._cols: list[list[int]] | None = None  # the spans as Python ints, on first use

    def __len__(self) -> int:
        return len(self._mtexts)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if self._cols is None:
            self._cols = self._spans.T.tolist()
        starts, ends, starts2, ends2 = self._cols
        a, b, c, d = starts[i], ends[i], starts2[i], ends2[i]
        if a < 0:
            return ""
        text = self._mtexts[i]
        return text[a:b] + " " + text[c:d]
