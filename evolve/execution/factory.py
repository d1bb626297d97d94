"""Choosing an executor: the factory that builds one from config (conf/executor/<kind>.yaml).

Why a protocol: the campaign only submits tasks and consumes results, so `executor=local` (worker
processes on this machine, `local.py`) and `executor=ray` (Ray tasks on a cluster, `ray_cluster.py`)
are interchangeable. Ray is imported only when `kind: ray` is chosen. Nothing starts here: the
executor starts when it is entered as a context manager (or on `start()`).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from evolve.execution.local import LocalExecutor
from evolve.execution.protocol import Executor
from evolve.execution.sandbox import Limits

log = logging.getLogger(__name__)

KINDS = ("local", "ray")


def limits_from_config(ecfg: Mapping[str, Any], device: str = "cpu") -> Limits:
    """The per-task resource limits of an executor config; no address-space limit on GPUs."""
    memory = ecfg.get("memory_limit_mb")
    if memory is not None and device == "gpu":
        log.info("executor.memory_limit_mb=%s ignored on a GPU (CUDA reserves huge virtual ranges)", memory)
        memory = None
    cpu = ecfg.get("cpu_time_limit_s")
    return Limits(memory_mb=int(memory) if memory is not None else None,
                  cpu_time_s=float(cpu) if cpu is not None else None)


def local_workers(ecfg: Mapping[str, Any], device: str = "cpu") -> int:
    """`executor.workers`: a number, or "auto": on a CPU scale one per CPU of this process, at most
    `max_auto_workers` (each holds its own compiled programs: ~1.5-3 GB at tiny); on a GPU one (one device)."""
    workers = ecfg.get("workers", 1)
    if workers != "auto":
        return int(workers)
    if device != "cpu":
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), int(ecfg.get("max_auto_workers", 4))))


def make_executor(ecfg: Mapping[str, Any], fn: Callable[[Any], Any], *, scratch_root: str | Path,
                  scale: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Executor:
    """Build the executor `ecfg["kind"]` names (conf/executor/<kind>.yaml) for running `fn`."""
    kind = str(ecfg.get("kind", "local"))
    scale = scale or {}
    device = str(scale.get("device", "cpu"))
    limits = limits_from_config(ecfg, device)
    if kind == "local":
        return LocalExecutor(fn, n_workers=local_workers(ecfg, device), time_limit_s=float(ecfg["time_limit_s"]),
                             scratch_root=scratch_root, env=env, limits=limits,
                             pin_cpus=bool(ecfg.get("pin_cpus", False)) and device == "cpu")
    if kind == "ray":
        from evolve.execution.ray_cluster import RayExecutor  # imports ray: only when asked for

        resources = scale.get("resources") or {}
        return RayExecutor(fn, address=ecfg.get("address"), num_cpus=ecfg.get("num_cpus"),
                           num_gpus=ecfg.get("num_gpus"), task_cpus=float(resources.get("cpus_per_task", 1)),
                           task_gpus=float(resources.get("gpus_per_task", 0)),
                           max_retries=int(ecfg.get("max_retries", 1)), time_limit_s=float(ecfg["time_limit_s"]),
                           startup_allowance_s=float(ecfg.get("startup_allowance_s", 120.0)), limits=limits,
                           scratch_root=scratch_root, env=env)
    raise ValueError(f"unknown executor kind {kind!r}; choose one of: {', '.join(KINDS)}")
