"""Plots and the Markdown report of a campaign, as pure functions of plain data.

Why plain data: the caller (`write_run_report` below, through the archive read-model) reads the knowledge base; everything here
takes lists and dicts, so a report can be recomputed from any knowledge base, tested
without one, and drawn on a headless machine. Figures use matplotlib's object API on the
Agg canvas (no pyplot, no global backend switch, no display needed).

Accepted shapes (extra keys are ignored):
  points     {"id", "perf", "cost", "novelty", "front": bool, "stage"}
  history    [(evaluations, hypervolume), ...]
  nodes      {id: {"parents": [...], "label": str, "perf": float | None, "origin": str}}
  front      {"candidate" | "id", "stage", "perf", "perf_by_domain": {domain: perf},
              "cost_ratio" | "cost", "novelty", "texts": {domain: genome text}}
  hypotheses {"id", "domain", "statement", "metric", "direction", "effect", "ci_low",
              "ci_high" (or "ci": [lo, hi]), "p_value", "n_true", "n_false" (or "n"), "status"}
  agenda     {"cycle", "domain", "share", "progress", "reason", ...}
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evolve import verdicts

HV_X_LABEL = "evaluations ((candidate, domain, seed) results, as campaign.budget.evaluations counts them)"
STAGE_MARKERS = {"isolated": "o", "cross": "s", "full": "^"}
DPI = 120
MAX_LINEAGE_NODES = 60  # ancestry beyond this (nearest-first) is summarised, not drawn
MAX_CELL = 160  # characters of free text in a table cell


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------
def _finite(x: Any) -> bool:
    try:
        return x is not None and not isinstance(x, bool) and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def _placeholder(path: str | Path, title: str, message: str) -> Path:
    """An honest empty plot: the report links stay valid before there is data."""
    fig = _figure(5, 3)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)


def _short(text: Any, n: int = 8) -> str:
    text = str(text)
    return text if len(text) <= n else text[:n]


# --------------------------------------------------------------------------------------
# Pareto front
# --------------------------------------------------------------------------------------
def front_line(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Front points ordered for drawing its staircase: by cost up, then perf down."""
    return sorted(points, key=lambda p: (p[0], -p[1]))


STAGE_ORDER = ("isolated", "cross", "full")


def _stage_rank(stage: Any) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else -1


