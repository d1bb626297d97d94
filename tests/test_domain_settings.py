"""Typed domain settings, one way for every domain (domains/settings.py): an unknown key fails before anything
runs, naming the key and the valid ones; every shipped config loads at every scale (and ladder rung)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from domains.settings import SettingsError
from evolve.config import ConfigError, check_inputs, domain_choices, resolve
from evolve.plugins import build_domain, domain_class
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ("arch", "rl", "data")
SCALES = sorted(p.stem for p in (ROOT / "conf" / "scale").glob("*.yaml"))


@pytest.mark.parametrize("name", DOMAINS)
def test_an_unknown_key_names_itself_and_the_valid_ones(name):
    with pytest.raises(SettingsError, match=rf"unknown {name} setting 'stepz'; valid: .*compile_cache"):
        domain_class(name)({"stepz": 3})


@pytest.mark.parametrize("name", DOMAINS)
def test_a_misspelt_key_in_the_config_fails_when_inputs_are_checked(name):
    plain = resolve(compose_config([f"+domain={name}", f"++domains.{name}.scales.tiny.stepz=3"]))
    with pytest.raises(ConfigError, match=rf"domain '{name}' rejected its configuration: unknown {name} setting "
                                          r"'stepz'; valid: "):
        check_inputs(plain)


def test_a_misspelt_nested_data_control_key_is_rejected():
    with pytest.raises(SettingsError, match="unknown data control setting 'disk_cachez'; valid: bucket_ratio"):
        domain_class("data")({"control": {"disk_cachez": False}})


def test_a_misspelt_key_in_a_ladder_rung_is_rejected():
    plain = resolve(compose_config(["+domain=arch", "scale=ladder", "++domains.arch.scales.ladder.rungs.r2.d_modl=9"]))
    with pytest.raises(ConfigError, match="unknown arch setting 'd_modl'"):
        check_inputs(plain)


@pytest.mark.parametrize("scale", SCALES)
def test_every_shipped_domain_config_loads_at_every_scale(scale):
    plain = resolve(compose_config(["+domain=all", f"scale={scale}"]))
    assert set(plain["domains"]) == set(DOMAINS) and set(DOMAINS) <= set(domain_choices())
    check_inputs(plain)  # builds every domain at the scale and at each of its rungs


def test_the_cli_stops_on_a_misspelt_key_before_a_run_directory_exists(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "evolve", "+domain=arch", "llm=none", "++domains.arch.scales.tiny.stepz=3",
                           f"hydra.run.dir={run_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "unknown arch setting 'stepz'; valid: " in proc.stderr and "d_model" in proc.stderr
    assert not run_dir.exists()


def test_settings_are_frozen_and_typed():
    dom = build_domain("arch", {"plugin": "arch", "scale": "tiny", "device": "cpu", "d_model": 32})
    assert dom.settings.d_model == 32 and dom.cfg["d_model"] == 32 and dom.cfg["scale"] == "tiny"
    with pytest.raises(Exception):
        dom.settings.d_model = 64  # type: ignore[misc]


def test_hydra_itself_refuses_a_new_key_without_the_force_prefix():
    with pytest.raises(ConfigCompositionException, match="stepz"):
        compose_config(["+domain=arch", "domains.arch.scales.tiny.stepz=3"])


@pytest.mark.parametrize(("name", "block", "where", "a_valid_key"), [
    ("arch", "lm", "arch lm", "seq_len"), ("arch", "recall", "arch recall", "num_pairs"),
    ("data", "lm", "data lm", "min_steps"), ("data", "model", "data model", "kernel_size"),
    ("data", "corpus_overrides", "data corpus_overrides", "source_bytes")])
def test_a_typo_inside_a_nested_proxy_block_fails_in_the_driver(name, block, where, a_valid_key):
    """The proxies' own settings (proxies/configs.py, importable without JAX) close the nested blocks, so
    `domains.arch.lm.stepz` fails while inputs are checked rather than in a worker after the run started."""
    with pytest.raises(SettingsError, match=rf"unknown {where} setting 'stepz'; valid: .*{a_valid_key}"):
        domain_class(name)({block: {"stepz": 3}})
    plain = resolve(compose_config([f"+domain={name}", f"++domains.{name}.scales.tiny.{block}.stepz=3"]))
    with pytest.raises(ConfigError, match=rf"{where} setting 'stepz'"):
        check_inputs(plain)
