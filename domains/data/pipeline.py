"""Running a curation genome's steps over a raw corpus.

Every step is a pure function `Docs -> Docs` (documents kept, possibly rewritten); `run_steps` chains them
like an optax `chain`. `Docs` carries each document's source and provenance kind along, so kept fractions
per source and per kind of damage are measurable afterwards. A step restricted with `on=` passes the
documents of other sources through untouched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domains.data import dedup, quality
from domains.data.genome import Dedup, Filter, NearDedup, Quality, Step
from domains.data.stats import STAT_NAMES, document_stats


@dataclass(frozen=True, eq=False)
class Docs:
    """Documents flowing through a pipeline, with their provenance (indices into the corpus's
    `sources` and `kinds`) and, once a quality step has run, its last score per document."""

    texts: tuple[str, ...]
    source: np.ndarray  # (N,) int
    kind: np.ndarray  # (N,) int
    score: np.ndarray | None = None  # (N,) float

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, index: np.ndarray) -> "Docs":
        index = np.asarray(index, dtype=np.int64)
        return Docs(tuple(self.texts[i] for i in index), self.source[index], self.kind[index],
                    None if self.score is None else self.score[index])

    def nbytes(self) -> np.ndarray:
        return np.fromiter((len(t.encode("utf-8")) for t in self.texts), np.int64, len(self.texts))


@dataclass(frozen=True)
class Context:
    """What steps need besides the documents: source names, clean reference text, a seed."""

    sources: tuple[str, ...]
    reference: tuple[str, ...]
    seed: int = 0


def _scope(docs: Docs, on: tuple[str, ...], ctx: Context) -> np.ndarray:
    """Mask of the documents a step applies to."""
    if not on:
        return np.ones(len(docs), bool)
    return np.isin(docs.source, [ctx.sources.index(s) for s in on])


def apply_filter(step: Filter, docs: Docs, ctx: Context) -> Docs:
    values = document_stats(docs.texts)[:, STAT_NAMES.index(step.stat)]
    ok = np.ones(len(docs), bool)
    if step.min is not None:
        ok &= values >= step.min
    if step.max is not None:
        ok &= values <= step.max
    return docs.take(np.flatnonzero(ok | ~_scope(docs, step.on, ctx)))


def apply_dedup(step: Dedup, docs: Docs, ctx: Context) -> Docs:
    if step.unit == "doc":
        return docs.take(dedup.exact_docs(docs.texts))
    texts = dedup.exact_paragraphs(docs.texts)
    kept = np.flatnonzero([bool(t) for t in texts])
    return Docs(tuple(texts[i] for i in kept), docs.source[kept], docs.kind[kept],
                None if docs.score is None else docs.score[kept])


def apply_near_dedup(step: NearDedup, docs: Docs, ctx: Context) -> Docs:
    return docs.take(dedup.near_docs(docs.texts, step.threshold, step.ngram, step.perms))


def apply_quality(step: Quality, docs: Docs, ctx: Context) -> Docs:
    inside = np.flatnonzero(_scope(docs, step.on, ctx))
    if not len(inside):
        return docs
    scores = np.full(len(docs), np.inf)  # out-of-scope documents always survive
    scores[inside] = quality.quality_scores([docs.texts[i] for i in inside], ctx.reference, step.features,
                                            seed=ctx.seed)
    groups = docs.source[inside] if step.per_source else None
    kept = np.sort(np.r_[inside[quality.top_fraction(scores[inside], step.keep, groups)],
                         np.flatnonzero(~_scope(docs, step.on, ctx))]).astype(np.int64)
    finite = np.where(np.isfinite(scores), scores, np.nan)
    return Docs(tuple(docs.texts[i] for i in kept), docs.source[kept], docs.kind[kept], finite[kept])


_APPLY = {Filter: apply_filter, Dedup: apply_dedup, NearDedup: apply_near_dedup, Quality: apply_quality}


def apply_step(step: Step, docs: Docs, ctx: Context) -> Docs:
    return _APPLY[type(step)](step, docs, ctx) if len(docs) else docs


def run_steps(steps: tuple[Step, ...], docs: Docs, ctx: Context) -> Docs:
    for step in steps:
        docs = apply_step(step, docs, ctx)
    return docs


def kept_fractions(before: Docs, after: Docs, names: tuple[str, ...], field: str) -> dict[str, float]:
    """Kept share of bytes per source or kind (`field` is 'source' or 'kind'); NaN where none existed."""
    b_bytes, a_bytes = before.nbytes(), after.nbytes()
    b_label, a_label = getattr(before, field), getattr(after, field)
    out = {}
    for i, name in enumerate(names):
        total = b_bytes[b_label == i].sum()
        out[name] = float(a_bytes[a_label == i].sum() / total) if total else float("nan")
    return out
