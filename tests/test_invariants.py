"""Physical invariants of a co-simulation run, recomputed from the per-agent rows.

Energy balance of every VPP at every step (from the wind/PV/generator/battery/load rows and
the VPP's exchange and spill), battery SoC bounds and recursion, no simultaneous
charge/discharge or buy/sell, renewables within availability, exchange and generator limits,
the VPO's grid balance. Checked on the default day and on 20 random scenarios written to
``tmp_path`` (1-4 VPPs, every member kind, scarce and must-run VPPs, 1 h and 15 min steps).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.run import summarize
from vppsim.scenario.loader import LoadedScenario, load_scenario
from vppsim.scenario.schema import ControllableLoadSpec, ProsumerSpec, WindTurbineSpec

BALANCE_TOL_KWH = 1e-6
SOC_TOL_PU = 1e-9
SOC_RECURSION_TOL_KWH = 1e-6
LIMIT_TOL_KW = 1e-7

RENEWABLE_KINDS = ("wind", "pv")
LOAD_KINDS = ("load", "controllable_load", "prosumer")
PHYSICAL_KINDS = RENEWABLE_KINDS + LOAD_KINDS + ("battery", "generator")


# ---------------------------------------------------------------------------- helpers


def _members_by_name(loaded: LoadedScenario) -> dict[str, tuple[str, Any]]:
    """Agent name -> (VPP name, spec) from the scenario alone (prosumers own -PV and -BAT)."""
    out: dict[str, tuple[str, Any]] = {}
    for vpp in loaded.scenario.vpps:
        for m in vpp.members:
            out[m.name] = (vpp.name, m)
            if isinstance(m, ProsumerSpec):
                if m.pv is not None:
                    out[f"{m.name}-PV"] = (vpp.name, m.pv)
                if m.battery is not None:
                    out[f"{m.name}-BAT"] = (vpp.name, m.battery)
    return out


def _pv_rated_kw(p: Any) -> float:
    return p.panels * p.panel_area_m2 * p.eta_ref * p.eta_pc


def _reserve_ratio(hour_of_day: float, spec: ControllableLoadSpec) -> float:
    h = math.floor(hour_of_day + 1e-9) % 24
    rr = spec.reserve_ratio
    if h < 7:
        return rr.low
    if 8 <= h < 12:
        return rr.morning_peak
    if 19 <= h < 21:
        return rr.evening_peak
    return rr.shoulder


def _error_band(kind_spec: Any) -> tuple[float, float]:
    """Range of the relative error eps that the scenario's error model can produce."""
    if kind_spec.kind == "uniform":
        return -kind_spec.band, kind_spec.band
    if kind_spec.kind == "normal":
        return -kind_spec.clip_sd * kind_spec.sd, kind_spec.clip_sd * kind_spec.sd
    return 0.0, 0.0


