"""The lower level (one VPP's day-ahead schedule) checked against independent formulations.

``solve_vpp_day_ahead`` (HiGHS via highspy, sparse, segment variables for the generator cost,
variables grouped by kind) is compared with a dense LP written here from paper 004 eq. 1-6 with
docs/design.md's signs and solved by ``scipy.optimize.linprog``/``milp``: variables ordered period by
period, the generator's quadratic cost through an epigraph over its secants, no upper bound on
unmet demand. Also: a brute force over a battery power grid, the cost terms, the MILP fallback
when the LP relaxation charges and discharges (or buys and sells) at once, and the realized
cost of a model run without forecast error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from vppsim.market.lower_level import (
    BatteryData,
    ControllableLoadData,
    GeneratorData,
    VppDayAheadData,
    VppSchedule,
    solve_vpp_day_ahead,
    vpp_cost_terms,
)
from vppsim.model import VPPModel
from vppsim.results.run import summarize
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import BatteryParams, VppCostSpec

OBJ_TOL = 1e-6
FEAS_TOL = 1e-6
SEGMENTS = 4  # the generator agent's secant segments of the quadratic cost


# ---------------------------------------------------------------------------- test cases as plain data


@dataclass(frozen=True)
class Gen:
    """A unit with cost ``a + b*p + c*p**2`` CNY/h, approximated by secants on a uniform grid."""

    p_min: float
    p_max: float
    ramp: float | None
    p_start: float
    a: float
    b: float
    c: float

    def breakpoints(self) -> tuple[np.ndarray, np.ndarray]:
        bp = np.linspace(0.0, self.p_max, SEGMENTS + 1)
        return bp, self.a + self.b * bp + self.c * bp**2

    def data(self) -> GeneratorData:
        bp, f = self.breakpoints()
        widths = np.diff(bp)
        return GeneratorData(self.p_min, self.p_max, self.ramp, self.p_start, self.a, widths,
                             np.diff(f) / widths)


@dataclass(frozen=True)
class Case:
    dt: float
    wind: np.ndarray
    pv: np.ndarray
    load: np.ndarray
    costs: dict[str, float]
    buy_max: float
    sell_max: float
    voll: float
    batteries: tuple[tuple[BatteryParams, float], ...] = ()
    gens: tuple[Gen, ...] = ()
    cls: tuple[tuple[np.ndarray, float], ...] = ()
    end_soc: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def T(self) -> int:
        return len(self.load)

    def data(self) -> VppDayAheadData:
        return VppDayAheadData(
            name="TEST", dt_h=self.dt, wind_fc_kw=np.asarray(self.wind, float),
            pv_fc_kw=np.asarray(self.pv, float), load_kw=np.asarray(self.load, float),
            costs=VppCostSpec(**self.costs), buy_max_kw=self.buy_max, sell_max_kw=self.sell_max,
            voll_cny_per_kwh=self.voll,
            batteries=tuple(BatteryData(p, s0) for p, s0 in self.batteries),
            generators=tuple(g.data() for g in self.gens),
            controllable_loads=tuple(ControllableLoadData(np.asarray(cap, float), cost)
                                     for cap, cost in self.cls),
            end_soc_at_least_initial=self.end_soc,
        )


def costs(**over: float) -> dict[str, float]:
    base = {"mu1_wind_curtail_cny_per_kwh": 0.5, "mu2_pv_curtail_cny_per_kwh": 0.6,
            "lam1_battery_cny_per_kwh": 0.05, "lam2_wind_om_cny_per_kwh": 0.58,
            "lam3_pv_om_cny_per_kwh": 0.68, "w_b_purchase_cny_per_kwh": 0.03,
            "w_bat_battery_cny_per_kwh": 0.02}
    base.update(over)
    return base


def bat(cap: float, soc0: float, lo: float, hi: float, pmax: float, ec: float = 0.95,
        ed: float = 0.95) -> tuple[BatteryParams, float]:
    p = BatteryParams(capacity_kwh=cap, soc0=soc0, soc_min=lo, soc_max=hi, p_max_kw=pmax,
                      eta_charge=ec, eta_discharge=ed)
    return p, soc0 * cap


CASE_A = Case(
    dt=1.0,
    wind=np.array([120.0, 80.0, 40.0, 10.0, 60.0]),
    pv=np.array([0.0, 50.0, 150.0, 90.0, 0.0]),
    load=np.array([150.0, 170.0, 160.0, 220.0, 260.0]),
    costs=costs(),
    buy_max=120.0, sell_max=60.0, voll=10.0,
    batteries=(bat(200.0, 0.5, 0.1, 0.9, 50.0, 0.95, 0.92),),
    gens=(Gen(p_min=10.0, p_max=80.0, ramp=25.0, p_start=30.0, a=2.0, b=0.45, c=0.004),),
    cls=((np.array([5.0, 10.0, 15.0, 20.0, 25.0]), 0.9),),
    extra={"c_sell": [0.53, 0.79, 1.40, 1.40, 0.79], "c_buy": [0.40, 0.72, 1.04, 1.04, 0.72]},
)

CASE_B = Case(  # half-hour periods, two batteries, tight exchange: curtailment and unmet demand
    dt=0.5,
    wind=np.array([200.0, 210.0, 190.0, 50.0, 20.0, 0.0]),
    pv=np.array([0.0, 100.0, 250.0, 250.0, 80.0, 0.0]),
    load=np.array([100.0, 120.0, 140.0, 160.0, 300.0, 320.0]),
    costs=costs(mu1_wind_curtail_cny_per_kwh=0.3, w_b_purchase_cny_per_kwh=0.1),
    buy_max=40.0, sell_max=10.0, voll=8.0,
    batteries=(bat(100.0, 0.9, 0.2, 0.95, 40.0), bat(60.0, 0.3, 0.1, 1.0, 30.0, 1.0, 0.9)),
    gens=(Gen(p_min=20.0, p_max=120.0, ramp=30.0, p_start=60.0, a=5.0, b=0.6, c=0.002),),
    cls=((np.array([10.0, 10.0, 10.0, 30.0, 30.0, 30.0]), 0.3),),
    end_soc=False,
    extra={"c_sell": [0.5, 0.5, 1.2, 1.2, 1.5, 1.5], "c_buy": [0.2, 0.2, 0.9, 0.9, 1.1, 1.1]},
)


# ---------------------------------------------------------------------------- independent formulation


class Independent:
    """Dense LP/MILP of paper 004 eq. 1-6 (docs/design.md signs), variables period by period."""

    def __init__(self, case: Case, c_sell: np.ndarray, c_buy: np.ndarray, binaries: bool = False):
        self.case = case
        k = case.costs
        dt, T = case.dt, case.T
        self.col: dict[tuple[str, int, int], int] = {}
        lb: list[float] = []
        ub: list[float] = []
        cost: list[float] = []
        integ: list[int] = []

        def var(key: tuple[str, int, int], lo: float, hi: float, c: float = 0.0,
                integer: bool = False) -> None:
            self.col[key] = len(lb)
            lb.append(lo)
            ub.append(hi)
            cost.append(c)
            integ.append(1 if integer else 0)

        bat_cost = (k["lam1_battery_cny_per_kwh"] + k["w_bat_battery_cny_per_kwh"]) * dt
        for t in range(T):
            var(("e", 0, t), 0.0, case.sell_max, -c_buy[t] * dt)
            var(("g", 0, t), 0.0, case.buy_max, (c_sell[t] + k["w_b_purchase_cny_per_kwh"]) * dt)
            for i, (p, _) in enumerate(case.batteries):
                var(("soc", i, t), p.soc_min * p.capacity_kwh, p.soc_max * p.capacity_kwh)
                var(("dis", i, t), 0.0, p.p_max_kw, bat_cost)
                var(("ch", i, t), 0.0, p.p_max_kw, bat_cost)
            for j, gen in enumerate(case.gens):
                var(("p", j, t), gen.p_min, gen.p_max)
                var(("z", j, t), -np.inf, np.inf, dt)  # generator cost, CNY/h (epigraph)
            for m, (cap, cc) in enumerate(case.cls):
                var(("lc", m, t), 0.0, float(cap[t]), cc * dt)
            var(("pvc", 0, t), 0.0, float(case.pv[t]), k["mu2_pv_curtail_cny_per_kwh"] * dt)
            var(("wc", 0, t), 0.0, float(case.wind[t]), k["mu1_wind_curtail_cny_per_kwh"] * dt)
            var(("spill", 0, t), 0.0, np.inf, case.voll * dt)
            var(("unmet", 0, t), 0.0, np.inf, case.voll * dt)
            if binaries:
                var(("ug", 0, t), 0.0, 1.0, 0.0, True)
                for i in range(len(case.batteries)):
                    var(("uc", i, t), 0.0, 1.0, 0.0, True)
        self.constant = dt * (k["lam2_wind_om_cny_per_kwh"] * float(np.sum(case.wind))
                              + k["lam3_pv_om_cny_per_kwh"] * float(np.sum(case.pv)))
        self.lb, self.ub = np.array(lb), np.array(ub)
        self.c, self.integrality = np.array(cost), np.array(integ)
        n = len(lb)
        eq: list[tuple[dict[int, float], float]] = []
        le: list[tuple[dict[int, float], float]] = []
        C = self.col
        for t in range(T):
            # eq. 1: wind - w_cur + pv - pv_cur + dis - ch + g - e + gen + lc + unmet - spill = load
            row = {C["g", 0, t]: 1.0, C["e", 0, t]: -1.0, C["pvc", 0, t]: -1.0,
                   C["wc", 0, t]: -1.0, C["spill", 0, t]: -1.0, C["unmet", 0, t]: 1.0}
            for i in range(len(case.batteries)):
                row[C["dis", i, t]] = 1.0
                row[C["ch", i, t]] = -1.0
            for j in range(len(case.gens)):
                row[C["p", j, t]] = 1.0
            for m in range(len(case.cls)):
                row[C["lc", m, t]] = 1.0
            eq.append((row, case.load[t] - case.wind[t] - case.pv[t]))
        for i, (p, s0) in enumerate(case.batteries):  # eq. 2 and the battery recursion
            for t in range(T):
                row = {C["soc", i, t]: 1.0, C["ch", i, t]: -p.eta_charge * dt,
                       C["dis", i, t]: dt / p.eta_discharge}
                if t > 0:
                    row[C["soc", i, t - 1]] = -1.0
                eq.append((row, s0 if t == 0 else 0.0))
            if case.end_soc:
                le.append(({C["soc", i, T - 1]: -1.0}, -s0))
        for j, gen in enumerate(case.gens):
            bp, f = gen.breakpoints()
            slopes = np.diff(f) / np.diff(bp)
            for t in range(T):
                for s in range(SEGMENTS):  # z >= f(bp_s) + slope_s * (p - bp_s)
                    le.append(({C["p", j, t]: slopes[s], C["z", j, t]: -1.0},
                               slopes[s] * bp[s] - f[s]))
                if gen.ramp is not None:
                    r = gen.ramp * dt
                    if t == 0:
                        le.append(({C["p", j, 0]: 1.0}, gen.p_start + r))
                        le.append(({C["p", j, 0]: -1.0}, r - gen.p_start))
                    else:
                        le.append(({C["p", j, t]: 1.0, C["p", j, t - 1]: -1.0}, r))
                        le.append(({C["p", j, t]: -1.0, C["p", j, t - 1]: 1.0}, r))
        if binaries:
            for t in range(T):
                le.append(({C["g", 0, t]: 1.0, C["ug", 0, t]: -case.buy_max}, 0.0))
                le.append(({C["e", 0, t]: 1.0, C["ug", 0, t]: case.sell_max}, case.sell_max))
                for i, (p, _) in enumerate(case.batteries):
                    le.append(({C["ch", i, t]: 1.0, C["uc", i, t]: -p.p_max_kw}, 0.0))
                    le.append(({C["dis", i, t]: 1.0, C["uc", i, t]: p.p_max_kw}, p.p_max_kw))

        def dense(rows: list[tuple[dict[int, float], float]]) -> tuple[np.ndarray, np.ndarray]:
            a = np.zeros((len(rows), n))
            for r, (coefs, _) in enumerate(rows):
                for j, v in coefs.items():
                    a[r, j] = v
            return a, np.array([rhs for _, rhs in rows], float)

        self.a_eq, self.b_eq = dense(eq)
        self.a_ub, self.b_ub = dense(le)

    def solve(self) -> tuple[float, np.ndarray]:
        """Optimal objective (with the constant renewable O&M term) and solution."""
        if self.integrality.any():
            res = milp(self.c, integrality=self.integrality, bounds=Bounds(self.lb, self.ub),
                       constraints=[LinearConstraint(self.a_eq, self.b_eq, self.b_eq),
                                    LinearConstraint(self.a_ub, -np.inf, self.b_ub)],
                       options={"mip_rel_gap": 1e-12})
        else:
            res = linprog(self.c, A_ub=self.a_ub, b_ub=self.b_ub, A_eq=self.a_eq, b_eq=self.b_eq,
                          bounds=list(zip(self.lb, self.ub, strict=True)), method="highs")
        assert res.status == 0, res.message
        return float(res.fun) + self.constant, res.x

    def vector(self, s: VppSchedule) -> np.ndarray:
        """The module's schedule as a point of this formulation (binaries set consistently)."""
        x = np.zeros(len(self.lb))
        C, case = self.col, self.case
        for t in range(case.T):
            x[C["g", 0, t]], x[C["e", 0, t]] = s.buy_kw[t], s.sell_kw[t]
            x[C["pvc", 0, t]], x[C["wc", 0, t]] = s.pv_curtail_kw[t], s.wind_curtail_kw[t]
            x[C["spill", 0, t]], x[C["unmet", 0, t]] = s.spill_kw[t], s.unmet_kw[t]
            for i in range(len(case.batteries)):
                x[C["soc", i, t]] = s.soc_kwh[i, t + 1]
                x[C["ch", i, t]], x[C["dis", i, t]] = s.charge_kw[i, t], s.discharge_kw[i, t]
                if ("uc", i, t) in C:
                    x[C["uc", i, t]] = 1.0 if s.charge_kw[i, t] > 0 else 0.0
            if ("ug", 0, t) in C:
                x[C["ug", 0, t]] = 1.0 if s.buy_kw[t] > 0 else 0.0
            for j, gen in enumerate(case.gens):
                bp, f = gen.breakpoints()
                p = s.gen_kw[j, t]
                x[C["p", j, t]] = p
                x[C["z", j, t]] = float(np.max(f[:-1] + np.diff(f) / np.diff(bp) * (p - bp[:-1])))
            for m in range(len(case.cls)):
                x[C["lc", m, t]] = s.load_curtail_kw[m, t]
        return x

    def check_feasible(self, x: np.ndarray) -> None:
        assert (x >= self.lb - FEAS_TOL).all() and (x <= self.ub + FEAS_TOL).all(), "bounds"
        np.testing.assert_allclose(self.a_eq @ x, self.b_eq, rtol=0, atol=FEAS_TOL)
        assert (self.a_ub @ x <= self.b_ub + FEAS_TOL).all(), "inequality rows"

    def cost(self, x: np.ndarray) -> float:
        return float(self.c @ x) + self.constant


