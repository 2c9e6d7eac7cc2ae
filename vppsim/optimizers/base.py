"""One problem interface, many solvers (the pymoo split).

A :class:`Problem` knows its bounds and evaluates a population; an algorithm knows nothing
of power systems. Every metaheuristic is called as ``algorithm.minimize(problem, budget,
rng)`` and returns a :class:`Result` with its best solution and convergence history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class Problem(Protocol):
    """A box-bounded minimization problem evaluated a population at a time."""

    n_var: int
    xl: np.ndarray  # lower bounds, shape (n_var,)
    xu: np.ndarray  # upper bounds, shape (n_var,)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Objective values (to minimize) of the rows of ``x`` (shape ``(n, n_var)``)."""
        ...


def seed_population(x: np.ndarray, problem: object) -> np.ndarray:
    """Put the problem's own starting points (optional ``initial_points``) into a population.

    A problem may offer domain knowledge as starting points (for the game: the tariff passed
    through, and the marginal prices of the centralized optimum). They replace the first rows
    of the random initial population, which is drawn in full beforehand, so the random stream
    is the same with or without them.
    """
    pts = getattr(problem, "initial_points", None)
    if pts is None:
        return x
    pts = np.atleast_2d(np.asarray(pts, float))[: len(x)]
    x = x.copy()
    x[: len(pts)] = np.clip(pts, problem.xl, problem.xu)  # type: ignore[attr-defined]
    return x


@dataclass
class Result:
    """What a solver returns.

    ``history`` holds the best objective found after each iteration (index 0: after the
    initial population); ``evaluations`` counts calls of the objective per row.
    """

    x: np.ndarray
    f: float
    history: np.ndarray
    evaluations: int
    iterations: int
    wall_s: float
    seed: int | None
    algorithm: str
    info: dict[str, Any] = field(default_factory=dict)

    def iterations_to_within(self, rel: float = 1e-3) -> int:
        """First iteration whose best value is within ``rel`` of the final best value."""
        target = self.f + rel * abs(self.f)
        hit = np.nonzero(self.history <= target)[0]
        return int(hit[0]) if len(hit) else len(self.history) - 1