def check_invariants(model: VPPModel) -> dict[str, dict[str, float]]:
    """Assert every invariant on a finished run; returns per-VPP unmet/spill energy (kWh)."""
    loaded = model.loaded
    sc = loaded.scenario
    dt = sc.step_h
    n = sc.n_steps
    ts = model.timeseries()
    members = _members_by_name(loaded)

    # one row per (step, agent), for every step and every agent
    expected_agents = set(members) | {v.name for v in sc.vpps} | {sc.vpo.name, "network"}
    assert set(ts.agent) == expected_agents
    counts = ts.groupby("agent").step.agg(["count", "nunique", "min", "max"])
    assert (counts["count"] == n).all() and (counts["nunique"] == n).all()
    assert (counts["min"] == 0).all() and (counts["max"] == n - 1).all()

    phys = ts[ts.kind.isin(PHYSICAL_KINDS)].copy()
    assert set(phys.agent) == set(members)
    phys["owner_vpp"] = phys.agent.map(lambda a: members[a][0])
    # the tidy table's `vpp` column names the VPP the agent belongs to
    assert (phys["vpp"] == phys["owner_vpp"]).all(), phys.loc[
        phys["vpp"] != phys["owner_vpp"], ["agent", "vpp", "owner_vpp"]
    ].drop_duplicates()
    vpp_rows = ts[ts.kind == "vpp"].set_index(["agent", "step"]).sort_index()

    # ------------------------------------------------------------ renewables
    ren = phys[phys.kind.isin(RENEWABLE_KINDS)]
    for name, g in ren.groupby("agent"):
        _, spec = members[name]
        cap = spec.rated_kw * spec.count if isinstance(spec, WindTurbineSpec) else _pv_rated_kw(spec)
        p, avail, fc = g.p_kw.to_numpy(), g.p_available_kw.to_numpy(), g.p_forecast_kw.to_numpy()
        assert (p >= -LIMIT_TOL_KW).all(), name
        assert (p <= avail + LIMIT_TOL_KW).all(), f"{name}: output above availability"
        assert (avail <= cap + LIMIT_TOL_KW).all(), f"{name}: availability above rating {cap}"
        assert (fc <= cap + LIMIT_TOL_KW).all() and (fc >= 0).all(), name
        np.testing.assert_allclose(g.curtailed_kw.to_numpy(), avail - p, atol=1e-9)
        lo, hi = _error_band(getattr(sc.forecast_error, g.kind.iloc[0]))
        assert (avail >= np.minimum(fc * (1 + lo), cap) - 1e-9).all(), f"{name}: error below band"
        assert (avail <= fc * (1 + hi) + 1e-9).all(), f"{name}: error above band"

    # ------------------------------------------------------------ loads
    lo_load, hi_load = _error_band(sc.forecast_error.load)
    loads = phys[phys.kind.isin(LOAD_KINDS)]
    for name, g in loads.groupby("agent"):
        _, spec = members[name]
        demand, fc = g.load_kw.to_numpy(), g.p_forecast_kw.to_numpy()
        cur, unmet = g.load_curtailed_kw.to_numpy(), g.unmet_kw.to_numpy()
        served = demand - cur - unmet
        assert (demand >= np.maximum(fc * (1 + lo_load), 0.0) - 1e-9).all(), name
        assert (demand <= fc * (1 + hi_load) + 1e-9).all(), name
        assert (cur >= -LIMIT_TOL_KW).all() and (unmet >= -LIMIT_TOL_KW).all(), name
        assert (served >= -LIMIT_TOL_KW).all(), f"{name}: negative served demand {served.min()}"
        np.testing.assert_allclose(g.p_kw.to_numpy(), -served, atol=1e-9)
        if isinstance(spec, ControllableLoadSpec):
            ratio = np.array([_reserve_ratio(h, spec) for h in g.hour_of_day])
            assert (cur <= demand * ratio * spec.participation + LIMIT_TOL_KW).all(), name
        else:
            assert (cur == 0.0).all(), f"{name}: an inflexible load was curtailed"

    # ------------------------------------------------------------ batteries
    bats = phys[phys.kind == "battery"]
    for name, g in bats.groupby("agent"):
        _, p = members[name]
        g = g.sort_values("step")
        ch, dis = g.charge_kw.to_numpy(), g.discharge_kw.to_numpy()
        soc_kwh, soc_pu = g.soc_kwh.to_numpy(), g.soc_pu.to_numpy()
        assert (ch >= 0).all() and (dis >= 0).all(), name
        assert (np.minimum(ch, dis) == 0.0).all(), f"{name}: charges and discharges at once"
        assert (np.maximum(ch, dis) <= p.p_max_kw + LIMIT_TOL_KW).all(), name
        assert (soc_pu >= p.soc_min - SOC_TOL_PU).all(), f"{name}: SoC below soc_min"
        assert (soc_pu <= p.soc_max + SOC_TOL_PU).all(), f"{name}: SoC above soc_max"
        np.testing.assert_allclose(soc_kwh, soc_pu * p.capacity_kwh, rtol=0, atol=1e-9)
        prev = np.concatenate([[p.soc0 * p.capacity_kwh], soc_kwh[:-1]])
        expect = prev + p.eta_charge * ch * dt - dis * dt / p.eta_discharge
        np.testing.assert_allclose(soc_kwh, expect, rtol=0, atol=SOC_RECURSION_TOL_KWH,
                                   err_msg=f"{name}: SoC recursion")
        np.testing.assert_allclose(g.p_kw.to_numpy(), dis - ch, atol=1e-12)

    # ------------------------------------------------------------ generators
    gens = phys[phys.kind == "generator"]
    for name, g in gens.groupby("agent"):
        _, spec = members[name]
        pg = g.sort_values("step").p_kw.to_numpy()
        assert (pg >= spec.p_min_kw - LIMIT_TOL_KW).all(), f"{name}: below p_min"
        assert (pg <= spec.p_max_kw + LIMIT_TOL_KW).all(), f"{name}: above p_max"
        if spec.ramp_kw_per_h is not None:
            steps = np.diff(np.concatenate([[spec.p0_kw], pg]))
            assert (np.abs(steps) <= spec.ramp_kw_per_h * dt + LIMIT_TOL_KW).all(), f"{name}: ramp"

    # ------------------------------------------------------------ energy balance per VPP and step
    def per_vpp(frame: pd.DataFrame, column: str) -> pd.Series:
        s = frame.groupby(["owner_vpp", "step"])[column].sum()
        s.index = s.index.set_names(["agent", "step"])
        return s.reindex(vpp_rows.index, fill_value=0.0)

    supply = per_vpp(phys[phys.kind.isin(RENEWABLE_KINDS + ("generator",))], "p_kw")
    discharge = per_vpp(bats, "discharge_kw")
    charge = per_vpp(bats, "charge_kw")
    served = per_vpp(loads.assign(served=loads.load_kw - loads.load_curtailed_kw - loads.unmet_kw),
                     "served")
    buy, sell, spill = vpp_rows.buy_kw, vpp_rows.sell_kw, vpp_rows.spill_kw
    residual_kwh = (supply + discharge - charge + buy - sell - served - spill) * dt
    worst = residual_kwh.abs().idxmax()
    assert residual_kwh.abs().max() <= BALANCE_TOL_KWH, (
        f"energy balance broken at {worst}: {residual_kwh[worst]} kWh"
    )
    # the model's own residual column agrees
    assert (vpp_rows.energy_balance_residual_kw.abs() * dt <= BALANCE_TOL_KWH).all()
    # VPP rows are the sums of their members' rows
    np.testing.assert_allclose(vpp_rows.unmet_kw, per_vpp(loads, "unmet_kw"), atol=1e-9)
    np.testing.assert_allclose(vpp_rows.load_kw, per_vpp(loads, "load_kw"), atol=1e-9)

    # ------------------------------------------------------------ unmet and spill as last resorts
    limits = {v.name: v.exchange for v in sc.vpps}
    # Unmet demand beyond what the day-ahead plan left unmet only when no member can give more
    # and purchases are at their limit; spill beyond the plan's only when no member can absorb
    # more and sales are at their limit. (The plan may keep storage for later hours.)
    room_up = pd.Series(0.0, index=vpp_rows.index)
    room_down = pd.Series(0.0, index=vpp_rows.index)

    def add_room(name: str, steps: np.ndarray, up: np.ndarray, down: np.ndarray) -> None:
        idx = pd.MultiIndex.from_arrays([[members[name][0]] * len(steps), steps])
        room_up.loc[idx] += up
        room_down.loc[idx] += down

    for name, g in ren.groupby("agent"):
        add_room(name, g.step.to_numpy(), g.curtailed_kw.to_numpy(), g.p_kw.to_numpy())
    for name, g in bats.groupby("agent"):
        _, p = members[name]
        g = g.sort_values("step")
        soc_prev = np.concatenate([[p.soc0 * p.capacity_kwh], g.soc_kwh.to_numpy()[:-1]])
        max_dis = np.minimum(p.p_max_kw, np.maximum(soc_prev - p.soc_min * p.capacity_kwh, 0)
                             * p.eta_discharge / dt)
        max_ch = np.minimum(p.p_max_kw, np.maximum(p.soc_max * p.capacity_kwh - soc_prev, 0)
                            / (p.eta_charge * dt))
        net = g.discharge_kw.to_numpy() - g.charge_kw.to_numpy()
        add_room(name, g.step.to_numpy(), max_dis - net, net + max_ch)
    for name, g in gens.groupby("agent"):
        _, spec = members[name]
        g = g.sort_values("step")
        pg = g.p_kw.to_numpy()
        prev = np.concatenate([[spec.p0_kw], pg[:-1]])
        ramp = np.inf if spec.ramp_kw_per_h is None else spec.ramp_kw_per_h * dt
        lo = np.maximum(spec.p_min_kw, prev - ramp)
        hi = np.maximum(lo, np.minimum(spec.p_max_kw, prev + ramp))
        add_room(name, g.step.to_numpy(), hi - pg, pg - lo)
    for name, g in loads[loads.kind == "controllable_load"].groupby("agent"):
        _, spec = members[name]
        ratio = np.array([_reserve_ratio(h, spec) for h in g.hour_of_day])
        cap = g.load_kw.to_numpy() * ratio * spec.participation
        cur = g.load_curtailed_kw.to_numpy()
        add_room(name, g.step.to_numpy(), cap - cur, cur)
    buy_max = vpp_rows.index.get_level_values("agent").map(lambda v: limits[v].buy_max_kw)
    sell_max = vpp_rows.index.get_level_values("agent").map(lambda v: limits[v].sell_max_kw)
    room_up += buy_max.to_numpy() - (buy - sell)
    room_down += sell_max.to_numpy() - (sell - buy)
    assert (vpp_rows.planned_unmet_kw >= 0).all() and (vpp_rows.planned_spill_kw >= 0).all()
    short = vpp_rows.unmet_kw > vpp_rows.planned_unmet_kw + 1e-9
    assert (room_up[short] <= 1e-6).all(), f"unmet demand with resources left:\n{room_up[short]}"
    long = vpp_rows.spill_kw > vpp_rows.planned_spill_kw + 1e-9
    assert (room_down[long] <= 1e-6).all(), f"spill with absorption left:\n{room_down[long]}"

    # ------------------------------------------------------------ exchange limits of every VPP
    for (name, _), r in vpp_rows.iterrows():
        assert -LIMIT_TOL_KW <= r.buy_kw <= limits[name].buy_max_kw + LIMIT_TOL_KW, name
        assert -LIMIT_TOL_KW <= r.sell_kw <= limits[name].sell_max_kw + LIMIT_TOL_KW, name
        assert min(r.buy_kw, r.sell_kw) == 0.0, f"{name}: buys and sells at once"
        assert r.unmet_kw >= 0.0 and r.spill_kw >= 0.0, name

    # ------------------------------------------------------------ the VPO and the grid
    vpo = ts[ts.kind == "vpo"].set_index("step").sort_index()
    np.testing.assert_allclose(vpo.buy_kw - vpo.sell_kw, vpo.grid_export_kw - vpo.grid_import_kw,
                               rtol=0, atol=1e-9)
    assert (np.minimum(vpo.grid_export_kw, vpo.grid_import_kw) == 0.0).all()
    assert (vpo.grid_export_kw >= 0).all() and (vpo.grid_import_kw >= 0).all()
    np.testing.assert_allclose(vpo.buy_kw, vpp_rows.sell_kw.groupby(level="step").sum(), atol=1e-9)
    np.testing.assert_allclose(vpo.sell_kw, vpp_rows.buy_kw.groupby(level="step").sum(), atol=1e-9)

    energy = vpp_rows.groupby(level="agent")[["unmet_kw", "spill_kw"]].sum() * dt
    return {name: {"unmet_kwh": float(r.unmet_kw), "spill_kwh": float(r.spill_kw)}
            for name, r in energy.iterrows()}


