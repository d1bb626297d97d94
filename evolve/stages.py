"""The staged cascade isolated -> cross -> full, and its promotion rules.

Why a cascade: most proposals are bad, so each is first measured cheaply (isolated:
one domain changed, the others held at their incumbents, a small fraction of the
full budget); only the best p_pass by Pareto order are recombined with the other
domains' top genomes (cross) and only the best of those get the full budget and
several seeds (full). All functions here are pure; the campaign applies them.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from domains.base import STAGES
from evolve import selection


@dataclass(frozen=True)
class StageSpec:
    name: str
    fraction: float  # of each domain's full-stage budget
    seeds: int       # evaluation seeds; every candidate of a stage uses the same ones
    rung: str | None = None  # ladder of scales: the model-size rung this stage evaluates at (None = one size)
    max_evaluations: int | None = None  # per cycle: caps the promotions into this stage (None = no cap)
    coupling: bool = True  # cross / full: run the coupling cells of analysis.coupling_pairs here (evolve/coupling.py)

    def seed_list(self, master_seed: int) -> list[int]:
        """Common random numbers: all candidates of a stage share seeds, so differences are real."""
        return [master_seed * 1000 + i for i in range(self.seeds)]


def stage_specs(scale_cfg: Mapping[str, Any]) -> dict[str, StageSpec]:
    stages = scale_cfg["stages"]
    missing = [s for s in STAGES if s not in stages]
    if missing:
        raise ValueError(f"scale config lacks stages {missing}; it needs {list(STAGES)}")
    def optional(stage: str, key: str, kind):
        value = stages[stage].get(key)
        return None if value is None else kind(value)

    specs = {s: StageSpec(s, float(stages[s]["fraction"]), int(stages[s]["seeds"]), optional(s, "rung", str),
                          optional(s, "max_evaluations", int), bool(stages[s].get("coupling", True)))
             for s in STAGES}
    for spec in specs.values():
        if not 0.0 < spec.fraction <= 1.0 or spec.seeds < 1:
            raise ValueError(f"stage {spec.name}: fraction must be in (0, 1] and seeds >= 1, got {spec}")
        if spec.max_evaluations is not None and spec.max_evaluations < 1:
            raise ValueError(f"stage {spec.name}: max_evaluations must be >= 1 or null, got {spec.max_evaluations}")
    return specs


def active_stages(cross_stage: bool = True) -> tuple[str, ...]:
    """The cascade a campaign runs. Without the cross stage (`campaign.cross_stage=false`, the
    isolated_only ablation arm) the best isolated results go straight to the full stage: the
    arm keeps full-budget, multi-seed measurements and differs only in never recombining a
    genome with the other domains' top genomes."""
    return STAGES if cross_stage else tuple(s for s in STAGES if s != "cross")


def next_stage(stage: str) -> str | None:
    i = STAGES.index(stage)
    return STAGES[i + 1] if i + 1 < len(STAGES) else None


