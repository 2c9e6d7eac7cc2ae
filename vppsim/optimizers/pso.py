"""Plain global-best particle swarm optimization (the baseline of paper 004's Figure 9).

Also holds the small helpers shared by the metaheuristics of this package (seeding, bounds,
counted population evaluation); they know nothing of power systems.
"""

from __future__ import annotations

import math
import numbers
import time
from typing import Any

import numpy as np

from vppsim.optimizers.base import Problem, Result, seed_population

#: Population size shared by every metaheuristic, so that "same evaluation budget"
#: comparisons are fair (PSO, PSO-RL and GA all default to it).
DEFAULT_POP_SIZE = 30


def _make_rng(seed: int | np.random.Generator | None) -> tuple[np.random.Generator, int | None]:
    """The generator every draw comes from, and the int seed to record (None for a Generator)."""
    if isinstance(seed, np.random.Generator):
        return seed, None
    if seed is None:
        return np.random.default_rng(), None
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed)), int(seed)
    raise TypeError(f"seed must be an int or a numpy Generator, not {type(seed).__name__}")


def _bounds(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Validated float bounds ``(xl, xu)`` of shape ``(n_var,)``."""
    n_var = int(problem.n_var)
    if n_var < 1:
        raise ValueError(f"problem.n_var must be >= 1, got {n_var}")
    xl = np.broadcast_to(np.asarray(problem.xl, dtype=float), (n_var,)).copy()
    xu = np.broadcast_to(np.asarray(problem.xu, dtype=float), (n_var,)).copy()
    if not (np.all(np.isfinite(xl)) and np.all(np.isfinite(xu))):
        raise ValueError("problem bounds must be finite")
    if np.any(xl > xu):
        raise ValueError("problem.xl must be <= problem.xu")
    return xl, xu


def _check_budget(budget: int) -> int:
    """The evaluation budget as a positive int."""
    if not isinstance(budget, numbers.Integral) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"budget must be a positive int, got {budget!r}")
    return int(budget)


def _setup(problem: Problem, budget: int, seed: int | np.random.Generator | None
           ) -> tuple[int, np.random.Generator, int | None, np.ndarray, np.ndarray]:
    """What every ``minimize`` starts from: ``(budget, rng, seed_int, xl, xu)``, validated."""
    budget = _check_budget(budget)
    rng, seed_int = _make_rng(seed)
    xl, xu = _bounds(problem)
    return budget, rng, seed_int, xl, xu


def _evaluate(problem: Problem, x: np.ndarray) -> np.ndarray:
    """Objective values of the rows of ``x`` in one call; NaN counts as +inf (worst)."""
    f = np.asarray(problem.evaluate(x), dtype=float).reshape(-1)
    if f.shape[0] != x.shape[0]:
        raise ValueError(f"problem.evaluate returned {f.shape[0]} values for {x.shape[0]} rows")
    return np.where(np.isnan(f), np.inf, f)


def _planned_iterations(budget: int, n_init: int, per_iter: int, max_iter: int | None) -> int:
    """Iterations the budget (and ``max_iter``) allow after the initial population, at least 1."""
    by_budget = math.ceil(max(budget - n_init, 0) / max(per_iter, 1))
    t = by_budget if max_iter is None else min(by_budget, int(max_iter))
    return max(t, 1)


def _clip_absorbing(x: np.ndarray, v: np.ndarray, xl: np.ndarray, xu: np.ndarray) -> None:
    """Clip ``x`` into ``[xl, xu]`` in place and zero the velocity components that hit a wall."""
    low = x < xl
    high = x > xu
    np.clip(x, xl, xu, out=x)
    v[low | high] = 0.0


def _subset(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """All ``n`` indices, or a sorted random ``m`` of them for a budget-truncated last iteration."""
    if m >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=m, replace=False))


class PSO:
    """Plain global-best particle swarm optimization (Kennedy-Eberhart with inertia).

    ``v <- w v + c1 r1 (pbest - x) + c2 r2 (gbest - x)``, ``x <- x + v``, with ``r1, r2``
    drawn per particle and per coordinate from U(0, 1).

    Parameters
    ----------
    pop_size : int, default 30
        Number of particles (the same default as ``IRLA`` and ``RealCodedGA``).
    w : float, default 0.7
        Inertia weight. Constant by default (close to Clerc's 0.7298, which is convergent
        with ``c1 = c2 = 1.5``); give ``w_end`` for a linearly varying inertia.
    w_end : float or None, default None
        If given, the inertia goes linearly from ``w`` (first iteration) to ``w_end`` (last
        planned iteration), e.g. ``w=0.9, w_end=0.4`` (Shi-Eberhart).
    c1, c2 : float, default 1.5
        Cognitive and social acceleration coefficients.
    v_clamp : float, default 0.2
        Velocity clamp as a fraction of the range ``xu - xl`` per coordinate.
    max_iter : int or None, default None
        Maximum number of iterations; None: as many as the budget allows.

    Notes
    -----
    Bounds are handled by clipping with absorbing walls: a coordinate that leaves
    ``[xl, xu]`` is clipped onto the bound and its velocity component is set to zero.
    Initial positions are uniform in the box, initial velocities uniform in
    ``[-vmax, vmax]``. Each iteration evaluates the whole swarm in one
    ``problem.evaluate`` call; if the remaining budget is smaller than the swarm, only a
    random subset of that size moves in the last iteration.
    """

    name = "pso"

    def __init__(
        self,
        *,
        pop_size: int = DEFAULT_POP_SIZE,
        w: float = 0.7,
        w_end: float | None = None,
        c1: float = 1.5,
        c2: float = 1.5,
        v_clamp: float = 0.2,
        max_iter: int | None = None,
    ) -> None:
        if pop_size < 2:
            raise ValueError("pop_size must be >= 2")
        if v_clamp <= 0:
            raise ValueError("v_clamp must be > 0")
        if max_iter is not None and max_iter < 0:
            raise ValueError("max_iter must be >= 0")
        self.pop_size = int(pop_size)
        self.w = float(w)
        self.w_end = None if w_end is None else float(w_end)
        self.c1 = float(c1)
        self.c2 = float(c2)
        self.v_clamp = float(v_clamp)
        self.max_iter = max_iter

    def __repr__(self) -> str:
        return (
            f"PSO(pop_size={self.pop_size}, w={self.w}, w_end={self.w_end}, c1={self.c1}, "
            f"c2={self.c2}, v_clamp={self.v_clamp}, max_iter={self.max_iter})"
        )

    def minimize(self, problem: Problem, budget: int, seed: int | np.random.Generator) -> Result:
        """Minimize ``problem`` with at most ``budget`` objective evaluations.

        Parameters
        ----------
        problem : Problem
            Box-bounded problem evaluated a population at a time.
        budget : int
            Maximum number of rows passed to ``problem.evaluate`` (never exceeded).
        seed : int or numpy.random.Generator
            Source of every random draw (``np.random.default_rng(seed)``).

        Returns
        -------
        Result
            Best point, its value, best-so-far history per iteration, counts and
            ``info["stop_reason"]`` (``"budget"`` or ``"max_iter"``).
        """
        t0 = time.perf_counter()
        budget, rng, seed_int, xl, xu = _setup(problem, budget, seed)
        n_var = xl.shape[0]
        span = xu - xl
        vmax = self.v_clamp * span
        n = min(self.pop_size, budget)

        x = xl + rng.random((n, n_var)) * span
        x = seed_population(x, problem)
        v = (2.0 * rng.random((n, n_var)) - 1.0) * vmax
        f = _evaluate(problem, x)
        evals = n
        pbest_x, pbest_f = x.copy(), f.copy()
        g = int(np.argmin(pbest_f))
        gbest_x, gbest_f = pbest_x[g].copy(), float(pbest_f[g])
        history = [gbest_f]
        t_plan = _planned_iterations(budget, n, n, self.max_iter)

        d = 0
        while True:
            if self.max_iter is not None and d >= self.max_iter:
                reason = "max_iter"
                break
            remaining = budget - evals
            if remaining <= 0:
                reason = "budget"
                break
            idx = _subset(rng, n, min(n, remaining))
            if self.w_end is None:
                w = self.w
            else:
                frac = d / max(t_plan - 1, 1)
                w = self.w + (self.w_end - self.w) * min(frac, 1.0)
            xi, vi = x[idx], v[idx]
            r1 = rng.random(xi.shape)
            r2 = rng.random(xi.shape)
            vi = w * vi + self.c1 * r1 * (pbest_x[idx] - xi) + self.c2 * r2 * (gbest_x - xi)
            np.clip(vi, -vmax, vmax, out=vi)
            xi = xi + vi
            _clip_absorbing(xi, vi, xl, xu)
            fi = _evaluate(problem, xi)
            evals += len(idx)
            x[idx], v[idx], f[idx] = xi, vi, fi
            better = fi < pbest_f[idx]
            bi = idx[better]
            pbest_x[bi], pbest_f[bi] = xi[better], fi[better]
            g = int(np.argmin(pbest_f))
            if pbest_f[g] < gbest_f:
                gbest_x, gbest_f = pbest_x[g].copy(), float(pbest_f[g])
            d += 1
            history.append(gbest_f)

        info: dict[str, Any] = {"stop_reason": reason, "pop_size": n, "planned_iterations": t_plan}
        return Result(
            x=gbest_x,
            f=gbest_f,
            history=np.asarray(history, dtype=float),
            evaluations=evals,
            iterations=d,
            wall_s=time.perf_counter() - t0,
            seed=seed_int,
            algorithm=self.name,
            info=info,
        )
