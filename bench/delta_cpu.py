"""Delta-rule mixers on CPU (docs/BENCHMARKS.md, "Delta-rule mixers on CPU"): where a delta-rule block's time goes
in its two uses at scale=tiny, against the Transformer block.

  micro     jitted forward+backward of the genome's block stack at the arch LM's tiny shapes (B 16, T 128, d 64,
            2 layers) and the RL memory torso's (T = window 8, d 16, 1 layer; B 512 = one minibatch of the 4
            vmapped seeds' training, and B 64 forward only = one rollout step): ms per call, CPU (all threads)
            and wall.
  evaluate  the domains' own evaluate, full stage, seed 0, from an empty compile cache: ArchDomain (LM + MQAR)
            and RLDomain on MemoryChain only (the env whose agent has the memory torso) with the genome as the
            arch partner: training seconds (the domain's cost.seconds), compile seconds, CPU seconds, score.

Measures the checkout in the current directory, so an older one too:
  cd /tmp/before && PYTHONPATH=$PWD python <this>/bench/delta_cpu.py micro evolved,transformer"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import jax

jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="delta-jax-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

_MLP = "rms > mlp(expansion=4.0, activation=gelu(x)) | tied=true"
GENOMES = {  # the evolved hybrid of issue 17's make run, and the arch domain's baselines it is compared with
    "evolved": "rms > par(delta(heads=4, feature_map=silu(x), decay=sub(x, 4.0)), delta(heads=8, "
               f"feature_map=neg(mul(relu(x), -1.0)), decay=sub(x, 2.0))) ; {_MLP}",
    "deltanet": f"rms > delta(heads=4, feature_map=silu(x), decay=none) ; {_MLP}",
    "gated_deltanet": f"rms > delta(heads=4, feature_map=silu(x), decay=sub(x, 4.0)) ; {_MLP}",
    "transformer": f"rms > attn(heads=4, window=none, rope=true) ; {_MLP}",
}
SHAPES = {"lm": dict(d=64, layers=2, B=16, T=128, grad=True, reps=20),
          "rl_train": dict(d=16, layers=1, B=512, T=8, grad=True, reps=200),
          "rl_act": dict(d=16, layers=1, B=64, T=8, grad=False, reps=500)}
MEMORY_ENV = "MemoryChain-bsuite:memory_length=7,num_bits=3"


def micro(name: str, shape: str) -> dict:
    from flax import nnx

    from domains.arch import compile as comp, text

    c = SHAPES[shape]
    m = comp.stack_fn(text.parse(GENOMES[name]), comp.Width(c["d"], c["layers"], "float32", 16))(nnx.Rngs(0))
    graph, state = nnx.split(m)
    x = jax.random.normal(jax.random.key(1), (c["B"], c["T"], c["d"]))
    loss = lambda st, x: (nnx.merge(graph, st)(x) ** 2).mean()  # noqa: E731
    f = jax.jit(jax.grad(loss) if c["grad"] else loss)
    t0 = time.perf_counter()
    jax.block_until_ready(f(state, x))
    first = time.perf_counter() - t0
    w, cpu = time.perf_counter(), time.process_time()
    for _ in range(c["reps"]):
        out = f(state, x)
    jax.block_until_ready(out)
    w, cpu = time.perf_counter() - w, time.process_time() - cpu
    return dict(genome=name, shape=shape, ms_cpu=round(1e3 * cpu / c["reps"], 2), ms_wall=round(1e3 * w / c["reps"], 2),
                first_call_s=round(first, 2))


def evaluate(name: str, domain: str, stage: str = "full", seed: int = 0) -> dict:
    from domains.arch import ArchDomain
    from domains.base import Budget

    arch = ArchDomain(benchlib.domain_config("arch", "tiny"))
    g = arch.parse(GENOMES[name])
    frac = {"isolated": 0.15, "cross": 0.4, "full": 1.0}[stage]
    w, cpu = time.perf_counter(), time.process_time()
    if domain == "arch":
        m = arch.evaluate({"arch": g}, Budget(stage, frac, seed=seed), {})
    else:
        from domains.rl import RLDomain

        cfg = benchlib.domain_config("rl", "tiny")
        cfg["envs"] = [MEMORY_ENV]
        rl = RLDomain(cfg)
        m = rl.evaluate({"rl": rl.baselines()[rl.reference], "arch": g}, Budget(stage, frac, seed=seed),
                        {"arch": arch})
    w, cpu = time.perf_counter() - w, time.process_time() - cpu
    return dict(genome=name, domain=domain, stage=stage, seed=seed, wall_s=round(w, 1), cpu_s=round(cpu, 1),
                train_s=round(m.cost["seconds"], 1), compile_s=round(m.details.get("compile_seconds", float("nan")), 1),
                score=round(m.score, 6))


if __name__ == "__main__":
    mode = sys.argv[1]
    names = sys.argv[2].split(",") if len(sys.argv) > 2 else ["evolved", "transformer"]
    repo = os.path.basename(os.getcwd())
    print(json.dumps({"machine": benchlib.jax_machine()}), flush=True)
    for n in names:
        if mode == "micro":
            for shape in SHAPES:
                print(json.dumps({"repo": repo, **micro(n, shape)}), flush=True)
        else:  # evaluate DOMAINS [STAGE]: e.g. evaluate evolved arch,rl full
            domains = sys.argv[3].split(",") if len(sys.argv) > 3 else ["arch", "rl"]
            for d in domains:
                print(json.dumps({"repo": repo, **evaluate(n, d, *sys.argv[4:5])}), flush=True)
