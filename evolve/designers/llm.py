"""The LLM designer and engineer: schema-constrained proposals, with repairs from their error messages.

Designer: for each proposal, parents are drawn by the same NSGA-II tournament as the GP designer's, and
the model sees the domain's grammar, the Pareto top-k, recent failures with their reasons, the live
hypotheses, the agenda's focus and the analyst's last reading; it answers `{motivation, hypothesis,
genome}` under the domain's JSON schema. Engineer: an answer that does not become a valid new genome
(unparseable, refused by `check`, a duplicate) goes back with its error, at most `llm.repairs` times;
and an LLM genome whose evaluation failed goes back, with the evaluation's error, in a later cycle.

The answer is data: it is parsed by the domain (`from_json`, `check`), never executed. A share of the
proposals (`llm.gp_share`) comes from the GP designer, and GP fills any slot the LLM could not
(server down, nothing valid after the repairs), so the campaign's budget is always spent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from domains.base import GenomeError, genome_id, genome_schema
from evolve import selection
from evolve.designers.context import DesignContext
from evolve.formatting import number
from evolve.designers.gp import GPDesigner, Proposal, Rejection
from evolve.llm import LLMClient, LLMReply, LLMSettings

TEXT_FIELD = {"type": "string", "maxLength": 240}
SYSTEM = ("You are a research engineer running an evolutionary search. You answer with one JSON object that "
          "matches the given schema: `motivation` (why this design should do well), `hypothesis` (a testable "
          "claim the result will support or refute) and `genome` (the design, in the grammar's JSON form).")


def proposal_schema(genome: dict[str, Any]) -> dict[str, Any]:
    """{motivation, hypothesis, genome}; the genome schema's `$defs` move to the root (refs are absolute)."""
    genome = dict(genome)
    defs = genome.pop("$defs", None)
    schema: dict[str, Any] = {"type": "object",
                              "properties": {"motivation": TEXT_FIELD, "hypothesis": TEXT_FIELD, "genome": genome},
                              "required": ["motivation", "hypothesis", "genome"], "additionalProperties": False}
    return {"$defs": defs, **schema} if defs else schema


def _lines(items: Sequence[str], empty: str) -> str:
    return "\n".join(f"- {s}" for s in items) if items else f"- ({empty})"


