"""The one loop from evaluation tasks to knowledge-base evaluations (campaign and gallery use it)."""
from __future__ import annotations

import json
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


BATCHING = {"numeric": {"plugin": "tests.hostile_domain:BatchingHostileDomain", "n_var": 3, "problem": "zdt1"}}


def _numeric_tasks(configs, genomes):
    return [EvaluationTask(TaskKey(f"c{i}", "numeric", seed), configs, {"numeric": g}, "isolated", 0.5)
            for i, g in enumerate(genomes) for seed in (0, 1)]


def test_plan_batches_one_domain_stage_and_fraction_and_keeps_the_order():
    tasks = _numeric_tasks(BATCHING, [[0.5, 0.25, 0.75]] * 5)  # 10 tasks
    tasks.insert(3, EvaluationTask(TaskKey("other", "numeric", 0), BATCHING, {"numeric": [0.5] * 3}, "cross", 0.5))
    units = evaluations.plan(tasks, evaluations.Batching(domains={"numeric"}, max_size=4, workers=1))
    assert [type(u).__name__ for u in units] == ["EvaluationBatch", "EvaluationTask", "EvaluationBatch",
                                                 "EvaluationBatch"]
    assert units[0].tasks[0].key == tasks[0].key  # the first task (the reference) is in the first unit
    assert [len(u.tasks) for u in units if isinstance(u, evaluations.EvaluationBatch)] == [4, 4, 2]
    flat = [t.key for u in units for t in (u.tasks if isinstance(u, evaluations.EvaluationBatch) else [u])]
    assert sorted(flat) == sorted(t.key for t in tasks) and len(flat) == len(tasks)
    # two workers: a group of 6 becomes two batches, never one that idles a worker
    two = evaluations.plan(tasks[:3] + tasks[4:7], evaluations.Batching(domains={"numeric"}, max_size=8, workers=2))
    assert [len(u.tasks) for u in two] == [4, 2]
    assert evaluations.plan(tasks, evaluations.Batching(domains={"numeric"}, max_size=1)) == tasks
    assert evaluations.plan(tasks, evaluations.Batching(domains=(), max_size=8)) == tasks


def test_a_batch_comes_back_one_evaluation_per_member_and_a_bad_member_fails_alone(tmp_path):
    """Batch members fail alone: an EvaluationError (nan) inside the batch, a worker crash (the batch is re-run as
    single tasks, each with its own limit); the others score as they do without batching."""
    from tests.hostile_domain import HOSTILE

    good = [[0.5, 0.25, 0.75], [0.3, 0.6, 0.1]]
    nan, crash = [HOSTILE["nan"], 0.5, 0.5], [HOSTILE["crash"], 0.5, 0.5]
    log, batches = tmp_path / "log.jsonl", tmp_path / "batches.jsonl"
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "EVOLVE_TEST_LOG": str(log),
           "EVOLVE_TEST_BATCH_LOG": str(batches)}
    batching = evaluations.Batching(domains={"numeric"}, max_size=8)
    with LocalExecutor(run_evaluation, n_workers=1, time_limit_s=120, scratch_root=tmp_path, env=env) as pool:
        alone = {o.key: o.evaluation for o in evaluations.run(pool, _numeric_tasks(CONFIGS, good))}
        with_nan = {o.key: o.evaluation for o in evaluations.run(pool, _numeric_tasks(BATCHING, good + [nan]), batching)}
        log.write_text("")
        batches.write_text("")
        tasks = _numeric_tasks(BATCHING, [good[0], crash, good[1]])
        with_crash = [o for o in evaluations.run(pool, tasks, batching)]
    assert len(with_nan) == 6 and len(with_crash) == 6
    assert {k for k, e in with_nan.items() if e.status != "ok"} == {TaskKey("c2", "numeric", 0), TaskKey("c2", "numeric", 1)}
    assert "non-finite loss" in with_nan[TaskKey("c2", "numeric", 0)].reason
    for key, ev in alone.items():
        assert with_nan[key].score == ev.score and with_nan[key].seconds > 0
    crashed = {o.key: o.evaluation for o in with_crash}
    assert sorted(o.key for o in with_crash) == sorted(t.key for t in tasks)  # each exactly once
    assert {k for k, e in crashed.items() if e.status != "ok"} == {TaskKey("c1", "numeric", 0), TaskKey("c1", "numeric", 1)}
    assert all(crashed[k].status == "crash" for k in (TaskKey("c1", "numeric", 0), TaskKey("c1", "numeric", 1)))
    for key, ev in alone.items():  # good[1] is c1 alone and c2 beside the crash
        same = TaskKey({"c0": "c0", "c1": "c2"}[key.candidate], "numeric", key.seed)
        assert crashed[same].status == "ok" and crashed[same].score == ev.score
    assert [json.loads(line) for line in batches.read_text().splitlines()] == [["batch", [0, 1, 0, 1, 0, 1]]]
    # the batch ran its first two members and died in the third; then all six ran alone
    assert len(log.read_text().splitlines()) == 3 + 6


