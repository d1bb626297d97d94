"""The RL-algorithm genome: a per-sample objective tree plus the algorithm's genes.

Text form (one `key = value` per line, every key required, any order):

    objective = neg(min(mul(ratio, nadv), mul(clip(ratio, 0.8, 1.2), nadv)))
    gae_lambda = 0.95
    adv_norm = minibatch
    value_loss = clipped
    vf_coef = 0.5
    ent_coef = 0.01
    epochs = 4
    minibatches = 4
    lr = 0.004

The trainer minimises mean(objective) + vf_coef * value_loss - ent_coef * entropy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from domains.base import GenomeError
from domains.rl import expr
from domains.rl.expr import Node

# Same order as proxies.ppo (the proxy indexes them); domains/rl/evaluate.py asserts it.
ADV_NORMS: tuple[str, ...] = ("none", "batch", "minibatch")
VALUE_LOSSES: tuple[str, ...] = ("mse", "clipped", "huber")
MINIBATCHES: tuple[int, ...] = (1, 2, 4)  # the proxy splits each epoch into max(MINIBATCHES) chunks
# name -> (low, high) for the real-valued genes; lr is searched on a log scale.
RANGES: dict[str, tuple[float, float]] = {
    "gae_lambda": (0.0, 1.0),
    "vf_coef": (0.0, 2.0),
    "ent_coef": (0.0, 0.1),
    "lr": (1e-5, 1e-2),
    "epochs": (1, 8),
}


@dataclass(frozen=True)
class RLGenome:
    objective: Node  # per-sample loss to minimise (see ops.py for the grammar)
    gae_lambda: float = 0.95  # GAE lambda: 0 = one-step TD, 1 = Monte Carlo returns
    adv_norm: str = "minibatch"  # what `nadv` is: none | batch | minibatch normalisation
    value_loss: str = "clipped"  # mse | clipped | huber
    vf_coef: float = 0.5  # weight of the value loss
    ent_coef: float = 0.01  # weight of the entropy bonus
    epochs: int = 4  # passes over each rollout
    minibatches: int = 4  # optimiser steps per pass (1, 2 or 4)
    lr: float = 4e-3  # Adam learning rate (linearly annealed to 0)


GENE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(RLGenome) if f.name != "objective")


def validate(g: RLGenome) -> None:
    """GenomeError unless every gene is in its range and the objective is well-typed."""
    if expr.type_of(g.objective) != expr.R:
        raise GenomeError("the objective must be real-valued, not a comparison")
    for name, (lo, hi) in RANGES.items():
        v = getattr(g, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
            raise GenomeError(f"{name} = {v!r} outside [{lo}, {hi}]")
    if not isinstance(g.epochs, int):
        raise GenomeError(f"epochs must be an integer, got {g.epochs!r}")
    if g.adv_norm not in ADV_NORMS:
        raise GenomeError(f"adv_norm must be one of {', '.join(ADV_NORMS)}, got {g.adv_norm!r}")
    if g.value_loss not in VALUE_LOSSES:
        raise GenomeError(f"value_loss must be one of {', '.join(VALUE_LOSSES)}, got {g.value_loss!r}")
    if g.minibatches not in MINIBATCHES:
        raise GenomeError(f"minibatches must be one of {MINIBATCHES}, got {g.minibatches!r}")


def _real(v: float) -> float:
    return expr.round_const(v)


def make(objective: Node | str, **genes: Any) -> RLGenome:
    """A validated genome with genes rounded to their canonical precision."""
    obj = expr.parse(objective) if isinstance(objective, str) else objective
    g = RLGenome(obj, **genes)
    g = replace(g, **{k: _real(getattr(g, k)) for k in ("gae_lambda", "vf_coef", "ent_coef", "lr")})
    validate(g)
    return g


# ---- forms -----------------------------------------------------------------------------------
def to_json(g: RLGenome) -> dict[str, Any]:
    return {"objective": expr.to_json(g.objective), **{k: getattr(g, k) for k in GENE_NAMES}}


def from_json(data: Any) -> RLGenome:
    if not isinstance(data, dict) or set(data) != {"objective", *GENE_NAMES}:
        raise GenomeError(f"expected keys {['objective', *GENE_NAMES]}, got {sorted(data) if isinstance(data, dict) else data!r}")
    genes = {k: data[k] for k in GENE_NAMES}
    for k in ("epochs", "minibatches"):
        if isinstance(genes[k], float) and genes[k].is_integer():
            genes[k] = int(genes[k])
    return make(expr.from_json(data["objective"]), **genes)


def to_text(g: RLGenome) -> str:
    lines = [f"objective = {expr.to_text(g.objective)}"]
    for k in GENE_NAMES:
        v = getattr(g, k)
        lines.append(f"{k} = {v!r}" if isinstance(v, float) else f"{k} = {v}")
    return "\n".join(lines)


def parse(text: str) -> RLGenome:
    values: dict[str, str] = {}
    for raw in text.strip().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise GenomeError(f"expected 'key = value', got {raw!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        if key not in ("objective", *GENE_NAMES):
            raise GenomeError(f"unknown key {key!r}; keys: objective, {', '.join(GENE_NAMES)}")
        if key in values:
            raise GenomeError(f"duplicate key {key!r}")
        values[key] = value
    missing = [k for k in ("objective", *GENE_NAMES) if k not in values]
    if missing:
        raise GenomeError(f"missing keys: {', '.join(missing)}")
    genes: dict[str, Any] = {}
    for k in GENE_NAMES:
        v = values[k]
        try:
            genes[k] = v if k in ("adv_norm", "value_loss") else int(v) if k in ("epochs", "minibatches") else float(v)
        except ValueError as e:
            raise GenomeError(f"{k}: cannot read {v!r}") from e
    return make(values["objective"], **genes)


# ---- baselines -------------------------------------------------------------------------------
def baselines() -> dict[str, RLGenome]:
    return {
        # Schulman et al. 2017: clipped surrogate, pessimistic min.
        "ppo_clip": make("neg(min(mul(ratio, nadv), mul(clip(ratio, 0.8, 1.2), nadv)))"),
        # Vanilla policy gradient / A2C: one on-policy gradient step per rollout,
        # grad of logratio = grad of log pi at the sampling policy.
        "a2c": make("neg(mul(logratio, nadv))", epochs=1, minibatches=1, value_loss="mse"),
        # PPO with a fixed KL penalty (beta = 1) instead of clipping.
        "ppo_kl": make("sub(mul(1.0, kl), mul(ratio, nadv))"),
        # GRPO-style (Shao et al. 2024): clipped surrogate on group-relative returns (Monte Carlo within
        # the rollout, lambda = 1), a k3 KL penalty (beta 0.04), and no critic loss (vf_coef 0).
        "grpo": make("add(neg(min(mul(ratio, gadv), mul(clip(ratio, 0.8, 1.2), gadv))), mul(0.04, kl))",
                     gae_lambda=1.0, vf_coef=0.0),
    }


# ---- gene operators --------------------------------------------------------------------------
def mutate_gene(g: RLGenome, rng: np.random.Generator) -> RLGenome:
    name = str(rng.choice(GENE_NAMES))
    v = getattr(g, name)
    if name == "adv_norm":
        new: Any = str(rng.choice([x for x in ADV_NORMS if x != v]))
    elif name == "value_loss":
        new = str(rng.choice([x for x in VALUE_LOSSES if x != v]))
    elif name == "minibatches":
        new = int(rng.choice([x for x in MINIBATCHES if x != v]))
    elif name == "epochs":
        new = int(np.clip(v + rng.choice([-2, -1, 1, 2]), *RANGES["epochs"]))
    elif name == "lr":
        new = float(np.clip(v * np.exp(rng.normal(0.0, 0.7)), *RANGES["lr"]))
    elif name == "gae_lambda":
        new = float(np.clip(v + rng.normal(0.0, 0.1), *RANGES["gae_lambda"]))
    else:  # vf_coef, ent_coef: multiplicative, with a way back from 0
        lo, hi = RANGES[name]
        base = v if v > 0 else 0.1 * hi
        new = float(np.clip(base * np.exp(rng.normal(0.0, 0.7)), lo, hi))
    return make(g.objective, **{**{k: getattr(g, k) for k in GENE_NAMES}, name: new})


def random_genes(rng: np.random.Generator) -> dict[str, Any]:
    lo, hi = np.log(RANGES["lr"][0]), np.log(RANGES["lr"][1])
    return dict(
        gae_lambda=float(rng.uniform(0.8, 1.0)),
        adv_norm=str(rng.choice(ADV_NORMS)),
        value_loss=str(rng.choice(VALUE_LOSSES)),
        vf_coef=float(rng.uniform(0.1, 1.0)),
        ent_coef=float(rng.choice([0.0, 0.001, 0.01, 0.03])),
        epochs=int(rng.integers(1, 9)),
        minibatches=int(rng.choice(MINIBATCHES)),
        lr=float(np.exp(rng.uniform(lo, hi))),
    )


def cross_genes(a: RLGenome, b: RLGenome, rng: np.random.Generator) -> dict[str, Any]:
    """Uniform crossover of the genes."""
    return {k: getattr(a if rng.random() < 0.5 else b, k) for k in GENE_NAMES}
