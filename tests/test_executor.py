"""LocalExecutor with real spawned processes: results, failures, limits, isolation."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from evolve.execution import TaskResult
from evolve.execution.local import LocalExecutor
from evolve.execution.sandbox import exit_reason, is_secret, worker_environment


# Task functions must be top-level so that spawned workers can import them.
def task(payload):
    kind, arg = payload
    if kind == "square":
        return arg * arg
    if kind == "raise":
        raise ValueError(f"bad input {arg}")
    if kind == "sleep":
        start = time.time()
        time.sleep(arg)
        return (start, time.time(), os.getpid())
    if kind == "exit":
        os._exit(arg)
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "env":
        return {k: os.environ.get(k) for k in arg}
    if kind == "scratch":
        Path("marker.txt").write_text(arg)
        return (os.getcwd(), os.environ["EVOLVE_SCRATCH"], sorted(os.listdir(".")))
    if kind == "procenv":
        return Path("/proc/self/environ").read_bytes()
    if kind == "pid":
        return os.getpid()
    if kind == "alloc":
        return len(bytearray(arg * 1024 * 1024))
    raise KeyError(kind)


def failing_initializer():
    raise RuntimeError("no accelerator here")


def run_all(pool: LocalExecutor, jobs: dict[str, tuple], timeout: float = 60.0) -> dict[str, TaskResult]:
    for task_id, payload in jobs.items():
        pool.submit(task_id, payload)
    out: dict[str, TaskResult] = {}
    deadline = time.monotonic() + timeout
    while pool.pending() and time.monotonic() < deadline:
        for result in pool.results(timeout=1.0):
            assert result.task_id not in out, "a task was reported twice"
            out[result.task_id] = result
    assert pool.pending() == 0
    return out


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("scratch")
    os.environ["EVOLVE_TEST_API_KEY"] = "sk-should-not-leak"
    try:
        # 6 s: ample for every honest task here even on a loaded machine (only `sleep(600)` reaches it)
        with LocalExecutor(task, n_workers=2, time_limit_s=6.0, scratch_root=scratch,
                           env={"EVOLVE_EXTRA": "yes"}) as ex:
            assert ex.wait_ready(timeout=60)
            yield ex
    finally:
        os.environ.pop("EVOLVE_TEST_API_KEY", None)


def test_ok_and_error(pool):
    results = run_all(pool, {"sq": ("square", 7), "boom": ("raise", 3)})
    assert results["sq"].status == "ok" and results["sq"].value == 49 and results["sq"].reason == ""
    boom = results["boom"]
    assert boom.status == "error" and boom.value is None
    assert boom.reason.startswith("ValueError: bad input 3")
    assert "Traceback" in boom.reason
    assert all(r.worker in (0, 1) and r.seconds >= 0 for r in results.values())


def test_timeout_then_pool_keeps_working(pool):
    results = run_all(pool, {"slow": ("sleep", 600.0)}, timeout=300.0)
    assert results["slow"].status == "timeout"
    assert results["slow"].reason == "timed out after 6.0 s"
    assert 6.0 <= results["slow"].seconds < 300.0  # the limit held, and the task was stopped long before its end
    after = run_all(pool, {"next": ("square", 5)})
    assert after["next"].status == "ok" and after["next"].value == 25


@pytest.mark.parametrize("payload, expected", [
    (("exit", 3), "worker died with exit code 3"),
    (("kill", None), "worker died with signal SIGKILL (exit -9)"),
])
def test_crash_is_reported_and_worker_replaced(pool, payload, expected):
    results = run_all(pool, {"crash": payload, "fine": ("square", 4)})
    assert results["crash"].status == "crash"
    assert results["crash"].reason == expected
    assert results["fine"].value == 16
    again = run_all(pool, {f"again{i}": ("square", i) for i in range(4)})
    assert [again[f"again{i}"].value for i in range(4)] == [0, 1, 4, 9]


def test_environment_strips_secrets(pool):
    names = ["EVOLVE_TEST_API_KEY", "EVOLVE_EXTRA", "PATH", "XLA_FLAGS", "EVOLVE_WORKER"]
    env = run_all(pool, {"env": ("env", names)})["env"].value
    assert env["EVOLVE_TEST_API_KEY"] is None
    assert env["EVOLVE_EXTRA"] == "yes"
    assert env["PATH"] == os.environ["PATH"]
    assert "--xla_cpu_enable_concurrency_optimized_scheduler=false" in env["XLA_FLAGS"]
    assert env["EVOLVE_WORKER"] in ("0", "1")
    assert os.environ["EVOLVE_TEST_API_KEY"] == "sk-should-not-leak"  # the driver keeps its own
    initial = run_all(pool, {"proc": ("procenv", None)})["proc"].value  # the process's initial block
    assert b"EVOLVE_EXTRA=yes" in initial and b"sk-should-not-leak" not in initial


def test_scratch_dirs_are_isolated_and_removed(pool):
    results = run_all(pool, {f"s{i}": ("scratch", f"task {i}") for i in range(4)})
    dirs = set()
    for i in range(4):
        cwd, scratch, listing = results[f"s{i}"].value
        assert Path(cwd).resolve() == Path(scratch).resolve()
        assert Path(scratch).parent == pool.scratch_root
        assert listing == ["marker.txt"]  # nobody else's files
        dirs.add(scratch)
    assert len(dirs) == 4
    assert not any(Path(d).exists() for d in dirs)
    assert list(pool.scratch_root.iterdir()) == []


def test_two_workers_run_concurrently(pool):
    assert pool.wait_ready(timeout=600)  # a worker replaced by an earlier test may still be starting
    results = run_all(pool, {"a": ("sleep", 2.0), "b": ("sleep", 2.0)})
    (s1, e1, p1), (s2, e2, p2) = results["a"].value, results["b"].value
    assert p1 != p2 and {results["a"].worker, results["b"].worker} == {0, 1}
    assert max(s1, s2) < min(e1, e2)  # the sleeps overlapped (their own clocks, not the test's)


def test_results_unique_and_complete_under_load(pool):
    jobs = {f"t{i}": ("square", i) for i in range(20)}
    jobs.update({"err": ("raise", 0), "die": ("exit", 1)})
    results = run_all(pool, jobs)
    assert set(results) == set(jobs)
    assert [results[f"t{i}"].value for i in range(20)] == [i * i for i in range(20)]
    assert results["err"].status == "error" and results["die"].status == "crash"


def test_workers_are_persistent(pool):
    results = run_all(pool, {f"p{i}": ("pid", None) for i in range(6)})
    assert len({r.value for r in results.values()}) <= 2


def test_duplicate_pending_id_rejected(pool):
    pool.submit("dup", ("sleep", 0.2))
    with pytest.raises(ValueError):
        pool.submit("dup", ("square", 1))
    assert [r.task_id for r in pool.results()] == ["dup"]


def test_results_timeout_returns_without_losing_tasks(pool):
    pool.submit("late", ("sleep", 3.0))
    assert list(pool.results(timeout=0.1)) == []
    assert pool.pending() == 1
    assert [r.status for r in pool.results()] == ["ok"]


def test_unpicklable_payload_fails_fast(pool):
    with pytest.raises(TypeError):
        pool.submit("lambda", lambda: 1)
    assert pool.pending() == 0


def test_initializer_failure_reported_per_task(tmp_path):
    with LocalExecutor(task, n_workers=1, time_limit_s=10, scratch_root=tmp_path,
                       initializer=failing_initializer) as ex:
        results = run_all(ex, {"x": ("square", 2)})
    assert results["x"].status == "error"
    assert results["x"].reason.startswith("worker initialisation failed: RuntimeError: no accelerator here")


def test_memory_limit_turns_huge_allocation_into_error(tmp_path):
    with LocalExecutor(task, n_workers=1, time_limit_s=20, scratch_root=tmp_path,
                       memory_limit_mb=1024) as ex:
        results = run_all(ex, {"big": ("alloc", 4096), "small": ("alloc", 8)})
    assert results["big"].status == "error" and results["big"].reason.startswith("MemoryError")
    assert results["small"].value == 8 * 1024 * 1024


def test_shutdown_leaves_no_processes(tmp_path):
    ex = LocalExecutor(task, n_workers=2, time_limit_s=30, scratch_root=tmp_path).start()
    assert ex.wait_ready(timeout=60)
    ex.submit("busy", ("sleep", 20.0))
    list(ex.results(timeout=0.5))
    processes = [w.process for w in ex._workers]
    pids = [p.pid for p in processes]
    ex.shutdown()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        ex.submit("after", ("square", 1))


def test_pure_helpers():
    assert is_secret("OPENAI_API_KEY") and is_secret("hf_token") and is_secret("DB_PASSWORD")
    assert not is_secret("XLA_FLAGS") and not is_secret("PATH") and not is_secret("HOME")
    env = worker_environment({"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "x", "XLA_FLAGS": "--a"}, {"B": "1"})
    assert env == {"PATH": "/bin", "XLA_FLAGS": "--a --xla_cpu_enable_concurrency_optimized_scheduler=false",
                   "B": "1"}
    assert exit_reason(-9) == "worker died with signal SIGKILL (exit -9)"
    assert exit_reason(-11) == "worker died with signal SIGSEGV (exit -11)"
    assert exit_reason(3) == "worker died with exit code 3"
