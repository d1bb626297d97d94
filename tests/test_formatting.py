"""The engine's one number formatter (evolve/formatting.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from evolve.formatting import number


@pytest.mark.parametrize("value, expected", [
    (0.123456, "0.1235"), (3, "3"), (np.int64(12345), "12345"), (2.0, "2"), (1e-7, "1e-07"), ("0.5", "0.5"),
    (None, "—"), (math.nan, "—"), (math.inf, "—"), ("abc", "—"), (np.float32(0.25), "0.25"),
])
def test_numbers_read_the_same_everywhere(value, expected):
    assert number(value) == expected


def test_digits_and_the_missing_mark_are_the_callers():
    assert number(0.123456, 3) == "0.123" and number(None, missing="n/a") == "n/a"
