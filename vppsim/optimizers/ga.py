"""Real-coded genetic algorithm (the GA baseline of paper 004's Figure 9)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vppsim.optimizers.base import Problem, Result, seed_population
from vppsim.optimizers.pso import (
    DEFAULT_POP_SIZE,
    _evaluate,
    _planned_iterations,
    _setup,
)


def sbx_crossover(
    p1: np.ndarray,
    p2: np.ndarray,
    eta: float,
    rate: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated binary crossover (Deb and Agrawal, 1995) of parent pairs.

    Each pair is crossed with probability ``rate``; within a crossed pair each coordinate
    is recombined with probability 0.5 (as in NSGA-II's implementation).

    Parameters
    ----------
    p1, p2 : numpy.ndarray
        Parents, shape ``(k, n_var)``.
    eta : float
        Distribution index (larger: children closer to the parents).
    rate : float
        Crossover probability per pair.
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    tuple of numpy.ndarray
        The two children arrays (unclipped).
    """
    u = rng.random(p1.shape)
    bq = np.where(
        u <= 0.5,
        (2.0 * u) ** (1.0 / (eta + 1.0)),
        (1.0 / (2.0 * (1.0 - u))) ** (1.0 / (eta + 1.0)),
    )
    mix = (rng.random(p1.shape) < 0.5) & (rng.random((p1.shape[0], 1)) < rate)
    bq = np.where(mix, bq, 1.0)  # beta = 1 gives the parents back
    c1 = 0.5 * ((1.0 + bq) * p1 + (1.0 - bq) * p2)
    c2 = 0.5 * ((1.0 - bq) * p1 + (1.0 + bq) * p2)
    return c1, c2


