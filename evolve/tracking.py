"""MLflow mirror of a campaign: a parent run per campaign, a child run per evaluation.

Why the explicit `MlflowClient` (not `mlflow.start_run`): every call names its run id, so
there is no global active-run state to leak across a long loop, a resume, or threads.
The knowledge base is the source of truth; MLflow is a view of it. So once the run is
open, a logging call that fails (store locked, server down) is retried briefly and then
dropped with a warning instead of killing an eight-hour campaign; misconfiguration
(bad URI, unknown experiment store) still fails loudly in `start()`. The constructor only stores settings;
`start()` (or `with Tracker(...) as tracker:`) connects and opens the parent run.

    tracker = Tracker(default_tracking_uri(root), "arch-llm", "seed0", params=cfg_dict).start()
    tracker.log_cycle(3, {"hypervolume": 0.41, "best_perf/arch": 0.12})
    child = tracker.log_evaluation("cand-3f2a", params, metrics, tags, {"genome.txt": text})
    tracker.close("FINISHED")
"""
from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar
from urllib.parse import unquote, urlparse

from domains.base import canonical_json
from evolve.config import flatten

log = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag: the UI groups children by it
MAX_PARAM_LENGTH = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH (3.x)
MAX_TAG_LENGTH = 8000  # mlflow.utils.validation.MAX_TAG_VAL_LENGTH
MAX_KEY_LENGTH = 250  # mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
RETRIES = 3
STATUSES = ("FINISHED", "FAILED", "KILLED")
# MLflow 3 asks what an experiment is for; these runs train models. The UI of 3.17 also keys its view on the
# browser's workflow switch ("GenAI" | "Model training"): `ui_url` links straight to the runs table.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"

T = TypeVar("T")


def default_tracking_uri(root: Path) -> str:
    """The local store under a project root: `sqlite:///<root>/mlflow/mlflow.db`."""
    return f"sqlite:///{(Path(root).resolve() / 'mlflow' / 'mlflow.db').as_posix()}"


def campaign_run_name(domains: Iterable[str], scale: str, seed: int, run_dir: str | Path) -> str:
    """What a campaign's parent run is, at a glance in the runs table (whose name column shows ~20
    characters, so the identity comes first and compact): `arch+rl tiny seed3 · <run dir name>`."""
    return f"{'+'.join(sorted(domains))} {scale} seed{seed} · {Path(run_dir).name}"


def campaign_run_tags(domains: Iterable[str], scale: str, seed: int, run_dir: str | Path) -> dict[str, str]:
    """Tags to filter and group parent runs by (`tags.evolve.domains = 'arch+rl'`)."""
    return {"evolve.domains": "+".join(sorted(domains)), "evolve.scale": str(scale), "evolve.seed": str(int(seed)),
            "evolve.run_dir": str(Path(run_dir).resolve())}


def ui_url(experiment_id: str, host: str = "http://127.0.0.1:5000") -> str:
    """The MLflow UI's runs table of an experiment, in its model-training view."""
    return f"{host}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` URI, else None."""
    if not uri.startswith("sqlite:"):
        return None
    return Path(unquote(urlparse(uri).path))


def default_artifact_root(tracking_uri: str) -> str | None:
    """Artifacts next to a local sqlite store (`<dir of db>/artifacts`); None lets a
    tracking server (or a file store) choose."""
    db = _sqlite_path(tracking_uri)
    return None if db is None else str(db.parent / "artifacts")


# --------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------
def clean_key(key: str) -> str:
    """An MLflow-legal key: letters, digits, `_ - . / : space`; other characters -> `_`."""
    cleaned = re.sub(r"[^A-Za-z0-9_\-./: ]", "_", str(key)).strip() or "_"
    return cleaned[:MAX_KEY_LENGTH]


