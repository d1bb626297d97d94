"""Where batched rl loses on CPU: 8 trainings of PPO-clip's structure (lr varied), CartPole at tiny settings (29 updates),
run alone one after another, vmapped with the program structure batched (what `evaluate_batch` does: the opcode
is batched, so `lax.switch` in the interpreter becomes a select over all operators), and vmapped with the
structure shared (`in_axes=None` for op/a/b/c/root, only constants and genes batched). Prints compile and run
seconds and each item's final return.

    python bench/bench_rl_batch_structure.py
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import domains  # noqa: E402,F401  (XLA flags before JAX starts)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from domains.rl import genome as G, evaluate as ev
from domains.rl.program import encode, run_program, Program
from proxies.ppo import PPOConfig, make_train, Algo
from proxies.ppo_nets import mlp_network
B = 8
cfg = PPOConfig(num_envs=16, num_steps=32, total_timesteps=16*32*29, num_minibatches=4, eval_envs=32)
train = make_train(cfg, run_program, mlp_network(4, 2, 64), "CartPole-v1")
base = G.baselines()["ppo_clip"]
gs = [G.make(base.objective, **{**{k: getattr(base, k) for k in G.GENE_NAMES}, "lr": 1e-3 * (i + 1)}) for i in range(B)]
algos = [ev.algo_of(g, encode(g.objective, 32)) for g in gs]
keys = ev.seed_keys(0, 4)
st = jax.tree.map(lambda *x: jnp.stack(x), *algos)
K = jnp.stack([keys] * B)
seeds = jax.vmap(train, in_axes=(0, None, None))
prog_axes = Program(op=None, a=None, b=None, c=None, value=0, root=None)
shared_axes = Algo(objective=prog_axes, lr=0, gae_lambda=0, vf_coef=0, ent_coef=0, epochs=0, minibatches=0, adv_norm=0, value_loss=0)
st_shared = st._replace(objective=Program(op=algos[0].objective.op, a=algos[0].objective.a, b=algos[0].objective.b, c=algos[0].objective.c, value=st.objective.value, root=algos[0].objective.root))
for name, fn, args in [("alone", jax.jit(seeds), None),
                       ("batched-structure", jax.jit(jax.vmap(seeds, in_axes=(0, 0, None))), (K, st)),
                       ("shared-structure", jax.jit(jax.vmap(seeds, in_axes=(0, shared_axes, None))), (K, st_shared))]:
    t = time.time()
    if args is None:
        exe = fn.lower(keys, algos[0], jnp.int32(1)).compile()
    else:
        exe = fn.lower(*args, jnp.int32(1)).compile()
    c = time.time() - t
    t = time.time()
    if args is None:
        outs = [jax.block_until_ready(exe(keys, a, jnp.int32(29))) for a in algos]
        r = [float(o["metrics"]["eval_return"].mean()) for o in outs]
    else:
        o = jax.block_until_ready(exe(*args, jnp.int32(29)))
        r = [float(x) for x in np.asarray(o["metrics"]["eval_return"]).mean(1)]
    print(name, "compile", round(c, 1), "run", round(time.time() - t, 2), [round(x, 1) for x in r], flush=True)
