"""What the engine and the LLM see of a curation genome: descriptors, named features, the grammar."""
from __future__ import annotations

import math

import numpy as np

from domains.data.genome import (FEATURES, KEEP_RANGE, MAX_STEPS, MAX_WEIGHT, NEAR_RANGE, NGRAMS, ORDERS, PERMS,
                                 UNITS, DataGenome, Dedup, Filter, NearDedup, Quality)
from domains.data.operators import to_unit
from domains.data.stats import BY_NAME, STATS

_LOG_FLOOR = math.log(0.01)


def _first(g: DataGenome, cls: type) -> int:
    return next((i for i, s in enumerate(g.steps) if isinstance(s, cls)), -1)


def descriptor(g: DataGenome, sources: tuple[str, ...]) -> np.ndarray:
    """Fixed length 2*len(STATS) + 8 + len(sources): how hard each statistic is bounded (min side: the
    normalised threshold, max side: 1 - it; strongest bound if repeated), dedup kinds and strength,
    quality strength, pipeline length, scoping, order, log mixture weights."""
    bounds = np.zeros((len(STATS), 2))
    for step in g.steps:
        if isinstance(step, Filter):
            j = [s.name for s in STATS].index(step.stat)
            stat = BY_NAME[step.stat]
            if step.min is not None:
                bounds[j, 0] = max(bounds[j, 0], float(np.clip(to_unit(stat, step.min), 0, 1.5)))
            if step.max is not None:
                bounds[j, 1] = max(bounds[j, 1], float(np.clip(1 - to_unit(stat, step.max), 0, 1.5)))
    near = [1 - s.threshold for s in g.steps if isinstance(s, NearDedup)]
    keep = np.prod([s.keep for s in g.steps if isinstance(s, Quality)]) if _first(g, Quality) >= 0 else 1.0
    scoped = [s for s in g.steps if isinstance(s, (Filter, Quality)) and s.on]
    structure = [
        float(any(isinstance(s, Dedup) and s.unit == "doc" for s in g.steps)),
        float(any(isinstance(s, Dedup) and s.unit == "para" for s in g.steps)),
        max(near, default=0.0),
        1.0 - float(keep),
        float(any(isinstance(s, Quality) and s.features == "chars" for s in g.steps)),
        len(g.steps) / MAX_STEPS,
        len(scoped) / max(1, len(g.steps)),
        float(g.order == "quality"),
    ]
    weights = [math.log(w) if w > 0 else _LOG_FLOOR for w in (g.weight(s) for s in sources)]
    return np.concatenate([bounds.ravel(), structure, weights]).astype(np.float64)


def features(g: DataGenome, sources: tuple[str, ...]) -> dict[str, float]:
    """Named genome features that hypotheses are predicates over."""
    filters = [s for s in g.steps if isinstance(s, Filter)]
    quality_steps = [s for s in g.steps if isinstance(s, Quality)]
    near = [s for s in g.steps if isinstance(s, NearDedup)]
    first_dedup = min([i for i in (_first(g, Dedup), _first(g, NearDedup)) if i >= 0], default=-1)
    out = {
        "n_steps": float(len(g.steps)),
        "n_filters": float(len(filters)),
        "has_exact_dedup": float(any(isinstance(s, Dedup) and s.unit == "doc" for s in g.steps)),
        "has_para_dedup": float(any(isinstance(s, Dedup) and s.unit == "para" for s in g.steps)),
        "has_near_dedup": float(bool(near)),
        "near_dedup_threshold": min((s.threshold for s in near), default=1.0),
        "has_quality": float(bool(quality_steps)),
        "quality_keep": float(np.prod([s.keep for s in quality_steps])) if quality_steps else 1.0,
        "quality_chars": float(any(s.features == "chars" for s in quality_steps)),
        "dedup_before_quality": float(first_dedup >= 0 and bool(quality_steps) and first_dedup < _first(g, Quality)),
        "scoped_steps": float(sum(1 for s in g.steps if isinstance(s, (Filter, Quality)) and s.on)),
        "order_quality": float(g.order == "quality"),
    }
    out.update({f"filter_{s.name}": float(any(f.stat == s.name for f in filters)) for s in STATS})
    out.update({f"mix_{s}": g.weight(s) for s in sources})
    return out


def grammar(sources: tuple[str, ...]) -> str:
    stats = "\n".join(f"  {s.name:15s} {s.doc}; valid [{s.lo:g}, {s.hi:g}], typical [{s.typical[0]:g}, "
                      f"{s.typical[1]:g}]" for s in STATS)
    return f"""A data-curation genome is an ordered pipeline of steps, a source mixture and an ordering:

  STEP > STEP > ... | mix(SOURCE=WEIGHT, ...) | order=ORDER

Steps run left to right, each on the documents the previous steps kept (`none` = no steps, at most
{MAX_STEPS}). Steps:
  filter(STAT, min=X, max=Y, on=SOURCES)   keep documents whose statistic lies in [X, Y]; give min, max or both
  dedup(unit=U)                            exact dedup, U in {UNITS} (para drops repeated paragraphs)
  minhash(threshold=T, ngram=N, perms=P)   MinHash-LSH near-dedup: T in [{NEAR_RANGE[0]}, {NEAR_RANGE[1]}] (Jaccard),
                                           N in {NGRAMS} (word shingles), P in {PERMS}
  quality(keep=K, features=F, per_source=B, on=SOURCES)
                                           learned classifier (clean reference vs. incoming text); keeps the best
                                           fraction K in [{KEEP_RANGE[0]}, {KEEP_RANGE[1]}]; F in {FEATURES}; per_source true|false
SOURCES is `all` or names joined by `+` among: {', '.join(sources)}; a step with `on=` leaves other sources untouched.
Statistics (STAT):
{stats}
mix(...): weight per source in [0, {MAX_WEIGHT:g}] multiplying its natural share of the kept text (1 = natural,
0 = drop; unnamed sources keep 1; mix(natural) = all 1).
order: one of {ORDERS}; `quality` puts the best-scored documents first, so what does not fit the budget is the worst.

The evaluation trains a small language model on a fixed token budget of the curated text (repeating text
if too little is kept) and measures loss on clean held-out text of every source (macro average).
Example:
  filter(non_ascii, max=0.02) > dedup(unit=doc) > minhash(threshold=0.8, ngram=5, perms=64) > quality(keep=0.6, features=words, per_source=true, on=all) | mix(code=0.5) | order=shuffle
"""
