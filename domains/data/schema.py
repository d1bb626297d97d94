"""The JSON schema of the data-curation genome's JSON form: the structured-output constraint for an LLM.

Flat (a list of steps, a mixture, an ordering), so no unrolling is needed. Each filter's thresholds
carry its statistic's valid range; what a schema cannot say (min < max, "not every weight 0") is left
to `check`, which says why it refuses.
"""
from __future__ import annotations

from typing import Any

from domains.base import number_in, strict_object
from domains.data import genome as gn
from domains.data.stats import STATS


def _step_schemas(sources: tuple[str, ...]) -> list[dict[str, Any]]:
    on = {"type": "array", "items": {"enum": list(sources)}, "maxItems": len(sources)}
    filters = [strict_object({"type": {"const": "filter"}, "stat": {"const": s.name},
                              "min": {"anyOf": [{"type": "null"}, number_in(s.lo, s.hi)]},
                              "max": {"anyOf": [{"type": "null"}, number_in(s.lo, s.hi)]}, "on": on})
               for s in STATS]
    return [
        *filters,
        strict_object({"type": {"const": "dedup"}, "unit": {"enum": list(gn.UNITS)}}),
        strict_object({"type": {"const": "minhash"}, "threshold": number_in(*gn.NEAR_RANGE),
                       "ngram": {"enum": list(gn.NGRAMS)}, "perms": {"enum": list(gn.PERMS)}}),
        strict_object({"type": {"const": "quality"}, "keep": number_in(*gn.KEEP_RANGE),
                       "features": {"enum": list(gn.FEATURES)}, "per_source": {"type": "boolean"}, "on": on}),
    ]


def json_schema(sources: tuple[str, ...]) -> dict[str, Any]:
    mixture = strict_object({s: number_in(0.0, gn.MAX_WEIGHT) for s in sources}, required=[])
    return strict_object({"steps": {"type": "array", "items": {"anyOf": _step_schemas(sources)},
                                    "maxItems": gn.MAX_STEPS},
                          "mixture": mixture, "order": {"enum": list(gn.ORDERS)}})
