"""Self-scheduling prosumers inside the co-simulation (issue 5).

The shipped ``scenarios/prosumers_1024.yaml`` validates and runs; bad fleet specs fail with exit
code 2 naming the field; small fleets (the same YAML with ``count`` and the VPPs cut down,
written to ``tmp_path``) keep every prosumer's energy balance and battery physics, commit the
sum of the prosumers' plans, reproduce the plan exactly without forecast error, and give the
same ``prosumers.parquet`` for the same seed.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from vppsim.cli import main
from vppsim.model import VPPModel
from vppsim.montecarlo.chunk import SampleContext, run_chunk
from vppsim.montecarlo.run import clear_day_ahead, sample_seeds
from vppsim.paths import data_dir
from vppsim.prosumers.problem import FleetSchedule, check_schedules
from vppsim.results.run import summarize
from vppsim.scenario.loader import load_scenario

SCENARIO = data_dir("scenarios") / "prosumers_1024.yaml"
RAW = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
BALANCE_TOL_KW = 1e-6


def _write(raw: dict[str, Any], folder: Path, name: str = "scenario") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    csv = raw["profiles"]
    src = SCENARIO.parent / csv
    if not (folder / csv).exists():
        shutil.copy(src, folder / csv)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _small(count: int = 12, vpps: int = 2, optimizer: str = "sa", rolling: bool = False,
           errors: bool = True) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    raw["vpps"] = raw["vpps"][:vpps]
    for v in raw["vpps"]:
        fleet = v["members"][0]
        fleet["count"] = count
        fleet["optimizer"] = optimizer
        fleet["rolling_horizon"] = rolling
    if not errors:
        raw["forecast_error"] = {}
    return raw


def _run(raw: dict[str, Any], folder: Path, seed: int | None = None) -> VPPModel:
    model = VPPModel(load_scenario(_write(raw, folder)), seed=seed)
    model.run()
    return model


def _check_physics(model: VPPModel, frame: pd.DataFrame) -> None:
    """Every prosumer's energy balance, battery recursion and bounds; the VPP rows are the sums."""
    dt = model.step_h
    f = frame
    balance = (f.gen_kw + f.acquire_kw + f.discharge_kw
               - (f.load_kw - f.unmet_kw) - f.paid_kw - f.spill_kw - f.charge_kw)
    assert balance.abs().max() <= BALANCE_TOL_KW
    for col in ("acquire_kw", "paid_kw", "spill_kw", "charge_kw", "discharge_kw", "unmet_kw"):
        assert (f[col] >= -1e-12).all(), col
    assert (np.minimum(f.charge_kw, f.discharge_kw) == 0).all()
    assert (np.minimum(f.acquire_kw, f.paid_kw + f.spill_kw) <= 1e-9).all()
    assert (f.spill_kw <= f.gen_kw + 1e-9).all()
    np.testing.assert_allclose(f.exchange_kw, f.acquire_kw - f.paid_kw, atol=1e-12)
    for fleet in model.prosumer_fleets:
        g = f[f.vpp == fleet.name]
        n, steps = fleet.n, model.n_steps
        assert len(g) == n * steps
        soc = g.soc_kwh.to_numpy().reshape(steps, n)
        ch = g.charge_kw.to_numpy().reshape(steps, n)
        dis = g.discharge_kw.to_numpy().reshape(steps, n)
        cap = fleet.capacity_kwh
        prev = np.vstack([0.5 * cap, soc[:-1]])
        expect = prev + fleet.base.eta_charge * ch * dt - dis * dt / fleet.base.eta_discharge
        np.testing.assert_allclose(soc, expect, rtol=0, atol=1e-9)
        assert (soc >= 0.10 * cap - 1e-9).all() and (soc <= 0.95 * cap + 1e-9).all()
        assert (ch[:, cap == 0] == 0).all() and (dis[:, cap == 0] == 0).all()
        # the Battery agents hold the same state
        for i, bat in zip(fleet.battery_index, fleet.fleet_batteries, strict=True):
            assert bat.soc_kwh == soc[-1, i]
    ts = model.timeseries()
    fleets = [fl.name for fl in model.prosumer_fleets]
    vpp = ts[(ts.kind == "vpp") & ts.agent.isin(fleets)].set_index(["agent", "step"]).sort_index()
    sums = f.groupby(["vpp", "step"])[["acquire_kw", "paid_kw", "load_kw", "charge_kw"]].sum()
    sums.index = sums.index.set_names(["agent", "step"])
    sums = sums.reindex(vpp.index)
    np.testing.assert_allclose(vpp.buy_kw, sums.acquire_kw, atol=1e-9)
    np.testing.assert_allclose(vpp.sell_kw, sums.paid_kw, atol=1e-9)
    np.testing.assert_allclose(vpp.load_kw, sums.load_kw, atol=1e-9)
    np.testing.assert_allclose(vpp.charge_kw, sums.charge_kw, atol=1e-9)
    assert (vpp.energy_balance_residual_kw.abs() * dt <= 1e-6).all()
    vpo = ts[ts.kind == "vpo"].set_index("step").sort_index()
    np.testing.assert_allclose(vpo.buy_kw - vpo.sell_kw, vpo.grid_export_kw - vpo.grid_import_kw,
                               atol=1e-9)
    net = ts[ts.kind == "network"]
    assert net.converged.astype(bool).all()


