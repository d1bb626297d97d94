"""Running evaluations elsewhere: the executor protocol and factory, the task sandbox, the result queue,
the local and Ray executors, the worker's entry point and the one loop from tasks to evaluations.

    protocol.py     Executor, TaskKey, TaskResult
    factory.py      make_executor(cfg.executor, fn, ...) -> an unstarted executor; limits_from_config
    sandbox.py      Limits, scrubbed environment, rlimits, run_task (what isolates one task)
    queue.py        ResultQueue: each submitted task yields exactly one result
    local.py        LocalExecutor: persistent spawn worker processes on this machine
    ray_cluster.py  RayExecutor: Ray tasks on a cluster (imports ray; only for executor=ray)
    worker.py       run_evaluation: what a worker runs for one (candidate, domain, seed)
    evaluations.py  EvaluationTask, run(): tasks in, Evaluations out (the campaign and the gallery); EvaluationBatch,
                    plan(): a batching domain's tasks as one executor task each batch, results one per member
"""
from evolve.execution.factory import KINDS, limits_from_config, make_executor
from evolve.execution.protocol import Executor, TaskKey, TaskResult
from evolve.execution.sandbox import Limits

__all__ = ["KINDS", "Executor", "Limits", "TaskKey", "TaskResult", "limits_from_config", "make_executor"]
