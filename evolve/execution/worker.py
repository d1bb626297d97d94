"""What a worker process runs: one (candidate, domain, seed) evaluation (payload: `evaluations.EvaluationTask`).

Domains are built once per worker process and cached, so imports and JAX compile
caches stay warm across tasks. Everything crossing the process boundary is plain
data (genome JSON in, Metrics as a dict out).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from domains.base import Budget, Metrics, canonical_json
from evolve.plugins import build_domain

_CACHE: dict[str, dict[str, Any]] = {}
_CACHE_SIZE = 3  # one set of domains per stage: a ladder of scales evaluates each stage at its own rung


def _domains(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    key = canonical_json(configs)
    if key in _CACHE:
        _CACHE[key] = _CACHE.pop(key)  # most recently used last
    else:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = {name: build_domain(name, cfg) for name, cfg in configs.items()}
    return _CACHE[key]


def run_evaluation(payload: Mapping[str, Any]) -> dict[str, Any]:
    """payload: configs {name: cfg}, domain, triple {name: genome json}, stage, fraction, seed."""
    domains = _domains(payload["configs"])
    genomes = {name: domains[name].from_json(js) for name, js in payload["triple"].items()}
    name = payload["domain"]
    partners = {n: d for n, d in domains.items() if n != name}
    budget = Budget(stage=payload["stage"], fraction=float(payload["fraction"]), seed=int(payload["seed"]))
    metrics = domains[name].evaluate(genomes, budget, partners)
    if not isinstance(metrics, Metrics):
        raise TypeError(f"domain {name!r} returned {type(metrics).__name__}, expected Metrics")
    return dataclasses.asdict(metrics)
