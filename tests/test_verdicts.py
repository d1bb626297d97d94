"""The verdict blocks from plain rows and scores: fidelity per domain and stage pair, coupling per pair."""
from __future__ import annotations

import math
from types import SimpleNamespace as NS

import pytest

from evolve import coupling, references as refs, verdicts

REF = {"a": "A0", "d": "D0"}


def _row(stage, triple, focus, perf):
    return NS(cand=NS(stage=stage, triple=triple, focus=focus, id=refs.candidate_id(stage, triple)),
              perf_by_domain=perf)


def test_fidelity_pairs_genomes_across_stages_and_counts_only_changed_domains_at_isolated():
    iso = [_row("isolated", {"a": f"A{i}", "d": "D0"}, "a", {"a": float(i)}) for i in range(1, 6)]
    iso.append(_row("isolated", {"a": "A1", "d": "D1"}, "d", {"d": 9.0}))  # A1 is only a partner here
    full = [_row("full", {"a": f"A{i}", "d": "D1"}, "all", {"a": float(10 - i) if i < 3 else float(i), "d": 1.0})
            for i in range(1, 6)]
    block = verdicts.fidelity_block({"isolated": iso, "cross": [], "full": full}, ["a", "d"], n_resamples=200)
    f = block["a"]["isolated->full"]
    assert f["n"] == 5 and f["rho"] == pytest.approx(-0.6)  # ranks 1..5 vs 5,4,1,2,3: 1 - 6*32/120
    assert f["low"] and "LOW" in f["words"]
    assert block["d"]["isolated->full"]["n"] == 1 and math.isnan(block["d"]["isolated->full"]["rho"])
    assert block["a"]["isolated->cross"]["n"] == 0
    assert verdicts.fidelity_metrics(block) == {"fidelity.a.isolated_to_full": pytest.approx(-0.6)}


def test_coupling_block_pools_triples_and_states_effects_in_the_unit():
    tri = {"a": "A1", "d": "D1"}
    cand = NS(triple=tri, focus="all", id=refs.candidate_id("full", tri))
    table = {(1, 1): 5.0, (1, 0): 1.0, (0, 1): 2.0, (0, 0): 0.0}
    scores = {}
    for lv, t in coupling.cell_triples(tri, REF, ("a", "d")).items():
        for d in ("a", "d"):
            scores[(refs.source_id("full", t, d, REF, cand.id), d, 7)] = table[lv]
    block = verdicts.coupling_block("full", [cand], scores, [("a", "d")], REF, [7], {"a": 2.0, "d": 1.0},
                                    n_resamples=100)
    by = {e["response"]: e for e in block}
    assert by["a"]["interaction"]["estimate"] == pytest.approx(1.0)  # 2.0 raw / unit 2.0
    assert by["d"]["interaction"]["estimate"] == pytest.approx(2.0) and by["d"]["n"] == 1 and by["d"]["triples"] == 1
    assert verdicts.coupling_metrics(block)["coupling.full.axd.d.main_b"] == pytest.approx(3.0)


def test_report_sections_show_units_coupling_and_fidelity_in_words():
    iso = [_row("isolated", {"a": f"A{i}", "d": "D0"}, "a", {"a": float(i)}) for i in range(1, 6)]
    full = [_row("full", {"a": f"A{i}", "d": "D1"}, "all", {"a": float(6 - i)}) for i in range(1, 6)]
    summary = {"gain_units": {"a": {"value": 0.024, "source": "design spread (5 genomes)"}}, "best_perf": {"a": 1.5},
               "fidelity": verdicts.fidelity_block({"isolated": iso, "full": full}, ["a"], n_resamples=100),
               "coupling": [{"stage": "full", "pair": ["a", "d"], "response": "d", "n": 2, "triples": 1,
                             "main_a": {"estimate": 1.0, "ci_low": 0.5, "ci_high": 1.5},
                             "main_b": {"estimate": 2.0, "ci_low": math.nan, "ci_high": math.nan},
                             "interaction": {"estimate": -0.5, "ci_low": -1.0, "ci_high": 0.1}}]}
    text = "\n".join(verdicts.report_sections(summary))
    assert "## Per-domain gains" in text and "| a | 1.5 | 0.024 | design spread (5 genomes) |" in text
    assert "| full | a x d | d | 2 | a: 1 [0.5, 1.5] | d: 2 — | -0.5 | [-1, 0.1] |" in text
    assert "| a | isolated->full | 5 | -1 | [-1, -1] |" in text and "LOW" in text
    assert verdicts.report_sections({}) == []
    empty = {"coupling": [{**summary["coupling"][0], "n": 0}]}
    assert "Not measured yet" in "\n".join(verdicts.report_sections(empty))
