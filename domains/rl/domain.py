"""RLDomain: evolves PPO-family algorithms (objective tree + genes); see docs/domains/rl.md.

A thin class over pure modules — ops (vocabulary), expr (trees, forms, GP operators), genome
(genes, text form, baselines) — so the driver samples, mutates and checks genomes without JAX.
Evaluation (`evaluate.py`: PPO proxy, memory torso from the arch partner, normalised returns)
is imported only when a worker evaluates.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from domains.base import BatchItem, Budget, CheckResult, EvaluationError, GenomeError, Metrics
from domains.rl import expr
from domains.rl import genome as G
from domains.rl.genome import ADV_NORMS, VALUE_LOSSES, RLGenome
from domains.rl.ops import INPUT_DOCS, INPUT_NAMES, OPS
from domains.rl.settings import RLSettings

class RLDomain:
    name = "rl"
    consumes = ("sequence_block",)  # what evaluate asks partners for (domains/base.py: evaluation_inputs)
    reference = "ppo_clip"

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        self.settings = RLSettings.from_cfg(cfg)

    # ---- the genome space ----------------------------------------------------------------------
    def baselines(self) -> dict[str, RLGenome]:
        return G.baselines()

    def sample(self, rng: np.random.Generator) -> RLGenome:
        """Half fresh random trees with random genes, half baselines mutated 2-4 times."""
        for _ in range(100):
            if rng.random() < 0.5:
                g = G.make(expr.random_tree(rng, expr.R, int(rng.integers(2, 5))), **G.random_genes(rng))
            else:
                bases = list(self.baselines().values())
                g = bases[int(rng.integers(len(bases)))]
                for _ in range(int(rng.integers(2, 5))):
                    g = self.mutate(g, rng)
            if self.check(g).ok:
                return g
        return self.baselines()[self.reference]

    def mutate(self, genome: RLGenome, rng: np.random.Generator) -> RLGenome:
        """One GP operator on the objective (70%) or one gene (30%); retried until valid."""
        for _ in range(50):
            if rng.random() < 0.3:
                return G.mutate_gene(genome, rng)
            op = expr.MUTATIONS[int(rng.integers(len(expr.MUTATIONS)))]
            obj = op(genome.objective, rng)
            if obj != genome.objective and self._objective_ok(obj) is None:
                return G.make(obj, **{k: getattr(genome, k) for k in G.GENE_NAMES})
        return G.mutate_gene(genome, rng)

    def crossover(self, a: RLGenome, b: RLGenome, rng: np.random.Generator) -> RLGenome:
        """Subtree crossover of the objectives plus uniform crossover of the genes."""
        genes = G.cross_genes(a, b, rng)
        for _ in range(20):
            obj = expr.subtree_crossover(a.objective, b.objective, rng)
            if self._objective_ok(obj) is None:
                return G.make(obj, **genes)
        return G.make(a.objective, **genes)

    # ---- forms ---------------------------------------------------------------------------------
    def to_json(self, genome: RLGenome) -> dict[str, Any]:
        return G.to_json(genome)

    def from_json(self, data: Any) -> RLGenome:
        return G.from_json(data)

    def to_text(self, genome: RLGenome) -> str:
        return G.to_text(genome)

    def parse(self, text: str) -> RLGenome:
        return G.parse(text)

    def grammar(self) -> str:
        return _grammar(self.settings, self.baselines())  # the start set's examples: withheld designs stay hidden

    def json_schema(self) -> dict[str, Any]:
        """The genome's JSON form as a bounded-depth JSON schema (the LLM's structured-output constraint)."""
        from domains.rl import schema

        return schema.json_schema(self.settings.max_depth)

    # ---- analysis ------------------------------------------------------------------------------
    def check(self, genome: RLGenome) -> CheckResult:
        try:
            G.validate(genome)
        except GenomeError as e:
            return CheckResult.failed(str(e))
        reason = self._objective_ok(genome.objective)
        return CheckResult.failed(reason) if reason else CheckResult.passed()

    def _objective_ok(self, obj: expr.Node) -> str | None:
        s = self.settings
        try:
            expr.type_of(obj)
        except GenomeError as e:
            return str(e)
        if expr.node_type(obj) != expr.R:
            return "the objective must be real-valued, not a comparison"
        if expr.size(obj) > s.max_nodes:
            return f"objective has {expr.size(obj)} nodes (limit {s.max_nodes})"
        if expr.depth(obj) > s.max_depth:
            return f"objective is {expr.depth(obj)} deep (limit {s.max_depth})"
        if not expr.has_policy_gradient(obj):
            return "no gradient reaches the policy: use ratio, logratio or kl outside sg() and comparisons"
        return None

    def descriptor(self, genome: RLGenome) -> np.ndarray:
        return np.asarray(list(self.features(genome).values()), dtype=np.float64)

    def features(self, genome: RLGenome) -> dict[str, float]:
        nodes = [n for _, n in expr.walk(genome.objective)]
        f: dict[str, float] = {
            "size": float(len(nodes)),
            "depth": float(expr.depth(genome.objective)),
            "n_const": float(sum(n.op == expr.CONST for n in nodes)),
        }
        f.update({f"uses_{name}": float(sum(n.op == name for n in nodes)) for name in OPS})
        f.update({f"reads_{name}": float(sum(n.op == name for n in nodes)) for name in INPUT_NAMES})
        f["clips_ratio"] = float(any(n.op == "clip" and n.args[0].op == "ratio" for n in nodes))
        f.update(
            gae_lambda=genome.gae_lambda,
            vf_coef=genome.vf_coef,
            ent_coef=genome.ent_coef,
            epochs=float(genome.epochs),
            log2_minibatches=float(np.log2(genome.minibatches)),
            log10_lr=float(np.log10(genome.lr)),
        )
        f.update({f"adv_norm_{k}": float(genome.adv_norm == k) for k in ADV_NORMS})
        f.update({f"value_loss_{k}": float(genome.value_loss == k) for k in VALUE_LOSSES})
        return f

    # ---- evaluation (worker process) -----------------------------------------------------------
    def evaluate(self, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Any]) -> Metrics:
        """Train `seeds` agents per env with the proxy; score = mean over envs of the IQM normalised learning-curve area."""
        from domains.rl import evaluate as ev

        genome = triple[self.name]
        chk = self.check(genome)
        if not chk.ok:
            raise EvaluationError(f"invalid rl genome: {chk.reason}")
        from proxies.cache import compile_stats

        with compile_stats() as compiling:  # what compiling cost, in the details (bench/bench_throughput.py)
            metrics = ev.evaluate(self.settings, genome, triple, budget, partners)
        metrics.details.update(compiling)
        return metrics

    def evaluate_batch(self, items: Sequence[BatchItem], partners: Mapping[str, Any]) -> list[Metrics | Exception]:
        """Several (triple, budget) at once: per env, one vmapped program trains them all (evaluate.evaluate_batch);
        one Metrics or exception per item, each as `evaluate` would give it alone."""
        from domains.rl import evaluate as ev

        out: list[Metrics | Exception | None] = [None] * len(items)
        run: dict[float, list[int]] = {}  # budget fraction -> items valid so far (one update count per program)
        for i, (triple, budget) in enumerate(items):
            chk = self.check(triple[self.name])
            if chk.ok:
                run.setdefault(budget.fraction, []).append(i)
            else:
                out[i] = EvaluationError(f"invalid rl genome: {chk.reason}")
        from proxies.cache import compile_stats

        for members in run.values():
            with compile_stats() as compiling:  # shared by the batch: each member's details carry its share
                results = ev.evaluate_batch(self.settings, [(items[i][0][self.name], items[i][0], items[i][1])
                                                            for i in members], partners)
            for i, r in zip(members, results):
                if isinstance(r, Metrics):
                    r.details.update({k: v / len(members) for k, v in compiling.items()})
                out[i] = r
        return out  # type: ignore[return-value]

    def provides(self, resource: str) -> bool:
        return False

    def provide(self, resource: str, genome: Any, **kwargs: Any) -> Any:
        raise KeyError(f"the rl domain provides nothing (asked for {resource!r})")

    def normalise(self, score: float, reference_score: float) -> float:
        """Raw gain over the reference algorithm with the same partners, stage and seed, in score units; the
        engine states it in the declared unit (evolve/gain.py). The reference is at 0, like every domain's."""
        return float(score) - float(reference_score)


