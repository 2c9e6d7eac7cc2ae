"""Paper 001's two objectives, call cost and balance, as a Pareto front (exact LPs and GA-ACO).

Paper 001 states two objectives: balance of the allocation and minimal call cost. With the call
cost ``C(P) = sum_k c_k P_k`` and the balance ``B(P) = sum_k |f_k - f_bar|``
(:mod:`vppsim.allocation.problem`) this module builds, for one demand of a case:

1. the two lexicographic end points: least call cost, then least balance among those (ties are
   common: resources with one coefficient cost the same per MW); least balance, then least call
   cost (below the threshold this is the closed form, :func:`balanced_closed_form`);
2. the ideal-nadir :class:`~vppsim.allocation.problem.Normalization` from them, so that both
   normalized objectives run from 0 (ideal) to 1 (the other end point) along the front;
3. the exact weighted-sum optimum of ``J_w = w C_n + (1 - w) B_n`` at ``points`` weights evenly
   spaced in [0, 1] (one batched HiGHS call; ``w = 0`` and ``w = 1`` are the lexicographic ends);
4. epsilon-constraint LPs (``min B s.t. C <= eps``, or ``min C s.t. B <= eps`` where the front
   is steep) wherever two neighbouring front points are further apart than ``1 / (points - 1)``
   in either normalized objective: the front of an LP is piecewise linear, so the weighted sum
   only finds its few vertices, and the epsilon points fill the edges between them evenly;
5. GA-ACO on the same weighted problems (one batched call), with each point's gap to the exact
   weighted-sum optimum at its weight;
6. the paper's published split, if the case has one for this demand, placed against the front.

Gaps: ``gap_pct = 100 (J_ga - J_exact) / J_exact`` (per cent of the weighted objective at the
exact optimum; undefined, NaN, where that is 0, which happens at the end weights when the ideal
is attained) and ``gap_range_pct = 100 (J_ga - J_exact)`` (per cent of the normalized range,
always defined). ``front_distance_pct``: the Euclidean distance of a GA-ACO point from the exact
front (the polyline through the exact front points, sorted by call cost), in the normalized
objectives, per cent of the normalized range. Near a breakpoint of the front two vertices have
almost equal ``J_w``; a GA-ACO point on the "wrong" vertex has a weighted-sum gap but lies on
the front (distance 0). At the end weights (0 and 1) one objective has no weight, so GA-ACO's
optimum of ``J_w`` may be weakly dominated (any least-cost split is optimal at ``w = 1``): the
distance is NaN there and the weighted-sum gap is the measure.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from vppsim.allocation.exact import solve_exact
from vppsim.allocation.gaaco import solve_ga_aco
from vppsim.allocation.problem import (
    AllocationProblem,
    Normalization,
    balance_threshold,
    balanced_closed_form,
)
from vppsim.allocation.scenario import AllocationCase
from vppsim.optimizers.gaaco import GaAcoSettings
from vppsim.optimizers.pareto import non_dominated_mask, polyline_distance

#: relative tolerance of the lexicographic second stages and of "equal" front points
FRONT_TOL = 1e-9
#: a normalized weighted objective below this is 0 (the end points meet the ideal to FRONT_TOL)
ZERO_OBJECTIVE = 1e-6
#: weights of the dense sweep that finds the weight nearest to the paper's split
DENSE_WEIGHTS = 201
#: GA-ACO settings of the front: a larger colony that shrinks its step more slowly than the
#: real-time default. The weighted optima sit on vertices (resources at 0 or at capacity) and
#: the default colony stalls beside them: at 55 MW, 11 weights, 8 seeds its worst gap was
#: 1.6 % of the normalized range; with these, 2.9e-4 % (relative to the weighted objective
#: 2.1e-3 %) over 14 seeds, about 75 ms per point (benchmarks/allocation_benchmark.py).
PARETO_SETTINGS = GaAcoSettings(ants=30, archive=30, step_shrink=0.8, iterations=200)


@dataclass(frozen=True)
class FrontPoints:
    """Allocations with both objectives; ``source`` says how each point was found."""

    source: list[str]
    weight: np.ndarray  # (N,), NaN for epsilon-constraint points
    call_cost: np.ndarray  # (N,)
    balance: np.ndarray  # (N,)
    allocation: np.ndarray  # (N, K)

    def __len__(self) -> int:
        return len(self.source)


@dataclass(frozen=True)
class GaAcoPoints:
    """GA-ACO at the sweep weights, with the exact weighted-sum optimum at each weight."""

    points: FrontPoints
    objective: np.ndarray  # J_w of GA-ACO's allocation
    exact_objective: np.ndarray  # J_w at the exact weighted-sum optimum
    gap_pct: np.ndarray  # % of the exact J_w (NaN where it is 0)
    gap_range_pct: np.ndarray  # % of the normalized range
    front_distance_pct: np.ndarray  # distance from the exact front, % of the normalized range
    time_ms: float  # wall time per point (one batched call for all weights)


@dataclass(frozen=True)
class PaperPoint:
    """The paper's split against the front."""

    allocation: np.ndarray  # (K,)
    call_cost: float
    balance: float
    dominated: bool
    front_balance_at_cost: float  # least balance with call cost <= the paper's
    front_cost_at_balance: float  # least call cost with balance <= the paper's
    nearest_weight: float  # weight whose exact optimum is nearest (Euclidean, case unit)
    nearest_weights: tuple[float, float]  # every scanned weight in this range gives that optimum
    nearest_weight_distance: float
    nearest_weight_allocation: np.ndarray
    nearest_front_distance: float  # nearest point of the reported front (any source)
    reproduced: bool  # nearest distance <= FRONT_TOL * demand


