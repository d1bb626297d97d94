"""The cross stage measures coupling within a campaign's own budget (issue 12): with one triple a cycle
into cross, as `+domain=all` at tiny, the promoted genome gets a non-reference partner in the domain
coupled with it, so the 2x2 factorial exists and partners reach the dearer stages (fidelity)."""
from __future__ import annotations

from pathlib import Path

from evolve import coupling
from evolve.campaign import Campaign
from evolve.knowledge import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent


def _one_triple_a_cycle(numeric_cfg, full_coupling: bool) -> dict:
    cfg = numeric_cfg(["campaign.cycles=2", "campaign.proposals_per_cycle=4", "tracking.enabled=false",
                       "scale.stages.cross.max_evaluations=2", "scale.stages.full.max_evaluations=4",
                       f"scale.stages.full.coupling={str(full_coupling).lower()}"], hostile=False)
    # numeric2's reference is zdt2's optimum (score 0): no other numeric2 genome ever beats it, so it stays
    # numeric2's top genome, as the Transformer stays arch's at tiny; plain top-k partners would be references
    cfg["domains"]["numeric2"] = {"plugin": "tests.numeric_domain:SecondNumericDomain", "n_var": 5,
                                  "problem": "zdt2", "points": {"optimum": [1.0, 0.0, 0.0, 0.0, 0.0]},
                                  "scales": {"tiny": {}}}
    cfg["campaign"]["start_set"] = {"numeric2": {"reference": "optimum"}}
    cfg["analysis"]["coupling_pairs"] = [["numeric", "numeric2"]]
    return cfg


def test_one_triple_a_cycle_still_measures_coupling_and_fidelity_in_both_domains(tmp_path, numeric_cfg):
    cfg = _one_triple_a_cycle(numeric_cfg, full_coupling=True)
    summary = Campaign(cfg, tmp_path / "run", ROOT).run()
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", cfg["campaign"]["name"]).open()
    reference = kb.get_meta("reference_triple")
    cross = [c for c in kb.candidates(stage="cross") if c.focus == "all" and c.triple != reference]
    promoted = [c for c in kb.candidates(stage="isolated") if c.promoted]
    kb.close()
    # one triple a cycle (2 domains x 1 seed = the cap of 2), each differing from the reference in both domains
    assert len(cross) == 2 == len(promoted)
    assert all(c.focus == "numeric" for c in promoted)  # numeric2's genomes are all worse than its reference
    assert all(coupling.informative(c.triple, reference, ("numeric", "numeric2")) for c in cross)
    # the 2x2 was run: at cross and full, both responses, one (triple, seed) unit per triple and seed
    measured = {(e["stage"], e["response"]): e["n"] for e in summary["coupling"]}
    assert measured[("cross", "numeric")] == 2 and measured[("cross", "numeric2")] == 2
    assert measured[("full", "numeric")] >= 2 and measured[("full", "numeric2")] >= 2
    # its cells are auxiliary runs beside the promoted triples' own (which the stage cap counts)
    assert summary["runs_auxiliary_by_stage"]["cross"] >= 2 * 2
    assert summary["runs_by_stage"]["cross"] == summary["runs_auxiliary_by_stage"]["cross"] + 2 * 3
    # partners reach cross too: fidelity has genomes of both domains measured at isolated and cross
    for d in ("numeric", "numeric2"):
        assert summary["fidelity"][d]["isolated->cross"]["n"] >= 2
    # one x-axis: the hypervolume curve's last point is at the count the evaluation budget uses (all runs)
    assert summary["hypervolume_history"][-1][0] == summary["budget"]["evaluations_recorded"] == summary["runs_total"]


def test_a_stage_without_coupling_runs_no_cells_there(tmp_path, numeric_cfg):
    """scale.stages.full.coupling=false (tiny's setting): the factorial is measured at cross only."""
    summary = Campaign(_one_triple_a_cycle(numeric_cfg, full_coupling=False), tmp_path / "run", ROOT).run()
    measured = {e["stage"] for e in summary["coupling"] if e["n"]}
    assert measured == {"cross"}
    # at full a triple differing in both domains needs its two partner-matched references only (x 2 seeds)
    assert summary["runs_auxiliary_by_stage"]["full"] <= 2 * 2 * summary["evaluations_by_stage"]["full"]
