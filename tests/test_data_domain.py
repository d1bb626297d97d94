"""The data domain end to end at a very small LM budget: metrics, failures with reasons, coupling."""
import math

import numpy as np
import pytest

from domains.base import Budget, Domain, EvaluationError
from domains.data import DataDomain
from domains.data.genome import DataGenome, Filter
from proxies.corpus import VOCAB_SIZE, TokenCorpus

FAST = {
    "scale": "tiny",
    "lm": {"preset": "tiny", "steps": 12, "batch_size": 4, "seq_len": 32, "eval_batches": 1, "min_steps": 4},
    "model": {"kind": "hybrid", "d_model": 32, "n_layers": 1, "n_heads": 2},
}


@pytest.fixture(scope="module")
def domain():
    return DataDomain(FAST)


def test_domain_satisfies_the_protocol(domain):
    assert isinstance(domain, Domain)
    assert domain.reference in domain.baselines()
    assert domain.normalise(-2.5, -2.75) == pytest.approx(0.25)
    with pytest.raises(KeyError):
        domain.provide("model_fn", DataGenome())


def test_lm_budget_scales_with_the_stage(domain):
    assert domain.lm_config(1.0).steps == 12
    assert domain.lm_config(0.5).steps == 6
    assert domain.lm_config(0.01).steps == 4  # min_steps


@pytest.mark.slow
def test_evaluate_reports_score_cost_and_kept_fractions(domain):
    m = domain.evaluate({"data": domain.baselines()["dedup"]}, Budget("full", 1.0, seed=0), {})
    sources = domain.sources
    assert 0.0 < -m.score < 2 * math.log(VOCAB_SIZE)
    assert m.cost["seconds"] == pytest.approx(m.cost["pipeline_seconds"] + m.cost["train_seconds"])
    assert m.cost["tokens"] == 12 * 4 * 32 + 1
    assert {f"eval_loss/{s}" for s in sources} <= set(m.details)
    assert all(0.0 < m.details[f"kept/{s}"] <= 1.0 for s in sources)
    assert m.details["kept_kind/exact_dup"] < 0.5 < m.details["kept_kind/clean"]  # dedup removes copies
    assert len(m.behaviour) == 8 + 4 and np.all(np.isfinite(m.behaviour))
    assert len(m.curves["train_loss"]) == 12


def test_dedup_quality_baseline_removes_the_harmful_junk_of_the_offline_corpus(domain):
    """Provenance makes curation measurable: the baseline must remove most noise, boilerplate, mojibake
    and word salad while keeping most clean text (measured: 0.0, 0.03, 0.16, 0.32 and 0.72)."""
    from domains.data.pipeline import kept_fractions

    kept, _ = domain.curate(domain.baselines()["dedup_quality"])
    by_kind = kept_fractions(domain._all_docs(), kept, domain.raw().kinds, "kind")
    assert by_kind["clean"] > 0.6
    assert max(by_kind["noise"], by_kind["boilerplate"]) < 0.1
    assert max(by_kind["mojibake"], by_kind["salad"]) < 0.5


def test_pathological_threshold_is_a_failed_evaluation(domain):
    g = DataGenome((Filter("words", min=99_999.0),))
    assert domain.check(g).ok  # statically valid ...
    with pytest.raises(EvaluationError, match="kept no documents"):  # ... but keeps nothing
        domain.evaluate({"data": g}, Budget("isolated", 0.15, seed=0), {})
    with pytest.raises(EvaluationError, match="invalid genome"):
        domain.evaluate({"data": DataGenome(order="nope")}, Budget("isolated", 0.15), {})


def test_provide_corpus_gives_curated_tokens_and_clean_heldout(domain):
    g = domain.parse("filter(non_ascii, max=0.01) > dedup(unit=doc) | mix(licences=0.0) | order=shuffle")
    corpus = domain.provide("corpus", g, seed=1)
    assert isinstance(corpus, TokenCorpus) and corpus.vocab_size == VOCAB_SIZE
    assert corpus.train.dtype == np.int32 and corpus.train.size > 100_000
    assert set(corpus.heldout) == set(domain.sources)
    assert corpus.details["share/licences"] == 0.0 and corpus.details["kept/docs"] < 1.0
    again = domain.provide("corpus", g, seed=1)
    assert np.array_equal(corpus.train, again.train)  # curated once per genome, drawn per seed


class _ArchPartner:
    """Stands in for the architecture domain: records the coupling call, returns the plain GPT."""

    def __init__(self):
        self.calls = []

    def provide(self, resource, genome, **kwargs):
        from proxies.lm import GPT

        self.calls.append((resource, genome, kwargs))
        return lambda rngs: GPT(kwargs["vocab_size"], 16, 1, 2, kwargs["max_len"], rngs=rngs)


@pytest.mark.slow
def test_the_triples_architecture_is_trained(domain):
    partner = _ArchPartner()
    m = domain.evaluate({"data": DataGenome(), "arch": "ARCH"}, Budget("isolated", 0.34, seed=0),
                        {"arch": partner})
    assert partner.calls == [("model_fn", "ARCH", {"vocab_size": VOCAB_SIZE, "max_len": 32})]
    assert math.isfinite(m.score) and m.cost["params"] > 0