@dataclass(frozen=True)
class ParetoFront:
    """Everything ``vppsim allocate --pareto`` reports for one demand."""

    case: AllocationCase
    demand: float
    problem: AllocationProblem  # the plain problem (one row)
    normalization: Normalization
    threshold: float  # demand below which the pure-balance optimum is 0
    weights: np.ndarray  # the sweep weights
    sweep: FrontPoints  # exact weighted-sum optimum per sweep weight (ends lexicographic)
    front: FrontPoints  # non-dominated exact points, sorted by call cost
    gaaco: GaAcoPoints
    paper: PaperPoint | None
    lp_time_ms: float

    @property
    def single_point(self) -> bool:
        """True where the two end points coincide (no trade-off at this demand)."""
        return len(self.front) == 1


def _tiled(base: AllocationProblem, n: int, weight: np.ndarray | float = 0.0,
           norm: Normalization | None = None) -> AllocationProblem:
    """``n`` copies of the one-row problem ``base`` with per-row cost weights."""
    return AllocationProblem(np.tile(base.cap, (n, 1)), np.tile(base.cost, (n, 1)),
                             np.repeat(base.demand, n), base.fitness_form, base.repair_metric,
                             cost_weight=weight, normalization=norm)


def _points(source: list[str], weight: np.ndarray, base: AllocationProblem,
            alloc: np.ndarray) -> FrontPoints:
    tiled = _tiled(base, len(alloc))
    return FrontPoints(list(source), np.asarray(weight, float), tiled.call_cost(alloc),
                       tiled.balance(alloc), alloc)


def end_points(base: AllocationProblem) -> tuple[FrontPoints, float, float]:
    """The lexicographic end points [least cost then balance, least balance then cost].

    Also returns the least call cost and the least balance (the first stages' optima, the
    ideal point; the end points meet them to the second stages' tolerance ``FRONT_TOL``).
    """
    min_cost = solve_exact(_tiled(base, 1, 1.0)).allocation
    c_min = float(base.call_cost(min_cost)[0])
    cheap = solve_exact(base, cost_max=[c_min + FRONT_TOL * max(1.0, c_min)]).allocation
    b_nad = float(base.balance(cheap)[0])
    closed, below = balanced_closed_form(base)
    if below[0]:
        fair = base.repair(closed)
        b_min = float(base.balance(fair)[0])
    else:
        b_min = float(solve_exact(base).objective[0])
        fair = solve_exact(_tiled(base, 1, 1.0),
                           balance_max=[b_min + FRONT_TOL * max(1.0, b_nad)]).allocation
    ends = _points(["least cost", "least balance"], np.array([1.0, 0.0]), base,
                   np.vstack([cheap, fair]))
    return ends, c_min, b_min


def normalization_from(ends: FrontPoints, c_ideal: float, b_ideal: float) -> Normalization:
    """Ideal-nadir normalization: the ideal 0 and the other end point 1 in each objective."""
    c_range = float(ends.call_cost[1]) - c_ideal
    b_range = float(ends.balance[0]) - b_ideal
    tiny = FRONT_TOL * max(1.0, abs(c_ideal))
    return Normalization(c_ideal, c_range if c_range > tiny else 1.0,
                         b_ideal, b_range if b_range > FRONT_TOL else 1.0)


