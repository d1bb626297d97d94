"""The JSON schema of the RL genome's JSON form: the structured-output constraint for an LLM.

The objective is a typed tree in JSON as nested arrays (`["clip", "ratio", 0.8, 1.2]`). It is unrolled
to the depth bound as `$defs/rl_real_<d>` (real-valued, depth <= d) and `rl_bool_<d>` (a comparison),
each level referring only to the level below: bounded depth, never recursive. The types are in the
schema (a comparison can only be `where`'s condition), so a decoded objective is well-typed; its size
limit and "a gradient must reach the policy" are left to `check`, which says why it refuses.
"""
from __future__ import annotations

from typing import Any

from domains.base import number_in, strict_object, tuple_array
from domains.rl import genome as G
from domains.rl.ops import INPUT_NAMES, OPS, B, R


def _ref(kind: str, depth: int) -> dict[str, str]:
    return {"$ref": f"#/$defs/rl_{kind}_{depth}"}


def _ops(args: tuple[str, ...], ret: str) -> list[str]:
    return [name for name, op in OPS.items() if op.args == args and op.ret == ret]


def objective_defs(depth: int) -> dict[str, Any]:
    """rl_real_1 .. rl_real_<depth> and rl_bool_2 .. rl_bool_<depth>."""
    leaves = [{"type": "number"}, {"enum": list(INPUT_NAMES)}]
    defs: dict[str, Any] = {"rl_real_1": {"anyOf": leaves}}
    signatures = sorted({(op.args, op.ret) for op in OPS.values()})
    for d in range(2, depth + 1):
        real, boolean = [], []
        for args, ret in signatures:
            names = _ops(args, ret)
            head = {"enum": names} if len(names) > 1 else {"const": names[0]}
            node = tuple_array(head, *(_ref("real" if a == R else "bool", d - 1) for a in args))
            (real if ret == R else boolean).append(node)
        if d == 2:  # a comparison needs depth 2, so `where` (which takes one) needs depth 3
            real = [n for n in real if _ref("bool", 1) not in n["prefixItems"]]
        defs[f"rl_real_{d}"] = {"anyOf": [*leaves, *real]}
        defs[f"rl_bool_{d}"] = {"anyOf": boolean}
    return defs


def json_schema(max_depth: int) -> dict[str, Any]:
    lo_lr, hi_lr = G.RANGES["lr"]
    genes = {
        "gae_lambda": number_in(*G.RANGES["gae_lambda"]),
        "adv_norm": {"enum": list(G.ADV_NORMS)},
        "value_loss": {"enum": list(G.VALUE_LOSSES)},
        "vf_coef": number_in(*G.RANGES["vf_coef"]),
        "ent_coef": number_in(*G.RANGES["ent_coef"]),
        "epochs": number_in(*G.RANGES["epochs"], integer=True),
        "minibatches": {"enum": list(G.MINIBATCHES)},
        "lr": number_in(lo_lr, hi_lr),
    }
    assert set(genes) == set(G.GENE_NAMES)
    return {"$defs": objective_defs(max_depth),
            **strict_object({"objective": _ref("real", max_depth), **genes})}
