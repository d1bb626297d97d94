"""What a worker process runs: one (candidate, domain, seed) evaluation (payload: `evaluations.EvaluationTask`), or a
batch of one domain's evaluations (payload: `evaluations.EvaluationBatch`) for a domain with `evaluate_batch`.

Domains are built once per worker process and cached, so imports and JAX compile
caches stay warm across tasks. Everything crossing the process boundary is plain
data (genome JSON in, Metrics as a dict out).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from domains.base import Budget, Metrics, batch_evaluator, canonical_json
from evolve.execution.sandbox import describe_exception
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


def run_evaluation(payload: Mapping[str, Any]) -> Any:
    """payload: configs {name: cfg}, domain, stage, fraction, and either triple {name: genome json} + seed (one
    evaluation: its Metrics as a dict) or items [{triple, seed}, ...] (a batch: see `run_batch`)."""
    if "items" in payload:
        return run_batch(payload)
    domains = _domains(payload["configs"])
    genomes = {name: domains[name].from_json(js) for name, js in payload["triple"].items()}
    name = payload["domain"]
    partners = {n: d for n, d in domains.items() if n != name}
    budget = Budget(stage=payload["stage"], fraction=float(payload["fraction"]), seed=int(payload["seed"]))
    return _as_dict(name, domains[name].evaluate(genomes, budget, partners))


def run_batch(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A batch of one domain's evaluations through its `evaluate_batch`; per item, in order, {"status": "ok",
    "value": metrics dict} or {"status": "error", "reason": ...}: an item that fails (a genome that does not
    parse, an EvaluationError) fails alone."""
    domains = _domains(payload["configs"])
    name = payload["domain"]
    evaluate_batch = batch_evaluator(domains[name])
    if evaluate_batch is None:
        raise TypeError(f"domain {name!r} has no evaluate_batch")
    partners = {n: d for n, d in domains.items() if n != name}
    out: list[dict[str, Any] | None] = [None] * len(payload["items"])
    todo, items = [], []
    for i, item in enumerate(payload["items"]):
        try:
            genomes = {n: domains[n].from_json(js) for n, js in item["triple"].items()}
        except Exception as exc:  # noqa: BLE001 - this item's failure, not the batch's
            out[i] = {"status": "error", "reason": describe_exception(exc)}
            continue
        todo.append(i)
        items.append((genomes, Budget(stage=payload["stage"], fraction=float(payload["fraction"]), seed=int(item["seed"]))))
    results = evaluate_batch(items, partners) if items else []
    if len(results) != len(items):
        raise TypeError(f"domain {name!r} returned {len(results)} results for a batch of {len(items)}")
    for i, result in zip(todo, results):
        try:
            if isinstance(result, BaseException):
                raise result
            out[i] = {"status": "ok", "value": _as_dict(name, result)}
        except Exception as exc:  # noqa: BLE001
            out[i] = {"status": "error", "reason": describe_exception(exc)}
    return out  # type: ignore[return-value]


def _as_dict(name: str, metrics: Any) -> dict[str, Any]:
    if not isinstance(metrics, Metrics):
        raise TypeError(f"domain {name!r} returned {type(metrics).__name__}, expected Metrics")
    return dataclasses.asdict(metrics)
