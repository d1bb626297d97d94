"""The one number formatter of the engine's text (reports, tables, the progress line, LLM prompts).

Why one: every place that shows a number rounds it the same way and says "missing" the same way, so a figure
reads the same in report.md, the terminal and a prompt.
"""
from __future__ import annotations

import math
import numbers
from typing import Any


def number(x: Any, digits: int = 4, missing: str = "—") -> str:
    """`x` to `digits` significant digits; integers as they are; None, NaN, infinities and non-numbers as
    `missing`."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        try:
            x = float(x)
        except (TypeError, ValueError):
            return missing
    if isinstance(x, numbers.Integral):
        return str(int(x))
    x = float(x)
    return f"{x:.{digits}g}" if math.isfinite(x) else missing
