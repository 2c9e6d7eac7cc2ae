"""One problem interface, many solvers (the pymoo split), and the loop every metaheuristic shares.

A :class:`Problem` knows its bounds and evaluates a population; an algorithm knows nothing
of power systems. Every metaheuristic is called as ``algorithm.minimize(problem, budget,
seed)`` and returns a :class:`Result` with its best solution and convergence history.

:class:`Algorithm` is the shared part, in the manner of pymoo's ``core/algorithm.py``
(set-up, initialize, advance, termination, result): it validates the budget and the bounds,
makes the generator from the seed, counts evaluations (the budget is never exceeded), keeps
the best point seen and its history, stops on the budget, on ``max_iter`` or on the
algorithm's own rule, and builds the :class:`Result`. An algorithm writes only its
hyperparameters, :meth:`Algorithm._initialize` (draw and evaluate the first population) and
:meth:`Algorithm._advance` (one iteration); every draw comes from ``run.rng`` in the order the
algorithm makes it.
"""

from __future__ import annotations

import inspect
import math
import numbers
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

#: Population size shared by every metaheuristic, so that "same evaluation budget"
#: comparisons are fair (PSO, PSO-RL and GA all default to it).
DEFAULT_POP_SIZE = 30


class Problem(Protocol):
    """A box-bounded minimization problem evaluated a population at a time.

    A problem may also offer starting points as ``initial_points`` (rows of shape
    ``(n_var,)``); see :func:`seed_population`, and a ``target_f`` (float or None): a value no
    point can beat by more than rounding (a proven bound), at which every algorithm stops with
    ``stop_reason`` ``"target"`` (:meth:`Algorithm.termination`). Algorithms that handle
    them (ELM-GA) also read ``binary`` (bool mask ``(n_var,)``: 0/1 variables, bounds 0 or 1)
    and ``repair(x) -> x`` (candidate rows to repaired rows, e.g. minimum up/down times),
    applied to every candidate.
    """

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


def make_rng(seed: int | np.random.Generator | None) -> tuple[np.random.Generator, int | None]:
    """The generator every draw comes from, and the int seed to record (None for a Generator).

    Raises
    ------
    TypeError
        If ``seed`` is neither an int, a numpy Generator nor None.
    """
    if isinstance(seed, np.random.Generator):
        return seed, None
    if seed is None:
        return np.random.default_rng(), None
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed)), int(seed)
    raise TypeError(f"seed must be an int or a numpy Generator, not {type(seed).__name__}")


def check_budget(budget: int) -> int:
    """The evaluation budget as a positive int (ValueError otherwise)."""
    if not isinstance(budget, numbers.Integral) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"budget must be a positive int, got {budget!r}")
    return int(budget)


