"""The scikit-learn transformers of the classifier's pipeline (see ``engage.classify``).

They are reached as ``engage.features.FastTextHasher`` and so on (the names saved models use):
``engage.features`` imports this module, and with it scikit-learn, only when one is asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from engage.features import hash_texts


class FastTextHasher(TransformerMixin, BaseEstimator):
    """Hashed word 1-2-grams and character n-grams of a batch of texts, as a sparse matrix.

    Language-independent: runs of letters and digits form words; CJK characters, kana, Hangul,
    emoji and punctuation are tokens on their own (so Japanese gets character uni- and bigrams);
    the character n-grams run over the whole text including spaces. Each row is scaled to unit
    length. Stateless, so ``fit`` learns nothing. ``n_features`` must be a power of two.
    """

    def __init__(
        self,
        n_features: int = 2**14,
        word_ngrams: int = 2,
        char_ngrams: tuple[int, ...] = (3,),
    ) -> None:
        self.n_features = n_features
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams

    def fit(self, X: Any, y: Any = None) -> FastTextHasher:
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        texts = [t if isinstance(t, str) else str(t) for t in np.asarray(X, dtype=object).ravel()]
        return hash_texts(texts, self.n_features, self.word_ngrams, tuple(self.char_ngrams))


class StructColumns(TransformerMixin, BaseEstimator):
    """The numeric structural and context columns as a sparse float matrix, each multiplied by
    a fixed weight (the text block has unit length, so these keep a comparable scale)."""

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
        texts = [t if isinstance(t, str) else "" for t in np.asarray(X, dtype=object).ravel()]
        return hash_texts(texts, self.n_features, 1, ())


for _cls in (FastTextHasher, StructColumns, AppTokens):
    _cls.__module__ = "engage.features"  # how skops names (and finds) them in a model file
