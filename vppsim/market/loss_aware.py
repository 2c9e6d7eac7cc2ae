"""Loss-aware day-ahead dispatch of the VPO over all VPPs (paper 000's trade-off), by SLP.

The problem (docs/design.md, "Loss-aware dispatch")::

    min  C(x) + w_losses * dt * sum_t L_t(P_t) - w_utilization * U(x)

``C`` is the centralized LP's system cost (:func:`vppsim.market.reference.build_centralized_lp`:
every VPP and the VPO against the grid, internal prices cancelled), ``P_t`` the VPPs' net bus
injections ``e - g`` in period ``t``, ``L_t`` the feeder's total active loss from the AC power
flow with the background loads of period ``t`` (:class:`vppsim.grids.losses.FeederLossModel`),
priced at ``w_losses`` CNY per kWh lost, and ``U = used / available`` wind and solar
energy (:func:`vppsim.metrics.renewable_utilization`), worth ``w_utilization`` CNY per unit
(1.0 = 100 %).

``L`` is nonconvex in ``P``; it is handled by sequential linear programming: at the current
dispatch run the 24 power flows, replace ``L_t`` by its tangent (Jacobian sensitivities),
solve the LP with a trust region ``|P - P_k| <= delta`` on every injection, accept the step if
the true objective (new power flows) fell, else shrink ``delta``. It stops when the step or the
predicted decrease is below tolerance. The result is a point satisfying the first-order
conditions of the weighted problem (a local optimum), not a certified global one; its losses
are those of a full AC power flow of the returned dispatch. ``w_losses = 0`` is the plain
centralized optimum (loss-blind dispatch). Unmet demand and spilled output are capped at the
loss-blind optimum's: shedding load would lower the losses too, but is not a dispatch choice
(and the reactive injections assume the VPPs' loads are served).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from vppsim.grids.losses import FeederLossModel
from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import build_vpp_lp
from vppsim.market.reference import build_centralized_lp
from vppsim.metrics import renewable_utilization
from vppsim.optimizers.highs import LinearProgram, solve_lp

__all__ = ["DispatchGrid", "LossAwareDispatch", "evaluate_losses", "max_utilization",
           "solve_loss_aware"]


@dataclass(frozen=True, eq=False)
class DispatchGrid:
    """The feeder as the dispatch sees it.

    ``vpp_buses[i]``: bus of VPP ``i``; ``q_kvar[i, t]``: its reactive injection (its loads at
    their power factor, negative); ``background_factor[t]``: factor on the feeder's own loads;
    ``demand_kwh``: energy the feeder serves in the day (background loads and VPP loads), the
    base of the loss percentage.
    """

    losses: FeederLossModel
    vpp_buses: tuple[int, ...]
    q_kvar: np.ndarray
    background_factor: np.ndarray
    demand_kwh: float


@dataclass(frozen=True, eq=False)
class LossAwareDispatch:
    """A dispatch and its figures; ``injections_kw[i, t]`` = VPP ``i``'s net injection ``e - g``."""

    w_losses: float
    w_utilization: float
    injections_kw: np.ndarray
    losses_kw: np.ndarray
    sensitivities: np.ndarray  # dL/dP [I, T] at the returned dispatch
    losses_kwh: float
    losses_pct: float  # 100 * losses / demand served on the feeder
    renewable_utilization: float
    curtailed_kwh: float
    system_cost_cny: float
    objective_cny: float
    iterations: int
    converged: bool
    lp_solution: np.ndarray  # the full column vector of the centralized LP (a warm start)


