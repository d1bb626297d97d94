"""GP operators: bounds, types, determinism; descriptors and features."""
import domains  # noqa: F401

import numpy as np

from domains.arch import ArchDomain
from domains.arch import genome as G
from domains.arch.describe import DESCRIPTOR_NAMES
from domains.arch.operators import expr_sites, get_expr, mixer_sites, get_mixer

DOMAIN = ArchDomain({"max_sublayers": 4, "max_branches": 2, "expr_depth": 3, "expr_size": 6})


def _walk(rng, n=200):
    pop = list(DOMAIN.baselines().values())
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.2:
            g = DOMAIN.sample(rng)
        elif r < 0.7:
            g = DOMAIN.mutate(pop[rng.integers(len(pop))], rng)
        else:
            g = DOMAIN.crossover(pop[rng.integers(len(pop))], pop[rng.integers(len(pop))], rng)
        pop.append(g)
        out.append(g)
    return out


def test_operators_stay_in_bounds_and_typed():
    for g in _walk(np.random.default_rng(1)):
        G.validate(g, DOMAIN.bounds)  # raises on any violation
        assert 1 <= len(g.layers) <= 4
        for site in mixer_sites(g):
            m = get_mixer(g, site)
            if isinstance(m, G.Parallel):
                assert 2 <= len(m.branches) <= 2
        for site in expr_sites(g):
            e = get_expr(g, site)
            from domains.arch import expr as ex
            assert ex.depth(e) <= 3 and ex.size(e) <= 6


def test_operators_are_pure_and_seeded():
    base = DOMAIN.baselines()["gla"]
    a = [DOMAIN.mutate(base, np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1] and a[0] != base
    assert DOMAIN.baselines()["gla"] == base  # input untouched (frozen)
    x = DOMAIN.crossover(base, DOMAIN.baselines()["deltanet"], np.random.default_rng(3))
    y = DOMAIN.crossover(base, DOMAIN.baselines()["deltanet"], np.random.default_rng(3))
    assert x == y
    assert _walk(np.random.default_rng(5), 30) == _walk(np.random.default_rng(5), 30)


def test_mutation_explores_every_mixer_kind():
    rng = np.random.default_rng(0)
    g = DOMAIN.baselines()["transformer"]
    kinds = set()
    for _ in range(300):
        g = DOMAIN.mutate(g, rng)
        kinds |= {type(get_mixer(g, s)).__name__ for s in mixer_sites(g)}
    assert kinds == {"Attention", "LinearAttention", "GatedLinearAttention", "DeltaRule", "ShortConv", "Parallel",
                     "MLP", "GLU"}


def test_crossover_only_recombines_parent_material():
    from domains.arch.describe import DESCRIPTOR_NAMES as names
    a, b = DOMAIN.baselines()["transformer"], DOMAIN.baselines()["gated_deltanet"]
    da, db = DOMAIN.descriptor(a), DOMAIN.descriptor(b)
    present = {n for n, x, y in zip(names, da, db) if (x > 0 or y > 0) and (n.startswith("n_") or n.startswith("op_"))}
    children = {DOMAIN.crossover(a, b, np.random.default_rng(s)) for s in range(40)}
    assert len(children) > 5
    for c in children:
        used = {n for n, x in zip(names, DOMAIN.descriptor(c)) if x > 0 and (n.startswith("n_") or n.startswith("op_"))}
        assert used <= present | {"n_sublayers", "n_token_mixers", "n_channel_mixers"}


def test_descriptor_fixed_length_and_values():
    rng = np.random.default_rng(2)
    lengths = {len(DOMAIN.descriptor(g)) for g in _walk(rng, 100)}
    assert lengths == {len(DESCRIPTOR_NAMES)}
    d = dict(zip(DESCRIPTOR_NAMES, DOMAIN.descriptor(DOMAIN.baselines()["gated_deltanet"])))
    assert d["n_gated_delta"] == 1 and d["n_delta"] == 0 and d["n_mlp"] == 1
    assert d["op_silu"] == 1 and d["op_sub"] == 1 and d["op_gelu"] == 1 and d["op_x"] == 3 and d["op_const"] == 1
    assert d["n_sublayers"] == 2 and d["mean_log2_heads"] == 2.0 and d["mean_expansion"] == 4.0


def test_features():
    b = DOMAIN.baselines()
    f = {name: DOMAIN.features(g) for name, g in b.items()}
    assert f["transformer"]["has_softmax_attention"] == 1 and f["transformer"]["has_data_dependent_decay"] == 0
    assert f["gla"]["has_data_dependent_decay"] == 1 and f["gla"]["uses_delta_rule"] == 0
    assert f["deltanet"]["uses_delta_rule"] == 1 and f["deltanet"]["has_data_dependent_decay"] == 0
    assert f["gated_deltanet"]["has_data_dependent_decay"] == 1
    assert f["linear_attention"]["positive_feature_map"] == 1
    assert len({tuple(sorted(v)) for v in f.values()}) == 1  # same names for every genome
    hybrid = DOMAIN.parse("rms > par(attn(window=64), conv(kernel=4)) > gate(sigmoid(x)) ; rms > glu()")
    fh = DOMAIN.features(hybrid)
    assert fh["has_parallel"] == fh["has_sliding_window"] == fh["has_output_gate"] == fh["uses_glu"] == 1
    assert fh["has_full_attention"] == 0 and fh["n_sublayers"] == 2
