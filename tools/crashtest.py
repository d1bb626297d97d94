"""Kill-and-resume harness: SIGKILL a tiny campaign at random moments, resume it, check nothing was lost.

    python -m tools.crashtest --trials 20            # from a checkout (the numeric test domain)
    python -m tools.crashtest --trials 3 --kills 3 --cycles 3 --workdir /tmp/crash
    python -m tools.crashtest --trials 2 --domain arch   # a real domain: KB checks only (see below)

Why: the knowledge base promises that a campaign killed at any instant resumes with no finished
evaluation lost and none run twice. This harness tests the promise the hard way. Each trial starts
`python -m evolve` on a fresh run directory, SIGKILLs it (driver first, then its whole process group,
like a machine losing power) at a random moment (see `wait_for_kill_moment`), `--kills` times, then resumes it to the end and checks:

- every evaluation recorded at each kill is still there, unchanged (nothing lost);
- no evaluation recorded at a kill ran again afterwards, and at most one in-flight evaluation per
  worker was re-run per kill (with `--batch N`, one batch: N) (from the log the numeric domain writes per evaluation it starts);
- `PRAGMA integrity_check` and the knowledge base's invariants (one evaluation per candidate, domain
  and seed; planned markers for every planned candidate; settled candidates consistent with their
  evaluations; nothing pending after the last cycle; seeds from the stage's seed list);
- the final set of evaluations (keys, status, score) equals an uninterrupted run's with the same seed
  (the numeric domain is deterministic; real domains measure time, so their promotions may differ and
  only the other checks apply).

Exit status 0 when every trial passes. Random kill moments come from `--seed`, so a failure repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NUMERIC_PLUGIN = "tests.hostile_domain:HostileDomain"
BATCHING_PLUGIN = "tests.hostile_domain:BatchingHostileDomain"  # --batch N: the same, evaluated in batches

EvalKey = tuple[str, str, int]  # (candidate, domain, seed)


# --------------------------------------------------------------------------------------
# Reading a knowledge base (its SQL lives in evolve/knowledge.py, with the invariants checked here)
# --------------------------------------------------------------------------------------
def read_evaluations(kb_path: Path) -> dict[EvalKey, tuple[str, float | None]]:
    """(candidate, domain, seed) -> (status, score) of every recorded evaluation; {} before the KB exists."""
    from evolve.knowledge import peek_evaluations

    return peek_evaluations(kb_path)


def log_keys(kb_path: Path, keys: set[EvalKey]) -> dict[EvalKey, str]:
    """Each evaluation key as the numeric domain's log line ([stage, x, seed] in JSON)."""
    from evolve.knowledge import KnowledgeBase

    kb = KnowledgeBase.existing(kb_path)
    try:
        out = {}
        for cid, dom, seed in keys:
            cand = kb.candidate(cid)
            out[(cid, dom, seed)] = json.dumps([cand.stage, list(kb.genome(cand.triple[dom])["json"]), seed])
        return out
    finally:
        kb.close()


def invariant_errors(kb_path: Path, *, complete: bool) -> list[str]:
    """Cross-table invariants a resumable knowledge base keeps at every instant (and, once the
    campaign is complete, that nothing is left pending): `KnowledgeBase.resume_errors`."""
    from evolve.knowledge import KnowledgeBase
    from evolve.stages import stage_specs

    kb = KnowledgeBase.existing(kb_path)
    try:
        cfg = kb.get_meta("config")
        specs = stage_specs(cfg["scale"]) if cfg else {}
        seeds = {name: spec.seed_list(int(cfg["seed"])) for name, spec in specs.items()}
        return kb.resume_errors(seeds, list(cfg["domains"]) if cfg else [], complete=complete)
    finally:
        kb.close()


