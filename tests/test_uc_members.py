"""Paper 003's members in the co-simulation: committed units, EVs and water reservoirs.

Checked against independent figures: the VPP's day-ahead MILP against the standalone unit
commitment MILP (:mod:`vppsim.uc.milp`, written separately) on the same units; the committed
schedules against rules recomputed from the on/off sequences (minimum up/down times), the plug
mask (EV) and the level recursion (reservoir); the co-simulation run against the energy
balance of every VPP and step, summed from the members' own rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import pytest
import yaml

from vppsim.cli.main import main
from vppsim.market.commitment import EvData, ReservoirData, UnitData
from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import solve_game
from vppsim.market.lower_level import VppDayAheadData, build_vpp_lp, solve_vpp_day_ahead
from vppsim.market.reference import NOT_APPLICABLE, exact_reference
from vppsim.model import VPPModel
from vppsim.optimizers.highs import LinearProgram, new_highs, pass_model
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError, VppCostSpec
from vppsim.uc.milp import build_uc_milp
from vppsim.uc.portfolio import Reservoir, StorageUnit, ThermalUnit, UcCase

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "uc_vpp_members.yaml"
BALANCE_TOL_KWH = 1e-6
TOL = 1e-6
T = 12
VOLL = 10.0
ZERO_COSTS = VppCostSpec(mu1_wind_curtail_cny_per_kwh=0, mu2_pv_curtail_cny_per_kwh=0,
                         lam1_battery_cny_per_kwh=0, lam2_wind_om_cny_per_kwh=0,
                         lam3_pv_om_cny_per_kwh=0, w_b_purchase_cny_per_kwh=0,
                         w_bat_battery_cny_per_kwh=0)
# a day of 12 periods: cheap night, expensive peak, so that the units cycle
C_SELL = np.array([0.4, 0.4, 0.4, 1.5, 1.5, 1.5, 0.4, 0.4, 1.6, 1.6, 0.5, 0.5])  # VPP buys at
C_BUY = C_SELL - 0.1  # VPP sells at
DEMAND = np.array([90, 80, 80, 120, 150, 160, 110, 100, 170, 180, 120, 100], float)
PLUGGED = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1], bool)
WATER_KW = np.full(T, 8.0)


def _units() -> tuple[UnitData, ...]:
    return (
        UnitData("diesel", 30.0, 120.0, 50.0, 3, 2, 40.0, 5.0, 8.0, 0.9, False, 4, 0.0),
        UnitData("hydro", 20.0, 80.0, 40.0, 2, 3, 10.0, 2.0, 3.0, 0.3, True, 1, 50.0),
    )


def _ev() -> EvData:
    return EvData("ev", 11.0, 7.0, 0.95, 0.95, 6.0, 57.0, 30.0, PLUGGED, True, 45.0, 15.0, 0.02)


def _reservoir() -> ReservoirData:
    return ReservoirData("res", 40.0, 10.0, 30.0, 0.85, 0.9, 20.0, 200.0, 60.0, WATER_KW,
                         0.01, 0.02)


def _vpp_data() -> VppDayAheadData:
    z = np.zeros(T)
    return VppDayAheadData(name="V", dt_h=1.0, wind_fc_kw=z, pv_fc_kw=z, load_kw=DEMAND,
                           costs=ZERO_COSTS, buy_max_kw=150.0, sell_max_kw=150.0,
                           voll_cny_per_kwh=VOLL, units=_units(), evs=(_ev(),),
                           reservoirs=(_reservoir(),))


def _uc_case() -> UcCase:
    """The same day in the standalone unit-commitment model's own data classes."""
    thermal = tuple(
        ThermalUnit(u.name, "diesel" if k == 0 else "hydro", u.p_min_kw, u.p_max_kw,
                    u.ramp_kw_per_h, int(u.min_up_h), int(u.min_down_h), u.startup_cost_cny,
                    u.shutdown_cost_cny, u.no_load_cost_cny_per_h, u.energy_cost_cny_per_kwh, 0.0,
                    initially_on=u.initially_on, initial_hours_in_state=int(u.initial_hours_in_state),
                    initial_p_kw=u.p_start_kw)
        for k, u in enumerate(_units()))
    ev = _ev()
    storage = StorageUnit("ev", "ev", 60.0, ev.p_charge_max_kw, ev.p_discharge_max_kw,
                          ev.eta_charge, ev.eta_discharge, 0.1, 0.95, 0.5,
                          ev.degradation_cost_cny_per_kwh, PLUGGED, departure_kwh=45.0,
                          trip_kwh=15.0)
    r = _reservoir()
    res = Reservoir("res", r.pump_max_kw, r.pump_min_kw, r.turbine_max_kw, r.eta_pump,
                    r.eta_turbine, r.level_min_kwh, r.level_max_kwh, r.level_start_kwh, WATER_KW,
                    r.pump_cost_cny_per_kwh, r.turbine_cost_cny_per_kwh)
    return UcCase("tiny", 1.0, DEMAND, sell_price_cny_per_kwh=C_BUY, buy_price_cny_per_kwh=C_SELL,
                  export_max_kw=150.0, import_max_kw=150.0, voll_cny_per_kwh=VOLL,
                  spill_cost_cny_per_kwh=VOLL, thermal=thermal, storage=(storage,),
                  reservoirs=(res,))


