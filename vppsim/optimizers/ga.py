"""Real-coded genetic algorithm (the GA baseline of paper 004's Figure 9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vppsim.optimizers.base import DEFAULT_POP_SIZE, Algorithm, Run


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


@dataclass(eq=False)
class _Population:
    """The GA's population, its values, the mutation rate and the number of elites."""

    x: np.ndarray
    f: np.ndarray
    mutation_rate: float
    n_elite: int


class RealCodedGA(Algorithm[_Population]):
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
        super().__init__(pop_size=pop_size, max_iter=max_iter)
        if not 0 <= n_elite < pop_size:
            raise ValueError("n_elite must be in [0, pop_size)")
        if tournament_size < 1:
            raise ValueError("tournament_size must be >= 1")
        if not 0.0 <= crossover_rate <= 1.0:
            raise ValueError("crossover_rate must be in [0, 1]")
        if mutation_rate is not None and not 0.0 <= mutation_rate <= 1.0:
            raise ValueError("mutation_rate must be in [0, 1]")
        self.tournament_size = int(tournament_size)
        self.crossover_rate = float(crossover_rate)
        self.eta_c = float(eta_c)
        self.mutation_rate = None if mutation_rate is None else float(mutation_rate)
        self.eta_m = float(eta_m)
        self.n_elite = int(n_elite)

    def _select(self, f: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of ``k`` tournament winners."""
        cand = rng.integers(0, f.shape[0], size=(k, self.tournament_size))
        return cand[np.arange(k), np.argmin(f[cand], axis=1)]

    def _elites(self, n: int) -> int:
        """Elites of a population of ``n`` (at least one child per generation)."""
        return min(self.n_elite, n - 1)

    def _evaluations_per_iteration(self, run: Run) -> int:
        return run.pop_size - self._elites(run.pop_size)

    def _initialize(self, run: Run) -> _Population:
        pm = 1.0 / run.n_var if self.mutation_rate is None else self.mutation_rate
        x = run.random_population(run.pop_size)
        return _Population(x, run.evaluate(x), pm, self._elites(run.pop_size))

    def _advance(self, run: Run, pop: _Population) -> None:
        n, rng = run.pop_size, run.rng
        n_off = min(n - pop.n_elite, run.remaining)
        n_pairs = (n_off + 1) // 2
        parents = self._select(pop.f, 2 * n_pairs, rng)
        c1, c2 = sbx_crossover(pop.x[parents[:n_pairs]], pop.x[parents[n_pairs:]], self.eta_c,
                               self.crossover_rate, rng)
        kids = np.concatenate([c1, c2])[:n_off]
        np.clip(kids, run.xl, run.xu, out=kids)
        kids = polynomial_mutation(kids, run.xl, run.xu, self.eta_m, pop.mutation_rate, rng)
        f_kids = run.evaluate(kids)
        keep = np.argsort(pop.f, kind="stable")[: n - n_off]  # elites (more if truncated)
        pop.x = np.concatenate([pop.x[keep], kids])
        pop.f = np.concatenate([pop.f[keep], f_kids])

    def _info(self, run: Run, pop: _Population) -> dict[str, Any]:
        return {"mutation_rate": pop.mutation_rate}
