"""Paper 001's allocation case solved every way: GA-ACO runs, the exact LP, proportional, the paper.

:func:`compare` solves one demand of an :class:`~vppsim.allocation.scenario.AllocationCase` by
``runs`` GA-ACO runs (one seed each), by the exact LP (HiGHS) and in proportion to capacity, and
returns everything a report needs (:class:`AllocationComparison`); ``vppsim allocate`` writes it
(:mod:`vppsim.results.allocation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vppsim.allocation.exact import solve_exact
from vppsim.allocation.gaaco import solve_ga_aco
from vppsim.allocation.problem import AllocationProblem, proportional
from vppsim.allocation.scenario import AllocationCase
from vppsim.optimizers.gaaco import GaAcoSettings


@dataclass(frozen=True)
class AllocationComparison:
    """One demand of a case, solved by every method (allocations in the case's unit).

    ``gaaco_*`` arrays have one row per run; ``gap`` is each run's objective minus the LP's
    divided by ``scale`` (the total fitness at the LP optimum, or ``|LP objective|`` if larger;
    the LP optimum is often exactly 0, so a gap relative to it would be undefined).
    """

    case: AllocationCase
    problem: AllocationProblem
    demand: float
    seed: int
    gaaco_allocation: np.ndarray  # (runs, K)
    gaaco_objective: np.ndarray  # (runs,)
    gaaco_time_s: np.ndarray  # (runs,)
    gaaco_iterations: np.ndarray  # (runs,)
    lp_allocation: np.ndarray  # (K,)
    lp_objective: float
    proportional_allocation: np.ndarray  # (K,)
    proportional_objective: float
    paper_allocation: np.ndarray | None  # (K,) or None
    scale: float

    @property
    def runs(self) -> int:
        """Number of GA-ACO runs."""
        return len(self.gaaco_objective)

    @property
    def gap(self) -> np.ndarray:
        """Each run's gap to the LP optimum, relative to ``scale``."""
        diff = self.gaaco_objective - self.lp_objective
        return diff / self.scale if self.scale > 0 else diff

    @property
    def paper_objective(self) -> float | None:
        """The objective of the paper's published split, if the case has one."""
        if self.paper_allocation is None:
            return None
        return float(self.problem.evaluate(self.paper_allocation[None, :])[0])


def compare(case: AllocationCase, demand: float, runs: int, seed: int,
            settings: GaAcoSettings | None = None) -> AllocationComparison:
    """Solve ``demand`` of ``case`` by ``runs`` GA-ACO runs (seeds ``seed..``), the LP and proportionally."""
    problem = case.problem([demand])
    exact = solve_exact(problem)
    prop = proportional(problem)
    settings = settings or GaAcoSettings()
    allocs, objs, times, iters = [], [], [], []
    for i in range(runs):
        t0 = time.perf_counter()
        res = solve_ga_aco(problem, seed + i, settings)
        times.append(time.perf_counter() - t0)
        allocs.append(res.allocation[0])
        objs.append(res.objective[0])
        iters.append(int(res.iterations[0]))
    lp_obj = float(exact.objective[0])
    return AllocationComparison(
        case=case, problem=problem, demand=float(demand), seed=seed,
        gaaco_allocation=np.array(allocs), gaaco_objective=np.array(objs),
        gaaco_time_s=np.array(times), gaaco_iterations=np.array(iters),
        lp_allocation=exact.allocation[0], lp_objective=lp_obj,
        proportional_allocation=prop.allocation[0], proportional_objective=float(prop.objective[0]),
        paper_allocation=case.paper(demand),
        scale=max(abs(lp_obj), float(problem.total_fitness(exact.allocation)[0])),
    )