def polynomial_mutation(
    x: np.ndarray,
    xl: np.ndarray,
    xu: np.ndarray,
    eta: float,
    rate: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Deb's bounded polynomial mutation, per coordinate with probability ``rate``.

    Parameters
    ----------
    x : numpy.ndarray
        Individuals, shape ``(k, n_var)``, inside ``[xl, xu]``.
    xl, xu : numpy.ndarray
        Bounds, shape ``(n_var,)``.
    eta : float
        Distribution index (larger: smaller steps).
    rate : float
        Mutation probability per coordinate.
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    numpy.ndarray
        Mutated individuals, inside ``[xl, xu]``.
    """
    span = xu - xl
    safe = np.where(span > 0, span, 1.0)
    d1 = (x - xl) / safe
    d2 = (xu - x) / safe
    r = rng.random(x.shape)
    mutate = rng.random(x.shape) < rate
    p = 1.0 / (eta + 1.0)
    lo = r < 0.5
    val_lo = 2.0 * r + (1.0 - 2.0 * r) * (1.0 - d1) ** (eta + 1.0)
    val_hi = 2.0 * (1.0 - r) + 2.0 * (r - 0.5) * (1.0 - d2) ** (eta + 1.0)
    dq = np.where(lo, np.abs(val_lo) ** p - 1.0, 1.0 - np.abs(val_hi) ** p)
    y = np.where(mutate, x + dq * span, x)
    return np.clip(y, xl, xu)


class RealCodedGA:
    """Real-coded generational GA with tournament selection, SBX, polynomial mutation, elitism.

    Each generation: ``pop_size - n_elite`` children are bred (binary tournaments pick the
    parents, SBX crosses them, polynomial mutation perturbs them), evaluated in one call,
    and replace all but the ``n_elite`` best individuals of the previous generation.

    Parameters
    ----------
    pop_size : int, default 30
        Population size (the same default as ``PSO`` and ``IRLA``).
    tournament_size : int, default 2
        Individuals per selection tournament (the fittest wins).
    crossover_rate : float, default 0.9
        SBX probability per parent pair.
    eta_c : float, default 15.0
        SBX distribution index.
    mutation_rate : float or None, default None
        Polynomial-mutation probability per coordinate; None: ``1 / n_var``.
    eta_m : float, default 20.0
        Polynomial-mutation distribution index.
    n_elite : int, default 2
        Best individuals carried unchanged (not re-evaluated) to the next generation.
    max_iter : int or None, default None
        Maximum number of generations; None: as many as the budget allows.

    Notes
    -----
    Bounds: children of SBX are clipped into ``[xl, xu]``; polynomial mutation stays in
    the box by construction. If the remaining budget is smaller than a generation's
    offspring, fewer children are bred and more of the best parents survive.
    """

    name = "ga"

    def __init__(
        self,
        *,
        pop_size: int = DEFAULT_POP_SIZE,
        tournament_size: int = 2,
        crossover_rate: float = 0.9,
        eta_c: float = 15.0,
        mutation_rate: float | None = None,
        eta_m: float = 20.0,
        n_elite: int = 2,
        max_iter: int | None = None,
    ) -> None:
        if pop_size < 2:
            raise ValueError("pop_size must be >= 2")
        if not 0 <= n_elite < pop_size:
            raise ValueError("n_elite must be in [0, pop_size)")
        if tournament_size < 1:
            raise ValueError("tournament_size must be >= 1")
        if not 0.0 <= crossover_rate <= 1.0:
            raise ValueError("crossover_rate must be in [0, 1]")
        if mutation_rate is not None and not 0.0 <= mutation_rate <= 1.0:
            raise ValueError("mutation_rate must be in [0, 1]")
        if max_iter is not None and max_iter < 0:
            raise ValueError("max_iter must be >= 0")
        self.pop_size = int(pop_size)
        self.tournament_size = int(tournament_size)
        self.crossover_rate = float(crossover_rate)
        self.eta_c = float(eta_c)
        self.mutation_rate = None if mutation_rate is None else float(mutation_rate)
        self.eta_m = float(eta_m)
        self.n_elite = int(n_elite)
        self.max_iter = max_iter

    def __repr__(self) -> str:
        return (
            f"RealCodedGA(pop_size={self.pop_size}, tournament_size={self.tournament_size}, "
            f"crossover_rate={self.crossover_rate}, eta_c={self.eta_c}, "
            f"mutation_rate={self.mutation_rate}, eta_m={self.eta_m}, n_elite={self.n_elite}, "
            f"max_iter={self.max_iter})"
        )

    def _select(self, f: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of ``k`` tournament winners."""
        cand = rng.integers(0, f.shape[0], size=(k, self.tournament_size))
        return cand[np.arange(k), np.argmin(f[cand], axis=1)]

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
            Best point, its value, best-so-far history per generation, counts and
            ``info["stop_reason"]`` (``"budget"`` or ``"max_iter"``).
        """
        t0 = time.perf_counter()
        budget, rng, seed_int, xl, xu = _setup(problem, budget, seed)
        n_var = xl.shape[0]
        pm = 1.0 / n_var if self.mutation_rate is None else self.mutation_rate
        n = min(self.pop_size, budget)
        n_elite = min(self.n_elite, n - 1)

        pop = xl + rng.random((n, n_var)) * (xu - xl)
        pop = seed_population(pop, problem)
        f = _evaluate(problem, pop)
        evals = n
        g = int(np.argmin(f))
        best_x, best_f = pop[g].copy(), float(f[g])
        history = [best_f]
        t_plan = _planned_iterations(budget, n, n - n_elite, self.max_iter)

        d = 0
        while True:
            if self.max_iter is not None and d >= self.max_iter:
                reason = "max_iter"
                break
            remaining = budget - evals
            if remaining <= 0 or n - n_elite <= 0:
                reason = "budget"
                break
            n_off = min(n - n_elite, remaining)
            n_pairs = (n_off + 1) // 2
            parents = self._select(f, 2 * n_pairs, rng)
            c1, c2 = sbx_crossover(
                pop[parents[:n_pairs]], pop[parents[n_pairs:]], self.eta_c, self.crossover_rate, rng
            )
            kids = np.concatenate([c1, c2])[:n_off]
            np.clip(kids, xl, xu, out=kids)
            kids = polynomial_mutation(kids, xl, xu, self.eta_m, pm, rng)
            f_kids = _evaluate(problem, kids)
            evals += n_off
            keep = np.argsort(f, kind="stable")[: n - n_off]  # elites (more if truncated)
            pop = np.concatenate([pop[keep], kids])
            f = np.concatenate([f[keep], f_kids])
            g = int(np.argmin(f))
            if f[g] < best_f:
                best_x, best_f = pop[g].copy(), float(f[g])
            d += 1
            history.append(best_f)

        info: dict[str, Any] = {
            "stop_reason": reason,
            "pop_size": n,
            "planned_iterations": t_plan,
            "mutation_rate": pm,
        }
        return Result(
            x=best_x,
            f=best_f,
            history=np.asarray(history, dtype=float),
            evaluations=evals,
            iterations=d,
            wall_s=time.perf_counter() - t0,
            seed=seed_int,
            algorithm=self.name,
            info=info,
        )
