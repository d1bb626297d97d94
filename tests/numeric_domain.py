"""A test-only `Domain` over real vectors in [0, 1]^n, for checking the engine on known problems.

Operators are pymoo's: SBX crossover and polynomial mutation, with NSGA-II's usual settings, so the
ZDT acceptance test compares selection and nothing else. `evaluate` maps a pymoo bi-objective
problem onto the engine's objectives (score = -f2, cost seconds = f1), which lets campaign tests
drive a fast numeric domain; the ZDT test itself reads the problem's objectives directly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from pymoo.operators.crossover.sbx import cross_sbx
from pymoo.operators.mutation.pm import mut_pm
from pymoo.problems import get_problem

from domains.base import Budget, CheckResult, Domain, GenomeError, Metrics


@dataclass(frozen=True)
class Vector:
    """A genome: an immutable point of [0, 1]^n."""

    x: tuple[float, ...]

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.x, dtype=float)


@dataclass(frozen=True)
class NumericConfig:
    n_var: int = 30
    problem: str = "zdt1"  # any pymoo problem name with n_var and 2 objectives
    eta_c: float = 15.0  # SBX distribution index (pymoo NSGA2 default)
    prob_var_c: float = 0.5  # per-variable SBX probability (pymoo default)
    eta_m: float = 20.0  # polynomial-mutation distribution index (pymoo default)
    prob_var_m: float | None = None  # per-variable mutation probability; None -> min(0.5, 1/n_var)
    score_scale: float = 1.0  # raw score = -f2 x score_scale (units must not matter to the engine)
    points: dict[str, list[float]] = field(default_factory=dict)  # more named baselines (rediscovery tests)

    @classmethod
    def tiny(cls) -> "NumericConfig":
        return cls(n_var=5)


_TEXT = re.compile(r"^\s*x\s*=\s*\[(.*)\]\s*$", re.S)


class NumericDomain:
    """Implements `domains.base.Domain` for real vectors (see module docstring)."""

    name = "numeric"
    reference = "centre"

    def __init__(self, cfg: Mapping[str, Any] | NumericConfig | None = None) -> None:
        if isinstance(cfg, NumericConfig):
            self.cfg = cfg
        else:
            fields = NumericConfig.__dataclass_fields__
            self.cfg = NumericConfig(**{k: v for k, v in dict(cfg or {}).items() if k in fields})
        n = self.cfg.n_var
        self._xl, self._xu = np.zeros(n), np.ones(n)
        self._prob_m = self.cfg.prob_var_m if self.cfg.prob_var_m is not None else min(0.5, 1.0 / n)
        self._problem = None

    @property
    def problem(self):
        if self._problem is None:  # built lazily: only evaluate needs it
            self._problem = get_problem(self.cfg.problem, n_var=self.cfg.n_var)
        return self._problem

    # --- the genome space ---------------------------------------------------------------
    def _vec(self, x: np.ndarray) -> Vector:
        return Vector(tuple(np.clip(x, 0.0, 1.0).tolist()))

    def baselines(self) -> dict[str, Vector]:
        extra = {name: self._vec(np.asarray(x, float)) for name, x in self.cfg.points.items()}
        return {"centre": Vector((0.5,) * self.cfg.n_var), **extra}

    def sample(self, rng: np.random.Generator) -> Vector:
        return self._vec(rng.random(self.cfg.n_var))

    def mutate(self, genome: Vector, rng: np.random.Generator) -> Vector:
        X = genome.array[None, :]
        out = mut_pm(X, self._xl, self._xu, np.array([self.cfg.eta_m]), np.array([self._prob_m]),
                     at_least_once=False, random_state=rng)
        return self._vec(out[0])

    def crossover_pair(self, a: Vector, b: Vector, rng: np.random.Generator) -> tuple[Vector, Vector]:
        """Both SBX children, symmetric about the parents' midpoint, as pymoo's NSGA2 breeds them."""
        X = np.stack([a.array, b.array])[:, None, :]  # (parents, matings, n_var)
        Q = cross_sbx(X, self._xl, self._xu, np.array([[self.cfg.eta_c]]), np.array([[self.cfg.prob_var_c]]),
                      np.array([[0.5]]), random_state=rng)
        return self._vec(Q[0, 0]), self._vec(Q[1, 0])

    def crossover(self, a: Vector, b: Vector, rng: np.random.Generator) -> Vector:
        """SBX; one of the two children at random (pymoo's SBX with n_offsprings=1)."""
        return self.crossover_pair(a, b, rng)[int(rng.integers(2))]

    # --- forms ----------------------------------------------------------------------------
    def to_json(self, genome: Vector) -> list[float]:
        return list(genome.x)

    def from_json(self, data: Any) -> Vector:
        g = Vector(tuple(float(v) for v in data))
        if not (res := self.check(g)).ok:
            raise GenomeError(res.reason)
        return g

    def to_text(self, genome: Vector) -> str:
        return "x = [" + ", ".join(repr(v) for v in genome.x) + "]"  # repr: exact round trip

    def parse(self, text: str) -> Vector:
        m = _TEXT.match(text)
        if not m:
            raise GenomeError("expected 'x = [v1, v2, ...]'")
        try:
            values = [float(t) for t in m.group(1).split(",")]
        except ValueError as e:
            raise GenomeError(f"not a number: {e}") from None
        return self.from_json(values)

    def grammar(self) -> str:
        return f"x = [v1, ..., v{self.cfg.n_var}] with {self.cfg.n_var} real numbers, each in [0, 1]"

    def json_schema(self) -> dict[str, Any]:
        """n_var numbers in [0, 1] (the LLM's structured-output constraint)."""
        return {"type": "array", "items": {"type": "number", "minimum": 0.0, "maximum": 1.0},
                "minItems": self.cfg.n_var, "maxItems": self.cfg.n_var}

    # --- analysis -------------------------------------------------------------------------
    def check(self, genome: Vector) -> CheckResult:
        if len(genome.x) != self.cfg.n_var:
            return CheckResult.failed(f"expected {self.cfg.n_var} values, got {len(genome.x)}")
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in genome.x):
            return CheckResult.failed("values must be finite and in [0, 1]")
        return CheckResult.passed()

    def descriptor(self, genome: Vector) -> np.ndarray:
        return genome.array

    def features(self, genome: Vector) -> dict[str, float]:
        x = genome.array
        return {"x0": float(x[0]), "tail_mean": float(x[1:].mean()) if len(x) > 1 else 0.0}

    # --- evaluation -----------------------------------------------------------------------
    def objectives(self, X: np.ndarray) -> np.ndarray:
        """The problem's (minimised) objectives for rows of X."""
        return np.asarray(self.problem.evaluate(np.atleast_2d(X)), dtype=float)

    def evaluate(self, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Domain]) -> Metrics:
        f1, f2 = self.objectives(triple[self.name].array)[0][:2]
        return Metrics(score=-float(f2) * self.cfg.score_scale, cost={"seconds": float(f1)},
                       details={"f1": float(f1), "f2": float(f2)}, behaviour=[float(f1), float(f2)])

    def provides(self, resource: str) -> bool:
        return False

    def provide(self, resource: str, genome: Any, **kwargs: Any) -> Any:
        raise KeyError(resource)

    def normalise(self, score: float, reference_score: float) -> float:
        return score - reference_score


class SecondNumericDomain(NumericDomain):
    """The numeric domain under another name, so a campaign can pair two of them (units, coupling tests)."""

    name = "numeric2"


class SelfContainedNumericDomain(NumericDomain):
    """Says its result reads nothing of its partners (`consumes = ()`), so the engine reuses identical runs."""

    consumes: tuple[str, ...] = ()


class SelfContainedSecondNumericDomain(SecondNumericDomain):
    consumes: tuple[str, ...] = ()
