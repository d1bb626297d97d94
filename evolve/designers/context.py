"""What an LLM designer is told about the search so far, read from the knowledge base.

Plain data, assembled once per domain per design phase, so prompts are built by pure functions
(and are the same on a replay as on the run that is replayed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DesignContext:
    domain: str
    cycle: int
    grammar: str
    top: list[dict[str, Any]] = field(default_factory=list)          # gid, text, perf (best first)
    failures: list[dict[str, Any]] = field(default_factory=list)     # gid, text, reason, stage, provenance
    hypotheses: list[dict[str, Any]] = field(default_factory=list)   # id, statement, status, effect, ci
    focus: dict[str, Any] | None = None                              # domain, share, reason (+ llm note)
    analysis: str = ""                                               # the LLM analyst's last interpretation
    analysis_cycle: int | None = None
    repaired: frozenset[str] = frozenset()                           # genomes an engineer already repaired


def _clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def build_context(kb: Any, archive: Any, name: str, grammar: str, cycle: int, *, top_k: int, failures: int,
                  hypotheses: int, text_chars: int) -> DesignContext:
    """Pareto top-k, recent failures with reasons, live hypotheses, the agenda's focus, the grammar.
    `kb` is the campaign's KnowledgeBase, `archive` its read-model (evolve.archive.Archive)."""
    perf = {r.gid: r.perf for r in archive.genome_records() if r.domain == name}
    top = [{"gid": g, "text": _clip(kb.genome(g)["text"], text_chars), "perf": perf.get(g)}
           for g in archive.top_genomes(name, top_k)]
    failed = []
    for cand in reversed(kb.candidates(stage="isolated")):
        if cand.status not in ("failed", "invalid") or cand.focus != name:
            continue
        row = kb.genome(cand.triple[name])
        failed.append({"gid": row["id"], "text": _clip(row["text"], text_chars), "reason": _clip(cand.reason, 300),
                       "status": cand.status, "cycle": cand.cycle, "provenance": row["provenance"]})
        if len(failed) >= failures:
            break
    hyps = [{"id": h["id"], "statement": h["statement"], "status": h["status"], "effect": h["effect"],
             "ci": [h["ci_low"], h["ci_high"]], "source": h["source"]}
            for h in kb.hypotheses() if h["domain"] == name and h["status"] in ("active", "supported")][:hypotheses]
    agenda = [a for a in kb.agenda() if a["cycle"] == max((b["cycle"] for b in kb.agenda()), default=-1)]
    focus = max(agenda, key=lambda a: a["share"]) if agenda else None
    analyses = kb.analyses()
    llm = next((a["llm_analysis"] for a in reversed(analyses) if a.get("llm_analysis")), None)
    if focus is not None:
        focus = {"domain": focus["domain"], "share": focus["share"], "reason": focus["reason"]}
        if llm and llm.get("focus"):
            focus["llm_focus"], focus["llm_reason"] = llm["focus"], _clip(llm.get("focus_reason", ""), 300)
    return DesignContext(domain=name, cycle=cycle, grammar=grammar, top=top,
                         failures=failed, hypotheses=hyps, focus=focus,
                         analysis=_clip(llm.get("interpretation", ""), 600) if llm else "",
                         analysis_cycle=llm.get("cycle") if llm else None,
                         repaired=frozenset(g["provenance"]["repair_of"] for g in kb.genomes(name)
                                            if g["provenance"].get("repair_of")))
