"""RL genome: forms, baselines, validity, GP operators, descriptors, grammar, IQM."""
from __future__ import annotations

import json

import numpy as np
import pytest

import domains  # noqa: F401  (XLA flags before JAX starts)
from domains.base import Domain, GenomeError, canonical_json
from domains.rl import RLDomain, RLGenome
from domains.rl import genome as G
from domains.rl.evaluate import iqm
from domains.rl.ops import OPS
from domains.rl.ops import INPUT_NAMES


@pytest.fixture(scope="module")
def dom() -> RLDomain:
    return RLDomain({})


def _samples(dom: RLDomain, n: int, seed: int = 0) -> list[RLGenome]:
    rng = np.random.default_rng(seed)
    return [dom.sample(rng) for _ in range(n)]


def test_satisfies_the_domain_protocol(dom):
    assert isinstance(dom, Domain)
    assert (dom.name, dom.reference) == ("rl", "ppo_clip")
    assert set(dom.baselines()) == {"ppo_clip", "a2c", "ppo_kl", "grpo"}
    with pytest.raises(KeyError):
        dom.provide("sequence_block", dom.baselines()["a2c"])


def test_ppo_clip_text_form_is_exact(dom):
    assert dom.to_text(dom.baselines()["ppo_clip"]) == "\n".join(
        [
            "objective = neg(min(mul(ratio, nadv), mul(clip(ratio, 0.8, 1.2), nadv)))",
            "gae_lambda = 0.95",
            "adv_norm = minibatch",
            "value_loss = clipped",
            "vf_coef = 0.5",
            "ent_coef = 0.01",
            "epochs = 4",
            "minibatches = 4",
            "lr = 0.004",
        ]
    )


def test_forms_round_trip_for_baselines_and_samples(dom):
    for g in [*dom.baselines().values(), *_samples(dom, 60)]:
        assert dom.parse(dom.to_text(g)) == g
        data = json.loads(canonical_json(dom.to_json(g)))  # survives real JSON
        assert dom.from_json(data) == g


def test_grpo_baseline_is_group_relative_and_critic_free_in_both_forms(dom):
    g = dom.baselines()["grpo"]
    text = dom.to_text(g)
    assert "objective = add(neg(min(mul(ratio, gadv), mul(clip(ratio, 0.8, 1.2), gadv))), mul(0.04, kl))" in text
    assert (g.gae_lambda, g.vf_coef) == (1.0, 0.0)
    assert dom.parse(text) == g and dom.from_json(json.loads(canonical_json(dom.to_json(g)))) == g
    assert dom.check(g).ok and dom.features(g)["reads_gadv"] == 2


def test_mutation_reaches_the_group_relative_advantage(dom):
    """From PPO-clip (which reads nadv), GP mutation alone writes gadv into objectives."""
    rng = np.random.default_rng(0)
    ppo = dom.baselines()["ppo_clip"]
    children = [dom.mutate(ppo, rng) for _ in range(300)]
    assert any("gadv" in G.to_text(c) for c in children)


def test_text_form_tolerates_order_comments_and_blank_lines(dom):
    lines = dom.to_text(dom.baselines()["a2c"]).splitlines()
    text = "# a2c, shuffled\n\n" + "\n".join(reversed(lines)) + "  # trailing comment\n"
    assert dom.parse(text) == dom.baselines()["a2c"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("lr = 0.004", "lr = 0.5"), "lr = 0.5 outside"),
        (lambda t: t.replace("minibatches = 4", "minibatches = 3"), "minibatches must be one of"),
        (lambda t: t.replace("adv_norm = minibatch", "adv_norm = global"), "adv_norm must be one of"),
        (lambda t: t.replace("epochs = 4", "epochs = four"), "epochs: cannot read"),
        (lambda t: t.replace("epochs = 4\n", ""), "missing keys: epochs"),
        (lambda t: t + "\nclip_eps = 0.2", "unknown key 'clip_eps'"),
        (lambda t: t + "\nlr = 0.001", "duplicate key 'lr'"),
        (lambda t: t.replace("objective = ", "objective: "), "expected 'key = value'"),
        (lambda t: t.replace("neg(", "negate("), "unknown operator 'negate'"),
    ],
)
def test_bad_text_fails_with_the_reason(dom, edit, message):
    with pytest.raises(GenomeError, match=message):
        dom.parse(edit(dom.to_text(dom.baselines()["ppo_clip"])))


def test_check_rejects_what_cannot_train(dom):
    ok = dom.baselines()["ppo_clip"]
    assert dom.check(ok).ok
    too_big = G.make("add(" * 20 + "ratio" + ", adv)" * 20)
    assert "nodes (limit 32)" in dom.check(too_big).reason
    no_grad = G.make("neg(mul(sg(ratio), nadv))")
    assert "no gradient reaches the policy" in dom.check(no_grad).reason


def test_operators_return_valid_new_genomes(dom):
    rng = np.random.default_rng(1)
    pop = list(dom.baselines().values()) + _samples(dom, 10, seed=2)
    changed = 0
    for _ in range(200):
        a, b = pop[int(rng.integers(len(pop)))], pop[int(rng.integers(len(pop)))]
        child = dom.mutate(dom.crossover(a, b, rng), rng)
        assert dom.check(child).ok, dom.to_text(child)
        changed += child not in (a, b)
    assert changed > 150


def test_gene_mutation_stays_in_range():
    rng = np.random.default_rng(3)
    g = G.baselines()["ppo_clip"]
    for _ in range(300):
        g = G.mutate_gene(g, rng)
        G.validate(g)


def test_samples_mix_fresh_trees_and_mutated_baselines(dom):
    ppo_like = sum(g.objective.op in ("neg", "sub") for g in _samples(dom, 40, seed=4))
    assert 5 < ppo_like < 40
    assert len({dom.to_text(g) for g in _samples(dom, 40, seed=4)}) > 30


def test_descriptor_is_fixed_length_and_tracks_structure(dom):
    gs = [*dom.baselines().values(), *_samples(dom, 20)]
    lengths = {dom.descriptor(g).shape for g in gs}
    assert lengths == {(len(dom.features(gs[0])),)}
    f = dom.features(dom.baselines()["ppo_clip"])
    assert (f["size"], f["uses_clip"], f["reads_ratio"], f["clips_ratio"], f["adv_norm_minibatch"]) == (11, 1, 2, 1, 1)
    assert f["log10_lr"] == pytest.approx(np.log10(4e-3))


def test_grammar_lists_every_input_operator_and_baseline(dom):
    text = dom.grammar()
    for name in [*INPUT_NAMES, *OPS]:
        assert f"  {name}" in text, name
    for g in dom.baselines().values():
        assert dom.to_text(g) in text


@pytest.mark.parametrize(
    "values, expected",
    [([1.0, 2.0, 3.0, 100.0], 2.5), ([5.0], 5.0), ([0.0, 1.0], 0.5), ([1, 2, 3, 4, 5, 6, 7, 8], 4.5), ([-9, 0, 1, 2, 50], 1.0)],
)
def test_iqm(values, expected):
    assert iqm(np.asarray(values)) == pytest.approx(expected)


def test_settings_reject_unknown_keys_and_envs():
    with pytest.raises(ValueError, match="unknown rl setting 'seedz'; valid: .*seeds"):
        RLDomain({"seedz": 3})
    with pytest.raises(KeyError, match="unknown environment"):
        RLDomain({"envs": ["Pong-v0"]})
    assert RLDomain({"plugin": "rl", "scale": "tiny", "device": "cpu"}).settings.scale == "tiny"