def prices(case: Case) -> tuple[np.ndarray, np.ndarray]:
    return np.array(case.extra["c_sell"], float), np.array(case.extra["c_buy"], float)


def assert_no_flip_flop(s: VppSchedule) -> None:
    assert (np.minimum(s.buy_kw, s.sell_kw) <= 1e-9).all(), "buys and sells at once"
    assert (np.minimum(s.charge_kw, s.discharge_kw) <= 1e-9).all(), "charges and discharges at once"


# ---------------------------------------------------------------------------- LP vs independent LP


@pytest.mark.parametrize("case", [CASE_A, CASE_B], ids=["hourly-5", "half-hourly-6"])
def test_lp_matches_independent_formulation(case: Case) -> None:
    c_sell, c_buy = prices(case)
    sched = solve_vpp_day_ahead(case.data(), c_sell, c_buy)
    ref = Independent(case, c_sell, c_buy)
    ref_obj, _ = ref.solve()
    assert sched.cost_cny == pytest.approx(ref_obj, abs=OBJ_TOL)
    # the returned schedule is a feasible point of the independent model with that cost
    x = ref.vector(sched)
    ref.check_feasible(x)
    assert ref.cost(x) == pytest.approx(sched.cost_cny, abs=OBJ_TOL)
    # the cost terms of paper 004 eq. 4-6, evaluated on the schedule, add up to the LP optimum
    terms = vpp_cost_terms(case.data(), sched, c_sell, c_buy)
    assert terms["total"] == pytest.approx(sched.cost_cny, abs=OBJ_TOL)
    assert sched.cost_terms_cny["total"] == pytest.approx(sched.cost_cny, abs=OBJ_TOL)
    assert_no_flip_flop(sched)


