"""A well-posed ``system_cost`` outcome: the split of the system optimum the VPO can support.

Internal prices are transfers between the VPO and the VPPs, so many price vectors reach the
same (optimal) system cost with different splits. The selection rule (docs/design.md, "The
game's outcome"): take the VPPs' schedules of the centralized optimum ``x*``
(:func:`vppsim.market.reference.build_centralized_lp`, solved by HiGHS) and, among the price
vectors at which every VPP's part ``x*_i`` is a best response, choose the one that maximizes
the VPO's profit subject to

- the price box ``pi_exp <= c_buy <= c_sell <= pi_imp``, and
- individual rationality (IR): every VPP's cost is at most its Model 1 cost (the tariff passed
  through, each VPP's own optimum there).

With ``x*`` fixed this is one LP (inverse optimization): ``x*_i`` is optimal for VPP ``i``'s LP
at prices ``p`` iff there are duals ``y_i`` that are dual feasible for ``p`` with equal primal
and dual objectives (strong duality); the VPP's cost at ``x*_i`` and the VPO's profit are linear
in ``p``. The centralized LP's duals ``lambda`` (``c_sell = c_buy = lambda``) are feasible
(every VPP's part of the centralized optimum is its best response at ``lambda``, and
``lambda`` lies in the box, so no VPP pays more than under Model 1), so the LP always has a
solution. The system cost is the centralized bound whatever the split.
"""

from __future__ import annotations

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
from vppsim.market.outcome import GameOutcome, vpo_profit_cny
from vppsim.market.reference import build_centralized_lp
from vppsim.market.vpo_storage import storage_response
from vppsim.optimizers.highs import INF, LinearProgram, LpBuilder, solve_lp

#: The selection rule of ``system_cost`` in words (written to the result folders).
SYSTEM_COST_RULE = ("centralized optimum's schedules; prices maximize the VPO's profit s.t. each "
                    "VPP's schedule is its best response, the price box and IR vs Model 1")
#: The selection rule of ``vpo_profit`` in words.
VPO_PROFIT_RULE = "leader's optimum: the MPEC's prices, followers' ties broken for the VPO"

_FINITE = 1e20  # column/row bounds at or beyond this are infinite


@dataclass(frozen=True)
class Selection:
    """The selected outcome and what the selection LP saw."""

    outcome: GameOutcome
    model1_vpp_cost_cny: dict[str, float]
    status: str


def _add_support(b: LpBuilder, lp: LinearProgram, x_star: np.ndarray, cs: np.ndarray,
                 cb: np.ndarray, dt: float, tol_cny: float) -> None:
    """Rows making ``x_star`` optimal for ``lp`` at the prices of columns ``cs``/``cb``.

    ``lp`` is the VPP's LP at zero prices (cost ``c0``); its cost at prices ``p`` is ``c0`` plus
    ``dt*c_sell`` on ``g`` and ``-dt*c_buy`` on ``e``. Dual feasibility per column, and
    ``c(p) @ x_star <= dual objective + tol_cny`` (weak duality gives the other side).
    """
    a = lp.a.tocsc()
    n_rows, n_cols = a.shape
    fin = lambda v: np.abs(v) < _FINITE  # noqa: E731
    y_lo = b.add_var(f"ylo{b.n}", n_rows, 0.0, np.where(fin(lp.row_lo), INF, 0.0))
    y_hi = b.add_var(f"yhi{b.n}", n_rows, 0.0, np.where(fin(lp.row_hi), INF, 0.0))
    z_lo = b.add_var(f"zlo{b.n}", n_cols, 0.0, np.where(fin(lp.col_lo), INF, 0.0))
    z_hi = b.add_var(f"zhi{b.n}", n_cols, 0.0, np.where(fin(lp.col_hi), INF, 0.0))
    price_col = np.full(n_cols, -1)
    price_sign = np.zeros(n_cols)
    price_col[lp.names["g"]], price_sign[lp.names["g"]] = cs, dt
    price_col[lp.names["e"]], price_sign[lp.names["e"]] = cb, -dt
    for j in range(n_cols):  # A_j^T (y_lo - y_hi) + z_lo_j - z_hi_j - price term = c0_j
        sl = slice(a.indptr[j], a.indptr[j + 1])
        rows, vals = a.indices[sl], a.data[sl]
        cols = [*y_lo[rows], *y_hi[rows], z_lo[j], z_hi[j]]
        coef = [*vals, *(-vals), 1.0, -1.0]
        if price_col[j] >= 0:
            cols.append(int(price_col[j]))
            coef.append(-price_sign[j])
        b.add_row(cols, coef, lp.c[j], lp.c[j])
    finite = lambda v: np.where(fin(v), v, 0.0)  # noqa: E731
    g, e = x_star[lp.names["g"]], x_star[lp.names["e"]]
    b.add_row(
        np.concatenate([cs, cb, y_lo, y_hi, z_lo, z_hi]),
        np.concatenate([dt * g, -dt * e, -finite(lp.row_lo), finite(lp.row_hi),
                        -finite(lp.col_lo), finite(lp.col_hi)]),
        -INF, tol_cny - float(lp.c @ x_star))


