"""Benchmark the PPO proxy: env steps per second for one agent and for many vmapped agents.

    python bench/bench_ppo.py [--scale tiny|small] [--agents 1,64] [--envs CartPole-v1,...] [--write]

Each row trains PPO-clip (the domain's baseline genome, objective interpreted from data) with the
scale's rollout shape for the env's full-stage budget, `agents` seeds vmapped in one jitted
call, and reports compile seconds, run seconds and env steps per second (all agents together,
gradient updates included). Defaults: 1 and 64 agents on CPU, 1 and 256 on a GPU. Prints a
markdown table; with `--write` appends it, with the command, machine and date, to
docs/BENCHMARKS.md. Run it on an otherwise idle machine: the numbers are wall times.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import domains  # noqa: E402,F401  (XLA flags before JAX starts)






def run(scale: str, agents: list[int], envs: list[str] | None) -> str:
    import jax
    import jax.numpy as jnp

    from domains.rl import RLDomain
    from domains.rl import evaluate as ev
    from domains.rl.program import encode, run_program
    from proxies.envs import make_env
    from proxies.ppo import make_train

    cfg = {**benchlib.domain_config("rl", scale), "compile_cache": False}
    if envs:
        cfg["envs"] = envs
    dom = RLDomain(cfg)
    ppo = dom.baselines()["ppo_clip"]
    algo = ev.algo_of(ppo, encode(ppo.objective, dom.settings.max_nodes))
    rows = []
    for env in dom.settings.envs:
        spec = make_env(env)[2]
        pcfg = ev.ppo_config(dom.settings, env, spec)
        _, net_fn = ev.network(dom.settings, spec, {}, {})
        torso = "memory" if ev.uses_memory(dom.settings, spec) else "mlp"
        for n in agents:
            train = make_train(pcfg, run_program, net_fn, env)
            keys = ev.seed_keys(0, n)
            t0 = time.perf_counter()
            exe = jax.jit(jax.vmap(train, in_axes=(0, None))).lower(keys, algo).compile()
            compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = jax.block_until_ready(exe(keys, algo))
            run_s = time.perf_counter() - t0
            steps = n * pcfg.env_steps
            ret = float(jnp.mean(out["metrics"]["eval_return"]))
            rows.append(f"| {env} | {torso} | {n} | {pcfg.env_steps:,} | {compile_s:.1f} | {run_s:.2f} "
                        f"| {steps / run_s:,.0f} | {ret:.1f} |")
            print(rows[-1], flush=True)
    s = dom.settings
    head = (f"PPO proxy `{scale}`: {s.num_envs} envs x {s.num_steps} steps per update, 4 epochs x 4 minibatches "
            f"(PPO-clip), memory torso window {s.window}, d_model {s.d_model}\n\n"
            "| env | torso | agents | env steps / agent | compile s | run s | env steps/s (all agents) | mean return |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|")
    return head + "\n" + "\n".join(rows)


def main(argv: list[str]) -> int:
    import jax

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="tiny", choices=["tiny", "small"])
    p.add_argument("--agents", default=None, help="comma-separated agent counts (default 1,64 on CPU, 1,256 on GPU)")
    p.add_argument("--envs", default=None, help="comma-separated env names (default: the scale's envs)")
    p.add_argument("--write", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = p.parse_args(argv)
    gpu = jax.devices()[0].platform != "cpu"
    agents = [int(a) for a in (args.agents or ("1,256" if gpu else "1,64")).split(",")]
    table = run(args.scale, agents, args.envs.split(",") if args.envs else None)
    print("\n" + table)
    if args.write:
        benchlib.append_section(f"PPO proxy ({args.scale})", "bench_ppo.py", argv, benchlib.jax_machine(), table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
