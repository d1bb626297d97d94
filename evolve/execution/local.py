"""A local, crash-isolated pool of persistent worker processes.

Why this shape: an evaluation trains a JAX model, which may be slow, huge or numerically
wild even when its genome is valid, and may take the process down with it (segfault, OOM
kill). So every task runs in a worker *process* with a wall-clock limit and its own scratch
directory; the driver only reads results through a pipe and never trusts a worker to
survive. Workers are started with the **spawn** context (JAX is not fork-safe) and are
persistent, so imports and JIT caches stay warm from one task to the next; a worker that
dies or runs out of time is SIGKILLed and replaced, and the pool carries on.

Only the standard library is imported here: this module is the workers' entry point too.

    with LocalExecutor(evaluate, n_workers=2, time_limit_s=300,
                       limits=Limits(memory_mb=8192, cpu_time_s=1200)) as pool:
        for task_id, payload in work:
            pool.submit(task_id, payload)
        for result in pool.results():
            ...  # TaskResult(status="ok" | "error" | "timeout" | "crash")
"""
from __future__ import annotations

import atexit
import collections
import itertools
import logging
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import pickle
import re
import shutil
import signal
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping

from evolve.execution.protocol import TaskResult
from evolve.execution.queue import ResultQueue
from evolve.execution.sandbox import (Limits, describe_exception, disable_core_dumps, exit_reason, run_task,
                                      set_address_space_limit, start_with_env, watch_parent, worker_environment)

log = logging.getLogger(__name__)

MAX_START_FAILURES = 3  # consecutive workers dying before "ready" => the pool is broken


CPUS_ENV = "EVOLVE_CPUS"  # a worker's own CPUs (pin_cpus), comma-separated


def cpu_shares(n_workers: int, cpus: Iterable[int] | None = None) -> list[list[int]]:
    """The driver's CPUs split into `n_workers` contiguous, disjoint, near-equal shares (at least one CPU each:
    with more workers than CPUs, shares repeat round the CPUs)."""
    cpus = sorted(os.sched_getaffinity(0) if cpus is None else cpus)
    if n_workers >= len(cpus):
        return [[cpus[i % len(cpus)]] for i in range(n_workers)]
    bounds = [round(i * len(cpus) / n_workers) for i in range(n_workers + 1)]
    return [cpus[bounds[i]:bounds[i + 1]] for i in range(n_workers)]