@pytest.fixture(scope="module")
def tiny_schedule():
    d = _vpp_data()
    return d, solve_vpp_day_ahead(d, C_SELL, C_BUY)


def _exact_optimum(lp: LinearProgram) -> float:
    """The MILP's optimum with a zero relative gap (HiGHS' default gap is 1e-4)."""
    h = new_highs()
    h.setOptionValue("mip_rel_gap", 0.0)
    pass_model(h, lp)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(h.getInfo().objective_function_value)


def test_day_ahead_milp_matches_standalone_uc_milp(tiny_schedule) -> None:
    d, s = tiny_schedule
    assert d.has_binaries and s.used_milp
    ours = _exact_optimum(build_vpp_lp(d, C_SELL, C_BUY, binaries=True))
    uc_lp, _ = build_uc_milp(_uc_case(), mode="vpp")
    assert ours == pytest.approx(_exact_optimum(uc_lp), abs=1e-6)
    # the co-simulation's solve (default gap) is within HiGHS' relative gap of the optimum
    assert ours - 1e-6 <= s.cost_cny <= ours + 1e-4 * abs(ours) + 1e-6
    # the schedule's cost recomputed term by term from its arrays agrees with the MILP
    assert s.cost_terms_cny["total"] == pytest.approx(s.cost_cny, abs=1e-5)
    # the units do cycle in this case (the min up/down checks below are not vacuous)
    assert s.members.unit_on.sum() > 0 and (np.diff(s.members.unit_on, axis=1) != 0).any()


def _runs(on: np.ndarray, initially_on: bool, held_h: int) -> list[tuple[int, int, bool]]:
    """(value, length, touches the start) of the maximal runs, the initial state included."""
    seq = [int(initially_on)] * held_h + [int(x) for x in on]
    runs, start = [], 0
    for t in range(1, len(seq) + 1):
        if t == len(seq) or seq[t] != seq[start]:
            runs.append((seq[start], t - start, t == len(seq)))
            start = t
    return runs


def test_minimum_up_and_down_times(tiny_schedule) -> None:
    d, s = tiny_schedule
    for j, u in enumerate(d.units):
        on = s.members.unit_on[j]
        p = s.members.unit_kw[j]
        assert ((p >= u.p_min_kw * on - TOL) & (p <= u.p_max_kw * on + TOL)).all()
        # every run that ends inside the day lasts at least its minimum
        for value, length, at_end in _runs(on, u.initially_on, int(u.initial_hours_in_state)):
            if not at_end:
                assert length >= (u.min_up_h if value else u.min_down_h), (u.name, on)
        # ramps (from the start output; starting up or shutting down within max(p_min, R))
        prev = np.concatenate([[u.p_start_kw if u.initially_on else 0.0], p])
        step = np.diff(prev)
        su = max(u.p_min_kw, u.ramp_kw_per_h)
        assert (np.abs(step) <= su + TOL).all()


def test_ev_only_when_plugged_and_meets_departure(tiny_schedule) -> None:
    d, s = tiny_schedule
    ev = d.evs[0]
    ch, dis, soc = s.members.ev_charge_kw[0], s.members.ev_discharge_kw[0], s.members.ev_soc_kwh[0]
    assert (ch[~PLUGGED] == 0).all() and (dis[~PLUGGED] == 0).all()
    assert (np.minimum(ch, dis) <= TOL).all()
    # recursion, recomputed: the trip is taken at the departure period (3)
    trip = np.zeros(T)
    trip[3] = ev.trip_kwh
    np.testing.assert_allclose(soc[1:], soc[:-1] + 0.95 * ch - dis / 0.95 - trip, atol=1e-6)
    assert soc[3] >= ev.departure_kwh - TOL  # energy at the end of period 2, before leaving
    assert (soc >= ev.soc_min_kwh - TOL).all() and (soc <= ev.soc_max_kwh + TOL).all()


