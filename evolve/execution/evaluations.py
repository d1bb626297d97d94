"""The one loop that turns evaluation tasks into knowledge-base evaluations, for the campaign and the gallery.

A task is a candidate (a triple of genome JSONs) scored by one domain at one seed under a stage's budget;
it runs as `worker.run_evaluation` on any executor, and its result comes back as an `Evaluation` (failed
ones too, with their reason), ready to be recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from evolve.execution.protocol import Executor, TaskKey, TaskResult
from evolve.knowledge import Evaluation


@dataclass(frozen=True)
class EvaluationTask:
    key: TaskKey
    configs: Mapping[str, Any]  # the domain configs a worker builds (a ladder's rung per stage)
    triple: Mapping[str, Any]  # domain -> genome JSON
    stage: str
    fraction: float  # of each domain's full-stage budget

    def payload(self) -> dict[str, Any]:
        """Plain data for `worker.run_evaluation` (it crosses a process boundary)."""
        return {"configs": self.configs, "domain": self.key.domain, "triple": self.triple, "stage": self.stage,
                "fraction": self.fraction, "seed": self.key.seed}


@dataclass(frozen=True)
class Outcome:
    """A finished task: its executor result, the evaluation to record, and the curves it returned."""

    key: TaskKey
    result: TaskResult
    evaluation: Evaluation
    curves: dict[str, list[float]] | None


def evaluation_of(result: TaskResult) -> Outcome:
    key = result.task_id
    if not isinstance(key, TaskKey):
        raise TypeError(f"an evaluation task is keyed by a TaskKey, got {key!r}")
    value = result.value if result.status == "ok" else {}
    ev = Evaluation(candidate=key.candidate, domain=key.domain, seed=key.seed, status=result.status,
                    score=float(value["score"]) if value else None, cost=dict(value.get("cost", {})),
                    details=dict(value.get("details", {})), behaviour=list(value.get("behaviour", [])),
                    reason=result.reason, seconds=float(result.seconds))
    return Outcome(key, result, ev, value.get("curves"))


def run(executor: Executor, tasks: Iterable[EvaluationTask]) -> Iterator[Outcome]:
    """Submit every task, then yield each as soon as it finishes (every task exactly once)."""
    for task in tasks:
        executor.submit(task.key, task.payload())
    for result in executor.results():
        yield evaluation_of(result)