# ---------------------------------------------------------------------------- default day


def test_default_day_invariants() -> None:
    model = VPPModel(load_scenario(default_scenario_path()))
    model.run()
    energy = check_invariants(model)
    assert set(energy) == {"VPP1", "VPP2", "VPP3"}
    ts = model.timeseries()
    # the default day does exercise the batteries and the forecast error (the checks are not vacuous)
    bats = ts[ts.kind == "battery"]
    assert (bats.charge_kw > 1.0).any() and (bats.discharge_kw > 1.0).any()
    ren = ts[ts.kind.isin(RENEWABLE_KINDS)]
    assert (ren.p_available_kw != ren.p_forecast_kw).any()


def test_checker_detects_a_broken_balance() -> None:
    """The checker itself fails on a run whose recorded rows were tampered with."""
    model = VPPModel(load_scenario(default_scenario_path()), days=1)
    model.run()
    row = next(r for r in model.rows if r["agent"] == "VPP2" and r["step"] == 12)
    row["spill_kw"] += 2e-6  # 2 Wh of spill that no member produced
    with pytest.raises(AssertionError, match="energy balance"):
        check_invariants(model)


# ---------------------------------------------------------------------------- random scenarios

N_RANDOM = 20
QUARTER_HOUR_CASES = {3, 11, 17}  # only a few 15-min cases, to keep the test fast
SCARCE_CASES = {0, 5, 13}  # one VPP whose demand exceeds all capacity and exchange limits
MUST_RUN_CASES = {1, 8, 14}  # one VPP with a must-run generator that forces spill


