"""The test-only numeric domain honours the Domain protocol (round trips, bounds, operators)."""
import numpy as np
import pytest

from domains.base import Budget, Domain, GenomeError, genome_id
from numeric_domain import NumericConfig, NumericDomain, Vector


@pytest.fixture
def dom():
    return NumericDomain(NumericConfig.tiny())


def test_is_a_domain(dom):
    assert isinstance(dom, Domain)
    assert dom.reference in dom.baselines()


def test_forms_round_trip(dom):
    rng = np.random.default_rng(0)
    for _ in range(20):
        g = dom.sample(rng)
        assert dom.from_json(dom.to_json(g)) == g
        assert dom.parse(dom.to_text(g)) == g
        assert genome_id("numeric", dom.to_json(g)) == genome_id("numeric", dom.to_json(dom.parse(dom.to_text(g))))


@pytest.mark.parametrize("text", ["x = [0.1, 0.2]", "y = [0,0,0,0,0]", "x = [0, 0, 0, 0, 2]", "x = [a, 0, 0, 0, 0]",
                                  "x = [nan, 0, 0, 0, 0]", "__import__('os')"])
def test_parse_rejects_malformed(dom, text):
    with pytest.raises(GenomeError):
        dom.parse(text)


def test_operators_stay_in_bounds_and_are_seeded(dom):
    rng = np.random.default_rng(1)
    a, b = dom.sample(rng), dom.sample(rng)
    kids = [dom.mutate(dom.crossover(a, b, rng), rng) for _ in range(200)]
    assert all(dom.check(k).ok for k in kids)
    assert len(set(kids)) > 150  # operators actually vary the genome
    again = np.random.default_rng(1)
    a2, b2 = dom.sample(again), dom.sample(again)
    assert dom.mutate(dom.crossover(a2, b2, again), again) == kids[0]


def test_mutation_changes_about_one_variable_in_n(dom):
    rng = np.random.default_rng(2)
    g = dom.sample(rng)
    changed = np.mean([np.sum(dom.mutate(g, rng).array != g.array) for _ in range(2000)])
    assert 0.8 < changed < 1.2  # per-variable probability 1/n_var


def test_evaluate_maps_zdt_objectives(dom):
    g = Vector((0.25, 0.0, 0.0, 0.0, 0.0))  # on the ZDT1 front: f1 = 0.25, g = 1, f2 = 1 - sqrt(0.25)
    m = dom.evaluate({"numeric": g}, Budget("isolated", 0.1), {})
    assert m.details == pytest.approx({"f1": 0.25, "f2": 0.5})
    assert m.score == pytest.approx(-0.5) and m.cost["seconds"] == pytest.approx(0.25)
    np.testing.assert_array_equal(dom.descriptor(g), g.array)
