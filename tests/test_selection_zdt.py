"""Acceptance: the engine's NSGA-II selection on ZDT1/ZDT2 reaches >= 95% of pymoo NSGA2's
hypervolume at equal evaluations.

Our side is a generational loop built only from `evolve.selection` (tournament -> the numeric
domain's SBX / polynomial mutation -> evaluate -> survive); pymoo's side is `NSGA2(pop_size=100)`.
Variation is bred as pymoo breeds it (SBX children in symmetric pairs, crossover 0.9, mutation 0.9,
duplicates dropped), so the comparison isolates selection. Hypervolume of the final population's
raw objectives at reference point (1.1, 1.1) for both; the test asserts on the mean over 5 seeds.

Over 30 seeds (100..129) the means were: ZDT1 ours 0.845 vs pymoo 0.847 (99.8%); ZDT2 ours 0.492
vs 0.481 (102%; pymoo collapsed onto the f1 = 0 end of the concave front once, ours never). With
rank-first tournaments (no `F`) ZDT2 fell to 0.450 (93.5%, 8 collapses), hence
`tournament(..., F=F)`. Breeding one child per crossover (the Domain protocol's `crossover`) cost
ZDT2 about 3-6% (0.45-0.47 over 30 seeds).
"""
import numpy as np
import pytest
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.optimize import minimize

from evolve import selection as sel
from numeric_domain import NumericDomain

POP, GENS, N_VAR = 100, 100, 30
N_EVALS = POP * (GENS + 1)  # 10,100: initial population + GENS generations of offspring
REF = np.array([1.1, 1.1])
SEEDS = (1, 2, 3, 4, 5)
P_CROSS, P_MUT = 0.9, 0.9  # pymoo NSGA2: SBX(prob=0.9), PM(prob=0.9)


def run_engine_selection(dom: NumericDomain, seed: int, dominance: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pop = [dom.sample(rng) for _ in range(POP)]
    F = dom.objectives(np.stack([g.array for g in pop]))
    n_evals = len(pop)
    while n_evals < N_EVALS:
        ranks = sel.pareto_ranks(F)
        crowd = sel.crowding_distances(F, ranks)
        pick = lambda: sel.tournament(ranks, crowd, POP, rng, F=F if dominance else None).reshape(-1, 2)
        kids, seen = [], set(pop)  # genomes are values: a copy is a duplicate, as genome ids see it
        while len(kids) < POP:
            for a, b in pick()[: (POP - len(kids) + 1) // 2]:
                pair = dom.crossover_pair(pop[a], pop[b], rng) if rng.random() < P_CROSS else (pop[a], pop[b])
                for child in pair:
                    child = dom.mutate(child, rng) if rng.random() < P_MUT else child
                    if child not in seen and len(kids) < POP:
                        seen.add(child)
                        kids.append(child)
        pop += kids
        F = np.vstack([F, dom.objectives(np.stack([g.array for g in kids]))])
        n_evals += len(kids)
        keep = sel.survive(F, POP, rng)
        pop, F = [pop[i] for i in keep], F[keep]
    return F


def run_pymoo(dom: NumericDomain, seed: int) -> np.ndarray:
    res = minimize(dom.problem, NSGA2(pop_size=POP), ("n_evals", N_EVALS), seed=seed, verbose=False)
    return res.pop.get("F")


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["zdt1", "zdt2"])
def test_engine_selection_matches_pymoo_nsga2(problem):
    dom = NumericDomain({"problem": problem, "n_var": N_VAR})
    ours = [sel.hypervolume(run_engine_selection(dom, s), REF) for s in SEEDS]
    theirs = [sel.hypervolume(run_pymoo(dom, s), REF) for s in SEEDS]
    print(f"{problem}: ours {np.round(ours, 4)} pymoo {np.round(theirs, 4)}")
    assert np.mean(theirs) > 0.3  # pymoo itself converged towards the front (sanity of the setup)
    assert np.mean(ours) >= 0.95 * np.mean(theirs)
