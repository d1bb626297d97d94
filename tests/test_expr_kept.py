"""The arch and rl expression trees share one library (domains/expr_tree.py); what a seed decides is pinned.

For a few seeds: the genomes each domain samples (the random/initial population), chains of mutations and
crossovers under a fixed RNG, their genome ids (hashes of the stored JSON form), text forms, features and
check verdicts; the LLM-facing grammar text and JSON schema; and which expression strings each parser
accepts. The expected values were recorded from the two separate libraries before they were merged
(tests/data/expr_kept.json); a deliberate change re-records them with `python tests/test_expr_kept.py --record`
(say why in the commit: existing knowledge bases hold the old ids)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import domains  # noqa: F401  (XLA flags before JAX starts)
from domains.base import GenomeError, canonical_json, genome_id

EXPECTED = Path(__file__).parent / "data" / "expr_kept.json"
SEEDS = (0, 1, 2, 3)

ARCH_TEXTS = [
    "x", "mul(sigmoid(x), x)", "sub(x, 4.0)", "add(x,-1.0)", "max( x , 0.5 )", "neg (x)", "1", "0.5",
    "relu2(x)", "mul(x, 3.0)", "foo(x)", "add(x)", "relu(x, x)", "sigmoid(x", "sigmoid(x))", "", "y",
    "mul(x, 1e0)", "mul(x, nan)", "mul(x, inf)", "exp(x) ", "logsigmoid(elu1(x))", "x x", "sin(x);",
]
RL_TEXTS = [
    "neg(min(mul(ratio, nadv), mul(clip(ratio, 0.8, 1.2), nadv)))", "mul(ratio,nadv)", "clip(ratio, .8, +1.2)",
    "neg (ratio)", "where(gt(ratio, 1.0), adv, nadv)", "where(ratio, adv, nadv)", "add(gt(ratio, 1.0), adv)",
    "1e-3", "1.23456", "-0.5", "mul(ratio, advantage)", "mul(ratio)", "mul(ratio, nadv", "mul(ratio, nadv))",
    "mul(ratio; nadv)", "", "ratio(x)", "neg", "mul(ratio, -nadv)", "mul(ratio, 1e999)", "sg(kl)", "gt(ratio, adv)",
    "log1p(div(ratio, 0))", "mul(2ratio, adv)", "mul(ratio, 1.)",
]


def _digest(obj) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


def _genome(dom, g) -> list:
    chk = dom.check(g)
    return [genome_id(dom.name, dom.to_json(g)), dom.to_text(g), chk.ok, chk.reason or "",
            _digest(dom.features(g))]


def _walk(dom, seed: int) -> dict:
    """Samples, then mutation chains and crossovers over samples and baselines, all from one generator."""
    rng = np.random.default_rng(seed)
    samples = [dom.sample(rng) for _ in range(6)]
    pool = samples + list(dom.baselines().values())
    mutants, g = [], pool[0]
    for _ in range(8):
        g = dom.mutate(g, rng)
        mutants.append(g)
    mutants += [dom.mutate(b, rng) for b in pool]
    crosses = [dom.crossover(pool[i], pool[(i + 1 + seed) % len(pool)], rng) for i in range(len(pool))]
    return {kind: [_genome(dom, x) for x in gs]
            for kind, gs in (("samples", samples), ("mutants", mutants), ("crosses", crosses))}


def _accepts(parse, to_text, texts: list[str]) -> list:
    out = []
    for t in texts:
        try:
            out.append([t, to_text(parse(t))])
        except GenomeError:
            out.append([t, None])
    return out


def arch_record() -> dict:
    from domains.arch import ArchDomain, expr as ex

    out = {}
    for name, cfg in (("default", {}), ("small", {"max_sublayers": 4, "max_branches": 2, "expr_depth": 3,
                                                   "expr_size": 6})):
        dom = ArchDomain(cfg)
        out[name] = {"walks": {str(s): _walk(dom, s) for s in SEEDS}, "grammar": dom.grammar(),
                     "schema": _digest(dom.json_schema())}
    out["accepts"] = _accepts(ex.parse, ex.to_text, ARCH_TEXTS)
    return out


def rl_record() -> dict:
    from domains.rl import RLDomain, expr

    dom = RLDomain({})
    return {"walks": {str(s): _walk(dom, s) for s in SEEDS}, "grammar": dom.grammar(),
            "schema": _digest(dom.json_schema()), "accepts": _accepts(expr.parse, expr.to_text, RL_TEXTS)}


def _expected(domain: str) -> dict:
    return json.loads(EXPECTED.read_text())[domain]


def test_arch_seeds_give_the_recorded_genomes_grammar_and_parses():
    got, want = json.loads(json.dumps(arch_record())), _expected("arch")
    for cfg in ("default", "small"):
        for seed in map(str, SEEDS):
            assert got[cfg]["walks"][seed] == want[cfg]["walks"][seed], f"{cfg} seed {seed}"
        assert got[cfg]["grammar"] == want[cfg]["grammar"]
        assert got[cfg]["schema"] == want[cfg]["schema"]
    assert got["accepts"] == want["accepts"]


def test_rl_seeds_give_the_recorded_genomes_grammar_and_parses():
    got, want = json.loads(json.dumps(rl_record())), _expected("rl")
    for seed in map(str, SEEDS):
        assert got["walks"][seed] == want["walks"][seed], f"seed {seed}"
    assert got["grammar"] == want["grammar"]
    assert got["schema"] == want["schema"]
    assert got["accepts"] == want["accepts"]


if __name__ == "__main__":  # python tests/test_expr_kept.py --record
    import sys

    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_expr_kept.py --record")
    EXPECTED.write_text(json.dumps({"arch": arch_record(), "rl": rl_record()}, indent=1, sort_keys=True) + "\n")
    print(f"recorded {EXPECTED}")
