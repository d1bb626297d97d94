"""The Markdown report of a campaign, and `python -m evolve.report RUN_DIR`, which recomputes a run's summary,
plots and report from its knowledge base alone (no domain code, no JAX, no LLM, no MLflow server).

A report is three steps: gather (evolve/figures.py: the archive read-model -> plain data), draw
(evolve/plots.py: matplotlib) and write (here: report.md and its tables). `write_report` takes plain data, so a
report can be tested without a knowledge base.

Accepted shapes besides evolve/figures.py's (extra keys are ignored):
  hypotheses {"id", "domain", "statement", "metric", "direction", "effect", "ci_low",
              "ci_high" (or "ci": [lo, hi]), "p_value", "n_true", "n_false" (or "n"), "status"}
  agenda     {"cycle", "domain", "share", "progress", "reason", ...}
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from evolve import verdicts
from evolve.figures import finite, gather
from evolve.formatting import number

MAX_CELL = 160  # characters of free text in a table cell


def fmt(value: Any) -> str:
    """A table cell: numbers to 4 significant digits, missing as an em dash, text escaped
    (it may come from an LLM: no table breaks, no raw HTML)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return number(value)
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
    for f in sorted(front, key=lambda f: -float(f["perf"]) if finite(f.get("perf")) else math.inf):
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
                     "ci": f"[{fmt(lo)}, {fmt(hi)}]" if finite(lo) and finite(hi) else None, "n": n})
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
        for f in sorted(front, key=lambda f: -float(f["perf"]) if finite(f.get("perf")) else math.inf):
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
def write_run_report(run_dir: Path, kb: Any, archive: Any, summary: Mapping[str, Any]) -> Path:
    """Pareto front, hypervolume curve, lineage of the front's genomes and report.md in run_dir: gather, draw,
    write. `kb` is the run's KnowledgeBase, `archive` its read-model (evolve.archive.Archive)."""
    from evolve import plots  # matplotlib: only when a report is drawn

    run_dir = Path(run_dir)
    data = gather(kb, archive, summary)
    images = {"Pareto front (perf vs. cost relative to the reference)": "pareto_front.png",
              "Hypervolume over evaluations": "hypervolume.png",
              "Lineage of the front's genomes": "lineage.png"}
    plots.plot_pareto(data.points, run_dir / "pareto_front.png")
    plots.plot_hypervolume(data.history, run_dir / "hypervolume.png")
    plots.plot_lineage(data.nodes, data.best, run_dir / "lineage.png")
    return write_report(run_dir, summary, kb.hypotheses(), kb.agenda(), data.front, images)


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
