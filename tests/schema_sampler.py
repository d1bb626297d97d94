"""Test-only: random instances of a JSON schema (the subset the domains' schemas use).

hypothesis-jsonschema stops at draft 7 (no `prefixItems`, which the RL objective needs), so this small
sampler draws what a grammar-constrained decoder could emit: every instance satisfies the schema.
"""
from __future__ import annotations

from typing import Any

import numpy as np

WORDS = ("a", "deeper", "gate", "x", "0", "{", "\"", "\\n", "é", "  ")


def sample(schema: dict[str, Any], rng: np.random.Generator, root: dict[str, Any] | None = None) -> Any:
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return sample(root["$defs"][name], rng, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][int(rng.integers(len(schema["enum"])))]
    if "anyOf" in schema:  # half the time the option with the fewest references, so trees stay small
        options = schema["anyOf"]
        if rng.random() < 0.5:
            fewest = min(_refs(o) for o in options)
            options = [o for o in options if _refs(o) == fewest]
        return sample(options[int(rng.integers(len(options)))], rng, root)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return {k: sample(v, rng, root) for k, v in props.items() if k in required or rng.random() < 0.5}
    if kind == "array":
        if "prefixItems" in schema:
            return [sample(s, rng, root) for s in schema["prefixItems"]]
        lo, hi = int(schema.get("minItems", 0)), int(schema.get("maxItems", 4))
        return [sample(schema["items"], rng, root) for _ in range(int(rng.integers(lo, hi + 1)))] if hi else []
    if kind == "string":
        n = int(rng.integers(0, min(12, int(schema.get("maxLength", 12))) + 1))
        return "".join(str(rng.choice(WORDS)) for _ in range(n))[: int(schema.get("maxLength", 10**6))]
    if kind == "boolean":
        return bool(rng.random() < 0.5)
    if kind == "null":
        return None
    if kind in ("number", "integer"):
        lo, hi = float(schema.get("minimum", -1e3)), float(schema.get("maximum", 1e3))
        edge = rng.random()
        v = lo if edge < 0.1 else hi if edge < 0.2 else float(rng.uniform(lo, hi))
        return int(round(v)) if kind == "integer" else v
    raise ValueError(f"the sampler does not know {schema}")


def _refs(node: Any) -> int:
    if isinstance(node, dict):
        return int("$ref" in node) + sum(_refs(v) for v in node.values())
    if isinstance(node, list):
        return sum(_refs(v) for v in node)
    return 0
