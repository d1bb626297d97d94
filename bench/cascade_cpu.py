"""CPU seconds one worker spends on one architecture through the cascade: isolated (seed 0), then full (seeds 0
and 1), from an empty compile cache, as a campaign's worker would (docs/BENCHMARKS.md, "Campaign throughput").
CPU seconds (all threads) are far less inflated by a loaded machine than wall time. Measures the checkout in
the current directory, so an older one too:  cd /tmp/before && PYTHONPATH=$PWD python <this>/bench/cascade_cpu.py gla"""
import sys, os, time, tempfile, json
import jax
from jax import monitoring
jax.config.update('jax_compilation_cache_dir', tempfile.mkdtemp(prefix='ws-jax-'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)
sys.path.insert(0, os.getcwd()); sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib
T = {"compile": 0.0, "hits": 0, "req": 0}
def on_d(ev, s, **k):
    if ev in ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration"): T["compile"] += s
def on_e(ev, **k):
    if ev == "/jax/compilation_cache/cache_hits": T["hits"] += 1
    if ev == "/jax/compilation_cache/compile_requests_use_cache": T["req"] += 1
monitoring.register_event_duration_secs_listener(on_d); monitoring.register_event_listener(on_e)
from domains.arch import ArchDomain
from domains.base import Budget
dom = ArchDomain(benchlib.domain_config('arch', 'tiny'))
name = sys.argv[1]
g = dom.baselines()[name]
tot = {"wall": 0.0, "cpu": 0.0}
for stage, frac, seed in (("isolated", 0.15, 0), ("full", 1.0, 0), ("full", 1.0, 1)):
    T.update(compile=0.0, hits=0, req=0)
    w, c = time.perf_counter(), time.process_time()
    m = dom.evaluate({"arch": g}, Budget(stage, frac, seed=seed), {})
    w, c = time.perf_counter() - w, time.process_time() - c
    tot["wall"] += w; tot["cpu"] += c
    print(json.dumps({"repo": os.path.basename(os.getcwd()), "genome": name, "stage": stage, "seed": seed, "wall": round(w, 1),
                      "cpu": round(c, 1), "compile_wall": round(T["compile"], 1), "train": round(m.cost["seconds"], 1),
                      "hits": T["hits"], "requests": T["req"], "score": round(m.score, 5)}), flush=True)
print(json.dumps({"repo": os.path.basename(os.getcwd()), "genome": name, "total_wall": round(tot["wall"], 1), "total_cpu": round(tot["cpu"], 1)}), flush=True)
