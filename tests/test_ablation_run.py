"""`python -m evolve.ablation run`: arms x seeds through Hydra multirun on the numeric test domain, then the
gallery and the report; LLM arms skipped when no server answers; resume runs nothing twice."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from evolve.ablation import runner
from evolve.ablation.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
NUMERIC = ["progress=false", "tracking.log_children=false", "+domains.numeric.plugin=tests.hostile_domain:HostileDomain",
           "+domains.numeric.hostile=false", "+domains.numeric.n_var=5", "+domains.numeric.scales={tiny: {}}"]


def test_arm_and_seed_arguments():
    assert runner.parse_seeds("3") == [0, 1, 2] and runner.parse_seeds("0,4") == [0, 4]
    assert {"full", "gp", "no_analysis", "isolated_only", "random"} == set(runner.arm_names())
    with pytest.raises(ValueError, match="choose from"):
        runner.parse_arms("gp,llm_only")
    with pytest.raises(ValueError, match="SEEDS"):
        runner.parse_seeds("three")


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # an OpenAI-compatible server's model list, nothing more
        body = json.dumps({"data": [{"id": "scripted"}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_arms_needing_an_llm_are_skipped_unless_one_answers(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        up = f"http://127.0.0.1:{server.server_port}/v1"
        todo, skipped = runner.plan(tmp_path, ["gp"], [0], "none", "tiny", [*NUMERIC, "llm=auto", f"llm.base_url={up}"])
        assert todo == {"gp": [0]} and not skipped
    finally:
        server.shutdown()
    todo, skipped = runner.plan(tmp_path, ["gp", "random"], [0], "none", "tiny",
                                [*NUMERIC, "llm=auto", f"llm.base_url={up}", "llm.probe_timeout_s=0.2"])
    assert todo == {} and set(skipped) == {"gp", "random"}
    assert "none answered at " + up in skipped["gp"]


@pytest.mark.slow
def test_tiny_ablation_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    root, uri = tmp_path / "abl", f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", "--dir", str(root), "--arms", "gp,random,no_analysis", "--seeds", "2", "--domain", "none",
            "--budget", "16", "--gallery-top", "1", "--", *NUMERIC, f"tracking.uri={uri}",
            "llm.base_url=http://127.0.0.1:9/v1", "llm.probe_timeout_s=0.2"]  # no LLM there, whatever runs locally
    assert main(args) == 0

    data = json.loads((root / "ablation.json").read_text())
    assert list(data["arms"]) == ["gp", "random"] and data["seeds"] == [0, 1]
    assert "none answered" in data["skipped_arms"]["no_analysis"]  # needs llm=vllm, nobody serves it
    assert data["evaluation_budget"] == 16
    for run in data["runs"]:
        summary = json.loads((Path(run["run_dir"]) / "summary.json").read_text())
        assert run["evaluations"] == 16 and run["complete"]
        assert run["final_hv"] == pytest.approx(summary["hypervolume"])  # recomputed from the knowledge base
        assert Path(run["run_dir"]).relative_to(root).parts == (run["arm"], f"seed{run['seed']}")
    for arm in data["arms"].values():
        assert len(arm["final_hv"]) == 2 and arm["curve"]["mean"][-1] == pytest.approx(sum(arm["final_hv"]) / 2)
        assert arm["valid_proposal_rate"] == 1.0 and arm["device_seconds"][0] > 0
    (pair,) = data["pairwise"]
    assert {"diff", "ci_low", "ci_high", "hedges_g", "p_value", "p_holm"} <= set(pair)
    assert pair["ci_low"] <= pair["diff"] <= pair["ci_high"]
    gallery = data["gallery"]
    assert gallery["seeds"] == [1_000_000, 1_000_001, 1_000_002] and len(gallery["candidates"]) == 1
    assert gallery["candidates"][0]["verdict"]

    text = (root / "ablation.md").read_text()
    for part in ("## Pairwise comparisons", "## Gallery", "## How to recompute", f"python -m evolve.ablation report {root}",
                 "no_analysis: skipped"):
        assert part in text
    assert (root / "ablation_hv.png").stat().st_size > 1000 and (root / "ablation_final_hv.png").stat().st_size > 1000

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(data["mlflow_run_id"])
    assert parent.data.tags["evolve.kind"] == "ablation" and "final_hv.gp.mean" in parent.data.metrics
    for run in data["runs"]:
        assert client.get_run(run["mlflow_run_id"]).data.tags["mlflow.parentRunId"] == parent.info.run_id

    # the same command again: every run is complete, nothing is planned, and the report is reproduced
    assert runner.plan(root, ["gp", "random"], [0, 1], "none", "tiny", [*NUMERIC, "campaign.budget.evaluations=16"])[0] == {}
    assert main(["report", str(root), "--tracking-uri", uri]) == 0
    again = json.loads((root / "ablation.json").read_text())
    assert again["mlflow_run_id"] == data["mlflow_run_id"]
    assert [r["final_hv"] for r in again["runs"]] == [r["final_hv"] for r in data["runs"]]


def test_arms_needing_the_same_seeds_share_one_sweep():
    assert runner.sweeps({"gp": [0, 1], "random": [0, 1], "full": [1]}) == [(["gp", "random"], [0, 1]), (["full"], [1])]
    cmd = runner.multirun_command(Path("/x"), ["gp", "random"], [0, 1], "rl", "tiny", ["llm=none"])
    assert cmd[3:] == ["-m", "+ablation=gp,random", "seed=0,1", "+domain=rl", "scale=tiny", "hydra.sweep.dir=/x",
                       "hydra.sweep.subdir=${ablation.arm}/seed${seed}", "llm=none"]


@pytest.mark.slow
def test_llm_arms_run_against_a_scripted_server(tmp_path, monkeypatch):
    """`full` and `no_analysis` with an OpenAI-compatible server (scripted: random schema instances)."""
    from evolve.knowledge import KnowledgeBase
    from tests.llm_server import ScriptedLLM

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    root = tmp_path / "abl"
    with ScriptedLLM(seed=1) as server:
        assert main(["run", "--dir", str(root), "--arms", "full,no_analysis", "--seeds", "1", "--domain", "none",
                     "--budget", "14", "--gallery-top", "0", "--", *NUMERIC, f"tracking.uri=sqlite:///{tmp_path / 'm.db'}",
                     f"llm.base_url={server.base_url}", "llm.timeout_s=5", "llm.retries=0", "llm.gp_share=0.0"]) == 0
        assert server.requests
    data = json.loads((root / "ablation.json").read_text())
    assert list(data["arms"]) == ["full", "no_analysis"] and not data["skipped_arms"]
    for arm in data["arms"].values():
        assert arm["llm_mode"] == "vllm" and arm["llm_valid_response_rate"] is not None
    hyps = {r["arm"]: KnowledgeBase(Path(r["run_dir"]) / "knowledge.db", "ablation").open().hypotheses() for r in data["runs"]}
    assert hyps["no_analysis"] == []
    assert "| full | llm+gp | vllm |" in (root / "ablation.md").read_text()