class _ScenarioWriter:
    """Random YAML + CSV of one scenario, from a seeded numpy Generator."""

    def __init__(self, rng: np.random.Generator, case: int) -> None:
        self.rng = rng
        self.case = case
        self.step_h = 0.25 if case in QUARTER_HOUR_CASES else 1.0
        self.days = 1 if case in QUARTER_HOUR_CASES else int(rng.integers(1, 3))
        per_day = int(round(24 / self.step_h))
        # a daily profile (tiled) or one covering the whole horizon
        self.rows = per_day if rng.random() < 0.6 else per_day * self.days
        self.hours = (np.arange(self.rows) * self.step_h) % 24
        self.columns: dict[str, np.ndarray] = {"hour": self.hours}
        self.n_cols = 0
        self._add_weather()

    # -- profile columns
    def _col(self, values: np.ndarray, prefix: str) -> str:
        self.n_cols += 1
        name = f"{prefix}{self.n_cols}"
        self.columns[name] = np.round(values, 6)
        return name

    def _add_weather(self) -> None:
        r = self.rng
        shape = np.clip(np.sin(np.pi * (self.hours - 6.0) / 12.0), 0.0, None)
        self.irr = self._col(shape * r.uniform(200, 1100) * r.uniform(0.5, 1.0, self.rows), "irr")
        self.temp = self._col(r.uniform(-5, 25) + 10 * shape + r.normal(0, 1, self.rows), "temp")

    def wind_col(self) -> str:
        return self._col(self.rng.uniform(0.0, 28.0, self.rows), "wind")  # some above cut-out

    def load_col(self, level_kw: float) -> str:
        shape = 0.6 + 0.4 * np.clip(np.sin(np.pi * (self.hours - 7.0) / 14.0), 0.0, None)
        return self._col(level_kw * shape * self.rng.uniform(0.8, 1.2, self.rows), "load")

    # -- members
    def battery_params(self) -> dict[str, Any]:
        r = self.rng
        soc_min = float(r.uniform(0.0, 0.3))
        soc_max = float(r.uniform(0.8, 1.0))
        return {
            "capacity_kwh": float(r.uniform(20, 500)),
            "soc0": float(r.uniform(soc_min, soc_max)),
            "soc_min": soc_min,
            "soc_max": soc_max,
            "p_max_kw": float(r.uniform(5, 200)),
            "eta_charge": float(r.uniform(0.85, 1.0)),
            "eta_discharge": float(r.uniform(0.85, 1.0)),
        }

    def pv_params(self, panels: int) -> dict[str, Any]:
        return {"panels": panels, "irradiance": self.irr, "temperature": self.temp}

    def bus(self) -> int:
        return int(self.rng.integers(1, 33))

    def member(self, kind: str, name: str, level_kw: float) -> dict[str, Any]:
        r = self.rng
        m: dict[str, Any] = {"kind": kind, "name": name}
        if r.random() < 0.3:
            m["bus"] = self.bus()
        if kind == "wind":
            m.update(rated_kw=float(r.uniform(10, 300)), count=int(r.integers(1, 4)),
                     wind_speed=self.wind_col())
            if r.random() < 0.3:
                m.update(cut_in_m_s=float(r.uniform(2, 4)), rated_m_s=float(r.uniform(10, 14)),
                         cut_out_m_s=float(r.uniform(20, 26)))
        elif kind == "pv":
            m.update(self.pv_params(int(r.integers(50, 2000))))
        elif kind == "battery":
            m.update(self.battery_params())
        elif kind == "load":
            m.update(profile=self.load_col(level_kw))
        elif kind == "controllable_load":
            m.update(profile=self.load_col(level_kw), participation=float(r.uniform(0.6, 0.8)),
                     curtail_cost_cny_per_kwh=float(r.uniform(0.1, 3.0)),
                     reserve_ratio={k: float(r.uniform(0.0, 0.4)) for k in
                                    ("low", "morning_peak", "evening_peak", "shoulder")})
        elif kind == "generator":
            p_max = float(r.uniform(20, 200))
            p_min = float(r.uniform(0, 0.3 * p_max))
            m.update(technology=str(r.choice(["microturbine", "fuel_cell", "diesel", "hydro"])),
                     p_min_kw=p_min, p_max_kw=p_max, p0_kw=float(r.uniform(p_min, p_max)),
                     cost_a_cny_per_h=float(r.uniform(0, 5)),
                     cost_b_cny_per_kwh=float(r.uniform(0.2, 1.5)),
                     cost_c_cny_per_kw2h=float(r.uniform(0, 0.005)))
            if r.random() < 0.6:
                m["ramp_kw_per_h"] = float(r.uniform(5, 100))
        elif kind == "prosumer":
            m["profile"] = self.load_col(level_kw * 0.2)
            if r.random() < 0.8:
                m["pv"] = self.pv_params(int(r.integers(10, 200)))
            if r.random() < 0.6:
                m["battery"] = self.battery_params()
        return m

    def costs(self) -> dict[str, float]:
        keys = ["mu1_wind_curtail_cny_per_kwh", "mu2_pv_curtail_cny_per_kwh",
                "lam1_battery_cny_per_kwh", "lam2_wind_om_cny_per_kwh", "lam3_pv_om_cny_per_kwh",
                "w_b_purchase_cny_per_kwh", "w_bat_battery_cny_per_kwh"]
        return {k: float(self.rng.uniform(0.0, 1.0)) for k in keys}

    def vpp(self, i: int, regime: str) -> dict[str, Any]:
        r = self.rng
        name = f"V{i}"
        members: list[dict[str, Any]] = []
        if regime == "scarce":
            # demand >= 240 kW whatever the error; supply and exchange can give at most ~60 kW
            members.append(self.member("load", f"{name}-L0", float(r.uniform(600, 1000))))
            members.append({"kind": "wind", "name": f"{name}-W0", "rated_kw": 10.0,
                            "wind_speed": self.wind_col()})
            members.append({"kind": "battery", "name": f"{name}-B0", "capacity_kwh": 50.0,
                            "soc0": 0.5, "soc_min": 0.1, "soc_max": 0.9, "p_max_kw": 20.0})
            if r.random() < 0.5:
                members.append(self.member("controllable_load", f"{name}-CL0", 100.0))
            exchange = {"buy_max_kw": float(r.uniform(0, 20)), "sell_max_kw": float(r.uniform(0, 20))}
        elif regime == "must_run":
            # a unit that cannot go below 200 kW, demand <= ~80 kW, sales <= 10 kW: spill
            p_min = float(r.uniform(200, 400))
            members.append({"kind": "generator", "name": f"{name}-G0", "technology": "diesel",
                            "p_min_kw": p_min, "p_max_kw": p_min + 100.0, "p0_kw": p_min,
                            "cost_b_cny_per_kwh": 0.8})
            members.append(self.member("load", f"{name}-L0", float(r.uniform(10, 50))))
            if r.random() < 0.5:
                members.append(self.member("wind", f"{name}-W0", 0.0))
            exchange = {"buy_max_kw": float(r.uniform(0, 100)), "sell_max_kw": float(r.uniform(0, 10))}
        else:
            kinds = ["wind", "pv", "battery", "load", "controllable_load", "generator", "prosumer"]
            chosen = [k for k in kinds if r.random() < 0.5] or [str(r.choice(kinds))]
            level = float(r.uniform(20, 400))
            for j, kind in enumerate(chosen):
                for c in range(int(r.integers(1, 3)) if kind in ("load", "prosumer", "pv") else 1):
                    members.append(self.member(kind, f"{name}-{kind}{j}{c}", level))
            exchange = {"buy_max_kw": float(r.choice([0.0, r.uniform(0, 600)])),
                        "sell_max_kw": float(r.choice([0.0, r.uniform(0, 600)]))}
        return {"name": name, "bus": self.bus(), "exchange": exchange, "costs": self.costs(),
                "end_soc_at_least_initial": bool(r.random() < 0.8), "members": members}

    def error_model(self) -> dict[str, Any]:
        kind = str(self.rng.choice(["none", "uniform", "normal"]))
        if kind == "uniform":
            return {"kind": kind, "band": float(self.rng.uniform(0.0, 0.5))}
        if kind == "normal":
            return {"kind": kind, "sd": float(self.rng.uniform(0.0, 0.2)),
                    "clip_sd": float(self.rng.uniform(1.0, 3.0))}
        return {"kind": "none"}

    def tariff(self) -> dict[str, Any]:
        k = int(self.rng.integers(1, 4))
        owner = self.rng.integers(0, k, 24)
        periods = []
        for p in range(k):
            hours = [int(h) for h in np.flatnonzero(owner == p)]
            if hours:
                imp = float(self.rng.uniform(0.3, 1.5))
                periods.append({"name": f"p{p}", "hours": hours, "import_cny_per_kwh": imp,
                                "export_cny_per_kwh": float(imp * self.rng.uniform(0.3, 1.0))})
        return {"periods": periods}

    def write(self, folder: Path) -> Path:
        r = self.rng
        n_vpps = int(r.integers(1, 5))
        regimes = ["normal"] * n_vpps
        if self.case in SCARCE_CASES:
            regimes[0] = "scarce"
        if self.case in MUST_RUN_CASES:
            regimes[-1 if n_vpps > 1 else 0] = "must_run"
        vpps = [self.vpp(i, reg) for i, reg in enumerate(regimes)]
        raw = {
            "name": f"random{self.case}",
            "seed": int(r.integers(0, 2**31)),
            "days": self.days,
            "step_h": self.step_h,
            "profiles": "profiles.csv",
            "feeder": {"name": "ieee33", "background_load_scale": float(r.uniform(0.0, 1.0))},
            "tariff": self.tariff(),
            "market": {"imbalance_penalty": float(r.uniform(0, 0.3)),
                       "value_of_lost_load_cny_per_kwh": float(r.uniform(5, 20))},
            "forecast_error": {k: self.error_model() for k in ("wind", "pv", "load")},
            "vpps": vpps,
        }
        folder.mkdir(parents=True)
        pd.DataFrame(self.columns).to_csv(folder / "profiles.csv", index=False)
        path = folder / "scenario.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        self.regimes = dict(zip([v["name"] for v in vpps], regimes, strict=True))
        return path


