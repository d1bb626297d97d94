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
    raw = domain.raw()
    present = [i for i in range(len(raw.kinds)) if np.any(raw.kind == i)]  # natural kinds depend on the install
    assert len(m.behaviour) == len(raw.kinds) + 4
    assert np.all(np.isfinite(np.asarray(m.behaviour)[present + list(range(len(raw.kinds), len(m.behaviour)))]))
    assert len(m.curves["train_loss"]) == 12
    assert 0.0 < m.details["kept_tokens"] < 1.0
    assert m.details["gain_vs_control"] == pytest.approx(m.details["control/eval_loss"] + m.score)
    assert m.details["control/kept"] == pytest.approx(m.details["kept_tokens"], rel=0.05)  # sqrt(1.1) bucket


@pytest.mark.slow
def test_the_control_is_a_random_filter_evaluated_exactly_like_a_pipeline():
    """At kept fraction 1 the control is the reference pipeline: a fresh control run must reproduce its
    held-out losses exactly (same tokens, model, seed); the reference is its own control; controls are shared
    within a bucket and appear only at the configured stages."""
    domain = DataDomain({**FAST, "control": {"disk_cache": False}})
    budget = Budget("full", 1.0, seed=1)
    fresh, seconds = domain.control(1.0, {"data": DataGenome()}, budget, {})
    assert seconds > 0
    none = DataDomain({**FAST, "control": {"disk_cache": False}}).evaluate(
        {"data": domain.baselines()["none"]}, budget, {})
    assert none.details["gain_vs_control"] == 0.0 and none.details["control/seconds"] == 0.0  # its own control
    assert {s: none.details[f"eval_loss/{s}"] for s in domain.sources} == fresh
    g = domain.parse("filter(words, min=300.0) | mix(natural) | order=shuffle")
    first = domain.evaluate({"data": g}, budget, {})
    again = domain.evaluate({"data": g}, budget, {})
    assert first.details["control/seconds"] > 0 and again.details["control/seconds"] == 0.0  # cached
    assert first.details["control/eval_loss"] == again.details["control/eval_loss"]
    assert "gain_vs_control" not in domain.evaluate({"data": g}, Budget("isolated", 0.5, seed=1), {}).details


def test_random_filter_keeps_the_fraction_of_bytes_it_is_asked_for(domain):
    from domains.data.control import bucket, random_filter

    docs = domain._all_docs()
    total = docs.nbytes().sum()
    for fraction in (0.05, 0.3, 0.7):
        kept = random_filter(docs, fraction, np.random.default_rng(0))
        assert kept.nbytes().sum() / total == pytest.approx(fraction, abs=0.005)
        assert np.array_equal(kept.kind, random_filter(docs, fraction, np.random.default_rng(0)).kind)
    assert random_filter(docs, 1.0, np.random.default_rng(0)) is docs
    shares = np.bincount(random_filter(docs, 0.5, np.random.default_rng(1)).kind, minlength=len(domain.raw().kinds))
    assert shares[0] > 0 and np.count_nonzero(shares) >= 8  # no preference for any provenance
    assert bucket(1.0, 1.1) == 1.0 and bucket(0.97, 1.1) == 1.0
    assert bucket(0.5, 1.1) == pytest.approx(1.1 ** -7) and bucket(0.5, 1.0) == 0.5
    with pytest.raises(ValueError):
        bucket(0.0, 1.1)


def test_dedup_quality_baseline_removes_the_harmful_junk_of_the_offline_corpus(domain):
    """Provenance makes curation measurable: the baseline must remove most noise, boilerplate, mojibake,
    machine-generated and foreign text while keeping most clean text (measured 2026-11-30: noise 0.0,
    boilerplate 0.05, mojibake 0.22, salad 0.51, generated 0.0, foreign 0.0, clean 0.73). Word salad
    survives more since the natural kinds exist: they rank below it, and each source keeps its best half."""
    from domains.data.pipeline import kept_fractions

    kept, _ = domain.curate(domain.baselines()["dedup_quality"])
    by_kind = kept_fractions(domain._all_docs(), kept, domain.raw().kinds, "kind")
    assert by_kind["clean"] > 0.6
    assert max(by_kind["noise"], by_kind["boilerplate"]) < 0.1
    assert by_kind["mojibake"] < 0.4 and by_kind["salad"] < 0.7
    assert all(not by_kind[k] > 0.1 for k in ("generated", "foreign"))  # NaN where an install has none


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

    def provides(self, resource):
        return resource == "model_fn"

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