# --------------------------------------------------------------------------------------
# Running the campaign
# --------------------------------------------------------------------------------------
@dataclass
class Setup:
    cycles: int = 2
    seed: int = 0
    domain: str | None = None  # None = the numeric test domain; else a real one (arch, rl, data, all)
    delay_s: float = 0.05  # numeric domain: seconds per evaluation (so kills land mid-evaluation too)
    tracking: bool = False
    batch: int = 1  # numeric domain: >1 = evaluations go in batches of up to this many (executor.batch_size)
    workers: int = 1  # executor.workers of every run (the re-run bound below counts them)
    extra: list[str] = field(default_factory=list)

    def command(self, run_dir: Path, workdir: Path) -> list[str]:
        args = [sys.executable, "-m", "evolve", f"hydra.run.dir={run_dir}", f"campaign.cycles={self.cycles}",
                f"seed={self.seed}", "llm=none", "progress=false", f"executor.workers={self.workers}"]
        if self.tracking:
            args.append(f"tracking.uri=sqlite:///{workdir / 'mlflow.db'}")
        else:
            args.append("tracking.enabled=false")
        if self.domain is None:
            plugin = BATCHING_PLUGIN if self.batch > 1 else NUMERIC_PLUGIN
            args += [f"+domains.numeric.plugin={plugin}", "+domains.numeric.hostile=false", f"executor.batch_size={self.batch}",
                     "+domains.numeric.n_var=5", f"+domains.numeric.delay_s={self.delay_s}",
                     "+domains.numeric.scales={tiny: {}}"]
        else:
            args += [f"+domain={self.domain}", "scale=tiny"]
        return args + list(self.extra)


def _env(log: Path) -> dict[str, str]:
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "EVOLVE_TEST_LOG": str(log), "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


_LIVE: set[subprocess.Popen] = set()  # campaigns started and not yet reaped (killed if the harness stops)


