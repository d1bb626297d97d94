"""The ablation report: ablation.json, ablation.md, two PNGs and an MLflow parent run.

Every number comes from the runs' knowledge bases (see runs.py) and the gallery's own
knowledge base (gallery.py); `python -m evolve.ablation report DIR` recomputes all of it.
"""
from __future__ import annotations

import json
from pathlib import Path
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np

from evolve.ablation import stats
from evolve.ablation.runs import hv_summary, load_runs
from evolve.formatting import number
from evolve.plots import figure as _figure

GRID_POINTS = 200  # resolution of the mean hypervolume curves


def build(root: Path, confidence: float = 0.95, n_resamples: int = 2000,
          target: float | None = None) -> dict[str, Any]:
    """The whole ablation as plain data (what ablation.json holds), read from the knowledge bases."""
    root = Path(root)
    runs = load_runs(root)
    plan = _read_json(root / "plan.json")
    arms = _arm_order([r["arm"] for r in runs], plan.get("arms", []))
    finals = {a: [r["final_hv"] for r in runs if r["arm"] == a] for a in arms}
    all_finals = [v for vs in finals.values() for v in vs]
    target = stats.default_target(all_finals) if target is None else float(target)
    budget = runs[0]["budget"] or max(r["evaluations"] for r in runs)
    grid = np.linspace(0, budget, GRID_POINTS)
    per_arm: dict[str, Any] = {}
    for a in arms:
        mine = sorted((r for r in runs if r["arm"] == a), key=lambda r: r["seed"])
        vals = np.array([stats.step_values(r["curve"], grid) for r in mine])
        mean, lo, hi = stats.mean_band(vals, confidence, n_resamples)
        _, flo, fhi = stats.mean_band(np.array(finals[a])[:, None], confidence, n_resamples)
        to_target = [stats.evaluations_to_target(r["curve"], target) for r in mine]
        reached = [t for t in to_target if t is not None]
        valid = sum(r["proposals_valid"] for r in mine)
        designed = valid + sum(r["proposals_invalid"] for r in mine)
        calls = sum(r["llm_calls"] for r in mine)
        per_arm[a] = {
            "seeds": [r["seed"] for r in mine], "final_hv": [r["final_hv"] for r in mine],
            "final_hv_stats": {**hv_summary(finals[a]), "ci_low": float(flo[0]), "ci_high": float(fhi[0])},
            "evaluations": [r["evaluations"] for r in mine], "complete": all(r["complete"] for r in mine),
            "evaluations_to_target": to_target, "reached_target": len(reached),
            "median_evaluations_to_target": float(np.median(reached)) if reached else None,
            "valid_proposal_rate": valid / designed if designed else None, "proposals": designed,
            "llm_valid_response_rate": (sum(r["llm_outcomes"].get("ok", 0) for r in mine) / calls) if calls else None,
            "llm_tokens": [r["llm_tokens"] for r in mine], "device_seconds": [r["device_seconds"] for r in mine],
            "wall_seconds": [r["wall_seconds"] for r in mine], "designer": mine[0]["designer"],
            "llm_mode": mine[0]["llm_mode"],
            "curve": {"evaluations": grid.tolist(), "mean": mean.tolist(), "low": lo.tolist(), "high": hi.tolist()},
        }
    gallery = _read_json(root / "gallery" / "gallery.json") or None
    from evolve.ablation import rediscover

    return {
        "rediscovery": rediscover.build(root, confidence, n_resamples),
        "dir": str(root.resolve()), "domains": runs[0]["domains"], "scale": runs[0]["scale"],
        "evaluation_budget": runs[0]["budget"], "confidence": confidence, "alpha": 1.0 - confidence,
        "bootstrap_resamples": n_resamples, "target_hv": target,
        "target_rule": "median final hypervolume over all runs" if target == stats.default_target(all_finals)
        else "given", "arms": per_arm, "seeds": sorted({r["seed"] for r in runs}),
        "skipped_arms": plan.get("skipped", {}),
        "runs": [{k: v for k, v in r.items() if k not in ("curve", "full_stage", "domain_configs", "executor")}
                 for r in runs],
        "pairwise": stats.pairwise(finals, confidence, n_resamples),
        "gallery": gallery,
        "recompute": f"python -m evolve.ablation report {root}",
        "recompute_run": "python -m evolve.report RUN_DIR",
    }


