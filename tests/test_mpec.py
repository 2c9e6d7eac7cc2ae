"""The exact Stackelberg prices of the ``vpo_profit`` game (``vppsim.market.mpec``), real HiGHS.

Checked against: hand-computed optima (a fixed deficit, a fixed surplus, the spread earned by
matching them, and a load-curtailment threshold where the leader needs the optimistic tie), a
brute-force grid over the prices of a two-VPP, two-period case with a battery, and on the shipped
three-VPP scenario the leader's profit at pass-through and at random prices of the box (ties
broken in the leader's favour, so these are lower bounds on the optimum). With the VPO's own
battery: a hand-computed valley-to-peak arbitrage, the same brute-force grid with the storage
optimized exactly by an LP at every price point, and the shipped scenario against its no-storage
optimum.
"""

from __future__ import annotations

import dataclasses
import itertools

import highspy
import numpy as np
import pytest
from market_cases import MPEC_COSTS as COSTS

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import (
    BatteryData,
    ControllableLoadData,
    VppDayAheadData,
    build_vpp_lp,
    solve_vpp_day_ahead,
)
from vppsim.market.mpec import MpecResult, solve_vpo_profit_mpec, vpo_profit
from vppsim.market.outcome import optimistic_profit
from vppsim.market.vpo_storage import VpoStorageData, build_vpo_storage_lp
from vppsim.model import VPPModel
from vppsim.optimizers.highs import new_highs, pass_model, solve_lp
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import BatteryParams

W_B = COSTS.w_b_purchase_cny_per_kwh


def vpp(name: str, wind: list[float], pv: list[float], load: list[float], dt: float = 1.0,
        batteries: tuple[BatteryData, ...] = (),
        cls: tuple[ControllableLoadData, ...] = (), limit: float = 400.0) -> VppDayAheadData:
    return VppDayAheadData(
        name=name, dt_h=dt, wind_fc_kw=np.array(wind, float), pv_fc_kw=np.array(pv, float),
        load_kw=np.array(load, float), costs=COSTS, buy_max_kw=limit, sell_max_kw=limit,
        voll_cny_per_kwh=10.0, batteries=batteries, controllable_loads=cls,
    )


def check_certificate(r: MpecResult, pi_imp: np.ndarray, pi_exp: np.ndarray) -> None:
    """What every MPEC answer must satisfy, whatever the case."""
    assert r.proven_optimal, r.status
    assert r.dual_bounds_certified
    assert np.all(r.c_buy >= pi_exp - 1e-9) and np.all(r.c_sell <= pi_imp + 1e-9)
    assert np.all(r.c_buy <= r.c_sell + 1e-9)
    # the linearized objective (strong duality) equals the bilinear profit of the MILP's point
    assert r.milp_objective_cny == pytest.approx(r.objective_cny, abs=1e-5)
    assert r.best_bound_cny >= r.objective_cny - 1e-5
    # every VPP plays a best response at the returned prices; its dual objective is its cost
    assert max(abs(x) for x in r.vpp_regret_cny) < 1e-5
    for implied, resolved in zip(r.vpp_cost_cny, r.vpp_cost_resolved_cny, strict=True):
        assert implied == pytest.approx(resolved, abs=1e-5)
    # the same prices with the ties re-broken for the leader by an independent LP
    assert r.objective_optimistic_cny == pytest.approx(r.objective_cny, abs=1e-4)
    assert r.objective_resolved_cny <= r.objective_cny + 1e-5
    assert r.max_dual_over_m < 1.0


