"""Evaluation: score formula, curve features, corpus choice, failures as EvaluationError, one real run."""
import domains  # noqa: F401

import math

import numpy as np
import pytest

from domains.arch import ArchDomain
from domains.arch import evaluate as ev
from domains.base import Budget, EvaluationError, Metrics
from proxies.corpus import TokenCorpus

TINY = {"compile_cache": False, "d_model": 32, "n_layers": 1, "check_seq_len": 40, "chunk": 16, "min_steps": 4, "min_recall_steps": 4,
        "recall_skip_below_steps": 0,  # the miniature probe runs at every stage (its 8 steps are below tiny's 40)
        "lm": {"seq_len": 32, "batch_size": 4, "steps": 8, "eval_batches": 1},
        "recall": {"vocab_size": 16, "seq_len": 16, "num_pairs": 2, "batch_size": 4, "steps": 8, "eval_batches": 1}}


class FakeData:
    """A data partner that hands out a synthetic corpus and records the request."""

    def __init__(self):
        self.calls = []

    def provides(self, resource):
        return resource == "corpus"

    def provide(self, resource, genome, *, seed, budget=None):
        self.calls.append((resource, genome, seed, budget))
        rng = np.random.default_rng(seed)
        return TokenCorpus(train=rng.integers(0, 256, 4000).astype(np.int32),
                           heldout={"a": rng.integers(0, 256, 400).astype(np.int32)},
                           details={"kept_fraction": 0.5})


def test_score_and_normalise():
    assert ev.score({"a": 2.0, "b": 3.0}, 0.25, 1.0) == pytest.approx(-2.25)
    assert ev.score({"a": 2.0}, 0.5, 0.0) == -2.0
    assert ArchDomain({}).normalise(-2.0, -2.5) == pytest.approx(0.5)


def test_curve_shape():
    losses = np.concatenate([np.full(10, 4.0), np.full(10, 3.0), np.full(20, 2.0)])
    # the mean of the 10% of steps before 25/50/100% of training, over the first 10%
    assert ev.curve_shape(losses) == pytest.approx([1.0, 0.75, 0.5])


def test_scaled_steps():
    assert ev.scaled_steps(100, 0.15, 10) == 15
    assert ev.scaled_steps(100, 0.01, 10) == 10
    assert ev.lm_config(ArchDomain({"lm": {"steps": 200}}).cfg, 0.4).steps == 80


def test_the_probe_runs_only_from_its_step_threshold():
    """tiny: 15 MQAR steps at the isolated stage and 40 at cross (below 60: skipped), 100 at full (run)."""
    cfg = ArchDomain({}).cfg
    assert cfg["recall_skip_below_steps"] == 60
    assert [ev.runs_recall(cfg, f) for f in (0.15, 0.4, 0.59, 0.6, 1.0)] == [False, False, False, True, True]
    assert all(ev.runs_recall({**cfg, "recall_skip_below_steps": 0}, f) for f in (0.01, 0.15, 1.0))
    assert not ev.runs_recall({**cfg, "recall_weight": 0.0}, 1.0)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "40"])
def test_a_bad_recall_threshold_fails_clearly(bad):
    from domains.settings import SettingsError

    with pytest.raises(SettingsError, match="recall_skip_below_steps must be an integer >= 0"):
        ArchDomain({"recall_skip_below_steps": bad})


def test_a_stage_below_the_threshold_scores_the_lm_alone(monkeypatch):
    """The trainers are replaced at evaluate's boundary: which ones run, and what score and details say."""
    from domains.base import CheckResult

    trained = []
    lm_out = {"eval_loss": {"a": 2.0, "b": 3.0}, "train_loss": np.linspace(5.0, 2.5, 15), "steps": 15,
              "compile_seconds": 1.0, "train_seconds": 1.0, "params": 1.0, "flops_per_token": 1.0,
              "flops_per_token_6n": 1.0, "tokens_per_second": 1.0}
    monkeypatch.setattr(ev, "checked_once", lambda g, cfg: CheckResult.passed())
    monkeypatch.setattr(ev, "train_lm", lambda g, cfg, corpus, fraction, key: trained.append("lm") or lm_out)
    monkeypatch.setattr(ev, "train_recall", lambda g, cfg, fraction, key: trained.append("recall") or {
        "accuracy": 0.5, "loss": np.ones(60), "steps": 60, "compile_seconds": 2.0, "train_seconds": 3.0})
    dom = ArchDomain({"compile_cache": False})
    g = dom.baselines()["transformer"]
    isolated = ev.evaluate(g, dom.cfg, Budget("isolated", 0.15, seed=0), None)
    assert trained == ["lm"] and isolated.score == pytest.approx(-2.5)
    assert isolated.details["recall_steps"] == 0 and "recall_accuracy" not in isolated.details
    assert isolated.behaviour[-1] == 0.0 and "recall_loss" not in isolated.curves
    ran = ev.evaluate(g, dom.cfg, Budget("full", 0.6, seed=0), None)  # 60 MQAR steps: at the threshold
    assert trained == ["lm", "lm", "recall"] and ran.score == pytest.approx(-2.5 + 0.4 * 0.5)
    assert ran.details["recall_steps"] == 60 and ran.details["recall_accuracy"] == 0.5
    assert ran.details["compile_seconds"] == 3.0 and ran.cost["seconds"] == 4.0 and ran.behaviour[-1] == 0.5


