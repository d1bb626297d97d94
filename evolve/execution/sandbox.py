"""The task sandbox: what isolates one evaluation from the driver and from the machine.

A task runs in its own scratch directory, under a CPU-time budget (RLIMIT_CPU, re-armed per task) and
an address-space limit (RLIMIT_AS), without core dumps, in an environment stripped of anything that
looks like a secret. Shared by the local executor's worker processes and Ray tasks. Only the standard
library (and the stdlib-only `proxies.xla`) is imported here: worker processes import this module first.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import pickle
import signal
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from proxies.xla import with_cpu_flag

# Environment variable names containing any of these are not passed to workers.
SECRET_MARKERS: tuple[str, ...] = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
REASON_TAIL = 2000  # characters of traceback kept in TaskResult.reason
MESSAGE_HEAD = 2000  # characters of an exception's message kept in TaskResult.reason


@dataclass(frozen=True)
class Limits:
    """Per-task resource limits enforced inside the worker with setrlimit.

    memory_mb:  RLIMIT_AS (address space) of the worker process; an allocation beyond it fails
                (MemoryError in Python, an allocation error or abort inside XLA). None = off.
                Leave it off on GPUs: CUDA reserves far more virtual address space than it uses.
    cpu_time_s: CPU seconds (all threads together) one task may burn; past it the kernel sends
                SIGXCPU and the task ends as a timeout. None = off. Multi-threaded XLA burns CPU
                time faster than wall time, so size it as wall limit x cores used.
    """

    memory_mb: int | None = None
    cpu_time_s: float | None = None

    def __post_init__(self) -> None:
        if self.memory_mb is not None and int(self.memory_mb) <= 0:
            raise ValueError(f"memory_mb must be > 0 or None, got {self.memory_mb}")
        if self.cpu_time_s is not None and float(self.cpu_time_s) <= 0:
            raise ValueError(f"cpu_time_s must be > 0 or None, got {self.cpu_time_s}")



# --------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------
def is_secret(name: str) -> bool:
    """Whether an environment variable name looks like it holds a credential."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def worker_environment(base: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a worker starts with: `base` minus secrets, plus `extra`, plus the
    XLA flag that keeps vmapped CPU code from deadlocking."""
    env = {k: v for k, v in base.items() if not is_secret(k)}
    env.update({str(k): str(v) for k, v in (extra or {}).items()})
    with_cpu_flag(env)
    return env


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Make os.environ exactly `env` for the duration of the block (e.g. while starting processes
    that must not inherit the driver's secrets), then restore it key by key."""
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in set(os.environ) | set(env)}
        try:
            for key in list(os.environ):
                if key not in env:
                    del os.environ[key]
            for key, value in env.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                elif os.environ.get(key) != value:
                    os.environ[key] = value


def start_with_env(process: mp.process.BaseProcess, env: Mapping[str, str]) -> None:
    """Start a spawn process whose *initial* environment is `env`.

    multiprocessing execs the child with the parent's environment, so the parent's
    os.environ is patched for the few milliseconds of `start()` (only the keys that differ)
    and restored. Starting clean matters: stripping secrets inside the child would leave
    them readable in /proc/<pid>/environ.
    """
    with environment(env):
        process.start()


# --------------------------------------------------------------------------------------


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more characters]"


def describe_exception(exc: BaseException) -> str:
    """`Type: message` followed by the tail of the traceback, both bounded (a genome can make an
    exception with a gigabyte-long message, or one whose str() itself raises)."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = "<exception message could not be formatted>"
    head = f"{type(exc).__name__}: {_bounded(message, MESSAGE_HEAD)}"
    try:
        tb = "".join(traceback.format_tb(exc.__traceback__))
    except Exception:  # noqa: BLE001
        tb = ""
    tail = tb[-REASON_TAIL:]
    return f"{head}\nTraceback (most recent call last, tail):\n{tail}" if tail else head


# ---- resource limits (worker side) ---------------------------------------------------
def cpu_seconds_used() -> float:
    """CPU time this process has used so far, all threads, user + system."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def set_cpu_budget(seconds: float | None) -> None:
    """Let the process burn `seconds` more CPU time from now (soft RLIMIT_CPU); None lifts it.

    RLIMIT_CPU counts the whole life of a process, so a persistent worker re-arms it before
    every task; only the soft limit moves (the hard one stays, so it can be raised again).
    """
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if seconds is None:
        soft = hard
    else:
        soft = int(math.ceil(cpu_seconds_used() + float(seconds)))
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def set_address_space_limit(megabytes: int | None) -> None:
    """Soft RLIMIT_AS of `megabytes` (None lifts it back to the hard limit)."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = hard if megabytes is None else int(megabytes) * 1024 * 1024
    if hard != resource.RLIM_INFINITY and soft > hard:
        soft = hard
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def disable_core_dumps() -> None:
    """A task killed by SIGSEGV/SIGXCPU/SIGABRT must not leave a multi-GB core file behind."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def watch_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Exit when the driver disappears, even in the middle of a long task (no orphans)."""

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="evolve-parent-watch", daemon=True).start()



def run_task(fn: Callable[[Any], Any], payload_blob: bytes, scratch: str, home: str,
              cpu_time_s: float | None = None) -> tuple:
    """Run one task inside its scratch directory under its CPU budget; return ("ok", value) or
    ("error", reason)."""
    os.environ["EVOLVE_SCRATCH"] = scratch
    tempfile.tempdir = scratch  # tempfile users also land in the scratch dir
    try:
        os.chdir(scratch)
        payload = pickle.loads(payload_blob)
        if cpu_time_s is not None:
            set_cpu_budget(cpu_time_s)
        return ("ok", fn(payload))
    except BaseException as exc:  # noqa: BLE001 - any failure of the task is its result
        return ("error", describe_exception(exc))
    finally:
        if cpu_time_s is not None:
            set_cpu_budget(None)
        os.chdir(home)
        tempfile.tempdir = None
        os.environ.pop("EVOLVE_SCRATCH", None)



def exit_reason(exitcode: int | None, limits: Limits | None = None) -> str:
    """Human-readable description of how a worker process ended (naming the limit it hit)."""
    if exitcode is None:
        return "worker died (exit code unknown)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        reason = f"worker died with signal {name} (exit {exitcode})"
        if limits is not None and limits.cpu_time_s and -exitcode == signal.SIGXCPU:
            return f"CPU time limit of {limits.cpu_time_s:g} s exceeded ({reason})"
        if limits is not None and limits.memory_mb and -exitcode in (signal.SIGABRT, signal.SIGSEGV):
            return f"{reason}; possibly an allocation beyond the {limits.memory_mb} MB address-space limit"
        return reason
    return f"worker died with exit code {exitcode}"

