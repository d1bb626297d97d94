"""How far is a withheld design from its task's start set, in the domain's own operator steps?

Two numbers per withheld design (`python -m evolve.ablation reach --task rl`):

- **tree edit distance** (Zhang-Shasha, `zss`) between the genome's canonical JSON tree and the nearest
  start design: node insertions, deletions and relabels. Numbers within `rtol` (relative) count as equal,
  others cost their relative difference (at most 1), so "0.8 vs 0.81" is not a structural edit;
- **operator steps**: a beam search that applies only the domain's `mutate` (one application = one step,
  statically invalid offspring dropped), keeping the `beam` offspring nearest to the target by that tree
  distance. Reaching distance 0 proves the design is reachable by the operators and gives an upper bound
  on the minimal number of mutations; a search that stalls reports the nearest distance it got to.

Both are over the genome tree the operators act on, so they say how many variation events separate the
start set from the target, not how likely the search is to make them (that is what the benchmark measures).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import zss

RTOL = 0.1  # numbers this close (relative) are the same design for the distance


class _Tree:
    """A JSON value as an ordered labelled tree: objects -> key nodes -> values, arrays -> items."""

    __slots__ = ("label", "children")

    def __init__(self, label: Any, children: list["_Tree"] | None = None) -> None:
        self.label, self.children = label, children or []


def to_tree(value: Any) -> _Tree:
    if isinstance(value, Mapping):
        return _Tree("{}", [_Tree(f"key:{k}", [to_tree(v)]) for k, v in sorted(value.items())])
    if isinstance(value, (list, tuple)):
        return _Tree("[]", [to_tree(v) for v in value])
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return _Tree(f"sym:{value!r}")
    return _Tree(float(value))


def _relabel(a: Any, b: Any, rtol: float) -> float:
    if isinstance(a, float) and isinstance(b, float):
        rel = abs(a - b) / max(abs(a), abs(b), 1e-12)
        return 0.0 if rel <= rtol else min(1.0, rel)
    return 0.0 if a == b else 1.0


def distance(a_json: Any, b_json: Any, rtol: float = RTOL) -> float:
    """Tree edit distance between two genomes' JSON forms (insert/delete 1, relabel as above)."""
    return float(zss.distance(to_tree(a_json), to_tree(b_json), lambda n: n.children,
                              insert_cost=lambda n: 1.0, remove_cost=lambda n: 1.0,
                              update_cost=lambda x, y: _relabel(x.label, y.label, rtol)))


def operator_steps(domain: Any, starts: Mapping[str, Any], target: Any, *, beam: int = 4, children: int = 24,
                   max_steps: int = 12, seed: int = 0, rtol: float = RTOL) -> dict[str, Any]:
    """Beam search from the start designs to `target` using only `domain.mutate`."""
    rng = np.random.default_rng(seed)
    goal = domain.to_json(target)
    frontier = [(distance(domain.to_json(g), goal, rtol), name, g) for name, g in starts.items()]
    frontier.sort(key=lambda x: x[0])
    start_dist, nearest = frontier[0][0], frontier[0][1]
    best = start_dist
    if start_dist == 0:
        return {"nearest_start": nearest, "tree_distance": 0.0, "steps": 0, "closest": 0.0}
    for step in range(1, max_steps + 1):
        seen: dict[str, tuple[float, str, Any]] = {}
        for _, origin, g in frontier:
            for _ in range(children):
                child = domain.mutate(g, rng)
                if not domain.check(child).ok:
                    continue
                js = domain.to_json(child)
                key = repr(js)
                if key not in seen:
                    seen[key] = (distance(js, goal, rtol), origin, child)
        if not seen:
            break
        frontier = sorted(seen.values(), key=lambda x: x[0])[:beam]
        best = min(best, frontier[0][0])
        if frontier[0][0] == 0:
            return {"nearest_start": nearest, "tree_distance": start_dist, "steps": step, "closest": 0.0,
                    "from": frontier[0][1]}
    return {"nearest_start": nearest, "tree_distance": start_dist, "steps": None, "closest": best,
            "max_steps": max_steps}


def task_domain_instance(task: str, scale: str = "tiny") -> Any:
    """The task's domain as its campaigns see it (start set applied), built from the composed config."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from evolve.ablation.rediscover import task_domain
    from evolve.config import CONF_DIR
    from evolve.plugins import build_domain, domain_config
    from evolve.start_set import apply

    name = task_domain(task)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config", overrides=[
            f"+domain={name}", f"+rediscover={task}", f"scale={scale}"]), resolve=True)
    dom = build_domain(name, domain_config(cfg["domains"][name], cfg["scale"]["name"], cfg["scale"]["device"]))
    return apply(name, dom, (cfg["campaign"].get("start_set") or {}).get(name)), cfg["rediscover"]


def task_distances(task: str, scale: str = "tiny", **search: Any) -> dict[str, Any]:
    dom, spec = task_domain_instance(task, scale)
    starts = dom.baselines()
    out = {"task": task, "domain": dom.name, "start_set": sorted(starts), "rtol": RTOL, "search": search,
           "targets": list(spec["targets"]), "withheld": {}}
    for name, genome in dom.withheld.items():
        out["withheld"][name] = {**operator_steps(dom, starts, genome, **search), "text": dom.to_text(genome)}
    return out


def markdown(data: Mapping[str, Any]) -> str:
    L = [f"Task `{data['task']}` (domain {data['domain']}), start set {', '.join(data['start_set'])}; "
         f"numbers within {data['rtol']:.0%} count as equal; beam search {data['search']}.", "",
         "| withheld | target | nearest start | tree edit distance | operator steps found | closest reached |",
         "|---|---|---|---:|---:|---:|"]
    for name, w in data["withheld"].items():
        steps = w["steps"] if w["steps"] is not None else f"not within {w.get('max_steps')}"
        L.append(f"| {name} | {'yes' if name in data['targets'] else ''} | {w['nearest_start']} | "
                 f"{w['tree_distance']:.3g} | {steps} | {w['closest']:.3g} |")
    return "\n".join(L)