def test_corpus_choice():
    dom = ArchDomain({})
    data = FakeData()
    c = ev.corpus_for({"arch": "g", "data": "d"}, Budget("full", 1.0, seed=3), {"data": data}, dom.cfg)
    # drawn at the full stage's token budget whatever the stage: 100 steps x 16 x 128 tokens, + 1
    assert data.calls == [("corpus", "d", 3, 100 * 16 * 128 + 1)] and c.details == {"kept_fraction": 0.5}
    ev.corpus_for({"arch": "g", "data": "d"}, Budget("isolated", 0.15, seed=3), {"data": data}, dom.cfg)
    assert data.calls[1] == data.calls[0]
    default = ev.corpus_for({"arch": "g"}, Budget("full", 1.0, seed=0), {}, dom.cfg)
    assert default.vocab_size == 256 and set(default.heldout) and default.train.dtype == np.int32


def test_nan_genome_is_a_failed_evaluation():
    dom = ArchDomain(TINY)
    g = dom.parse("rms > linattn(heads=2, feature_map=exp(exp(exp(x)))) ; rms > mlp()")
    assert dom.check(g).ok  # statically fine: only running it shows the blow-up
    with pytest.raises(EvaluationError, match="non-finite"):
        dom.evaluate({"arch": g}, Budget("isolated", 0.15, seed=0), {"data": FakeData()})


def test_static_failure_is_a_failed_evaluation():
    dom = ArchDomain({**TINY, "max_params": 1000})
    with pytest.raises(EvaluationError, match="exceed the budget"):
        dom.evaluate({"arch": dom.baselines()["transformer"]}, Budget("isolated", 0.15), {})


def test_divergence_reports_the_step(monkeypatch):
    from proxies import lm

    def fake_measure(cfg, make, train, heldout, key, **_):
        return {"diverged": True, "train_loss": np.array([3.0, 2.5, np.nan, np.nan])}
    monkeypatch.setattr(lm, "measure", fake_measure)
    dom = ArchDomain(TINY)
    with pytest.raises(EvaluationError, match="non-finite loss at step 2"):
        ev.train_lm(dom.baselines()["transformer"], dom.cfg, FakeData().provide("corpus", None, seed=0), 1.0, None)


@pytest.mark.slow
def test_transformer_evaluation_returns_finite_metrics():
    dom = ArchDomain(TINY)
    data = FakeData()
    m = dom.evaluate({"arch": dom.baselines()["transformer"], "data": "d"}, Budget("full", 1.0, seed=1),
                     {"data": data})
    assert isinstance(m, Metrics) and math.isfinite(m.score)
    assert data.calls == [("corpus", "d", 1, 8 * 4 * 32 + 1)]
    assert m.details["lm_steps"] == 8 and m.details["recall_steps"] == 8
    assert m.score == pytest.approx(-m.details["eval_loss"] + dom.cfg["recall_weight"] * m.details["recall_accuracy"])
    assert set(m.cost) == {"seconds", "params", "flops_per_token", "tokens_per_second"}
    assert m.cost["params"] == dom.n_params(dom.baselines()["transformer"])
    assert all(math.isfinite(v) and v > 0 for v in m.cost.values())
    assert len(m.behaviour) == 4 and all(math.isfinite(b) for b in m.behaviour)
    assert 0.0 <= m.details["recall_accuracy"] <= 1.0 and "eval_loss/a" in m.details
    assert m.details["corpus/kept_fraction"] == 0.5
    assert len(m.curves["train_loss"]) == 8


