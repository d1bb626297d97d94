"""The XLA CPU flag lives in one function (proxies/xla.py); importing any of the three packages sets it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxies.xla import XLA_CPU_FLAG, with_cpu_flag

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["evolve", "domains", "proxies"])
def test_importing_any_package_sets_the_flag(package):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", f"import os, {package}; print(os.environ['XLA_FLAGS'])"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == XLA_CPU_FLAG


def test_the_flag_is_added_once_and_other_flags_are_kept():
    env = {"XLA_FLAGS": "--a"}
    assert with_cpu_flag(with_cpu_flag(env))["XLA_FLAGS"] == f"--a {XLA_CPU_FLAG}"


def test_the_flag_is_spelled_in_one_module():
    spelled = [p.relative_to(ROOT).as_posix() for pkg in ("evolve", "domains", "proxies")
               for p in (ROOT / pkg).rglob("*.py") if "concurrency_optimized_scheduler" in p.read_text()]
    assert spelled == ["proxies/xla.py"]