def test_cases_exercise_every_part_of_the_model() -> None:
    """The two cases are not degenerate: generators ramp, loads are curtailed, demand goes unmet."""
    a = solve_vpp_day_ahead(CASE_A.data(), *prices(CASE_A))
    b = solve_vpp_day_ahead(CASE_B.data(), *prices(CASE_B))
    gen_a = np.concatenate([[CASE_A.gens[0].p_start], a.gen_kw[0]])
    assert np.isclose(np.abs(np.diff(gen_a)), CASE_A.gens[0].ramp).any()  # a ramp limit binds
    assert (a.charge_kw > 1).any() and (a.discharge_kw > 1).any()
    assert (a.sell_kw > 1).any() and (a.buy_kw > 1).any()
    assert (b.load_curtail_kw > 1).any() and (b.unmet_kw > 1).any()
    assert (b.wind_curtail_kw + b.pv_curtail_kw > 1).any()


def test_random_small_cases_match_independent_formulation() -> None:
    rng = np.random.default_rng(4004)
    for _ in range(25):
        T = int(rng.integers(2, 7))
        dt = float(rng.choice([1.0, 0.5, 0.25]))
        gens = tuple(
            Gen(p_min=(pm := float(rng.uniform(0, 30))), p_max=pm + float(rng.uniform(10, 100)),
                ramp=float(rng.choice([rng.uniform(5, 60), np.nan])), p_start=0.0,
                a=float(rng.uniform(0, 3)), b=float(rng.uniform(0.1, 1.2)),
                c=float(rng.uniform(0, 0.01)))
            for _ in range(int(rng.integers(0, 3)))
        )
        gens = tuple(replace(g, ramp=None if np.isnan(g.ramp) else g.ramp,
                             p_start=float(rng.uniform(g.p_min, g.p_max))) for g in gens)
        bats = []
        for _ in range(int(rng.integers(0, 3))):
            lo, hi = float(rng.uniform(0, 0.3)), float(rng.uniform(0.7, 1.0))
            bats.append(bat(float(rng.uniform(10, 300)), float(rng.uniform(lo, hi)), lo, hi,
                            float(rng.uniform(5, 100)), float(rng.uniform(0.8, 1.0)),
                            float(rng.uniform(0.8, 1.0))))
        case = Case(
            dt=dt, wind=rng.uniform(0, 200, T) * (rng.random() < 0.8),
            pv=rng.uniform(0, 200, T) * (rng.random() < 0.8), load=rng.uniform(0, 300, T),
            costs={k: float(rng.uniform(0, 1.5)) for k in costs()},
            buy_max=float(rng.uniform(0, 300)), sell_max=float(rng.uniform(0, 300)),
            voll=float(rng.uniform(2, 20)), batteries=tuple(bats), gens=gens,
            cls=tuple((rng.uniform(0, 40, T), float(rng.uniform(0, 2)))
                      for _ in range(int(rng.integers(0, 2)))),
            end_soc=bool(rng.random() < 0.7),
        )
        imp = rng.uniform(0.3, 1.5, T)
        c_buy = imp * rng.uniform(0.3, 1.0, T)
        sched = solve_vpp_day_ahead(case.data(), imp, c_buy)
        ref = Independent(case, imp, c_buy, binaries=sched.used_milp)
        ref_obj, _ = ref.solve()
        assert sched.cost_cny == pytest.approx(ref_obj, abs=OBJ_TOL)
        x = ref.vector(sched)
        ref.check_feasible(x)
        assert vpp_cost_terms(case.data(), sched, imp, c_buy)["total"] == pytest.approx(
            sched.cost_cny, abs=OBJ_TOL)
        assert_no_flip_flop(sched)