def _worker_main(conn: mpc.Connection, blob: bytes, home: str, limits: Limits) -> None:
    """Worker loop: load fn, say "ready", then run tasks until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    if os.environ.get(CPUS_ENV):  # before anything sizes a thread pool (XLA reads the affinity)
        os.sched_setaffinity(0, {int(c) for c in os.environ[CPUS_ENV].split(",")})
    watch_parent(os.getppid())
    os.chdir(home)
    disable_core_dumps()
    if limits.memory_mb:
        set_address_space_limit(limits.memory_mb)
    fn = None
    init_error = ""
    try:
        fn, initializer = pickle.loads(blob)
        if initializer is not None:
            initializer()
    except BaseException as exc:  # noqa: BLE001 - reported with every task instead
        init_error = "worker initialisation failed: " + describe_exception(exc)
    conn.send(("ready", init_error))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        payload_blob, scratch, size = message
        if init_error:
            outcome = ("error", init_error)
        else:
            cpu = limits.cpu_time_s * size if limits.cpu_time_s else None  # a batch's budget scales with its size
            outcome = run_task(fn, payload_blob, scratch, home, cpu)
        try:
            conn.send(outcome)
        except (EOFError, OSError, BrokenPipeError):
            break
        except BaseException as exc:  # noqa: BLE001 - e.g. the return value does not pickle
            outcome = None
            conn.send(("error", "task result could not be sent: " + describe_exception(exc)))
        outcome = None  # free the result before waiting for the next task


# --------------------------------------------------------------------------------------
# Driver side
# --------------------------------------------------------------------------------------
@dataclass
class _Task:
    task_id: Hashable
    payload_blob: bytes
    size: int = 1  # evaluations the task holds: its wall and CPU limits are the executor's times this
    scratch: Path | None = None
    started: float = 0.0


@dataclass
class _Worker:
    index: int
    process: mp.process.BaseProcess
    conn: mpc.Connection
    spawned: float
    ready: bool = False
    init_error: str = ""
    task: _Task | None = None


_LIVE_EXECUTORS: "weakref.WeakSet[LocalExecutor]" = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    for executor in list(_LIVE_EXECUTORS):
        executor.shutdown()


class LocalExecutor(ResultQueue):
    """A fixed number of persistent, crash-isolated worker processes running `fn(payload)`.

    fn:             picklable top-level function run in the worker as `fn(payload)`.
    n_workers:      worker processes (one per device on a GPU box).
    time_limit_s:   wall-clock limit per task (times its size for a batch); on expiry the worker is SIGKILLed
                    and replaced.
    scratch_root:   where per-task scratch directories are created (default: a temp dir
                    owned, and removed, by the executor).
    env:            extra environment for every worker (after secrets are stripped).
    initializer:    picklable function run once in each worker before its first task
                    (e.g. warm up JAX); if it raises, that worker's tasks end "error".
    worker_env:     optional `index -> env` for per-worker settings (CUDA_VISIBLE_DEVICES).
    pin_cpus:       give each worker its own share of the driver's CPUs (`cpu_shares`), so workers never
                    compete for a core and a measured cost (training seconds) does not depend on what
                    another worker runs beside it.
    limits:         per-task resource limits (see `Limits`): address space and CPU time.
    memory_limit_mb: shorthand for `limits=Limits(memory_mb=...)` (kept for callers of old).
    startup_timeout_s: a worker must be ready (imports + initializer) within this time.

    The driver is single-threaded: call submit/results/shutdown from one thread.
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        n_workers: int = 1,
        time_limit_s: float = 600.0,
        scratch_root: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        initializer: Callable[[], None] | None = None,
        *,
        worker_env: Callable[[int], Mapping[str, str]] | None = None,
        limits: Limits | None = None,
        memory_limit_mb: int | None = None,
        startup_timeout_s: float = 300.0,
        pin_cpus: bool = False,
    ) -> None:
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {n_workers}")
        if time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        try:
            self._blob = pickle.dumps((fn, initializer))
        except Exception as exc:
            raise TypeError(f"fn and initializer must be picklable top-level functions: {exc}") from exc
        self.n_workers = n_workers
        self.time_limit_s = float(time_limit_s)
        self.startup_timeout_s = float(startup_timeout_s)
        self._env = dict(env or {})
        self._worker_env = worker_env
        self._cpu_shares = cpu_shares(n_workers) if pin_cpus else None
        limits = limits or Limits()
        if memory_limit_mb is not None:
            limits = Limits(memory_mb=memory_limit_mb, cpu_time_s=limits.cpu_time_s)
        self.limits = limits
        self._scratch_root = scratch_root
        self.scratch_root: Path | None = None
        self._owns_scratch = scratch_root is None
        self._ctx = mp.get_context("spawn")
        self._queue: collections.deque[_Task] = collections.deque()
        self._done: collections.deque[TaskResult] = collections.deque()
        self._known: set[Hashable] = set()  # task ids submitted and not yet yielded
        self._start_failures = 0
        self._broken = ""
        self._closed = False
        self._started = False
        self._counter = itertools.count()
        self._workers: list[_Worker | None] = [None] * n_workers

    def start(self) -> "LocalExecutor":
        """Create the scratch root and spawn the workers (once; entering a `with` block calls it)."""
        if self._closed:
            raise RuntimeError("executor is shut down")
        if self._started:
            return self
        root = (Path(tempfile.mkdtemp(prefix="evolve-scratch-")) if self._scratch_root is None
                else Path(self._scratch_root))
        root.mkdir(parents=True, exist_ok=True)
        self.scratch_root = root.resolve()
        self._started = True
        for index in range(self.n_workers):
            self._workers[index] = self._spawn(index)
        _LIVE_EXECUTORS.add(self)
        return self

    # ---- public API ------------------------------------------------------------------
    def submit(self, task_id: Hashable, payload: Any, size: int = 1) -> None:
        """Queue a task; it starts as soon as a worker is free. Never blocks on work. A task of `size`
        evaluations (a batch) gets `size` times the wall-clock and CPU-time limits."""
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        blob = self._accept(task_id, payload)
        task = _Task(task_id, blob, int(size))
        if self._broken:
            self._finish(task, "crash", reason=self._broken, worker=-1)
            return
        self._queue.append(task)
        self._dispatch()

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (diagnostics, tests)."""
        return [w.process.pid for w in self._workers if w is not None and w.process.pid is not None]

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every worker has started (imports + initializer); True if all did."""
        if not self._started:
            raise RuntimeError("executor not started: call start() first or use it in a `with` block")
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed and not self._broken and not all(w and w.ready for w in self._workers):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._poll(remaining)
        return not self._closed and not self._broken

    def shutdown(self) -> None:
        """Kill all workers and remove scratch space. Queued tasks are dropped."""
        if self._closed:
            return
        self._closed = True
        _LIVE_EXECUTORS.discard(self)
        if not self._started:
            return
        for worker in self._workers:
            if worker is not None:
                self._retire(worker, graceful=worker.task is None)
        self._workers = [None] * self.n_workers
        self._queue.clear()
        if self._owns_scratch:
            shutil.rmtree(self.scratch_root, ignore_errors=True)

    def __del__(self) -> None:  # best effort; atexit and __exit__ are the real guarantees
        try:
            self.shutdown()
        except Exception:  # noqa: BLE001
            pass

    # ---- internals -------------------------------------------------------------------
    def _spawn(self, index: int) -> _Worker:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        extra = dict(self._env)
        if self._worker_env is not None:
            extra.update(self._worker_env(index))
        extra["EVOLVE_WORKER"] = str(index)
        if self._cpu_shares is not None:
            extra[CPUS_ENV] = ",".join(map(str, self._cpu_shares[index]))
        process = self._ctx.Process(
            target=_worker_main,
            args=(child_conn, self._blob, str(self.scratch_root), self.limits),
            name=f"evolve-worker-{index}",
            daemon=False,  # tasks may start processes of their own
        )
        start_with_env(process, worker_environment(os.environ, extra))
        child_conn.close()
        return _Worker(index=index, process=process, conn=parent_conn, spawned=time.monotonic())

    def _retire(self, worker: _Worker, graceful: bool = False) -> None:
        """Stop a worker for good (SIGKILL unless it is idle and exits on pipe close)."""
        try:
            worker.conn.close()
        except OSError:
            pass
        if graceful:
            worker.process.join(timeout=1.0)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5.0)
        if worker.task is not None and worker.task.scratch is not None:
            shutil.rmtree(worker.task.scratch, ignore_errors=True)
        try:
            worker.process.close()
        except ValueError:
            pass

    def _replace(self, worker: _Worker) -> None:
        """Swap a dead or killed worker for a fresh one in the same slot."""
        self._retire(worker)
        if not worker.ready:
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                self._break(f"workers keep dying during start-up ({MAX_START_FAILURES} in a row)")
                self._workers[worker.index] = None
                return
        self._workers[worker.index] = self._spawn(worker.index)

    def _break(self, reason: str) -> None:
        """Give up on the pool: every queued task ends as a crash with `reason`."""
        log.error("executor broken: %s", reason)
        self._broken = reason
        while self._queue:
            self._finish(self._queue.popleft(), "crash", reason=reason, worker=-1)

    def _scratch_for(self, task_id: Hashable) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(task_id))[:48] or "task"
        return Path(tempfile.mkdtemp(prefix=f"{safe}-{next(self._counter)}-", dir=self.scratch_root))

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._queue:
                return
            if worker is None or not worker.ready or worker.task is not None:
                continue
            task = self._queue.popleft()
            task.scratch = self._scratch_for(task.task_id)
            task.started = time.monotonic()
            worker.task = task
            try:
                worker.conn.send((task.payload_blob, str(task.scratch), task.size))
            except (OSError, EOFError, BrokenPipeError):
                pass  # the worker is dead; _poll sees its sentinel and reports a crash

    def _finish(self, task: _Task, status: str, value: Any = None, reason: str = "", worker: int = -1) -> None:
        seconds = time.monotonic() - task.started if task.started else 0.0
        if task.scratch is not None:
            shutil.rmtree(task.scratch, ignore_errors=True)
        self._done.append(TaskResult(task.task_id, status, value, reason, seconds, worker))

    def _poll(self, timeout: float | None) -> None:
        """Wait for one round of events (a message, a death, a deadline) and handle them."""
        self._dispatch()
        now = time.monotonic()
        waitables: list[Any] = []
        deadlines: list[float] = []
        for worker in self._workers:
            if worker is None:
                continue
            waitables += [worker.conn, worker.process.sentinel]
            if worker.task is not None:
                deadlines.append(worker.task.started + self.time_limit_s * worker.task.size)
            elif not worker.ready:
                deadlines.append(worker.spawned + self.startup_timeout_s)
        if not waitables:
            return
        wait_s = None if not deadlines else max(0.0, min(deadlines) - now)
        if timeout is not None:
            wait_s = timeout if wait_s is None else min(wait_s, timeout)
        ready = set(mpc.wait(waitables, timeout=wait_s))
        for worker in list(self._workers):
            if worker is None:
                continue
            if worker.conn in ready or worker.process.sentinel in ready:
                self._handle_io(worker)
        self._enforce_deadlines()
        self._dispatch()

    def _handle_io(self, worker: _Worker) -> None:
        """Read a worker's messages; if its pipe closed or it exited, report and replace it."""
        closed = False
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "ready":
                    worker.ready, worker.init_error = True, message[1]
                    self._start_failures = 0
                elif worker.task is not None:
                    status, content = message
                    task, worker.task = worker.task, None
                    if status == "ok":
                        self._finish(task, "ok", value=content, worker=worker.index)
                    else:
                        self._finish(task, "error", reason=content, worker=worker.index)
        except (EOFError, OSError):
            closed = True  # the worker's end of the pipe is gone: it died or is dying
        except Exception as exc:  # noqa: BLE001 - a result that does not unpickle here
            if worker.task is not None:
                task, worker.task = worker.task, None
                reason = "result could not be received: " + describe_exception(exc)
                self._finish(task, "error", reason=reason, worker=worker.index)
        if not closed and worker.process.is_alive():
            return
        worker.process.join(timeout=2.0)
        if worker.process.is_alive():  # pipe gone but the process lingers: finish it
            worker.process.kill()
            worker.process.join(timeout=5.0)
        reason = exit_reason(worker.process.exitcode, self.limits)
        if worker.task is not None:
            task, worker.task = worker.task, None
            over_cpu = worker.process.exitcode == -signal.SIGXCPU and self.limits.cpu_time_s
            self._finish(task, "timeout" if over_cpu else "crash", reason=reason, worker=worker.index)
        elif worker.ready:
            log.warning("idle worker %d died: %s; restarting it", worker.index, reason)
        else:
            log.warning("worker %d died during start-up: %s", worker.index, reason)
        self._replace(worker)

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            if worker is None:
                continue
            if worker.task is not None and now - worker.task.started >= self.time_limit_s * worker.task.size:
                task, worker.task = worker.task, None
                self._finish(task, "timeout", reason=f"timed out after {self.time_limit_s * task.size:.1f} s",
                             worker=worker.index)
                worker.ready = True  # it did start; a timeout is not a start-up failure
                self._replace(worker)
            elif worker.task is None and not worker.ready and now - worker.spawned >= self.startup_timeout_s:
                log.warning("worker %d not ready after %.0f s; restarting it", worker.index, self.startup_timeout_s)
                self._replace(worker)