def test_yaml_scales_build_the_domain():
    import yaml
    from pathlib import Path

    from domains.arch.domain import ArchSettings
    from domains.settings import as_dict
    from evolve.plugins import build_domain, domain_config

    raw = yaml.safe_load((Path(__file__).parent.parent / "conf/domain/arch.yaml").read_text())["domains"]["arch"]
    tiny = build_domain("arch", domain_config(raw, "tiny", "cpu"))
    assert isinstance(tiny, ArchDomain)
    defaults = as_dict(ArchSettings())
    assert {k: tiny.cfg[k] for k in defaults} == defaults  # the code defaults are the tiny scale
    small = build_domain("arch", domain_config(raw, "small", "gpu"))
    assert small.cfg["d_model"] == 512 and ev.lm_config(small.cfg, 1.0).dtype == "bfloat16"
    ref = small.n_params(small.baselines()["transformer"])
    assert 18e6 < ref < 20e6 and small.check(small.baselines()["gated_deltanet"]).ok


CASCADE_SCRIPT = """
import json, os, sys
import domains, jax
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
from domains.arch import ArchDomain
from domains.base import Budget
dom = ArchDomain(json.loads(sys.argv[2]))
entries = []
for stage, fraction in [("isolated", 0.15), ("cross", 0.4), ("full", 1.0)]:
    m = dom.evaluate({"arch": dom.baselines()["deltanet"]}, Budget(stage, fraction, seed=0), {})
    entries.append([len(os.listdir(sys.argv[1])), m.details["lm_steps"]])
print(json.dumps(entries))
"""


@pytest.mark.slow
def test_a_genome_compiles_once_for_every_stage(tmp_path):
    """Cross and full re-evaluations of a promoted genome add nothing to the compilation cache:
    the step count is a runtime argument of the LM and recall trainers."""
    import json
    import subprocess
    import sys

    cfg = {**TINY, "compile_cache": True, "lm": {**TINY["lm"], "steps": 30}, "recall": {**TINY["recall"], "steps": 30}}
    out = subprocess.run([sys.executable, "-c", CASCADE_SCRIPT, str(tmp_path), json.dumps(cfg)],
                         capture_output=True, text=True, timeout=600, check=True)
    entries = json.loads(out.stdout.strip().splitlines()[-1])
    assert [steps for _, steps in entries] == [4, 12, 30]
    assert entries[0][0] >= 2 and entries[1][0] == entries[0][0] and entries[2][0] == entries[0][0]


@pytest.mark.slow
def test_tiny_recall_probe_ranks_attention_above_linear_attention():
    """At the tiny full stage the MQAR probe separates exact lookup from a bounded state: every seed
    of the Transformer baseline above every seed of linear attention (measured 0.72-0.82 against
    0.32, bench/bench_probes.py)."""
    import jax

    from domains.arch import compile as comp
    from proxies import recall

    dom = ArchDomain({})
    rcfg, w = ev.recall_config(dom.cfg, 1.0), ev.width(dom.cfg)
    keys = jax.random.split(jax.random.key(0), 3)
    acc = {}
    for name in ("transformer", "linear_attention"):
        train = recall.make_train(rcfg, recall.probe_model(rcfg, comp.stack_fn(dom.baselines()[name], w), w.d_model))
        acc[name] = np.asarray(jax.vmap(train, in_axes=(0, None))(keys, rcfg.steps)["metrics"]["accuracy"])
    assert acc["transformer"].min() > acc["linear_attention"].max() + 0.2, acc


def test_a_worker_checks_a_genome_once_for_every_stage_and_seed(monkeypatch):
    from domains.base import CheckResult

    dom = ArchDomain({})
    calls = []
    monkeypatch.setattr(ev, "_CHECKED", {})
    monkeypatch.setattr(ev, "dynamic_check", lambda g, cfg, seed=0: calls.append(repr(g)) or CheckResult.passed())
    gla, transformer = dom.baselines()["gla"], dom.baselines()["transformer"]
    for g in (gla, gla, transformer, gla):
        assert ev.checked_once(g, dom.cfg).ok
    assert calls == [repr(gla), repr(transformer)]
    assert ev.checked_once(gla, {**dom.cfg, "check_seq_len": 48}).ok  # other settings: checked again
    assert len(calls) == 3
