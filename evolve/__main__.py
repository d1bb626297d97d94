"""`python -m evolve +domain=arch|rl|data|all [overrides]` — a thin shell over `run(cfg)`."""
from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from evolve.config import ConfigError, check_inputs, resolve
from evolve.knowledge import KnowledgeBaseError
from evolve.plugins import PluginError

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler, `timeout`, `kill`) ends the run like Ctrl-C: summary written, MLflow run closed."""
    raise KeyboardInterrupt


def _runs_table(campaign: object) -> str:
    """Where the MLflow UI shows this campaign's runs (its model-training view)."""
    from evolve.tracking import ui_url

    experiment = getattr(getattr(getattr(campaign, "ctx", None), "tracker", None), "experiment_id", "")
    return ui_url(experiment) if experiment else "http://127.0.0.1:5000"


def run(cfg: DictConfig, run_dir: Path, root: Path) -> dict:
    plain = resolve(cfg)
    check_inputs(plain)  # the user's files are read before anything of the run exists
    from evolve.campaign import Campaign  # heavy imports only after the config is known to be good

    campaign = Campaign(plain, run_dir, root)
    summary = campaign.run()
    print(f"\nsummary:      {run_dir / 'summary.json'}\nreport:       {summary['report']}\n"
          f"knowledge:    {summary['kb_path']}\nmlflow:       {summary['mlflow_tracking_uri']} "
          f"(run {summary['mlflow_run_id']}; `make ui`, then {_runs_table(campaign)})\n"
          f"evaluations:  {summary['evaluations_total']} {summary['evaluations_by_stage']} "
          f"({summary['runs_total']} runs: one domain, one seed each), "
          f"failed {summary['failed']}, hypervolume {summary['hypervolume']:.4g}")
    return summary


HYDRA_ONLY = {".hydra", "__main__.log"}  # what Hydra writes into a run directory before main() runs
_EXISTED: list[Path] = []  # the deepest folder of an explicit hydra.run.dir that existed before Hydra ran


def _existing_ancestor(argv: list[str]) -> Path | None:
    for arg in argv:
        if arg.startswith("hydra.run.dir="):
            path = Path(arg.split("=", 1)[1]).expanduser().absolute()
            while not path.exists():
                path = path.parent
            return path
    return None


def _remove_if_fresh(run_dir: Path, root: Path) -> None:
    """Undo what Hydra made when the run was refused before it began: Hydra's files in the run directory,
    and the folders it created for it (those that did not exist before; by default, those under the project
    root). A run directory holding anything else (a run to resume) is never touched."""
    if not run_dir.is_dir() or {p.name for p in run_dir.iterdir()} - HYDRA_ONLY:
        return
    stop = (_EXISTED[0] if _EXISTED else root).resolve()
    run_dir = run_dir.resolve()
    for name in HYDRA_ONLY:
        shutil.rmtree(run_dir / name, ignore_errors=True) if (run_dir / name).is_dir() else \
            (run_dir / name).unlink(missing_ok=True)
    folder = run_dir
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()  # only if empty
        except OSError:
            break
        folder = folder.parent


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    root = Path(HydraConfig.get().runtime.cwd)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run(cfg, run_dir, root)
    except (ConfigError, KnowledgeBaseError, PluginError) as exc:
        if isinstance(exc, (ConfigError, PluginError)):
            _remove_if_fresh(run_dir, root)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"\ninterrupted: re-run with hydra.run.dir={run_dir} to resume", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    if (existed := _existing_ancestor(sys.argv[1:])) is not None:
        _EXISTED.append(existed)
    main()
