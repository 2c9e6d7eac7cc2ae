"""SimBench feeders and profiles (issue 15, part A).

The acceptance check: a day (the extended run: the whole week) of the shipped
``simbench_lv_rural.yaml`` holds its losses to an independent
``pandapower.timeseries.run_timeseries`` (ConstControl on SimBench's own profiles of the
background loads and sgens, read straight from the ``simbench`` package, and on the run's
recorded member injections) to 1e-6 kWh, and its energy balances every step to 1e-6 kWh.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import simbench
import yaml
from pandapower.control import ConstControl
from pandapower.timeseries import DFData, OutputWriter, run_timeseries

from vppsim.grids.simbench import element_profiles, simbench_net
from vppsim.model import VPPModel
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "simbench_lv_rural.yaml"
CODE = "1-LV-rural1--0-sw"
TOL_KWH = 1e-6
#: 2016-06-01 00:00 in SimBench's quarter-hour rows (152 days after 1 January of a leap year)
JUNE_1_ROW = 152 * 96


@pytest.fixture(scope="module")
def raw() -> tuple[pp.pandapowerNet, dict]:
    """SimBench's own net and absolute profiles, straight from the simbench package."""
    net = simbench.get_simbench_net(CODE)
    return net, simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)


@pytest.fixture(scope="module", params=[1, pytest.param(7, marks=pytest.mark.extended)],
                ids=["day", "week"])
def day_run(request: pytest.FixtureRequest) -> tuple[VPPModel, pd.DataFrame]:
    """The shipped scenario's first day, run (and, in the extended run, its whole week)."""
    loaded = load_scenario(SCENARIO).with_overrides(days=request.param)
    model = VPPModel(loaded)
    model.run()
    return model, model.timeseries()


def _reference_losses(model: VPPModel, ts: pd.DataFrame, raw) -> pd.DataFrame:
    """Losses and slack power per step by pandapower.timeseries on the raw SimBench data."""
    net, profiles = copy.deepcopy(raw[0]), raw[1]
    n = model.n_steps
    rows = slice(JUNE_1_ROW, JUNE_1_ROW + n)
    taken = model.loaded.taken_elements
    data: dict[str, np.ndarray] = {}
    for element in ("load", "sgen"):
        keep = [i for i in net[element].index if f"{element}/{i}" not in taken]
        gone = [i for i in net[element].index if f"{element}/{i}" in taken]
        net[element].loc[gone, "in_service"] = False
        variables = ("p_mw", "q_mvar") if element == "load" else ("p_mw",)
        for var in variables:
            for i in keep:
                data[f"{element}{i}_{var}"] = profiles[(element, var)][i].to_numpy()[rows]
    # the members' recorded injections, one sgen per bus (P from bus_injections, Q: loads draw
    # at their power factor, PV and batteries none)
    inj = model.bus_injections().pivot(index="step", columns="bus", values="p_injection_kw")
    loads = ts[ts.kind == "load"].copy()
    pf = {m.name: m.power_factor for v in model.scenario.vpps for m in v.members
          if m.kind == "load"}
    loads["q_kvar"] = [p * math.tan(math.acos(pf[a])) for p, a in zip(loads.p_kw, loads.agent,
                                                                      strict=True)]
    q = loads.pivot_table(index="step", columns="bus", values="q_kvar", aggfunc="sum")
    q = q.reindex(index=inj.index, columns=inj.columns, fill_value=0.0).fillna(0.0)
    vpp_sgens = []
    for bus in inj.columns:
        idx = pp.create_sgen(net, int(bus), p_mw=0.0, name=f"members_{bus}")
        vpp_sgens.append(idx)
        data[f"sgen{idx}_p_mw"] = inj[bus].to_numpy() / 1000.0
        data[f"sgen{idx}_q_mvar"] = q[bus].to_numpy() / 1000.0
    source = DFData(pd.DataFrame(data))
    for name in data:
        element, _, var = name.partition("_")
        kind = element.rstrip("0123456789")
        ConstControl(net, element=kind, variable=var, element_index=[int(element[len(kind):])],
                     data_source=source, profile_name=[name])
    writer = OutputWriter(net, time_steps=range(n), output_path=None, log_variables=[])
    writer.log_variable("res_line", "pl_mw")
    writer.log_variable("res_trafo", "pl_mw")
    writer.log_variable("res_ext_grid", "p_mw")
    run_timeseries(net, time_steps=range(n), verbose=False, numba=False)
    out = writer.output
    return pd.DataFrame({
        "losses_kw": (out["res_line.pl_mw"].sum(axis=1) + out["res_trafo.pl_mw"].sum(axis=1))
        * 1000.0,
        "p_slack_kw": out["res_ext_grid.p_mw"].sum(axis=1) * 1000.0})


