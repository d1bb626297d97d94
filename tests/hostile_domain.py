"""Test-only: the numeric domain plus baselines that fail in every way a real evaluation can.

x[0] picks the failure (see HOSTILE): a non-finite score (EvaluationError), the worker process exiting
or being killed by a signal, a hang past the wall-clock limit, a busy loop past the CPU-time limit,
runaway memory, a "huge model" whose JAX buffers cannot be allocated, a result that cannot be pickled,
an exception with a gigantic message. `hostile: true` adds the first three baselines (nan, crash, hang);
a list of names picks any of them. nan, crash and hang misbehave whenever their x[0] comes up; the others
only when named. Every evaluation is appended to the file named by $EVOLVE_TEST_LOG
so tests can see what actually ran (and that nothing ran twice).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import time
from typing import Any, Mapping

from domains.base import Budget, EvaluationError, Metrics
from tests.numeric_domain import NumericDomain, Vector

# name -> x[0] of its baseline genome
HOSTILE: dict[str, float] = {"nan": 0.01, "crash": 0.02, "hang": 0.03, "memory": 0.04, "cpu": 0.05, "segv": 0.06,
                             "unpicklable": 0.07, "huge_message": 0.08, "huge_model": 0.09, "sigkill": 0.10}
CLASSIC = ("nan", "crash", "hang")


def misbehave(kind: str) -> Any:
    """Do the named bad thing (shared by the domain and the executor tests)."""
    if kind == "nan":
        raise EvaluationError("non-finite loss at step 3")
    if kind == "crash":
        os._exit(7)
    if kind == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "segv":
        ctypes.string_at(0)  # a null-pointer read: SIGSEGV
    if kind == "hang":
        time.sleep(3600)
    if kind == "cpu":
        while True:
            pass
    if kind == "memory":
        import numpy as np

        hoard = []
        while True:  # address space grows without bound (pages left untouched to spare the test machine)
            hoard.append(np.zeros(32 << 20))
    if kind == "huge_model":
        import jax.numpy as jnp

        layers = [jnp.ones((1 << 17, 1 << 17), jnp.float32)]  # one 64 GiB weight matrix
        return float(layers[0].sum())
    if kind == "unpicklable":
        return lambda: None
    if kind == "huge_message":
        raise EvaluationError("x" * 50_000_000)
    raise KeyError(kind)


class HostileDomain(NumericDomain):
    def __init__(self, cfg: Mapping[str, Any] | None = None) -> None:
        super().__init__(cfg)
        hostile = (cfg or {}).get("hostile", True)
        self.hostile = tuple(CLASSIC if hostile is True else (hostile or ()))
        self.delay = float((cfg or {}).get("delay_s", 0.0))
        self.tag = (cfg or {}).get("tag")  # logged with each evaluation (e.g. to see which rung's config ran)

    def baselines(self) -> dict[str, Vector]:
        out = dict(super().baselines())
        n = self.cfg.n_var
        for name in self.hostile:
            out[name] = Vector((HOSTILE[name],) + (0.5,) * (n - 1))
        return out

    def evaluate(self, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Any]) -> Metrics:
        genome = triple[self.name]
        log = os.environ.get("EVOLVE_TEST_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(json.dumps([budget.stage, list(genome.x), budget.seed] + ([self.tag] if self.tag else []))
                         + "\n")
        if self.delay:
            time.sleep(self.delay)
        # the classic three misbehave whenever their x[0] appears (other tests propose them); the rest only
        # when named in `hostile`, so that a designer's 0.1 is just a number elsewhere
        active = set(CLASSIC) | set(self.hostile)
        kind = next((k for k, x0 in HOSTILE.items() if genome.x[0] == x0 and k in active), None)
        if kind is not None:
            value = misbehave(kind)
            metrics = super().evaluate(triple, budget, partners)
            metrics.details = {**metrics.details, "value": value}  # e.g. a lambda: the result won't pickle
            return metrics
        return super().evaluate(triple, budget, partners)


class SecondNumericDomain(HostileDomain):
    """The same numeric problem under another name: a second domain for multi-domain campaign tests."""

    name = "other"


class BatchingHostileDomain(HostileDomain):
    """The hostile domain with `evaluate_batch`: each item as `evaluate` alone, an item's exception its own result.
    A crash, hang or kill takes the whole batch's worker down (the engine then re-runs the members alone).
    Every batch is logged to $EVOLVE_TEST_BATCH_LOG as ["batch", [seeds]], so tests can see batches ran."""

    def evaluate_batch(self, items: Any, partners: Mapping[str, Any]) -> list[Any]:
        log = os.environ.get("EVOLVE_TEST_BATCH_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(json.dumps(["batch", [b.seed for _, b in items]]) + "\n")
        out: list[Any] = []
        for triple, budget in items:
            try:
                out.append(self.evaluate(triple, budget, partners))
            except EvaluationError as exc:
                out.append(exc)
        return out