# ---------------------------------------------------------------------------- brute force


def test_lp_not_beaten_by_a_battery_power_grid() -> None:
    """Two periods, one battery, exchange = what the balance leaves; grid of 0.05 kW."""
    params, s0 = bat(20.0, 0.5, 0.1, 0.9, 10.0, 0.9, 0.95)
    k = costs()
    case = Case(dt=1.0, wind=np.zeros(2), pv=np.zeros(2), load=np.array([5.0, 20.0]), costs=k,
                buy_max=100.0, sell_max=100.0, voll=10.0, batteries=((params, s0),))
    c_sell, c_buy = np.array([0.3, 1.5]), np.array([0.2, 1.0])
    sched = solve_vpp_day_ahead(case.data(), c_sell, c_buy)

    h = 0.05
    grid = np.linspace(-params.p_max_kw, params.p_max_kw, int(round(2 * params.p_max_kw / h)) + 1)
    p1, p2 = np.meshgrid(grid, grid, indexing="ij")  # battery power, discharge positive
    ch1, dis1, ch2, dis2 = (np.maximum(-p1, 0), np.maximum(p1, 0), np.maximum(-p2, 0),
                            np.maximum(p2, 0))
    soc1 = s0 + params.eta_charge * ch1 - dis1 / params.eta_discharge
    soc2 = soc1 + params.eta_charge * ch2 - dis2 / params.eta_discharge
    e_min, e_max = params.soc_min * params.capacity_kwh, params.soc_max * params.capacity_kwh
    ok = (soc1 >= e_min) & (soc1 <= e_max) & (soc2 >= e_min) & (soc2 <= e_max) & (soc2 >= s0 - 1e-12)
    total = np.zeros_like(p1)
    for t, (p, ch, dis) in enumerate([(p1, ch1, dis1), (p2, ch2, dis2)]):
        net = case.load[t] - p  # buy - sell
        g, e = np.maximum(net, 0), np.maximum(-net, 0)
        ok &= (g <= case.buy_max) & (e <= case.sell_max)
        total += ((k["lam1_battery_cny_per_kwh"] + k["w_bat_battery_cny_per_kwh"]) * (ch + dis)
                  + (c_sell[t] + k["w_b_purchase_cny_per_kwh"]) * g - c_buy[t] * e)
    total = np.where(ok, total, np.inf)
    best = float(total.min())
    # the LP is never beaten by a grid point ...
    assert sched.cost_cny <= best + 1e-9
    # ... and is within the grid's resolution of the best one (Lipschitz bound of the cost in p)
    lipschitz = (k["lam1_battery_cny_per_kwh"] + k["w_bat_battery_cny_per_kwh"]
                 + max(c_sell) + k["w_b_purchase_cny_per_kwh"])
    assert best - sched.cost_cny <= 2 * lipschitz * h
    # the battery is used (charging cheap, discharging dear): the check is not vacuous
    assert sched.charge_kw[0, 0] > 5 and sched.discharge_kw[0, 1] > 5
    # and the LP's optimum agrees with the independent formulation
    assert sched.cost_cny == pytest.approx(Independent(case, c_sell, c_buy).solve()[0], abs=OBJ_TOL)