def test_losses_match_an_independent_pandapower_time_series(day_run, raw) -> None:
    model, ts = day_run
    ref = _reference_losses(model, ts, raw)
    table = model.model_table()
    dt = model.step_h
    assert table.power_flow_converged.all()
    ours_kwh = float(table.losses_kw.sum()) * dt
    ref_kwh = float(ref.losses_kw.sum()) * dt
    assert ours_kwh > 1.0  # a real feeder with real losses (about 15 kWh on 2016-06-01)
    assert abs(ours_kwh - ref_kwh) <= TOL_KWH, (ours_kwh, ref_kwh)
    np.testing.assert_allclose(table.losses_kw.to_numpy() * dt, ref.losses_kw.to_numpy() * dt,
                               rtol=0, atol=TOL_KWH)
    # the slack power is a mismatch figure: both runs stop within runpp's tolerance (1e-8 MVA
    # per bus), so they agree within the sum of that tolerance over the buses
    net_rows = ts[ts.kind == "network"].sort_values("step")
    np.testing.assert_allclose(net_rows.p_slack_kw.to_numpy(), ref.p_slack_kw.to_numpy(),
                               rtol=0, atol=len(raw[0].bus) * 1e-8 * 1000.0)


def test_energy_balances_every_step(day_run, raw) -> None:
    model, ts = day_run
    dt = model.step_h
    vpp_rows = ts[ts.kind == "vpp"].set_index(["agent", "step"]).sort_index()
    members = ts[~ts.kind.isin(["vpp", "vpo", "network"])]

    def per_vpp(frame: pd.DataFrame, column: str) -> pd.Series:
        s = frame.groupby(["vpp", "step"])[column].sum()
        s.index = s.index.set_names(["agent", "step"])
        return s.reindex(vpp_rows.index, fill_value=0.0)

    pv, bats, loads = (members[members.kind == k] for k in ("pv", "battery", "load"))
    assert len(pv) == 4 * model.n_steps and len(loads) == 6 * model.n_steps
    served = loads.assign(served=loads.load_kw - loads.load_curtailed_kw - loads.unmet_kw)
    residual_kwh = (per_vpp(pv, "p_kw") + per_vpp(bats, "discharge_kw")
                    - per_vpp(bats, "charge_kw") + vpp_rows.buy_kw - vpp_rows.sell_kw
                    - per_vpp(served, "served") - vpp_rows.spill_kw) * dt
    assert residual_kwh.abs().max() <= TOL_KWH
    # the feeder: slack import = losses - members' injections - the background's injection,
    # to the power flow's own mismatch tolerance (runpp: 1e-8 MVA = 1e-5 kW per bus)
    net_rows = ts[ts.kind == "network"].set_index("step").sort_index()
    inj = model.bus_injections().groupby("step").p_injection_kw.sum()
    feeder_kw = net_rows.p_slack_kw - net_rows.losses_kw + inj + net_rows.background_p_kw
    assert feeder_kw.abs().max() <= 1e-8 * 1000.0
    # the VPO passes the VPPs' net trade to the grid (no VPO battery here)
    table = model.model_table()
    np.testing.assert_allclose((table.grid_import_kw - table.grid_export_kw) * dt,
                               (table.vpp_purchases_kw - table.vpp_sales_kw) * dt,
                               rtol=0, atol=TOL_KWH)
    # the background is the untaken elements' SimBench profile, read independently
    net, prof = raw
    rows = slice(JUNE_1_ROW, JUNE_1_ROW + model.n_steps)
    taken = model.loaded.taken_elements
    bg = sum(prof[("sgen", "p_mw")][i].to_numpy()[rows] for i in net.sgen.index
             if f"sgen/{i}" not in taken) - sum(
        prof[("load", "p_mw")][i].to_numpy()[rows] for i in net.load.index
        if f"load/{i}" not in taken)
    np.testing.assert_allclose(net_rows.background_p_kw.to_numpy(), bg * 1000.0, atol=1e-9)
    # the members' PV forecasts are the SimBench sgens' profiles
    fc = members[members.agent == "B-PV10"].sort_values("step").p_forecast_kw.to_numpy()
    np.testing.assert_allclose(fc, prof[("sgen", "p_mw")][1].to_numpy()[rows] * 1000.0,
                               atol=1e-9)


