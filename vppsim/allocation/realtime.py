"""Real-time balancing: how a VPP re-allocates its members when the realization differs.

An allocator takes a batch of :class:`BalanceInputs` (per VPP and step: what the day-ahead
plan said and what is physically possible now) with one integer key per problem (the seed of
a stochastic allocator) and returns one :class:`BalanceOutcome` per problem that balances the
VPP exactly: ``wind + pv + battery + gen + net_buy + load_curtail + unmet - spill = demand``.
Allocators are looked up by name (the scenario's ``balancing.allocator``):

- ``merit-order``: a fixed order of means (:func:`merit_order`);
- ``ga-aco`` / ``exact`` / ``exact-fast`` / ``proportional``: the balanced allocation of paper
  001 (:class:`BalancedAllocator`): the power the plan no longer covers is split across the
  members' headroom by GA-ACO, by the exact LP (HiGHS), by the exact optimum in closed form
  below the balance threshold (the LP above it) or in proportion to headroom.

Allocators are instances of plain module-level classes (:data:`ALLOCATORS`), so they pickle
and travel to Dask workers.

A batch holds independent problems (different VPPs, or the same VPP in different Monte Carlo
samples); each problem's outcome depends only on its inputs and its key, never on the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vppsim.allocation.exact import solve_exact, solve_exact_fast
from vppsim.allocation.gaaco import solve_ga_aco
from vppsim.allocation.problem import AllocationProblem, AllocationResult, proportional


@dataclass(frozen=True)
class BalanceInputs:
    """One VPP at one step. Battery power is discharge-positive; ``net_buy`` = buy - sell."""

    dt_h: float
    wind_available_kw: np.ndarray
    pv_available_kw: np.ndarray
    wind_planned_curtail_kw: float
    pv_planned_curtail_kw: float
    mu_wind: float
    mu_pv: float
    demand_kw: np.ndarray
    battery_planned_kw: np.ndarray
    battery_min_kw: np.ndarray
    battery_max_kw: np.ndarray
    gen_planned_kw: np.ndarray
    gen_limits_kw: np.ndarray  # [n, 2]: lowest, highest reachable output
    gen_marginal_cny_per_kwh: np.ndarray
    curtailable_kw: np.ndarray
    load_curtail_planned_kw: np.ndarray
    curtail_cost_cny_per_kwh: np.ndarray
    net_buy_planned_kw: float
    buy_max_kw: float
    sell_max_kw: float
    unmet_planned_kw: float = 0.0  # demand the day-ahead plan leaves unserved at this step
    spill_planned_kw: float = 0.0  # output the day-ahead plan spills at this step
    battery_cost_cny_per_kwh: float = 0.0  # wear + environmental cost of battery throughput


@dataclass(frozen=True)
class BalanceOutcome:
    """The realized set-points of one VPP at one step."""

    wind_kw: np.ndarray
    pv_kw: np.ndarray
    battery_kw: np.ndarray
    gen_kw: np.ndarray
    load_curtail_kw: np.ndarray
    net_buy_kw: float
    unmet_kw: float
    spill_kw: float
    #: what the allocator reports about this problem (``allocation_*`` fields, see
    #: :data:`ALLOCATION_FIELDS`); merit-order reports the re-allocated power only
    info: dict[str, float] = field(default_factory=dict)


#: per-problem report of the allocators, in the time series of every VPP and step:
#: the power the plan no longer covers (+ deficit, - surplus), the members' headroom in that
#: direction, the spread of the fitness f_k = c_k P_k / cap_k (paper 001 eq. 10-13; 0 =
#: balanced; CNY/kWh like c_k), the LP optimum of the same problem (NaN if not computed), the
#: gap objective - exact (the LP is a lower bound), the allocator's wall time per problem
ALLOCATION_FIELDS: tuple[str, ...] = (
    "allocation_required_kw",
    "allocation_headroom_kw",
    "allocation_objective_cny_per_kwh",
    "allocation_exact_objective_cny_per_kwh",
    "allocation_gap_cny_per_kwh",
    "allocation_solve_ms",
)


def _take(amount: float, room: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, float]:
    """Take up to ``amount`` from ``room`` (non-negative) in ``order``; returns (taken, rest)."""
    taken = np.zeros_like(room)
    for i in order:
        if amount <= 0.0:
            break
        x = min(amount, max(float(room[i]), 0.0))
        taken[i] = x
        amount -= x
    return taken, amount


def _scale_curtailment(avail: np.ndarray, curtail_kw: float) -> np.ndarray:
    """Output of units sharing a curtailment ``curtail_kw`` in proportion to their availability."""
    total = float(avail.sum())
    if total <= 0.0:
        return np.zeros_like(avail)
    return avail * (1.0 - min(max(curtail_kw, 0.0), total) / total)


def merit_order(x: BalanceInputs) -> BalanceOutcome:
    """Balance by a fixed order of means, starting from the plan.

    Start: renewables at availability minus the planned curtailment, batteries, generators
    and load curtailment at their planned set-points (clipped to what is possible now),
    exchange as committed, unmet demand and spill as planned. A deficit is then met by
    dropping planned spill, releasing planned curtailment, more battery discharge, generator
    headroom (cheapest first), controllable-load curtailment (cheapest first), extra purchase
    from the VPO (an imbalance), and finally unmet demand. A surplus is absorbed by serving
    planned-unmet demand, battery charging, generator reduction (dearest first), restoring
    curtailed load, extra sale to the VPO (an imbalance), renewable curtailment (cheapest
    curtailment first), and finally spill. With no forecast error the plan is reproduced.
    """
    wind_avail, pv_avail = x.wind_available_kw, x.pv_available_kw
    st = _start(x)
    w_cur, p_cur, bat, gen, lc = st.w_cur, st.p_cur, st.bat, st.gen, st.lc
    gen_lo, gen_hi, net, unmet, spill = st.gen_lo, st.gen_hi, st.net, st.unmet, st.spill
    residual = st.residual
    curt_order = [("w", x.mu_wind), ("p", x.mu_pv)]
    if residual > 0.0:  # deficit
        d = min(residual, spill)  # 0. stop spilling what the plan spilled
        spill -= d
        residual -= d
        # 1. release planned renewable curtailment (dearest curtailment released first)
        for tech, _ in sorted(curt_order, key=lambda c: -c[1]):
            if tech == "w":
                d = min(residual, w_cur)
                w_cur -= d
            else:
                d = min(residual, p_cur)
                p_cur -= d
            residual -= d
        add, residual = _take(residual, x.battery_max_kw - bat, np.arange(len(bat)))
        bat = bat + add
        add, residual = _take(residual, gen_hi - gen, np.argsort(x.gen_marginal_cny_per_kwh,
                                                                  kind="stable"))
        gen = gen + add
        add, residual = _take(residual, x.curtailable_kw - lc,
                              np.argsort(x.curtail_cost_cny_per_kwh, kind="stable"))
        lc = lc + add
        d = min(residual, x.buy_max_kw - net)
        net += d
        residual -= d
        unmet += max(residual, 0.0)
    elif residual < 0.0:  # surplus
        surplus = -residual
        d = min(surplus, unmet)  # 0. serve demand the plan left unmet
        unmet -= d
        surplus -= d
        cut, surplus = _take(surplus, bat - x.battery_min_kw, np.arange(len(bat)))
        bat = bat - cut
        cut, surplus = _take(surplus, gen - gen_lo,
                             np.argsort(-x.gen_marginal_cny_per_kwh, kind="stable"))
        gen = gen - cut
        cut, surplus = _take(surplus, lc, np.argsort(-x.curtail_cost_cny_per_kwh, kind="stable"))
        lc = lc - cut
        d = min(surplus, net + x.sell_max_kw)
        net -= d
        surplus -= d
        for tech, _ in sorted(curt_order, key=lambda c: c[1]):
            if tech == "w":
                d = min(surplus, float(wind_avail.sum()) - w_cur)
                w_cur += d
            else:
                d = min(surplus, float(pv_avail.sum()) - p_cur)
                p_cur += d
            surplus -= d
        spill += max(surplus, 0.0)
    return BalanceOutcome(
        wind_kw=_scale_curtailment(wind_avail, w_cur),
        pv_kw=_scale_curtailment(pv_avail, p_cur),
        battery_kw=bat,
        gen_kw=gen,
        load_curtail_kw=lc,
        net_buy_kw=net,
        unmet_kw=unmet,
        spill_kw=spill,
    )


@dataclass
class _Start:
    """The plan clipped to what is possible now, and the power it no longer covers."""

    w_cur: float
    p_cur: float
    bat: np.ndarray
    gen: np.ndarray
    gen_lo: np.ndarray
    gen_hi: np.ndarray
    lc: np.ndarray
    net: float
    unmet: float
    spill: float
    residual: float  # demand - supply at the plan: > 0 deficit, < 0 surplus


def _start(x: BalanceInputs) -> _Start:
    """Starting point of every allocator: the plan clipped to what is possible now."""
    wind_avail, pv_avail = x.wind_available_kw, x.pv_available_kw
    w_cur = min(x.wind_planned_curtail_kw, float(wind_avail.sum()))
    p_cur = min(x.pv_planned_curtail_kw, float(pv_avail.sum()))
    # set-points below 1e-6 kW are LP round-off, not a plan: treat them as idle
    planned = np.where(np.abs(x.battery_planned_kw) < 1e-6, 0.0, x.battery_planned_kw)
    bat = np.clip(planned, x.battery_min_kw, x.battery_max_kw)
    gen_lo, gen_hi = (x.gen_limits_kw[:, 0], x.gen_limits_kw[:, 1]) if len(x.gen_limits_kw) else (
        np.zeros(0), np.zeros(0))
    gen = np.clip(x.gen_planned_kw, gen_lo, gen_hi)
    lc = np.minimum(x.load_curtail_planned_kw, x.curtailable_kw)
    net = float(np.clip(x.net_buy_planned_kw, -x.sell_max_kw, x.buy_max_kw))
    unmet = min(max(x.unmet_planned_kw, 0.0), float(x.demand_kw.sum()))
    spill = max(x.spill_planned_kw, 0.0)
    supply = (float(wind_avail.sum()) - w_cur + float(pv_avail.sum()) - p_cur + float(bat.sum())
              + float(gen.sum()) + net + float(lc.sum()) + unmet - spill)
    return _Start(w_cur, p_cur, bat, gen, gen_lo, gen_hi, lc, net, unmet, spill,
                  float(x.demand_kw.sum()) - supply)


#: call-cost coefficients below this (CNY/kWh) are raised to it: the balanced fitness needs c > 0
MIN_CALL_COST_CNY_PER_KWH = 1e-3


def _headroom(x: BalanceInputs, st: _Start, deficit: bool) -> tuple[np.ndarray, np.ndarray]:
    """Members' headroom (kW) and call-cost coefficients (CNY/kWh).

    Resource order: ``[wind, pv, batteries..., generators..., controllable loads...]``.

    Deficit (more supply needed): release planned wind/PV curtailment, more battery discharge,
    generator headroom, more load curtailment. Surplus: curtail wind/PV further, charge more
    or discharge less, lower generators, restore curtailed load. Call-cost coefficients: the
    curtailment penalties mu1/mu2 for wind/PV, the battery throughput cost (lam1 + W_bat), the
    generators' marginal cost, the loads' curtailment cost (paper 004's cost terms).
    """
    wind_avail = float(x.wind_available_kw.sum())
    pv_avail = float(x.pv_available_kw.sum())
    if deficit:
        cap = np.concatenate([[st.w_cur, st.p_cur], x.battery_max_kw - st.bat,
                              st.gen_hi - st.gen, x.curtailable_kw - st.lc])
    else:
        cap = np.concatenate([[wind_avail - st.w_cur, pv_avail - st.p_cur],
                              st.bat - x.battery_min_kw, st.gen - st.gen_lo, st.lc])
    cost = np.concatenate([[x.mu_wind, x.mu_pv],
                           np.full(len(st.bat), x.battery_cost_cny_per_kwh),
                           x.gen_marginal_cny_per_kwh, x.curtail_cost_cny_per_kwh])
    return np.maximum(cap, 0.0), np.maximum(cost, MIN_CALL_COST_CNY_PER_KWH)


def _finish(x: BalanceInputs, st: _Start, deficit: bool, moved: np.ndarray, rest: float,
            info: dict[str, float]) -> BalanceOutcome:
    """Apply the allocated moves; the rest goes to the VPO exchange, then unmet or spill.

    What the members could not take becomes an imbalance with the VPO up to the exchange
    limit, and beyond it unmet demand (deficit) or spill (surplus).
    """
    nb, ng = len(st.bat), len(st.gen)
    sign = 1.0 if deficit else -1.0
    # wind/PV: a deficit releases curtailment, a surplus adds to it
    w_cur = st.w_cur - sign * moved[0]
    p_cur = st.p_cur - sign * moved[1]
    bat = st.bat + sign * moved[2:2 + nb]
    gen = st.gen + sign * moved[2 + nb:2 + nb + ng]
    lc = st.lc + sign * moved[2 + nb + ng:]
    net, unmet, spill = st.net, st.unmet, st.spill
    if deficit:
        d = min(rest, x.buy_max_kw - net)
        net += d
        unmet += max(rest - d, 0.0)
    else:
        d = min(rest, net + x.sell_max_kw)
        net -= d
        spill += max(rest - d, 0.0)
    return BalanceOutcome(
        wind_kw=_scale_curtailment(x.wind_available_kw, w_cur),
        pv_kw=_scale_curtailment(x.pv_available_kw, p_cur),
        battery_kw=np.clip(bat, x.battery_min_kw, x.battery_max_kw),
        gen_kw=np.clip(gen, st.gen_lo, st.gen_hi),
        load_curtail_kw=np.clip(lc, 0.0, x.curtailable_kw),
        net_buy_kw=net, unmet_kw=unmet, spill_kw=spill, info=info,
    )


@dataclass
class _Need:
    """One problem before the allocation: the clipped plan, the direction, headroom and need."""

    start: _Start
    deficit: bool
    cap_kw: np.ndarray
    cost_cny_per_kwh: np.ndarray
    need_kw: float


def _need(x: BalanceInputs) -> _Need:
    """The power still required after free spill (deficit) or free unmet demand (surplus)."""
    st = _start(x)
    deficit = st.residual > 0.0
    if deficit:
        d = min(st.residual, st.spill)
        st.spill -= d
        need = st.residual - d
    else:
        d = min(-st.residual, st.unmet)
        st.unmet -= d
        need = -st.residual - d
    cap, cost = _headroom(x, st, deficit)
    return _Need(st, deficit, cap, cost, need)


def _batch_problem(needs: Sequence[_Need]) -> AllocationProblem:
    """One allocation problem per need, padded with zero-capacity resources to a common ``K``."""
    k_max = max(len(nd.cap_kw) for nd in needs)
    cap_arr = np.zeros((len(needs), k_max))
    cost_arr = np.ones((len(needs), k_max))
    for b, nd in enumerate(needs):
        cap_arr[b, :len(nd.cap_kw)] = nd.cap_kw
        cost_arr[b, :len(nd.cost_cny_per_kwh)] = nd.cost_cny_per_kwh
    return AllocationProblem(cap_arr, cost_arr, np.asarray([nd.need_kw for nd in needs], float))


def _ga_aco(problem: AllocationProblem, keys: np.ndarray) -> AllocationResult:
    return solve_ga_aco(problem, keys)


def _exact(problem: AllocationProblem, keys: np.ndarray) -> AllocationResult:
    return solve_exact(problem)


def _exact_fast(problem: AllocationProblem, keys: np.ndarray) -> AllocationResult:
    return solve_exact_fast(problem)


def _proportional(problem: AllocationProblem, keys: np.ndarray) -> AllocationResult:
    return proportional(problem)


#: balanced-allocation method -> solver ``(problem, keys) -> AllocationResult``
BALANCED_METHODS: dict[str, Callable[[AllocationProblem, np.ndarray], AllocationResult]] = {
    "ga-aco": _ga_aco,
    "exact": _exact,
    "exact-fast": _exact_fast,
    "proportional": _proportional,
}


@dataclass
class _Solved:
    """The allocations of a batch and what the allocator reports per problem."""

    alloc_kw: np.ndarray  # (B, K)
    objective: np.ndarray  # (B,)
    exact: np.ndarray  # (B,), NaN where not computed
    solve_ms: np.ndarray  # (B,)


@dataclass(frozen=True)
class BalancedAllocator:
    """Paper 001's balanced allocation as a real-time allocator (ga-aco, exact, proportional).

    Starting from the plan clipped to what is possible now (as :func:`merit_order`), planned
    spill absorbs a deficit and planned unmet demand a surplus first (both are free). The
    power still required, ``D``, is then split across the members' headroom in its direction
    (:func:`_headroom`) by the balanced allocation of :mod:`vppsim.allocation` (paper 001
    eq. 10-15: ``sum P_k = min(D, sum cap)``, ``0 <= P_k <= cap_k``, minimal spread of
    ``f_k = c_k P_k / cap_k``). Only what exceeds the headroom becomes an imbalance with the
    VPO and, beyond the exchange limit, unmet demand or spill: never over-generation. Without
    forecast error ``D = 0`` and the plan is reproduced.

    All problems of one call are solved together (one batched GA-ACO call with per-problem
    seeds ``keys``). Problems with one feasible point (one resource with headroom, or demand
    at or above the headroom) are not searched: their repair is the answer.

    Parameters
    ----------
    method : {"ga-aco", "exact", "exact-fast", "proportional"}
        The solver (:data:`BALANCED_METHODS`).
    exact_reference : bool, default True
        Also solve each problem's LP (HiGHS) to report the gap (the Monte Carlo runner turns
        it off for speed).
    """

    method: str
    exact_reference: bool = True

    def __post_init__(self) -> None:
        if self.method not in BALANCED_METHODS:
            raise ValueError(f"unknown balanced-allocation method {self.method!r}; "
                             f"expected one of {sorted(BALANCED_METHODS)}")

    def __call__(self, inputs: Sequence[BalanceInputs], keys: Sequence[int]) -> list[BalanceOutcome]:
        """Balance every problem of the batch; ``keys[b]`` seeds problem ``b``."""
        needs = [_need(x) for x in inputs]
        problem = _batch_problem(needs)
        sol = self._solve(problem, keys)
        out = []
        for b, (x, nd) in enumerate(zip(inputs, needs, strict=True)):
            info = {
                "allocation_required_kw": (1.0 if nd.deficit else -1.0) * float(nd.need_kw),
                "allocation_headroom_kw": float(nd.cap_kw.sum()),
                "allocation_objective_cny_per_kwh": float(sol.objective[b]),
                "allocation_exact_objective_cny_per_kwh": float(sol.exact[b]),
                "allocation_gap_cny_per_kwh": float(sol.objective[b] - sol.exact[b]),
                "allocation_solve_ms": float(sol.solve_ms[b]),
                # 1: the allocator searched; 0: nothing to allocate or a single feasible point
                "allocation_searched": float(problem.target[b] > 0.0 and not problem.degenerate[b]),
            }
            moved = sol.alloc_kw[b, :len(nd.cap_kw)]
            out.append(_finish(x, nd.start, nd.deficit, moved, float(problem.unmet[b]), info))
        return out

    def solve_problem(self, problem: AllocationProblem, keys: Sequence[int]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Allocate a batch already posed as arrays (the Monte Carlo array path).

        Returns ``(allocation (B, K), objective, exact objective, solve ms)`` per problem, as
        :meth:`__call__` computes them before it builds the outcomes.
        """
        sol = self._solve(problem, keys)
        return sol.alloc_kw, sol.objective, sol.exact, sol.solve_ms

    def _solve(self, problem: AllocationProblem, keys: Sequence[int]) -> _Solved:
        """Allocate the problems with something to allocate; the exact reference if asked."""
        nb = problem.n_problems
        sol = _Solved(np.zeros((nb, problem.n_resources)), np.zeros(nb), np.full(nb, np.nan),
                      np.zeros(nb))
        active = np.nonzero(problem.target > 0.0)[0]
        if len(active):
            t0 = time.perf_counter()
            forced = active[problem.degenerate[active]]
            searched = active[~problem.degenerate[active]]
            if len(forced):
                sub = problem.subset(forced)
                sol.alloc_kw[forced] = sub.repair(np.zeros((len(forced), problem.n_resources)))
                sol.objective[forced] = sub.evaluate(sol.alloc_kw[forced])
            if len(searched):
                sub = problem.subset(searched)
                res = BALANCED_METHODS[self.method](sub, np.asarray(keys, dtype=np.uint64)[searched])
                sol.alloc_kw[searched] = res.allocation
                sol.objective[searched] = res.objective
            sol.solve_ms[active] = (time.perf_counter() - t0) * 1e3 / len(active)
            if self.exact_reference and len(searched):
                sol.exact[searched] = (res.objective if self.method in ("exact", "exact-fast")
                                       else solve_exact(sub).objective)
        if self.exact_reference:
            sol.exact[problem.target <= 0.0] = 0.0
            single = problem.degenerate & (problem.target > 0.0)
            sol.exact[single] = sol.objective[single]
        return sol