@pytest.mark.extended
def test_random_scenarios_invariants(tmp_path: Path) -> None:
    rng = np.random.default_rng(20250101)
    seen_kinds: set[str] = set()
    seen_steps: set[float] = set()
    for case in range(N_RANDOM):
        writer = _ScenarioWriter(rng, case)
        path = writer.write(tmp_path / f"case{case}")
        loaded = load_scenario(path)
        model = VPPModel(loaded)
        model.run()
        try:
            energy = check_invariants(model)
        except AssertionError as exc:
            raise AssertionError(f"random scenario {case} ({path}): {exc}") from exc
        for name, regime in writer.regimes.items():
            if regime == "scarce":
                assert energy[name]["unmet_kwh"] > 0.0, f"case {case}: {name} should have unmet"
            if regime == "must_run":
                assert energy[name]["spill_kwh"] > 0.0, f"case {case}: {name} should spill"
        seen_kinds |= set(model.timeseries().kind)
        seen_steps.add(loaded.scenario.step_h)
    # the generator exercised every member kind and both step lengths
    assert set(PHYSICAL_KINDS) <= seen_kinds
    assert seen_steps == {0.25, 1.0}


def test_demand_above_all_capacity_is_reported_as_unmet(
    default_scenario_raw: dict[str, Any], write_scenario_copy: Any
) -> None:
    raw = default_scenario_raw
    vpp1 = raw["vpps"][0]
    vpp1["exchange"] = {"buy_max_kw": 0.0, "sell_max_kw": 0.0}
    # ten more copies of VPP1's load: about 2-4 MW of demand against < 1 MW of capacity
    vpp1["members"] += [
        {"kind": "load", "name": f"VPP1-EXTRA{i}", "profile": "vpp1_load_kw"} for i in range(10)
    ]
    model = VPPModel(load_scenario(write_scenario_copy(raw, "overloaded")))
    model.run()  # a result, not a crash
    energy = check_invariants(model)
    assert energy["VPP1"]["unmet_kwh"] > 1000.0
    assert energy["VPP2"]["unmet_kwh"] == 0.0
    summary = summarize(model, {})
    assert summary["unmet_energy_kwh"] == pytest.approx(
        sum(e["unmet_kwh"] for e in energy.values()), rel=1e-12
    )
    assert summary["unmet_energy_kwh"] > 1000.0
    # unmet energy is priced at the value of lost load in VPP1's realized cost
    ts = model.timeseries()
    vpp1_rows = ts[(ts.kind == "vpp") & (ts.agent == "VPP1")]
    voll = raw["market"]["value_of_lost_load_cny_per_kwh"]
    assert vpp1_rows.cost_lost_load_cny.sum() == pytest.approx(
        voll * energy["VPP1"]["unmet_kwh"], rel=1e-9
    )


