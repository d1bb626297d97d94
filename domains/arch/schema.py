"""The JSON schema of the architecture genome's JSON form: the structured-output constraint for an LLM.

Expressions are trees, so they are unrolled to the depth bound: `$defs/arch_expr_1` holds the leaves
and `arch_expr_<d>` refers only to `arch_expr_<d-1>` — bounded depth and never recursive, so a decoder
always closes the object. What a schema cannot say (expression size, "uses x", the parameter budget,
"at least one token mixer") is left to `from_json` and `check`, which reject it with a reason.
"""
from __future__ import annotations

from typing import Any

from domains.arch import expr as ex
from domains.arch.genome import EXPANSIONS, HEADS, KERNELS, NORMS, WINDOWS, Bounds
from domains.base import strict_object


def _ref(depth: int) -> dict[str, str]:
    return {"$ref": f"#/$defs/arch_expr_{depth}"}


def expr_defs(depth: int) -> dict[str, Any]:
    """arch_expr_1 .. arch_expr_<depth>: expressions of depth at most d."""
    leaves = [strict_object({"type": {"const": "var"}}),
              strict_object({"type": {"const": "const"}, "value": {"enum": list(ex.CONSTANTS)}})]
    defs: dict[str, Any] = {"arch_expr_1": {"anyOf": leaves}}
    for d in range(2, depth + 1):
        defs[f"arch_expr_{d}"] = {"anyOf": [
            *leaves,
            strict_object({"type": {"const": "unary"}, "op": {"enum": list(ex.UNARY_OPS)}, "arg": _ref(d - 1)}),
            strict_object({"type": {"const": "binary"}, "op": {"enum": list(ex.BINARY_OPS)},
                           "left": _ref(d - 1), "right": _ref(d - 1)}),
        ]}
    return defs


def _token_mixers(e: dict[str, Any]) -> list[dict[str, Any]]:
    heads = {"enum": list(HEADS)}
    return [
        strict_object({"type": {"const": "attn"}, "heads": heads, "window": {"enum": [None, *WINDOWS]},
                       "rope": {"type": "boolean"}}),
        strict_object({"type": {"const": "linattn"}, "heads": heads, "feature_map": e}),
        strict_object({"type": {"const": "gla"}, "heads": heads, "feature_map": e, "decay": e}),
        strict_object({"type": {"const": "delta"}, "heads": heads, "feature_map": e,
                       "decay": {"anyOf": [{"type": "null"}, e]}}),
        strict_object({"type": {"const": "conv"}, "kernel": {"enum": list(KERNELS)}}),
    ]


def json_schema(bounds: Bounds) -> dict[str, Any]:
    e = _ref(bounds.expr_depth)
    leaf_tokens = _token_mixers(e)
    par = strict_object({"type": {"const": "par"},
                         "branches": {"type": "array", "items": {"anyOf": leaf_tokens}, "minItems": 2,
                                      "maxItems": bounds.max_branches}})
    channel = [strict_object({"type": {"const": tag}, "expansion": {"enum": list(EXPANSIONS)}, "activation": e})
               for tag in ("mlp", "glu")]
    sublayer = strict_object({"type": {"const": "sublayer"}, "norm": {"enum": list(NORMS)},
                              "mixer": {"anyOf": [*leaf_tokens, par, *channel]},
                              "gate": {"anyOf": [{"type": "null"}, e]}})
    return {"$defs": expr_defs(bounds.expr_depth),
            **strict_object({"type": {"const": "arch"}, "layers": {"type": "array", "items": sublayer,
                                                                   "minItems": 1, "maxItems": bounds.max_sublayers},
                             "tied": {"type": "boolean"}})}