def write(root: Path, data: Mapping[str, Any], tracking_uri: str | None = None) -> Path:
    """ablation.json, the two plots, ablation.md and the MLflow parent run; returns the Markdown path."""
    root = Path(root)
    previous = _read_json(root / "ablation.json")
    plot_curves(data, root / "ablation_hv.png")
    plot_finals(data, root / "ablation_final_hv.png")
    md = root / "ablation.md"
    md.write_text(markdown(data))
    if data.get("rediscovery"):
        from evolve.ablation import rediscover

        rediscover.write(root, data["rediscovery"])
    out = dict(data)
    out["mlflow_run_id"] = log_mlflow(root, data, tracking_uri, previous.get("mlflow_run_id"))
    tmp = root / "ablation.json.tmp"
    tmp.write_text(json.dumps(out, indent=2, default=_json_default))
    tmp.replace(root / "ablation.json")
    return md


# ------------------------------------------------------------------------------- plots
def plot_curves(data: Mapping[str, Any], path: Path) -> Path:
    """Mean hypervolume against evaluations per arm, with the 95% bootstrap band of the mean."""
    fig = _figure(7, 4.5)
    ax = fig.add_subplot()
    for i, (arm, a) in enumerate(data["arms"].items()):
        c = a["curve"]
        colour = f"C{i}"
        ax.step(c["evaluations"], c["mean"], where="post", color=colour, lw=1.8, label=f"{arm} (n={len(a['seeds'])})")
        ax.fill_between(c["evaluations"], c["low"], c["high"], step="post", color=colour, alpha=0.2, lw=0)
    ax.axhline(data["target_hv"], color="0.4", ls=":", lw=1, label="target")
    ax.set_xlabel("evaluations recorded")
    ax.set_ylabel("hypervolume (perf ↑, cost ↓)")
    ax.set_title(f"Hypervolume vs evaluations — mean and {data['confidence']:.0%} bootstrap band")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(path, bbox_inches="tight")
    return path


def plot_finals(data: Mapping[str, Any], path: Path) -> Path:
    """Final hypervolume of every run, per arm: each seed a dot, the mean a bar with its CI."""
    fig = _figure(1.6 + 1.4 * len(data["arms"]), 4)
    ax = fig.add_subplot()
    for i, (arm, a) in enumerate(data["arms"].items()):
        ys = a["final_hv"]
        xs = i + np.linspace(-0.12, 0.12, len(ys)) if len(ys) > 1 else [i]
        ax.plot(xs, ys, "o", color=f"C{i}", alpha=0.8)
        s = a["final_hv_stats"]
        ax.errorbar([i + 0.3], [s["mean"]], yerr=[[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]],
                    fmt="s", color="k", capsize=4)
    ax.set_xticks(range(len(data["arms"])), list(data["arms"]))
    ax.set_ylabel("final hypervolume")
    ax.set_title("Final hypervolume per run (square: mean, 95% CI)")
    ax.grid(alpha=0.3, axis="y")
    fig.savefig(path, bbox_inches="tight")
    return path


# ----------------------------------------------------------------------------- Markdown
_f = partial(number, missing="–")  # the engine's one number formatter, with this report's dash


