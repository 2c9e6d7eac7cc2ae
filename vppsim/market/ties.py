"""Both ends of the VPPs' ties at given prices: the VPO's best and worst outcome on their faces.

At given internal prices each VPP may have many optimal schedules (its optimal face). The
outcome of :mod:`vppsim.market.outcome` breaks ties in the VPO's favour (optimistic bilevel);
a VPP that is indifferent need not do so. :func:`tie_ends` reports both ends:

- optimistic: ``max Pi`` over every VPP's optimal face (the LP of
  :func:`vppsim.market.outcome.optimistic_lp`);
- pessimistic: ``min Pi`` over the same faces. The VPO still best-responds with its own grid
  exchange, so the grid term ``pi_exp*x - pi_imp*m`` with ``x - m = E - G`` is the concave
  ``min(pi_exp*net, pi_imp*net)`` per period; minimizing it needs one binary per period (which
  side of the grid the VPO is on), so this end is a small MILP (HiGHS, ``mip_rel_gap = 0``)
  with the big-M ``sum_i max(buy_max, sell_max)`` plus the storage's power.
  With VPO storage, the storage is held at its plan of the optimistic end (the exact
  ``min over faces of max over storage`` is a min-max not solved here); the value is then a
  lower bound of that min-max, i.e. on the safe side.

On the faces each VPP's cost is fixed (to ``cost_tol_cny``), so the system cost
``sum_i F_i - Pi`` is lowest at the optimistic end and highest at the pessimistic end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import highspy
import numpy as np

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.outcome import add_optimal_faces, optimistic_lp
from vppsim.optimizers.highs import INF, LpBuilder, new_highs, pass_model, solve_lp

#: What the pessimistic end does with the VPO's storage (see the module docstring).
STORAGE_RULE = "VPO storage held at its optimistic-end plan"


@dataclass(frozen=True)
class TieEnds:
    """The VPO's profit and the system cost at both ends of the VPPs' ties, CNY."""

    vpo_profit_optimistic_cny: float
    vpo_profit_pessimistic_cny: float
    system_cost_optimistic_cny: float
    system_cost_pessimistic_cny: float
    total_vpp_cost_cny: float
    storage_rule: str | None = None  # set when the VPO has storage

    @property
    def vpo_profit_range_cny(self) -> float:
        """How much the VPO's profit depends on how the VPPs break their ties, CNY."""
        return self.vpo_profit_optimistic_cny - self.vpo_profit_pessimistic_cny

    def to_dict(self) -> dict[str, object]:
        """Plain-dict form for JSON."""
        return asdict(self)


def _solve_exact_milp(lp_highs: highspy.Highs) -> tuple[float, np.ndarray]:
    lp_highs.setOptionValue("mip_rel_gap", 0.0)
    lp_highs.setOptionValue("mip_abs_gap", 1e-9)
    # no restart after the root: on the default day 0.38 -> 0.22 s, the value moves by 4e-7 CNY
    lp_highs.setOptionValue("mip_allow_restart", False)
    # no RINS/RENS sub-MIPs: they took 0.2 of the 0.33 s of the default day's B&B (3 nodes),
    # which then solves in 0.11 s to the same value, bit for bit; on 14 shipped and random
    # 3- and 6-VPP days at two price vectors each, 27 of 28 as fast or faster (one 0.35 ->
    # 0.46 s), the values within 7e-5 CNY (HiGHS >= 1.11)
    lp_highs.setOptionValue("mip_heuristic_run_rins", False)
    lp_highs.setOptionValue("mip_heuristic_run_rens", False)
    lp_highs.run()
    status = lp_highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"pessimistic tie MILP not solved ({lp_highs.modelStatusToString(status)})")
    return (float(lp_highs.getInfo().objective_function_value),
            np.asarray(lp_highs.getSolution().col_value))


def pessimistic_profit(
    market: DayAheadMarket,
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    cost_tol_cny: float = 1e-6,
    storage_net_kw: np.ndarray | None = None,
    storage_cost_cny: float = 0.0,
    optimal_cost_cny: Sequence[float] | None = None,
) -> float:
    """The VPO's lowest profit over the VPPs' optimal faces at these prices, CNY.

    ``storage_net_kw`` (discharge minus charge per period) and ``storage_cost_cny`` (its
    operating cost) hold the VPO's storage fixed; None: no storage in the balance.
    ``optimal_cost_cny``: each VPP's optimal cost at these prices, if known (else solved).
    """
    T, dt = market.n_periods, market.dt_h
    pi_imp, pi_exp = market.pi_imp, market.pi_exp
    b = LpBuilder()
    _, _, _, sums_g, sums_e = add_optimal_faces(b, market, c_sell, c_buy, cost_tol_cny,
                                                profit_sign=1.0,
                                                optimal_cost_cny=optimal_cost_cny)
    st_net = np.zeros(T) if storage_net_kw is None else np.asarray(storage_net_kw, float)
    big_m = float(sum(max(d.buy_max_kw, d.sell_max_kw) for d in market.vpps)
                  + np.abs(st_net).max(initial=0.0)) + 1.0
    xg = b.add_var("export", T, 0.0, big_m, dt * pi_exp)  # + Pi: minimized
    mg = b.add_var("import", T, 0.0, big_m, -dt * pi_imp)
    side = b.add_var("exporting", T, 0.0, 1.0, 0.0, integer=True)
    for t in range(T):  # x - m = E - G + storage net, x only if exporting, m only if not
        b.add_row(sums_e[t] + sums_g[t] + [int(xg[t]), int(mg[t])],
                  [1.0] * len(sums_e[t]) + [-1.0] * len(sums_g[t]) + [-1.0, 1.0],
                  -st_net[t], -st_net[t])
        b.add_row([int(xg[t]), int(side[t])], [1.0, -big_m], -INF, 0.0)
        b.add_row([int(mg[t]), int(side[t])], [1.0, big_m], -INF, big_m)
    h = new_highs()
    pass_model(h, b.build())
    objective, _ = _solve_exact_milp(h)
    return objective - storage_cost_cny


def tie_ends(
    market: DayAheadMarket,
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    cost_tol_cny: float = 1e-6,
) -> TieEnds:
    """Both ends of the VPPs' ties at the prices ``c_sell``/``c_buy`` (CNY/kWh)."""
    c_sell, c_buy = np.asarray(c_sell, float), np.asarray(c_buy, float)
    lp, _, _, best = optimistic_lp(market, c_sell, c_buy, cost_tol_cny)
    sol = solve_lp(lp)
    if not sol.optimal or sol.x is None:
        raise RuntimeError(f"optimistic tie LP not solved ({sol.status})")
    optimistic = -sol.objective
    st_net, st_cost, rule = None, 0.0, None
    if market.storage is not None:
        ch, dis = sol.x[lp.names["vpo_ch"]], sol.x[lp.names["vpo_dis"]]
        st_net = dis - ch
        st_cost = float(market.storage.cost_cny_per_kwh * market.dt_h * (ch + dis).sum())
        rule = STORAGE_RULE
    costs = [s.cost_cny for s in best]
    pessimistic = pessimistic_profit(market, c_sell, c_buy, cost_tol_cny, st_net, st_cost, costs)
    total = float(sum(costs))
    return TieEnds(
        vpo_profit_optimistic_cny=optimistic,
        vpo_profit_pessimistic_cny=pessimistic,
        system_cost_optimistic_cny=total - optimistic,
        system_cost_pessimistic_cny=total - pessimistic,
        total_vpp_cost_cny=total,
        storage_rule=rule,
    )
