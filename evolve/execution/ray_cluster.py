"""Evaluations as Ray tasks on a cluster: the LocalExecutor's interface, Ray's scheduling and retries.

Why this shape: the campaign driver stays the only process that writes the knowledge base; Ray only
runs `fn(payload)` and hands back plain results. Each task reserves `task_cpus` / `task_gpus` (fractions
allowed) so Ray packs evaluations onto GPUs and nodes. A task whose worker process or node dies is
re-run by Ray up to `max_retries` times and then comes back as a `crash` result, never lost. The
wall-clock limit counts from the moment the task starts running inside its worker (a timer there,
SIGALRM -> `timeout`), so a slow worker start-up on a loaded machine is not charged to the task; the
driver force-cancels a task with no result `startup_allowance_s` past its limit (counted from dispatch:
a worker that never starts, native code that ignores the timer; its worker is killed, Ray does not
retry a cancelled task) and reports it as `timeout` too. Inside the task the same isolation as locally
applies: its own scratch directory, a CPU-time budget (SIGXCPU -> `timeout`), an address-space
headroom, secrets stripped from the environment.

This module imports ray; `evolve.execution.make_executor` imports it only for `executor=ray`.
"""
from __future__ import annotations

import collections
import logging
import math
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping

import ray
import ray.exceptions

from evolve.execution.protocol import TaskResult
from evolve.execution.queue import ResultQueue
from evolve.execution.sandbox import (Limits, describe_exception, environment, is_secret, run_task,
                                      set_address_space_limit, worker_environment)

log = logging.getLogger(__name__)


START_ATTEMPTS = 3  # a local cluster's start is retried: Ray gives its raylet a fixed 30 s, too short under load


class CpuTimeExceeded(Exception):
    """Raised inside a Ray task when its CPU-time budget runs out (SIGXCPU)."""


class WallTimeExceeded(Exception):
    """Raised inside a Ray task when its wall-clock limit, counted from its start, runs out (SIGALRM)."""


# --------------------------------------------------------------------------------------
# Task side (runs in a Ray worker process)
# --------------------------------------------------------------------------------------
def _address_space_mb() -> int:
    """Virtual memory this process maps now (VmSize), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) // 1024
    return 0


def _scratch_root(preferred: str) -> Path:
    """The driver's scratch root when this node can use it, else a temp dir of this node."""
    for root in (Path(preferred), Path(tempfile.gettempdir()) / "evolve-scratch"):
        try:
            root.mkdir(parents=True, exist_ok=True)
            return root
        except OSError:
            continue
    return Path(tempfile.gettempdir())


def _on_sigxcpu(signum: int, frame: Any) -> None:
    raise CpuTimeExceeded("CPU time limit exceeded (SIGXCPU)")


def _on_sigalrm(signum: int, frame: Any) -> None:
    raise WallTimeExceeded("wall-clock limit exceeded (SIGALRM)")


def _timed(fn: Callable[[Any], Any], wall_s: float) -> Callable[[Any], Any]:
    """fn under a wall-clock timer that starts when fn starts and stops when it returns."""
    def run(payload: Any) -> Any:
        signal.setitimer(signal.ITIMER_REAL, wall_s)
        try:
            return fn(payload)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return run


def run_ray_task(fn: Callable[[Any], Any], task_id: Hashable, payload_blob: bytes, scratch_root: str,
                 limits: Limits, wall_s: float | None = None) -> tuple[str, Any]:
    """One evaluation inside a Ray worker: ("ok", value) | ("error", reason) | ("timeout", reason).
    `wall_s` limits the task's wall time from its start (the driver's cancel is the backstop)."""
    for name in [k for k in os.environ if is_secret(k)]:  # a joined cluster may carry the driver's secrets
        del os.environ[name]
    scratch = tempfile.mkdtemp(prefix="ray-task-", dir=_scratch_root(scratch_root))
    home = os.getcwd()
    main_thread = threading.current_thread() is threading.main_thread()
    cpu = limits.cpu_time_s if main_thread else None  # a SIGXCPU handler needs the main thread
    previous = signal.signal(signal.SIGXCPU, _on_sigxcpu) if cpu else None
    wall = wall_s if main_thread else None  # so does a SIGALRM handler
    previous_alarm = signal.signal(signal.SIGALRM, _on_sigalrm) if wall else None
    if limits.memory_mb:
        set_address_space_limit(_address_space_mb() + int(limits.memory_mb))
    try:
        status, content = run_task(_timed(fn, wall) if wall else fn, payload_blob, scratch, home, cpu)
        if status == "ok":
            try:
                pickle.dumps(content)  # the same contract as locally: plain picklable results
            except BaseException as exc:  # noqa: BLE001
                return ("error", "task result could not be sent: " + describe_exception(exc))
        elif content.startswith(CpuTimeExceeded.__name__):
            return ("timeout", f"CPU time limit of {cpu:g} s exceeded (SIGXCPU)")
        elif content.startswith(WallTimeExceeded.__name__):
            return ("timeout", f"timed out after {wall:.1f} s")
        return (status, content)
    finally:
        if limits.memory_mb:
            set_address_space_limit(None)
        if previous is not None:
            signal.signal(signal.SIGXCPU, previous)
        if previous_alarm is not None:
            signal.signal(signal.SIGALRM, previous_alarm)
        shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------------------
