"""The one loop from evaluation tasks to knowledge-base evaluations (campaign and gallery use it)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from evolve.execution import TaskKey, TaskResult, evaluations
from evolve.execution.evaluations import EvaluationTask
from evolve.execution.local import LocalExecutor
from evolve.execution.worker import run_evaluation

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"numeric": {"plugin": "tests.numeric_domain:NumericDomain", "n_var": 3, "problem": "zdt1"}}


def test_tasks_come_back_as_evaluations_keyed_by_their_task(tmp_path):
    good = [0.5, 0.25, 0.75]
    tasks = [EvaluationTask(TaskKey("c1", "numeric", seed), CONFIGS, {"numeric": good}, "isolated", 0.5)
             for seed in (0, 1)]
    tasks.append(EvaluationTask(TaskKey("c2", "numeric", 0), CONFIGS, {"numeric": [0.5, 2.0, 0.5]}, "isolated", 0.5))
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with LocalExecutor(run_evaluation, n_workers=1, time_limit_s=120, scratch_root=tmp_path, env=env) as pool:
        out = {o.key: o for o in evaluations.run(pool, tasks)}
    assert set(out) == {t.key for t in tasks}
    for seed in (0, 1):
        ev = out[TaskKey("c1", "numeric", seed)].evaluation
        assert (ev.candidate, ev.domain, ev.seed, ev.status) == ("c1", "numeric", seed, "ok")
        assert ev.score is not None and ev.cost["seconds"] > 0
    bad = out[TaskKey("c2", "numeric", 0)].evaluation
    assert bad.status == "error" and bad.score is None and "GenomeError" in bad.reason


def test_a_result_under_a_foreign_key_is_refused():
    with pytest.raises(TypeError, match="TaskKey"):
        evaluations.evaluation_of(TaskResult("c1|numeric|0", "ok", {"score": 1.0}))


def test_an_executor_runs_nothing_before_it_is_started(tmp_path):
    pool = LocalExecutor(run_evaluation, n_workers=1, scratch_root=tmp_path / "never")
    with pytest.raises(RuntimeError, match="not started"):
        pool.submit(TaskKey("c", "numeric", 0), {})
    pool.shutdown()
    assert not (tmp_path / "never").exists()  # the constructor only stored settings