def test_hourly_steps_average_the_quarter_hours_keeping_energy(raw) -> None:
    net, prof = raw
    hourly = element_profiles(simbench_net(CODE), "2016-06-01", 2, 1.0)
    raw = prof[("load", "p_mw")].to_numpy()[JUNE_1_ROW:JUNE_1_ROW + 2 * 96] * 1000.0
    assert hourly.load_p_kw.shape == (48, len(net.load))
    np.testing.assert_allclose(hourly.load_p_kw.sum(axis=0) * 1.0, raw.sum(axis=0) * 0.25,
                               rtol=1e-12)
    np.testing.assert_allclose(hourly.load_p_kw[5], raw[20:24].mean(axis=0), rtol=1e-12)


def _write(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(SCENARIO.read_text())
    edit(raw)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("edit, field, words", [
    (lambda r: r["feeder"].update(simbench="1-LV-rural9--0-sw"), "feeder.simbench",
     "1-LV-rural1--0-sw"),
    (lambda r: r["feeder"].update(name="ieee33"), "feeder", "not both"),
    (lambda r: r["profiles"]["simbench"].update(start="2016-12-30"),
     "profiles.simbench.start", "within 2016"),
    (lambda r: r["vpps"][0]["members"][0].update(bus=10), "vpps[0].members[0].bus",
     "SimBench element sgen/0"),
    (lambda r: r["vpps"][1]["members"][0].update(profile="sgen/0", bus=6),
     "vpps[1].members[0].profile", "taken by one member"),
    (lambda r: r.update(feeder={"name": "ieee33"}), "profiles.simbench", "SimBench feeder"),
    (lambda r: r["market"].update(price_policy="loss_aware"), "market.price_policy",
     "SimBench profiles"),
])
def test_bad_simbench_input_is_one_clear_error(tmp_path, edit, field, words) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, edit))
    fields = [f for f, _ in info.value.problems]
    assert field in fields, info.value
    assert words in str(info.value)


def test_cli_exit_2_on_an_unknown_code(tmp_path) -> None:
    path = _write(tmp_path, lambda r: r["feeder"].update(simbench="no-such-code"))
    proc = subprocess.run([sys.executable, "-m", "vppsim.cli", "validate", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "feeder.simbench" in proc.stderr and "Traceback" not in proc.stderr


def test_feeder_storage_is_idle_in_the_power_flow(tmp_path: Path) -> None:
    """A SimBench code with storage (``-2-``): its static set-point (a full-power placeholder,
    -73.4 kW at bus 12 here) would otherwise be a constant injection under every step."""
    data = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    data["feeder"]["simbench"] = "1-LV-rural1--2-sw"
    data["days"] = 1
    for vpp in data["vpps"]:  # the -2- net numbers its buses otherwise: keep the batteries only
        vpp["members"] = [m for m in vpp["members"] if m["kind"] == "battery"]
    path = tmp_path / "with_storage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    raw_storage = simbench_net("1-LV-rural1--2-sw").storage
    assert len(raw_storage) == 5 and (raw_storage.p_mw != 0.0).all()
    net = VPPModel.build_power_flow(load_scenario(path)).net
    assert len(net.storage) == 5
    assert (net.storage[["p_mw", "q_mvar"]].to_numpy() == 0.0).all()