def weighted_sweep(base: AllocationProblem, weights: np.ndarray, ends: FrontPoints,
                   norm: Normalization) -> FrontPoints:
    """Exact weighted-sum optimum at each weight; ``w = 1`` and ``w = 0`` are the lexicographic ends."""
    weights = np.asarray(weights, float)
    alloc = np.zeros((len(weights), base.n_resources))
    inner = (weights > 0) & (weights < 1)
    if inner.any():
        alloc[inner] = solve_exact(_tiled(base, int(inner.sum()), weights[inner], norm)).allocation
    alloc[weights >= 1] = ends.allocation[0]
    alloc[weights <= 0] = ends.allocation[1]
    source = ["weighted sum" if i else ("least cost" if w >= 1 else "least balance")
              for w, i in zip(weights, inner, strict=True)]
    return _points(source, weights, base, alloc)


def _normalized(pts: FrontPoints, norm: Normalization) -> tuple[np.ndarray, np.ndarray]:
    return ((pts.call_cost - norm.cost_ideal) / norm.cost_range,
            (pts.balance - norm.balance_ideal) / norm.balance_range)


def non_dominated(cost: np.ndarray, balance: np.ndarray, tol: float = FRONT_TOL) -> np.ndarray:
    """Mask of the points no other point dominates (both objectives minimized, ``tol`` absolute)."""
    return non_dominated_mask(np.column_stack([cost, balance]), tol)


def _merge(parts: list[FrontPoints], norm: Normalization) -> FrontPoints:
    """Concatenate, drop duplicates (equal within the tolerance) and dominated points, sort by cost."""
    src = [s for p in parts for s in p.source]
    pts = FrontPoints(src, np.concatenate([p.weight for p in parts]),
                      np.concatenate([p.call_cost for p in parts]),
                      np.concatenate([p.balance for p in parts]),
                      np.vstack([p.allocation for p in parts]))
    cn, bn = _normalized(pts, norm)
    keep: list[int] = []  # the first of equal points wins (the end points come first)
    for i in range(len(src)):
        if all(abs(cn[i] - cn[j]) > 1e-7 or abs(bn[i] - bn[j]) > 1e-7 for j in keep):
            keep.append(i)
    idx = np.array(keep, dtype=int)
    idx = idx[non_dominated(cn[idx], bn[idx])]
    idx = idx[np.lexsort((bn[idx], cn[idx]))]
    return FrontPoints([pts.source[i] for i in idx], pts.weight[idx], pts.call_cost[idx],
                       pts.balance[idx], pts.allocation[idx])


def fill_gaps(base: AllocationProblem, front: FrontPoints, norm: Normalization,
              points: int) -> FrontPoints:
    """Epsilon-constraint points wherever neighbours are more than ``1 / (points - 1)`` apart."""
    cn, bn = _normalized(front, norm)
    step = 1.0 / max(points - 1, 1)
    c_eps: list[float] = []
    b_eps: list[float] = []
    for i in range(len(front) - 1):
        dc, db = cn[i + 1] - cn[i], bn[i] - bn[i + 1]
        n_new = math.ceil(max(dc, db) / step - 1e-9) - 1
        fr = np.arange(1, n_new + 1) / (n_new + 1)
        if dc >= db:
            c_eps += list(front.call_cost[i] + fr * (front.call_cost[i + 1] - front.call_cost[i]))
        else:
            b_eps += list(front.balance[i] + fr * (front.balance[i + 1] - front.balance[i]))
    parts = [front]
    if c_eps:
        alloc = solve_exact(_tiled(base, len(c_eps)), cost_max=np.array(c_eps)).allocation
        parts.append(_points(["epsilon (cost)"] * len(c_eps), np.full(len(c_eps), np.nan), base, alloc))
    if b_eps:
        alloc = solve_exact(_tiled(base, len(b_eps), 1.0), balance_max=np.array(b_eps)).allocation
        parts.append(_points(["epsilon (balance)"] * len(b_eps), np.full(len(b_eps), np.nan), base,
                             alloc))
    return _merge(parts, norm)


def front_distance(cost_n: np.ndarray, balance_n: np.ndarray, front_cost_n: np.ndarray,
                   front_balance_n: np.ndarray) -> np.ndarray:
    """Euclidean distance of points from the polyline through front points (normalized units).

    The front points must be sorted by cost; a single front point is a polyline of length 0.
    """
    return polyline_distance(np.column_stack([cost_n, balance_n]),
                             np.column_stack([front_cost_n, front_balance_n]))