def check_storage_schedule(r: MpecResult, st: VpoStorageData, dt: float) -> None:
    """The MPEC's VPO storage schedule obeys the battery's bounds and dynamics."""
    p = st.params
    ch, dis, soc = r.vpo_charge_kw, r.vpo_discharge_kw, r.vpo_soc_kwh
    assert ch is not None and dis is not None and soc is not None
    assert np.all(ch >= -1e-9) and np.all(ch <= p.p_max_kw + 1e-9)
    assert np.all(dis >= -1e-9) and np.all(dis <= p.p_max_kw + 1e-9)
    want = st.soc_start_kwh + np.cumsum(p.eta_charge * ch * dt - dis * dt / p.eta_discharge)
    assert soc == pytest.approx(want, abs=1e-6)
    assert np.all(soc >= p.soc_min * p.capacity_kwh - 1e-6)
    assert np.all(soc <= p.soc_max * p.capacity_kwh + 1e-6)
    if st.end_soc_at_least_initial:
        assert soc[-1] >= st.soc_start_kwh - 1e-6
    # the reported grid trade closes the VPO's balance E - G + dis_o - ch_o = x - m
    net = sum(r.sell_kw) - sum(r.buy_kw) + dis - ch
    assert r.grid_export_kw - r.grid_import_kw == pytest.approx(net, abs=1e-6)


def storage_value(st: VpoStorageData, net_export_kw: np.ndarray, pi_imp: np.ndarray,
                  pi_exp: np.ndarray, dt: float) -> float:
    """The VPO's best grid value ``dt*sum[pi_exp*x - pi_imp*m - lam_o*(ch + dis)]`` (an LP)."""
    sol = solve_lp(build_vpo_storage_lp(st, net_export_kw, pi_imp, pi_exp, dt))
    assert sol.optimal, sol.status
    return -sol.objective


def test_vpo_profit_formula() -> None:
    c_sell, c_buy = np.array([1.0, 0.9]), np.array([0.6, 0.5])
    pi_imp, pi_exp = np.array([1.2, 1.0]), np.array([0.4, 0.3])
    g = [np.array([50.0, 0.0]), np.array([10.0, 20.0])]
    e = [np.array([0.0, 70.0]), np.array([30.0, 0.0])]
    # t0: G=60, E=30 -> import 30; t1: G=20, E=70 -> export 50
    want = 0.5 * ((1.0 * 60 - 0.6 * 30 - 1.2 * 30) + (0.9 * 20 - 0.5 * 70 + 0.3 * 50))
    assert vpo_profit(c_sell, c_buy, g, e, pi_imp, pi_exp, 0.5) == pytest.approx(want)
    # with VPO storage: t0 charge 10 -> import 40; t1 discharge 20 -> export 70; cost 0.02*30
    ch, dis = np.array([10.0, 0.0]), np.array([0.0, 20.0])
    want = 0.5 * ((1.0 * 60 - 0.6 * 30 - 1.2 * 40) + (0.9 * 20 - 0.5 * 70 + 0.3 * 70)
                  - 0.02 * 30)
    assert vpo_profit(c_sell, c_buy, g, e, pi_imp, pi_exp, 0.5, ch, dis, 0.02) == pytest.approx(want)


# ---------------------------------------------------------------------------- answers known by hand

PI_IMP, PI_EXP = np.array([0.8]), np.array([0.5])


def test_fixed_deficit_leader_charges_the_import_price() -> None:
    # The VPP must buy D = 100 kW at any price below VOLL; Pi = (c_sell - pi_imp) * D <= 0.
    r = solve_vpo_profit_mpec(DayAheadMarket([vpp("D", [0.0], [0.0], [100.0])], PI_IMP, PI_EXP))
    check_certificate(r, PI_IMP, PI_EXP)
    assert r.objective_cny == pytest.approx(0.0, abs=1e-6)
    assert r.c_sell[0] == pytest.approx(0.8, abs=1e-6)
    assert r.buy_kw[0][0] == pytest.approx(100.0, abs=1e-6)
    assert r.grid_import_kw[0] == pytest.approx(100.0, abs=1e-6)