@dataclass(frozen=True)
class GaAcoAllocator(BalancedAllocator):
    """:class:`BalancedAllocator` by GA-ACO (``ga-aco``)."""

    method: str = field(default="ga-aco", init=False)


@dataclass(frozen=True)
class ExactAllocator(BalancedAllocator):
    """:class:`BalancedAllocator` by the exact LP (``exact``)."""

    method: str = field(default="exact", init=False)


@dataclass(frozen=True)
class ExactFastAllocator(BalancedAllocator):
    """:class:`BalancedAllocator` by the exact optimum, in closed form where it has one.

    ``exact-fast``: :func:`vppsim.allocation.exact.solve_exact_fast` (the LP elsewhere).
    """

    method: str = field(default="exact-fast", init=False)


@dataclass(frozen=True)
class ProportionalAllocator(BalancedAllocator):
    """:class:`BalancedAllocator` in proportion to headroom (``proportional``)."""

    method: str = field(default="proportional", init=False)


@dataclass(frozen=True)
class MeritOrderAllocator:
    """:func:`merit_order` for a batch (deterministic: the keys are not used).

    ``exact_reference`` is accepted so that every registered allocator is built alike; it is
    ignored (merit-order reports the re-allocated power and its solve time only).
    """

    exact_reference: bool = True

    def __call__(self, inputs: Sequence[BalanceInputs], keys: Sequence[int]) -> list[BalanceOutcome]:
        """Balance every problem of the batch by :func:`merit_order`."""
        out = []
        for x in inputs:
            t0 = time.perf_counter()
            o = merit_order(x)
            o.info["allocation_solve_ms"] = (time.perf_counter() - t0) * 1e3
            o.info["allocation_required_kw"] = _start(x).residual
            out.append(o)
        return out


#: ``allocator(inputs, keys) -> outcomes``: one outcome per problem, ``keys[b]`` seeds problem b
Allocator = Callable[[Sequence[BalanceInputs], Sequence[int]], list[BalanceOutcome]]

#: registry name -> allocator class, built as ``cls(exact_reference=...)``; the instances are
#: picklable (plain dataclasses), so they travel to Dask workers
ALLOCATORS: dict[str, type] = {
    "merit-order": MeritOrderAllocator,
    "ga-aco": GaAcoAllocator,
    "exact": ExactAllocator,
    "exact-fast": ExactFastAllocator,
    "proportional": ProportionalAllocator,
}


def get_allocator(name: str, exact_reference: bool = True) -> Allocator:
    """Build the real-time allocator ``name``; the error lists the valid names.

    ``exact_reference``: the balanced allocators also solve each problem's LP to report the
    gap (``allocation_gap_cny_per_kwh``); merit-order ignores it.
    """
    try:
        cls = ALLOCATORS[name]
    except KeyError:
        raise ValueError(f"unknown allocator {name!r}; expected one of {sorted(ALLOCATORS)}") from None
    return cls(exact_reference=exact_reference)
