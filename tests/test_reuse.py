"""Identical evaluations run once (evolve/reuse.py): a result whose inputs (the genomes its domain reads, the
stage's budget, the seed) were already evaluated is recorded from that run, and every recorded number stays
what the campaign would have measured by running it again."""
from __future__ import annotations

from pathlib import Path

import pytest

from domains.base import evaluation_inputs
from evolve import reuse
from evolve.campaign import Campaign
from evolve.knowledge import KnowledgeBase
from tests.numeric_domain import NumericDomain, SecondNumericDomain, SelfContainedNumericDomain

ROOT = Path(__file__).resolve().parent.parent


class _Provider(NumericDomain):
    name = "provider"

    def provides(self, resource: str) -> bool:
        return resource == "corpus"


class _Reader(NumericDomain):
    name = "reader"
    consumes = ("corpus", "nobody_offers_this")


def test_evaluation_inputs_follow_what_a_domain_consumes():
    domains = {"reader": _Reader(), "provider": _Provider(), "other": SecondNumericDomain()}
    assert evaluation_inputs("reader", domains) == ("reader", "provider")  # not "other"; unprovided: ignored
    assert evaluation_inputs("provider", domains) is None  # declares nothing: reads the whole triple
    assert evaluation_inputs("numeric", {"numeric": SelfContainedNumericDomain()}) == ("numeric",)
    reads = reuse.reads_of(domains)
    triple = {"reader": "r1", "provider": "p1", "other": "o1"}
    key = reuse.input_key("reader", triple, "full", 1.0, 0, reads)
    assert key == reuse.input_key("reader", {**triple, "other": "o2"}, "full", 1.0, 0, reads)
    assert key != reuse.input_key("reader", {**triple, "provider": "p2"}, "full", 1.0, 0, reads)
    assert key != reuse.input_key("reader", triple, "full", 1.0, 1, reads)  # seed
    assert key != reuse.input_key("reader", triple, "cross", 0.4, 0, reads)  # stage budget
    whole = reuse.input_key("provider", triple, "full", 1.0, 0, reads)
    assert whole != reuse.input_key("provider", {**triple, "other": "o2"}, "full", 1.0, 0, reads)


def _two_domain_campaign(numeric_cfg, run_dir: Path, self_contained: bool) -> tuple[dict, list]:
    cfg = numeric_cfg(["campaign.cycles=2", "campaign.proposals_per_cycle=4", "tracking.enabled=false",
                       "scale.stages.cross.max_evaluations=2", "scale.stages.full.max_evaluations=4"])
    prefix = "SelfContained" if self_contained else ""
    cfg["domains"]["numeric"] = {"plugin": f"tests.numeric_domain:{prefix}NumericDomain", "n_var": 5,
                                 "problem": "zdt1", "scales": {"tiny": {}}}
    cfg["domains"]["numeric2"] = {"plugin": f"tests.numeric_domain:{prefix}SecondNumericDomain", "n_var": 5,
                                  "problem": "zdt2", "points": {"optimum": [1.0, 0.0, 0.0, 0.0, 0.0]},
                                  "scales": {"tiny": {}}}
    cfg["campaign"]["start_set"] = {"numeric2": {"reference": "optimum"}}
    cfg["analysis"]["coupling_pairs"] = [["numeric", "numeric2"]]
    summary = Campaign(cfg, run_dir, ROOT).run()
    kb = KnowledgeBase(run_dir / "knowledge.db", cfg["campaign"]["name"]).open()
    try:
        return summary, kb.evaluations()
    finally:
        kb.close()


@pytest.mark.slow
def test_reused_runs_record_exactly_what_running_them_again_records(tmp_path, numeric_cfg):
    plain, plain_evs = _two_domain_campaign(numeric_cfg, tmp_path / "plain", self_contained=False)
    reused, reused_evs = _two_domain_campaign(numeric_cfg, tmp_path / "reused", self_contained=True)
    # the same campaign, result for result: same candidates, domains, seeds, scores, costs and perf
    def table(evs):
        return {(e.candidate, e.domain, e.seed): (e.status, e.score, e.cost, e.perf) for e in evs}
    assert table(plain_evs) == table(reused_evs)
    for key in ("hypervolume", "hypervolume_history", "coupling", "fidelity", "gain_units", "runs_total",
                "runs_auxiliary"):
        assert plain[key] == reused[key], key
    # ... but runs whose inputs were already evaluated did not run again: the coupling cells repeat a
    # domain's own genome beside another partner, which these domains do not read
    copies = [e for e in reused_evs if e.details.get("reused")]
    assert plain["runs_reused"] == 0 and reused["runs_reused"] == len(copies) > 0
    assert all(e.seconds == 0.0 and e.reason.startswith("reused: the result of ") for e in copies)
    assert len(reused_evs) - len(copies) < len(plain_evs)  # runs actually trained