# Driver side
# --------------------------------------------------------------------------------------
def connect(address: str | None = None, *, num_cpus: float | None = None, num_gpus: float | None = None,
            env: Mapping[str, str] | None = None) -> None:
    """ray.init: a local cluster (address None) whose processes start from a secret-free environment
    plus `env`, or an existing cluster ("auto", host:port) with `env` as the tasks' runtime env."""
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if address is None:
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                with environment(worker_environment(os.environ, env)):
                    ray.init(num_cpus=num_cpus, num_gpus=num_gpus, **quiet)
                return
            except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception when its raylet starts late
                if "timed out during startup" not in str(exc) or attempt == START_ATTEMPTS:
                    raise
                log.warning("Ray's node did not start within its 30 s (a loaded machine?); attempt %d of %d",
                            attempt + 1, START_ATTEMPTS)
                ray.shutdown()
    else:
        runtime_env = {"env_vars": {k: str(v) for k, v in env.items()}} if env else None
        ray.init(address=address, runtime_env=runtime_env, **quiet)


@dataclass
class _Flight:
    task_id: Hashable
    started: float
    size: int = 1  # evaluations the task holds: its limits are the executor's times this


class RayExecutor(ResultQueue):
    """Runs `fn(payload)` as Ray tasks; same interface and TaskResult contract as LocalExecutor.

    address:      None = start a local cluster (num_cpus / num_gpus; its processes start from a
                  secret-free environment plus `env`); "auto" or host:port = join a running cluster.
                  If this process already called ray.init, that connection is used as it is.
    task_cpus, task_gpus: resources one task reserves (fractional GPUs allowed).
    max_retries:  Ray re-runs of a task whose worker or node died (then a `crash` result).
    time_limit_s: wall-clock limit per task, counted from its start in the worker.
    startup_allowance_s: how much longer than time_limit_s after dispatch the driver waits for a result
                  before it cancels the task (worker start-up, native code deaf to the timer).
    limits:       CPU-time budget and address-space headroom inside the task (see Limits).
    """

    def __init__(self, fn: Callable[[Any], Any], *, address: str | None = None, num_cpus: float | None = None,
                 num_gpus: float | None = None, task_cpus: float = 1.0, task_gpus: float = 0.0,
                 max_retries: int = 1, time_limit_s: float = 600.0, startup_allowance_s: float = 120.0,
                 limits: Limits | None = None,
                 scratch_root: str | Path | None = None, env: Mapping[str, str] | None = None) -> None:
        if time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        if task_cpus < 0 or task_gpus < 0 or (task_cpus == 0 and task_gpus == 0):
            raise ValueError(f"a task must reserve some CPUs or GPUs, got cpus={task_cpus} gpus={task_gpus}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.fn = fn
        self.task_cpus, self.task_gpus = float(task_cpus), float(task_gpus)
        self.max_retries = int(max_retries)
        self.time_limit_s = float(time_limit_s)
        if startup_allowance_s < 0:
            raise ValueError(f"startup_allowance_s must be >= 0, got {startup_allowance_s}")
        self.startup_allowance_s = float(startup_allowance_s)
        self.limits = limits or Limits()
        self._scratch_root = scratch_root
        self.scratch_root: Path | None = None
        self._connection = dict(address=address, num_cpus=num_cpus, num_gpus=num_gpus, env=env)
        self._owns_cluster = False
        self._remote: Any = None
        self._queue: collections.deque[tuple[Hashable, bytes, int]] = collections.deque()
        self._flights: dict[Any, _Flight] = {}
        self._done: collections.deque[TaskResult] = collections.deque()
        self._known: set[Hashable] = set()
        self._closed = False
        self._started = False

    def start(self) -> "RayExecutor":
        """Connect to (or start) the cluster, unless this process is already connected; once."""
        if self._closed:
            raise RuntimeError("executor is shut down")
        if self._started:
            return self
        root = (Path(self._scratch_root) if self._scratch_root is not None
                else Path(tempfile.gettempdir()) / "evolve-scratch")
        root.mkdir(parents=True, exist_ok=True)
        self.scratch_root = root.resolve()
        if not ray.is_initialized():
            connect(**self._connection)
            self._owns_cluster = True
        self._remote = ray.remote(run_ray_task).options(
            num_cpus=self.task_cpus, num_gpus=self.task_gpus, max_retries=self.max_retries,
            retry_exceptions=False)
        self._started = True
        return self

    # ---- public API ------------------------------------------------------------------
    def submit(self, task_id: Hashable, payload: Any, size: int = 1) -> None:
        """Queue a task; it is dispatched as soon as the cluster has room. Never blocks on work. A task of
        `size` evaluations (a batch) gets `size` times the wall-clock and CPU-time limits."""
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        blob = self._accept(task_id, payload)
        self._queue.append((task_id, blob, int(size)))
        self._dispatch()


    def slots(self) -> int:
        """How many tasks the cluster can run at once with this executor's per-task resources."""
        total = ray.cluster_resources()
        fits = []
        if self.task_cpus > 0:
            fits.append(math.floor(total.get("CPU", 0.0) / self.task_cpus + 1e-9))
        if self.task_gpus > 0:
            fits.append(math.floor(total.get("GPU", 0.0) / self.task_gpus + 1e-9))
        return max(1, min(fits))

    def shutdown(self) -> None:
        """Cancel running tasks (their workers are killed); stop the cluster if this executor started it."""
        if self._closed:
            return
        self._closed = True
        for ref in list(self._flights):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
        self._flights.clear()
        self._queue.clear()
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()

    # ---- internals -------------------------------------------------------------------
    def _dispatch(self) -> None:
        if not self._queue:
            return
        room = self.slots() - len(self._flights)
        while self._queue and room > 0:
            task_id, blob, size = self._queue.popleft()
            limits = Limits(self.limits.memory_mb, self.limits.cpu_time_s * size if self.limits.cpu_time_s else None)
            ref = self._remote.remote(self.fn, task_id, blob, str(self.scratch_root), limits, self.time_limit_s * size)
            self._flights[ref] = _Flight(task_id, time.monotonic(), size)
            room -= 1

    def _finish(self, flight: _Flight, status: str, value: Any = None, reason: str = "") -> None:
        self._done.append(TaskResult(flight.task_id, status, value, reason, time.monotonic() - flight.started, -1))

    def _poll(self, timeout: float | None) -> None:
        self._dispatch()
        if not self._flights:
            return
        now = time.monotonic()
        wait_s = max(0.0, min(f.started + self._backstop_s(f) for f in self._flights.values()) - now)
        if timeout is not None:
            wait_s = min(wait_s, timeout)
        ready, _ = ray.wait(list(self._flights), num_returns=1, timeout=wait_s)
        if ready:  # collect everything else that is already done too
            ready, _ = ray.wait(list(self._flights), num_returns=len(self._flights), timeout=0)
        for ref in ready:
            self._collect(ref, self._flights.pop(ref))
        self._enforce_deadlines()
        self._dispatch()

    def _collect(self, ref: Any, flight: _Flight) -> None:
        try:
            status, content = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            self._finish(flight, "timeout", reason=f"timed out after {self.time_limit_s * flight.size:.1f} s")
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.OutOfMemoryError, ray.exceptions.ObjectLostError) as exc:
            tries = f"{self.max_retries + 1} attempt{'s' if self.max_retries else ''}"
            self._finish(flight, "crash", reason=f"Ray worker or node lost ({type(exc).__name__}) in {tries}: "
                                                 f"{describe_exception(exc).splitlines()[0][:1000]}")
        except Exception as exc:  # noqa: BLE001 - anything else Ray raises is this task's failure
            self._finish(flight, "crash", reason="Ray task failed: " + describe_exception(exc))
        else:
            if status == "ok":
                self._finish(flight, "ok", value=content)
            else:
                self._finish(flight, status, reason=content)

    def _backstop_s(self, flight: _Flight) -> float:
        """Seconds after dispatch at which the driver gives up on a task."""
        return self.time_limit_s * flight.size + self.startup_allowance_s

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for ref, flight in list(self._flights.items()):
            if now - flight.started >= self._backstop_s(flight):
                del self._flights[ref]
                try:
                    ray.cancel(ref, force=True)  # kills the worker; Ray does not retry cancelled tasks
                except Exception as exc:  # noqa: BLE001
                    log.warning("could not cancel task %s: %s", flight.task_id, exc)
                self._finish(flight, "timeout", reason=f"no result {self._backstop_s(flight):.1f} s after dispatch "
                                                       f"(limit {self.time_limit_s * flight.size:.1f} s from its start, plus "
                                                       f"{self.startup_allowance_s:.1f} s to start)")
