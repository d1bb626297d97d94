"""Exporting an architecture genome to PyTorch: the torch LM loads the Flax proxy's weights and gives the
same logits (float32, CPU), for every node and expression op of the arch grammar; the CLI and the
Hugging Face wrapper round-trip."""
import proxies  # noqa: F401  (sets XLA_FLAGS before jax starts)

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from domains.arch import ArchDomain
from domains.arch import compile as comp
from domains.arch import expr as ex
from domains.arch import genome as gn
from domains.arch import text, torch_export
from domains.arch.baselines import BASELINE_TEXT
from evolve import export as cli
from evolve.knowledge import KnowledgeBase

D, LAYERS, VOCAB, T = 32, 1, 50, 40  # T > chunk 16: chunk boundaries are crossed
# These four cover every node: attn (with RoPE; with a window and without RoPE), linattn, gla, delta (with
# and without decay), conv, par, mlp, glu, output gates, rms and layer norms, tied and untied heads.
HYBRIDS = {
    "hybrid_par_gate_untied": "rms > par(gla(heads=4, feature_map=identity(x), decay=sub(x, 4.0)), "
                              "delta(heads=2, feature_map=silu(x), decay=none), conv(kernel=3)) > gate(sigmoid(x)) ; "
                              "layer > glu(expansion=2.0, activation=silu(x)) | tied=false",
    "window_linattn": "layer > attn(heads=2, window=16, rope=false) ; rms > linattn(heads=8, feature_map=relu2(x)) ; "
                      "rms > mlp(expansion=1.5, activation=max(softplus(x), logsigmoid(x))) | tied=true",
}
GENOMES = {"transformer": BASELINE_TEXT["transformer"], "gated_deltanet": BASELINE_TEXT["gated_deltanet"], **HYBRIDS}


def _perturbed(model: nnx.Module, seed: int) -> nnx.Module:
    """Every parameter moved off its initial value (norm scales, head scales and hybrid weights included),
    as training would."""
    state = nnx.state(model, nnx.Param)
    leaves, tree = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    moved = [x + 0.1 * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
    nnx.update(model, jax.tree.unflatten(tree, moved))
    return model


@pytest.mark.slow  # compiles four Flax models (the delta rule's is slow to compile)
@pytest.mark.parametrize("name", sorted(GENOMES))
def test_torch_lm_reproduces_the_flax_proxy_logits(name):
    g = text.parse(GENOMES[name])
    flax_lm = _perturbed(comp.model_fn(g, comp.Width(D, LAYERS, chunk=16), vocab_size=VOCAB, max_len=T)(nnx.Rngs(1)), 2)
    torch_lm = torch_export.from_flax(g, flax_lm, d_model=D, n_layers=LAYERS, vocab_size=VOCAB, max_len=T, chunk=16)
    assert torch_export.parity(flax_lm, torch_lm, vocab_size=VOCAB, seq_len=T, seed=3) < 1e-4
    # another chunk length in torch changes only the speed, not the function
    other = torch_export.from_flax(g, flax_lm, d_model=D, n_layers=LAYERS, vocab_size=VOCAB, max_len=T, chunk=7)
    assert torch_export.parity(flax_lm, other, vocab_size=VOCAB, seq_len=T, seed=3) < 1e-4


def test_every_expression_op_has_the_same_values_in_torch():
    assert set(torch_export.unary_ops()) == set(ex.UNARY_OPS)
    assert set(torch_export.binary_ops()) == set(ex.BINARY_OPS)
    x = np.linspace(-6, 6, 101, dtype=np.float32)
    trees = [ex.unary(op) for op in ex.UNARY_OPS] + [ex.binary(op, ex.unary("tanh"), ex.const(0.5)) for op in ex.BINARY_OPS]
    trees += [ex.unary("exp", ex.const(-1.0))]  # a constant leaf
    for e in trees:
        want = np.asarray(ex.compile_expr(e)(jnp.asarray(x)))
        got = torch_export.compile_expr(e)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=ex.to_text(e))
    decay = ex.parse("sub(x, 4.0)")
    np.testing.assert_allclose(torch_export.compile_decay(decay)(torch.from_numpy(x)).numpy(),
                               np.asarray(ex.compile_decay(decay)(jnp.asarray(x))), rtol=1e-5, atol=1e-6)