def _centralized_schedules(market: DayAheadMarket) -> tuple[list[LinearProgram], list[np.ndarray]]:
    """Each VPP's zero-price LP and its part of the centralized optimum (clipped to bounds)."""
    lp, offsets, _, _ = build_centralized_lp(market)
    sol = solve_lp(lp)
    if not sol.optimal or sol.x is None:
        raise RuntimeError(f"centralized LP not solved ({sol.status})")
    T = market.n_periods
    blocks = [build_vpp_lp(d, np.zeros(T), np.zeros(T)) for d in market.vpps]
    parts = []
    for off, blk in zip(offsets, blocks, strict=True):
        x = sol.x[int(off): int(off) + blk.a.shape[1]]
        parts.append(np.clip(x, blk.col_lo, blk.col_hi))
    return blocks, parts


def outcome_of_schedules(market: DayAheadMarket, c_sell: np.ndarray, c_buy: np.ndarray,
                         blocks: list[LinearProgram], parts: list[np.ndarray],
                         status: str) -> GameOutcome:
    """The outcome of fixed VPP schedules (LP solutions ``parts``) at the given prices."""
    schedules: list[VppSchedule] = []
    for d, blk, x in zip(market.vpps, blocks, parts, strict=True):
        s = _schedule_from(d, blk, x, status, float("nan"), used_milp=False)
        s.cost_terms_cny = vpp_cost_terms(d, s, c_sell, c_buy)
        s.cost_cny = s.cost_terms_cny["total"]
        schedules.append(s)
    g = np.sum([s.buy_kw for s in schedules], axis=0)
    e = np.sum([s.sell_kw for s in schedules], axis=0)
    dt, response = market.dt_h, None
    if market.storage is None:
        profit = float(vpo_profit_cny(c_sell, c_buy, g, e, market.pi_imp, market.pi_exp, dt))
    else:
        response = storage_response(market.storage, e - g, market.pi_imp, market.pi_exp, dt)
        profit = float(dt * np.sum(c_sell * g - c_buy * e)) + response.grid_value_cny
    return GameOutcome(
        c_sell_cny_per_kwh=np.asarray(c_sell, float), c_buy_cny_per_kwh=np.asarray(c_buy, float),
        schedules=schedules, vpp_cost_cny={s.name: float(s.cost_cny) for s in schedules},
        vpo_profit_cny=profit, storage=response)


def select_system_optimal(market: DayAheadMarket, tol_cny: float = 1e-7) -> Selection:
    """The ``system_cost`` outcome of the selection rule (module docstring).

    ``tol_cny`` is the slack of each VPP's strong-duality row and of its IR row, CNY.
    """
    T, dt = market.n_periods, market.dt_h
    blocks, parts = _centralized_schedules(market)
    model1 = {d.name: solve_vpp_day_ahead(d, market.pi_imp, market.pi_exp).cost_cny
              for d in market.vpps}
    big_g = sum(x[blk.names["g"]] for blk, x in zip(blocks, parts, strict=True))
    big_e = sum(x[blk.names["e"]] for blk, x in zip(blocks, parts, strict=True))
    b = LpBuilder()
    cs = b.add_var("c_sell", T, market.pi_exp, market.pi_imp, -dt * big_g)  # max VPO revenue
    cb = b.add_var("c_buy", T, market.pi_exp, market.pi_imp, dt * big_e)
    for t in range(T):
        b.add_row([cb[t], cs[t]], [1.0, -1.0], -INF, 0.0)
    for d, blk, x in zip(market.vpps, blocks, parts, strict=True):
        _add_support(b, blk, x, cs, cb, dt, tol_cny)
        g, e = x[blk.names["g"]], x[blk.names["e"]]  # IR: c0@x + offset + trade <= Model 1
        b.add_row(np.concatenate([cs, cb]), np.concatenate([dt * g, -dt * e]), -INF,
                  model1[d.name] + tol_cny - float(blk.c @ x) - blk.offset)
    sol = solve_lp(b.build())
    if not sol.optimal or sol.x is None:
        raise RuntimeError(f"selection LP not solved ({sol.status})")
    c_sell = np.clip(sol.x[cs], market.pi_exp, market.pi_imp)
    c_buy = np.clip(np.minimum(sol.x[cb], c_sell), market.pi_exp, market.pi_imp)
    outcome = outcome_of_schedules(market, c_sell, c_buy, blocks, parts, "selected")
    return Selection(outcome=outcome, model1_vpp_cost_cny=model1, status=sol.status)
