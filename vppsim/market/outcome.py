"""A day's market outcome at given prices: the VPPs' best responses, ties broken for the VPO.

Used by the game (:mod:`vppsim.market.game`) and its exact reference (:mod:`vppsim.market.mpec`):
the optimistic tie-breaking LP over the VPPs' optimal faces, the outcome at a price pair, and
the VPO's profit (paper 004 eq. 9-10, docs/design.md signs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import (
    VppSchedule,
    _schedule_from,
    build_vpp_lp,
    solve_vpp_day_ahead,
    vpp_cost_terms,
)
from vppsim.market.vpo_storage import StorageResponse, add_storage_block, storage_response
from vppsim.optimizers.highs import INF, LinearProgram, LpBuilder, solve_lp


def vpo_profit_cny(
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    buy_total_kw: np.ndarray,
    sell_total_kw: np.ndarray,
    pi_imp: np.ndarray,
    pi_exp: np.ndarray,
    dt_h: float,
) -> np.ndarray:
    """VPO profit (paper 004 eq. 9-10, docs/design.md signs); arrays may carry a leading batch axis."""
    net_export = sell_total_kw - buy_total_kw  # x - m
    x = np.maximum(net_export, 0.0)
    m = np.maximum(-net_export, 0.0)
    per_t = c_sell * buy_total_kw - c_buy * sell_total_kw + pi_exp * x - pi_imp * m
    return dt_h * per_t.sum(axis=-1)


def grid_price_by_side(net_export_kw: np.ndarray, pi_imp: np.ndarray, pi_exp: np.ndarray,
                       balanced: np.ndarray, tol_kw: float = 0.0) -> np.ndarray:
    """The grid tariff the VPO's net position faces per period, CNY/kWh.

    ``pi_exp`` where it exports more than ``tol_kw``, ``pi_imp`` where it imports more than
    ``tol_kw``, ``balanced`` in between.
    """
    return np.where(net_export_kw > tol_kw, pi_exp,
                    np.where(net_export_kw < -tol_kw, pi_imp, balanced))


@dataclass
class GameOutcome:
    """Prices, the VPPs' best responses, and the resulting costs (all exact)."""

    c_sell_cny_per_kwh: np.ndarray
    c_buy_cny_per_kwh: np.ndarray
    schedules: list[VppSchedule]
    vpp_cost_cny: dict[str, float]
    vpo_profit_cny: float
    storage: StorageResponse | None = None  # the VPO's own battery, if it has one

    @property
    def total_vpp_cost_cny(self) -> float:
        """Sum of the VPPs' costs."""
        return float(sum(self.vpp_cost_cny.values()))

    @property
    def system_cost_cny(self) -> float:
        """Sum of VPP costs minus VPO profit (the paper's fitness)."""
        return self.total_vpp_cost_cny - self.vpo_profit_cny

    def objective_value(self, objective: str) -> float:
        """The outcome's value of ``objective`` in its own terms (cost or profit)."""
        return self.system_cost_cny if objective == "system_cost" else self.vpo_profit_cny


