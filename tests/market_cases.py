"""Test data shared by the market tests: VPP cost sets, three-period tariffs, a tie market."""

import itertools

import numpy as np
import scipy.optimize as so
import scipy.sparse as sp

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import (
    BatteryData,
    VppDayAheadData,
    build_vpp_lp,
    solve_vpp_day_ahead,
)
from vppsim.scenario.schema import BatteryParams, VppCostSpec

COSTS = VppCostSpec(
    mu1_wind_curtail_cny_per_kwh=0.5, mu2_pv_curtail_cny_per_kwh=0.5,
    lam1_battery_cny_per_kwh=0.05, lam2_wind_om_cny_per_kwh=0.3, lam3_pv_om_cny_per_kwh=0.35,
    w_b_purchase_cny_per_kwh=0.03, w_bat_battery_cny_per_kwh=0.02,
)
#: the MPEC tests' cost set (tests/test_mpec.py, tests/test_mpec_fast.py): the shipped O&M costs
MPEC_COSTS = VppCostSpec(
    mu1_wind_curtail_cny_per_kwh=0.5, mu2_pv_curtail_cny_per_kwh=0.5,
    lam1_battery_cny_per_kwh=0.05, lam2_wind_om_cny_per_kwh=0.58, lam3_pv_om_cny_per_kwh=0.68,
    w_b_purchase_cny_per_kwh=0.03, w_bat_battery_cny_per_kwh=0.02,
)
PI_IMP = np.array([0.53, 1.40, 0.79])
PI_EXP = np.array([0.40, 1.04, 0.72])

# two equally priced periods before a peak: the battery VPP may charge in either (a tie), and
# only charging in period 0 meets the other VPP's export there (the VPO's favourite)
TIE_PI_IMP = np.array([0.5, 0.5, 1.4])
TIE_PI_EXP = np.array([0.4, 0.4, 1.0])
BATTERY = BatteryParams(capacity_kwh=50, soc0=0.5, soc_min=0.1, soc_max=0.9, p_max_kw=20)


def _vpp(name: str, wind: list[float], load: list[float], battery: bool = False) -> VppDayAheadData:
    return VppDayAheadData(
        name=name, dt_h=1.0, wind_fc_kw=np.asarray(wind, float), pv_fc_kw=np.zeros(len(load)),
        load_kw=np.asarray(load, float), costs=COSTS, buy_max_kw=100.0, sell_max_kw=100.0,
        voll_cny_per_kwh=10.0, batteries=(BatteryData(BATTERY, 25.0),) if battery else ())


def tiny_market() -> DayAheadMarket:
    """Two VPPs over three periods with a tie the VPO cares about (see the comment above)."""
    return DayAheadMarket([_vpp("A", [0, 0, 0], [30, 30, 30], battery=True),
                           _vpp("B", [40, 0, 0], [0, 5, 5])], TIE_PI_IMP, TIE_PI_EXP)


def brute_force_ends(market: DayAheadMarket, c_sell: np.ndarray,
                     c_buy: np.ndarray) -> tuple[float, float]:
    """(min, max) VPO profit over the optimal faces by enumerating the grid side per period.

    On each of the ``2^T`` sign patterns of the net export the grid term is linear
    (``pi_exp*net`` exporting, ``pi_imp*net`` importing): one scipy ``linprog`` per pattern
    and sense, no binaries, no big-M.
    """
    T, dt = market.n_periods, market.dt_h
    lps = [build_vpp_lp(d, c_sell, c_buy) for d in market.vpps]
    best = [solve_vpp_day_ahead(d, c_sell, c_buy).cost_cny for d in market.vpps]
    off = np.cumsum([0] + [lp.a.shape[1] for lp in lps])
    n = int(off[-1])
    a = sp.block_diag([lp.a for lp in lps]).tocsr()
    face = np.zeros((len(lps), n))
    net = np.zeros((T, n))
    trade = np.zeros(n)
    for i, lp in enumerate(lps):
        face[i, off[i]:off[i + 1]] = lp.c
        net[:, off[i] + lp.names["e"]] += np.eye(T)
        net[:, off[i] + lp.names["g"]] -= np.eye(T)
        trade[off[i] + lp.names["g"]] += dt * c_sell
        trade[off[i] + lp.names["e"]] -= dt * c_buy
    rl = np.concatenate([lp.row_lo for lp in lps])
    ru = np.concatenate([lp.row_hi for lp in lps])
    face_ub = np.array([f - lp.offset + 1e-6 for f, lp in zip(best, lps, strict=True)])
    bounds = [(lo, None if hi > 1e20 else hi) for lo, hi in
              zip(np.concatenate([lp.col_lo for lp in lps]),
                  np.concatenate([lp.col_hi for lp in lps]), strict=True)]
    lowest, highest = np.inf, -np.inf
    for signs in itertools.product([1.0, -1.0], repeat=T):
        s = np.asarray(signs)
        profit = trade + dt * (np.where(s > 0, market.pi_exp, market.pi_imp) @ net)
        a_ub = sp.vstack([a, -a, sp.csr_matrix(face), sp.csr_matrix(-s[:, None] * net)]).tocsr()
        b_ub = np.concatenate([ru, -rl, face_ub, np.zeros(T)])
        keep = np.abs(b_ub) < 1e20
        for sense in (1.0, -1.0):
            r = so.linprog(sense * profit, A_ub=a_ub[keep], b_ub=b_ub[keep], bounds=bounds,
                           method="highs")
            if r.status == 0:
                lowest = min(lowest, r.fun) if sense > 0 else lowest
                highest = max(highest, -r.fun) if sense < 0 else highest
    return lowest, highest
