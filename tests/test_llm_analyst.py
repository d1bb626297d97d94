"""The LLM analyst's pure parts: its schema, its hypotheses' form, and retirements the evidence must grant."""
from __future__ import annotations

import jsonschema
import numpy as np

from evolve import analyst, llm_analyst
from evolve.analyst import GenomeRecord
from tests.schema_sampler import sample

RECORDS = [GenomeRecord(f"g{i}", "numeric", {"x0": i / 10, "tail_mean": 0.5, "bad": float("nan")}, float(i), i % 3)
           for i in range(10)]


def test_schema_offers_only_varying_features_inside_their_observed_range():
    ranges = llm_analyst.feature_ranges(RECORDS)
    assert ranges == {"numeric": {"x0": (0.0, 0.9)}}
    schema = llm_analyst.analyst_schema(ranges, ["h1"], ["numeric"], 2)
    jsonschema.Draft202012Validator.check_schema(schema)
    rng = np.random.default_rng(0)
    for _ in range(50):
        answer = sample(schema, rng)
        assert 1 <= len(answer["hypotheses"]) <= 2 and set(answer["retire"]) <= {"h1"}
        for row in llm_analyst.new_hypotheses(answer, 4, set()):
            assert row["source"] == "llm" and row["status"] == "active" and row["created_cycle"] == 4
            assert 0.0 <= row["predicate"]["value"] <= 0.9
            assert analyst.satisfies(RECORDS[0].features, row["predicate"]) is not None


def _hyp(hid, n, lo, hi, g):
    return {"id": hid, "status": "active", "n_true": n, "n_false": n, "ci_low": lo, "ci_high": hi,
            "evidence": {"hedges_g": g}, "statement": hid}


def test_retirement_requests_are_granted_only_on_null_evidence():
    hyps = [_hyp("null", 6, -0.1, 0.2, 0.1), _hyp("strong", 6, 0.3, 0.9, 1.5), _hyp("few", 2, -0.1, 0.2, 0.1),
            _hyp("wide", 6, -1.0, 2.0, 0.9)]
    rows = {r["id"]: r for r in llm_analyst.apply_retirements({"retire": ["null", "strong", "few", "wide", "gone"]},
                                                               hyps, 3, min_group=3)}
    assert rows["null"]["status"] == "retired" and rows["null"]["evidence"]["llm_retire_request"]["granted"]
    for hid in ("strong", "few", "wide"):
        assert rows[hid]["status"] == "active"
        assert rows[hid]["evidence"]["llm_retire_request"]["granted"] is False
    assert "gone" not in rows
