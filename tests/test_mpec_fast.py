"""The MPEC's speed-ups (``vppsim.market.mpec``): redundant rows, warm start; real HiGHS.

Checked against: each VPP's LP solved alone by ``solve_vpp_day_ahead`` (the rows dropped before
the KKT system change no optimum), the leader's profit at the VPPs' own answers and with ties
broken for it (``optimistic_profit``) bracketing the warm-start point, the MPEC without a warm
start, and on the shipped days the optimum of a separately written MPEC (issue 12: 256.4900
CNY on the 3-VPP day, 274.1929 CNY on the 6-VPP day) recomputed by ``optimistic_profit`` at
the MPEC's prices, which is independent of the KKT formulation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from market_cases import MPEC_COSTS as COSTS

from vppsim.market import mpec
from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import (
    BatteryData,
    ControllableLoadData,
    GeneratorData,
    VppDayAheadData,
    build_vpp_lp,
    solve_vpp_day_ahead,
)
from vppsim.market.outcome import optimistic_profit
from vppsim.model import VPPModel
from vppsim.optimizers.highs import solve_lp
from vppsim.paths import data_dir
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import BatteryParams

SMALL_PI_IMP, SMALL_PI_EXP = np.array([1.0, 1.2]), np.array([0.4, 0.4])


def vpp(name: str, wind: list[float], pv: list[float], load: list[float], **kw) -> VppDayAheadData:
    return VppDayAheadData(
        name=name, dt_h=1.0, wind_fc_kw=np.array(wind, float), pv_fc_kw=np.array(pv, float),
        load_kw=np.array(load, float), costs=COSTS, buy_max_kw=150.0, sell_max_kw=150.0,
        voll_cny_per_kwh=10.0, **kw,
    )


def check_certificate(r: mpec.MpecResult) -> None:
    """Proven optimal, best responses, and the optimistic re-check (as tests/test_mpec.py)."""
    assert r.proven_optimal, r.status
    assert r.dual_bounds_certified
    assert r.milp_objective_cny == pytest.approx(r.objective_cny, abs=1e-5)
    assert max(abs(x) for x in r.vpp_regret_cny) < 1e-5
    assert r.objective_optimistic_cny == pytest.approx(r.objective_cny, abs=1e-4)
    assert r.max_dual_over_m < 1.0


def shipped_market(scenario: str) -> DayAheadMarket:
    return VPPModel(load_scenario(data_dir("scenarios") / scenario)).day_ahead_market(0)


def with_generator(ramp_kw_per_h: float) -> list:
    """Two VPPs over two periods (tests/test_mpec.py's small case), B with a 2-segment unit.

    A has a surplus and a battery, B deficits it can curtail at 1.0 CNY/kWh; the unit has
    p_min 0, so its p_min rows are implied by the segments' bounds.
    """
    bp = BatteryParams(capacity_kwh=100.0, soc0=0.5, soc_min=0.1, soc_max=0.9, p_max_kw=40.0)
    a = vpp("A", [80.0, 150.0], [0.0, 40.0], [50.0, 70.0], batteries=(BatteryData(bp, 50.0),))
    b = vpp("B", [20.0, 10.0], [0.0, 30.0], [90.0, 100.0],
            controllable_loads=(ControllableLoadData(np.array([70.0, 60.0]), 1.0),))
    gen = GeneratorData(p_min_kw=0.0, p_max_kw=30.0, ramp_kw_per_h=ramp_kw_per_h, p_start_kw=0.0,
                        cost_a_cny_per_h=0.5, segment_width_kw=np.array([15.0, 15.0]),
                        segment_slope_cny_per_kwh=np.array([0.6, 0.9]))
    return [a, dataclasses.replace(b, generators=(gen,))]


@pytest.mark.parametrize("ramp", [10.0, 30.0])
def test_dropped_rows_change_no_optimum(ramp: float) -> None:
    # p_min = 0 rows are implied by the segments' bounds; a ramp of p_max (30) is implied too.
    _, b = with_generator(ramp)
    full = build_vpp_lp(b, SMALL_PI_IMP, SMALL_PI_EXP)
    reduced = mpec._drop_redundant_rows(full)
    n_gen_rows = 2 + 2  # p_min row and ramp row per period
    dropped = full.a.shape[0] - reduced.a.shape[0]
    assert dropped == (n_gen_rows if ramp >= 30.0 else 2)
    rng = np.random.default_rng(3)
    for _ in range(5):
        u = np.sort(rng.uniform(size=(2, 2)), axis=0)
        c_sell = SMALL_PI_EXP + u[1] * (SMALL_PI_IMP - SMALL_PI_EXP)
        c_buy = SMALL_PI_EXP + u[0] * (SMALL_PI_IMP - SMALL_PI_EXP)
        lp = build_vpp_lp(b, c_sell, c_buy)
        sol = solve_lp(dataclasses.replace(mpec._drop_redundant_rows(lp)))
        assert sol.optimal
        want = solve_vpp_day_ahead(b, c_sell, c_buy).cost_cny
        assert sol.objective == pytest.approx(want, abs=1e-7)


def test_warm_point_lies_between_own_answers_and_optimistic_ties() -> None:
    market = DayAheadMarket(with_generator(10.0), SMALL_PI_IMP, SMALL_PI_EXP)
    followers = mpec._bounded_followers(market, "extreme-prices", 1.0)
    milp, cols = mpec._build_milp(market, followers, envelope_rows=False)
    rng = np.random.default_rng(5)
    for k in range(4):
        if k == 0:
            c_sell, c_buy = market.pi_imp, market.pi_exp
        else:
            u = np.sort(rng.uniform(size=(2, 2)), axis=0)
            c_sell = SMALL_PI_EXP + u[1] * (SMALL_PI_IMP - SMALL_PI_EXP)
            c_buy = SMALL_PI_EXP + u[0] * (SMALL_PI_IMP - SMALL_PI_EXP)
        point = mpec._warm_point(milp, cols, followers, c_sell, c_buy)
        assert point is not None
        value, x = point
        # a point of the MILP: bounds, rows and binaries hold
        assert np.all(x >= milp.col_lo - 1e-7) and np.all(x <= milp.col_hi + 1e-7)
        act = milp.a @ x
        assert np.all(act >= milp.row_lo - 1e-6) and np.all(act <= milp.row_hi + 1e-6)
        assert np.allclose(x[milp.integer], np.round(x[milp.integer]))
        own = [solve_vpp_day_ahead(d, c_sell, c_buy) for d in market.vpps]
        low = mpec.vpo_profit(c_sell, c_buy, [s.buy_kw for s in own], [s.sell_kw for s in own],
                              market.pi_imp, market.pi_exp, market.dt_h)
        assert low - 1e-6 <= value <= optimistic_profit(market, c_sell, c_buy) + 1e-6


def test_warm_start_does_not_change_the_optimum() -> None:
    market = DayAheadMarket(with_generator(10.0), SMALL_PI_IMP, SMALL_PI_EXP)
    cold = mpec.solve_vpo_profit_mpec(market, start_prices=())
    warm = mpec.solve_vpo_profit_mpec(market)
    at_opt = mpec.solve_vpo_profit_mpec(market, start_prices=[(cold.c_sell, cold.c_buy)])
    for r in (cold, warm, at_opt):
        check_certificate(r)
        assert r.objective_cny == pytest.approx(cold.objective_cny, abs=1e-6)
    assert cold.objective_cny >= optimistic_profit(market, market.pi_imp, market.pi_exp) - 1e-6


@pytest.mark.parametrize(("scenario", "optimum_cny"), [
    ("liu2025_3vpp.yaml", 256.4900),
    ("liu2025_6vpp.yaml", 274.1929),
])
def test_shipped_optimum_is_the_separately_computed_one(scenario: str, optimum_cny: float) -> None:
    market = shipped_market(scenario)
    r = mpec.solve_vpo_profit_mpec(market, time_limit_s=600.0)
    assert r.proven_optimal and r.mip_gap <= 1e-6
    assert optimistic_profit(market, r.c_sell, r.c_buy) == pytest.approx(optimum_cny, abs=1e-4)
    assert r.objective_cny == pytest.approx(optimum_cny, abs=1e-4)


def test_threaded_bound_lps_give_the_same_big_ms_and_optimum() -> None:
    market = shipped_market("liu2025_3vpp.yaml")
    one = mpec._bounded_followers(market, "extreme-prices", 1.0, threads=1)
    two = mpec._bounded_followers(market, "extreme-prices", 1.0, threads=2)
    for a, b in zip(one, two, strict=True):
        for name in ("m_zl", "m_zu", "m_al", "m_be"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    r = mpec.solve_vpo_profit_mpec(market, bound_lp_threads=2)
    assert r.proven_optimal
    assert r.objective_cny == pytest.approx(256.4900, abs=1e-4)


def _cold_max(aux, cols: list[int], vals: list[float]) -> float:
    """``max vals @ z[cols]`` over the auxiliary LP, solved from scratch with HiGHS' defaults."""
    c = np.zeros(aux.a.shape[1])
    c[cols] = -np.asarray(vals)
    sol = solve_lp(dataclasses.replace(aux, c=c))
    assert sol.optimal, sol.status
    return -sol.objective


@pytest.mark.parametrize("case", ["small", "3vpp"])
def test_warm_bound_lps_equal_cold_solves(case: str) -> None:
    # The bound LPs run one after the other in one HiGHS (primal simplex, every maximum before
    # every minimum, sparse cost changes); each value must be the LP's optimum, as a cold solve
    # with the default (dual) simplex finds it.
    if case == "small":
        market, stride = DayAheadMarket(with_generator(10.0), SMALL_PI_IMP, SMALL_PI_EXP), 1
    else:
        market, stride = shipped_market("liu2025_3vpp.yaml"), 11
    for d in market.vpps:
        f = mpec._follower(d)
        lay = mpec._dual_layout(f)
        aux, lam = mpec._aux_dual_lp(f, lay, market.pi_imp, market.pi_exp, "extreme-prices")
        warm = mpec._DualRange(d.name, aux, lam, fallback=1e6)
        m_zl, m_zu, at_lo, at_hi = mpec._column_dual_bounds(f, lay, warm)
        m_al, m_be = mpec._row_dual_bounds(f, lay, warm)
        assert warm.certified
        cl = dict(zip(np.flatnonzero(f.has_lo), lay.cl, strict=True))
        cu = dict(zip(np.flatnonzero(f.has_hi), lay.cu, strict=True))
        for j in np.flatnonzero(f.has_lo | f.has_hi)[::stride]:
            cols = [int(lam[p]) for p in (cl.get(j), cu.get(j)) if p is not None]
            vals = [v for v, p in ((1.0, cl.get(j)), (-1.0, cu.get(j))) if p is not None]
            up, down = _cold_max(aux, cols, vals), _cold_max(aux, cols, [-v for v in vals])
            assert m_zl[j] == pytest.approx(max(up, 0.0) if j in cl else 0.0, abs=1e-7)
            assert m_zu[j] == pytest.approx(max(down, 0.0) if j in cu else 0.0, abs=1e-7)
            assert at_lo[j] == (down < -mpec.PROOF_TOL)
            assert at_hi[j] == (not at_lo[j] and up < -mpec.PROOF_TOL)
        lo = dict(zip(np.flatnonzero(f.lo_rows), lay.lo, strict=True))
        hi = dict(zip(np.flatnonzero(f.hi_rows), lay.hi, strict=True))
        for r in np.flatnonzero(f.lo_rows | f.hi_rows)[::stride]:
            cols = [int(lam[p]) for p in (lo.get(r), hi.get(r)) if p is not None]
            vals = [v for v, p in ((1.0, lo.get(r)), (-1.0, hi.get(r))) if p is not None]
            if r in lo:
                assert m_al[r] == pytest.approx(max(_cold_max(aux, cols, vals), 0.0), abs=1e-7)
            if r in hi:
                down = _cold_max(aux, cols, [-v for v in vals])
                assert m_be[r] == pytest.approx(max(down, 0.0), abs=1e-7)