def test_fixed_surplus_leader_pays_the_export_price() -> None:
    # Surplus S = 110 - 50 = 60 kW: selling at c_buy >= pi_exp > 0 beats curtailing (cost mu1).
    r = solve_vpo_profit_mpec(DayAheadMarket([vpp("S", [110.0], [0.0], [50.0])], PI_IMP, PI_EXP))
    check_certificate(r, PI_IMP, PI_EXP)
    assert r.objective_cny == pytest.approx(0.0, abs=1e-6)
    assert r.c_buy[0] == pytest.approx(0.5, abs=1e-6)
    assert r.sell_kw[0][0] == pytest.approx(60.0, abs=1e-6)


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_deficit_and_surplus_leader_earns_the_spread(dt: float) -> None:
    # D1 = 100 kW, S2 = 60 kW: G = 100, E = 60, import 40.
    # Pi = dt*(c_sell*100 - c_buy*60 - 0.8*40), maximal at c_sell = 0.8, c_buy = 0.5:
    # dt*(80 - 30 - 32) = (0.8 - 0.5) * 60 * dt = 18 * dt.
    vpps = [vpp("D", [0.0], [0.0], [100.0], dt), vpp("S", [110.0], [0.0], [50.0], dt)]
    r = solve_vpo_profit_mpec(DayAheadMarket(vpps, PI_IMP, PI_EXP))
    check_certificate(r, PI_IMP, PI_EXP)
    assert r.objective_cny == pytest.approx(18.0 * dt, abs=1e-6)
    assert r.objective_resolved_cny == pytest.approx(18.0 * dt, abs=1e-6)
    assert (r.c_sell[0], r.c_buy[0]) == pytest.approx((0.8, 0.5), abs=1e-6)
    assert r.grid_import_kw[0] == pytest.approx(40.0, abs=1e-6)


def test_curtailment_threshold_needs_the_optimistic_tie() -> None:
    # VPP D can curtail its whole 100 kW load at 0.6 CNY/kWh, so it buys only if
    # c_sell + W_b <= 0.6, i.e. c_sell <= 0.57, and is indifferent at 0.57. VPP S sells 60 kW.
    # - c_sell > 0.57: D curtails, S's 60 kW go to the grid at c_buy >= 0.5: Pi <= 0;
    # - c_sell = 0.57: D buys any amount in [0, 100]; the leader takes exactly 60 (more would be
    #   imported at 0.8 and resold at 0.57): Pi = (0.57 - 0.5) * 60 = 4.2;
    # - c_sell < 0.57: D buys all 100, 40 imported at a loss: Pi = 100 c_sell - 30 - 32 < 0.
    d = vpp("D", [0.0], [0.0], [100.0], cls=(ControllableLoadData(np.array([100.0]), 0.6),))
    s = vpp("S", [110.0], [0.0], [50.0])
    market = DayAheadMarket([d, s], PI_IMP, PI_EXP)
    r = solve_vpo_profit_mpec(market)
    check_certificate(r, PI_IMP, PI_EXP)
    assert r.objective_cny == pytest.approx((0.6 - W_B - 0.5) * 60.0, abs=1e-6)
    assert (r.c_sell[0], r.c_buy[0]) == pytest.approx((0.6 - W_B, 0.5), abs=1e-6)
    assert r.buy_kw[0][0] == pytest.approx(60.0, abs=1e-6)
    assert r.grid_import_kw[0] == pytest.approx(0.0, abs=1e-6)
    # at pass-through the leader earns nothing, even with ties in its favour
    assert optimistic_profit(market, PI_IMP, PI_EXP) == pytest.approx(0.0, abs=1e-5)


