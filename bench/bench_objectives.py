"""Pooled perf vs per-domain objectives for promoting isolated-stage candidates (docs/selection.md).

A simulated isolated stage of a three-domain campaign: each domain brings `per_domain` candidates
whose true gain (in the declared unit, the domain's design spread) is N(0, 1); the campaign sees it
through evaluation noise N(0, noise^2). Cost ratio and novelty are drawn independently of the gain.
The engine's promotion rule (NSGA-II rank, then crowding, then gain; evolve.stages.nsga_order) picks
`k` candidates from either
  pooled      F = (-gain, cost, -novelty)                                 3 objectives
  per-domain  F = (-gain_arch, -gain_rl, -gain_data, cost, -novelty)      5 objectives (0 = not changed)
and, for contrast, the old pooled rule on raw units where one domain's scores are 10x wider.
Reported per rule: mean true gain of the promoted, how often the truly best candidate is promoted,
the share of promotions per domain, and the share of the stage on the first front.

    python bench/bench_objectives.py [--reps 2000]
"""
from __future__ import annotations

import argparse

import numpy as np

from evolve import selection

DOMAINS = ("arch", "rl", "data")


def one_stage(rng: np.random.Generator, per_domain: int, noise: float, k: int, raw_scale: tuple[float, ...]):
    n = per_domain * len(DOMAINS)
    dom = rng.permutation(np.repeat(np.arange(len(DOMAINS)), per_domain))
    true = rng.normal(size=n)
    seen = true + noise * rng.normal(size=n)
    cost = np.exp(0.3 * rng.normal(size=n))
    nov = rng.random(n)
    per = np.zeros((n, len(DOMAINS)))
    per[np.arange(n), dom] = seen
    rules = {
        "pooled, declared unit": np.column_stack([-seen, cost, -nov]),
        "per-domain objectives": np.column_stack([-per, cost, -nov]),
        "pooled, raw units (rl 10x)": np.column_stack([-seen * np.asarray(raw_scale)[dom], cost, -nov]),
    }
    out = {}
    for name, F in rules.items():
        ranks = selection.pareto_ranks(F)
        crowd = selection.crowding_distances(F, ranks)
        chosen = list(np.lexsort((-seen, -crowd, ranks))[:k])  # the engine's order; ties to the higher gain
        front = (selection.pareto_ranks(F) == 0).mean()
        out[name] = (true[chosen].mean(), float(int(np.argmax(true)) in chosen),
                     np.bincount(dom[chosen], minlength=len(DOMAINS)) / len(chosen), front)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--per-domain", type=int, default=5)
    ap.add_argument("--noise", type=float, default=0.5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for k in (1, 3):
        acc: dict[str, list] = {}
        for _ in range(args.reps):
            for name, v in one_stage(rng, args.per_domain, args.noise, k, (1.0, 10.0, 1.0)).items():
                acc.setdefault(name, []).append(v)
        print(f"\n{args.per_domain} candidates per domain, noise sd {args.noise}, promote k={k}, {args.reps} reps")
        print(f"{'rule':30s} {'true gain':>9s} {'P(best)':>8s} {'share arch/rl/data':>20s} {'on front':>9s}")
        for name, rows in acc.items():
            gain, best, share, front = (np.mean([r[i] for r in rows], axis=0) for i in range(4))
            print(f"{name:30s} {gain:9.3f} {best:8.3f} {'/'.join(f'{s:.2f}' for s in share):>20s} {front:9.2f}")


if __name__ == "__main__":
    main()