def markdown(data: Mapping[str, Any]) -> str:
    arms = data["arms"]
    conf = f"{data['confidence']:.0%}"
    L = [f"# Ablation — {', '.join(arms)}", "",
         f"Domains **{', '.join(data['domains'])}**, scale **{data['scale']}**, seeds {data['seeds']}, "
         f"equal budget of **{data['evaluation_budget']} evaluations** per run (one evaluation = one "
         "(candidate, domain, seed) result, failures included). Hypervolume is the campaign's pooled "
         "(perf ↑, cost ↓) hypervolume (docs/ARCHITECTURE.md).", ""]
    for arm, why in data["skipped_arms"].items():
        L.append(f"- **{arm}: skipped** — {why}")
    if data["skipped_arms"]:
        L.append("")
    L += ["## Final hypervolume", "", "![hypervolume vs evaluations](ablation_hv.png)", "",
          "![final hypervolume per run](ablation_final_hv.png)", "",
          f"| arm | designer | llm | runs | mean | {conf} CI (bootstrap) | sd | per seed | complete |",
          "|---|---|---|---:|---:|---|---:|---|---|"]
    for arm, a in arms.items():
        s = a["final_hv_stats"]
        per = ", ".join(f"{seed}: {_f(v)}" for seed, v in zip(a["seeds"], a["final_hv"]))
        L.append(f"| {arm} | {a['designer']} | {a['llm_mode']} | {len(a['seeds'])} | {_f(s['mean'])} | "
                 f"[{_f(s['ci_low'])}, {_f(s['ci_high'])}] | {_f(s['sd'])} | {per} | {'yes' if a['complete'] else 'NO'} |")
    L += ["", "## Pairwise comparisons", "",
          f"Difference of mean final hypervolume (a − b) with a {conf} percentile-bootstrap CI, Hedges' g, "
          "two-sided Mann-Whitney U p-value and its Holm correction over all pairs.", "",
          "| a | b | a − b | CI | Hedges' g | p | p (Holm) | smallest attainable p | reading |",
          "|---|---|---:|---|---:|---:|---:|---:|---|"]
    for r in data["pairwise"]:
        L.append(f"| {r['a']} | {r['b']} | {_f(r['diff'])} | [{_f(r['ci_low'])}, {_f(r['ci_high'])}] | "
                 f"{_f(r['hedges_g'], 3)} | {_f(r['p_value'], 3)} | {_f(r['p_holm'], 3)} | {_f(r['smallest_p'], 3)} | "
                 f"{r['verdict']} |")
    if any(r["smallest_p"] >= data["alpha"] for r in data["pairwise"]):
        L += ["", f"With this few seeds the rank test cannot reach p < {data['alpha']:g} even for perfectly "
              "separated arms (see the smallest attainable p); read the CI and effect size, or add seeds "
              "(`SEEDS=`)."]
    L += ["", f"## Evaluations to reach hypervolume {_f(data['target_hv'])}", "",
          f"Target: {data['target_rule']}.", "", "| arm | reached | median evaluations | per seed |", "|---|---:|---:|---|"]
    for arm, a in arms.items():
        per = ", ".join(f"{seed}: {_f(t) if t is not None else 'never'}" for seed, t in zip(a["seeds"], a["evaluations_to_target"]))
        L.append(f"| {arm} | {a['reached_target']}/{len(a['seeds'])} | {_f(a['median_evaluations_to_target'])} | {per} |")
    L += ["", "## Proposals and cost", "",
          "Valid-proposal rate: designed genomes that passed the domain's static check / designed genomes stored "
          "(duplicates are retried and never stored). LLM response rate: LLM calls with outcome `ok` / all calls.", "",
          "| arm | valid-proposal rate | proposals | LLM response rate | LLM tokens (mean) | device-s (mean) | wall-s (mean) |",
          "|---|---:|---:|---:|---:|---:|---:|"]
    for arm, a in arms.items():
        L.append(f"| {arm} | {_f(a['valid_proposal_rate'], 3)} | {a['proposals']} | {_f(a['llm_valid_response_rate'], 3)} | "
                 f"{_f(float(np.mean(a['llm_tokens'])))} | {_f(float(np.mean(a['device_seconds'])))} | "
                 f"{_f(float(np.mean(a['wall_seconds'])))} |")
    if data.get("rediscovery"):
        from evolve.ablation import rediscover

        L += ["", *rediscover.markdown(data["rediscovery"])]
    L += ["", *gallery_markdown(data.get("gallery")), "## How to recompute", "",
          "Every number above is read from the runs' knowledge bases (`<arm>/seed<k>/knowledge.db`) and the "
          "gallery's (`gallery/knowledge.db`):", "", "```bash", data["recompute"],
          f"{data['recompute_run']}   # one run's summary.json, plots and report.md", "```", "",
          "| run | arm | seed | evaluations | final hypervolume |", "|---|---|---:|---:|---:|"]
    for r in data["runs"]:
        L.append(f"| `{r['run_dir']}` | {r['arm']} | {r['seed']} | {r['evaluations']} | {_f(r['final_hv'])} |")
    return "\n".join(L) + "\n"