# ---------------------------------------------------------------------------- MILP fallback


CASE_FULL_BATTERY = Case(  # surplus, nothing to sell to, a full battery, dear curtailment
    dt=1.0,
    wind=np.array([100.0, 100.0, 100.0]),
    pv=np.zeros(3),
    load=np.array([20.0, 20.0, 20.0]),
    costs=costs(mu1_wind_curtail_cny_per_kwh=5.0),
    buy_max=50.0, sell_max=0.0, voll=10.0,
    batteries=(bat(100.0, 0.9, 0.1, 0.9, 50.0, 0.9, 0.9),),
    extra={"c_sell": [0.5, 0.8, 1.2], "c_buy": [0.3, 0.6, 1.0]},
)

CASE_ARBITRAGE = Case(  # c_buy above c_sell + W_b (outside the price box): buy and sell at once
    dt=1.0,
    wind=np.array([50.0, 0.0, 30.0, 10.0]),
    pv=np.array([0.0, 40.0, 60.0, 0.0]),
    load=np.array([40.0, 50.0, 60.0, 30.0]),
    costs=costs(),
    buy_max=80.0, sell_max=60.0, voll=10.0,
    batteries=(bat(100.0, 0.5, 0.1, 0.9, 30.0),),
    extra={"c_sell": [0.5, 0.5, 0.9, 0.9], "c_buy": [0.8, 0.4, 1.2, 0.3]},
)