def test_a_flax_state_that_does_not_fit_is_refused_with_the_keys_named():
    g = text.parse(BASELINE_TEXT["transformer"])
    flax_lm = comp.model_fn(g, comp.Width(D, 1), vocab_size=VOCAB, max_len=T)(nnx.Rngs(0))
    other = torch_export.build_lm(text.parse(BASELINE_TEXT["gla"]), d_model=D, n_layers=1, vocab_size=VOCAB, max_len=T)
    with pytest.raises(ValueError, match="torch params left unset"):
        torch_export.torch_state_from_flax(torch_export.flax_param_state(flax_lm), other)


def test_unknown_nodes_and_targets_fail_clearly():
    with pytest.raises(NotImplementedError, match="supports attn"):
        torch_export.build_mixer(object(), D, 16)
    with pytest.raises(ValueError, match="'torch' only"):
        ArchDomain().export(text.parse(BASELINE_TEXT["transformer"]), to="onnx", out="unused")


@pytest.mark.slow
def test_cli_exports_a_genome_text_that_loads_back_in_torch_and_transformers(tmp_path, capsys):
    genome = "rms > conv(kernel=3) > gate(sigmoid(x)) ; layer > glu(expansion=2.0, activation=silu(x)) | tied=false"
    assert cli.main([genome, "--to", "torch", "--out", str(tmp_path / "out")]) == 0
    spec = json.loads((tmp_path / "out" / "config.json").read_text())
    assert spec["parity_max_rel_logit_diff"] < 1e-4 and spec["genome_text"] == text.to_text(text.parse(genome))
    model = torch_export.load(tmp_path / "out")
    tokens = torch.randint(0, spec["vocab_size"], (2, spec["max_len"]))
    from transformers import AutoModelForCausalLM

    from domains.arch import torch_hf  # noqa: F401  (registers the evolve_arch model type)

    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "hf")
    with torch.no_grad():
        want = model(tokens)
        out = hf(input_ids=tokens, labels=tokens)
    torch.testing.assert_close(out.logits, want)
    assert torch.isfinite(out.loss)
    assert cli.main(["rms > nosuch(heads=4) | tied=true", "--out", str(tmp_path / "bad")]) == 2
    assert "unknown" in capsys.readouterr().err and not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_cli_exports_a_run_directory_incumbent_at_the_run_scale(tmp_path):
    """A run directory: the config and the genome come from its knowledge base and summary.json."""
    dom = ArchDomain()
    g = text.parse(BASELINE_TEXT["transformer"])
    gid = "abc123def4567890"
    run = tmp_path / "run"
    kb = KnowledgeBase(run / "knowledge.db", "evolve").open()
    raw = {"plugin": "arch", "scales": {"tiny": {"d_model": 32, "n_layers": 1, "chunk": 16, "max_params": 400000,
                                                 "lm": {"seq_len": 48}}}}
    kb.set_meta("config", {"domains": {"arch": raw}, "scale": {"name": "tiny", "device": "cpu"}})
    with kb.transaction() as db:
        kb.add_genome(db, gid=gid, domain="arch", genome_json=dom.to_json(g), text=dom.to_text(g), origin="baseline",
                      parents=(), cycle=0)
    kb.close()
    (run / "summary.json").write_text(json.dumps({"incumbents": {"arch": gid}}))
    assert cli.main([str(run)]) == 0
    spec = json.loads((run / "export" / f"{gid}-torch" / "config.json").read_text())
    assert (spec["d_model"], spec["n_layers"], spec["max_len"]) == (32, 1, 48)
    assert gn.from_json(spec["genome"]) == g
    assert cli.main([str(run), "--genome", "zz"]) == 2  # an unknown id is refused
