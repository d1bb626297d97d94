"""The campaign's verdict blocks: proxy fidelity and measured coupling, from the archive's rows and results.

Pure functions of plain data (rows, scores, units), so summary.json, report.md and MLflow show the
same numbers and a finished run's blocks can be recomputed from its knowledge base.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from evolve import coupling, fidelity, references
from evolve.formatting import number

STAGE_PAIRS: tuple[tuple[str, str], ...] = (("isolated", "full"), ("isolated", "cross"), ("cross", "full"))


def genome_perf(rows: Iterable[Any], domain: str, isolated: bool) -> dict[str, float]:
    """Mean perf in `domain` per genome of that domain over a stage's rows (at the isolated stage only
    the rows that changed that domain: elsewhere the genome is a held-fixed partner)."""
    vals: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if domain in r.perf_by_domain and (not isolated or r.cand.focus in (domain, "all")):
            vals[r.cand.triple[domain]].append(float(r.perf_by_domain[domain]))
    return {g: float(np.mean(v)) for g, v in vals.items()}


def fidelity_block(rows_by_stage: Mapping[str, Sequence[Any]], names: Sequence[str],
                   rungs: Mapping[str, str | None] | None = None, *, confidence: float = 0.95,
                   n_resamples: int = 2000, seed: int = 0) -> dict[str, dict[str, dict[str, Any]]]:
    """Per domain and stage pair: Spearman of the genomes measured at both stages, with its CI and words."""
    rungs = rungs or {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for d in names:
        per_stage = {s: genome_perf(rows_by_stage.get(s, ()), d, s == "isolated") for s in rows_by_stage}
        out[d] = {}
        for lo, hi in STAGE_PAIRS:
            if lo not in per_stage or hi not in per_stage:
                continue
            both = sorted(set(per_stage[lo]) & set(per_stage[hi]))
            f = fidelity.rank_fidelity([per_stage[lo][g] for g in both], [per_stage[hi][g] for g in both],
                                       confidence=confidence, n_resamples=n_resamples, seed=seed)
            key = f"{lo}->{hi}"
            label = key if not (rungs.get(lo) or rungs.get(hi)) else f"{key} (rungs {rungs.get(lo)}->{rungs.get(hi)})"
            out[d][key] = {**f.as_dict(), "rungs": [rungs.get(lo), rungs.get(hi)],
                           "low": bool(math.isfinite(f.rho) and f.rho < fidelity.LOW and f.n >= fidelity.MIN_GENOMES),
                           "words": fidelity.describe(d, label, f)}
    return out


def coupling_block(stage: str, cands: Iterable[Any], scores: Mapping[tuple[str, str, int], float],
                   pairs: Sequence[Sequence[str]], reference: Mapping[str, str], seeds: Sequence[int],
                   units: Mapping[str, float], *, confidence: float = 0.95, n_resamples: int = 2000,
                   seed: int = 0) -> list[dict[str, Any]]:
    """The 2x2 factorial of every coupled pair at `stage`, pooled over the stage's triples and seeds, one
    entry per (pair, response domain); effects are in the declared unit of the response's domain."""
    tables: dict[tuple[tuple[str, str], str], list] = defaultdict(list)
    triples: dict[tuple[str, str], int] = defaultdict(int)
    for cand in cands:
        if references.is_auxiliary(cand) or cand.triple == dict(reference):
            continue
        for pair in pairs:
            pair = tuple(pair)
            if not coupling.informative(cand.triple, reference, pair):
                continue
            units_of = references.factorial_units(scores, stage, cand.triple, cand.id, pair, reference, seeds)
            triples[pair] += any(units_of.values())
            for d, ys in units_of.items():
                tables[(pair, d)].extend(np.asarray(ys, float) / float(units.get(d, 1.0)))
    out = []
    for pair in pairs:
        pair = tuple(pair)
        for d in pair:
            ys = np.asarray(tables.get((pair, d), []), float).reshape(-1, 2, 2)
            f = coupling.factorial(pair, d, ys, confidence=confidence, n_resamples=n_resamples, seed=seed)
            out.append({"stage": stage, **f.as_dict(), "triples": triples.get(pair, 0)})
    return out