@pytest.mark.parametrize("case", [CASE_FULL_BATTERY, CASE_ARBITRAGE],
                         ids=["charge-and-discharge", "buy-and-sell"])
def test_milp_fallback_when_the_relaxation_flip_flops(case: Case) -> None:
    c_sell, c_buy = prices(case)
    relaxed = Independent(case, c_sell, c_buy)
    relaxed_obj, relaxed_x = relaxed.solve()
    # the relaxation does want both directions at once (the case is built for that) ...
    C = relaxed.col
    both_bat = max(min(relaxed_x[C["ch", 0, t]], relaxed_x[C["dis", 0, t]]) for t in range(case.T))
    both_trade = max(min(relaxed_x[C["g", 0, t]], relaxed_x[C["e", 0, t]]) for t in range(case.T))
    assert max(both_bat, both_trade) > 1.0

    sched = solve_vpp_day_ahead(case.data(), c_sell, c_buy)
    assert sched.used_milp
    assert_no_flip_flop(sched)
    ref = Independent(case, c_sell, c_buy, binaries=True)
    ref_obj, _ = ref.solve()
    assert sched.cost_cny == pytest.approx(ref_obj, abs=OBJ_TOL)
    assert ref_obj > relaxed_obj + 1.0  # the binaries do cost something here
    x = ref.vector(sched)
    ref.check_feasible(x)
    assert ref.cost(x) == pytest.approx(sched.cost_cny, abs=OBJ_TOL)
    assert vpp_cost_terms(case.data(), sched, c_sell, c_buy)["total"] == pytest.approx(
        sched.cost_cny, abs=OBJ_TOL)


