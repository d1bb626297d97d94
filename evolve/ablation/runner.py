"""Running arms x seeds: a thin shell over Hydra multirun, one run directory per (arm, seed).

    <dir>/<arm>/seed<k>/knowledge.db   (+ summary.json, report.md, plots)

For each arm the runner composes the arm's config once (with the user's overrides) to learn
two things before spending compute: whether the arm needs an LLM (`llm.mode` other than
`none`; it is skipped with a message when no server answers) and which of its seeds are
already complete (same evaluation budget, summary says complete). The rest runs as
`python -m evolve -m +ablation=<arms> seed=<seeds> ...` with a fixed sweep directory, so
re-running the same command resumes each unfinished run from its knowledge base.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from evolve.config import CONF_DIR

COMMON = "common"  # conf/ablation/common.yaml: shared settings, not an arm


def arm_names() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "ablation").glob("*.yaml") if p.stem != COMMON)


def parse_arms(text: str) -> list[str]:
    arms = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in arms if a not in arm_names()]
    if unknown or not arms:
        raise ValueError(f"unknown arm(s) {unknown or text!r}; choose from: {', '.join(arm_names())}")
    return arms


def parse_seeds(text: str) -> list[int]:
    """`3` -> seeds 0, 1, 2; `0,4,7` -> those seeds."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise ValueError(f"SEEDS must be a count (3) or a list (0,1,2), got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"SEEDS must name at least one seed >= 0, got {text!r}")
    return seeds


def compose_arm(arm: str, domain: str, scale: str, seed: int, extra: Sequence[str]) -> Any:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=[f"+ablation={arm}", *_domain_override(domain),
                                                        f"scale={scale}", f"seed={seed}", *extra])


def _domain_override(domain: str) -> list[str]:
    """`none`: the domains come from the overrides (`+domains.<name>.plugin=...`, e.g. a test domain)."""
    return [] if domain in ("", "none") else [f"+domain={domain}"]


def llm_answers(base_url: str | None, timeout_s: float) -> bool:
    """Whether an OpenAI-compatible server lists its models at base_url (the campaign's own probe)."""
    from evolve.llm import probe

    return probe(base_url, max(0.1, float(timeout_s)))


def run_complete(run_dir: Path, budget: Any) -> bool:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(summary.get("complete")) and (summary.get("budget") or {}).get("evaluations") == budget


def plan(root: Path, arms: Sequence[str], seeds: Sequence[int], domain: str, scale: str,
         extra: Sequence[str]) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Which seeds of which arms still need running, and which arms are skipped (with why)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    todo: dict[str, list[int]] = {}
    skipped: dict[str, str] = {}
    for arm in arms:
        try:
            cfg = compose_arm(arm, domain, scale, seeds[0], extra)
        except (HydraException, OmegaConfBaseException) as exc:
            first = str(exc).strip().splitlines()[0]
            hint = ("; an arm needing `llm=vllm` needs conf/llm/vllm.yaml (the LLM issue)" if "llm/" in first else "")
            skipped[arm] = f"its config does not compose here ({first}){hint}"
            continue
        llm = cfg.get("llm") or {}
        if str(llm.get("mode", "none")) != "none" and not llm_answers(llm.get("base_url"), llm.get("probe_timeout_s", 1.0)):
            skipped[arm] = (f"needs an LLM (llm.mode={llm.get('mode')}) but none answered at {llm.get('base_url')}; "
                            "start one (make serve-llm MODEL=...) and re-run")
            continue
        budget = cfg.campaign.budget.evaluations
        left = [s for s in seeds if not run_complete(root / arm / f"seed{s}", budget)]
        if left:
            todo[arm] = left
    return todo, skipped


def multirun_command(root: Path, arms: Sequence[str], seeds: Sequence[int], domain: str, scale: str,
                     extra: Sequence[str]) -> list[str]:
    """One Hydra sweep over arms x seeds; each job's directory is <root>/<arm>/seed<k>."""
    return [sys.executable, "-m", "evolve", "-m", f"+ablation={','.join(arms)}", f"seed={','.join(map(str, seeds))}",
            *_domain_override(domain), f"scale={scale}", f"hydra.sweep.dir={root}",
            "hydra.sweep.subdir=${ablation.arm}/seed${seed}", *extra]


def sweeps(todo: Mapping[str, Sequence[int]]) -> list[tuple[list[str], list[int]]]:
    """Arms that still need the same seeds share one sweep (one process start instead of one per arm)."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for arm, seeds in todo.items():
        groups.setdefault(tuple(seeds), []).append(arm)
    return [(arms, list(seeds)) for seeds, arms in groups.items()]


def run(root: Path, arms: Sequence[str], seeds: Sequence[int], domain: str, scale: str, extra: Sequence[str],
        say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) every (arm, seed) that is not complete; returns the plan with what failed."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    todo, skipped = plan(root, arms, seeds, domain, scale, extra)
    for arm, why in skipped.items():
        say(f"ablation: arm {arm} skipped: {why}")
    record = {"arms": list(arms), "seeds": list(seeds), "domain": domain, "scale": scale, "overrides": list(extra),
              "skipped": skipped, "failed": {}}
    (root / "plan.json").write_text(json.dumps(record, indent=2))
    for group, left in sweeps(todo):
        cmd = multirun_command(root, group, left, domain, scale, extra)
        say(f"ablation: arms {','.join(group)}, seeds {left}: {' '.join(cmd[1:])}")
        rc = subprocess.call(cmd)
        if rc != 0:
            record["failed"][",".join(group)] = f"exit status {rc}"
            say(f"ablation: arms {','.join(group)} stopped with exit status {rc}; re-run the same command to resume")
            if rc in (130, -2):  # Ctrl-C: stop the whole ablation, resumable
                break
    (root / "plan.json").write_text(json.dumps(record, indent=2))
    return record
