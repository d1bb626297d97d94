"""`python -m evolve.ablation run|gallery|report` — see docs/ablation.md.

    run      arms x seeds through Hydra multirun (resumes unfinished runs), then gallery and report
    gallery  re-evaluate the best full-stage candidates beside the baselines on fresh seeds
    report   recompute ablation.json, ablation.md, the plots and the MLflow parent run from the knowledge bases
    rediscover  evaluate a rediscovery task's withheld targets (cached), then the report
    reach    how far each withheld design is from its task's start set, in the domain's operator steps
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evolve.ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run arms x seeds, then the gallery and the report; extra args are Hydra overrides")
    r.add_argument("--dir", type=Path, required=True, help="the ablation directory (one run directory per arm/seed)")
    r.add_argument("--arms", default="gp,random", help="comma-separated arms from conf/ablation/")
    r.add_argument("--seeds", default="3", help="a count (3 -> 0,1,2) or a list (0,4,7)")
    r.add_argument("--domain", default="rl")
    r.add_argument("--task", default=None, help="a rediscovery task from conf/rediscover/ (sets the domain)")
    r.add_argument("--scale", default="tiny")
    r.add_argument("--budget", type=int, default=None, help="evaluations per run (default: conf/ablation/common.yaml)")
    r.add_argument("--gallery-top", type=int, default=2, help="full-stage candidates to re-evaluate (0: no gallery)")
    r.add_argument("--gallery-seeds", type=int, default=3)
    g = sub.add_parser("gallery", help="re-evaluate the best full-stage candidates beside the baselines")
    g.add_argument("dir", type=Path)
    g.add_argument("--top", type=int, default=2)
    g.add_argument("--seeds", type=int, default=3)
    red = sub.add_parser("rediscover", help="evaluate the withheld targets of a rediscovery ablation, then report")
    red.add_argument("dir", type=Path)
    rea = sub.add_parser("reach", help="operator steps from a task's start set to each withheld design")
    rea.add_argument("--task", required=True)
    rea.add_argument("--scale", default="tiny")
    rea.add_argument("--beam", type=int, default=4)
    rea.add_argument("--children", type=int, default=24)
    rea.add_argument("--max-steps", type=int, default=12)
    rea.add_argument("--seed", type=int, default=0)
    rep = sub.add_parser("report", help="recompute the report from the knowledge bases")
    rep.add_argument("dir", type=Path)
    rep.add_argument("--target", type=float, default=None, help="hypervolume target (default: median final HV)")
    rep.add_argument("--tracking-uri", default=None)
    for q in (r, rep, red):
        q.add_argument("--confidence", type=float, default=0.95)
        q.add_argument("--bootstrap", type=int, default=2000)
    return p


def main(argv: list[str] | None = None) -> int:
    args, extra = _parser().parse_known_args(argv)
    extra = [e for e in extra if e != "--"]
    from evolve.ablation import report
    from evolve.ablation.runs import AblationError

    try:
        if args.command == "run":
            from evolve.ablation import runner

            arms, seeds = runner.parse_arms(args.arms), runner.parse_seeds(args.seeds)
            overrides = list(extra) + ([f"campaign.budget.evaluations={args.budget}"] if args.budget else [])
            domain = args.domain
            if args.task:
                from evolve.ablation.rediscover import task_domain

                domain, overrides = task_domain(args.task), [f"+rediscover={args.task}", *overrides]
            record = runner.run(args.dir, arms, seeds, domain, args.scale, overrides)
            if not any((args.dir / a).is_dir() for a in arms):
                print("ablation: no arm could run; nothing to report", file=sys.stderr)
                return 1
            if args.task:
                from evolve.ablation.rediscover import run_targets

                run_targets(args.dir)
            if args.gallery_top > 0 and not record["failed"]:
                from evolve.ablation.gallery import run_gallery

                run_gallery(args.dir, top=args.gallery_top, n_seeds=args.gallery_seeds)
            md = report.write(args.dir, report.build(args.dir, args.confidence, args.bootstrap))
            print(f"ablation report: {md}\nablation data:   {args.dir / 'ablation.json'}")
            return 1 if record["failed"] else 0
        if args.command == "gallery":
            from evolve.ablation.gallery import run_gallery

            result = run_gallery(args.dir, top=args.top, n_seeds=args.seeds)
            for c in result["candidates"]:
                print(f"{c['label']}: {c['verdict']}")
            return 0
        if extra:
            print(f"unexpected arguments: {' '.join(extra)}", file=sys.stderr)
            return 2
        if args.command == "reach":
            from evolve.ablation import reach

            print(reach.markdown(reach.task_distances(args.task, args.scale, beam=args.beam, children=args.children,
                                                      max_steps=args.max_steps, seed=args.seed)))
            return 0
        if args.command == "rediscover":
            from evolve.ablation.rediscover import run_targets

            run_targets(args.dir)
            md = report.write(args.dir, report.build(args.dir, args.confidence, args.bootstrap))
            print(md)
            return 0
        md = report.write(args.dir, report.build(args.dir, args.confidence, args.bootstrap, args.target),
                          args.tracking_uri)
        print(md)
        return 0
    except (AblationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