def _committed_equals_plans(model: VPPModel) -> None:
    for fleet in model.prosumer_fleets:
        day, plan = fleet.own_plan
        assert day == 0
        np.testing.assert_allclose(fleet.vpp.schedule.buy_kw, plan.acquire_kw.sum(axis=0), atol=1e-9)
        np.testing.assert_allclose(fleet.vpp.schedule.sell_kw, plan.paid_kw.sum(axis=0), atol=1e-9)
        assert fleet.vpp.schedule.cost_cny == pytest.approx(plan.total_cost)
    ts = model.timeseries()
    for fleet in model.prosumer_fleets:
        rows = ts[ts.agent == fleet.name].sort_values("step")
        np.testing.assert_allclose(rows.committed_buy_kw, fleet.vpp.schedule.buy_kw, atol=1e-9)
        np.testing.assert_allclose(rows.committed_sell_kw, fleet.vpp.schedule.sell_kw, atol=1e-9)


def _realized_schedule(frame: pd.DataFrame, fleet: Any, steps: int) -> FleetSchedule:
    g = frame[frame.vpp == fleet.name]

    def arr(col: str) -> np.ndarray:
        return g[col].to_numpy().reshape(steps, fleet.n).T

    cost = arr("cost_cny").sum(axis=1)
    return FleetSchedule(arr("acquire_kw"), arr("paid_kw"), arr("spill_kw"), arr("charge_kw"),
                         arr("discharge_kw"), arr("soc_kwh"), cost)


# ---------------------------------------------------------------------------- the shipped file


def test_shipped_scenario_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SCENARIO)]) == 0
    s = load_scenario(SCENARIO).scenario
    assert s.step_h == 0.25 and s.days == 1 and s.feeder.name == "ieee33"
    assert s.market.price_policy == "passthrough"
    fleets = [v.prosumer_fleet for v in s.vpps]
    assert len(fleets) == 4 and all(f is not None and f.count == 256 for f in fleets)
    assert all(f.optimizer == "sa" for f in fleets if f is not None)


LOAD = {"kind": "load", "name": "X", "profile": "background_load_pu"}
BAD = [
    ("vpps[0].members", ("prosumer_fleet alone",),
     lambda r: r["vpps"][0]["members"].append(LOAD)),
    ("market.price_policy", ("expected 'passthrough'", "'game'"),
     lambda r: r["market"].update(price_policy="game")),
    ("vpps[1].members[0].buses[1]", ("expected a bus of feeder 'ieee33'", "got 77"),
     lambda r: r["vpps"][1]["members"][0].update(buses=[18, 77])),
    ("vpps[1].members[0].bus", ("expected a bus of feeder 'ieee33'", "got 77"),
     lambda r: r["vpps"][1]["members"][0].update(buses=None, bus=77)),
    ("vpps[1].members[0]", ("expected bus (every prosumer on it) or buses", "not both"),
     lambda r: r["vpps"][1]["members"][0].update(bus=19)),
    ("vpps[0].members[0].optimizer", ("'sa'", "'milp'", "'ga'"),
     lambda r: r["vpps"][0]["members"][0].update(optimizer="ga")),
    ("vpps[0].members[0].count", ("greater than or equal to 1",),
     lambda r: r["vpps"][0]["members"][0].update(count=0)),
    ("vpps[2].costs", ("expected no costs",),
     lambda r: r["vpps"][2].update(costs={k: 0.0 for k in (
         "mu1_wind_curtail_cny_per_kwh", "mu2_pv_curtail_cny_per_kwh", "lam1_battery_cny_per_kwh",
         "lam2_wind_om_cny_per_kwh", "lam3_pv_om_cny_per_kwh", "w_b_purchase_cny_per_kwh",
         "w_bat_battery_cny_per_kwh")})),
    ("vpps[0].members[0].rolling", ("unknown field",),
     lambda r: r["vpps"][0]["members"][0].update(rolling=True)),
    ("vpps[3]", ("expected the field(s) ['exchange', 'costs']",),
     lambda r: r["vpps"][3].update(members=[LOAD])),
]


