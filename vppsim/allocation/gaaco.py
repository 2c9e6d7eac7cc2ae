"""GA-ACO on the balanced allocation problem: the generic solver's result as an ``AllocationResult``.

:func:`vppsim.optimizers.gaaco.ga_aco` knows nothing of power: it solves any
:class:`~vppsim.optimizers.batched.BatchedProblem`, which :class:`AllocationProblem` is, and
returns a generic :class:`~vppsim.optimizers.batched.BatchResult`. This adapter adds what the
allocation reports besides (the demand above capacity, ``unmet``) so that GA-ACO, the exact LP
(:func:`vppsim.allocation.exact.solve_exact`) and the proportional baseline return the same
:class:`AllocationResult`.
"""

from __future__ import annotations

from typing import Any

from vppsim.allocation.problem import AllocationProblem, AllocationResult
from vppsim.optimizers.gaaco import GaAcoSettings, ga_aco


def solve_ga_aco(problem: AllocationProblem, seeds: Any = 0,
                 settings: GaAcoSettings | None = None) -> AllocationResult:
    """Allocate every problem of the batch by GA-ACO (paper 001).

    Parameters
    ----------
    problem
        The batch of allocation problems.
    seeds
        One non-negative int for every problem, or one per problem ``(B,)``; problem ``b``'s
        allocation depends only on its data and ``seeds[b]``.
    settings
        :class:`~vppsim.optimizers.gaaco.GaAcoSettings` (defaults if None).

    Returns
    -------
    AllocationResult
        Best allocation per problem ``(B, K)``, its objective, ``unmet`` (demand above
        capacity), the convergence ``history``, ``iterations`` run per problem, the wall time
        of the call and ``info["settings"]``.
    """
    res = ga_aco(problem, seeds, settings)
    return AllocationResult(
        allocation=res.x, objective=res.f, unmet=problem.unmet.copy(), method="ga-aco",
        wall_s=res.wall_s, history=res.history, iterations=res.iterations, info=res.info,
    )