def _grammar(s: RLSettings, starts: Mapping[str, RLGenome]) -> str:
    ops = "\n".join(
        f"  {name}({', '.join(op.args)}) -> {op.ret}: {op.doc}" for name, op in OPS.items()
    )
    inputs = "\n".join(f"  {k}: {v}" for k, v in INPUT_DOCS.items())
    examples = "\n\n".join(f"# {name}\n{G.to_text(g)}" for name, g in starts.items())
    return f"""An RL algorithm of the PPO family, one `key = value` per line, all keys required:

objective = <expression>   per-sample loss to MINIMISE; the trainer minimises
                           mean(objective) + vf_coef * value_loss - ent_coef * mean(entropy)
gae_lambda = <0..1>        GAE lambda (0: one-step TD, 1: Monte Carlo)
adv_norm = none | batch | minibatch    how `nadv` is normalised
value_loss = mse | clipped | huber     critic loss (clipped: PPO's, range 0.2; huber: delta 1)
vf_coef = <0..2>
ent_coef = <0..0.1>
epochs = <1..8>            passes over each rollout
minibatches = 1 | 2 | 4    optimiser steps per pass
lr = <1e-05..0.01>         Adam learning rate, linearly annealed to 0

Expressions are nested calls over per-sample inputs and decimal constants. Types: R (real),
B (boolean, only from gt/lt, only consumed by where). The objective must be R, have at most
{s.max_nodes} nodes and depth {s.max_depth}, and let a gradient reach the policy through ratio,
logratio or kl (entropy alone does not count: it does not depend on the action taken).

Inputs (all R):
{inputs}

Operators (argument types -> result type), all protected against overflow:
{ops}

Examples:
{examples}
"""
