"""Evaluating an architecture: dynamic check, LM proxy on the corpus, MQAR recall, metrics.

score = -mean_s(held-out loss on source s) + recall_weight * recall accuracy
(nats per byte, higher is better; perf = score - score of the reference Transformer at the same stage and seed).
A stage whose MQAR budget is below `recall_skip_below_steps` scores the LM alone (`runs_recall`).
Runs in a worker process; imports JAX.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np

from domains.arch import compile as comp
from domains.arch.checks import dynamic_check_model
from domains.arch.genome import ArchGenome
from domains.base import CheckResult, EvaluationError, Metrics, partner_providing
from proxies.cache import enable_compile_cache


def width(cfg: Mapping[str, Any], *, n_layers: int | None = None) -> comp.Width:
    return comp.Width(int(cfg["d_model"]), int(cfg["n_layers"] if n_layers is None else n_layers),
                      str(cfg["dtype"]), int(cfg["chunk"]))


def dynamic_check(g: ArchGenome, cfg: Mapping[str, Any], *, seed: int = 0) -> CheckResult:
    """Builds / finite / gradients / causality on one block at the scale's width (cheap to compile);
    depth-dependent blow-ups surface as a non-finite training loss instead."""
    vocab = int(cfg["vocab_size"])
    seq = int(cfg["check_seq_len"])
    make = comp.model_fn(g, width(cfg, n_layers=int(cfg["check_layers"])), vocab_size=vocab, max_len=seq)
    return dynamic_check_model(make, vocab_size=vocab, seq_len=seq, batch=int(cfg["check_batch"]), seed=seed)


_CHECKED: dict[tuple, CheckResult] = {}  # this worker's dynamic checks (evaluate): genome and settings -> result
_CHECKED_SIZE = 256


def checked_once(g: ArchGenome, cfg: Mapping[str, Any]) -> CheckResult:
    """`dynamic_check(g, cfg, seed=0)`, remembered in this worker: the cross and full evaluations of a genome
    (and its other seeds) reuse the isolated stage's verdict instead of tracing and compiling the check again."""
    key = (repr(g), *(str(cfg[k]) for k in ("vocab_size", "check_seq_len", "check_batch", "check_layers", "d_model",
                                             "n_layers", "dtype", "chunk")))
    if key not in _CHECKED:
        while len(_CHECKED) >= _CHECKED_SIZE:
            _CHECKED.pop(next(iter(_CHECKED)))
        _CHECKED[key] = dynamic_check(g, cfg, seed=0)
    return _CHECKED[key]


@functools.lru_cache(maxsize=4)
def cached_default_corpus(seed: int, max_bytes: int | None):
    from proxies.corpus import default_corpus

    return default_corpus(seed=seed, max_bytes=max_bytes)


def corpus_for(triple: Mapping[str, Any], budget: Any, partners: Mapping[str, Any], cfg: Mapping[str, Any]):
    """The data partner's curated corpus when the campaign has one, else the clean default corpus.
    A curated corpus is drawn at the full stage's training budget (repeated if the pipeline keeps
    less, as the data domain itself trains), so its length, and the compiled program, do not depend
    on the pipeline."""
    found = partner_providing("corpus", triple, partners)
    if found is not None:
        partner, genome = found
        from proxies.lm import token_budget

        full = lm_config(cfg, 1.0)  # one fixed budget for every pipeline and stage: one compiled trainer
        return partner.provide("corpus", genome, seed=int(budget.seed), budget=token_budget(full, full.steps))
    max_bytes = cfg.get("corpus_max_bytes")
    return cached_default_corpus(int(budget.seed), None if max_bytes is None else int(max_bytes))


def scaled_steps(steps: int, fraction: float, minimum: int) -> int:
    return max(int(minimum), int(round(float(fraction) * int(steps))))


def full_steps(stage_cfg: Any, full_cfg: Any) -> int:
    """The trainer's compiled step capacity (proxies.trainer.step_capacity)."""
    from proxies.trainer import step_capacity

    return step_capacity(stage_cfg, full_cfg)


def lm_config(cfg: Mapping[str, Any], fraction: float):
    """The LM proxy at this stage (proxies.lm.stage_config, the data domain's set-up too)."""
    from proxies.lm import stage_config

    return stage_config(str(cfg["lm_preset"]), fraction, min_steps=int(cfg["min_steps"]), dtype=str(cfg["dtype"]),
                        **dict(cfg["lm"]))


