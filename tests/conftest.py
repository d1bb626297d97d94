"""Shared fixtures: composing the real Hydra config with test domains plugged in."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

import evolve  # noqa: F401  (sets XLA_FLAGS before anything imports jax)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def compose_config(overrides: list[str] | None = None) -> Any:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))


def numeric_campaign_config(tmp_path: Path, overrides: list[str] | None = None, **domain: Any) -> dict:
    """A plain campaign config (as evolve.config.resolve returns) over the hostile numeric domain."""
    from omegaconf import OmegaConf

    cfg = compose_config(["llm=none", "progress=false", *(overrides or [])])
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["domains"] = {"numeric": {"plugin": "tests.hostile_domain:HostileDomain", "n_var": 5,
                                    "problem": "zdt1", **domain, "scales": {"tiny": {}}}}
    plain["tracking"]["uri"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # a bound, not a race: an honest numeric evaluation takes well under a second on an idle machine, but its
    # worker's first task (building the domain) took over 20 s beside the other work of a loaded 2-core box,
    # and a timeout there changes a campaign's decisions; tests of the limit itself set their own
    plain["executor"]["time_limit_s"] = 300.0
    plain["executor"]["workers"] = 1  # one worker: results land in one order (tests of several workers set theirs)
    return plain


@pytest.fixture
def numeric_cfg(tmp_path: Path):
    return lambda overrides=None, **kw: numeric_campaign_config(tmp_path, overrides, **kw)


def run_to_completion(executor, jobs: dict, timeout: float = 900.0) -> dict:
    """Submit every (task id -> payload) job and collect each result exactly once: a task reported twice
    or never is a failure of the executor's contract. `timeout` only bounds a broken executor: generous, so
    that a loaded machine (slow worker start-ups and respawns) is not mistaken for one."""
    for task_id, payload in jobs.items():
        executor.submit(task_id, payload)
    out = {}
    deadline = time.monotonic() + timeout
    while executor.pending() and time.monotonic() < deadline:
        for result in executor.results(timeout=1.0):
            assert result.task_id not in out, "a task was reported twice"
            out[result.task_id] = result
    assert executor.pending() == 0, f"{executor.pending()} task(s) without a result after {timeout:.0f} s"
    return out
