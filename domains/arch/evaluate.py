"""Evaluating an architecture: dynamic check, LM proxy on the corpus, MQAR recall, metrics.

score = -mean_s(held-out loss on source s) + recall_weight * recall accuracy
(nats per byte, higher is better; perf = score - score of the reference Transformer).
Runs in a worker process; imports JAX.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

from domains.arch import compile as comp
from domains.arch.checks import dynamic_check_model
from domains.arch.genome import ArchGenome
from domains.base import CheckResult


def width(cfg: Mapping[str, Any], *, n_layers: int | None = None) -> comp.Width:
    return comp.Width(int(cfg["d_model"]), int(cfg["n_layers"] if n_layers is None else n_layers),
                      str(cfg["dtype"]), int(cfg["chunk"]))


def dynamic_check(g: ArchGenome, cfg: Mapping[str, Any], *, seed: int = 0) -> CheckResult:
    """Builds / finite / gradients / causality on one block at the scale's width (cheap to compile);
    depth-dependent blow-ups surface as a non-finite training loss instead."""
    vocab = int(cfg["vocab_size"])
    seq = int(cfg["check_seq_len"])
    make = comp.model_fn(g, width(cfg, n_layers=int(cfg["check_layers"])), vocab_size=vocab, max_len=seq)
    return dynamic_check_model(make, vocab_size=vocab, seq_len=seq, batch=int(cfg["check_batch"]), seed=seed)


@functools.lru_cache(maxsize=2)
def _default_corpus(seed: int, max_bytes: int | None):
    from proxies.corpus import default_corpus

    return default_corpus(seed=seed, max_bytes=max_bytes)
