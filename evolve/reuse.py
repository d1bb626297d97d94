"""Identical evaluations run once: a result is reused wherever the same inputs come up again.

A domain's result depends on the genomes it reads (its own and, where it declares `consumes`, the partners
providing those resources: `domains.base.evaluation_inputs`), the stage's budget and the seed; evaluation is
deterministic in them (common random numbers). So in `+domain=all` the arch score of (A, D, R) is the arch score of
(A, D, R'), and a coupling cell or a partner-matched reference often repeats a run already made: on a measured
`make run` 23 of 93 runs were such repeats, with identical scores. Reusing them changes no recorded number;
the copy says where it came from (details `reused` = 1, its reason) and spends no worker time (seconds 0).

Only successful results are reused across stages' candidates; two identical tasks of one stage run once, and the
second takes the first's outcome, failure included (the same inputs fail the same way).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from domains.base import evaluation_inputs
from evolve.execution.evaluations import Outcome
from evolve.knowledge import Evaluation, KnowledgeBase

InputKey = tuple  # (domain, stage, fraction, seed, ((domain, genome id), ...) of the genomes it reads)


def reads_of(domains: Mapping[str, Any]) -> dict[str, tuple[str, ...] | None]:
    """Per domain, the domains whose genomes its result reads (None: the whole triple)."""
    return {name: evaluation_inputs(name, domains) for name in domains}


def input_key(domain: str, triple: Mapping[str, str], stage: str, fraction: float, seed: int,
              reads: Mapping[str, tuple[str, ...] | None]) -> InputKey:
    names = reads.get(domain) or tuple(sorted(triple))
    return (domain, stage, float(fraction), int(seed), tuple((n, triple.get(n)) for n in names))


def index(kb: KnowledgeBase, fractions: Mapping[str, float],
          reads: Mapping[str, tuple[str, ...] | None]) -> dict[InputKey, Evaluation]:
    """Every successful result of the knowledge base under its input key (the first one recorded)."""
    cands = {c.id: c for c in kb.candidates()}
    out: dict[InputKey, Evaluation] = {}
    for ev in kb.evaluations():
        cand = cands.get(ev.candidate)
        if ev.status != "ok" or cand is None or cand.stage not in fractions:
            continue
        out.setdefault(input_key(ev.domain, cand.triple, cand.stage, fractions[cand.stage], ev.seed, reads), ev)
    return out


def origin(ev: Evaluation) -> str:
    return f"{ev.candidate[:8]}/{ev.domain}/seed {ev.seed}"


def copy_of(ev: Evaluation, candidate: str) -> Evaluation:
    """`ev` recorded again for `candidate` (same domain and seed): same numbers, no worker time, says its origin."""
    details = dict(ev.details)
    if ev.status == "ok":
        details["reused"] = 1.0
        reason = f"reused: the result of {origin(ev)} (same genomes read, stage budget and seed)"
    else:
        reason = f"same inputs as {origin(ev)}, which failed: {ev.reason}"
    return replace(ev, candidate=candidate, details=details, reason=reason, seconds=0.0, perf=None)


def follower_outcome(outcome: Outcome, key: Any) -> Outcome:
    """The outcome of a task identical to `outcome`'s, which ran in its stead."""
    return replace(outcome, key=key, evaluation=copy_of(outcome.evaluation, key.candidate))
