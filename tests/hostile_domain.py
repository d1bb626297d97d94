"""Test-only: the numeric domain plus baselines that fail in every way a real evaluation can.

x[0] picks the failure: 0.01 -> non-finite score (EvaluationError), 0.02 -> the worker process
dies (os._exit), 0.03 -> it hangs past the time limit. Every evaluation is appended to the file
named by $EVOLVE_TEST_LOG so tests can see what actually ran (and that nothing ran twice).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Mapping

from domains.base import Budget, EvaluationError, Metrics
from tests.numeric_domain import NumericDomain, Vector


class HostileDomain(NumericDomain):
    def __init__(self, cfg: Mapping[str, Any] | None = None) -> None:
        super().__init__(cfg)
        self.hostile = bool((cfg or {}).get("hostile", True))
        self.delay = float((cfg or {}).get("delay_s", 0.0))

    def baselines(self) -> dict[str, Vector]:
        out = dict(super().baselines())
        if self.hostile:
            n = self.cfg.n_var
            for name, x0 in (("nan", 0.01), ("crash", 0.02), ("hang", 0.03)):
                out[name] = Vector((x0,) + (0.5,) * (n - 1))
        return out

    def evaluate(self, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Any]) -> Metrics:
        genome = triple[self.name]
        log = os.environ.get("EVOLVE_TEST_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(json.dumps([budget.stage, list(genome.x), budget.seed]) + "\n")
        if self.delay:
            time.sleep(self.delay)
        x0 = genome.x[0]
        if x0 == 0.01:
            raise EvaluationError("non-finite loss at step 3")
        if x0 == 0.02:
            os._exit(7)
        if x0 == 0.03:
            time.sleep(3600)
        return super().evaluate(triple, budget, partners)
