"""Architecture genome forms: JSON and text round trips, strict decoding, the static check."""
import domains  # noqa: F401

import json

import numpy as np
import pytest

from domains.arch import ArchDomain
from domains.arch import genome as G
from domains.arch.text import parse, to_text
from domains.base import GenomeError, canonical_json

DOMAIN = ArchDomain({"d_model": 64, "n_layers": 2, "max_params": 400_000})


def _population(n: int = 200, seed: int = 0) -> list:
    """Baselines plus a seeded mix of sampled, mutated and crossed genomes."""
    rng = np.random.default_rng(seed)
    pop = list(DOMAIN.baselines().values())
    while len(pop) < n:
        r = rng.random()
        if r < 0.3:
            g = DOMAIN.sample(rng)
        elif r < 0.7:
            g = DOMAIN.mutate(pop[rng.integers(len(pop))], rng)
        else:
            g = DOMAIN.crossover(pop[rng.integers(len(pop))], pop[rng.integers(len(pop))], rng)
        pop.append(g)
    return pop


POPULATION = _population()


def test_baselines_text():
    b = DOMAIN.baselines()
    assert set(b) >= {"transformer", "linear_attention", "gla", "deltanet", "gated_deltanet"}
    assert DOMAIN.reference in b
    assert to_text(b["transformer"]) == (
        "rms > attn(heads=4, window=none, rope=true) ; rms > mlp(expansion=4.0, activation=gelu(x)) | tied=true")


def test_round_trips_over_200_genomes():
    for g in POPULATION:
        js = json.loads(canonical_json(DOMAIN.to_json(g)))  # through real JSON text
        assert DOMAIN.from_json(js) == g
        assert DOMAIN.parse(DOMAIN.to_text(g)) == g
        assert canonical_json(DOMAIN.to_json(DOMAIN.parse(DOMAIN.to_text(g)))) == canonical_json(DOMAIN.to_json(g))


def test_every_json_node_has_a_type():
    def walk(node):
        if isinstance(node, dict):
            assert "type" in node
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    for g in POPULATION[:50]:
        walk(DOMAIN.to_json(g))


def test_parse_accepts_defaults_and_whitespace():
    g = parse("rms>attn( heads=2 )  ;  layer > glu()")
    assert g == G.ArchGenome((G.Sublayer("rms", G.Attention(heads=2)), G.Sublayer("layer", G.GLU())), tied=True)
    assert parse("rms > conv(kernel=4) > gate(sigmoid(x)) | tied=false").layers[0].gate is not None


@pytest.mark.parametrize("text, message", [
    ("rms > attn(heads=3)", "heads must be one of"),
    ("rms > attention(heads=4)", "unknown mixer"),
    ("rms > attn(heads=4, colour=red)", "no field 'colour'"),
    ("batch > attn(heads=4)", "norm must be one of"),
    ("rms > gla(decay=none)", "unknown input 'none'"),
    ("rms > par(attn(heads=4))", "at least 2 branches"),
    ("rms > par(attn(), par(conv(), conv()))", "non-parallel"),
    ("rms > attn() | depth=3", "unknown global gene"),
    ("rms > attn() > relu(x)", "gate"),
    ("rms > mlp(expansion=3.3)", "expansion must be one of"),
    ("", "empty"),
])
def test_parse_rejects(text, message):
    with pytest.raises(GenomeError, match=message):
        parse(text)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(extra=1), "unknown field"),
    (lambda d: d["layers"][0]["mixer"].update(type="transformer"), "unknown mixer type"),
    (lambda d: d["layers"][0]["mixer"].update(heads=True), "heads must be one of"),
    (lambda d: d["layers"][0]["mixer"].update(heads=4.5), "heads must be one of"),
    (lambda d: d["layers"][0].update(mixer={"type": "attn", "oops": 1}), "unknown field"),
    (lambda d: d["layers"][1]["mixer"].update(activation={"type": "unary", "op": "system", "arg": {"type": "var"}}),
     "unknown unary op"),
    (lambda d: d.update(layers=[]), "non-empty"),
    (lambda d: d["layers"][1]["mixer"].update(activation=None), "may not be null"),
])
def test_from_json_rejects(mutate, message):
    d = DOMAIN.to_json(DOMAIN.baselines()["transformer"])
    mutate(d)
    with pytest.raises(GenomeError, match=message):
        DOMAIN.from_json(d)


def test_integral_float_heads_are_canonicalised():
    d = DOMAIN.to_json(DOMAIN.baselines()["transformer"])
    d["layers"][0]["mixer"]["heads"] = 4.0
    assert DOMAIN.from_json(d) == DOMAIN.baselines()["transformer"]


def test_static_check():
    b = DOMAIN.baselines()
    assert all(DOMAIN.check(g).ok for g in b.values())
    big = DOMAIN.parse(" ; ".join(["rms > attn(heads=4) ; rms > mlp(expansion=4.0)"] * 3))
    assert DOMAIN.n_params(big) == 312_128 and DOMAIN.check(big).ok
    res = ArchDomain({"d_model": 64, "n_layers": 2, "max_params": 300_000}).check(big)
    assert not res.ok and "exceed the budget" in res.reason
    no_token = G.ArchGenome((G.Sublayer("rms", G.MLP()),))
    assert "token mixer" in DOMAIN.check(no_token).reason
    too_many = G.ArchGenome(tuple(G.Sublayer("rms", G.ShortConv()) for _ in range(7)))
    assert "1..6 sublayers" in DOMAIN.check(too_many).reason
    deep = DOMAIN.parse("rms > linattn(feature_map=exp(exp(exp(exp(x)))))")
    assert "depth 5" in DOMAIN.check(deep).reason
    assert not DOMAIN.check("rms > attn()").ok


def test_grammar_mentions_every_construct():
    text = DOMAIN.grammar()
    for word in ["attn(", "linattn(", "gla(", "delta(", "conv(", "par(", "mlp(", "glu(", "gate(", "tied=",
                 "elu1", "sigmoid", "400,000"]:
        assert word in text
    for line in text.splitlines():
        if line.strip().startswith("rms >"):
            assert DOMAIN.check(DOMAIN.parse(line.strip())).ok