def test_reservoir_level_within_bounds(tiny_schedule) -> None:
    d, s = tiny_schedule
    r = d.reservoirs[0]
    pump, tur, lev = s.members.pump_kw[0], s.members.turbine_kw[0], s.members.level_kwh[0]
    np.testing.assert_allclose(lev[1:], lev[:-1] + 0.85 * pump - tur / 0.9 - WATER_KW
                               + s.members.water_short_kwh[0], atol=1e-6)
    assert (lev >= r.level_min_kwh - TOL).all() and (lev <= r.level_max_kwh + TOL).all()
    assert (np.minimum(pump, tur) <= TOL).all()
    assert ((pump == 0) | (pump >= r.pump_min_kw - TOL)).all()
    assert s.members.water_short_kwh.sum() == 0.0


def test_lp_vpp_keeps_the_lp_path() -> None:
    """A VPP with an EV only has no binaries of its own: the LP path (no MILP) applies."""
    z = np.zeros(T)
    d = VppDayAheadData(name="E", dt_h=1.0, wind_fc_kw=z, pv_fc_kw=z, load_kw=DEMAND,
                        costs=ZERO_COSTS, buy_max_kw=400.0, sell_max_kw=400.0,
                        voll_cny_per_kwh=VOLL, evs=(_ev(),))
    assert not d.has_binaries
    s = solve_vpp_day_ahead(d, C_SELL, C_BUY)
    assert s.cost_terms_cny["total"] == pytest.approx(s.cost_cny, abs=1e-6)


def test_certificate_not_applicable_with_milp_followers() -> None:
    z = np.zeros(T)
    lp_vpp = VppDayAheadData(name="LP", dt_h=1.0, wind_fc_kw=z + 60.0, pv_fc_kw=z,
                             load_kw=DEMAND * 0.5, costs=ZERO_COSTS, buy_max_kw=150.0,
                             sell_max_kw=150.0, voll_cny_per_kwh=VOLL)
    market = DayAheadMarket((_vpp_data(), lp_vpp), C_SELL + 0.1, C_BUY - 0.1)
    assert market.milp_followers == ("V",)
    ref = exact_reference(market, "system_cost")
    assert ref.status == NOT_APPLICABLE and np.isnan(ref.value_cny)
    assert exact_reference(market, "vpo_profit").status == NOT_APPLICABLE
    res = solve_game(market, solver="pso", budget=20, seed=1)
    cert = res.certificate
    assert cert.reference_status == NOT_APPLICABLE
    assert cert.vpo_regret_cny is None and cert.reference_objective_cny is None
    # the VPPs' regrets are still measured against their exact (MILP) best responses
    assert all(abs(r) <= 1e-6 for r in cert.vpp_regret_cny.values())
    assert res.ties is None
    with pytest.raises(ValueError, match="MILP"):
        solve_game(market, solver="exact")


@pytest.fixture(scope="module")
def run() -> VPPModel:
    loaded = load_scenario(SCENARIO)
    market = loaded.scenario.market.model_dump()
    market["price_policy"] = "passthrough"  # the game is covered above; keep this test fast
    model = VPPModel(loaded.with_overrides(market=market))
    model.run()
    return model


def test_run_balance_and_member_rows(run: VPPModel) -> None:
    ts = run.timeseries()
    steps = run.n_steps
    dt = run.step_h
    for kind, names in (("unit", {"VPP1-DIESEL", "VPP1-HYDRO"}), ("ev", {"VPP1-EV"}),
                        ("water_storage", {"VPP1-RESERVOIR"})):
        rows = ts[ts.kind == kind]
        assert set(rows.agent) == names
        assert (rows.groupby("agent").size() == steps).all()
    vpps = ts[ts.kind == "vpp"].set_index(["agent", "step"])
    members = ts[ts.vpp.notna() & (ts.kind != "vpp")]
    injected = members.groupby(["vpp", "step"]).p_kw.sum()
    injected.index = injected.index.set_names(["agent", "step"])
    residual_kwh = (injected.reindex(vpps.index) + vpps.buy_kw - vpps.sell_kw - vpps.spill_kw) * dt
    assert residual_kwh.abs().max() <= BALANCE_TOL_KWH
    assert (vpps.energy_balance_residual_kw.abs() * dt <= BALANCE_TOL_KWH).all()


