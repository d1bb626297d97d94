"""The layering is enforced, not just described: import-linter's contracts (pyproject.toml) hold, and they
do catch a broken layer or an import cycle inside the engine."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_import_contracts_hold():
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_the_contracts_catch_a_cycle_and_a_proxy_importing_the_engine(tmp_path):
    for name in ("evolve", "domains", "proxies"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "evolve" / "knowledge.py", "a") as fh:
        fh.write("\n\ndef _cycle():\n    from evolve import campaign  # noqa: F401\n")
    with open(tmp_path / "proxies" / "corpus.py", "a") as fh:
        fh.write("\n\ndef _layer():\n    import evolve.knowledge  # noqa: F401\n")
    out = lint_imports(tmp_path)
    assert out.returncode != 0
    assert "No import cycles inside the engine BROKEN" in out.stdout
    assert "The proxies import neither the engine nor the domains BROKEN" in out.stdout