def designer_messages(ctx: DesignContext, parents: Sequence[str]) -> list[dict[str, str]]:
    top = [f"perf {number(t['perf'], missing='n/a')}: {t['text']}" for t in ctx.top]
    fails = [f"{f['status']} ({f['reason']}): {f['text']}" for f in ctx.failures]
    hyps = [f"[{h['status']}] {h['statement']} (effect {number(h['effect'], missing='n/a')})" for h in ctx.hypotheses]
    focus = ""
    if ctx.focus:
        focus = (f"Agenda: the {ctx.focus['domain']} domain has the largest share ({ctx.focus['share']:.2f}): "
                 f"{ctx.focus['reason']}.")
        if ctx.focus.get("llm_focus"):
            focus += f" The analyst suggests focusing on {ctx.focus['llm_focus']}: {ctx.focus['llm_reason']}"
    user = (f"Domain: {ctx.domain} (design cycle {ctx.cycle}).\n\nGRAMMAR\n{ctx.grammar}\n\n"
            f"BEST SO FAR (perf: gain over the reference baseline at the same budget; higher is better)\n"
            f"{_lines(top, 'nothing measured yet')}\n\nRECENT FAILURES (avoid these mistakes)\n"
            f"{_lines(fails, 'none')}\n\nLIVE HYPOTHESES (tested on genomes made after they were proposed)\n"
            f"{_lines(hyps, 'none')}\n\n{focus}\n"
            + (f"Analyst's reading: {ctx.analysis}\n" if ctx.analysis else "")
            + f"\nPARENTS (chosen by Pareto tournament)\n{_lines(list(parents), 'none: design from scratch')}\n\n"
              "Propose ONE new genome that is different from every genome above and likely to improve perf "
              "at low cost. Answer with the JSON object only.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def engineer_messages(ctx: DesignContext, attempt: str, error: str) -> list[dict[str, str]]:
    user = (f"Domain: {ctx.domain}.\n\nGRAMMAR\n{ctx.grammar}\n\nThis proposal was refused:\n{attempt}\n\n"
            f"ERROR\n{error}\n\nRepair it: keep its idea, fix what the error names, and make it a genome that is "
            "new. Answer with the JSON object only (motivation: what you changed and why).")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


@dataclass
class Outcome:
    """One proposal slot after the designer and any repairs."""

    genome: Any = None
    gid: str = ""
    reason: str = ""
    reply: LLMReply | None = None
    calls: tuple[int, ...] = ()
    repairs: int = 0


class LLMDesigner:
    """Same `propose` contract as GPDesigner; `context_fn(domain_name)` reads the knowledge base."""

    name = "llm"

    def __init__(self, client: LLMClient, settings: LLMSettings, gp: GPDesigner,
                 context_fn: Callable[[str], DesignContext]) -> None:
        self.client = client
        self.settings = settings
        self.gp = gp
        self.context_fn = context_fn
        self.slots = 0  # proposal slots the LLM was asked to fill (the valid-proposal rate's denominator)

    def propose(self, domain: Any, parents: Sequence[tuple[str, Any]], ranks: np.ndarray, crowding: np.ndarray,
                n: int, rng: np.random.Generator, known: set[str],
                F: np.ndarray | None = None) -> tuple[list[Proposal], list[Rejection]]:
        if n <= 0:
            return [], []
        schema = genome_schema(domain)
        n_llm = 0 if schema is None else n - int(rng.binomial(n, float(self.settings.gp_share)))
        proposals: list[Proposal] = []
        rejected: list[Rejection] = []
        if n_llm:
            ctx = self.context_fn(domain.name)
            wrapper = proposal_schema(schema)
            for fail in self._repairable(ctx):
                if len(proposals) + len(rejected) >= n_llm:
                    break
                self._slot(domain, ctx, wrapper, known, (fail["gid"],), [fail["text"]], proposals, rejected,
                           repair_of=fail)
            by_id = dict(parents)
            while len(proposals) + len(rejected) < n_llm:
                picked = self._parents(parents, ranks, crowding, rng, F)
                before = len(proposals) + len(rejected)
                self._slot(domain, ctx, wrapper, known, picked, [domain.to_text(by_id[g]) for g in picked],
                           proposals, rejected)
                if len(proposals) + len(rejected) == before:
                    n_llm -= 1  # nothing came back for this slot: GP fills it below
        if len(proposals) < n:
            gp_props, gp_rejects = self.gp.propose(domain, parents, ranks, crowding, n - len(proposals), rng,
                                                   known, F=F)
            why = "llm.gp_share" if schema is not None else "the domain has no json_schema"
            proposals += [Proposal(p.genome, p.gid, p.parents, p.origin, {**p.provenance, "via": why})
                          for p in gp_props]
            rejected += gp_rejects
        return proposals, rejected

    # ------------------------------------------------------------------------------------------ parts
    def _repairable(self, ctx: DesignContext) -> list[dict[str, Any]]:
        """LLM genomes whose evaluation failed, not yet repaired, with repairs left."""
        return [f for f in ctx.failures if f["status"] == "failed" and f["provenance"].get("designer") == self.name
                and int(f["provenance"].get("repairs", 0)) < int(self.settings.repairs) and f["gid"] not in ctx.repaired]

    def _parents(self, parents: Sequence[tuple[str, Any]], ranks: np.ndarray, crowding: np.ndarray,
                 rng: np.random.Generator, F: np.ndarray | None) -> tuple[str, ...]:
        if not parents:
            return ()
        k = 2 if len(parents) >= 2 else 1
        picks = dict.fromkeys(parents[int(i)][0] for i in selection.tournament(ranks, crowding, k, rng, F=F))
        return tuple(picks)

    def _slot(self, domain: Any, ctx: DesignContext, schema: dict[str, Any], known: set[str],
              parent_ids: tuple[str, ...], parent_texts: Sequence[str], proposals: list[Proposal],
              rejected: list[Rejection], repair_of: dict[str, Any] | None = None) -> None:
        self.slots += 1
        texts = [str(t)[: int(self.settings.text_max_chars)] for t in parent_texts]
        if repair_of is None:
            out = self._accept(domain, self.client.chat("designer", designer_messages(ctx, texts), schema), known)
            role, base_repairs = "designer", 0
        else:
            msgs = engineer_messages(ctx, repair_of["text"], f"evaluation failed: {repair_of['reason']}")
            out = self._accept(domain, self.client.chat("engineer", msgs, schema), known)
            role, base_repairs = "engineer", int(repair_of["provenance"].get("repairs", 0)) + 1
        while not out.gid or out.reason:
            if out.reply is not None and out.reply.outcome in ("timeout", "connection_error", "http_error",
                                                               "rejected", "error", "empty", "replay_miss"):
                break  # the server, not the answer, failed: a repair cannot help
            if out.repairs >= int(self.settings.repairs):
                break
            attempt = out.reply.text if out.reply is not None and out.reply.text else "(no answer)"
            nxt = self._accept(domain, self.client.chat("engineer", engineer_messages(ctx, attempt[:2000], out.reason),
                                                        schema), known)
            nxt.calls, nxt.repairs = out.calls + nxt.calls, out.repairs + 1
            out = nxt
        if not out.gid:
            return  # nothing that became a genome: the llm_calls rows hold why
        provenance = {"designer": self.name, "role": role, "model": self.client.model, "llm_calls": list(out.calls),
                      "repairs": base_repairs + out.repairs,
                      "motivation": str(out.reply.data.get("motivation", ""))[:500] if out.reply else "",
                      "hypothesis": str(out.reply.data.get("hypothesis", ""))[:500] if out.reply else "",
                      "hypotheses_used": [h["id"] for h in ctx.hypotheses], "analysis_cycle": ctx.analysis_cycle,
                      "parents_by": "nsga2 tournament" if repair_of is None else "engineer repair"}
        if repair_of is not None:
            provenance["repair_of"] = repair_of["gid"]
        origin = "llm" if repair_of is None and not out.repairs else "llm+repair"
        known.add(out.gid)
        if out.reason:
            rejected.append(Rejection(out.genome, out.gid, parent_ids, origin, out.reason, provenance))
        else:
            proposals.append(Proposal(out.genome, out.gid, parent_ids, origin, provenance))

    def _accept(self, domain: Any, reply: LLMReply, known: set[str]) -> Outcome:
        """Parse the answer into a new, statically valid genome, or say why not."""
        out = Outcome(reply=reply, calls=reply.call_ids)
        if not reply.ok:
            out.reason = reply.reason
            return out
        try:
            genome = domain.from_json(reply.data["genome"])
            gid = genome_id(domain.name, domain.to_json(genome))
        except (GenomeError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            out.reason = f"the genome does not parse: {type(exc).__name__}: {str(exc)[:300]}"
            return out
        if gid in known:
            out.reason = "duplicate: this genome is already in the archive; propose a different one"
            return out
        out.genome, out.gid = genome, gid
        check = domain.check(genome)
        if not check.ok:
            out.reason = check.reason or "check() refused the genome"
        return out