def test_no_milp_when_the_lp_is_already_realizable() -> None:
    sched = solve_vpp_day_ahead(CASE_A.data(), *prices(CASE_A))
    assert not sched.used_milp


# ---------------------------------------------------------------------------- realized = day-ahead


def _no_error(raw: dict[str, Any]) -> dict[str, Any]:
    raw["forecast_error"] = {k: {"kind": "none"} for k in ("wind", "pv", "load")}
    return raw


def _assert_realized_equals_day_ahead(model: VPPModel) -> None:
    summary = summarize(model, {})
    for v in model.vpps:
        assert not v.fallback
        planned = summary["day_ahead_vpp_cost_cny"][v.name]
        realized = summary["vpp_cost_cny"][v.name]
        assert realized == pytest.approx(planned, abs=OBJ_TOL), v.name
    ts = model.timeseries()
    vpp = ts[ts.kind == "vpp"]
    assert (vpp.imbalance_kw.abs() <= 1e-9).all()
    assert (vpp.cost_imbalance_cny.abs() <= 1e-9).all()


def test_realized_cost_equals_day_ahead_without_forecast_error(
    default_scenario_raw: dict[str, Any], write_scenario_copy: Any
) -> None:
    model = VPPModel(load_scenario(write_scenario_copy(_no_error(default_scenario_raw), "exact")))
    model.run()
    _assert_realized_equals_day_ahead(model)


def test_realized_cost_equals_day_ahead_with_generator_and_flexible_load(
    default_scenario_raw: dict[str, Any], write_scenario_copy: Any
) -> None:
    raw = _no_error(default_scenario_raw)
    raw["vpps"][0]["members"] += [
        {"kind": "generator", "name": "VPP1-MT", "technology": "microturbine", "p_min_kw": 10.0,
         "p_max_kw": 120.0, "ramp_kw_per_h": 30.0, "p0_kw": 40.0, "cost_a_cny_per_h": 3.0,
         "cost_b_cny_per_kwh": 0.5, "cost_c_cny_per_kw2h": 0.003},
        {"kind": "controllable_load", "name": "VPP1-CL", "profile": "vpp2_load_kw",
         "participation": 0.7, "curtail_cost_cny_per_kwh": 0.6},
        {"kind": "prosumer", "name": "VPP1-HOME", "profile": "vpp3_load_kw",
         "pv": {"panels": 200, "irradiance": "irradiance_w_m2", "temperature": "ambient_temp_c"},
         "battery": {"capacity_kwh": 40, "soc0": 0.5, "soc_min": 0.1, "soc_max": 0.9,
                     "p_max_kw": 10}},
    ]
    raw["vpps"][1]["exchange"] = {"buy_max_kw": 60.0, "sell_max_kw": 20.0}  # unmet + curtailment
    model = VPPModel(load_scenario(write_scenario_copy(raw, "exact_mixed")))
    model.run()
    _assert_realized_equals_day_ahead(model)
    ts = model.timeseries()
    assert ts.loc[ts.agent == "VPP1-CL", "load_curtailed_kw"].max() > 1.0
    assert ts.loc[ts.agent == "VPP1-MT", "p_kw"].max() > 10.0 + 1.0
    assert ts.loc[ts.agent == "VPP2", "unmet_kw"].max() + ts.loc[ts.agent == "VPP2",
                                                                  "curtailed_kw"].max() > 1.0
