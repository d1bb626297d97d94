"""The archive read-model and reading a finished run: everything comes from the knowledge base."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from evolve import novelty
from evolve.archive import open_run
from evolve.campaign import Campaign

ROOT = Path(__file__).resolve().parent.parent


def test_reporting_a_finished_run_needs_no_domain_code(tmp_path, numeric_cfg):
    """`python -m evolve.report RUN_DIR` reads the knowledge base alone: no domain module (whose imports
    bring JAX or gymnax), no JAX, no gymnax, no openai, no MLflow."""
    run = tmp_path / "run"
    Campaign(numeric_cfg(["campaign.cycles=1", "tracking.enabled=false"], hostile=False), run, ROOT).run()
    before = json.loads((run / "summary.json").read_text())
    (run / "report.md").unlink()
    probe = ("import json, sys\nfrom evolve.report import main\nrc = main([sys.argv[1]])\n"
             "print(json.dumps([rc, sorted(m for m in ('jax', 'gymnax', 'openai', 'mlflow', 'tests.hostile_domain',"
             " 'tests.numeric_domain') if m in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", probe, str(run)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True)
    rc, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0 and (run / "report.md").exists() and (run / "pareto_front.png").exists()
    assert loaded == []
    after = json.loads((run / "summary.json").read_text())
    for key in ("hypervolume", "pareto_front", "best_perf", "incumbents", "evaluations_total"):
        assert after[key] == before[key]


def test_novelty_is_the_knn_novelty_of_the_whole_archive(tmp_path, numeric_cfg):
    """One fitted index per knowledge-base version answers what a fresh kNN over the archive would."""
    run = tmp_path / "run"
    cfg = numeric_cfg(["campaign.cycles=1", "tracking.enabled=false"], hostile=False)
    Campaign(cfg, run, ROOT).run()
    kb, _, archive = open_run(run)
    try:
        done = [c for s in ("isolated", "cross", "full") for c in kb.candidates(stage=s, status="done")]
        X = archive.descriptors(done)
        some = [c.id for c in done[::2]]
        expected = novelty.knn_novelty(X, X[::2], int(cfg["campaign"]["novelty_k"]))
        got = archive.novelty_of(some)
        assert np.allclose([got[c] for c in some], expected, rtol=0, atol=0)
        assert archive.novelty_of(some) == got  # cached for this version: the same numbers again
    finally:
        kb.close()