def test_run_members_keep_their_limits(run: VPPModel) -> None:
    ts = run.timeseries()
    vpp1 = next(v for v in run.vpps if v.name == "VPP1")
    sched = vpp1.schedule.members
    units = ts[ts.kind == "unit"]
    for j, u in enumerate(vpp1.units):
        r = units[units.agent == u.name].sort_values("step")
        on = r.on.to_numpy(bool)
        np.testing.assert_array_equal(on, sched.unit_on[j].astype(bool))  # the committed state
        p = r.p_kw.to_numpy()
        assert (p[~on] == 0).all()
        assert (p[on] >= u.spec.p_min_kw - TOL).all() and (p[on] <= u.spec.p_max_kw + TOL).all()
        for value, length, at_end in _runs(on, u.spec.initially_on, u.spec.initial_hours_in_state):
            if not at_end:
                assert length >= (u.spec.min_up_h if value else u.spec.min_down_h)
    ev = ts[ts.kind == "ev"].sort_values("step")
    off = ~ev.plugged.to_numpy(bool)
    assert (ev.charge_kw.to_numpy()[off] == 0).all() and (ev.discharge_kw.to_numpy()[off] == 0).all()
    assert (ev.soc_kwh >= ev.soc_min_kwh - TOL).all() and (ev.soc_kwh <= ev.soc_max_kwh + TOL).all()
    leaving = ev[ev.departs_next_step.astype(bool)]
    assert len(leaving) and (leaving.soc_kwh >= leaving.departure_kwh - TOL).all()
    res = ts[ts.kind == "water_storage"].sort_values("step")
    assert (res.level_kwh >= res.level_min_kwh - TOL).all()
    assert (res.level_kwh <= res.level_max_kwh + TOL).all()
    spec = vpp1.reservoirs[0].spec
    level = np.concatenate([[spec.level0_kwh], res.level_kwh.to_numpy()])
    expect = (level[:-1] + spec.eta_pump * res.pump_kw.to_numpy()
              - res.turbine_kw.to_numpy() / spec.eta_turbine - res.water_demand_kw.to_numpy()
              + res.water_short_kwh.to_numpy())
    np.testing.assert_allclose(level[1:], expect, atol=1e-6)  # water demand always drawn
    assert (res.water_demand_kw > 0).all()


@pytest.mark.parametrize(("member", "field", "value", "expect"), [
    ("VPP1-RESERVOIR", "level0_kwh", 500.0, "level_min_kwh <= level0_kwh <= level_max_kwh"),
    ("VPP1-EV", "trip_kwh", 50.0, "trip_kwh <= departure_kwh"),
    ("VPP1-EV", "plugged_hours", [25], "less than or equal to 23"),
    ("VPP1-DIESEL", "p_min_kw", 500.0, "p_min_kw <= p_max_kw"),
    ("VPP1-DIESEL", "min_up_h", -1, "greater than or equal to 0"),
])
def test_bad_member_fields_give_a_scenario_error(tmp_path: Path, member: str, field: str,
                                                 value: object, expect: str) -> None:
    raw = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    members = raw["vpps"][0]["members"]
    k = next(i for i, m in enumerate(members) if m["name"] == member)
    members[k][field] = value
    shutil.copy(SCENARIO.parent / raw["profiles"], tmp_path / raw["profiles"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert "bad.yaml" in text and f"vpps[0].members[{k}]" in text and expect in text, text


def test_scenario_member_rows_have_units_in_names(run: VPPModel) -> None:
    ts: pd.DataFrame = run.timeseries()
    for kind in ("unit", "ev", "water_storage"):
        cols = ts[ts.kind == kind].dropna(axis=1, how="all").columns
        numeric = [c for c in cols if c not in {"step", "day", "time_h", "hour_of_day", "agent",
                                                "kind", "vpp", "bus", "technology", "on",
                                                "started", "stopped", "plugged",
                                                "departs_next_step"}]
        assert all(c.endswith(("_kw", "_kwh", "_cny")) for c in numeric), numeric


def test_the_exact_game_solver_is_refused_as_bad_input_with_milp_members(tmp_path: Path,
                                                                         capsys) -> None:  # noqa: ANN001
    from_cli = main(["game", str(SCENARIO), "--solver", "exact", "--out", str(tmp_path / "g")])
    assert from_cli == 2
    assert "exact solver needs LP followers" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()
    text = SCENARIO.read_text(encoding="utf-8").replace("solver: pso-rl", "solver: exact")
    assert "solver: exact" in text
    bad = tmp_path / "exact.yaml"
    bad.write_text(text, encoding="utf-8")
    for f in SCENARIO.parent.glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    with pytest.raises(ScenarioError, match="market.game.solver: expected a search solver"):
        load_scenario(bad)