def truncate(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, marking the cut with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def param_items(params: Mapping[str, Any]) -> dict[str, str]:
    """Flattened, key-cleaned, stringified (lists and empty mappings as canonical JSON) and length-limited params."""
    return {clean_key(k): truncate(_param_text(v), MAX_PARAM_LENGTH) for k, v in flatten(params).items()}


def _param_text(value: Any) -> str:
    if value is None or isinstance(value, (int, float, str, bool)):
        return str(value)
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return str(value)


def finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics as floats, dropping None, NaN, infinities and non-numbers."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[clean_key(key)] = number
    return out


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _quiet_store_logs() -> None:
    """Schema migrations of a fresh sqlite store log at INFO; keep the terminal for the
    progress view."""
    for name in ("alembic", "alembic.runtime.migration", "mlflow.store.db.utils"):
        logging.getLogger(name).setLevel(logging.WARNING)


# --------------------------------------------------------------------------------------
# Trackers
# --------------------------------------------------------------------------------------
class Tracker:
    """One campaign's parent run in an MLflow experiment named after the campaign.

    tracking_uri:  e.g. `default_tracking_uri(root)` or `http://host:5000`.
    experiment:    experiment name (one per campaign name); created if missing.
    run_name:      display name of the parent run.
    params:        campaign configuration (nested mappings are flattened to dotted keys).
    resume_run_id: re-open this parent run after a crash, so a resumed campaign keeps one
                   run; if it no longer exists a new run is created (see `resumed`).
    tags:          tags of the parent run (e.g. `campaign_run_tags`), set on a resumed run too.
    artifact_root: where a new experiment stores artifacts (default: next to a sqlite db).

    Nothing is contacted until `start()` (or entering `with`); `close()` ends the parent run.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        run_name: str,
        params: Mapping[str, Any],
        resume_run_id: str | None = None,
        artifact_root: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.params = dict(params)
        self.resume_run_id = resume_run_id
        self.artifact_root = artifact_root
        self.tags = dict(tags or {})
        self.failures = 0  # logging calls dropped after retries
        self.resumed = False
        self.run_id = ""
        self.experiment_id = ""
        self._client: Any = None

    def start(self) -> "Tracker":
        """Connect to the store, create (or re-open) the experiment and the parent run, log the params; returns
        self. Again: nothing."""
        if self._client is not None:
            return self
        from mlflow import MlflowClient

        _quiet_store_logs()
        db = _sqlite_path(self.tracking_uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        client = MlflowClient(tracking_uri=self.tracking_uri)
        self._client = client
        self.experiment_id = self._experiment(self.experiment,
                                              self.artifact_root or default_artifact_root(self.tracking_uri))
        if self.resume_run_id:
            self.resumed = self._reopen(self.resume_run_id)
        run_tags = {"evolve.kind": "campaign", **{clean_key(k): truncate(str(v), MAX_TAG_LENGTH)
                                                   for k, v in self.tags.items()}}
        if not self.resumed:
            run = client.create_run(self.experiment_id, start_time=_now_ms(), run_name=self.run_name, tags=run_tags)
            self.run_id = run.info.run_id
        else:
            client.update_run(self.run_id, name=self.run_name)  # a run named before names were descriptive
            for key, value in run_tags.items():
                client.set_tag(self.run_id, key, value)
        self._log_params(self.run_id, self.params)
        return self

    # ---- setup ---------------------------------------------------------------------------
    def _experiment(self, name: str, artifact_root: str | None) -> str:
        existing = self._client.get_experiment_by_name(name)
        if existing is not None:
            if existing.lifecycle_stage == "deleted":
                self._client.restore_experiment(existing.experiment_id)
            if existing.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
                self._client.set_experiment_tag(existing.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
            return existing.experiment_id
        location = None
        if artifact_root is not None:
            folder = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "experiment"
            root = Path(artifact_root)
            location = (root.resolve() / folder).as_uri() if "://" not in artifact_root else f"{artifact_root}/{folder}"
        return self._client.create_experiment(name, artifact_location=location,
                                              tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})

    def _reopen(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            run = self._client.get_run(run_id)
        except MlflowException:
            log.warning("MLflow run %s not found; starting a new run", run_id)
            return False
        if run.info.lifecycle_stage == "deleted":
            self._client.restore_run(run_id)
        self._client.update_run(run_id, status="RUNNING")
        self.experiment_id = run.info.experiment_id
        self.run_id = run_id
        self._client.set_tag(run_id, "evolve.resumed_at_ms", str(_now_ms()))
        return True

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log params; on a resumed run, keep the first values (MLflow params are immutable)
        and record changed ones as tags."""
        items = param_items(params)
        if self.resumed:
            old = self._client.get_run(run_id).data.params
            changed = {k: v for k, v in items.items() if k in old and old[k] != v}
            items = {k: v for k, v in items.items() if k not in old}
            for key, value in changed.items():
                self._client.set_tag(run_id, clean_key(f"evolve.resume_param.{key}"), truncate(value, MAX_TAG_LENGTH))
        from mlflow.entities import Param

        for chunk in _chunks([Param(k, v) for k, v in items.items()], PARAMS_PER_BATCH):
            self._client.log_batch(run_id, params=chunk)

    # ---- logging (never fatal) --------------------------------------------------------
    def _safe(self, what: str, call: Callable[[], T], default: T) -> T:
        """Run a logging call with a few retries; on persistent failure warn and go on."""
        if self._client is None:
            raise RuntimeError(f"Tracker for {self.experiment!r} not started: call start() (or use `with`) first")
        for attempt in range(RETRIES):
            try:
                return call()
            except Exception as exc:  # noqa: BLE001 - tracking must not kill the campaign
                if attempt == RETRIES - 1:
                    self.failures += 1
                    log.warning("MLflow %s failed, dropped: %s", what, exc)
                else:
                    time.sleep(0.2 * 2**attempt)
        return default

    def _metrics_batch(self, run_id: str, metrics: Mapping[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        stamp = _now_ms()
        entries = [Metric(k, v, stamp, int(step)) for k, v in finite_metrics(metrics).items()]
        for chunk in _chunks(entries, METRICS_PER_BATCH):
            self._client.log_batch(run_id, metrics=chunk)

    def log_cycle(self, step: int, metrics: Mapping[str, float]) -> None:
        """Per-cycle campaign metrics on the parent run (non-finite values are skipped)."""
        self._safe("log_cycle", lambda: self._metrics_batch(self.run_id, metrics, step), None)

    def log_evaluation(
        self,
        name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        texts: Mapping[str, str],
        *,
        status: str = "FINISHED",
    ) -> str:
        """A finished child run for one evaluation; `texts` become text artifacts
        (`name -> content`, `.txt` added when the name has no suffix). Returns its run id
        ("" if MLflow failed)."""

        def create() -> str:
            from mlflow.entities import Param, RunTag

            run_tags = {clean_key(k): truncate(str(v), MAX_TAG_LENGTH) for k, v in tags.items()}
            run_tags.update({PARENT_TAG: self.run_id, "evolve.kind": "evaluation"})
            child = self._client.create_run(self.experiment_id, start_time=_now_ms(), run_name=name)
            child_id = child.info.run_id
            tag_entries = [RunTag(k, v) for k, v in run_tags.items()]
            param_entries = [Param(k, v) for k, v in param_items(params).items()]
            for chunk in _chunks(tag_entries + param_entries, PARAMS_PER_BATCH):
                self._client.log_batch(child_id, tags=[e for e in chunk if isinstance(e, RunTag)],
                                       params=[e for e in chunk if isinstance(e, Param)])
            self._metrics_batch(child_id, metrics, 0)
            for file_name, text in texts.items():
                artifact = file_name if Path(file_name).suffix else f"{file_name}.txt"
                self._client.log_text(child_id, str(text), artifact)
            self._client.set_terminated(child_id, status=status if status in STATUSES else "FINISHED")
            return child_id

        return self._safe("log_evaluation", create, "")

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy a file (plot, report, hypotheses) into the parent run's artifacts."""
        path = Path(path)
        if path.is_dir():
            call = lambda: self._client.log_artifacts(self.run_id, str(path), artifact_path)  # noqa: E731
        else:
            call = lambda: self._client.log_artifact(self.run_id, str(path), artifact_path)  # noqa: E731
        self._safe("log_artifact", call, None)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Tags on the parent run (e.g. the knowledge-base path, the LLM model)."""
        from mlflow.entities import RunTag

        entries = [RunTag(clean_key(k), truncate(str(v), MAX_TAG_LENGTH)) for k, v in tags.items()]
        self._safe("set_tags", lambda: self._client.log_batch(self.run_id, tags=entries), None)

    def close(self, status: str = "FINISHED") -> None:
        """End the parent run: "FINISHED", "FAILED" (crash) or "KILLED" (Ctrl-C)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        if self._client is None:
            return  # never started: no run to end
        self._safe("close", lambda: self._client.set_terminated(self.run_id, status=status), None)

    def __enter__(self) -> "Tracker":
        return self.start()

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.close("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.close("KILLED")
        else:
            self.close("FAILED")


class NullTracker:
    """The Tracker API doing nothing: tracking disabled (`tracking.enabled=false`)."""

    run_id = ""
    experiment_id = ""
    resumed = False
    failures = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self) -> "NullTracker":
        return self

    def log_cycle(self, step: int, metrics: Mapping[str, float]) -> None:
        pass

    def log_evaluation(self, name: str, params: Mapping[str, Any], metrics: Mapping[str, float],
                       tags: Mapping[str, str], texts: Mapping[str, str], *, status: str = "FINISHED") -> str:
        return ""

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def close(self, status: str = "FINISHED") -> None:
        pass

    def __enter__(self) -> "NullTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    """`python -m evolve.tracking [TRACKING_URI]`: where the MLflow UI shows each experiment's runs table
    (what `make ui` prints; a plain link to the UI opens MLflow 3's GenAI view)."""
    import sys

    from mlflow import MlflowClient

    args = list(sys.argv[1:] if argv is None else argv)
    uri = args[0] if args else default_tracking_uri(Path(__file__).resolve().parent.parent)
    _quiet_store_logs()
    experiments = [e for e in MlflowClient(tracking_uri=uri).search_experiments() if e.name != "Default"]
    for e in experiments:
        print(f"{e.name}: {ui_url(e.experiment_id)}")
    if not experiments:
        print(f"no experiments yet in {uri}; the UI: http://127.0.0.1:5000/#/experiments?workflowType=machine_learning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
