"""Configuration through Hydra's compose: good overrides work, bad ones fail with the valid choices."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from evolve.config import ConfigError, domain_choices, resolve
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parent.parent


def test_overrides_reach_the_config():
    cfg = compose_config(["seed=3", "campaign.cycles=6", "scale=small", "llm=none"])
    assert (cfg.seed, cfg.campaign.cycles, cfg.scale.name, cfg.llm.mode) == (3, 6, "small", "none")


def test_each_domain_config_composes_with_budgets_for_every_scale():
    for name in domain_choices():
        cfg = resolve(compose_config([f"+domain={name}"]))
        assert cfg["domains"], name
        for dname, dcfg in cfg["domains"].items():
            assert {"tiny", "small"} <= set(dcfg["scales"]), (name, dname)


def test_ray_executor_config_resolves_and_is_checked():
    cfg = resolve(compose_config(["+domain=arch", "executor=ray", "scale=small"]))
    assert cfg["executor"]["kind"] == "ray" and cfg["scale"]["resources"]["gpus_per_task"] == 1
    with pytest.raises(ConfigError, match="executor.max_retries must be >= 0"):
        resolve(compose_config(["+domain=arch", "executor=ray", "executor.max_retries=-1"]))


def test_unknown_choices_name_the_valid_ones():
    with pytest.raises(MissingConfigException, match="(?s)Available options.*small.*tiny"):
        compose_config(["scale=huge"])
    with pytest.raises(MissingConfigException, match="(?s)Available options.*arch"):
        compose_config(["+domain=nope"])
    with pytest.raises(ConfigCompositionException, match="cyclez"):
        compose_config(["campaign.cyclez=3"])


@pytest.mark.parametrize("override, message", [
    ("campaign.cycles=abc", "campaign.cycles must be a int"),
    ("campaign.cycles=0", "campaign.cycles must be > 0"),
    ("campaign.p_pass=2", "campaign.p_pass must be a number in"),
    ("analysis.min_group=1", "min_group must be >= 2"),
    ("executor.time_limit_s=-1", "executor.time_limit_s must be > 0"),
    ("executor.cpu_time_limit_s=0", "executor.cpu_time_limit_s must be > 0"),
    ("executor.memory_limit_mb=-5", "executor.memory_limit_mb must be > 0"),
    ("executor.kind=slurm", "executor.kind must be local or ray"),
    ("analysis.looks=0", "analysis.looks must be an integer >= 1"),
    ("analysis.fdr=1.5", r"analysis.fdr must be in \(0, 1\)"),
    ("analysis.fdr_method=bonferroni", "fdr_method must be bh or by"),
    ("analysis.coupling_pairs=[[arch,arch]]", "coupling_pairs holds pairs of two domain names"),
])
def test_bad_values_get_clear_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve(compose_config(["+domain=arch", override]))


def test_missing_domain_says_how_to_choose_one():
    with pytest.raises(ConfigError, match=r"\+domain=<name>.*arch"):
        resolve(compose_config([]))


def test_cli_fails_at_once_on_a_bad_domain(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "evolve", "+domain=nope", f"hydra.run.dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Available options" in proc.stderr and "arch" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "evolve", f"hydra.run.dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "+domain=<name>" in proc.stderr


def test_a_malformed_corpus_line_fails_before_anything_is_created(tmp_path):
    """One bad line among good ones: one error line naming the file and line, exit 2, no run directory, no
    knowledge base, no worker (the user's files are read before Hydra's run directory is kept)."""
    corpus = tmp_path / "corpus.jsonl"
    lines = [f'{{"text": "document {i} has a few words in it"}}' for i in range(60)]
    lines[50] = '{"text": broken'
    corpus.write_text("\n".join(lines) + "\n")
    run_dir = tmp_path / "new" / "run"
    proc = subprocess.run([sys.executable, "-m", "evolve", "+domain=data", f"domains.data.corpus={corpus}",
                           "llm=none", f"hydra.run.dir={run_dir}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: domain 'data' rejected its configuration: data.corpus: {corpus}:51: not JSON (Expecting value)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl"]  # not even the parent folder


def test_a_missing_replay_source_fails_before_anything_is_created(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "evolve", "+domain=arch", "llm=replay",
                           f"llm.replay_from={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "llm.replay_from" in proc.stderr and "does not exist" in proc.stderr
    assert list(tmp_path.iterdir()) == []