def test_unmet_demand_never_makes_a_load_negative(
    default_scenario_raw: dict[str, Any], write_scenario_copy: Any
) -> None:
    """No supply at all: every load is unserved, none is 'served' a negative amount.

    Unmet demand is shared among the loads after curtailment; sharing it by raw demand would
    give the curtailed controllable load a negative served power (an injection on its bus).
    Also checks that a prosumer's PV and battery rows name the VPP, not the prosumer.
    """
    raw = default_scenario_raw
    vpp1 = raw["vpps"][0]
    vpp1["exchange"] = {"buy_max_kw": 0.0, "sell_max_kw": 0.0}
    vpp1["members"] = [
        {"kind": "load", "name": "VPP1-LOAD", "profile": "vpp1_load_kw"},
        {"kind": "controllable_load", "name": "VPP1-CL", "profile": "vpp2_load_kw",
         "participation": 0.8, "reserve_ratio": {"low": 0.4, "morning_peak": 0.4,
                                                 "evening_peak": 0.4, "shoulder": 0.4}},
        {"kind": "prosumer", "name": "VPP1-HOME", "profile": "vpp3_load_kw",
         "pv": {"panels": 20, "irradiance": "irradiance_w_m2", "temperature": "ambient_temp_c"},
         "battery": {"capacity_kwh": 10, "soc0": 0.5, "soc_min": 0.1, "soc_max": 0.9,
                     "p_max_kw": 3}},
    ]
    model = VPPModel(load_scenario(write_scenario_copy(raw, "no_supply")))
    model.run()
    check_invariants(model)
    ts = model.timeseries()
    cl = ts[ts.agent == "VPP1-CL"]
    assert (cl.load_curtailed_kw > 1.0).all() and (cl.unmet_kw > 1.0).all()
    assert set(ts.loc[ts.agent.isin(["VPP1-HOME-PV", "VPP1-HOME-BAT"]), "vpp"]) == {"VPP1"}
