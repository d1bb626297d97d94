"""Partner-matched references and coupling cells: which extra triples a candidate needs, and reuse."""
from __future__ import annotations

import numpy as np
import pytest

from evolve import coupling, references as refs

REF = {"arch": "A0", "rl": "R0", "data": "D0"}
PAIRS = [("arch", "data"), ("arch", "rl")]


def test_isolated_candidate_needs_its_reference_with_the_same_partners():
    tri = {"arch": "A1", "rl": "R1", "data": "D1"}  # an arch proposal with the rl and data incumbents
    need = refs.needs("isolated", tri, ["arch"], REF, PAIRS)
    assert [(t, d) for _, t, d in need] == [({"arch": "A0", "rl": "R1", "data": "D1"}, "arch")]
    own = refs.candidate_id("isolated", tri)
    assert refs.matched_reference_id("isolated", tri, "arch", REF, own) == need[0][0]
    # with reference partners (cycle 0) the matched reference is the stage's all-reference triple: no extra run
    cycle0 = {**REF, "arch": "A1"}
    assert refs.needs("isolated", cycle0, ["arch"], REF, PAIRS) == []
    assert refs.matched_reference_id("isolated", cycle0, "arch", REF, "x") == refs.candidate_id("isolated", REF)
    # the reference genome itself: gain 0 against itself
    assert refs.matched_reference_id("isolated", {**tri, "arch": "A0"}, "arch", REF, "me") == "me"


def test_full_stage_triple_needs_references_and_factorial_cells_once_each():
    tri = {"arch": "A1", "rl": "R1", "data": "D1"}
    need = refs.needs("full", tri, ["arch", "rl", "data"], REF, PAIRS)
    got = {(tuple(sorted(t.items())), d) for _, t, d in need}
    assert len(need) == len(got) == 11  # 3 matched references + 8 more cells of the two factorials
    assert (tuple(sorted({"arch": "A0", "rl": "R1", "data": "D0"}.items())), "data") in got
    assert all(refs.is_auxiliary(type("C", (), {"focus": refs.aux_focus(d)})()) for _, _, d in need)
    # data at its reference: no a x d factorial; a x r's corner cell is the all-reference triple (no extra run)
    assert len(refs.needs("full", {**tri, "data": "D0"}, ["arch", "rl", "data"], REF, PAIRS)) == 2 + 2


def test_factorial_units_read_the_cells_back():
    tri = {"arch": "A1", "rl": "R1", "data": "D1"}
    own = refs.candidate_id("full", tri)
    scores = {}
    effect = {(1, 1): 5.0, (1, 0): 1.0, (0, 1): 2.0, (0, 0): 0.0}
    for lv, t in coupling.cell_triples(tri, REF, ("arch", "data")).items():
        for d in ("arch", "data"):
            for seed in (0, 1):
                scores[(refs.source_id("full", t, d, REF, own), d, seed)] = effect[lv] + seed
    units = refs.factorial_units(scores, "full", tri, own, ("arch", "data"), REF, [0, 1, 2])
    assert len(units["arch"]) == 2  # seed 2 was never run
    f = coupling.factorial(("arch", "data"), "arch", np.array(units["arch"]), n_resamples=100)
    assert (f.main_a.estimate, f.main_b.estimate, f.interaction.estimate) == pytest.approx((2.0, 3.0, 2.0))


def test_coupling_pairs_keep_the_campaigns_domains_and_refuse_nonsense():
    cfg = {"analysis": {"coupling_pairs": [["arch", "data"], ["arch", "rl"]]}}
    assert refs.coupling_pairs(cfg, ["arch", "data"]) == [("arch", "data")]
    with pytest.raises(ValueError, match="not a pair"):
        refs.coupling_pairs({"analysis": {"coupling_pairs": [["arch", "arch"]]}}, ["arch"])


def test_matched_gain_is_the_difference_of_stored_perfs():
    class C:
        def __init__(self, triple, focus="arch"):
            self.triple, self.focus, self.id = triple, focus, refs.candidate_id("isolated", triple)

    tri = {"arch": "A1", "rl": "R1", "data": "D1"}
    cand, mref = C(tri), {"arch": "A0", "rl": "R1", "data": "D1"}
    aux = type("Aux", (), {"focus": refs.aux_focus("arch"), "triple": mref,
                           "id": refs.aux_id("isolated", mref, "arch")})()
    # stored perf = score - the all-reference score; the rl incumbent alone lifts arch's score by 0.3
    perf = {(cand.id, "arch", 0): 0.5, (aux.id, "arch", 0): 0.3, (cand.id, "arch", 1): 0.4}
    gains = refs.matched_gains("isolated", [cand, aux], perf, REF)
    assert gains == {cand.id: {"arch": {0: pytest.approx(0.2)}}}  # seed 1's reference is not in yet
    ref = C(REF, "all")
    assert refs.matched_gains("isolated", [ref], {(ref.id, "rl", 0): 0.0}, REF)[ref.id] == {"rl": {0: 0.0}}