def gaaco_points(base: AllocationProblem, sweep: FrontPoints, norm: Normalization, seed: int,
                 settings: GaAcoSettings | None = None,
                 front: FrontPoints | None = None) -> GaAcoPoints:
    """GA-ACO at the sweep's weights (one batched call; problem ``i`` seeded ``seed + i``).

    ``settings`` default to :data:`PARETO_SETTINGS`; the distance from the exact front is measured
    against ``front`` (default: the sweep's own points).
    """
    n = len(sweep)
    problem = _tiled(base, n, sweep.weight, norm)
    t0 = time.perf_counter()
    res = solve_ga_aco(problem, np.arange(n, dtype=np.uint64) + np.uint64(seed),
                       settings or PARETO_SETTINGS)
    wall = time.perf_counter() - t0
    j_ga = problem.evaluate(res.allocation)
    j_ex = problem.evaluate(sweep.allocation)
    diff = j_ga - j_ex
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(j_ex > ZERO_OBJECTIVE,
                       100.0 * diff / np.where(j_ex > ZERO_OBJECTIVE, j_ex, 1.0), np.nan)
    pts = _points(["ga-aco"] * n, sweep.weight, base, res.allocation)
    ref = _merge([front if front is not None else sweep], norm)
    dist = front_distance(*_normalized(pts, norm), *_normalized(ref, norm))
    dist[(sweep.weight <= 0.0) | (sweep.weight >= 1.0)] = np.nan
    return GaAcoPoints(pts, j_ga, j_ex, rel, 100.0 * diff, 100.0 * dist, wall * 1e3 / n)


def paper_point(base: AllocationProblem, paper: np.ndarray, front: FrontPoints,
                dense: FrontPoints) -> PaperPoint:
    """Place the paper's split against the front (exact LPs at its cost and its balance)."""
    one = paper[None, :]
    c_p, b_p = float(base.call_cost(one)[0]), float(base.balance(one)[0])
    at_cost = solve_exact(base, cost_max=[c_p]).allocation
    at_bal = solve_exact(_tiled(base, 1, 1.0), balance_max=[b_p]).allocation
    b_star, c_star = float(base.balance(at_cost)[0]), float(base.call_cost(at_bal)[0])
    tol = FRONT_TOL * max(1.0, c_p, b_p)
    dist = np.linalg.norm(dense.allocation - paper[None, :], axis=1)
    i = int(np.argmin(dist))
    same = np.flatnonzero(dist <= dist[i] + FRONT_TOL * max(1.0, float(base.target[0])) * 10)
    w_range = (float(dense.weight[same].min()), float(dense.weight[same].max()))
    front_dist = float(np.min(np.linalg.norm(front.allocation - paper[None, :], axis=1)))
    near = min(float(dist[i]), front_dist)
    return PaperPoint(paper, c_p, b_p, bool(b_star < b_p - tol or c_star < c_p - tol), b_star, c_star,
                      float(dense.weight[i]), w_range, float(dist[i]), dense.allocation[i], front_dist,
                      near <= FRONT_TOL * max(1.0, float(base.target[0])))


def pareto_front(case: AllocationCase, demand: float, points: int = 11, seed: int = 0,
                 settings: GaAcoSettings | None = None) -> ParetoFront:
    """The call-cost / balance front of ``case`` at ``demand`` (see the module docstring)."""
    if points < 2:
        raise ValueError(f"points: expected an integer >= 2, got {points}")
    base = case.problem([demand])
    t0 = time.perf_counter()
    ends, c_min, b_min = end_points(base)
    norm = normalization_from(ends, c_min, b_min)
    weights = np.linspace(0.0, 1.0, points)
    sweep = weighted_sweep(base, weights, ends, norm)
    front = fill_gaps(base, _merge([ends, sweep], norm), norm, points)
    lp_ms = (time.perf_counter() - t0) * 1e3
    paper = case.paper(demand)
    pp = None
    if paper is not None and not np.any(np.isnan(paper)):
        dense = weighted_sweep(base, np.linspace(0.0, 1.0, DENSE_WEIGHTS), ends, norm)
        pp = paper_point(base, paper, front, dense)
    return ParetoFront(case, float(demand), base, norm, float(balance_threshold(base)[0]), weights,
                       sweep, front, gaaco_points(base, sweep, norm, seed, settings, front), pp, lp_ms)
