"""What the campaign sees of an executor: tasks go in keyed, every task comes back as one TaskResult."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Iterator, Protocol, runtime_checkable


@dataclass(frozen=True, order=True)
class TaskKey:
    """One evaluation: a candidate scored by one domain at one seed (unique in the knowledge base)."""

    candidate: str
    domain: str
    seed: int

    def __str__(self) -> str:  # scratch directory names, progress lines
        return f"{self.domain} {self.candidate[:8]} seed {self.seed}"


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one submitted task; every submitted task yields exactly one."""

    task_id: Hashable  # what the task was submitted under (a TaskKey for evaluations)
    status: str  # "ok" | "error" (exception in the task) | "timeout" | "crash" (worker died)
    value: Any = None  # the task function's return value when ok
    reason: str = ""  # why it is not ok: exception + traceback tail, time limit, exit signal
    seconds: float = 0.0  # wall time of the task, measured by the driver
    worker: int = -1  # worker slot (0..n_workers-1), stable across respawns

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@runtime_checkable
class Executor(Protocol):
    """Runs `fn(payload)` tasks somewhere else; every submitted task yields exactly one TaskResult.

    A constructor only stores settings: `start()` (or entering the executor as a context manager)
    starts workers or connects to a cluster, `shutdown()` (or leaving the block) stops them."""

    def start(self) -> "Executor": ...

    def submit(self, task_id: Hashable, payload: Any, size: int = 1) -> None:
        """Queue `fn(payload)` under `task_id`; `size` is how many evaluations the task holds (a batch): its
        wall-clock and CPU-time limits are the per-task ones times `size`."""
        ...

    def results(self, timeout: float | None = None) -> Iterator[TaskResult]: ...

    def pending(self) -> int: ...

    def shutdown(self) -> None: ...

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc: object) -> None: ...
