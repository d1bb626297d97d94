"""The LLM analyst: reads the top and bottom results and proposes testable hypotheses, retirements, a focus.

The LLM only *proposes*. Its hypotheses are predicates `{feature, op, value}` over a domain's named
genome features — the form `evolve.analyst` tests — with the value held inside the range observed so
far (so the predicate can split the population), and they are judged like any other: only on genomes
created after they were proposed, by effect size and confidence interval. A retirement it asks for
happens only when the evidence agrees (both groups hold at least 2 x min_group genomes, the interval
covers zero and |Hedges' g| < 0.5); otherwise the refused request is noted in the hypothesis's evidence. Its focus and reasoning go into the analysis report and
the designer's context; the agenda's shares stay evidence-based.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from evolve import analyst
from evolve.analyst import GenomeRecord
from evolve.llm import LLMClient

TEXT = {"type": "string", "maxLength": 240}
SMALL_EFFECT = 0.5  # |Hedges' g| below which a requested retirement may be granted (a small effect at most)


def feature_ranges(records: Sequence[GenomeRecord]) -> dict[str, dict[str, tuple[float, float]]]:
    """domain -> feature -> (min, max) over measured genomes; features that never vary are left out."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in records:
        for k, v in r.features.items():
            if math.isfinite(float(v)):
                out.setdefault(r.domain, {}).setdefault(k, []).append(float(v))
    return {d: {k: (min(v), max(v)) for k, v in feats.items() if min(v) < max(v)} for d, feats in out.items()}


def analyst_schema(ranges: Mapping[str, Mapping[str, tuple[float, float]]], live_ids: Sequence[str],
                   domains: Sequence[str], max_hypotheses: int) -> dict[str, Any]:
    options = [{"type": "object",
                "properties": {"domain": {"const": d}, "feature": {"const": f},
                               "op": {"enum": [">", "<"]},
                               "value": {"type": "number", "minimum": lo, "maximum": hi},
                               "direction": {"enum": ["higher", "lower"]}, "rationale": TEXT},
                "required": ["domain", "feature", "op", "value", "direction", "rationale"],
                "additionalProperties": False}
               for d in sorted(ranges) for f, (lo, hi) in sorted(ranges[d].items())]
    hyps = ({"type": "array", "items": {"anyOf": options}, "minItems": min(1, max_hypotheses),
             "maxItems": max_hypotheses} if options
            else {"type": "array", "maxItems": 0})
    retire = ({"type": "array", "items": {"enum": list(live_ids)}, "maxItems": len(live_ids)} if live_ids
              else {"type": "array", "maxItems": 0})
    return {"type": "object",
            "properties": {"interpretation": {"type": "string", "maxLength": 400}, "hypotheses": hyps,
                           "retire": retire, "focus": {"enum": list(domains)}, "focus_reason": TEXT},
            "required": ["interpretation", "hypotheses", "retire", "focus", "focus_reason"],
            "additionalProperties": False}


