"""The balanced allocation problem of paper 001, batched: ``B`` independent problems x ``K`` resources.

Paper 001 (GA-ACO balanced allocation) splits a required power ``D`` across wind, PV, storage
and controllable loads. Its model, as far as the text is legible:

- eq. 14, power balance: ``sum_k P_k = D``; eq. 15, strategy bounds: ``0 <= P_k <= P_k^max``;
  the paper assumes ``D`` never exceeds the total adjustable capacity.
- eq. 10, per-resource fitness ``f_k``, "determined by the resource's cost coefficient and its
  dispatchable power capacity": "higher costs for calling [a resource] result in larger
  adaptation coefficients". The formula itself did not survive the text extraction.
- eq. 11-13: the balanced allocation minimizes "the absolute difference between each
  individual's fitness function and the population's average fitness", i.e. the spread of
  ``f_k`` around ``f_bar = mean_k f_k``; at equilibrium all ``f_k`` are equal.

**Fitness form chosen** (eq. 10 is illegible)::

    f_k = c_k * P_k / cap_k ** beta                    (eq. 10, our reading)
    objective = sum_k |f_k - f_bar|,  f_bar = mean_k f_k  (eq. 12-13)

over the resources with ``cap_k > 0`` (zero-capacity resources are fixed at 0 and take no part
in the mean). With the default ``beta = 1`` the fitness is the call-cost coefficient times the
utilization ``P_k / cap_k``: it grows with both, as eq. 10's description requires, it is
dimensionless in the power unit (so kW and MW problems have the same objective), and it is
linear in ``P``, so the objective is an LP with the absolute values linearized and an exact
optimum is always available (:func:`vppsim.allocation.exact.solve_exact`). Every ``beta`` keeps
``f_k`` linear in ``P`` (``beta = 0`` gives the call cost ``c_k * P_k``, whose equilibrium shares
do not depend on capacity), so every form keeps its exact LP reference. When all ``f_k`` can be
equal inside the bounds the optimum is 0 with ``P_k`` proportional to ``cap_k**beta / c_k``:
costlier resources are called less, which is the "equilibrium" of eq. 12.

**Call cost and the weighted bi-objective** (paper 001's abstract names two objectives:
allocation balance and minimal call cost). The call cost is ``C(P) = sum_k c_k P_k`` (the
case's power unit times the relative coefficient) and the balance ``B(P) = sum_k |f_k - f_bar|``
above. A problem may carry a cost weight ``w`` in [0, 1] (one per problem) and a
:class:`Normalization`; its objective is then::

    J_w(P) = w * (C - C_ideal) / C_range + (1 - w) * (B - B_ideal) / B_range

With the ideal-nadir normalization of the Pareto sweep (:mod:`vppsim.allocation.pareto`:
``C_ideal`` the least call cost, ``C_range`` the call cost of the most balanced allocation
minus it, likewise for ``B``) both terms run from 0 to 1 along the front, so weights spread
the points over it. The default (``w = 0``, identity normalization) is the pure balance
objective ``B`` bit for bit.

**Closed form below the threshold.** All ``f_k`` are equal at ``P_k = lam / w_k``
(``w_k = c_k / cap_k**beta``, ``lam = D / sum_j 1 / w_j``), which is feasible iff
``lam <= w_k cap_k`` for every ``k``, i.e.
``D <= min_k (c_k cap_k**(1-beta)) * sum_j cap_j**beta / c_j`` (``min_k c_k * sum_j cap_j / c_j``
for ``beta = 1``). Below that threshold it is the unique allocation with ``B = 0``
(:func:`balanced_closed_form`); above it the pure-balance optimum is positive.

Demand handling: the allocation always sums to ``target = min(max(D, 0), sum_k cap_k)``;
demand above the total capacity is reported as ``unmet`` and never allocated (no
over-generation), and ``D <= 0`` allocates nothing.

Units: whatever the caller uses for ``cap`` and ``demand`` (kW in the co-simulation, MW in
the paper case); ``cost`` is a relative call-cost coefficient (only ratios matter to the
allocation, the objective scales with it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vppsim.optimizers.batched import sum_last


@dataclass(frozen=True)
class FitnessForm:
    """Parameters of the per-resource fitness ``f_k = c_k * P_k / cap_k**capacity_exponent``.

    Attributes
    ----------
    capacity_exponent
        ``beta``: 1 (default) is cost times utilization ``P_k / cap_k``; 0 is the call cost
        ``c_k * P_k``. Any value keeps ``f_k`` linear in ``P`` (LP-representable).
    """

    capacity_exponent: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.capacity_exponent):
            raise ValueError("FitnessForm.capacity_exponent: expected a finite number")


@dataclass(frozen=True)
class Normalization:
    """Offsets and ranges of the weighted objective ``J_w`` (see the module docstring).

    The default (ideals 0, ranges 1) leaves ``C`` and ``B`` as they are.
    """

    cost_ideal: float = 0.0
    cost_range: float = 1.0
    balance_ideal: float = 0.0
    balance_range: float = 1.0

    def __post_init__(self) -> None:
        for name in ("cost_ideal", "cost_range", "balance_ideal", "balance_range"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"Normalization.{name}: expected a finite number")
        if self.cost_range <= 0 or self.balance_range <= 0:
            raise ValueError("Normalization: expected cost_range > 0 and balance_range > 0")


def _power(cap: np.ndarray, beta: float) -> np.ndarray:
    """``cap ** beta`` element by element with Python floats (no SIMD path differences)."""
    if beta == 1.0:
        return cap.copy()
    if beta == 0.0:
        return np.ones_like(cap)
    flat = [math.pow(v, beta) if v > 0 else 0.0 for v in cap.ravel().tolist()]
    return np.asarray(flat, dtype=float).reshape(cap.shape)


class AllocationProblem:
    """``B`` independent balanced-allocation problems over ``K`` resources.

    Parameters
    ----------
    cap
        Adjustable capacity, shape ``(B, K)`` (or ``(K,)`` for one problem), ``>= 0``.
        Zero-capacity columns are fixed at 0 (use them to pad problems with fewer resources).
    cost
        Call-cost coefficients, same shape, ``> 0``.
    demand
        Required power ``D``, shape ``(B,)`` (or a scalar for one problem).
    fitness
        The fitness form (see the module docstring).
    repair_metric
        ``"fitness"`` (default) or ``"euclidean"``: the metric of the projection
        :meth:`repair` (see there).
    cost_weight
        ``w`` in [0, 1] per problem ``(B,)`` or one for all (default 0: balance only).
    normalization
        :class:`Normalization` of the weighted objective (default: none).

    Notes
    -----
    The feasible set of problem ``b`` is ``{P : sum_k P_k = target_b, 0 <= P_k <= cap_bk}``
    with ``target = min(max(D, 0), sum_k cap_k)``. All arrays are read-only. The class is a
    :class:`vppsim.optimizers.batched.BatchedProblem` (bounds ``lower = 0``, ``upper = cap``,
    the sum constraint ``target``, :meth:`evaluate`, :meth:`repair`, :meth:`subset`), so the
    batched metaheuristic GA-ACO solves it (:func:`vppsim.allocation.gaaco.solve_ga_aco`).
    """

    def __init__(self, cap: Any, cost: Any, demand: Any, fitness: FitnessForm | None = None,
                 repair_metric: str = "fitness", cost_weight: Any = 0.0,
                 normalization: Normalization | None = None) -> None:
        cap_a = np.asarray(cap, dtype=float)
        single = cap_a.ndim == 1
        cap_a = np.atleast_2d(cap_a)
        cost_a = np.atleast_2d(np.asarray(cost, dtype=float))
        dem_a = np.atleast_1d(np.asarray(demand, dtype=float))
        if cap_a.ndim != 2:
            raise ValueError(f"cap: expected shape (B, K), got {np.shape(cap)}")
        if cost_a.shape != cap_a.shape:
            raise ValueError(f"cost: expected shape {cap_a.shape} like cap, got {np.shape(cost)}")
        if dem_a.shape != (cap_a.shape[0],):
            raise ValueError(f"demand: expected shape ({cap_a.shape[0]},), got {np.shape(demand)}")
        if cap_a.shape[1] == 0:
            raise ValueError("cap: expected at least one resource")
        if not (np.all(np.isfinite(cap_a)) and np.all(cap_a >= 0)):
            raise ValueError("cap: expected finite capacities >= 0")
        if not (np.all(np.isfinite(cost_a)) and np.all(cost_a > 0)):
            raise ValueError("cost: expected finite call-cost coefficients > 0")
        if not np.all(np.isfinite(dem_a)):
            raise ValueError("demand: expected finite values")
        if repair_metric not in ("fitness", "euclidean"):
            raise ValueError(f"repair_metric: expected 'fitness' or 'euclidean', got {repair_metric!r}")
        w_a = np.broadcast_to(np.asarray(cost_weight, dtype=float), dem_a.shape).copy()
        if not (np.all(np.isfinite(w_a)) and np.all((w_a >= 0) & (w_a <= 1))):
            raise ValueError("cost_weight: expected numbers in [0, 1]")
        self.cost_weight = w_a
        self.normalization = normalization or Normalization()
        #: False: the objective is the balance ``B`` alone (the original problem)
        self.weighted = bool(np.any(w_a > 0)) or self.normalization != Normalization()
        self.repair_metric = repair_metric
        self.single = single
        self.fitness_form = fitness or FitnessForm()
        self.cap = cap_a
        self.cost = cost_a
        self.demand = dem_a
        self.active = cap_a > 0
        self.total = sum_last(cap_a)
        self.target = np.minimum(np.maximum(dem_a, 0.0), self.total)
        self.unmet = np.maximum(dem_a - self.total, 0.0)
        self.n_active = self.active.sum(axis=1)
        scale = _power(cap_a, self.fitness_form.capacity_exponent)
        self.weight = np.where(self.active, cost_a / np.where(self.active, scale, 1.0), 0.0)
        #: shift direction of the repair (1 / weight for the fitness metric)
        self.repair_direction = (
            np.where(self.active, 1.0 / np.where(self.active, self.weight, 1.0), 0.0)
            if repair_metric == "fitness" else self.active.astype(float)
        )
        self._inv_direction = np.where(
            self.active, 1.0 / np.where(self.active, self.repair_direction, 1.0), 0.0
        )
        #: True where the feasible set is one point (nothing to optimize)
        self.degenerate = (self.target <= 0) | (self.target >= self.total) | (self.n_active <= 1)
        self.lower = np.zeros_like(cap_a)
        for a in (self.cap, self.cost, self.demand, self.active, self.total, self.target, self.unmet,
                  self.n_active, self.weight, self.repair_direction, self._inv_direction,
                  self.degenerate, self.lower, self.cost_weight):
            a.setflags(write=False)

    # ------------------------------------------------------------------ shape helpers

    @property
    def n_problems(self) -> int:
        """``B``."""
        return self.cap.shape[0]

    @property
    def n_resources(self) -> int:
        """``K``."""
        return self.cap.shape[1]

    @property
    def n_var(self) -> int:
        """``K`` (the name of :class:`vppsim.optimizers.batched.BatchedProblem`)."""
        return self.cap.shape[1]

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds (the capacities), shape ``(B, K)``."""
        return self.cap

    def subset(self, index: int | Sequence[int] | np.ndarray) -> AllocationProblem:
        """The problems ``index`` (an int gives a batch of one)."""
        idx = np.atleast_1d(np.asarray(index))
        return AllocationProblem(self.cap[idx], self.cost[idx], self.demand[idx], self.fitness_form,
                                 self.repair_metric, self.cost_weight[idx], self.normalization)

    @staticmethod
    def stack(problems: Sequence[AllocationProblem], n_resources: int | None = None) -> AllocationProblem:
        """Concatenate batches, padding each with zero-capacity resources up to a common ``K``.

        Padding to a larger ``K`` can change a problem's GA-ACO path (the ACO's local
        pheromone update counts the padded genes; see :mod:`vppsim.optimizers.gaaco`).
        """
        if not problems:
            raise ValueError("stack: expected at least one problem")
        forms = {(p.fitness_form, p.repair_metric) for p in problems}
        norms = {p.normalization for p in problems}
        if len(forms) != 1 or len(norms) != 1:
            raise ValueError("stack: expected one fitness form, repair metric and normalization "
                             "for all problems")
        k = max(p.n_resources for p in problems) if n_resources is None else n_resources
        caps, costs = [], []
        for p in problems:
            if p.n_resources > k:
                raise ValueError(f"stack: a problem has {p.n_resources} > {k} resources")
            pad = k - p.n_resources
            caps.append(np.pad(p.cap, ((0, 0), (0, pad))))
            costs.append(np.pad(p.cost, ((0, 0), (0, pad)), constant_values=1.0))
        return AllocationProblem(
            np.vstack(caps), np.vstack(costs), np.concatenate([p.demand for p in problems]), *forms.pop(),
            cost_weight=np.concatenate([p.cost_weight for p in problems]), normalization=norms.pop(),
        )

    def _batched(self, p: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        """``p`` as ``(B, M, K)`` plus the original shape."""
        p = np.asarray(p, dtype=float)
        shape = p.shape
        if p.ndim < 2 or shape[0] != self.n_problems or shape[-1] != self.n_resources:
            raise ValueError(
                f"expected allocations shaped (B={self.n_problems}, ..., K={self.n_resources}), got {shape}"
            )
        return p.reshape(shape[0], -1, shape[-1]), shape

    # ------------------------------------------------------------------ objective

    def fitness(self, p: np.ndarray) -> np.ndarray:
        """Per-resource fitness ``f_k = c_k P_k / cap_k**beta`` (eq. 10, our reading); 0 where ``cap = 0``."""
        p3, shape = self._batched(p)
        return (p3 * self.weight[:, None, :]).reshape(shape)

    def evaluate(self, p: np.ndarray) -> np.ndarray:
        """Objective of allocations shaped ``(B, ..., K)``: :meth:`balance`, or ``J_w`` if weighted.

        Returns an array shaped ``(B, ...)``. The allocations are evaluated as given (call
        :meth:`repair` first for infeasible ones).
        """
        if not self.weighted:
            return self.balance(p)
        n = self.normalization
        bal = (self.balance(p) - n.balance_ideal) / n.balance_range
        cost = (self.call_cost(p) - n.cost_ideal) / n.cost_range
        w = self.cost_weight.reshape((-1,) + (1,) * (bal.ndim - 1))
        return w * cost + (1.0 - w) * bal

    def call_cost(self, p: np.ndarray) -> np.ndarray:
        """Call cost ``C = sum_k c_k P_k`` of allocations ``(B, ..., K)`` (power unit x coefficient)."""
        p3, shape = self._batched(p)
        return sum_last(np.where(self.active[:, None, :], p3 * self.cost[:, None, :], 0.0)
                        ).reshape(shape[:-1])

    def balance(self, p: np.ndarray) -> np.ndarray:
        """Balance ``B = sum_k |f_k - f_bar|`` (eq. 12-13) of allocations ``(B, ..., K)``."""
        p3, shape = self._batched(p)
        f = p3 * self.weight[:, None, :]
        mean = sum_last(f) / np.maximum(self.n_active, 1)[:, None]
        dev = np.where(self.active[:, None, :], np.abs(f - mean[..., None]), 0.0)
        return sum_last(dev).reshape(shape[:-1])

    def total_fitness(self, p: np.ndarray) -> np.ndarray:
        """``sum_k f_k``: the scale against which a spread is small (used for normalized gaps)."""
        p3, shape = self._batched(p)
        return sum_last(p3 * self.weight[:, None, :]).reshape(shape[:-1])

    # ------------------------------------------------------------------ feasibility

    def repair(self, p: np.ndarray) -> np.ndarray:
        """Project allocations ``(B, ..., K)`` onto ``{sum_k P_k = target, 0 <= P_k <= cap_k}``.

        The projection in the metric ``sum_k (P_k - x_k)**2 / d_k`` is
        ``P_k = clip(x_k - tau d_k, 0, cap_k)`` with the shift ``tau`` where the piecewise-linear,
        non-increasing ``g(tau) = sum_k clip(x_k - tau d_k, 0, cap_k)`` equals the target. ``g``
        changes slope only at the breakpoints ``(x_k - cap_k) / d_k`` and ``x_k / d_k``:
        evaluating it there brackets the root, and linear interpolation inside the bracket is
        exact up to round-off (the sum matches the target to about 1e-15 relative). Vectorized
        over problems and rows; no iteration.

        With ``repair_metric="euclidean"`` ``d_k = 1`` (the usual Euclidean projection). With
        ``"fitness"`` (default) ``d_k = 1 / w_k``: the shift lowers every resource's fitness
        ``f_k = w_k P_k`` by the same amount ``tau``, so the repair leaves the spread around the
        mean unchanged unless a bound is hit. This keeps the search landscape of the
        metaheuristics simple (a point is judged by its fitness differences, not by how far its
        sum was from the target); both metrics give exactly feasible points.
        """
        x, shape = self._batched(p)
        nb, m, nk = x.shape
        r = nb * m
        # work in a (K, rows) layout: reductions over the first axis are fast in numpy
        full_shape = (nb, m, nk)
        act = np.broadcast_to(self.active[:, None, :], full_shape).reshape(r, nk).T
        cap = np.broadcast_to(self.cap[:, None, :], full_shape).reshape(r, nk).T
        d = np.broadcast_to(self.repair_direction[:, None, :], full_shape).reshape(r, nk).T
        inv = np.broadcast_to(self._inv_direction[:, None, :], full_shape).reshape(r, nk).T
        xt = x.reshape(r, nk).T * act
        # breakpoints (2K, rows); those of zero-capacity resources sit at -1e300 (never bracket)
        off = (act - 1.0) * 1e300
        bp = np.concatenate([(xt - cap) * inv + off, xt * inv + off], axis=0)
        g = np.zeros_like(bp)
        tmp = np.empty_like(bp)
        for k in range(nk):
            np.multiply(bp, d[k], out=tmp)
            np.subtract(xt[k], tmp, out=tmp)
            np.maximum(tmp, 0.0, out=tmp)
            np.minimum(tmp, cap[k], out=tmp)
            g += tmp
        tt = np.repeat(self.target, m)
        # bracket [t_lo, t_hi] of the root: masks as large penalties (np.where is slow on random masks)
        not_ge = (g < tt) * 1e307
        not_le = (g > tt) * 1e307
        t_lo = np.max(bp - not_ge, axis=0)
        g_lo = np.min(g + not_ge, axis=0)
        t_hi = np.min(bp + not_le, axis=0)
        g_hi = np.max(g - not_le, axis=0)
        span = g_lo - g_hi
        pos = span > 0
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            tau = t_lo + pos * ((g_lo - tt) * ((t_hi - t_lo) / (span + ~pos)))
        out = np.minimum(np.maximum(xt - tau * d, 0.0), cap).T.reshape(nb, m, nk)
        full = (self.target >= self.total)[:, None, None]
        empty = (self.target <= 0)[:, None, None]
        out = np.where(full, self.cap[:, None, :], out)
        out = np.where(empty, 0.0, out)
        return out.reshape(shape)

    def violation(self, p: np.ndarray) -> np.ndarray:
        """Largest constraint violation of allocations ``(B, ..., K)``: balance, bounds, zero-capacity."""
        p3, shape = self._batched(p)
        bal = np.abs(sum_last(p3) - self.target[:, None])
        low = np.max(np.maximum(-p3, 0.0), axis=-1)
        high = np.max(np.maximum(p3 - self.cap[:, None, :], 0.0), axis=-1)
        return np.maximum(np.maximum(bal, low), high).reshape(shape[:-1])

    def feasible(self, p: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """True where the allocation meets every constraint to ``tol * max(1, sum cap)``."""
        v = self.violation(p)
        scale = np.maximum(1.0, self.total).reshape((-1,) + (1,) * (v.ndim - 1))
        return v <= tol * scale


def feasibility(problem: AllocationProblem, p: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Boolean feasibility of allocations ``(B, ..., K)`` (see :meth:`AllocationProblem.feasible`)."""
    return problem.feasible(p, tol)


@dataclass
class AllocationResult:
    """What an allocator returns.

    Attributes
    ----------
    allocation
        ``(B, K)``, each row feasible (sums to the target, within bounds).
    objective
        ``(B,)`` spread of the fitness (:meth:`AllocationProblem.evaluate`).
    unmet
        ``(B,)`` demand above total capacity (never allocated).
    method
        ``"ga-aco"``, ``"exact"`` or ``"proportional"``.
    wall_s
        Wall time of the whole call (all problems together).
    history
        ``(B, 1 + iterations)`` best objective after the initial population and after every
        GA generation and ACO iteration (padded with the final value after a problem stops);
        None for non-iterative methods.
    iterations
        ``(B,)`` generations + iterations actually run per problem (None if not iterative).
    """

    allocation: np.ndarray
    objective: np.ndarray
    unmet: np.ndarray
    method: str
    wall_s: float
    history: np.ndarray | None = None
    iterations: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def proportional(problem: AllocationProblem) -> AllocationResult:
    """Baseline: ``P_k = target * cap_k / sum_k cap_k`` (every resource at the same utilization)."""
    t0 = time.perf_counter()
    share = problem.cap / np.where(problem.total > 0, problem.total, 1.0)[:, None]
    p = problem.target[:, None] * share
    p = problem.repair(p)  # removes the last ulp of round-off from the sum
    wall = time.perf_counter() - t0
    return AllocationResult(
        allocation=p, objective=problem.evaluate(p), unmet=problem.unmet.copy(),
        method="proportional", wall_s=wall,
    )


def balance_threshold(problem: AllocationProblem) -> np.ndarray:
    """Largest demand ``(B,)`` whose pure-balance optimum is 0 (every ``f_k`` equal inside the bounds).

    ``min_k (w_k cap_k) * sum_j 1 / w_j`` over the active resources (``w_k = c_k / cap_k**beta``),
    i.e. ``min_k c_k * sum_j cap_j / c_j`` for ``beta = 1``.
    """
    act = problem.active
    safe_w = np.where(act, problem.weight, 1.0)
    inv = sum_last(np.where(act, 1.0 / safe_w, 0.0))
    lam_max = np.min(np.where(act, safe_w * problem.cap, np.inf), axis=1)
    return lam_max * inv


def balanced_closed_form(problem: AllocationProblem) -> tuple[np.ndarray, np.ndarray]:
    """Equal-fitness allocation ``P_k = target * (1 / w_k) / sum_j (1 / w_j)`` and where it is optimal.

    Returns ``(allocation (B, K), below (B,))``: ``below[b]`` is True where the target is at
    most :func:`balance_threshold` (then the allocation is feasible, its balance is 0 and it
    is the pure-balance optimum, the unique one). Above the threshold the formula is returned
    as it is (some ``P_k > cap_k``: not feasible) so that callers can see it fail.
    """
    act = problem.active
    share = np.where(act, 1.0 / np.where(act, problem.weight, 1.0), 0.0)
    alloc = problem.target[:, None] * share / sum_last(share)[:, None]
    below = problem.target <= balance_threshold(problem) * (1.0 + 1e-12)
    return alloc, below
