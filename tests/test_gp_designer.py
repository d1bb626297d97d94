"""The GP designer: distinct, valid offspring; duplicates retried; invalid ones reported with reasons."""
from __future__ import annotations

import numpy as np

from domains.base import CheckResult, genome_id
from evolve.designers.gp import GPDesigner
from tests.numeric_domain import NumericDomain, Vector


class PickyDomain(NumericDomain):
    """Rejects any vector whose first coordinate exceeds 0.5, so check() failures happen often."""

    def check(self, genome: Vector) -> CheckResult:
        return CheckResult.failed("x0 above 0.5") if genome.x[0] > 0.5 else CheckResult.passed()


def test_offspring_are_new_valid_and_distinct():
    dom = PickyDomain({"n_var": 4})
    rng = np.random.default_rng(0)
    parents = [(genome_id("numeric", dom.to_json(g)), g) for g in (dom.sample(rng) for _ in range(6))]
    F = np.array([[i, 6 - i] for i in range(6)], float)
    known = {gid for gid, _ in parents}
    before = set(known)
    props, rejects = GPDesigner(crossover_rate=0.5).propose(dom, parents, np.zeros(6, int), np.ones(6), 8, rng,
                                                           known, F=F)
    assert len(props) == 8
    assert len({p.gid for p in props}) == 8 and not ({p.gid for p in props} & before)
    assert all(p.genome.x[0] <= 0.5 for p in props)
    assert all(set(p.parents) <= before and p.origin in ("mutation", "crossover+mutation") for p in props)
    assert rejects and all(r.reason == "x0 above 0.5" for r in rejects)
    assert {p.gid for p in props} | {r.gid for r in rejects} <= known


def test_without_parents_it_samples_and_stops_when_space_is_exhausted():
    dom = NumericDomain({"n_var": 2})
    props, _ = GPDesigner().propose(dom, [], np.zeros(0), np.zeros(0), 3, np.random.default_rng(1), set())
    assert [p.origin for p in props] == ["sample"] * 3

    class Constant(NumericDomain):
        def sample(self, rng):
            return Vector((0.5, 0.5))

    props, _ = GPDesigner(max_attempts=5).propose(Constant({"n_var": 2}), [], np.zeros(0), np.zeros(0), 3,
                                                  np.random.default_rng(1), set())
    assert len(props) == 1   # every later attempt is a duplicate: bounded retries, no endless loop
