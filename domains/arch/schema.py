"""The JSON schema of the architecture genome's JSON form: the structured-output constraint for an LLM.

Expressions are trees, so they are unrolled to the depth bound: `$defs/arch_expr_1` holds the leaves
and `arch_expr_<d>` refers only to level d-1 — bounded depth and never recursive, so a decoder always
closes the object. What a schema cannot say (expression size, the parameter budget,
"at least one token mixer") is left to `from_json` and `check`, which reject it with a reason.
"""
from __future__ import annotations

from typing import Any

from domains.arch import expr as ex
from domains.arch.genome import EXPANSIONS, HEADS, KERNELS, NORMS, WINDOWS, Bounds
from domains.base import strict_object


def _ref(depth: int, uses_x: bool = True) -> dict[str, str]:
    return {"$ref": f"#/$defs/arch_{'xexpr' if uses_x else 'expr'}_{depth}"}


def expr_defs(depth: int) -> dict[str, Any]:
    """arch_expr_<d>: any expression of depth <= d; arch_xexpr_<d>: one that uses x (what a field needs).

    An expression uses x when it is x, or when one of its arguments does; unrolling that rule level by
    level keeps constant-only trees (which `check` refuses) out of the schema.
    """
    var = strict_object({"type": {"const": "var"}})
    const = strict_object({"type": {"const": "const"}, "value": {"enum": list(ex.CONSTANTS)}})
    defs: dict[str, Any] = {"arch_expr_1": {"anyOf": [var, const]}, "arch_xexpr_1": var}
    for d in range(2, depth + 1):
        def unary(arg: dict) -> dict:
            return strict_object({"type": {"const": "unary"}, "op": {"enum": list(ex.UNARY_OPS)}, "arg": arg})

        def binary(left: dict, right: dict) -> dict:
            return strict_object({"type": {"const": "binary"}, "op": {"enum": list(ex.BINARY_OPS)},
                                  "left": left, "right": right})

        x, e = _ref(d - 1), _ref(d - 1, uses_x=False)
        defs[f"arch_expr_{d}"] = {"anyOf": [var, const, unary(e), binary(e, e)]}
        defs[f"arch_xexpr_{d}"] = {"anyOf": [var, unary(x), binary(x, e), binary(e, x)]}
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
