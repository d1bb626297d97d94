"""The engine's behaviour is pinned: the same seed gives the same cycle-0 candidates, the same promotions
and the same summary figures (minus timings and paths) as the engine before its restructuring (issue 11).
The expected figures were recorded once with that engine (tests/data/numeric_seed7_figures.json); a deliberate
change of behaviour re-records them with `python tests/test_behaviour_kept.py --record` (say why in the commit)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolve.campaign import Campaign
from evolve.knowledge import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = Path(__file__).parent / "data" / "numeric_seed7_figures.json"
NOT_FIGURES = {"wall_seconds", "device_seconds", "kb_path", "report", "mlflow_tracking_uri", "mlflow_run_id"}


def figures(run: Path, campaign: str) -> dict:
    """What a seed decides: candidates (cycle 0 in full), promotions, hypotheses, curves and the summary."""
    summary = json.loads((run / "summary.json").read_text())
    kb = KnowledgeBase(run / "knowledge.db", campaign).open()
    try:
        return {"cycle0": sorted([c.id, c.stage, c.triple, c.focus, c.status] for c in kb.candidates(cycle=0)),
                "candidates": sorted([c.id, c.stage, c.cycle, c.status, c.promoted] for c in kb.candidates()),
                "hypotheses": sorted([h["id"], h["status"], h["effect"]] for h in kb.hypotheses()),
                "hv_curve": kb.get_meta("hv_curve"),
                "summary": {k: v for k, v in summary.items() if k not in NOT_FIGURES}}
    finally:
        kb.close()


OVERRIDES = ["campaign.cycles=3", "seed=7", "tracking.enabled=false"]


def run_figures(cfg: dict, run: Path) -> dict:
    Campaign(cfg, run, ROOT).run()
    return json.loads(json.dumps(figures(run, cfg["campaign"]["name"])))  # tuples -> lists


def test_same_seed_gives_the_recorded_candidates_and_figures(tmp_path, numeric_cfg):
    got = run_figures(numeric_cfg(OVERRIDES, hostile=False), tmp_path / "run")
    expected = json.loads(EXPECTED.read_text())
    expected.pop("_about")
    assert got["cycle0"] == expected["cycle0"]
    assert got["candidates"] == expected["candidates"]
    assert _same(got, expected)


ARCH_CYCLE0 = Path(__file__).parent / "data" / "arch_seed3_cycle0.json"


def test_the_arch_domain_plans_the_recorded_cycle0_candidates(tmp_path):
    """`+domain=arch` at seed 3 plans the same cycle-0 candidates (ids, stages, triples) as the engine before its
    restructuring (recorded at commit dfa41d6 from a real run; tests/data/arch_seed3_cycle0.json). Planning only:
    nothing is trained."""
    from evolve.config import resolve
    from evolve.phases import design
    from tests.conftest import compose_config

    cfg = resolve(compose_config(["+domain=arch", "scale=tiny", "seed=3", "llm=none", "progress=false",
                                  "tracking.enabled=false"]))
    with Campaign(cfg, tmp_path / "run", ROOT) as campaign:
        design.plan_design(campaign.ctx, 0)
        got = sorted([c.id, c.stage, c.triple] for c in campaign.ctx.kb.candidates(cycle=0))
    assert json.loads(json.dumps(got)) == json.loads(ARCH_CYCLE0.read_text())["cycle0"]


def _same(a, b, path="") -> bool:
    """Equal structure, equal strings and ints, floats equal to 1e-12 relative (libm may round differently)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(set(a) ^ set(b))} differ"
        return all(_same(a[k], b[k], f"{path}.{k}") for k in a)
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths {len(a)} != {len(b)}"
        return all(_same(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), f"{path}: {a} != {b}"
        return True
    assert a == b, f"{path}: {a!r} != {b!r}"
    return True


if __name__ == "__main__":  # python tests/test_behaviour_kept.py --record
    import sys
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.conftest import numeric_campaign_config

    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_behaviour_kept.py --record")
    about = json.loads(EXPECTED.read_text())["_about"]
    with tempfile.TemporaryDirectory() as tmp:
        got = run_figures(numeric_campaign_config(Path(tmp), OVERRIDES, hostile=False), Path(tmp) / "run")
    EXPECTED.write_text(json.dumps({"_about": about, **got}, indent=1, sort_keys=True) + "\n")
    print(f"recorded {EXPECTED}")