def coupling_metrics(block: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """MLflow metric names for the coupling block: coupling.<stage>.<a>x<b>.<response>.<effect>."""
    out = {}
    for e in block:
        key = f"coupling.{e['stage']}.{e['pair'][0]}x{e['pair'][1]}.{e['response']}"
        for name in ("main_a", "main_b", "interaction"):
            if math.isfinite(e[name]["estimate"]):
                out[f"{key}.{name}"] = float(e[name]["estimate"])
    return out


def fidelity_metrics(block: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, float]:
    """MLflow metric names for the fidelity block: fidelity.<domain>.<stage>_to_<stage> (Spearman)."""
    return {f"fidelity.{d}.{pair.replace('->', '_to_')}": float(f["rho"]) for d, pairs in block.items()
            for pair, f in pairs.items() if math.isfinite(f["rho"])}


def _ci(e: Mapping[str, Any]) -> str:
    lo, hi = e.get("ci_low"), e.get("ci_high")
    return f"[{number(lo, 3)}, {number(hi, 3)}]" if number(lo, 3) != "—" and number(hi, 3) != "—" else "—"


def report_sections(summary: Mapping[str, Any]) -> list[str]:
    """report.md's verdict sections (Markdown lines): per-domain gains and their unit, coupling, fidelity."""
    out: list[str] = []
    units = summary.get("gain_units") or {}
    best = summary.get("best_perf") or {}
    if units:
        out += ["## Per-domain gains", "",
                "perf = gain over the reference genome with the same partners, stage and seeds, divided by the "
                "domain's unit (its design spread; docs/selection.md). 0 is the reference at every stage.", "",
                "| domain | best perf | unit (raw score per perf 1) | unit from |", "|---|---|---|---|"]
        out += [f"| {d} | {number(best.get(d), 3)} | {number(u.get('value'), 4)} | {u.get('source', '')} |"
                for d, u in units.items()]
        out += [""]
    coupling_rows = [e for e in summary.get("coupling") or [] if e.get("n")]
    if summary.get("coupling") and not coupling_rows:
        out += ["## Coupling (2x2 factorial per coupled pair)", "",
                "Not measured yet: no triple at the cross or full stage differs from the reference in both "
                "domains of a coupled pair.", ""]
    if coupling_rows:
        out += ["## Coupling (2x2 factorial per coupled pair)", "",
                "Effects in the response domain's unit, averaged over the stage's triples and seeds; interaction > 0: "
                "the two changes help each other, < 0: they get in each other's way.", "",
                "| stage | pair | response | n | main effect A | main effect B | interaction | interaction CI |",
                "|---|---|---|---|---|---|---|---|"]
        for e in coupling_rows:
            a, b = e["pair"]
            out.append(f"| {e['stage']} | {a} x {b} | {e['response']} | {e['n']} | {a}: {number(e['main_a']['estimate'], 3)} "
                       f"{_ci(e['main_a'])} | {b}: {number(e['main_b']['estimate'], 3)} {_ci(e['main_b'])} | "
                       f"{number(e['interaction']['estimate'], 3)} | {_ci(e['interaction'])} |")
        out += [""]
    fid = summary.get("fidelity") or {}
    if fid:
        out += ["## Proxy fidelity (does the cheaper stage rank genomes like the dearer one?)", "",
                "| domain | stages | genomes | Spearman | 95% CI |", "|---|---|---|---|---|"]
        words = []
        for d, pairs in fid.items():
            for pair, f in pairs.items():
                out.append(f"| {d} | {pair} | {f['n']} | {number(f['rho'], 3)} | {_ci(f)} |")
                if f.get("n", 0) >= 3:
                    words.append(f"- {f['words']}")
        out += ["", *(words or ["- No domain has 3 genomes measured at two stages yet: fidelity is unknown."]), ""]
    return out