def gallery_markdown(gallery: Mapping[str, Any] | None) -> list[str]:
    if not gallery:
        return ["## Gallery", "", "Not run (`python -m evolve.ablation gallery DIR`).", ""]
    if not gallery["candidates"]:
        return ["## Gallery", "", f"Nothing to re-evaluate: {gallery.get('note', 'no candidates')}.", ""]
    L = ["## Gallery: full-stage candidates re-evaluated", "",
         f"The {len(gallery['candidates'])} best full-stage candidates (by their campaign full-stage perf) were "
         f"re-evaluated at the full budget on {len(gallery['seeds'])} fresh seeds {gallery['seeds']}, beside every "
         "domain baseline on the same seeds. Perf is relative to the reference baseline on the same seed; "
         f"each difference has a {gallery['confidence']:.0%} t-interval over the seeds (paired by seed). Only a "
         "candidate whose interval against a baseline lies above 0 is called an improvement over it.", ""]
    for c in gallery["candidates"]:
        L.append(f"### {c['label']} — {c['verdict']}")
        L.append("")
        L.append(f"Campaign full-stage perf {_f(c['campaign_perf'])}; re-evaluated perf {_f(c['perf_mean'])} "
                 f"(per seed {', '.join(_f(p) for p in c['perf_by_seed'])}).")
        L.append("")
        L.append("| baseline | baseline perf | candidate − baseline | CI | improvement |")
        L.append("|---|---:|---:|---|---|")
        for b in c["versus"]:
            L.append(f"| {b['baseline']} | {_f(b['baseline_perf'])} | {_f(b['diff'])} | "
                     f"[{_f(b['ci_low'])}, {_f(b['ci_high'])}] | {'**yes**' if b['improvement'] else 'no'} |")
        L.append("")
        for dom, text in c["texts"].items():
            L += [f"`{dom}`:", "", "```", text.strip()[:1500], "```", ""]
    for f in gallery.get("failures", []):
        L.append(f"- failed: {f}")
    return L


# ------------------------------------------------------------------------------- MLflow
def log_mlflow(root: Path, data: Mapping[str, Any], tracking_uri: str | None, resume_run_id: str | None) -> str:
    """A parent run for the ablation in the arms' experiment; the arms' campaign runs become its children."""
    from mlflow import MlflowClient

    from evolve.tracking import PARENT_TAG, Tracker, default_tracking_uri

    uris = {r["mlflow_tracking_uri"] for r in data["runs"] if r["mlflow_tracking_uri"]}
    uri = tracking_uri or (sorted(uris)[0] if uris else default_tracking_uri(Path(__file__).resolve().parents[2]))
    experiment = data["runs"][0]["campaign"]  # the arms' own experiment (conf/ablation/common.yaml)
    tracker = Tracker(uri, experiment, f"ablation:{Path(data['dir']).name}",
                      params={"arms": ",".join(data["arms"]), "seeds": ",".join(map(str, data["seeds"])),
                              "domains": ",".join(data["domains"]), "scale": data["scale"],
                              "evaluation_budget": data["evaluation_budget"], "dir": data["dir"]},
                      resume_run_id=resume_run_id).start()
    tracker.set_tags({"evolve.kind": "ablation", "evolve.recompute": data["recompute"]})
    metrics: dict[str, float] = {"target_hv": data["target_hv"]}
    for arm, a in data["arms"].items():
        s = a["final_hv_stats"]
        metrics.update({f"final_hv.{arm}.mean": s["mean"], f"final_hv.{arm}.ci_low": s["ci_low"],
                        f"final_hv.{arm}.ci_high": s["ci_high"], f"device_seconds.{arm}": float(np.mean(a["device_seconds"])),
                        f"llm_tokens.{arm}": float(np.mean(a["llm_tokens"]))})
        if a["valid_proposal_rate"] is not None:
            metrics[f"valid_proposal_rate.{arm}"] = a["valid_proposal_rate"]
    for r in data["pairwise"]:
        key = f"{r['a']}_vs_{r['b']}"
        for name in ("diff", "ci_low", "ci_high", "p_value", "p_holm"):
            if r.get(name) is not None:
                metrics[f"{key}.{name}"] = r[name]
    tracker.log_cycle(0, metrics)
    for name in ("ablation.md", "ablation_hv.png", "ablation_final_hv.png"):
        tracker.log_artifact(root / name)
    client = MlflowClient(tracking_uri=uri)
    for r in data["runs"]:
        if r["mlflow_run_id"] and r["mlflow_tracking_uri"] == uri:
            tracker._safe("nest campaign run", lambda rid=r["mlflow_run_id"]: client.set_tag(rid, PARENT_TAG, tracker.run_id), None)
    tracker.close("FINISHED")
    return tracker.run_id


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def _arm_order(found: Sequence[str], planned: Sequence[str]) -> list[str]:
    order = [a for a in planned if a in found]
    return order + sorted(set(found) - set(order))


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    raise TypeError(type(x).__name__)
