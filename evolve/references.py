"""Partner-matched references and coupling cells: the extra triples a candidate is measured against.

A candidate's gain in domain d is its score minus the score of the SAME triple with only d's member
swapped for d's reference genome, at the same stage and seeds (common random numbers): the partners
are the candidate's own, so the gain is the candidate's and not its partners' (an architecture
trained on the data incumbent's corpus is compared with the reference Transformer trained on that
same corpus). At the cross and full stages the coupling factorial (evolve/coupling.py) needs the
triple with each coupled pair's members swapped too.

These extra triples are *auxiliary candidates*: each (stage, triple, domain) is one knowledge-base
candidate evaluated in that one domain at the stage's seeds, planned with the candidate that needs
it and shared by every candidate that needs it (so it runs once per partners, stage and seed: a
cache). They are runs like any other (budget, device time) but never rows: not ranked, promoted,
put on a front or counted as evaluated candidates. The all-reference triple and the candidate
itself are never duplicated as auxiliaries.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from domains.base import genome_id
from evolve import coupling

AUX = "reference:"  # focus prefix of an auxiliary candidate: "reference:<domain>"


def candidate_id(stage: str, triple: Mapping[str, str]) -> str:
    return genome_id(f"candidate:{stage}", dict(triple))


def aux_id(stage: str, triple: Mapping[str, str], domain: str) -> str:
    return genome_id(f"reference:{stage}:{domain}", dict(triple))


def aux_focus(domain: str) -> str:
    return f"{AUX}{domain}"


def is_auxiliary(cand: Any) -> bool:
    return str(cand.focus).startswith(AUX)


def aux_domain(cand: Any) -> str:
    return str(cand.focus)[len(AUX):]


def matched_reference(triple: Mapping[str, str], reference: Mapping[str, str], domain: str) -> dict[str, str]:
    return {**dict(triple), domain: reference[domain]}


def source_id(stage: str, triple: Mapping[str, str], domain: str, reference: Mapping[str, str],
              own_id: str) -> str:
    """The candidate whose result in `domain` stands for `triple` there: itself, the stage's
    all-reference candidate, or an auxiliary."""
    triple = dict(triple)
    if triple == dict(reference):
        return candidate_id(stage, reference)
    if candidate_id(stage, triple) == own_id:
        return own_id
    return aux_id(stage, triple, domain)


def matched_reference_id(stage: str, triple: Mapping[str, str], domain: str, reference: Mapping[str, str],
                         own_id: str) -> str:
    """The candidate whose score in `domain` at a seed is the reference point of `own_id`'s score there."""
    t = matched_reference(triple, reference, domain)
    if t == dict(triple):
        return own_id  # the candidate's member in this domain IS the reference: gain 0
    return source_id(stage, t, domain, reference, own_id)


def needs(stage: str, triple: Mapping[str, str], domains: Iterable[str], reference: Mapping[str, str],
          pairs: Sequence[Sequence[str]] = ()) -> list[tuple[str, dict[str, str], str]]:
    """(aux id, triple, domain) for every auxiliary result a candidate at `stage` needs: its matched
    reference in each domain it is scored in and, at the cross and full stages, the cells of each
    coupled pair it differs from the reference in."""
    own = candidate_id(stage, triple)
    out: dict[str, tuple[str, dict[str, str], str]] = {}

    def want(t: Mapping[str, str], d: str) -> None:
        sid = source_id(stage, t, d, reference, own)
        if sid not in (own, candidate_id(stage, reference)):
            out.setdefault(sid, (sid, dict(t), d))

    for d in domains:
        t = matched_reference(triple, reference, d)
        if t != dict(triple):
            want(t, d)
    if stage != "isolated":
        for pair in pairs:
            if not coupling.informative(triple, reference, pair):
                continue
            for t in coupling.cell_triples(triple, reference, pair).values():
                for d in pair:
                    want(t, d)
    return list(out.values())


def coupling_pairs(cfg: Mapping[str, Any], names: Sequence[str]) -> list[tuple[str, str]]:
    """`analysis.coupling_pairs` restricted to pairs of the campaign's domains."""
    raw = (cfg.get("analysis") or {}).get("coupling_pairs") or []
    pairs = []
    for p in raw:
        p = tuple(str(x) for x in p)
        if len(p) != 2 or p[0] == p[1]:
            raise ValueError(f"analysis.coupling_pairs: {list(p)} is not a pair of two domains")
        if all(d in names for d in p):
            pairs.append(p)
    return pairs


def factorial_units(scores: Mapping[tuple[str, str, int], float], stage: str, triple: Mapping[str, str],
                    own_id: str, pair: Sequence[str], reference: Mapping[str, str],
                    seeds: Iterable[int]) -> dict[str, list[list[list[float]]]]:
    """For each response domain of `pair`: the 2x2 tables y[level_a][level_b] of raw scores, one per seed
    at which all four cells were measured (scores: (candidate id, domain, seed) -> score)."""
    cells = coupling.cell_triples(triple, reference, pair)
    out: dict[str, list[list[list[float]]]] = {d: [] for d in pair}
    for d in pair:
        ids = {lv: source_id(stage, t, d, reference, own_id) for lv, t in cells.items()}
        for seed in seeds:
            ys = {lv: scores.get((cid, d, seed)) for lv, cid in ids.items()}
            if all(v is not None for v in ys.values()):
                out[d].append([[ys[(0, 0)], ys[(0, 1)]], [ys[(1, 0)], ys[(1, 1)]]])
    return out


def matched_gains(stage: str, cands: Iterable[Any], perf: Mapping[tuple[str, str, int], float],
                  reference: Mapping[str, str]) -> dict[str, dict[str, dict[int, float]]]:
    """Raw gain of every non-auxiliary candidate per domain and seed over its partner-matched reference.

    `perf` maps (candidate id, domain, seed) to the stored perf, normalise(score, the stage's
    all-reference score). Because `normalise` is a difference (f(score) - f(reference score)), the
    gain over the matched reference is perf(candidate) - perf(matched reference): nothing about the
    domain is needed to read it back. A seed whose matched reference has no result yet is left out.
    """
    out: dict[str, dict[str, dict[int, float]]] = {}
    keys_by_cand: dict[str, list[tuple[str, int]]] = {}
    for (cid, d, seed) in perf:
        keys_by_cand.setdefault(cid, []).append((d, seed))
    for cand in cands:
        if is_auxiliary(cand):
            continue
        gains: dict[str, dict[int, float]] = {}
        for d, seed in keys_by_cand.get(cand.id, []):
            m = matched_reference_id(stage, cand.triple, d, reference, cand.id)
            base = perf.get((m, d, seed))
            if base is not None:
                gains.setdefault(d, {})[seed] = float(perf[(cand.id, d, seed)]) - float(base)
        out[cand.id] = gains
    return out