@pytest.mark.parametrize(("field", "expected", "edit"), BAD, ids=[b[0] for b in BAD])
def test_bad_fleet_specs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str,
                                expected: tuple[str, ...], edit: Any) -> None:
    raw = copy.deepcopy(RAW)
    edit(raw)
    path = _write(raw, tmp_path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    line = next((ln for ln in err.splitlines() if f": {field}: " in ln), None)
    assert line is not None, err
    assert str(path) in line
    for e in expected:
        assert e in line, line


def test_a_fleet_on_one_bus(tmp_path: Path) -> None:
    raw = _small(count=6, vpps=2)
    fleet = raw["vpps"][1]["members"][0]
    del fleet["buses"]
    fleet["bus"] = 25  # not the VPP's bus (19)
    model = VPPModel(load_scenario(_write(raw, tmp_path)))
    placed = {f.vpp.name: list(f.prosumer_buses) for f in model.prosumer_fleets}
    assert placed["PVPP2"] == [25] * 6
    assert placed["PVPP1"][:3] == raw["vpps"][0]["members"][0]["buses"][:3]


def test_game_command_refuses_a_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(_small(count=2, vpps=1), tmp_path)
    assert main(["game", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "vpps[0].members[0]" in capsys.readouterr().err


# ---------------------------------------------------------------------------- small runs


def test_small_fleet_run_physics_and_commitment(tmp_path: Path) -> None:
    model = _run(_small(count=16, vpps=2), tmp_path)
    frame = model.prosumer_frame()
    assert list(frame.columns[:6]) == ["step", "time_h", "vpp", "prosumer", "bus", "capacity_kwh"]
    assert len(frame) == 2 * 16 * model.n_steps
    _check_physics(model, frame)
    _committed_equals_plans(model)
    # prosumers sit on their fleet's buses, round-robin
    buses = frame[frame.step == 0].groupby("vpp").bus.apply(list)
    assert buses["PVPP1"][:8] == [2, 3, 4, 5, 6, 7, 8, 2]
    s = summarize(model, {})
    assert s["max_energy_balance_residual_kw"] <= 1e-9
    assert set(s["prosumers"]) == {"PVPP1", "PVPP2"}
    assert s["imbalance_kwh"] > 0  # forecast error on


def test_perfect_forecast_reproduces_the_plan(tmp_path: Path) -> None:
    model = _run(_small(count=16, vpps=2, errors=False), tmp_path)
    frame = model.prosumer_frame()
    _check_physics(model, frame)
    _committed_equals_plans(model)
    ts = model.timeseries()
    vpp = ts[ts.kind == "vpp"]
    assert vpp.imbalance_kw.abs().max() <= 1e-9
    for fleet in model.prosumer_fleets:
        realized = _realized_schedule(frame, fleet, model.n_steps)
        v = check_schedules(fleet.rt_fleet, realized)
        assert v.ok.all(), v.failing()
        _, plan = fleet.own_plan
        np.testing.assert_allclose(realized.soc_kwh, plan.soc_kwh, atol=1e-9)
        np.testing.assert_allclose(realized.cost, plan.cost, rtol=1e-9, atol=1e-9)
        # the VPP's realized cost is its planned cost (no imbalance, trade at the same prices)
        cost = vpp[vpp.agent == fleet.name].cost_cny.sum()
        assert cost == pytest.approx(plan.total_cost, rel=1e-9)


def test_sa_close_to_milp(tmp_path: Path) -> None:
    costs = {}
    for method in ("sa", "milp"):
        model = _run(_small(count=24, vpps=1, optimizer=method, errors=False), tmp_path / method)
        _check_physics(model, model.prosumer_frame())
        costs[method] = model.prosumer_fleets[0].planned_cost_by_day_cny[0]
    assert costs["milp"] <= costs["sa"] + 1e-6
    assert costs["sa"] <= costs["milp"] + 0.03 * abs(costs["milp"])


def test_rolling_horizon_with_perfect_forecast_matches_one_shot(tmp_path: Path) -> None:
    one = _run(_small(count=6, vpps=1, optimizer="milp", errors=False), tmp_path / "one")
    rolling = _run(_small(count=6, vpps=1, optimizer="milp", rolling=True, errors=False),
                   tmp_path / "rolling")
    frame = rolling.prosumer_frame()
    _check_physics(rolling, frame)
    fleet = rolling.prosumer_fleets[0]
    assert fleet.solves == 1 + rolling.n_steps
    realized = _realized_schedule(frame, fleet, rolling.n_steps)
    assert check_schedules(fleet.rt_fleet, realized).ok.all()
    planned = one.prosumer_fleets[0].own_plan[1].cost
    np.testing.assert_allclose(realized.cost, planned, rtol=1e-6, atol=1e-5)


def test_rolling_horizon_with_forecast_error_runs(tmp_path: Path) -> None:
    raw = _small(count=8, vpps=1, optimizer="lp", rolling=True)
    model = _run(raw, tmp_path)
    _check_physics(model, model.prosumer_frame())
    assert model.prosumer_fleets[0].solve_s["rolling"] > 0


def test_same_seed_same_prosumers_parquet(tmp_path: Path) -> None:
    raw = _small(count=8, vpps=2)
    paths = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        assert main(["run", str(_write(raw, tmp_path / f"s{i}")), "--out", str(out), "--quiet",
                     "--no-figures"]) == 0
        paths.append(out / "prosumers.parquet")
    a, b = (pd.read_parquet(p) for p in paths)
    pd.testing.assert_frame_equal(a, b)
    other = _run(raw, tmp_path / "other", seed=7).prosumer_frame()
    assert not np.allclose(other.load_kw, a.load_kw)


def test_fleet_beside_ordinary_vpps(default_scenario_raw: dict[str, Any],
                                   write_scenario_copy: Any) -> None:
    """A fleet VPP next to the allocator's VPPs (hourly steps): both kinds run in one step."""
    raw = default_scenario_raw
    raw["market"]["price_policy"] = "passthrough"
    raw["vpps"].insert(1, {"name": "PV-FLEET", "bus": 20, "members": [
        {"kind": "prosumer_fleet", "name": "PV-FLEET-P", "count": 5, "buses": [19, 20]}]})
    model = VPPModel(load_scenario(write_scenario_copy(raw)))
    model.run()
    ts = model.timeseries()
    vpp = ts[ts.kind == "vpp"]
    assert set(vpp.agent) == {"VPP1", "PV-FLEET", "VPP2", "VPP3"}
    assert (vpp.energy_balance_residual_kw.abs() <= 1e-6).all()
    assert vpp[vpp.agent != "PV-FLEET"].allocation_solve_ms.notna().all()
    _check_physics(model, model.prosumer_frame())


# ---------------------------------------------------------------------------- the 1,024 prosumers


@pytest.mark.extended
def test_prosumers_1024_runs(tmp_path: Path) -> None:
    out = tmp_path / "p1024"
    assert main(["run", str(SCENARIO), "--out", str(out), "--quiet"]) == 0
    frame = pd.read_parquet(out / "prosumers.parquet")
    assert len(frame) == 1024 * 96 and frame.prosumer.nunique() == 1024
    assert {"soc_kwh", "exchange_kw"} <= set(frame.columns)
    import json

    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["max_energy_balance_residual_kw"] <= 1e-6
    assert s["power_flow_nonconverged_steps"] == []
    assert sum(p["count"] for p in s["prosumers"].values()) == 1024
    assert (out / "figures" / "prosumer_soc.png").is_file()
    assert s["wall_time_s"]["run"] < 60


def test_monte_carlo_chunk_with_a_fleet_vpp_matches_lone_samples(tmp_path: Path) -> None:
    """A Monte Carlo chunk steps its samples in lockstep; a prosumer-fleet VPP (no allocator
    problem) beside the others gives the same KPI row as each sample run alone."""
    loaded = load_scenario(_write(_small(count=6, vpps=2), tmp_path))
    cleared = clear_day_ahead(loaded, 5)
    ctx = SampleContext(loaded, cleared, tuple(v.name for v in loaded.scenario.vpps))
    pairs = list(enumerate(sample_seeds(5, 3)))
    kpis, _, _, _ = run_chunk(ctx, pairs)
    assert kpis["error"].isna().all()
    alone = pd.concat([run_chunk(ctx, [p])[0] for p in pairs], ignore_index=True)
    pd.testing.assert_frame_equal(kpis, alone, check_exact=True)
    assert kpis["system_cost_cny"].nunique() == 3