def add_optimal_faces(
    b: LpBuilder,
    market: DayAheadMarket,
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    cost_tol_cny: float,
    profit_sign: float,
    optimal_cost_cny: Sequence[float] | None = None,
) -> tuple[list[LinearProgram], list[np.ndarray], list[VppSchedule], list[list[int]],
           list[list[int]]]:
    """Add every VPP's optimal face to ``b``: its LP rows and ``cost <= F_i + cost_tol_cny``.

    Each VPP is solved alone first for ``F_i``, unless ``optimal_cost_cny`` already gives them
    (then no plain answers are returned). The columns carry ``profit_sign`` times the
    VPO's trade revenue ``dt*(c_sell*g - c_buy*e)`` as cost (-1: maximize the VPO's profit,
    +1: minimize it). Returns each VPP's LP block, its columns in ``b``, the plain answers, and
    per period the columns of every ``g`` and every ``e``.
    """
    vpps, T, dt = market.vpps, market.n_periods, market.dt_h
    c_sell, c_buy = np.asarray(c_sell, float), np.asarray(c_buy, float)
    blocks, cols = [], []
    sums_g: list[list[int]] = [[] for _ in range(T)]
    sums_e: list[list[int]] = [[] for _ in range(T)]
    best = ([] if optimal_cost_cny is not None
            else [solve_vpp_day_ahead(d, c_sell, c_buy) for d in vpps])
    costs = optimal_cost_cny if optimal_cost_cny is not None else [x.cost_cny for x in best]
    for i, d in enumerate(vpps):
        lp = build_vpp_lp(d, c_sell, c_buy)
        trade = np.zeros(lp.a.shape[1])
        trade[lp.names["g"]] = profit_sign * dt * c_sell
        trade[lp.names["e"]] = -profit_sign * dt * c_buy
        x = b.add_var(f"x{i}", lp.a.shape[1], lp.col_lo, lp.col_hi, trade)
        b.add_rows_from(lp, x)
        nz = np.flatnonzero(lp.c)
        b.add_row(x[nz], lp.c[nz], -INF, costs[i] - lp.offset + cost_tol_cny)
        for t in range(T):
            sums_g[t].append(int(x[lp.names["g"][t]]))
            sums_e[t].append(int(x[lp.names["e"][t]]))
        blocks.append(lp)
        cols.append(x)
    return blocks, cols, best, sums_g, sums_e


def optimistic_lp(
    market: DayAheadMarket,
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    cost_tol_cny: float = 1e-6,
    optimal_cost_cny: Sequence[float] | None = None,
) -> tuple[LinearProgram, list[LinearProgram], list[np.ndarray], list[VppSchedule]]:
    """The joint LP over the VPPs' optimal faces that maximizes the VPO's profit.

    ``optimal_cost_cny``: each VPP's optimal cost at these prices, if known (no plain answers
    are then solved or returned).

    Each VPP is solved alone for its optimal cost ``F_i``; the LP keeps every VPP's schedule
    within ``F_i + cost_tol_cny`` and minimizes ``-Pi`` (paper 004 eq. 9-10; the VPO's storage,
    if any, included). Returns the LP, each VPP's LP block, its columns in the joint LP, and the
    plain answers.
    """
    storage = market.storage
    pi_imp, pi_exp = market.pi_imp, market.pi_exp
    T, dt = market.n_periods, market.dt_h
    b = LpBuilder()
    blocks, cols, best, sums_g, sums_e = add_optimal_faces(b, market, c_sell, c_buy, cost_tol_cny,
                                                           -1.0, optimal_cost_cny)
    xg = b.add_var("export", T, 0.0, INF, -dt * pi_exp)
    mg = b.add_var("import", T, 0.0, INF, dt * pi_imp)
    st_ch = st_dis = None
    if storage is not None:
        st_ch, st_dis, _ = add_storage_block(b, storage, T, dt)
    for t in range(T):  # E - G + dis_o - ch_o - x + m = 0
        extra_c, extra_v = [], []
        if st_ch is not None and st_dis is not None:
            extra_c, extra_v = [int(st_dis[t]), int(st_ch[t])], [1.0, -1.0]
        b.add_row(
            sums_e[t] + sums_g[t] + [int(xg[t]), int(mg[t])] + extra_c,
            [1.0] * len(sums_e[t]) + [-1.0] * len(sums_g[t]) + [-1.0, 1.0] + extra_v,
            0.0,
            0.0,
        )
    return b.build(), blocks, cols, best


