"""`python -m evolve +domain=arch|rl|data|all [overrides]` — a thin shell over `run(cfg)`."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from evolve.config import ConfigError, resolve
from evolve.knowledge import KnowledgeBaseError
from evolve.plugins import PluginError

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler, `timeout`, `kill`) ends the run like Ctrl-C: summary written, MLflow run closed."""
    raise KeyboardInterrupt


def run(cfg: DictConfig, run_dir: Path, root: Path) -> dict:
    from evolve.campaign import Campaign  # heavy imports only after the config is known to be good

    campaign = Campaign(resolve(cfg), run_dir, root)
    summary = campaign.run()
    print(f"\nsummary:      {run_dir / 'summary.json'}\nreport:       {summary['report']}\n"
          f"knowledge:    {summary['kb_path']}\nmlflow:       {summary['mlflow_tracking_uri']} "
          f"(run {summary['mlflow_run_id']}; `make ui` to browse)\n"
          f"evaluations:  {summary['evaluations_total']} {summary['evaluations_by_stage']} "
          f"({summary['runs_total']} runs: one domain, one seed each), "
          f"failed {summary['failed']}, hypervolume {summary['hypervolume']:.4g}")
    return summary


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    root = Path(HydraConfig.get().runtime.cwd)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run(cfg, run_dir, root)
    except (ConfigError, KnowledgeBaseError, PluginError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"\ninterrupted: re-run with hydra.run.dir={run_dir} to resume", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
