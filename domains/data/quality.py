"""Learned quality scorers, fitted on clean reference text.

- `words` / `chars`: a classifier as in GPT-3's filtering (Brown et al. 2020): hashed word or character
  n-gram features (scikit-learn `HashingVectorizer`, stateless) and a logistic-loss linear model
  (`SGDClassifier`) separating the reference set (positives) from a sample of the incoming documents
  (negatives, mostly unfiltered); the score is its decision value.
- `ngram`: perplexity under a word-bigram language model of the reference (interpolated with add-one
  unigrams), as CCNet (Wenzek et al. 2020) scores with KenLM; the score is the mean log-probability per
  word. Bag-of-n-gram classifiers cannot see word order, so word salad fools them; a bigram model does not.

The curation step keeps the top fraction. Feature rows and bigram models are cached for the process.
"""
from __future__ import annotations

from collections.abc import Sequence

import re
import warnings
from collections import Counter

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier

_VECTORIZERS = {
    "words": HashingVectorizer(n_features=2**18, analyzer="word", ngram_range=(1, 2), alternate_sign=False,
                               token_pattern=r"(?u)\b\w+\b|[^\w\s]", dtype=np.float32),
    "chars": HashingVectorizer(n_features=2**18, analyzer="char_wb", ngram_range=(2, 4), alternate_sign=False,
                               dtype=np.float32),
}
_ROWS: dict[str, dict[str, sp.csr_matrix]] = {k: {} for k in _VECTORIZERS}
_ROW_LIMIT = 200_000


def featurise(texts: Sequence[str], features: str) -> sp.csr_matrix:
    """Hashed n-gram rows of `texts` (L2-normalised), cached per text."""
    cache = _ROWS[features]
    missing = list(dict.fromkeys(t for t in texts if t not in cache))
    if missing:
        rows = _VECTORIZERS[features].transform(missing)
        for i, text in enumerate(missing):
            if len(cache) < _ROW_LIMIT:
                cache[text] = rows[i]
        if len(cache) >= _ROW_LIMIT:  # too many to cache: build this matrix directly
            fresh = dict(zip(missing, (rows[i] for i in range(len(missing)))))
            return sp.vstack([cache.get(t, fresh.get(t)) for t in texts], format="csr")
    if not texts:
        return sp.csr_matrix((0, _VECTORIZERS[features].n_features), dtype=np.float32)
    return sp.vstack([cache[t] for t in texts], format="csr")


_TOKEN = re.compile(r"\w+|[^\w\s]")
_BIGRAM_MODELS: dict[int, "BigramLM"] = {}


class BigramLM:
    """Word-bigram model P(w|v) = lam c(v,w)/c(v) + (1-lam) (c(w)+1)/(N+V+1), fitted once on a reference."""

    def __init__(self, reference: Sequence[str], lam: float = 0.6) -> None:
        self.unigrams: Counter[str] = Counter()
        self.bigrams: Counter[tuple[str, str]] = Counter()
        for text in reference:
            words = _TOKEN.findall(text.lower())
            self.unigrams.update(words)
            self.bigrams.update(zip(words, words[1:]))
        self.total = sum(self.unigrams.values())
        self.vocab = len(self.unigrams) + 1
        self.lam = lam
        self._scores: dict[str, float] = {}

    def score(self, text: str) -> float:
        """Mean log-probability per word (higher = more like the reference)."""
        if (cached := self._scores.get(text)) is not None:
            return cached
        words = _TOKEN.findall(text.lower())
        if len(words) < 2:
            return -50.0
        uni, bi, lam = self.unigrams, self.bigrams, self.lam
        denominator = self.total + self.vocab
        logp = 0.0
        for prev, word in zip(words, words[1:]):
            p_uni = (uni.get(word, 0) + 1) / denominator
            c_prev = uni.get(prev, 0)
            p_bi = bi.get((prev, word), 0) / c_prev if c_prev else 0.0
            logp += np.log(lam * p_bi + (1 - lam) * p_uni)
        value = float(logp / (len(words) - 1))
        if len(self._scores) < _ROW_LIMIT:
            self._scores[text] = value
        return value


def bigram_scores(texts: Sequence[str], reference: Sequence[str]) -> np.ndarray:
    key = hash(tuple(reference))
    if key not in _BIGRAM_MODELS:
        _BIGRAM_MODELS.clear()
        _BIGRAM_MODELS[key] = BigramLM(reference)
    model = _BIGRAM_MODELS[key]
    return np.fromiter((model.score(t) for t in texts), np.float64, len(texts))


def quality_scores(texts: Sequence[str], reference: Sequence[str], features: str, seed: int,
                   max_negatives: int = 4000) -> np.ndarray:
    """Quality score of every text under the scorer `features` (higher = more reference-like)."""
    if not texts:
        return np.zeros(0)
    if not reference:
        raise ValueError("the quality scorer needs a non-empty reference set")
    if features == "ngram":
        return bigram_scores(texts, reference)
    rng = np.random.default_rng(seed)
    negatives = rng.choice(len(texts), size=min(len(texts), max_negatives), replace=False)
    X_pos = featurise(list(reference), features)
    X_all = featurise(list(texts), features)
    X = sp.vstack([X_pos, X_all[negatives]], format="csr")
    y = np.r_[np.ones(X_pos.shape[0]), np.zeros(len(negatives))]
    model = SGDClassifier(loss="log_loss", alpha=1e-4, max_iter=30, tol=1e-4, class_weight="balanced",
                          random_state=int(rng.integers(2**31 - 1)))
    with warnings.catch_warnings():  # a few epochs rank documents well enough; convergence is not the point
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model.decision_function(X_all)


def top_fraction(scores: np.ndarray, keep: float, groups: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of the `keep` best scores (within each group when `groups` is given); at least one
    document of each non-empty group survives a positive keep."""
    if groups is None:
        groups = np.zeros(len(scores), dtype=np.int64)
    kept = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        n = max(1, int(round(keep * len(members))))
        kept.append(members[np.argsort(-scores[members], kind="stable")[:n]])
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
