"""Exact reference for the balanced allocation: the LP with the absolute values linearized (HiGHS).

For each problem, over the resources with ``cap_k > 0`` (``n`` of them, ``w_k = c_k / cap_k**beta``)::

    min  sum_k d_k
    s.t. sum_k P_k = target                              (eq. 14)
         n * m - sum_k w_k P_k = 0                       (m = f_bar, eq. 12)
         d_k - w_k P_k + m >= 0,  d_k + w_k P_k - m >= 0  (d_k >= |f_k - f_bar|, eq. 13)
         0 <= P_k <= cap_k,  d_k >= 0                     (eq. 15)

**Weighted bi-objective.** A problem with a cost weight ``w`` and a normalization
(:class:`~vppsim.allocation.problem.Normalization`) minimizes
``w * sum_k c_k P_k / C_range + (1 - w) * sum_k d_k / B_range`` instead (the ideals are
constants and drop out); ``cost_max`` and ``balance_max`` add the rows ``sum_k c_k P_k <= eps``
and ``sum_k d_k <= eps`` of the epsilon-constraint and lexicographic LPs
(:mod:`vppsim.allocation.pareto`). With ``w = 0`` and no normalization the LP is the one above.

One small LP per problem, all solved in one reused HiGHS instance. The LP's allocation is
projected onto the feasible set (it moves by the solver's feasibility tolerance at most) and
its objective recomputed with :meth:`AllocationProblem.evaluate`, so the exact and the
metaheuristic objectives are the same function of the same kind of point.
"""

from __future__ import annotations

import time

import numpy as np

from vppsim.allocation.problem import AllocationProblem, AllocationResult, balanced_closed_form
from vppsim.optimizers.highs import INF, LpBuilder, new_highs, pass_model


def allocation_lp(problem: AllocationProblem, b: int, cost_max: float = np.nan,
                  balance_max: float = np.nan) -> tuple[LpBuilder, np.ndarray]:
    """The LP of problem ``b``; returns the builder and the indices of the active resources.

    ``cost_max`` / ``balance_max`` (NaN: none) bound the call cost / the balance from above.
    """
    act = np.flatnonzero(problem.active[b])
    n = len(act)
    w = problem.weight[b, act]
    c = problem.cost[b, act]
    lp = LpBuilder()
    if problem.weighted:
        cw, norm = float(problem.cost_weight[b]), problem.normalization
        p_cost, d_cost = cw * c / norm.cost_range, (1.0 - cw) / norm.balance_range
    else:
        p_cost, d_cost = 0.0, 1.0
    p = lp.add_var("p", n, lo=0.0, hi=problem.cap[b, act], cost=p_cost)
    m = lp.add_var("mean", 1, lo=-INF, hi=INF)[0]
    d = lp.add_var("dev", n, lo=0.0, hi=INF, cost=d_cost)
    if np.isfinite(cost_max):
        lp.add_row(p, c, -INF, float(cost_max))
    if np.isfinite(balance_max):
        lp.add_row(d, np.ones(n), -INF, float(balance_max))
    t = float(problem.target[b])
    lp.add_row(p, np.ones(n), t, t)
    lp.add_row(np.r_[m, p], np.r_[float(n), -w], 0.0, 0.0)
    for j in range(n):
        lp.add_row([d[j], p[j], m], [1.0, -w[j], 1.0], 0.0, INF)
        lp.add_row([d[j], p[j], m], [1.0, w[j], -1.0], 0.0, INF)
    return lp, act


def solve_exact(problem: AllocationProblem, cost_max: np.ndarray | None = None,
                balance_max: np.ndarray | None = None) -> AllocationResult:
    """Solve every problem of the batch to optimality (HiGHS); see the module docstring.

    ``cost_max`` / ``balance_max``: optional upper bounds ``(B,)`` on the call cost / the
    balance per problem (NaN: none); an infeasible bound raises ``RuntimeError``.

    Returns
    -------
    AllocationResult
        ``allocation`` (B, K), ``objective`` (B,) (recomputed by ``problem.evaluate``),
        ``unmet`` (B,); ``info["lp_objective"]`` holds HiGHS' own objective values (NaN where the feasible set
        is a single point and no LP was solved) and
        ``info["status"]`` its model status per problem.
    """
    t0 = time.perf_counter()
    nb, nk = problem.n_problems, problem.n_resources
    alloc = np.zeros((nb, nk))
    lp_obj = np.full(nb, np.nan)
    status: list[str] = []
    c_max = np.full(nb, np.nan) if cost_max is None else np.asarray(cost_max, float)
    b_max = np.full(nb, np.nan) if balance_max is None else np.asarray(balance_max, float)
    h = None
    for b in range(nb):
        if problem.degenerate[b]:
            status.append("single point")
            continue
        if h is None:
            h = new_highs()
            h.setOptionValue("primal_feasibility_tolerance", 1e-10)
            h.setOptionValue("dual_feasibility_tolerance", 1e-10)
        lp, act = allocation_lp(problem, b, c_max[b], b_max[b])
        built = lp.build()
        pass_model(h, built)
        h.run()
        text = h.modelStatusToString(h.getModelStatus())
        status.append(text)
        if text != "Optimal":
            raise RuntimeError(f"allocation LP of problem {b} ended {text!r}")
        x = np.asarray(h.getSolution().col_value)
        alloc[b, act] = x[built.names["p"]]
        lp_obj[b] = h.getInfo().objective_function_value
    alloc = problem.repair(alloc)
    wall = time.perf_counter() - t0
    return AllocationResult(
        allocation=alloc, objective=problem.evaluate(alloc), unmet=problem.unmet.copy(),
        method="exact", wall_s=wall, info={"lp_objective": lp_obj, "status": status},
    )


def solve_exact_fast(problem: AllocationProblem) -> AllocationResult:
    """The exact optimum of every problem, by its closed form where it has one (``exact-fast``).

    Below the balance threshold (paper 001's balanced allocation: every fitness equal inside
    the bounds, :func:`vppsim.allocation.problem.balanced_closed_form`) the unique optimum is
    the equal-fitness allocation, computed over the whole batch as arrays; the problems above
    the threshold (some resource at its capacity) and weighted problems are solved by the
    LP of :func:`solve_exact` (HiGHS). The allocation is projected onto the feasible set like
    the LP's, so both are the same kind of point; ``info["closed_form"]`` marks the problems
    solved in closed form.
    """
    t0 = time.perf_counter()
    nb = problem.n_problems
    alloc = np.zeros((nb, problem.n_resources))
    closed = np.zeros(nb, dtype=bool)
    if not problem.weighted:
        with np.errstate(invalid="ignore", divide="ignore"):
            formula, below = balanced_closed_form(problem)
        closed = below & ~problem.degenerate
        alloc[closed] = formula[closed]
    rest = np.flatnonzero(~closed & ~problem.degenerate)
    if len(rest):
        alloc[rest] = solve_exact(problem.subset(rest)).allocation
    alloc = problem.repair(alloc)
    return AllocationResult(
        allocation=alloc, objective=problem.evaluate(alloc), unmet=problem.unmet.copy(),
        method="exact-fast", wall_s=time.perf_counter() - t0, info={"closed_form": closed},
    )