def genome_key(genomes: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What a front entry *is*, whatever stage measured it: its domain -> genome id mapping."""
    return tuple(sorted(dict(genomes or {}).items()))


def front_by_genome(front: Sequence[Mapping[str, Any]],
                    stages_of: Mapping[tuple, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """One entry per genome (triple) of the front: the one measured at its latest stage, with `stages`, the
    stages that genome passed (`stages_of[genome_key]`, else the stages it appears at on the front). The same
    Transformer at isolated, cross and full is one row, not three."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for f in front:
        groups.setdefault(genome_key(f.get("genomes") or {"": f.get("candidate", f.get("id"))}), []).append(f)
    out = []
    for key, entries in groups.items():
        latest = max(entries, key=lambda f: _stage_rank(f.get("stage")))
        passed = set((stages_of or {}).get(key, ())) | {str(f.get("stage")) for f in entries}
        out.append({**latest, "stages": sorted(passed, key=_stage_rank)})
    return out


def plot_pareto(points: list[dict], path: str | Path) -> Path:
    """perf (up is better) against cost (left is better), colour = novelty, the
    non-dominated front highlighted and joined by its attainment staircase. A front point is labelled
    with its `label` (default its id); an empty label draws it unlabelled (the same genome at an
    earlier stage)."""
    title = "Pareto front: perf ↑ vs cost ↓"
    pts = [p for p in points if _finite(p.get("perf")) and _finite(p.get("cost"))]
    if not pts:
        return _placeholder(path, title, "no evaluated candidates yet")
    fig = _figure(7, 5)
    ax = fig.add_subplot()
    novelty = [float(p["novelty"]) for p in pts if _finite(p.get("novelty"))]
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
            colours = [float(p["novelty"]) if _finite(p.get("novelty")) else math.nan for p in sel]
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
    return _save(fig, path)


# --------------------------------------------------------------------------------------
# Hypervolume
# --------------------------------------------------------------------------------------
def plot_hypervolume(history: list[tuple[int, float]], path: str | Path) -> Path:
    """Hypervolume of the archive against the number of evaluations spent."""
    title = "Hypervolume over evaluations"
    pts = sorted((float(e), float(h)) for e, h in history if _finite(e) and _finite(h))
    if not pts:
        return _placeholder(path, title, "no hypervolume recorded yet")
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    xs, ys = zip(*pts)
    ax.step(xs, ys, where="post", color="tab:blue", lw=1.5)
    ax.plot(xs, ys, "o", color="tab:blue", ms=3)
    ax.set_xlabel(HV_X_LABEL)
    ax.set_ylabel("hypervolume")
    ax.set_title(f"{title} (final {ys[-1]:.4g})")
    ax.grid(alpha=0.3)
    return _save(fig, path)


# --------------------------------------------------------------------------------------
# Lineage
# --------------------------------------------------------------------------------------
def ancestry(nodes: Mapping[str, Mapping], best: Iterable[str], limit: int = MAX_LINEAGE_NODES) -> tuple[list[str], int]:
    """Ids of `best` and their ancestors, nearest first, at most `limit`; also how many
    ancestors were left out. Parents missing from `nodes` are kept (drawn as unknown)."""
    seen: dict[str, None] = {}
    queue = deque(dict.fromkeys(best))
    total: set[str] = set()
    while queue:
        nid = queue.popleft()
        if nid in total:
            continue
        total.add(nid)
        if len(seen) < limit:
            seen[nid] = None
        queue.extend(p for p in (nodes.get(nid, {}).get("parents") or []) if p not in total)
    return list(seen), len(total) - len(seen)


def generations(nodes: Mapping[str, Mapping], ids: Sequence[str]) -> dict[str, int]:
    """Layer of each id: 0 without (drawn) parents, else one below its deepest parent.
    Robust to cycles and unknown parents."""
    drawn = set(ids)
    parents = {i: [p for p in (nodes.get(i, {}).get("parents") or []) if p in drawn and p != i] for i in ids}
    gen: dict[str, int] = {}
    remaining = list(ids)
    while remaining:
        progressed = False
        for nid in list(remaining):
            if all(p in gen for p in parents[nid]):
                gen[nid] = 1 + max((gen[p] for p in parents[nid]), default=-1)
                remaining.remove(nid)
                progressed = True
        if not progressed:  # a cycle (should not happen): break it at the first node
            nid = remaining.pop(0)
            gen[nid] = 1 + max((gen[p] for p in parents[nid] if p in gen), default=-1)
    return gen


def layout(nodes: Mapping[str, Mapping], ids: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(x, y) per id: y = -generation; within a layer, order by the mean x of the parents
    (one barycentre sweep keeps most edges short), centred on 0."""
    gen = generations(nodes, ids)
    pos: dict[str, tuple[float, float]] = {}
    for layer in range(max(gen.values(), default=-1) + 1):
        members = [i for i in ids if gen[i] == layer]

        def key(nid: str) -> tuple[float, str]:
            xs = [pos[p][0] for p in (nodes.get(nid, {}).get("parents") or []) if p in pos]
            return (sum(xs) / len(xs) if xs else 0.0, nid)

        members.sort(key=key)
        for k, nid in enumerate(members):
            pos[nid] = (k - (len(members) - 1) / 2, -float(layer))
    return pos


def plot_lineage(nodes: dict[str, dict], best: list[str], path: str | Path,
                 max_nodes: int = MAX_LINEAGE_NODES) -> Path:
    """The ancestry DAG of the `best` genomes, oldest at the top, coloured by origin."""
    title = "Lineage of the best genomes"
    ids, omitted = ancestry(nodes, best, max_nodes)
    if not ids:
        return _placeholder(path, title, "no genomes selected")
    pos = layout(nodes, ids)
    n_layers = int(-min(y for _, y in pos.values())) + 1
    widest = max(sum(1 for _, y in pos.values() if y == -k) for k in range(n_layers))
    fig = _figure(min(30.0, max(6.0, 1.7 * widest)), min(30.0, max(3.0, 1.25 * n_layers + 1)))
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
        text = f"{label}\nperf {float(perf):.3g}{at}" if _finite(perf) else label
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
    return _save(fig, path)


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------
def fmt(value: Any) -> str:
    """A table cell: numbers to 4 significant digits, missing as an em dash, text escaped
    (it may come from an LLM: no table breaks, no raw HTML)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]" if len(value) <= 8 else f"({len(value)} items)"
    text = " ".join(str(value).split())
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                   headers: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of `columns` (missing values shown as —)."""
    headers = list(headers or columns)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _fenced(text: str, info: str = "text") -> str:
    """A code block whose fence cannot be closed by backticks inside `text`."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def _first_line(text: Any, n: int = 60) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return line if len(line) <= n else line[: n - 1] + "…"


def _summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Scalars and small mappings of the summary; long structures are in their own sections."""
    rows = []
    for key, value in summary.items():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (Mapping, list, tuple)):
            continue  # e.g. the Pareto front, the hypervolume history
        if isinstance(value, Mapping) and any(isinstance(v, (Mapping, list, tuple)) for v in value.values()):
            value = {k: v for k, v in value.items() if not isinstance(v, (Mapping, list, tuple))}
            if not value:
                continue
        rows.append({"key": key, "value": value})
    return rows


def _front_rows(front: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    domains = sorted({d for f in front for d in (f.get("perf_by_domain") or {})})
    rows = []
    for f in sorted(front, key=lambda f: -float(f["perf"]) if _finite(f.get("perf")) else math.inf):
        texts = f.get("texts") or {}
        row = {"candidate": f.get("candidate", f.get("id")), "stage": f.get("stage"),
               "stages": " → ".join(f.get("stages") or [str(f.get("stage"))]), "perf": f.get("perf"),
               "cost": f.get("cost_ratio", f.get("cost")), "novelty": f.get("novelty"),
               "genome": "; ".join(f"{d}: {_first_line(t, 40)}" for d, t in texts.items()) if isinstance(texts, Mapping)
               else _first_line(texts)}
        row.update({f"perf.{d}": (f.get("perf_by_domain") or {}).get(d) for d in domains})
        rows.append(row)
    return rows, domains


def _hypothesis_rows(hypotheses: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for h in hypotheses:
        ci = h.get("ci")
        lo, hi = (ci[0], ci[1]) if isinstance(ci, (list, tuple)) and len(ci) == 2 else (h.get("ci_low"), h.get("ci_high"))
        if h.get("n_true") is not None or h.get("n_false") is not None:
            n = f"{fmt(h.get('n_true'))} / {fmt(h.get('n_false'))}"
        else:
            n = h.get("n")
        rows.append({**h, "effect": h.get("effect", h.get("effect_size")),
                     "ci": f"[{fmt(lo)}, {fmt(hi)}]" if _finite(lo) and _finite(hi) else None, "n": n})
    return rows


def _image_link(run_dir: Path, path: str) -> str | None:
    p = Path(path)
    full = p if p.is_absolute() else run_dir / p
    if not full.exists():
        return None
    try:
        return full.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return full.resolve().as_posix()


def write_report(run_dir: Path, summary: Mapping[str, Any], hypotheses: list[dict], agenda: list[dict],
                 front: list[dict], images: Mapping[str, str]) -> Path:
    """Write `run_dir/report.md`: summary, figures, the Pareto front (with genomes), the
    hypotheses with their evidence, and the agenda history. Returns its path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    name = summary.get("campaign", run_dir.name)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    out = [f"# Campaign report: {fmt(name)}", "", f"Generated {stamp} from the campaign's knowledge base.", ""]

    out += ["## Summary", "", markdown_table(_summary_rows(summary), ["key", "value"], ["item", "value"]), ""]
    out += verdicts.report_sections(summary)  # per-domain gains, coupling, proxy fidelity

    out += ["## Figures", ""]
    for caption, path in images.items():
        link = _image_link(run_dir, path)
        out += [f"![{fmt(caption)}]({link})" if link else f"*{fmt(caption)}: not generated.*", ""]

    out += [f"## Pareto front ({len(front)} genomes)", ""]
    if front:
        out += ["One row per genome on the front, measured at the latest stage it reached (perf and cost at that "
                "stage); the stages it passed follow.", ""]
        rows, domains = _front_rows(front)
        cols = ["candidate", "stage", "stages", "perf", *[f"perf.{d}" for d in domains], "cost", "novelty", "genome"]
        heads = ["candidate", "stage", "stages passed", "perf", *[f"perf {d}" for d in domains], "cost", "novelty",
                 "genome"]
        out += [markdown_table(rows, cols, heads), "", "### Genomes on the front", ""]
        for f in sorted(front, key=lambda f: -float(f["perf"]) if _finite(f.get("perf")) else math.inf):
            texts = f.get("texts") or {}
            out += [f"#### {fmt(f.get('candidate', f.get('id')))}", ""]
            items = texts.items() if isinstance(texts, Mapping) else [("genome", texts)]
            for domain, text in items:
                out += [f"*{fmt(domain)}*", "", _fenced(str(text)), ""]
    else:
        out += ["No candidate has been evaluated yet.", ""]

    out += [f"## Hypotheses ({len(hypotheses)})", ""]
    if hypotheses:
        cols = ["id", "domain", "statement", "metric", "direction", "effect", "ci", "p_value", "n", "status",
                "source"]
        heads = ["id", "domain", "statement", "metric", "direction", "effect", "CI", "p", "n (holds / not)",
                 "status", "proposed by"]
        out += [markdown_table(_hypothesis_rows(hypotheses), cols, heads), ""]
    else:
        out += ["No hypotheses yet.", ""]

    out += ["## Research agenda", ""]
    if agenda:
        preferred = ["cycle", "domain", "share", "progress", "reason"]
        extra = [k for a in agenda for k in a if k not in preferred]
        cols = [c for c in preferred if any(c in a for a in agenda)] + list(dict.fromkeys(extra))
        out += [markdown_table(agenda, cols), ""]
    else:
        out += ["No agenda recorded yet.", ""]

    path = run_dir / "report.md"
    path.write_text("\n".join(out))
    return path


# ----------------------------------------------------------------- a run's report, from its knowledge base
def genome_perf_at_stages(rows: Sequence[Any]) -> dict[str, dict[str, float]]:
    """{genome id: {stage: mean perf of its domain over the rows of that stage that contain it}} from archive
    rows (`cand.stage`, `cand.triple`, `perf_by_domain`)."""
    values: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        for domain, p in (r.perf_by_domain or {}).items():
            gid = r.cand.triple.get(domain)
            if gid is not None and _finite(p):
                values.setdefault(gid, {}).setdefault(r.cand.stage, []).append(float(p))
    return {g: {st: sum(v) / len(v) for st, v in by.items()} for g, by in values.items()}


def lineage_nodes(kb: Any, rows: Sequence[Any], front: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Lineage nodes whose perf says at which stage it was measured: for a genome of the front table, its
    domain's perf in that row (the table's stage); for any other genome, at the latest stage it reached."""
    at = genome_perf_at_stages(rows)
    chosen: dict[str, tuple[float, str]] = {}
    for gid, by in at.items():
        stage = max(by, key=_stage_rank)
        chosen[gid] = (by[stage], stage)
    for f in front:
        for domain, gid in (f.get("genomes") or {}).items():
            p = (f.get("perf_by_domain") or {}).get(domain)
            if _finite(p):
                chosen[gid] = (float(p), str(f.get("stage")))
    return {g["id"]: {"parents": g["parents"], "label": f"{g['domain']}:{g['id'][:6]}",
                      "perf": chosen.get(g["id"], (None, None))[0], "stage": chosen.get(g["id"], (None, None))[1],
                      "origin": g["origin"]} for g in kb.genomes()}


def write_run_report(run_dir: Path, kb: Any, archive: Any, summary: Mapping[str, Any]) -> Path:
    """Pareto front, hypervolume curve, lineage of the front's genomes and report.md in run_dir.
    `kb` is the run's KnowledgeBase, `archive` its read-model (evolve.archive.Archive). The table, the plot's
    labels and the lineage show each genome of the front once, at the latest stage it reached."""
    run_dir = Path(run_dir)
    rows, _ = archive.front_points()
    stages_of: dict[tuple, set[str]] = {}
    for r in rows:
        stages_of.setdefault(genome_key(r.cand.triple), set()).add(r.cand.stage)
    front = front_by_genome(summary["pareto_front"], stages_of)
    front_ids = {f["candidate"] for f in summary["pareto_front"]}
    shown = {f["candidate"] for f in front}
    nov = archive.novelty_of([r.cand.id for r in rows]) if rows else {}
    points = [{"id": r.cand.id, "perf": r.perf, "cost": r.cost_ratio, "novelty": nov.get(r.cand.id, 0.0),
               "front": r.cand.id in front_ids, "stage": r.cand.stage,
               "label": r.cand.id if r.cand.id in shown else ""} for r in rows]
    images = {"Pareto front (perf vs. cost relative to the reference)": "pareto_front.png",
              "Hypervolume over evaluations": "hypervolume.png",
              "Lineage of the front's genomes": "lineage.png"}
    plot_pareto(points, run_dir / "pareto_front.png")
    plot_hypervolume([tuple(h) for h in kb.get_meta("hv_history", [])], run_dir / "hypervolume.png")
    best = sorted({g for f in front for g in f["genomes"].values()})
    plot_lineage(lineage_nodes(kb, rows, front), best, run_dir / "lineage.png")
    return write_report(run_dir, summary, kb.hypotheses(), kb.agenda(), front, images)


def report_run(run_dir: Path) -> Path:
    """Recompute summary.json, plots and report.md of a run from its knowledge base alone: no domain
    code, no JAX, no LLM, no MLflow server."""
    import time

    from evolve import llm, summary
    from evolve.archive import open_run

    started = time.time()
    kb, cfg, archive = open_run(run_dir)
    try:
        conn = llm.connect({**(cfg.get("llm") or {}), "mode": "none"}, kb.record_llm_call)
        wall = float(kb.get_meta("wall_seconds_before", 0.0)) + time.time() - started
        s = summary.build(kb, archive, cfg, run_dir=Path(run_dir), designer=str(cfg["campaign"].get("designer", "gp")),
                          llm_note=conn.note, llm_mode=conn.settings.mode, wall_seconds=wall)
        summary.write(Path(run_dir), s)
        return write_run_report(Path(run_dir), kb, archive, s)
    finally:
        kb.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m evolve.report RUN_DIR`: recompute summary.json, plots and report.md from the knowledge base."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m evolve.report RUN_DIR", file=sys.stderr)
        return 2
    print(report_run(Path(args[0])))
    return 0


if __name__ == "__main__":  # `python -m evolve.report RUN_DIR` rebuilds a run's report from its knowledge base
    raise SystemExit(main())
