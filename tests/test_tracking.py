"""Tracker against a real sqlite MLflow store, read back with MlflowClient."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from evolve.tracking import (
    EXPERIMENT_KIND_TAG,
    MAX_PARAM_LENGTH,
    MODEL_TRAINING,
    PARENT_TAG,
    NullTracker,
    Tracker,
    campaign_run_name,
    campaign_run_tags,
    clean_key,
    default_tracking_uri,
    finite_metrics,
    flatten,
    param_items,
    truncate,
    ui_url,
)


def test_default_tracking_uri(tmp_path):
    assert default_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"


def test_pure_helpers():
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": "x"}}}) == {"a": 1, "b.c": 2, "b.d.e": "x"}
    assert clean_key("best perf/arch (nats)!") == "best perf/arch _nats__"
    assert truncate("abcdef", 4) == "abc…" and truncate("abc", 4) == "abc"
    assert finite_metrics({"a": 1, "b": math.nan, "c": math.inf, "d": None, "e": "x", "f": 2.5}) == {
        "a": 1.0, "f": 2.5}
    items = param_items({"long": "x" * 10_000, "n": 3})
    assert len(items["long"]) == MAX_PARAM_LENGTH and items["long"].endswith("…") and items["n"] == "3"


def test_null_tracker_accepts_everything(tmp_path):
    with NullTracker("uri", "exp", "run", {}) as t:
        t.log_cycle(0, {"x": 1.0})
        assert t.log_evaluation("e", {}, {}, {}, {}) == ""
        t.log_artifact(tmp_path)
        t.close("FAILED")
    assert t.run_id == ""


# ---- against a real store (one sqlite store per session: creating its schema takes seconds)
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("project")
    uri = default_tracking_uri(root)
    Tracker(uri, "warmup", "warmup", {}).start().close()  # creates the schema once
    return root, uri, MlflowClient(tracking_uri=uri)


@pytest.mark.slow
def test_parent_run_cycles_children_and_artifacts(store, tmp_path):
    root, uri, client = store
    params = {"campaign": {"name": "c1", "cycles": 5}, "notes": "n" * 7000}
    tracker = Tracker(uri, "campaign-one", "seed0", params).start()
    assert Path(root, "mlflow", "mlflow.db").exists()

    for step in range(3):
        tracker.log_cycle(step, {"hypervolume": 0.1 * step, "best_perf/arch": step, "nan": math.nan})
    child = tracker.log_evaluation(
        "cand-ab12",
        params={"stage": "isolated", "domain": "arch"},
        metrics={"perf": 0.25, "cost_seconds": 3.5, "novelty": math.inf},
        tags={"candidate": "ab12", "status": "ok"},
        texts={"genome_arch": "mixer: attention\nffn: swiglu", "motivation.md": "because"},
    )
    plot = tmp_path / "pareto.png"
    plot.write_bytes(b"\x89PNG fake")
    tracker.log_artifact(plot, "plots")
    tracker.close("FINISHED")

    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "seed0"
    assert run.data.params["campaign.name"] == "c1" and run.data.params["campaign.cycles"] == "5"
    assert len(run.data.params["notes"]) == MAX_PARAM_LENGTH
    history = client.get_metric_history(tracker.run_id, "hypervolume")
    assert [(m.step, round(m.value, 6)) for m in history] == [(0, 0.0), (1, 0.1), (2, 0.2)]
    assert "nan" not in run.data.metrics
    assert [a.path for a in client.list_artifacts(tracker.run_id, "plots")] == ["plots/pareto.png"]

    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "campaign-one"
    assert experiment.artifact_location == (root / "mlflow" / "artifacts" / "campaign-one").resolve().as_uri()

    children = client.search_runs([run.info.experiment_id], f"tags.`{PARENT_TAG}` = '{tracker.run_id}'")
    assert [c.info.run_id for c in children] == [child]
    c = children[0]
    assert c.info.status == "FINISHED" and c.info.run_name == "cand-ab12"
    assert c.data.metrics == {"perf": 0.25, "cost_seconds": 3.5}
    assert c.data.params == {"stage": "isolated", "domain": "arch"}
    assert c.data.tags["candidate"] == "ab12"
    assert sorted(a.path for a in client.list_artifacts(child)) == ["genome_arch.txt", "motivation.md"]
    local = client.download_artifacts(child, "genome_arch.txt", str(tmp_path))
    assert Path(local).read_text() == "mixer: attention\nffn: swiglu"


@pytest.mark.slow
def test_resume_keeps_one_run(store):
    _, uri, client = store
    first = Tracker(uri, "campaign-resume", "seed0", {"cycles": 5, "lr": 0.1}).start()
    first.log_cycle(0, {"hypervolume": 0.1})
    first.close("KILLED")

    second = Tracker(uri, "campaign-resume", "seed0", {"cycles": 8, "lr": 0.1, "extra": 1},
                     resume_run_id=first.run_id).start()
    assert second.resumed and second.run_id == first.run_id
    assert client.get_run(first.run_id).info.status == "RUNNING"
    second.log_cycle(1, {"hypervolume": 0.3})
    second.close()

    runs = client.search_runs([second.experiment_id], "tags.`evolve.kind` = 'campaign'")
    assert [r.info.run_id for r in runs] == [first.run_id]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params == {"cycles": "5", "lr": "0.1", "extra": "1"}  # first values kept
    assert run.data.tags["evolve.resume_param.cycles"] == "8"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "hypervolume")] == [0, 1]


@pytest.mark.slow
def test_resume_of_missing_run_starts_a_new_one(store):
    _, uri, client = store
    tracker = Tracker(uri, "campaign-missing", "seed0", {}, resume_run_id="0" * 32).start()
    assert not tracker.resumed and tracker.run_id != "0" * 32
    assert client.get_run(tracker.run_id).info.status == "RUNNING"
    tracker.close()


@pytest.mark.slow
def test_logging_failures_are_not_fatal(store, caplog):
    _, uri, client = store
    tracker = Tracker(uri, "campaign-broken", "seed0", {}).start()
    client.delete_run(tracker.run_id)  # logging to a deleted run fails inside MLflow
    with caplog.at_level(logging.WARNING, logger="evolve.tracking"):
        tracker.log_cycle(0, {"hypervolume": 1.0})
    assert tracker.failures == 1
    assert "log_cycle failed" in caplog.text
    with pytest.raises(ValueError):
        tracker.close("DONE")


@pytest.mark.slow
def test_context_manager_marks_failed_and_killed(store):
    _, uri, client = store
    with pytest.raises(RuntimeError):
        with Tracker(uri, "campaign-ctx", "boom", {}) as failed:
            raise RuntimeError("crash")
    with pytest.raises(KeyboardInterrupt):
        with Tracker(uri, "campaign-ctx", "ctrl-c", {}) as killed:
            raise KeyboardInterrupt
    assert client.get_run(failed.run_id).info.status == "FAILED"
    assert client.get_run(killed.run_id).info.status == "KILLED"


def test_parent_run_names_and_tags_say_what_the_campaign_is(tmp_path):
    name = campaign_run_name(["rl", "arch"], "tiny", 3, tmp_path / "mine")
    assert name == "arch+rl tiny seed3 · mine"  # a set of domains: listed in one order whatever the config's
    assert campaign_run_tags(["rl", "arch"], "tiny", 3, tmp_path / "mine") == {
        "evolve.domains": "arch+rl", "evolve.scale": "tiny", "evolve.seed": "3",
        "evolve.run_dir": str((tmp_path / "mine").resolve())}
    assert ui_url("7") == "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"


@pytest.mark.slow
def test_experiments_are_marked_for_model_training_and_parent_runs_named_and_tagged(store, tmp_path):
    """MLflow 3 opens an experiment in its GenAI view unless it says it trains models (`make ui`)."""
    _, uri, client = store
    old = client.create_experiment("campaign-untagged")  # made by an older evolve: gets the tag on first use
    tags = campaign_run_tags(["arch"], "tiny", 0, tmp_path / "run")
    first = Tracker(uri, "campaign-untagged", "run", {}, tags=tags).start()
    assert first.experiment_id == old
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    first.close("KILLED")
    resumed = Tracker(uri, "campaign-untagged", campaign_run_name(["arch"], "tiny", 0, tmp_path / "run"), {},
                      resume_run_id=first.run_id, tags=tags).start()
    resumed.close()
    run = client.get_run(first.run_id)
    assert run.info.run_name == "arch tiny seed0 · run"  # renamed on resume
    assert run.data.tags["evolve.domains"] == "arch" and run.data.tags["evolve.seed"] == "0"
    fresh = Tracker(uri, "campaign-new", "x", {}).start()
    assert client.get_experiment(fresh.experiment_id).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    fresh.close()


@pytest.mark.slow
def test_the_ui_addresses_of_each_experiment_are_printed(store, capsys):
    from evolve.tracking import main

    _, uri, client = store
    Tracker(uri, "campaign-listed", "x", {}).start().close()
    assert main([uri]) == 0
    eid = client.get_experiment_by_name("campaign-listed").experiment_id
    assert f"campaign-listed: {ui_url(eid)}" in capsys.readouterr().out.splitlines()
