"""Exact and near-duplicate removal (first occurrence kept).

Near-duplicates use MinHash signatures over word n-gram shingles and an LSH index (`datasketch`), the
method of Broder (1997) used by most open LM corpora. Signatures are cached per (text, ngram, perms) in
the process: a campaign deduplicates the same raw documents many times with different thresholds.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

_SPACE = re.compile(r"\s+")
_SIG_CACHE: dict[tuple[int, int], dict[str, LeanMinHash]] = {}
_SIG_LIMIT = 200_000


def _key(text: str) -> bytes:
    return hashlib.blake2b(_SPACE.sub(" ", text).strip().encode("utf-8"), digest_size=16).digest()


def exact_docs(texts: tuple[str, ...] | list[str]) -> np.ndarray:
    """Indices of the first copy of every document (whitespace-normalised comparison)."""
    seen: set[bytes] = set()
    keep = []
    for i, text in enumerate(texts):
        k = _key(text)
        if k not in seen:
            seen.add(k)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def exact_paragraphs(texts: tuple[str, ...] | list[str], min_chars: int = 20) -> list[str]:
    """Every document with paragraphs seen earlier in the corpus removed ('' if nothing is left).
    Paragraphs shorter than `min_chars` (blank-ish separators, short headings) are never removed."""
    seen: set[bytes] = set()
    out = []
    for text in texts:
        kept = []
        for para in text.split("\n\n"):
            if len(para.strip()) < min_chars:
                kept.append(para)
                continue
            k = _key(para)
            if k not in seen:
                seen.add(k)
                kept.append(para)
        out.append("\n\n".join(kept).strip() if any(len(p.strip()) >= min_chars for p in kept) else "")
    return out


def shingles(text: str, ngram: int) -> list[bytes]:
    words = text.split()
    if len(words) < ngram:
        return [" ".join(words).encode("utf-8")]
    return [" ".join(words[i:i + ngram]).encode("utf-8") for i in range(len(words) - ngram + 1)]


def signature(text: str, ngram: int, perms: int) -> LeanMinHash:
    cache = _SIG_CACHE.setdefault((ngram, perms), {})
    sig = cache.get(text)
    if sig is None:
        m = MinHash(num_perm=perms, seed=1)
        m.update_batch(shingles(text, ngram))
        sig = LeanMinHash(m)
        if len(cache) < _SIG_LIMIT:
            cache[text] = sig
    return sig


def near_docs(texts: tuple[str, ...] | list[str], threshold: float, ngram: int, perms: int) -> np.ndarray:
    """Indices of documents kept after MinHash-LSH near-dedup at Jaccard `threshold`."""
    try:
        lsh = MinHashLSH(threshold=threshold, num_perm=perms)
    except ValueError:  # thresholds near 1 leave datasketch's optimiser < 2 bands: use 2 strict bands
        lsh = MinHashLSH(num_perm=perms, params=(2, perms // 2))
    kept: dict[int, LeanMinHash] = {}
    for i, text in enumerate(texts):
        sig = signature(text, ngram, perms)
        # LSH banding proposes candidates; the signature estimate of Jaccard confirms them.
        if not any(sig.jaccard(kept[j]) >= threshold for j in lsh.query(sig)):
            lsh.insert(i, sig, check_duplication=False)
            kept[i] = sig
    keep = list(kept)
    return np.asarray(keep, dtype=np.int64)
