"""The result side every executor shares: submitted ids, finished results, each yielded exactly once."""
from __future__ import annotations

import collections
import pickle
import time
from typing import Any, Hashable, Iterator

from evolve.execution.protocol import TaskResult


class ResultQueue:
    """The result side every executor shares: finished results wait in `_done` until yielded once;
    `_known` holds the ids submitted and not yet yielded; the executor's own `_poll(timeout)` moves
    finished work into `_done`."""

    _done: collections.deque[TaskResult]
    _known: set[Hashable]
    _closed: bool
    _started: bool = False

    def start(self) -> "ResultQueue":
        raise NotImplementedError

    def shutdown(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "ResultQueue":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _poll(self, timeout: float | None) -> None:
        raise NotImplementedError

    def _accept(self, task_id: Hashable, payload: Any) -> bytes:
        """Check a submission and register it as pending; the payload pickled (a bad one fails here, in
        the caller, rather than in a worker)."""
        if self._closed:
            raise RuntimeError("executor is shut down")
        if not self._started:
            raise RuntimeError("executor not started: call start() first or use it in a `with` block")
        if task_id in self._known:
            raise ValueError(f"task {task_id!r} is already pending")
        try:
            blob = pickle.dumps(payload)
        except Exception as exc:
            raise TypeError(f"payload of task {task_id!r} is not picklable: {exc}") from exc
        self._known.add(task_id)
        return blob

    def results(self, timeout: float | None = None) -> Iterator[TaskResult]:
        """Yield each finished task once, as soon as it finishes, until none is pending.

        `timeout` bounds the wait for the *next* result: when it passes with nothing
        finished, the iterator ends quietly (tasks stay pending; call again later). A
        consumer that stops iterating early loses nothing either.
        """
        while True:
            if self._done:
                result = self._done.popleft()
                self._known.discard(result.task_id)
                yield result
                continue
            if not self._known or self._closed:
                return
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                self._poll(remaining)

    def pending(self) -> int:
        """Tasks submitted whose result has not been yielded yet."""
        return len(self._known)
