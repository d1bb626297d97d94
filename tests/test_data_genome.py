"""Curation genomes: text and JSON forms, validity, GP operators, descriptors."""
import numpy as np
import pytest

from domains.base import GenomeError, canonical_json, genome_id
from domains.data.baselines import BASELINE_TEXT, baselines
from domains.data.describe import descriptor, features, grammar
from domains.data.genome import (MAX_STEPS, DataGenome, Dedup, Filter, NearDedup, Quality, check, from_json,
                                 to_json)
from domains.data.operators import crossover, from_unit, mutate, sample, to_unit
from domains.data.stats import BY_NAME, STATS
from domains.data.text import parse, to_text

SOURCES = ("docs", "docstrings", "code", "licences")


@pytest.mark.parametrize("name", sorted(BASELINE_TEXT))
def test_baselines_round_trip_and_are_valid(name):
    g = baselines()[name]
    assert to_text(g) == BASELINE_TEXT[name]  # the baselines are written in canonical text
    assert parse(to_text(g)) == g
    assert from_json(to_json(g)) == g
    assert check(g, SOURCES).ok


def test_parse_exact_structure_and_defaults():
    g = parse("filter(words, min=50) > dedup() > minhash(threshold=0.7) > quality(keep=0.3, on=code+docs)"
              " | mix(code=0.5, docs=1) | order=quality")
    assert g == DataGenome(
        steps=(Filter("words", 50.0), Dedup("doc"), NearDedup(0.7, 5, 64),
               Quality(0.3, "words", True, ("code", "docs"))),
        mixture=(("code", 0.5),), order="quality")
    assert parse("none") == DataGenome()
    assert to_text(DataGenome()) == "none | mix(natural) | order=shuffle"


def test_equal_values_share_one_id():
    a = DataGenome((Filter("words", min=50), NearDedup(threshold=1 - 0.2, ngram=5.0)), (("code", 1.0),))
    b = DataGenome((Filter("words", min=50.0), NearDedup(threshold=0.8, ngram=5)))
    assert a == b and genome_id("data", to_json(a)) == genome_id("data", to_json(b))
    assert canonical_json(to_json(DataGenome((Quality(on=("b", "a", "b")),)))) == \
        canonical_json(to_json(DataGenome((Quality(on=("a", "b")),))))


@pytest.mark.parametrize("bad", [
    "", "filter(min=3)", "filter(words, min=3, min=4)", "frobnicate(x=1)", "dedup(unit)",
    "none | mix(code=fast)", "none | colour=red", "filter(words, on=code;docs)",
])
def test_parse_rejects_malformed_text(bad):
    with pytest.raises(GenomeError):
        parse(bad)


@pytest.mark.parametrize("genome, reason", [
    (DataGenome((Filter("nope", 1.0),)), "unknown statistic"),
    (DataGenome((Filter("words"),)), "needs min or max"),
    (DataGenome((Filter("words", 500.0, 10.0),)), "min 500.0 >= max"),
    (DataGenome((Filter("non_ascii", max=2.0),)), "thresholds must lie"),
    (DataGenome((Filter("words", 5.0, on=("web",)),)), "'on' must name sources"),
    (DataGenome((Dedup("line"),)), "unit"),
    (DataGenome((NearDedup(threshold=0.1),)), "threshold"),
    (DataGenome((Quality(keep=0.0),)), "keep"),
    (DataGenome((Quality(features="bert"),)), "features"),
    (DataGenome((Dedup(),) * (MAX_STEPS + 1)), "at most"),
    (DataGenome(mixture=(("web", 2.0),)), "unknown source"),
    (DataGenome(mixture=tuple((s, 0.0) for s in SOURCES)), "every source has weight 0"),
    (DataGenome(order="random"), "order"),
])
def test_check_names_the_problem(genome, reason):
    result = check(genome, SOURCES)
    assert not result.ok and reason in result.reason


def test_operators_keep_genomes_valid_and_round_trippable():
    rng = np.random.default_rng(0)
    population = [sample(rng, SOURCES) for _ in range(60)] + list(baselines().values())
    changed = 0
    for g in population:
        assert check(g, SOURCES).ok, to_text(g)
        child = mutate(g, rng, SOURCES)
        changed += child != g
        mate = population[int(rng.integers(len(population)))]
        for h in (child, crossover(g, mate, rng, SOURCES)):
            assert check(h, SOURCES).ok, to_text(h)
            assert parse(to_text(h)) == h and from_json(to_json(h)) == h
    assert changed == len(population)  # mutation always changes the genome


def test_crossover_splices_steps_of_both_parents():
    rng = np.random.default_rng(3)
    a = parse("filter(words, min=10.0) > dedup(unit=doc) | mix(code=2.0) | order=shuffle")
    b = parse("minhash(threshold=0.6, ngram=3, perms=32) > quality(keep=0.4, features=ngram, per_source=false, on=all)"
              " | mix(docs=0.5) | order=quality")
    children = [crossover(a, b, rng, SOURCES) for _ in range(40)]
    for c in children:
        i = next((k for k, s in enumerate(c.steps) if s not in a.steps), len(c.steps))
        assert c.steps[:i] == a.steps[:i] and all(s in b.steps for s in c.steps[i:])
        assert c.weight("code") in (1.0, 2.0) and c.weight("docs") in (0.5, 1.0)
    assert {c.order for c in children} == {"shuffle", "quality"}


def test_threshold_scale_round_trips():
    for stat in STATS:
        lo, hi = stat.typical
        mid = from_unit(stat, 0.5)
        assert lo <= mid <= hi
        assert to_unit(stat, mid) == pytest.approx(0.5, abs=0.01)
    assert from_unit(BY_NAME["words"], 0.0) == 10.0 and from_unit(BY_NAME["words"], 1.0) == 3000.0


def test_descriptor_and_features_are_fixed_length_and_meaningful():
    gs = list(baselines().values()) + [sample(np.random.default_rng(s), SOURCES) for s in range(10)]
    lengths = {descriptor(g, SOURCES).shape for g in gs}
    assert lengths == {(2 * len(STATS) + 8 + len(SOURCES),)}
    assert all(np.all(np.isfinite(descriptor(g, SOURCES))) for g in gs)
    assert not descriptor(DataGenome(), SOURCES).any()
    f = features(baselines()["dedup_quality"], SOURCES)
    assert f["has_exact_dedup"] == 1.0 and f["has_near_dedup"] == 1.0 and f["quality_keep"] == 0.5
    assert f["dedup_before_quality"] == 1.0 and f["n_filters"] == 0.0 and f["mix_code"] == 1.0
    assert len({frozenset(features(g, SOURCES)) for g in gs}) == 1
    text = grammar(SOURCES)
    assert all(s.name in text for s in STATS) and "minhash(" in text and "licences" in text