# ------------------------------------------------------------------------- VPO storage, by hand


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_vpo_storage_buys_in_the_valley_and_serves_the_peak(dt: float) -> None:
    # One VPP with fixed deficits of 100 kW (valley, pi_imp = 0.5) and 40 kW (peak, 1.4); it buys
    # them at any c_sell below VOLL, so the leader charges c_sell = pi_imp (profit 0 without
    # storage). The VPO battery (lossless, 50 kW, 10..90 kWh, starting empty at 10 kWh, back to
    # >= 10 kWh at the end) must charge before it discharges: it imports 40 kW extra in the
    # valley and serves the whole 40 kW peak deficit, saving (1.4 - 0.5) per kWh at a cost of
    # 2 * 0.01 per kWh moved. Discharging more would export at 0.3 < 0.5 + 0.02: no.
    #   Pi = dt * [(1.4 - 0.5) * 40 - 0.01 * (40 + 40)] = 35.2 * dt.
    pi_imp, pi_exp = np.array([0.5, 1.4]), np.array([0.3, 0.3])
    bp = BatteryParams(capacity_kwh=100.0, soc0=0.1, soc_min=0.1, soc_max=0.9, p_max_kw=50.0,
                       eta_charge=1.0, eta_discharge=1.0)
    st = VpoStorageData(bp, soc_start_kwh=10.0, cost_cny_per_kwh=0.01)
    d = vpp("D", [0.0, 0.0], [0.0, 0.0], [100.0, 40.0], dt)
    plain = solve_vpo_profit_mpec(DayAheadMarket([d], pi_imp, pi_exp))
    check_certificate(plain, pi_imp, pi_exp)
    assert plain.objective_cny == pytest.approx(0.0, abs=1e-6)
    assert plain.vpo_charge_kw is None and plain.vpo_soc_kwh is None

    market = DayAheadMarket([d], pi_imp, pi_exp, st)
    r = solve_vpo_profit_mpec(market)
    check_certificate(r, pi_imp, pi_exp)
    check_storage_schedule(r, st, dt)
    assert r.objective_cny == pytest.approx(35.2 * dt, abs=1e-6)
    assert r.objective_resolved_cny == pytest.approx(35.2 * dt, abs=1e-6)
    assert r.c_sell == pytest.approx(pi_imp, abs=1e-6)
    assert r.buy_kw[0] == pytest.approx([100.0, 40.0], abs=1e-6)
    assert r.vpo_charge_kw == pytest.approx([40.0, 0.0], abs=1e-6)
    assert r.vpo_discharge_kw == pytest.approx([0.0, 40.0], abs=1e-6)
    assert r.vpo_soc_kwh == pytest.approx([10.0 + 40.0 * dt, 10.0], abs=1e-6)
    assert r.grid_import_kw == pytest.approx([140.0, 0.0], abs=1e-6)
    assert r.grid_export_kw == pytest.approx([0.0, 0.0], abs=1e-6)
    # the same profit from the evaluation formula and from the tie-breaking LP
    assert vpo_profit(pi_imp, pi_exp, [np.array([100.0, 40.0])], [np.zeros(2)], pi_imp, pi_exp,
                      dt, np.array([40.0, 0.0]), np.array([0.0, 40.0]), 0.01) == \
        pytest.approx(35.2 * dt)
    assert optimistic_profit(market, pi_imp, pi_exp) == \
        pytest.approx(35.2 * dt, abs=1e-5)


# ---------------------------------------------------------------------------- brute-force grid

SMALL_PI_IMP, SMALL_PI_EXP = np.array([1.0, 1.2]), np.array([0.4, 0.4])
SMALL_STORAGE = VpoStorageData(
    BatteryParams(capacity_kwh=100.0, soc0=0.5, soc_min=0.1, soc_max=0.9, p_max_kw=40.0,
                  eta_charge=0.95, eta_discharge=0.95),
    soc_start_kwh=50.0, cost_cny_per_kwh=0.02,
)


def small_vpps() -> list[VppDayAheadData]:
    # A: surplus 30 kW then 120 kW, a battery (it can discharge at t0 and recharge at t1 when
    #    c_buy[0] is high enough against c_buy[1]); B: deficits of 70 and 60 kW, all curtailable
    #    at 1.0 CNY/kWh (it buys only if c_sell + W_b <= 1.0).
    bp = BatteryParams(capacity_kwh=100.0, soc0=0.5, soc_min=0.1, soc_max=0.9, p_max_kw=40.0)
    a = vpp("A", [80.0, 150.0], [0.0, 40.0], [50.0, 70.0], batteries=(BatteryData(bp, 50.0),),
            limit=150.0)
    b = vpp("B", [20.0, 10.0], [0.0, 30.0], [90.0, 100.0], limit=150.0,
            cls=(ControllableLoadData(np.array([70.0, 60.0]), 1.0),))
    return [a, b]