def curve_shape(losses: np.ndarray, points: tuple[float, ...] = (0.25, 0.5, 1.0)) -> list[float]:
    """Loss at fractions of training (mean over the preceding 10% of steps), relative to the
    loss at the start: how fast, not how far, a model learns."""
    losses = np.asarray(losses, np.float64)
    n = len(losses)
    w = max(1, n // 10)
    start = float(np.mean(losses[:w]))
    out = []
    for p in points:
        end = max(w, int(round(p * n)))
        out.append(float(np.mean(losses[end - w:end])) / start)
    return out


def _first_non_finite(losses: np.ndarray) -> int | None:
    bad = np.flatnonzero(~np.isfinite(np.asarray(losses, np.float64)))
    return int(bad[0]) if bad.size else None


def train_lm(g: ArchGenome, cfg: Mapping[str, Any], corpus: Any, fraction: float, key: Any) -> dict:
    """Train the genome's LM on the corpus; raise EvaluationError when it diverges."""
    from proxies import lm

    lcfg = lm_config(cfg, fraction)
    make = comp.model_fn(g, width(cfg), vocab_size=int(corpus.vocab_size), max_len=lcfg.seq_len)
    out = lm.measure(lcfg, make, corpus.train, corpus.heldout, key, max_steps=full_steps(lcfg, lm_config(cfg, 1.0)))
    out["steps"] = lcfg.steps
    if out["diverged"]:
        step = _first_non_finite(out["train_loss"])
        raise EvaluationError(f"non-finite loss at step {step}" if step is not None
                              else "non-finite gradient during LM training")
    return out


def recall_config(cfg: Mapping[str, Any], fraction: float):
    from proxies.recall import RecallConfig

    base = getattr(RecallConfig, str(cfg["recall_preset"]))().replace(dtype=str(cfg["dtype"]), **dict(cfg["recall"]))
    return base.replace(steps=scaled_steps(base.steps, fraction, cfg["min_recall_steps"]))


def runs_recall(cfg: Mapping[str, Any], fraction: float) -> bool:
    """Whether a stage runs the MQAR probe: it has a weight, and the stage's steps reach
    `recall_skip_below_steps`. Below that every design's accuracy is near chance and the designs' order is not
    the full stage's (tiny: 15 steps; docs/proxies.md), so the probe would add seed noise and a compilation,
    and the stage scores the LM alone. The reference at the stage is treated the same, so perf stays a
    like-for-like gain."""
    return (float(cfg["recall_weight"]) > 0
            and recall_config(cfg, fraction).steps >= int(cfg["recall_skip_below_steps"]))


def train_recall(g: ArchGenome, cfg: Mapping[str, Any], fraction: float, key: Any) -> dict:
    """MQAR at the same width/depth: query accuracy after a short training run."""
    import jax

    from proxies import recall, trainer

    rcfg = recall_config(cfg, fraction)
    w = width(cfg)
    make = recall.probe_model(rcfg, comp.stack_fn(g, w), w.d_model)  # the probe's embedding + token shift
    train = recall.make_train(rcfg, make, max_steps=full_steps(rcfg, recall_config(cfg, 1.0)))
    out, compile_seconds, seconds = trainer.timed_run(train, key, np.int32(rcfg.steps))
    m = jax.device_get(out["metrics"])
    m["loss"] = m["loss"][: rcfg.steps]
    if bool(m["diverged"]):
        step = _first_non_finite(m["loss"])
        raise EvaluationError(f"non-finite recall loss at step {step}" if step is not None
                              else "non-finite gradient during recall training")
    return {"accuracy": float(m["accuracy"]), "loss": np.asarray(m["loss"]), "steps": rcfg.steps,
            "compile_seconds": compile_seconds, "train_seconds": seconds}


def score(eval_loss: Mapping[str, float], accuracy: float, recall_weight: float) -> float:
    """-mean held-out loss (nats/byte) + recall_weight * MQAR accuracy; higher is better."""
    return -float(np.mean(list(eval_loss.values()))) + float(recall_weight) * float(accuracy)


def _thin(xs: np.ndarray, n: int = 200) -> list[float]:
    xs = np.asarray(xs, np.float64)
    idx = np.unique(np.linspace(0, len(xs) - 1, min(n, len(xs))).astype(int))
    return [float(x) for x in xs[idx]]


def evaluate(g: ArchGenome, cfg: Mapping[str, Any], budget: Any, corpus: Any) -> Metrics:
    """Dynamic check, LM training on `corpus`, MQAR; failures raise EvaluationError."""
    import jax

    if cfg.get("compile_cache", True):
        enable_compile_cache()  # the same genome at another seed or stage (or the reference) skips compiling
    check = checked_once(g, cfg)  # a property of the architecture: checked once per worker, not per stage and seed
    if not check.ok:
        raise EvaluationError(f"dynamic check failed: {check.reason}")
    k_lm, k_rec = jax.random.split(jax.random.key(int(budget.seed)))
    lm_out = train_lm(g, cfg, corpus, budget.fraction, k_lm)
    rec = train_recall(g, cfg, budget.fraction, k_rec) if runs_recall(cfg, budget.fraction) else None
    accuracy = rec["accuracy"] if rec else 0.0  # no probe: the score is the LM term alone
    eval_loss = lm_out["eval_loss"]
    details = {f"eval_loss/{k}": float(v) for k, v in eval_loss.items()}
    details.update({
        "eval_loss": float(np.mean(list(eval_loss.values()))),
        "final_train_loss": float(np.mean(np.asarray(lm_out["train_loss"])[-max(1, lm_out["steps"] // 10):])),
        "compile_seconds": float(lm_out["compile_seconds"]) + (rec["compile_seconds"] if rec else 0.0),
        "lm_compile_seconds": float(lm_out["compile_seconds"]),
        "lm_steps": float(lm_out["steps"]),
        "recall_steps": float(rec["steps"]) if rec else 0.0,  # 0: the probe did not run (no recall_accuracy)
        "flops_per_token_6n": float(lm_out["flops_per_token_6n"]),
    })
    if rec:
        details["recall_accuracy"] = accuracy
    if lm_out.get("mfu") is not None:  # absent: the device's peak is unknown (proxies.trainer.PEAK_FLOPS)
        details["lm_mfu"] = float(lm_out["mfu"])
    details.update({f"corpus/{k}": float(v) for k, v in getattr(corpus, "details", {}).items()})
    cost = {
        "seconds": float(lm_out["train_seconds"]) + (rec["train_seconds"] if rec else 0.0),
        "params": float(lm_out["params"]),
        "flops_per_token": float(lm_out["flops_per_token"]),
        "tokens_per_second": float(lm_out["tokens_per_second"]),
    }
    curves = {"train_loss": _thin(lm_out["train_loss"])}
    if rec:
        curves["recall_loss"] = _thin(rec["loss"])
    return Metrics(score=score(eval_loss, accuracy, cfg["recall_weight"]), cost=cost, details=details,
                   behaviour=curve_shape(lm_out["train_loss"]) + [accuracy], curves=curves)
