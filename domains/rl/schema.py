"""The JSON schema of the RL genome's JSON form: the structured-output constraint for an LLM.

The objective is a typed tree in JSON as nested arrays (`["clip", "ratio", 0.8, 1.2]`). It is unrolled
to the depth bound as `$defs/rl_real_<d>` (real-valued, depth <= d) and `rl_bool_<d>` (a comparison),
each level referring only to the level below: bounded depth, never recursive. The types are in the
schema (a comparison can only be `where`'s condition), and so is "a gradient must reach the policy"
(`rl_pg_<d>`: a policy input reached through no `sg` and no condition), so a decoded objective is
well-typed and trainable; its size limit is left to `check`, which says why it refuses.
"""
from __future__ import annotations

from typing import Any

from domains.base import number_in, strict_object, tuple_array
from domains.rl import genome as G
from domains.rl.ops import INPUT_NAMES, OPS, POLICY_INPUTS, R

CONST_BOUND = 1e4  # constants in the schema; unbounded digits would let a decoder write 1e999 (inf)


def _ref(kind: str, depth: int) -> dict[str, str]:
    return {"$ref": f"#/$defs/rl_{kind}_{depth}"}


def _ops(args: tuple[str, ...], ret: str) -> list[str]:
    return [name for name, op in OPS.items() if op.args == args and op.ret == ret]


def objective_defs(depth: int) -> dict[str, Any]:
    """rl_real_<d> (any real tree of depth <= d), rl_bool_<d> (a comparison) and rl_pg_<d> (a real tree
    through which the policy's log-prob reaches the output: what `check` demands of an objective)."""
    leaves = [number_in(-CONST_BOUND, CONST_BOUND), {"enum": list(INPUT_NAMES)}]
    defs: dict[str, Any] = {"rl_real_1": {"anyOf": leaves}, "rl_pg_1": {"enum": sorted(POLICY_INPUTS)}}
    signatures = sorted({(op.args, op.ret) for op in OPS.values()})
    for d in range(2, depth + 1):
        real, boolean, pg = [], [], [defs["rl_pg_1"]]
        for args, ret in signatures:
            if "B" in args and d == 2:
                continue  # a comparison needs depth 2, so `where` (which takes one) needs depth 3
            names = _ops(args, ret)
            slots = [_ref("real" if a == R else "bool", d - 1) for a in args]
            (real if ret == R else boolean).append(tuple_array(_head(names), *slots))
            if ret != R:
                continue
            through = [n for n in names if n != "sg"]  # sg stops the gradient
            carriers = [i for i, a in enumerate(args) if a == R]  # where's condition never carries it
            for i in carriers if through else []:
                pg.append(tuple_array(_head(through), *(_ref("pg", d - 1) if j == i else s
                                                        for j, s in enumerate(slots))))
        defs[f"rl_real_{d}"] = {"anyOf": [*leaves, *real]}
        defs[f"rl_bool_{d}"] = {"anyOf": boolean}
        defs[f"rl_pg_{d}"] = {"anyOf": pg}
    return defs


def _head(names: list[str]) -> dict[str, Any]:
    return {"enum": names} if len(names) > 1 else {"const": names[0]}


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
            **strict_object({"objective": _ref("pg", max_depth), **genes})}