def optimistic_schedules(
    market: DayAheadMarket,
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    cost_tol_cny: float = 1e-6,
) -> list[VppSchedule]:
    """Best responses with ties broken in the VPO's favour (optimistic bilevel, docs/design.md).

    Solves :func:`optimistic_lp`. On the optimal faces the VPP costs are fixed, so the same LP
    also minimizes the system cost. Returns one :class:`VppSchedule` per VPP (a tie-broken
    schedule that would charge and discharge at once is replaced by the plain answer). With
    MILP followers (no LP faces) every VPP's own MILP answer is returned.
    """
    if market.milp_followers:
        return [solve_vpp_day_ahead(d, c_sell, c_buy) for d in market.vpps]
    lp_all, blocks, cols, best = optimistic_lp(market, c_sell, c_buy, cost_tol_cny)
    sol = solve_lp(lp_all)
    if not sol.optimal or sol.x is None:
        return best  # fall back to the plain best responses
    out = []
    for d, lp, x, plain in zip(market.vpps, blocks, cols, best, strict=True):
        s = _schedule_from(d, lp, sol.x[x], "optimistic", float(lp.c @ sol.x[x] + lp.offset), used_milp=False)
        # the cost tolerance admits buying and selling a few W at once: net them out (this
        # only lowers the cost by W_b * overlap); a real flip-flop keeps the plain answer
        overlap = np.minimum(s.buy_kw, s.sell_kw)
        if overlap.max(initial=0.0) <= 1e-3:
            s.buy_kw, s.sell_kw = s.buy_kw - overlap, s.sell_kw - overlap
        both_bat = s.charge_kw.size and np.minimum(s.charge_kw, s.discharge_kw).max() > 1e-6
        if np.minimum(s.buy_kw, s.sell_kw).max(initial=0.0) > 1e-6 or both_bat:
            s = plain
        s.cost_terms_cny = vpp_cost_terms(d, s, c_sell, c_buy)
        s.cost_cny = s.cost_terms_cny["total"]
        out.append(s)
    return out


def outcome_at(
    market: DayAheadMarket,
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    optimistic: bool = True,
) -> GameOutcome:
    """Every VPP's best response and the VPO's profit (paper 004 eq. 9-10) at the given prices.

    ``optimistic``: ties among a VPP's optimal schedules are broken in the VPO's favour
    (:func:`optimistic_schedules`); otherwise each VPP's own fresh HiGHS answer is used.
    """
    vpps, storage = market.vpps, market.storage
    pi_imp, pi_exp, dt = market.pi_imp, market.pi_exp, market.dt_h
    if optimistic:
        schedules = optimistic_schedules(market, c_sell, c_buy)
    else:
        schedules = [solve_vpp_day_ahead(d, c_sell, c_buy) for d in vpps]
    g = np.sum([s.buy_kw for s in schedules], axis=0)
    e = np.sum([s.sell_kw for s in schedules], axis=0)
    response = None
    if storage is None:
        profit = float(vpo_profit_cny(c_sell, c_buy, g, e, pi_imp, pi_exp, dt))
    else:
        response = storage_response(storage, e - g, pi_imp, pi_exp, dt)
        profit = float(dt * np.sum(c_sell * g - c_buy * e)) + response.grid_value_cny
    return GameOutcome(
        c_sell_cny_per_kwh=np.asarray(c_sell, float),
        c_buy_cny_per_kwh=np.asarray(c_buy, float),
        schedules=schedules,
        vpp_cost_cny={d.name: float(s.cost_cny) for d, s in zip(vpps, schedules, strict=True)},
        vpo_profit_cny=profit,
        storage=response,
    )


def optimistic_profit(
    market: DayAheadMarket,
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    cost_tol_cny: float = 1e-6,
) -> float:
    """The leader's profit at fixed prices with the followers' ties broken in its favour, CNY.

    Every VPP is first solved alone (:func:`solve_vpp_day_ahead`, optimal cost ``F_i``); then one
    joint LP maximizes ``Pi`` over all schedules whose cost is at most ``F_i + cost_tol_cny``
    (the VPPs' optimal faces). This is the upper level's value at these prices in the optimistic
    bilevel sense; at the MPEC's prices it equals the MPEC objective, independently of the KKT
    reformulation.

    Parameters
    ----------
    market : DayAheadMarket
        The followers, the grid tariff and the VPO's battery (if any; its schedule is
        optimized in the same LP).
    c_sell, c_buy : np.ndarray
        Internal prices per period, CNY/kWh.
    cost_tol_cny : float
        Slack on each VPP's optimal cost, CNY.

    Returns
    -------
    float
        The optimistic ``Pi``, CNY.
    """
    lp, *_ = optimistic_lp(market, c_sell, c_buy, cost_tol_cny)
    sol = solve_lp(lp)
    if not sol.optimal:
        raise RuntimeError(f"optimistic re-solve failed ({sol.status})")
    return -sol.objective