def test_a_batch_gets_its_size_times_the_time_limit(tmp_path):
    """The wall-clock limit of a task of `size` evaluations is size x the per-task limit (decided: a batch's limit
    scales with its size; a member that then runs alone has its own)."""
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    slow = {"numeric": {**BATCHING["numeric"], "delay_s": 4.0}}  # each evaluation sleeps past the 3 s limit
    with LocalExecutor(run_evaluation, n_workers=1, time_limit_s=3.0, scratch_root=tmp_path, env=env) as pool:
        assert pool.wait_ready(timeout=300)
        task = _numeric_tasks(slow, [[0.5, 0.25, 0.75]])[0]
        pool.submit(("alone",), task.payload())
        pool.submit(("batch",), evaluations.EvaluationBatch((task,) * 2).payload(), size=20)  # 8 s of 60
        out = {r.task_id: r for r in pool.results()}
    assert out[("alone",)].status == "timeout" and "3.0 s" in out[("alone",)].reason
    assert out[("batch",)].status == "ok" and [m["status"] for m in out[("batch",)].value] == ["ok", "ok"]


@pytest.mark.slow  # two 2-cycle campaigns: ~20 s idle, 60 s under load
def test_a_campaign_with_batches_records_what_it_records_without(tmp_path, numeric_cfg, monkeypatch):
    """executor.batch_size over a domain with evaluate_batch: the same evaluations (keys, status, score), a nan and a
    crashing baseline failing alone, and batches really ran."""
    from evolve.campaign import Campaign
    from evolve.knowledge import KnowledgeBase

    batches = tmp_path / "batches.jsonl"
    monkeypatch.setenv("EVOLVE_TEST_BATCH_LOG", str(batches))
    runs = {}
    for size, plugin in ((1, "HostileDomain"), (4, "BatchingHostileDomain")):
        cfg = numeric_cfg(["campaign.cycles=2", f"executor.batch_size={size}"], hostile=["nan", "crash"])
        cfg["domains"]["numeric"]["plugin"] = f"tests.hostile_domain:{plugin}"
        cfg["tracking"]["enabled"] = False
        Campaign(cfg, tmp_path / f"run{size}", ROOT).run()
        kb = KnowledgeBase(tmp_path / f"run{size}" / "knowledge.db", cfg["campaign"]["name"]).open()
        runs[size] = {(kb.genome(kb.candidate(e.candidate).triple["numeric"])["json"].__repr__(), e.domain, e.seed):
                      (e.status, e.score) for e in kb.evaluations()}
        kb.close()
    assert runs[4] == runs[1]
    assert {s for s, _ in runs[4].values()} == {"ok", "error", "crash"}
    sizes = [len(json.loads(line)[1]) for line in batches.read_text().splitlines()]
    assert sizes and max(sizes) > 1
