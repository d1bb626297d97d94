"""The one unit of gain: a domain's design spread, scale-free, reference at 0."""
from __future__ import annotations

import math

import pytest

from evolve import gain


def test_design_spread_is_the_normal_consistent_mad():
    raw = [0.0, 0.1, -0.2, 0.3, 5.0]  # one broken random sample does not set the unit
    # median 0.1; absolute deviations 0.1, 0, 0.3, 0.2, 4.9 -> median 0.2 -> x 1.4826
    assert gain.design_spread(raw) == pytest.approx(0.2 * 1.482602218505602)
    u = gain.unit_of(raw)
    assert u.perf(0.0) == 0.0 and u.perf(0.2 * 1.482602218505602) == pytest.approx(1.0)
    scaled = gain.unit_of([100 * g for g in raw])
    assert all(scaled.perf(100 * g) == pytest.approx(u.perf(g)) for g in raw)  # units cancel


def test_fallbacks_when_there_is_no_spread():
    assert gain.design_spread([0.0, 0.0, 0.0, 0.3]) == pytest.approx(0.15)  # MAD 0: the sample sd
    assert gain.design_spread([0.1, 0.2]) is None and gain.design_spread([1.0, 1.0, 1.0]) is None
    rel = gain.unit_of([0.0, 0.2], reference_scores=[-2.0, -2.0])
    assert rel.value == 2.0 and "relative" in rel.source
    assert gain.unit_of([], []).value == 1.0
    assert gain.design_spread([0.0, math.nan, 1.0, 2.0]) == pytest.approx(1.4826022185056018)
