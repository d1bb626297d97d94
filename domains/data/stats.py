"""Per-document quality statistics: the quantities heuristic filters threshold.

The set follows the rules of C4 (Raffel et al. 2020) and Gopher/MassiveText (Rae et al. 2021): length,
mean word length, symbol-to-word ratio, share of words without letters, duplicate lines, repeated
n-grams, stop words, lines ending in punctuation, boilerplate phrases, curly brackets... Each statistic
has a documented range; filter thresholds live inside it.

Byte-class counts (letters, digits, upper case, non-ASCII, brackets) come from one `bincount` per
document; the word and line statistics are plain Python over `split`. Results are cached per text in the
process, since a campaign filters the same raw documents again and again.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

STOP_WORDS = frozenset(
    "the be to of and a in that have i it for not on with he as you do at this but his by from they we "
    "say her she or an will my one all would there their what so up out if about who get which go me "
    "is are was were been has had can may must should could".split())
BOILERPLATE = ("javascript", "privacy policy", "terms of use", "terms of service", "cookie policy",
               "uses cookies", "use of cookies", "lorem ipsum", "all rights reserved", "click here",
               "subscribe", "sign up")
_TERMINAL = (".", "!", "?", '"', "'", ":", ")")
_BULLETS = ("•", "- ", "* ", "‣", "–")
_ALPHA = np.zeros(256, bool)
_ALPHA[list(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")] = True
_UPPER = np.zeros(256, bool)
_UPPER[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")] = True
_DIGIT = np.zeros(256, bool)
_DIGIT[list(b"0123456789")] = True
_NON_ASCII = np.arange(256) >= 128
_LETTER_RE = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Stat:
    """One filterable statistic: its valid threshold range and whether it varies on a log scale."""

    name: str
    lo: float  # valid thresholds lie in [lo, hi]
    hi: float
    log: bool
    doc: str
    typical: tuple[float, float] = (0.0, 1.0)  # where sampled and mutated thresholds usually fall


STATS: tuple[Stat, ...] = (
    Stat("chars", 1.0, 1e6, True, "length in characters", (100.0, 20000.0)),
    Stat("words", 1.0, 1e5, True, "number of whitespace-separated words", (10.0, 3000.0)),
    Stat("mean_word_len", 1.0, 20.0, False, "mean word length in characters", (2.0, 12.0)),
    Stat("symbol_ratio", 0.0, 1.0, False, "('#', '...', '…') per word", (0.0, 0.5)),
    Stat("non_alpha_words", 0.0, 1.0, False, "share of words with no letter", (0.0, 0.6)),
    Stat("alpha_ratio", 0.0, 1.0, False, "share of bytes that are ASCII letters", (0.2, 0.9)),
    Stat("upper_ratio", 0.0, 1.0, False, "share of ASCII letters in upper case", (0.0, 0.5)),
    Stat("digit_ratio", 0.0, 1.0, False, "share of bytes that are digits", (0.0, 0.3)),
    Stat("non_ascii", 0.0, 1.0, False, "share of bytes outside ASCII (mojibake, noise)", (0.0, 0.2)),
    Stat("curly", 0.0, 100.0, False, "'{' per 1000 bytes (C4 drops pages with any)", (0.0, 20.0)),
    Stat("dup_lines", 0.0, 1.0, False, "share of non-empty lines repeating an earlier line", (0.0, 0.6)),
    Stat("top_2gram", 0.0, 1.0, False, "share of word characters in the most frequent word 2-gram", (0.0, 0.4)),
    Stat("dup_5gram", 0.0, 1.0, False, "share of words covered by word 5-grams occurring twice or more", (0.0, 0.6)),
    Stat("stop_words", 0.0, 1.0, False, "share of words that are English stop words", (0.0, 0.5)),
    Stat("punct_lines", 0.0, 1.0, False, "share of non-empty lines ending in terminal punctuation", (0.0, 1.0)),
    Stat("bullet_lines", 0.0, 1.0, False, "share of non-empty lines starting with a bullet", (0.0, 1.0)),
    Stat("ellipsis_lines", 0.0, 1.0, False, "share of non-empty lines ending with an ellipsis", (0.0, 0.5)),
    Stat("boiler_lines", 0.0, 1.0, False, "share of lines with a boilerplate phrase (cookies, 'click here')", (0.0, 0.5)),
)
STAT_NAMES: tuple[str, ...] = tuple(s.name for s in STATS)
BY_NAME: dict[str, Stat] = {s.name: s for s in STATS}


def _ngram_stats(words: list[str]) -> tuple[float, float]:
    """(top 2-gram character share, duplicated 5-gram word coverage) as in Gopher."""
    n = len(words)
    total_chars = sum(map(len, words)) or 1
    top2 = 0.0
    if n >= 2:
        (pair, count), = Counter(zip(words, words[1:])).most_common(1)
        top2 = min(1.0, count * (len(pair[0]) + len(pair[1])) / total_chars) if count > 1 else 0.0
    dup5 = 0.0
    if n >= 10:
        ids = np.array([hash(w) for w in words], dtype=np.int64)
        grams = ids[:-4] * 1_000_003 + ids[1:-3] * 10_007 + ids[2:-2] * 101 + ids[3:-1] * 7 + ids[4:]
        _, inverse, counts = np.unique(grams, return_inverse=True, return_counts=True)
        repeated = counts[inverse] > 1
        covered = np.zeros(n, bool)
        for k in range(5):
            covered[k:n - 4 + k] |= repeated
        dup5 = float(covered.mean())
    return top2, dup5


def _doc_stats(text: str) -> np.ndarray:
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    nbytes = max(1, raw.size)
    counts = np.bincount(raw, minlength=256)
    alpha = counts[_ALPHA].sum()
    words = text.split()
    n_words = len(words)
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    n_lines = max(1, len(lines))
    lowered = text.lower()
    top2, dup5 = _ngram_stats(words)
    return np.array([
        len(text),
        n_words,
        sum(map(len, words)) / n_words if n_words else 0.0,
        (text.count("#") + text.count("...") + text.count("…")) / max(1, n_words),
        sum(1 for w in words if not _LETTER_RE.search(w)) / n_words if n_words else 1.0,
        alpha / nbytes,
        counts[_UPPER].sum() / max(1, alpha),
        counts[_DIGIT].sum() / nbytes,
        counts[_NON_ASCII].sum() / nbytes,
        1000.0 * counts[ord("{")] / nbytes,
        (len(lines) - len(set(lines))) / n_lines,
        top2,
        dup5,
        sum(1 for w in words if w.lower().strip(".,;:!?\"'()") in STOP_WORDS) / n_words if n_words else 0.0,
        sum(1 for ln in lines if ln.endswith(_TERMINAL)) / n_lines,
        sum(1 for ln in lines if ln.startswith(_BULLETS)) / n_lines,
        sum(1 for ln in lines if ln.endswith(("...", "…"))) / n_lines,
        sum(1 for ln in lowered.splitlines() if any(p in ln for p in BOILERPLATE)) / n_lines,
    ], dtype=np.float64)


_CACHE: dict[str, np.ndarray] = {}
_CACHE_LIMIT = 500_000


def document_stats(texts: tuple[str, ...] | list[str], compute: Callable[[str], np.ndarray] = _doc_stats
                   ) -> np.ndarray:
    """(N, len(STATS)) statistics of the documents, cached per text for the life of the process."""
    out = np.empty((len(texts), len(STATS)), dtype=np.float64)
    for i, text in enumerate(texts):
        row = _CACHE.get(text)
        if row is None:
            row = compute(text)
            if len(_CACHE) < _CACHE_LIMIT:
                _CACHE[text] = row
        out[i] = row
    return out
