"""The one loop that turns evaluation tasks into knowledge-base evaluations, for the campaign and the gallery.

A task is a candidate (a triple of genome JSONs) scored by one domain at one seed under a stage's budget;
it runs as `worker.run_evaluation` on any executor, and its result comes back as an `Evaluation` (failed
ones too, with their reason), ready to be recorded.

Batches: for a domain that offers `evaluate_batch` (domains/base.py), `plan` groups its tasks of one stage and
budget fraction into `EvaluationBatch`es, sent as one executor task each (`size` = its evaluations: its wall and
CPU limits are the per-evaluation ones times its size). Its result is unpacked into one Outcome per member, each
failing or succeeding alone; a batch that does not come back at all (timeout, crash, an error of the batch as a
whole) is re-submitted as single tasks, so a member that kills its worker fails alone too. Nothing is recorded
before its outcome is yielded, so exact resume, budgets and the order of submission (the reference first) hold
as for single tasks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Collection, Iterable, Iterator, Mapping

from domains.base import canonical_json
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


@dataclass(frozen=True, order=True)
class BatchKey:
    """The executor task id of a batch: its members' keys, in order."""

    keys: tuple[TaskKey, ...]

    def __str__(self) -> str:
        return f"batch of {len(self.keys)} ({self.keys[0]} ...)"


@dataclass(frozen=True)
class EvaluationBatch:
    """Tasks of one domain, stage and budget fraction evaluated together by the domain's `evaluate_batch`."""

    tasks: tuple[EvaluationTask, ...]

    @property
    def key(self) -> BatchKey:
        return BatchKey(tuple(t.key for t in self.tasks))

    def payload(self) -> dict[str, Any]:
        first = self.tasks[0]
        return {"configs": first.configs, "domain": first.key.domain, "stage": first.stage,
                "fraction": first.fraction, "items": [{"triple": t.triple, "seed": t.key.seed} for t in self.tasks]}


@dataclass(frozen=True)
class Batching:
    """Which domains take batches and how large: `max_size` evaluations at most per batch (a power of two keeps
    the padded program sizes few), and at least `workers` batches per group when it has that many tasks, so no
    worker idles while one holds the whole group."""

    domains: Collection[str] = ()
    max_size: int = 8
    workers: int = 1


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


def members_of(result: TaskResult) -> list[TaskResult]:
    """A batch's result as one TaskResult per member (the batch's wall time shared evenly among them)."""
    keys = result.task_id.keys
    if len(result.value) != len(keys):
        raise TypeError(f"a batch of {len(keys)} came back with {len(result.value)} results")
    seconds = result.seconds / len(keys)
    return [TaskResult(key, item["status"], item.get("value"), item.get("reason", ""), seconds, result.worker)
            for key, item in zip(keys, result.value)]


def plan(tasks: Iterable[EvaluationTask], batching: Batching | None = None) -> list[EvaluationTask | EvaluationBatch]:
    """The tasks as executor units, in submission order (a batch where its first member was): single tasks, and
    for the batching domains, batches of the tasks that share domain, configs, stage and fraction."""
    tasks = list(tasks)
    if batching is None or not batching.domains or batching.max_size < 2:
        return list(tasks)
    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(tasks):
        if t.key.domain in batching.domains:
            groups.setdefault((t.key.domain, canonical_json(t.configs), t.stage, t.fraction), []).append(i)
    first: dict[int, list[EvaluationTask | EvaluationBatch]] = {}
    for members in groups.values():
        n = len(members)
        count = max(math.ceil(n / batching.max_size), min(batching.workers, n))
        size = min(batching.max_size, 1 << max(0, math.ceil(n / count) - 1).bit_length())
        for start in range(0, n, size):
            chunk = members[start:start + size]
            unit = tasks[chunk[0]] if len(chunk) == 1 else EvaluationBatch(tuple(tasks[i] for i in chunk))
            first[chunk[0]] = [unit]
    grouped = {i for members in groups.values() for i in members}
    return [u for i, t in enumerate(tasks) for u in ([t] if i not in grouped else first.get(i, []))]


def run(executor: Executor, tasks: Iterable[EvaluationTask], batching: Batching | None = None) -> Iterator[Outcome]:
    """Submit every task (batched where `batching` allows), then yield each as soon as it finishes (every task
    exactly once, batch members one by one)."""
    batches: dict[BatchKey, EvaluationBatch] = {}
    for unit in plan(tasks, batching):
        if isinstance(unit, EvaluationBatch):
            batches[unit.key] = unit
            executor.submit(unit.key, unit.payload(), size=len(unit.tasks))
        else:
            executor.submit(unit.key, unit.payload())
    for result in executor.results():
        if not isinstance(result.task_id, BatchKey):
            yield evaluation_of(result)
        elif result.ok:
            batches.pop(result.task_id)
            for member in members_of(result):
                yield evaluation_of(member)
        else:  # the batch as a whole did not come back: each member runs alone, and fails alone
            for task in batches.pop(result.task_id).tasks:
                executor.submit(task.key, task.payload())