def start(setup: Setup, run_dir: Path, workdir: Path, log: Path) -> subprocess.Popen:
    with open(workdir / f"{run_dir.name}.out", "a") as out:
        proc = subprocess.Popen(setup.command(run_dir, workdir), cwd=ROOT, env=_env(log), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _LIVE.add(proc)
    return proc


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the driver, then anything left in its process group (its workers)."""
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _LIVE.discard(proc)
    time.sleep(0.2)


def run_to_end(setup: Setup, run_dir: Path, workdir: Path, log: Path, timeout_s: float) -> tuple[int, float]:
    t0 = time.monotonic()
    proc = start(setup, run_dir, workdir, log)
    try:
        code = proc.wait(timeout=timeout_s)
        _LIVE.discard(proc)
    except subprocess.TimeoutExpired:
        kill(proc)
        code = -1
    return code, time.monotonic() - t0


# --------------------------------------------------------------------------------------
# One trial
# --------------------------------------------------------------------------------------
def _lines(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def wait_for_kill_moment(proc: subprocess.Popen, rng: random.Random, span_s: float, log: Path | None,
                         n_evals: int, delay_s: float) -> bool:
    """Wait for a random moment to kill `proc`; True if it finished first.

    Half the kills land uniformly in [0, span_s] after the start (start-up, planning, analysis and
    report writing included); the other half just after a random upcoming evaluation starts, plus a
    jitter of up to two evaluation lengths, so that kills also land densely mid-campaign whatever
    the start-up costs on a loaded machine. Without an evaluation log (real domains) all are timed.
    """
    if log is None or rng.random() < 0.5:
        try:
            proc.wait(timeout=rng.uniform(0.0, span_s))
            return True
        except subprocess.TimeoutExpired:
            return False
    done = _lines(log)
    target = done + rng.randint(1, max(1, n_evals - done))
    jitter = rng.uniform(0.0, 2.0 * max(delay_s, 0.01))
    deadline = time.monotonic() + 10.0 * span_s + 60.0
    while _lines(log) < target and time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        time.sleep(0.01)
    try:
        proc.wait(timeout=jitter)
        return True
    except subprocess.TimeoutExpired:
        return False

@dataclass
class TrialResult:
    trial: int
    kills: list[float]  # seconds after start at which each kill landed
    recorded_at_kills: list[int]  # evaluations in the knowledge base at each kill
    evaluations: int
    reruns: int
    errors: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.errors


def trial(index: int, setup: Setup, workdir: Path, rng: random.Random, kills: int, span_s: float,
          reference: dict[EvalKey, tuple[str, float | None]] | None, n_reference: int, workers: int,
          timeout_s: float) -> TrialResult:
    t_start = time.monotonic()
    run_dir = workdir / f"trial-{index:03d}"
    log = workdir / f"trial-{index:03d}.log"
    kb_path = run_dir / "knowledge.db"
    errors: list[str] = []
    snapshots: list[tuple[int, dict]] = []  # (log lines at the kill, evaluations at the kill)
    landed: list[float] = []
    for _ in range(kills):
        proc = start(setup, run_dir, workdir, log)
        t0 = time.monotonic()
        events = log if setup.domain is None else None
        if wait_for_kill_moment(proc, rng, span_s, events, n_reference, setup.delay_s):
            _LIVE.discard(proc)
            break  # it finished before this kill: the rest of the trial is the resume check
        kill(proc)
        landed.append(round(time.monotonic() - t0, 2))
        lines = len(log.read_text().splitlines()) if log.exists() else 0
        snapshot = read_evaluations(kb_path)
        snapshots.append((lines, snapshot))
        if kb_path.exists() and kb_path.stat().st_size:
            errors += [f"after kill {len(landed)}: {e}" for e in invariant_errors(kb_path, complete=False)]
    code, _ = run_to_end(setup, run_dir, workdir, log, timeout_s)
    if code != 0:
        tail = (workdir / f"{run_dir.name}.out").read_text()[-1500:]
        return TrialResult(index, landed, [len(s) for _, s in snapshots], 0, 0,
                           [f"resumed run exited with {code}:\n{tail}"],
                           time.monotonic() - t_start)
    final = read_evaluations(kb_path)
    for k, (lines, snap) in enumerate(snapshots, 1):
        lost = [key for key in snap if key not in final]
        changed = [key for key in snap if key in final and final[key] != snap[key]]
        if lost:
            errors.append(f"kill {k}: {len(lost)} recorded evaluations lost, e.g. {lost[0]}")
        if changed:
            errors.append(f"kill {k}: {len(changed)} recorded evaluations changed, e.g. {changed[0]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    if not summary.get("complete"):
        errors.append(f"summary says the campaign is incomplete: cycles_done={summary.get('cycles_done')}")
    errors += invariant_errors(kb_path, complete=True)
    reruns = 0
    if setup.domain is None:
        ran = log.read_text().splitlines() if log.exists() else []
        as_line = log_keys(kb_path, set(final))
        counts = Counter(ran)
        reruns = sum(n - 1 for n in counts.values())
        # a kill can lose, per worker, the task it runs and one result the driver had read but not yet
        # committed (the executor hands the worker its next task before yielding that result); a killed
        # batch re-runs all its members
        if reruns > len(landed) * 2 * workers * setup.batch:
            errors.append(f"{reruns} evaluations ran more than once, but only {len(landed)} kills x 2 x {workers} "
                          f"worker(s) x {setup.batch} per batch were in flight or uncommitted")
        for k, (lines, snap) in enumerate(snapshots, 1):
            again = {as_line[key] for key in snap if key in as_line} & set(ran[lines:])
            if again:
                errors.append(f"kill {k}: {len(again)} evaluations recorded before the kill ran again, "
                              f"e.g. {sorted(again)[0]}")
        missing = set(as_line.values()) - set(ran)
        if missing:
            errors.append(f"{len(missing)} recorded evaluations never ran, e.g. {sorted(missing)[0]}")
    if reference is not None and final != reference:
        only_ref = sorted(set(reference) - set(final))[:1]
        only_here = sorted(set(final) - set(reference))[:1]
        diff = [k for k in final if k in reference and final[k] != reference[k]][:1]
        errors.append(f"evaluations differ from the uninterrupted run ({len(final)} vs {len(reference)}): "
                      f"missing {only_ref}, extra {only_here}, different {diff}")
    return TrialResult(index, landed, [len(s) for _, s in snapshots], len(final), reruns, errors,
                       time.monotonic() - t_start)


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------
def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the trials; campaigns still running when the harness stops (Ctrl-C, SIGTERM) are killed."""
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return _main(argv)
    finally:
        for proc in list(_LIVE):
            kill(proc)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(description="SIGKILL a tiny campaign at random moments, resume, check the KB.")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--kills", type=int, default=2, help="SIGKILLs per trial before the final resume")
    p.add_argument("--cycles", type=int, default=2, help="campaign.cycles of the tiny campaign")
    p.add_argument("--seed", type=int, default=0, help="seeds the kill moments (and the campaign)")
    p.add_argument("--domain", default=None, help="a real domain (arch, rl, data, all) instead of the numeric one")
    p.add_argument("--delay", type=float, default=0.05, help="numeric domain: seconds per evaluation")
    p.add_argument("--tracking", action="store_true", help="also write MLflow (slower starts)")
    p.add_argument("--batch", type=int, default=1, help="numeric domain: evaluate in batches of up to N (evaluate_batch)")
    p.add_argument("--workers", type=int, default=1, help="executor.workers of every run")
    p.add_argument("--workdir", default=None, help="where run directories go (default: a temp dir, removed on success)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take before it counts as hung")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = p.parse_args(argv)
    if args.trials < 1 or args.kills < 1:
        p.error("--trials and --kills must be >= 1")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="evolve-crashtest-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    setup = Setup(cycles=args.cycles, seed=args.seed, domain=args.domain, delay_s=args.delay,
                  tracking=args.tracking, batch=args.batch, workers=args.workers, extra=args.overrides)
    workers = next((int(o.split("=", 1)[1]) for o in args.overrides if o.startswith("executor.workers=")),
                   args.workers)
    print(f"crashtest: {args.trials} trials x {args.kills} kills, {args.cycles}-cycle campaign on "
          f"{args.domain or 'the numeric test domain'}, work dir {workdir}", flush=True)
    code, ref_s = run_to_end(setup, workdir / "reference", workdir, workdir / "reference.log", args.timeout)
    if code != 0:
        print(f"the uninterrupted reference run failed (exit {code}); see {workdir / 'reference.out'}")
        return 2
    ref_evals = read_evaluations(workdir / "reference" / "knowledge.db")
    reference = ref_evals if args.domain is None else None
    print(f"reference run: {len(ref_evals)} evaluations in {ref_s:.1f} s; each kill lands uniformly in "
          f"[0, {ref_s:.1f}] s after a start, or just after a random evaluation starts", flush=True)
    rng = random.Random(args.seed)
    results = []
    for i in range(args.trials):
        r = trial(i, setup, workdir, rng, args.kills, ref_s, reference, len(ref_evals), workers, args.timeout)
        results.append(r)
        verdict = "ok" if r.ok else "FAILED"
        print(f"trial {i:3d}: {verdict:6s} kills at {r.kills} s with {r.recorded_at_kills} evaluations recorded, "
              f"{r.evaluations} at the end, "
              f"{r.reruns} in-flight re-runs, {r.seconds:.1f} s", flush=True)
        for e in r.errors:
            print(f"    {e}", flush=True)
    failed = [r for r in results if not r.ok]
    kills = sum(len(r.kills) for r in results)
    print(f"crashtest: {len(results) - len(failed)}/{len(results)} trials passed, {kills} kills landed, "
          f"{sum(r.reruns for r in results)} in-flight evaluations re-run", flush=True)
    if not failed and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