def promotion_count(n_new: int, p_pass: float, *, evaluations_each: int = 1,
                    max_evaluations: int | None = None) -> int:
    """How many of a stage's n_new fresh results move on: ceil(p_pass * n_new), at least one, and no
    more than the next stage's per-cycle budget allows. A promoted candidate costs `evaluations_each`
    evaluations there (its triples x the domains that score it x seeds): with three domains a triple
    costs three times what a single-domain genome does, so a fixed budget promotes fewer of them."""
    if n_new <= 0:
        return 0
    n = max(1, math.ceil(p_pass * n_new))
    if max_evaluations is not None:
        n = min(n, max(1, int(max_evaluations) // max(1, int(evaluations_each))))
    return n


def nsga_order(F: np.ndarray, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Indices sorted by Pareto rank, then by crowding distance (descending): NSGA-II's preference.
    Ties (every front's extremes have infinite crowding) go to the smaller `tiebreak` (default: the
    first objective), not to whichever row came first: otherwise the domain listed first would win a
    promotion of one."""
    if len(F) == 0:
        return np.zeros(0, dtype=int)
    ranks = selection.pareto_ranks(F)
    crowd = selection.crowding_distances(F, ranks)
    return np.lexsort((F[:, 0] if tiebreak is None else np.asarray(tiebreak, float), -crowd, ranks))


def promotion_objectives(perf_by_domain: Sequence[Mapping[str, float]], names: Sequence[str],
                         cost: np.ndarray, novelty: np.ndarray) -> np.ndarray:
    """Minimised objectives for promotion: one gain per domain (0 where a candidate did not change or
    score that domain), cost ratio, novelty. Dominance and NSGA-II crowding (range-normalised) do not
    depend on a domain's units; docs/selection.md measures this against one pooled perf."""
    gains = np.array([[-float(p.get(d, 0.0)) for d in names] for p in perf_by_domain], float)
    return np.column_stack([gains.reshape(len(perf_by_domain), len(names)), np.asarray(cost, float),
                            -np.asarray(novelty, float)])


def choose_promotions(F: np.ndarray, eligible: Sequence[bool], n: int,
                      tiebreak: np.ndarray | None = None) -> list[int]:
    """The n eligible rows that rank best against the WHOLE stage population (not just the eligible)."""
    order = nsga_order(F, tiebreak)
    return [int(i) for i in order if eligible[i]][:n]


def share_tiebreak(perf: Sequence[float], group: Sequence[str], taken: Mapping[str, int]) -> np.ndarray:
    """Tie-break among Pareto-equivalent rows (a front's extremes all have infinite crowding): first the
    rows that improve on the reference (perf > 0), then those of the group (domain) promoted least so
    far, then the better perf. Without the middle key a domain whose gains in the declared unit run a
    little higher takes every slot when a stage promotes fewer candidates than there are domains."""
    perf = np.asarray(perf, float)
    counts = np.array([int(taken.get(g, 0)) for g in group], float)
    order = np.lexsort((-perf, counts, perf <= 0.0))
    rank = np.empty(len(perf), float)
    rank[order] = np.arange(len(perf))
    return rank


def choose_shared_promotions(F: np.ndarray, eligible: Sequence[bool], n: int, perf: Sequence[float],
                             group: Sequence[str], taken: Mapping[str, int] | None = None) -> list[int]:
    """`choose_promotions` one slot at a time, the tie-break (`share_tiebreak`) seeing the slots already
    given: `taken` counts each group's earlier promotions from this stage."""
    taken = dict(taken or {})
    chosen: list[int] = []
    for _ in range(max(0, n)):
        still = [bool(e) and i not in chosen for i, e in enumerate(eligible)]
        pick = choose_promotions(F, still, 1, tiebreak=share_tiebreak(perf, group, taken))
        if not pick:
            break
        chosen.append(pick[0])
        taken[group[pick[0]]] = taken.get(group[pick[0]], 0) + 1
    return chosen


def coupled_pools(focus: str, top: Mapping[str, Sequence[str]], challengers: Mapping[str, Sequence[str]],
                  reference: Mapping[str, str], pairs: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    """The cross stage's partner pools when coupling is measured: in every domain coupled with `focus`
    (a pair of `pairs` holding both), the top genomes without the reference genome, unless nothing
    else was measured there (`challengers`: that domain's best non-reference genomes). The 2x2
    factorial of a pair needs a triple that differs from the reference in both of its domains; with
    the plain top-k pools a tiny run's partners are still the references (the reference genome is
    measured at every stage, so it ranks first until a challenger beats it at the full stage), and
    no coupling is ever measured. Other domains keep their top-k pools."""
    pools = {d: list(v) for d, v in top.items()}
    coupled = {d for p in pairs if focus in p for d in p if d != focus}
    for d in coupled:
        others = [g for g in pools.get(d, []) if g != reference.get(d)]
        k = max(1, len(pools.get(d, [])))
        if len(others) < k:
            others += [g for g in challengers.get(d, []) if g != reference.get(d) and g not in others]
        if others:
            pools[d] = others[:k]
    return pools


def cross_triples(triple: Mapping[str, str], focus: str, top: Mapping[str, Sequence[str]],
                  limit: int) -> list[dict[str, str]]:
    """Combine the focus domain's genome with the top-k genomes of every other domain."""
    others = [d for d in triple if d != focus]
    pools = [list(top.get(d) or [triple[d]]) for d in others]
    out = []
    for combo in itertools.product(*pools):
        out.append({**dict(triple), **dict(zip(others, combo))})
        if len(out) >= limit:
            break
    return out
