"""Workers on CPUs of their own (executor.pin_cpus) and `executor.workers: auto`: on a CPU scale one worker per
CPU, so two evaluations never compete for a core and a measured training time does not depend on its neighbour."""
from __future__ import annotations

import os

import pytest

from evolve.config import ConfigError, _check_executor
from evolve.execution.factory import local_workers
from evolve.execution.local import LocalExecutor, cpu_shares
from tests.conftest import run_to_completion


def affinity(_payload):
    return sorted(os.sched_getaffinity(0))


def test_cpu_shares_are_disjoint_contiguous_and_cover_every_cpu():
    assert cpu_shares(2, [0, 1]) == [[0], [1]]
    assert cpu_shares(3, range(8)) == [[0, 1, 2], [3, 4], [5, 6, 7]]
    assert cpu_shares(1, [4, 2]) == [[2, 4]]
    assert cpu_shares(3, [0, 1]) == [[0], [1], [0]]  # more workers than CPUs: shares repeat round them


def test_auto_workers_one_per_cpu_on_a_cpu_scale_and_one_on_a_gpu():
    n = len(os.sched_getaffinity(0))
    assert local_workers({"workers": "auto", "max_auto_workers": 64}) == n
    assert local_workers({"workers": "auto", "max_auto_workers": 1}) == 1
    assert local_workers({"workers": "auto"}, device="gpu") == 1
    assert local_workers({"workers": 3}, device="gpu") == 3
    _check_executor({"kind": "local", "workers": "auto"})
    with pytest.raises(ConfigError, match="executor.workers"):
        _check_executor({"kind": "local", "workers": "two"})


def test_pinned_workers_run_on_their_own_cpus(tmp_path):
    n = 2
    with LocalExecutor(affinity, n_workers=n, time_limit_s=120, scratch_root=tmp_path, pin_cpus=True) as pool:
        # enough tasks that both workers take some (each task is instant, so only the set is asserted)
        results = run_to_completion(pool, {i: None for i in range(20)})
    seen = {tuple(r.value) for r in results.values()}
    shares = {tuple(s) for s in cpu_shares(n)}
    assert seen <= shares and all(r.ok for r in results.values())
    with LocalExecutor(affinity, n_workers=1, time_limit_s=120, scratch_root=tmp_path / "free") as pool:
        free = run_to_completion(pool, {0: None})
    assert free[0].value == sorted(os.sched_getaffinity(0))