def problem_bounds(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Validated float bounds ``(xl, xu)`` of shape ``(n_var,)`` (ValueError otherwise)."""
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


def planned_iterations(budget: int, n_init: int, per_iter: int, max_iter: int | None) -> int:
    """Iterations the budget (and ``max_iter``) allow after the initial population, at least 1."""
    by_budget = math.ceil(max(budget - n_init, 0) / max(per_iter, 1))
    t = by_budget if max_iter is None else min(by_budget, int(max_iter))
    return max(t, 1)


@dataclass(eq=False)
class Run:
    """One ``minimize`` call in progress: the set-up, the counters and the best point so far.

    Attributes
    ----------
    problem, budget, rng, seed
        The problem, the validated budget, the generator and the int seed (None if a
        Generator was given).
    xl, xu
        Validated bounds ``(n_var,)``.
    pop_size
        Population size, ``min(algorithm.pop_size, budget)``.
    planned_iterations
        Iterations the budget and ``max_iter`` allow (at least 1); schedules use it.
    evaluations, iteration
        Rows evaluated so far; iterations completed after the initial population.
    best_x, best_f, history
        Best point evaluated so far, its value, and the best value after the initial
        population and after each iteration.
    """

    problem: Problem
    budget: int
    rng: np.random.Generator
    seed: int | None
    xl: np.ndarray
    xu: np.ndarray
    pop_size: int
    planned_iterations: int = 1
    evaluations: int = 0
    iteration: int = 0
    best_x: np.ndarray | None = None
    best_f: float = math.inf
    history: list[float] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)

    @property
    def n_var(self) -> int:
        """Number of variables."""
        return int(self.xl.shape[0])

    @property
    def remaining(self) -> int:
        """Evaluations left in the budget."""
        return self.budget - self.evaluations

    def random_population(self, n: int) -> np.ndarray:
        """``n`` points uniform in the box, the problem's ``initial_points`` in the first rows."""
        x = self.xl + self.rng.random((n, self.n_var)) * (self.xu - self.xl)
        return seed_population(x, self.problem)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Objective values of the rows of ``x`` in one call, counted against the budget.

        NaN counts as +inf (worst). The best point so far is updated (the first row with the
        lowest value, if lower than the best so far).

        Raises
        ------
        RuntimeError
            If the rows would exceed the budget (an algorithm's error).
        ValueError
            If the problem returns a number of values other than the number of rows.
        """
        if x.shape[0] > self.remaining:
            raise RuntimeError(f"{x.shape[0]} rows exceed the {self.remaining} evaluations left")
        f = np.asarray(self.problem.evaluate(x), dtype=float).reshape(-1)
        if f.shape[0] != x.shape[0]:
            raise ValueError(f"problem.evaluate returned {f.shape[0]} values for {x.shape[0]} rows")
        f = np.where(np.isnan(f), np.inf, f)
        self.evaluations += x.shape[0]
        if f.shape[0]:
            g = int(np.argmin(f))
            if self.best_x is None or f[g] < self.best_f:
                self.best_x, self.best_f = x[g].copy(), float(f[g])
        return f


S = TypeVar("S")


class Algorithm(ABC, Generic[S]):
    """Base of the population metaheuristics: everything but their initialization and step.

    ``minimize`` runs: set-up (:meth:`setup`), :meth:`_initialize` (returns the algorithm's
    own state ``S``), then :meth:`_advance` once per iteration until :meth:`termination`
    gives a reason, then :meth:`result`. A subclass sets ``name``, takes keyword-only
    hyperparameters stored under their own names (``repr`` lists them), calls
    ``super().__init__(pop_size=..., max_iter=...)`` and implements the two methods; it may
    override :meth:`_stop` (its own stop rule), :meth:`_evaluations_per_iteration` (for
    :attr:`Run.planned_iterations`) and :meth:`_info` (extra ``Result.info``).

    Parameters
    ----------
    pop_size : int, default 30
        Population size (``DEFAULT_POP_SIZE``), at least 2.
    max_iter : int or None, default None
        Maximum number of iterations; None: as many as the budget allows.
    """

    name: ClassVar[str] = "algorithm"

    def __init__(self, *, pop_size: int = DEFAULT_POP_SIZE, max_iter: int | None = None) -> None:
        if pop_size < 2:
            raise ValueError("pop_size must be >= 2")
        if max_iter is not None and max_iter < 0:
            raise ValueError("max_iter must be >= 0")
        self.pop_size = int(pop_size)
        self.max_iter = max_iter

    def __repr__(self) -> str:
        """``Name(param=value, ...)`` over the keyword parameters of the class's constructor."""
        params = inspect.signature(type(self).__init__).parameters.values()
        keys = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        return f"{type(self).__name__}(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in keys) + ")"

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
            ``info["stop_reason"]`` (``"budget"``, ``"max_iter"``, ``"target"`` or the
            algorithm's own,
            e.g. IRLA's ``"stall"``), ``info["pop_size"]``, ``info["planned_iterations"]``
            and the algorithm's own entries.
        """
        run = self.setup(problem, budget, seed)
        state = self._initialize(run)
        run.history.append(run.best_f)
        while (reason := self.termination(run, state)) is None:
            evaluated = run.evaluations
            self._advance(run, state)
            if run.evaluations == evaluated:
                raise RuntimeError(f"{self.name}: an iteration must evaluate at least one row")
            run.iteration += 1
            run.history.append(run.best_f)
        return self.result(run, state, reason)

    def setup(self, problem: Problem, budget: int, seed: int | np.random.Generator | None) -> Run:
        """Validate the budget and bounds, make the generator, plan the iterations."""
        t0 = time.perf_counter()
        budget = check_budget(budget)
        rng, seed_int = make_rng(seed)
        xl, xu = problem_bounds(problem)
        run = Run(problem, budget, rng, seed_int, xl, xu, pop_size=min(self.pop_size, budget), t0=t0)
        run.planned_iterations = planned_iterations(
            budget, run.pop_size, self._evaluations_per_iteration(run), self.max_iter)
        return run

    def termination(self, run: Run, state: S) -> str | None:
        """Why to stop before the next iteration, or None.

        ``"max_iter"``, ``"target"`` (the best value reached the problem's ``target_f``, a
        proven bound: no further evaluation can improve on it), the algorithm's own rule,
        ``"budget"``.
        """
        if self.max_iter is not None and run.iteration >= self.max_iter:
            return "max_iter"
        target = getattr(run.problem, "target_f", None)
        if target is not None and run.best_f <= target:
            return "target"
        own = self._stop(run, state)
        if own is not None:
            return own
        return "budget" if run.remaining <= 0 else None

    def result(self, run: Run, state: S, reason: str) -> Result:
        """The :class:`Result` of a finished run."""
        info: dict[str, Any] = {"stop_reason": reason, "pop_size": run.pop_size,
                                "planned_iterations": run.planned_iterations}
        info.update(self._info(run, state))
        assert run.best_x is not None
        return Result(
            x=run.best_x,
            f=run.best_f,
            history=np.asarray(run.history, dtype=float),
            evaluations=run.evaluations,
            iterations=run.iteration,
            wall_s=time.perf_counter() - run.t0,
            seed=run.seed,
            algorithm=self.name,
            info=info,
        )

    @abstractmethod
    def _initialize(self, run: Run) -> S:
        """Draw and evaluate (``run.evaluate``) the initial population; return the state."""

    @abstractmethod
    def _advance(self, run: Run, state: S) -> None:
        """One iteration: at most ``run.remaining`` rows evaluated (at least one)."""

    def _stop(self, run: Run, state: S) -> str | None:
        """The algorithm's own stop rule (a reason), checked before the budget; None: go on."""
        return None

    def _evaluations_per_iteration(self, run: Run) -> int:
        """Rows one iteration evaluates (default: the population)."""
        return run.pop_size

    def _info(self, run: Run, state: S) -> dict[str, Any]:
        """Entries of ``Result.info`` besides the stop reason, population and plan."""
        return {}
