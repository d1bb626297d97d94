"""executor=ray on a real local Ray cluster (started once for the module: Ray starts slowly on 2 cores)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import ray

from evolve.campaign import Campaign
from evolve.execution import Limits
from evolve.knowledge import KnowledgeBase
from evolve.execution.ray_cluster import RayExecutor, connect
from tests.conftest import run_to_completion

ROOT = Path(__file__).resolve().parent.parent


def task(payload):
    kind, arg = payload
    if kind == "square":
        return arg * arg
    if kind == "raise":
        raise ValueError(f"bad input {arg}")
    if kind == "sleep":
        time.sleep(arg)
        return os.getpid()
    if kind == "busy":
        while True:
            pass
    if kind == "env":
        return {k: os.environ.get(k) for k in arg}
    if kind == "scratch":
        Path("marker.txt").write_text("x")
        return os.getcwd(), os.environ["EVOLVE_SCRATCH"], sorted(os.listdir("."))
    if kind == "unpicklable":
        return lambda: None
    if kind == "pidfile":  # attempt n writes <dir>/<n>.pid (whole, by rename); the first attempt waits to be killed
        folder = Path(arg)
        attempt = len(list(folder.glob("*.pid"))) + 1
        (folder / f"{attempt}.tmp").write_text(str(os.getpid()))
        (folder / f"{attempt}.tmp").rename(folder / f"{attempt}.pid")
        if attempt == 1:
            time.sleep(60)
        return attempt
    raise KeyError(kind)


@pytest.mark.slow
def test_tiny_campaign_on_ray(tmp_path, numeric_cfg):
    """The user's path: executor=ray with address null starts a local cluster sized by the config, runs the
    campaign on it (workers import the plugin through the campaign's PYTHONPATH) and stops it at the end.
    It runs first in this module, before the shared cluster exists."""
    from omegaconf import OmegaConf

    from tests.conftest import compose_config

    started_here = not ray.is_initialized()
    cfg = numeric_cfg(["campaign.cycles=2", "tracking.enabled=false"], hostile=True)
    ray_cfg = OmegaConf.to_container(compose_config(["executor=ray"]).executor)
    assert ray_cfg["kind"] == "ray" and ray_cfg["address"] is None
    # the limit counts from a task's start in its worker (Ray's worker start-up is not charged), and is
    # generous for the honest evaluations of a loaded 2-core machine: only the `hang` baseline reaches it
    cfg["executor"] = {**ray_cfg, "time_limit_s": 60.0, "num_cpus": 2}
    summary = Campaign(cfg, tmp_path / "run", ROOT).run()
    if started_here:
        assert not ray.is_initialized()  # the campaign's executor started this cluster, so it stopped it
    assert all(summary["evaluations_by_stage"][s] >= 1 for s in ("isolated", "cross", "full"))
    assert summary["failed"] == 3 and summary["complete"]
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", cfg["campaign"]["name"]).open()
    reasons = " | ".join(c.reason for c in kb.candidates(status="failed"))
    assert "non-finite loss at step 3" in reasons
    assert "timeout: timed out after 60.0 s" in reasons
    assert "crash: Ray worker or node lost (WorkerCrashedError) in 2 attempts" in reasons
    assert kb.integrity_errors() == []


@pytest.fixture(scope="module")
def cluster():
    os.environ["EVOLVE_TEST_API_KEY"] = "sk-should-not-leak"
    try:
        # workers import this module by the name pytest gave it (tests/ on the path) and tests.* from ROOT
        path = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
        connect(None, num_cpus=2, env={"PYTHONPATH": path, "EVOLVE_EXTRA": "yes"})
        yield
    finally:
        ray.shutdown()
        os.environ.pop("EVOLVE_TEST_API_KEY", None)


def test_results_failures_limits_and_isolation(cluster, tmp_path):
    """The 8 s wall limit counts from a task's start inside its worker: worker start-up on a loaded machine
    does not count, so `square` cannot time out and `sleep(60)` is stopped by the in-task timer."""
    ex = RayExecutor(task, time_limit_s=8.0, max_retries=1, limits=Limits(cpu_time_s=1.0), scratch_root=tmp_path).start()
    assert ex.slots() == 2
    res = run_to_completion(ex, {"sq": ("square", 7), "boom": ("raise", 3), "slow": ("sleep", 60),
                                 "env": ("env", ["EVOLVE_TEST_API_KEY", "EVOLVE_EXTRA", "XLA_FLAGS"]),
                                 "scratch": ("scratch", None), "pickle": ("unpicklable", None)}, timeout=600.0)
    assert res["sq"].status == "ok" and res["sq"].value == 49
    assert res["boom"].status == "error" and res["boom"].reason.startswith("ValueError: bad input 3")
    assert res["slow"].status == "timeout" and res["slow"].reason == "timed out after 8.0 s"
    env = res["env"].value
    assert env["EVOLVE_TEST_API_KEY"] is None and env["EVOLVE_EXTRA"] == "yes"
    assert "--xla_cpu_enable_concurrency_optimized_scheduler=false" in env["XLA_FLAGS"]
    cwd, scratch, listing = res["scratch"].value
    assert Path(cwd).resolve() == Path(scratch).resolve() and Path(scratch).parent == tmp_path.resolve()
    assert listing == ["marker.txt"] and not Path(scratch).exists()
    assert res["pickle"].status == "error" and "could not be sent" in res["pickle"].reason
    after = run_to_completion(ex, {f"n{i}": ("square", i) for i in range(4)}, timeout=600.0)  # the cluster goes on
    assert [after[f"n{i}"].value for i in range(4)] == [0, 1, 4, 9]
    ex.shutdown()
    assert ray.is_initialized()  # the executor did not start this cluster, so it leaves it running
    # the CPU-time budget, with a wall limit it cannot reach first however starved the busy loop is
    cpu = RayExecutor(task, time_limit_s=600.0, max_retries=0, limits=Limits(cpu_time_s=1.0), scratch_root=tmp_path).start()
    busy = run_to_completion(cpu, {"busy": ("busy", None)}, timeout=900.0)["busy"]
    assert busy.status == "timeout" and "CPU time limit of 1 s exceeded" in busy.reason
    cpu.shutdown()


def _kill_first_attempt(ex: RayExecutor, folder: Path) -> dict:
    """SIGKILL the first attempt once it runs (its pid file appears whole, by rename); no time race: the
    wait is bounded only so that a broken executor fails the test instead of hanging it."""
    ex.submit("victim", ("pidfile", str(folder)))
    deadline = time.monotonic() + 600
    while not (folder / "1.pid").exists() and time.monotonic() < deadline:
        list(ex.results(timeout=0.2))
    assert (folder / "1.pid").exists(), "the task never started"
    os.kill(int((folder / "1.pid").read_text()), signal.SIGKILL)  # the Ray worker process dies mid-task
    return run_to_completion(ex, {}, timeout=600.0)


@pytest.mark.parametrize("retries", [1, 0])
def test_a_worker_killed_mid_task_is_retried_or_failed_never_lost(cluster, tmp_path, retries):
    folder = tmp_path / "pids"
    folder.mkdir()
    ex = RayExecutor(task, time_limit_s=300.0, max_retries=retries, scratch_root=tmp_path).start()
    result = _kill_first_attempt(ex, folder)["victim"]
    if retries:
        assert result.status == "ok" and result.value == 2  # the retry ran in a fresh worker
    else:
        assert result.status == "crash" and "WorkerCrashedError" in result.reason
        assert "1 attempt" in result.reason



def test_the_engine_imports_ray_only_for_executor_ray():
    import subprocess
    import sys

    code = ("import sys; sys.modules['ray'] = None\n"
            "import evolve.campaign, evolve.execution, tools.crashtest\n"
            "from evolve.execution import make_executor\n"
            "try:\n    make_executor({'kind': 'ray', 'time_limit_s': 1}, print, scratch_root='/tmp')\n"
            "except ImportError:\n    print('ray needed only now')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ray needed only now", out.stderr[-2000:]


def test_the_wall_limit_is_counted_inside_the_task_from_its_start(tmp_path):
    """run_ray_task's own timer (no cluster needed): a task past its limit returns `timeout`, a quick one
    is untouched and leaves no timer armed behind it."""
    import pickle

    from evolve.execution.ray_cluster import run_ray_task

    assert run_ray_task(task, "slow", pickle.dumps(("sleep", 60)), str(tmp_path), Limits(), wall_s=0.5) == \
        ("timeout", "timed out after 0.5 s")
    assert run_ray_task(task, "sq", pickle.dumps(("square", 6)), str(tmp_path), Limits(), wall_s=30.0) == ("ok", 36)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