def evaluate_losses(grid: DispatchGrid, injections_kw: np.ndarray,
                    sensitivities: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """AC losses per period (kW) and ``dL/dP`` per VPP and period for the given injections.

    ``sensitivities=False`` skips ``dL/dP`` (returned as zeros).

    Raises ``RuntimeError`` if a power flow does not converge (the dispatch cannot be priced).
    """
    n_vpp, n_t = injections_kw.shape
    buses = list(grid.vpp_buses)
    losses = np.zeros(n_t)
    sens = np.zeros((n_vpp, n_t))
    for t in range(n_t):
        p: dict[int, float] = {}
        q: dict[int, float] = {}
        for i, b in enumerate(buses):
            p[b] = p.get(b, 0.0) + float(injections_kw[i, t])
            q[b] = q.get(b, 0.0) + float(grid.q_kvar[i, t])
        pt = grid.losses.solve(p, q, float(grid.background_factor[t]),
                               buses if sensitivities else [])
        if not pt.converged:
            raise RuntimeError(f"loss-aware dispatch: the power flow of period {t} did not converge")
        losses[t] = pt.losses_kw
        if sensitivities:
            sens[:, t] = [pt.dloss_dp[b] for b in buses]
    return losses, sens


@dataclass(frozen=True)
class _Columns:
    e: np.ndarray  # [I, T]
    g: np.ndarray
    cur: np.ndarray  # wind and PV curtailment columns, flat
    shed: np.ndarray  # unmet demand and spilled output columns, flat
    available_kwh: float
    curtail_cost: np.ndarray  # dt per curtailment column, for U


def _columns(market: DayAheadMarket, offsets: list[np.ndarray]) -> _Columns:
    T, dt = market.n_periods, market.dt_h
    e, g, cur, shed = [], [], [], []
    for i, d in enumerate(market.vpps):
        names = build_vpp_lp(d, np.zeros(T), np.zeros(T)).names
        e.append(offsets[i] + names["e"])
        g.append(offsets[i] + names["g"])
        cur += [offsets[i] + names["w_cur"], offsets[i] + names["pv_cur"]]
        shed += [offsets[i] + names["unmet"], offsets[i] + names["spill"]]
    available = dt * float(sum(d.wind_fc_kw.sum() + d.pv_fc_kw.sum() for d in market.vpps))
    cur_cols = np.concatenate(cur).astype(int)
    return _Columns(np.array(e, int), np.array(g, int), cur_cols,
                    np.concatenate(shed).astype(int), available,
                    np.full(cur_cols.size, dt))


def _with_trust_rows(lp: LinearProgram, cols: _Columns) -> LinearProgram:
    """``lp`` with one row ``e[i,t] - g[i,t]`` per injection (bounds set per iteration)."""
    n = cols.e.size
    rows = np.repeat(np.arange(n), 2)
    cc = np.column_stack([cols.e.ravel(), cols.g.ravel()]).ravel()
    vals = np.tile([1.0, -1.0], n)
    trust = sp.csr_matrix((vals, (rows, cc)), shape=(n, lp.a.shape[1]))
    return replace(lp, a=sp.vstack([lp.a, trust]).tocsc(),
                   row_lo=np.concatenate([lp.row_lo, np.full(n, -np.inf)]),
                   row_hi=np.concatenate([lp.row_hi, np.full(n, np.inf)]))


class _Problem:
    """The weighted problem's pieces: costs, columns, and the true objective of a point."""

    def __init__(self, market: DayAheadMarket, grid: DispatchGrid, w_losses: float,
                 w_utilization: float) -> None:
        lp, offsets, _, _ = build_centralized_lp(market)
        self.cols = _columns(market, offsets)
        self.lp = _with_trust_rows(lp, self.cols)
        self.grid, self.w_losses, self.w_utilization = grid, w_losses, w_utilization
        self.dt_h = market.dt_h
        self.n_base_rows = lp.a.shape[0]
        self.n_trust = self.cols.e.size
        # -w2 U = -w2 + w2 * dt * sum(cur) / available
        self.c_util = np.zeros(lp.c.size)
        if self.cols.available_kwh > 0.0:
            self.c_util[self.cols.cur] = w_utilization * self.cols.curtail_cost / self.cols.available_kwh
        self.loss_price = np.full(market.n_periods, w_losses * market.dt_h)  # CNY per kW of loss

    def cap_shedding(self, x_blind: np.ndarray) -> None:
        """Shed no more load (and spill no more output) than the loss-blind optimum ``x_blind``."""
        col_hi = self.lp.col_hi.copy()
        col_hi[self.cols.shed] = x_blind[self.cols.shed]
        self.lp = replace(self.lp, col_hi=col_hi)

    def require_utilization(self, u_min: float) -> None:
        """Add the row ``U >= u_min``: ``dt * sum(curtailment) <= (1 - u_min) * available``."""
        row = np.zeros((1, self.lp.c.size))
        row[0, self.cols.cur] = self.cols.curtail_cost
        hi = (1.0 - u_min) * self.cols.available_kwh
        self.lp = replace(self.lp, a=sp.vstack([self.lp.a, sp.csr_matrix(row)]).tocsc(),
                          row_lo=np.append(self.lp.row_lo, -np.inf),
                          row_hi=np.append(self.lp.row_hi, hi))

    def injections(self, x: np.ndarray) -> np.ndarray:
        return x[self.cols.e] - x[self.cols.g]

    def system_cost(self, x: np.ndarray) -> float:
        return float(self.lp.c @ x + self.lp.offset)

    def utilization(self, x: np.ndarray) -> float:
        used = self.cols.available_kwh - float(self.cols.curtail_cost @ x[self.cols.cur])
        return renewable_utilization(used, self.cols.available_kwh)

    def objective(self, x: np.ndarray, losses_kw: np.ndarray) -> float:
        return (self.system_cost(x) + float(self.loss_price @ losses_kw)
                - self.w_utilization * self.utilization(x))

    def step_lp(self, p_kw: np.ndarray, sens: np.ndarray, delta_kw: float) -> LinearProgram:
        """The LP of one SLP step: linearized losses, trust region of ``delta_kw`` around ``p_kw``."""
        c = self.lp.c + self.c_util
        c[self.cols.e] += self.loss_price[None, :] * sens
        c[self.cols.g] -= self.loss_price[None, :] * sens
        lo, hi = self.lp.row_lo.copy(), self.lp.row_hi.copy()
        trust = slice(self.n_base_rows, self.n_base_rows + self.n_trust)
        lo[trust] = (p_kw - delta_kw).ravel()
        hi[trust] = (p_kw + delta_kw).ravel()
        return replace(self.lp, c=c, row_lo=lo, row_hi=hi)


def _solve(lp: LinearProgram) -> np.ndarray:
    sol = solve_lp(lp)
    if not sol.optimal or sol.x is None:
        raise RuntimeError(f"loss-aware dispatch: LP not solved ({sol.status})")
    return sol.x


def max_utilization(market: DayAheadMarket) -> float:
    """The largest renewable utilization any dispatch of the centralized LP reaches (HiGHS).

    With the loss-aware dispatch's cap on unmet demand and spilled output (the loss-blind
    optimum's); a bound for ``solve_loss_aware(..., u_min=...)``.
    """
    lp, offsets, _, _ = build_centralized_lp(market)
    cols = _columns(market, offsets)
    x_blind = _solve(lp)
    col_hi = lp.col_hi.copy()
    col_hi[cols.shed] = x_blind[cols.shed]
    c = np.zeros(lp.c.size)
    c[cols.cur] = cols.curtail_cost
    x = _solve(replace(lp, c=c, col_hi=col_hi))
    used = cols.available_kwh - float(cols.curtail_cost @ x[cols.cur])
    return renewable_utilization(used, cols.available_kwh)


def solve_loss_aware(market: DayAheadMarket, grid: DispatchGrid, w_losses: float = 1.0,
                     w_utilization: float = 0.0, *, trust_kw: float = 50.0, tol_kw: float = 0.05,
                     max_iter: int = 100, start: np.ndarray | None = None,
                     u_min: float | None = None) -> LossAwareDispatch:
    """Minimize system cost + ``w_losses`` (CNY/kWh) x AC losses - ``w_utilization`` (CNY) x U.

    ``start``: a full LP solution vector to start from (default: the loss-blind optimum; with
    ``w_losses = 0`` the LP optimum is returned whatever ``start``). ``u_min``: an
    epsilon-constraint ``U >= u_min`` (one linear row; at most :func:`max_utilization`); the
    start is then the least-cost dispatch meeting it unless ``start`` is given (which must).
    """
    if w_losses < 0 or w_utilization < 0 or not np.isfinite(w_losses + w_utilization):
        raise ValueError("solve_loss_aware: expected finite weights >= 0, got "
                         f"w_losses={w_losses}, w_utilization={w_utilization}")
    if u_min is not None and not 0.0 <= u_min <= 1.0:
        raise ValueError(f"solve_loss_aware: expected u_min in [0, 1], got {u_min}")
    if market.milp_followers:
        raise ValueError("solve_loss_aware: expected LP followers, got MILP followers "
                         f"{', '.join(market.milp_followers)}")
    prob = _Problem(market, grid, w_losses, w_utilization)
    x = _solve(replace(prob.lp, c=prob.lp.c + prob.c_util))
    prob.cap_shedding(x)
    if u_min is not None:
        prob.require_utilization(u_min)
        x = _solve(replace(prob.lp, c=prob.lp.c + prob.c_util))
    x = x if start is None or w_losses == 0.0 else start  # w_losses = 0: the LP is exact
    p = prob.injections(x)
    losses, sens = evaluate_losses(grid, p)
    f = prob.objective(x, losses)
    delta, it, converged = trust_kw, 0, w_losses == 0.0
    while not converged and it < max_iter:
        it += 1
        x_new = _solve(prob.step_lp(p, sens, delta))
        p_new = prob.injections(x_new)
        predicted = f - (prob.objective(x_new, losses) + float(prob.loss_price @ (sens * (p_new - p)).sum(0)))
        step = float(np.max(np.abs(p_new - p)))
        if step < tol_kw or predicted <= 1e-7 * max(1.0, abs(f)):
            converged = True
            break
        l_new, s_new = evaluate_losses(grid, p_new)
        f_new = prob.objective(x_new, l_new)
        ratio = (f - f_new) / predicted
        if ratio > 0.0:  # accept
            x, p, losses, sens, f = x_new, p_new, l_new, s_new, f_new
            if ratio > 0.75 and step >= 0.99 * delta:
                delta *= 2.0
            elif ratio < 0.25:
                delta *= 0.5
        else:
            delta *= 0.25
        converged = delta < tol_kw
    return _result(prob, x, p, losses, sens, f, it, converged)


def _result(prob: _Problem, x: np.ndarray, p: np.ndarray, losses: np.ndarray, sens: np.ndarray,
            f: float, it: int, converged: bool) -> LossAwareDispatch:
    losses_kwh = prob.dt_h * float(losses.sum())
    return LossAwareDispatch(
        w_losses=prob.w_losses, w_utilization=prob.w_utilization, injections_kw=p,
        losses_kw=losses, sensitivities=sens, losses_kwh=losses_kwh,
        losses_pct=100.0 * losses_kwh / prob.grid.demand_kwh,
        renewable_utilization=prob.utilization(x),
        curtailed_kwh=float(prob.cols.curtail_cost @ x[prob.cols.cur]),
        system_cost_cny=prob.system_cost(x), objective_cny=f, iterations=it,
        converged=converged, lp_solution=x)