def analyst_messages(records: Sequence[GenomeRecord], texts: Mapping[str, str],
                     ranges: Mapping[str, Mapping[str, tuple[float, float]]],
                     hypotheses: Sequence[Mapping[str, Any]], k: int) -> list[dict[str, str]]:
    parts = []
    for d in sorted({r.domain for r in records}):
        rows = sorted((r for r in records if r.domain == d), key=lambda r: -r.perf)
        show = rows[:k] + [r for r in rows[-k:] if r not in rows[:k]]
        lines = [f"  perf {r.perf:+.4g}  {texts.get(r.gid, r.gid)}\n    features: "
                 + ", ".join(f"{f}={v:.3g}" for f, v in sorted(r.features.items())) for r in show]
        feats = ", ".join(f"{f} in [{lo:.3g}, {hi:.3g}]" for f, (lo, hi) in sorted(ranges.get(d, {}).items()))
        parts.append(f"DOMAIN {d}: {len(rows)} genomes measured; top {k} then bottom {k}:\n" + "\n".join(lines)
                     + f"\n  features that vary: {feats or 'none'}")
    hyps = "\n".join(f"  {h['id']} [{h['status']}] {h['statement']} (n={h['n_true']}/{h['n_false']}, "
                     f"effect {h['effect'] if h['effect'] is not None else 'n/a'})" for h in hypotheses) or "  none"
    user = ("You are the analyst of an evolutionary search. perf is the gain over the reference baseline at "
            "the same budget (higher is better).\n\n" + "\n\n".join(parts) + f"\n\nHYPOTHESES SO FAR\n{hyps}\n\n"
            "Propose new hypotheses as predicates over the features (they will be tested only on genomes made "
            "from now on), list hypotheses you think should be retired, and name the domain to focus on next. "
            "Answer with the JSON object only.")
    return [{"role": "system", "content": "You analyse experiment results and answer with JSON only."},
            {"role": "user", "content": user}]


def run(client: LLMClient, records: Sequence[GenomeRecord], texts: Mapping[str, str],
        hypotheses: Sequence[Mapping[str, Any]], domains: Sequence[str], cycle: int, *, max_hypotheses: int,
        show: int = 3) -> dict[str, Any] | None:
    """One analyst call; the parsed answer (with the call ids), or None when nothing usable came back."""
    ranges = feature_ranges(records)
    live = [h for h in hypotheses if h["status"] in ("active", "supported", "refuted")]
    schema = analyst_schema(ranges, [h["id"] for h in live], domains, max_hypotheses)
    reply = client.chat("analyst", analyst_messages(records, texts, ranges, live, show), schema)
    if not reply.ok:
        return None
    return {**reply.data, "cycle": cycle, "llm_calls": list(reply.call_ids)}


def new_hypotheses(answer: Mapping[str, Any], cycle: int, existing: set[str]) -> list[dict[str, Any]]:
    """Rows for the hypotheses table (source "llm", status active until the evidence says otherwise)."""
    out = []
    for h in answer.get("hypotheses", []):
        predicate = {"feature": str(h["feature"]), "op": str(h["op"]), "value": float(h["value"])}
        hid = analyst.hypothesis_id(h["domain"], predicate, "perf")
        if hid in existing:
            continue
        existing.add(hid)
        out.append(analyst.new_hypothesis(
            h["domain"], predicate, h["direction"], source="llm", cycle=cycle,
            evidence={"proposed_by": "llm analyst", "rationale": str(h.get("rationale", ""))[:300],
                      "llm_calls": answer.get("llm_calls", [])}))
    return out


def apply_retirements(answer: Mapping[str, Any], hypotheses: Sequence[Mapping[str, Any]], cycle: int,
                      min_group: int) -> list[dict[str, Any]]:
    """Updated rows for the retirements the LLM asked for: granted only where the evidence agrees."""
    by_id = {h["id"]: h for h in hypotheses}
    out = []
    for hid in dict.fromkeys(answer.get("retire", [])):
        h = by_id.get(hid)
        if h is None or h["status"] == "retired":
            continue
        g = (h.get("evidence") or {}).get("hedges_g")
        measured = min(h["n_true"] or 0, h["n_false"] or 0) >= 2 * min_group and h["ci_low"] is not None
        agrees = measured and h["ci_low"] <= 0.0 <= h["ci_high"] and g is not None and abs(g) < SMALL_EFFECT
        note = {"cycle": cycle, "granted": bool(agrees),
                "why": (f"both groups >= {2 * min_group} genomes, the interval covers 0, |g| < {SMALL_EFFECT}"
                        if agrees else "refused: the evidence does not (yet) show a null effect")}
        row = dict(h)
        row["evidence"] = {**dict(h.get("evidence") or {}), "llm_retire_request": note}
        if agrees:
            row.update(status="retired", updated_cycle=cycle)
        out.append(row)
    return out
