"""From curated documents to exactly `budget` training tokens.

Each source gets a share of the budget proportional to (mixture weight x kept bytes); a source that kept
less than its share is repeated (epochs > 1), as a real run that filtered too hard must either repeat data
or stop early. With `order="shuffle"` documents are drawn in a seeded random order; with
`order="quality"` the best-scored documents come first, so whatever a source cannot fit is its worst.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from domains.data.pipeline import Docs
from proxies.corpus import encode


def source_shares(docs: Docs, sources: tuple[str, ...], weights: Mapping[str, float]) -> np.ndarray:
    """Share of the token budget per source (sums to 1); raises ValueError if nothing can be drawn."""
    nbytes = docs.nbytes()
    kept = np.array([nbytes[docs.source == i].sum() for i in range(len(sources))], dtype=np.float64)
    mass = kept * np.array([weights.get(s, 1.0) for s in sources])
    if mass.sum() <= 0:
        raise ValueError("the pipeline kept no text from any source with a positive mixture weight")
    return mass / mass.sum()


def _draw(order: np.ndarray, nbytes: np.ndarray, target: int) -> list[int]:
    """Document indices cycling through `order` until `target` bytes are covered."""
    picked, total = [], 0
    while total < target and len(order):
        for i in order:
            picked.append(int(i))
            total += int(nbytes[i]) + 1  # +1: the EOT separator
            if total >= target:
                break
    return picked


def training_tokens(docs: Docs, sources: tuple[str, ...], weights: Mapping[str, float], budget: int,
                    order: str, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """(`budget` int32 tokens, details: share and epochs per source)."""
    shares = source_shares(docs, sources, weights)
    nbytes = docs.nbytes()
    score = docs.score if docs.score is not None else np.zeros(len(docs))
    score = np.where(np.isnan(score), -np.inf, score)
    picked: list[int] = []
    details: dict[str, float] = {}
    for i, name in enumerate(sources):
        members = np.flatnonzero(docs.source == i)
        target = int(np.ceil(shares[i] * budget))
        if order == "quality":
            members = members[np.argsort(-score[members], kind="stable")]
        else:
            members = rng.permutation(members)
        draw = _draw(members, nbytes, target)
        picked += draw
        kept_bytes = float(nbytes[members].sum() + len(members))
        details[f"share/{name}"] = float(shares[i])
        details[f"epochs/{name}"] = float(target / kept_bytes) if kept_bytes else 0.0
    picked_arr = np.asarray(picked, dtype=np.int64)
    if order == "quality":
        picked_arr = picked_arr[np.argsort(-score[picked_arr], kind="stable")]
    else:
        picked_arr = rng.permutation(picked_arr)
    tokens = encode(docs.texts[i] for i in picked_arr)
    if tokens.size < budget:  # rounding: top up by cycling the stream
        tokens = np.resize(tokens, budget)
    return tokens[:budget].astype(np.int32), details
