"""Drawing a run's figures (matplotlib's object API on the Agg canvas: no pyplot, no global backend switch, no
display needed) from the plain data evolve/figures.py gathers. `figure` and `save` serve the ablation report too."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evolve.figures import MAX_LINEAGE_NODES, ancestry, finite, front_line, layout

HV_X_LABEL = "evaluations ((candidate, domain, seed) results, as campaign.budget.evaluations counts them)"
STAGE_MARKERS = {"isolated": "o", "cross": "s", "full": "^"}
DPI = 120


def figure(width: float, height: float, dpi: int = DPI) -> Figure:
    """A figure on its own Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def placeholder(path: str | Path, title: str, message: str) -> Path:
    """An honest empty plot: the report links stay valid before there is data."""
    fig = figure(5, 3)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return save(fig, path)


def _short(text: Any, n: int = 8) -> str:
    text = str(text)
    return text if len(text) <= n else text[:n]


def plot_pareto(points: list[dict], path: str | Path) -> Path:
    """perf (up is better) against cost (left is better), colour = novelty, the
    non-dominated front highlighted and joined by its attainment staircase. A front point is labelled
    with its `label` (default its id); an empty label draws it unlabelled (the same genome at an
    earlier stage)."""
    title = "Pareto front: perf ↑ vs cost ↓"
    pts = [p for p in points if finite(p.get("perf")) and finite(p.get("cost"))]
    if not pts:
        return placeholder(path, title, "no evaluated candidates yet")
    fig = figure(7, 5)
    ax = fig.add_subplot()
    novelty = [float(p["novelty"]) for p in pts if finite(p.get("novelty"))]
    vmin, vmax = (min(novelty), max(novelty)) if novelty else (0.0, 1.0)
    if vmax <= vmin:
        vmax = vmin + 1e-9
    mappable = None
    for stage in sorted({str(p.get("stage", "")) for p in pts}):
        group = [p for p in pts if str(p.get("stage", "")) == stage]
        for on_front in (False, True):
            sel = [p for p in group if bool(p.get("front")) == on_front]
            if not sel:
                continue
            colours = [float(p["novelty"]) if finite(p.get("novelty")) else math.nan for p in sel]
            sc = ax.scatter([float(p["cost"]) for p in sel], [float(p["perf"]) for p in sel], c=colours,
                            cmap="viridis", vmin=vmin, vmax=vmax, plotnonfinite=True,
                            marker=STAGE_MARKERS.get(stage, "D"), s=90 if on_front else 30,
                            edgecolors="crimson" if on_front else "none", linewidths=1.6 if on_front else 0,
                            alpha=1.0 if on_front else 0.75, zorder=3 if on_front else 2)
            mappable = sc
    front = front_line([(float(p["cost"]), float(p["perf"])) for p in pts if p.get("front")])
    if front:
        xs, ys = zip(*front)
        ax.plot(xs, ys, color="crimson", lw=1.2, drawstyle="steps-post", zorder=1)
        front_pts = sorted((p for p in pts if p.get("front") and p.get("label", p.get("id"))),
                           key=lambda p: float(p["cost"]))
        if len(front_pts) <= 12:
            for p in front_pts:
                ax.annotate(_short(p.get("label", p.get("id", "")), 14), (float(p["cost"]), float(p["perf"])),
                            fontsize=7, xytext=(4, 4), textcoords="offset points")
    costs = [float(p["cost"]) for p in pts]
    if min(costs) > 0 and max(costs) / min(costs) > 50:
        ax.set_xscale("log")
    if novelty and mappable is not None:
        fig.colorbar(mappable, ax=ax, label="novelty")
    handles = [Line2D([], [], ls="", marker=STAGE_MARKERS.get(s, "D"), color="0.45", label=s or "?")
               for s in sorted({str(p.get("stage", "")) for p in pts})]
    if front:
        handles.append(Line2D([], [], color="crimson", marker="o", mfc="none", label="Pareto front"))
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set_xlabel("cost (lower is better)")
    ax.set_ylabel("perf (higher is better)")
    ax.set_title(f"{title} — {len(pts)} candidates, {len(front)} on the front")
    ax.grid(alpha=0.3)
    return save(fig, path)