def _warm_answers(d: VppDayAheadData):
    """VPP ``d``'s optimal (G, E) at given prices from one HiGHS instance whose trade costs change.

    14,400 grid points: a warm re-solve costs a few pivots, a fresh LP per point about 2 ms.
    An answer with simultaneous flows (charge and discharge, or buy and sell) is taken from
    ``solve_vpp_day_ahead``, which repairs it, instead.
    """
    T = d.n_periods
    lp = build_vpp_lp(d, np.zeros(T), np.zeros(T))
    g, e = lp.names["g"], lp.names["e"]
    ch, dis = lp.names["ch0"], lp.names["dis0"]
    cols = np.concatenate([g, e]).astype(np.int32)
    base = lp.c[cols].copy()
    h = new_highs()
    pass_model(h, lp)

    def answer(c_sell: np.ndarray, c_buy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h.changeColsCost(len(cols), cols, base + np.concatenate([c_sell, -c_buy]) * d.dt_h)
        h.run()
        x = np.asarray(h.getSolution().col_value)
        if (h.getModelStatus() != highspy.HighsModelStatus.kOptimal
                or np.any(np.minimum(x[ch], x[dis]) > 1e-9) or np.any(np.minimum(x[g], x[e]) > 1e-9)):
            s = solve_vpp_day_ahead(d, c_sell, c_buy)
            return s.buy_kw, s.sell_kw
        return x[g], x[e]

    return answer


@pytest.fixture(scope="module")
def small_grid() -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
    """The VPPs' responses on a 15 x 15 grid of (c_sell[t], c_buy[t] <= c_sell[t]) per period.

    Returns the grid steps and, per price point, ``(c_sell, c_buy, G, E)``.
    """
    a, b = small_vpps()
    pi_imp, pi_exp = SMALL_PI_IMP, SMALL_PI_EXP
    n = 15
    grids = [np.linspace(pi_exp[t], pi_imp[t], n) for t in range(2)]
    pairs = [[(cs, cb) for cs in g for cb in g if cb <= cs] for g in grids]
    # B has no battery or generator: its LP separates by period, so its response in period t
    # depends on (c_sell[t], c_buy[t]) only (the other period's prices are held anywhere).
    resp_b = {}
    for t in range(2):
        for cs, cb in pairs[t]:
            c_sell, c_buy = pi_imp.copy(), pi_exp.copy()
            c_sell[t], c_buy[t] = cs, cb
            sb = solve_vpp_day_ahead(b, c_sell, c_buy)
            resp_b[t, cs, cb] = (sb.buy_kw[t], sb.sell_kw[t])
    points = []
    answer_a = _warm_answers(a)
    for (cs0, cb0), (cs1, cb1) in itertools.product(*pairs):
        c_sell, c_buy = np.array([cs0, cs1]), np.array([cb0, cb1])
        ga, ea = answer_a(c_sell, c_buy)
        gb = np.array([resp_b[0, cs0, cb0][0], resp_b[1, cs1, cb1][0]])
        eb = np.array([resp_b[0, cs0, cb0][1], resp_b[1, cs1, cb1][1]])
        points.append((c_sell, c_buy, ga + gb, ea + eb))
    return np.array([g[1] - g[0] for g in grids]), points


@pytest.fixture(scope="module")
def small_mpec() -> MpecResult:
    r = solve_vpo_profit_mpec(DayAheadMarket(small_vpps(), SMALL_PI_IMP, SMALL_PI_EXP))
    check_certificate(r, SMALL_PI_IMP, SMALL_PI_EXP)
    return r


def test_two_vpps_two_periods_match_a_price_grid(small_grid, small_mpec) -> None:
    # The optimum is interior: c_sell at B's threshold 0.97 and c_buy[0] at A's battery
    # threshold.
    pi_imp, pi_exp = SMALL_PI_IMP, SMALL_PI_EXP
    r = small_mpec
    assert r.c_sell == pytest.approx([1.0 - W_B, 1.0 - W_B], abs=1e-6)
    assert pi_exp[0] + 0.1 < r.c_buy[0] < pi_imp[0] - 0.1

    h, points = small_grid
    best = -np.inf
    for c_sell, c_buy, big_g, big_e in points:
        pi = vpo_profit(c_sell, c_buy, [big_g], [big_e], pi_imp, pi_exp, 1.0)
        assert pi <= r.objective_cny + 1e-6, (c_sell, c_buy, pi)
        best = max(best, pi)
    # Resolution: moving each price by one grid step h_t towards the side where the followers
    # strictly prefer the leader's schedule changes Pi by at most h_t * (G_t + E_t) * dt.
    tol = float(np.sum(h * (sum(r.buy_kw) + sum(r.sell_kw))))
    assert r.objective_cny - best <= tol
    assert r.objective_cny - best > 0.0  # the optimum lies between grid points here


def test_vpo_storage_matches_a_price_grid(small_grid, small_mpec) -> None:
    # The same game with a VPO battery (40 kW, 10..90 kWh, starting at 50, eta 0.95, 0.02
    # CNY/kWh). At every grid point the VPPs answer (solve_vpp_day_ahead) and the VPO then
    # schedules its storage optimally for their net position (an exact LP).
    pi_imp, pi_exp, st = SMALL_PI_IMP, SMALL_PI_EXP, SMALL_STORAGE
    r = solve_vpo_profit_mpec(DayAheadMarket(small_vpps(), pi_imp, pi_exp, st))
    check_certificate(r, pi_imp, pi_exp)
    check_storage_schedule(r, st, 1.0)
    # storage can only help the leader: it may stay idle, and even at the no-storage optimum's
    # prices and schedules it adds its own best response
    r0 = small_mpec
    trade0 = float(np.sum(r0.c_sell * sum(r0.buy_kw) - r0.c_buy * sum(r0.sell_kw)))
    idle_or_better = trade0 + storage_value(st, sum(r0.sell_kw) - sum(r0.buy_kw), pi_imp,
                                            pi_exp, 1.0)
    assert idle_or_better >= r0.objective_cny - 1e-6
    assert r.objective_cny >= idle_or_better - 1e-6
    assert r.objective_cny > r0.objective_cny + 1.0
    assert np.max(r.vpo_charge_kw + r.vpo_discharge_kw) > 1.0  # the battery is used

    h, points = small_grid
    cache: dict[tuple[float, ...], float] = {}
    best = -np.inf
    for c_sell, c_buy, big_g, big_e in points:
        net = big_e - big_g
        key = tuple(np.round(net, 9))
        if key not in cache:
            cache[key] = storage_value(st, net, pi_imp, pi_exp, 1.0)
        pi = float(np.sum(c_sell * big_g - c_buy * big_e)) + cache[key]
        assert pi <= r.objective_cny + 1e-6, (c_sell, c_buy, pi)
        best = max(best, pi)
    # The same resolution argument: the followers' schedules (hence the net position and the
    # storage's best response) stay; only the trade revenue moves, by at most h_t*(G_t + E_t).
    tol = float(np.sum(h * (sum(r.buy_kw) + sum(r.sell_kw))))
    assert r.objective_cny - best <= tol
    # Here the battery frees the leader from A's battery: c_buy drops to pi_exp (on the grid),
    # so only c_sell rounds and the tolerance tightens to h_t * G_t (about 6.3 CNY of 68.8).
    assert r.c_buy == pytest.approx(pi_exp, abs=1e-6)
    assert r.objective_cny - best <= float(np.sum(h * sum(r.buy_kw)))


# ---------------------------------------------------------------------------- the shipped scenario


@pytest.fixture(scope="module")
def three_vpps() -> tuple[DayAheadMarket, np.ndarray, np.ndarray, MpecResult]:
    model = VPPModel(load_scenario(default_scenario_path()))
    vpps = [v.day_ahead_data(0) for v in model.vpps]
    pi_imp = np.asarray(model.tariff.import_cny_per_kwh[:24], float)
    pi_exp = np.asarray(model.tariff.export_cny_per_kwh[:24], float)
    market = DayAheadMarket(vpps, pi_imp, pi_exp)
    return market, pi_imp, pi_exp, solve_vpo_profit_mpec(market, time_limit_s=300.0)


def test_three_vpp_scenario_is_solved_to_proven_optimality(three_vpps) -> None:
    market, pi_imp, pi_exp, r = three_vpps
    check_certificate(r, pi_imp, pi_exp)
    assert r.mip_gap <= 1e-6
    assert r.n_binaries > 0
    # no price vector of the box gives the leader more, even with ties in its favour
    rng = np.random.default_rng(7)
    candidates = [(pi_imp, pi_exp)]
    for _ in range(5):
        u = np.sort(rng.uniform(size=(2, 24)), axis=0)
        candidates.append((pi_exp + u[1] * (pi_imp - pi_exp), pi_exp + u[0] * (pi_imp - pi_exp)))
    for c_sell, c_buy in candidates:
        assert optimistic_profit(market, c_sell, c_buy) <= r.objective_cny + 1e-5


def test_three_vpp_scenario_with_vpo_storage(three_vpps) -> None:
    # A VPO battery of 200 kWh / 50 kW (soc 0.5 in [0.1, 0.9], eta 0.95, 0.02 CNY/kWh).
    market0, pi_imp, pi_exp, r0 = three_vpps
    bp = BatteryParams(capacity_kwh=200.0, soc0=0.5, soc_min=0.1, soc_max=0.9, p_max_kw=50.0,
                       eta_charge=0.95, eta_discharge=0.95)
    st = VpoStorageData(bp, soc_start_kwh=100.0, cost_cny_per_kwh=0.02)
    market = dataclasses.replace(market0, storage=st)
    r = solve_vpo_profit_mpec(market, time_limit_s=300.0)
    check_certificate(r, pi_imp, pi_exp)
    check_storage_schedule(r, st, 1.0)
    assert r.mip_gap <= 1e-6
    # at least the no-storage optimum plus the battery's best response to its net position
    trade0 = float(np.sum(r0.c_sell * sum(r0.buy_kw) - r0.c_buy * sum(r0.sell_kw)))
    lower = trade0 + storage_value(st, sum(r0.sell_kw) - sum(r0.buy_kw), pi_imp, pi_exp, 1.0)
    assert lower >= r0.objective_cny - 1e-6
    assert r.objective_cny >= lower - 1e-5
    assert r.objective_cny > r0.objective_cny + 10.0
    # no price vector of the box gives more, ties and storage both optimized for the leader
    rng = np.random.default_rng(11)
    candidates = [(pi_imp, pi_exp), (r0.c_sell, r0.c_buy)]
    for _ in range(3):
        u = np.sort(rng.uniform(size=(2, 24)), axis=0)
        candidates.append((pi_exp + u[1] * (pi_imp - pi_exp), pi_exp + u[0] * (pi_imp - pi_exp)))
    for c_sell, c_buy in candidates:
        pi = optimistic_profit(market, c_sell, c_buy)
        assert pi <= r.objective_cny + 1e-5
    print(f"\nVPO storage 200 kWh / 50 kW: Pi = {r.objective_cny:.4f} CNY "
          f"(without: {r0.objective_cny:.4f}); MILP {r.solve_time_s:.2f} s "
          f"(without: {r0.solve_time_s:.2f} s), bounds {r.bounds_time_s:.2f} s, "
          f"{r.n_binaries} binaries")


def test_larger_dual_big_ms_do_not_change_the_optimum(three_vpps) -> None:
    market, _, _, r = three_vpps
    loose = solve_vpo_profit_mpec(market, time_limit_s=300.0, dual_m_scale=10.0)
    assert loose.proven_optimal
    assert loose.objective_cny == pytest.approx(r.objective_cny, abs=1e-4)
    # the tighter big-Ms of the McCormick value bound, and the envelope rows in the MILP
    tight = solve_vpo_profit_mpec(market, time_limit_s=300.0, value_bound="mccormick",
                                  envelope_rows=True)
    assert tight.proven_optimal
    assert tight.objective_cny == pytest.approx(r.objective_cny, abs=1e-4)
    assert tight.n_binaries <= r.n_binaries
    with pytest.raises(ValueError, match="value_bound"):
        solve_vpo_profit_mpec(market, value_bound="mc")