def plot_hypervolume(history: list[tuple[int, float]], path: str | Path) -> Path:
    """Hypervolume of the archive against the number of evaluations spent."""
    title = "Hypervolume over evaluations"
    pts = sorted((float(e), float(h)) for e, h in history if finite(e) and finite(h))
    if not pts:
        return placeholder(path, title, "no hypervolume recorded yet")
    fig = figure(7, 4)
    ax = fig.add_subplot()
    xs, ys = zip(*pts)
    ax.step(xs, ys, where="post", color="tab:blue", lw=1.5)
    ax.plot(xs, ys, "o", color="tab:blue", ms=3)
    ax.set_xlabel(HV_X_LABEL)
    ax.set_ylabel("hypervolume")
    ax.set_title(f"{title} (final {ys[-1]:.4g})")
    ax.grid(alpha=0.3)
    return save(fig, path)


def plot_lineage(nodes: dict[str, dict], best: list[str], path: str | Path,
                 max_nodes: int = MAX_LINEAGE_NODES) -> Path:
    """The ancestry DAG of the `best` genomes, oldest at the top, coloured by origin."""
    title = "Lineage of the best genomes"
    ids, omitted = ancestry(nodes, best, max_nodes)
    if not ids:
        return placeholder(path, title, "no genomes selected")
    pos = layout(nodes, ids)
    n_layers = int(-min(y for _, y in pos.values())) + 1
    widest = max(sum(1 for _, y in pos.values() if y == -k) for k in range(n_layers))
    fig = figure(min(30.0, max(6.0, 1.7 * widest)), min(30.0, max(3.0, 1.25 * n_layers + 1)))
    ax = fig.add_subplot()
    for nid in ids:
        for parent in nodes.get(nid, {}).get("parents") or []:
            if parent in pos and parent != nid:
                ax.annotate("", xy=pos[nid], xytext=pos[parent], zorder=1,
                            arrowprops=dict(arrowstyle="-|>", color="0.6", lw=0.9, shrinkA=9, shrinkB=9))
    origins = sorted({str(nodes[i].get("origin", "?")) for i in ids if i in nodes})
    palette = {o: f"C{k % 10}" for k, o in enumerate(origins)}
    best_set = set(best)
    for nid in ids:
        x, y = pos[nid]
        node = nodes.get(nid)
        if node is None:
            ax.scatter([x], [y], s=120, facecolors="white", edgecolors="0.5", linestyles="--", zorder=2)
            ax.text(x, y - 0.22, f"{_short(nid)}\n(not in archive)", ha="center", va="top", fontsize=6, color="0.4")
            continue
        ax.scatter([x], [y], s=220 if nid in best_set else 120, color=palette[str(node.get("origin", "?"))],
                   edgecolors="gold" if nid in best_set else "black", linewidths=2.5 if nid in best_set else 0.5,
                   zorder=3)
        perf, stage = node.get("perf"), node.get("stage")
        label = str(node.get("label") or _short(nid))[:22]
        at = f" ({stage})" if stage else ""
        text = f"{label}\nperf {float(perf):.3g}{at}" if finite(perf) else label
        ax.text(x, y - 0.22, text, ha="center", va="top", fontsize=6.5)
    handles = [Line2D([], [], ls="", marker="o", color=palette[o], label=o) for o in origins]
    handles.append(Line2D([], [], ls="", marker="o", mfc="white", mec="gold", mew=2.5, label="best"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    xs = [x for x, _ in pos.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(-(n_layers - 1) - 0.8, 0.5)
    ax.set_yticks([-k for k in range(n_layers)], [f"gen {k}" for k in range(n_layers)], fontsize=7)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    note = f" ({omitted} older ancestors not drawn)" if omitted else ""
    ax.set_title(f"{title}: {len(best_set)} genomes, {len(ids)} nodes{note}", fontsize=9)
    return save(fig, path)
