"""Key performance indicators: the metric functions on hand-computed cases, the baseline
scenario (no coordination), and the baseline-vs-coordinated table of a run (issue 14)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from vppsim import metrics
from vppsim.cli import main
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.kpis import KPI_LABELS, baseline_of
from vppsim.scenario.loader import load_scenario

# ---------------------------------------------------------------- metrics, computed by hand


def test_renewable_utilization_by_hand() -> None:
    # available 10 + 20 + 30 = 60 kWh, used 10 + 15 + 5 = 30 kWh -> 0.5
    assert metrics.renewable_utilization([10, 15, 5], [10, 20, 30]) == pytest.approx(0.5, abs=1e-15)
    # nothing available: nothing was wasted
    assert metrics.renewable_utilization([0, 0], [0, 0]) == 1.0
    with pytest.raises(ValueError, match="finite"):
        metrics.renewable_utilization([np.nan], [1.0])


def test_load_factor_by_hand() -> None:
    # mean (2 + 4 + 6 + 8) / 4 = 5, peak 8 -> 0.625
    assert metrics.load_factor([2, 4, 6, 8]) == pytest.approx(0.625, abs=1e-15)
    assert metrics.load_factor([3, 3, 3]) == 1.0
    # one hour of 10 kW in a day of zeros: 10/24 / 10
    assert metrics.load_factor([10] + [0] * 23) == pytest.approx(1 / 24, abs=1e-15)
    assert math.isnan(metrics.load_factor([-1, -2]))


def test_peak_reduction_by_hand() -> None:
    # baseline peak 200 kW, coordinated 150 kW -> 25 % lower
    assert metrics.peak_reduction([100, 150], [200, 50]) == pytest.approx(0.25, abs=1e-15)
    # a higher peak is a negative reduction
    assert metrics.peak_reduction([240], [200]) == pytest.approx(-0.2, abs=1e-15)
    assert metrics.peak_kw([1.5, 7.25, -3.0]) == 7.25


def test_hours_outside_band_by_hand() -> None:
    vm_min = [0.95, 0.89, 0.91, np.nan, 0.85]
    vm_max = [1.00, 1.00, 1.11, np.nan, 1.20]
    # step 1 low, step 2 high, step 4 both (counted once), step 3 not converged: 3 steps
    assert metrics.hours_outside_band(vm_min, vm_max, 0.9, 1.1, step_h=1.0) == 3.0
    assert metrics.hours_outside_band(vm_min, vm_max, 0.9, 1.1, step_h=0.25) == 0.75
    # on the band's edge is inside
    assert metrics.hours_outside_band([0.9], [1.1], 0.9, 1.1, step_h=1.0) == 0.0
    with pytest.raises(ValueError, match="shape"):
        metrics.hours_outside_band([0.9, 0.9], [1.0], 0.9, 1.1, step_h=1.0)


# ---------------------------------------------------------------- the baseline scenario


def test_baseline_of_idles_every_battery_and_passes_the_tariff_through(
        default_scenario_raw: dict[str, Any], write_scenario_copy: Callable[..., Path]) -> None:
    raw = default_scenario_raw
    raw["vpo"]["battery"] = {"capacity_kwh": 500.0, "soc0": 0.5, "soc_min": 0.1, "soc_max": 0.9,
                             "p_max_kw": 100.0}
    raw["vpps"].append({"name": "STORE", "bus": 5, "exchange": {"buy_max_kw": 50, "sell_max_kw": 50},
                        "costs": raw["vpps"][0]["costs"],
                        "members": [{"kind": "battery", "name": "STORE-BAT",
                                     "catalog": "liu2025_batteries/VPP1"}]})
    loaded = load_scenario(write_scenario_copy(raw))
    base = baseline_of(loaded)
    s, b = loaded.scenario, base.scenario
    assert s.market.price_policy == "game" and s.vpo.battery is not None  # the input is kept
    assert b.market.price_policy == "passthrough"
    assert b.vpo.battery is None
    # the battery-only VPP goes as a whole; the others keep every member but their battery
    assert [v.name for v in b.vpps] == ["VPP1", "VPP2", "VPP3"]
    for v_s, v_b in zip(s.vpps, b.vpps, strict=False):
        assert [m.name for m in v_b.members] == [m.name for m in v_s.members if m.kind != "battery"]
        assert v_b.exchange == v_s.exchange and v_b.costs == v_s.costs
    assert (b.seed, b.forecast_error, b.tariff, b.feeder) == (s.seed, s.forecast_error, s.tariff,
                                                              s.feeder)


@pytest.fixture(scope="module")
def default_day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`vppsim run` of the default day (coordinated and baseline) and the baseline run again."""
    out = tmp_path_factory.mktemp("kpis") / "run"
    code = main(["run", "--out", str(out), "--quiet", "--no-figures"])
    base = VPPModel(baseline_of(load_scenario(default_scenario_path())))
    base.run()
    return {"code": code, "out": out, "ts": pd.read_parquet(out / "timeseries.parquet"),
            "kpis": pd.read_csv(out / "kpis.csv", index_col="kpi"),
            "summary": json.loads((out / "summary.json").read_text(encoding="utf-8")),
            "report": (out / "report.md").read_text(encoding="utf-8"),
            "base_ts": base.timeseries()}


def _realized(ts: pd.DataFrame) -> pd.DataFrame:
    rows = ts[ts.kind.isin(["wind", "pv", "load"])]
    return rows.set_index(["step", "agent"])[["p_available_kw", "load_kw"]].sort_index()


def test_baseline_has_the_same_realized_weather_and_load(default_day: dict[str, Any]) -> None:
    coord, base = _realized(default_day["ts"]), _realized(default_day["base_ts"])
    assert len(coord) == 24 * 9
    pd.testing.assert_frame_equal(coord, base, check_exact=True)


def test_baseline_batteries_idle_and_energy_balanced(default_day: dict[str, Any]) -> None:
    ts = default_day["base_ts"]
    assert not (ts.kind == "battery").any()
    vpp, vpo = ts[ts.kind == "vpp"], ts[ts.kind == "vpo"]
    assert (vpp["charge_kw"] == 0).all() and (vpp["discharge_kw"] == 0).all()
    assert (vpo["storage_kw"].fillna(0.0) == 0).all()
    assert vpp["energy_balance_residual_kw"].abs().max() <= 1e-6
    assert vpo["energy_balance_residual_kw"].abs().max() <= 1e-6
    # passthrough: the VPO sells at the tariff's import price and buys at its export price
    assert (vpo["c_sell_cny_per_kwh"] == vpo["pi_imp_cny_per_kwh"]).all()
    assert (vpo["c_buy_cny_per_kwh"] == vpo["pi_exp_cny_per_kwh"]).all()
    # renewables up to the VPP's own load plus its export limit (400 kW), nothing stored
    used = vpp["wind_kw"] + vpp["pv_kw"]
    cap = np.minimum(vpp["wind_available_kw"] + vpp["pv_available_kw"],
                     vpp["load_kw"] + vpp["spill_kw"] + 400.0)
    assert (used <= cap + 1e-6).all()


# ---------------------------------------------------------------- the KPI table of a run


def test_kpi_table_of_the_default_day(default_day: dict[str, Any]) -> None:
    k, s, ts, base_ts = (default_day[x] for x in ("kpis", "summary", "ts", "base_ts"))
    assert default_day["code"] == 0
    assert list(k.index) == list(KPI_LABELS) and list(k.columns) == ["baseline", "coordinated",
                                                                     "change"]
    assert np.isfinite(k.to_numpy()).all()
    assert np.allclose(k["change"], k["coordinated"] - k["baseline"], rtol=0, atol=1e-9)
    # losses: the runs' own loss columns (kW over 1 h steps)
    for col, frame in (("coordinated", ts), ("baseline", base_ts)):
        losses = frame.loc[frame.kind == "network", "losses_kw"].sum()
        assert k.at["network_losses_kwh", col] == pytest.approx(losses, rel=1e-12)
    # the coordinated column agrees with the summary's own figures
    c = k["coordinated"]
    assert c["renewable_utilization_pct"] == pytest.approx(100 * s["renewable_utilization"],
                                                           rel=1e-12)
    assert c["curtailment_kwh"] == pytest.approx(s["curtailment_kwh"], rel=1e-9)
    assert c["peak_feeder_load_kw"] == pytest.approx(s["peak_feeder_load_kw"], rel=1e-12)
    assert c["peak_grid_import_kw"] == pytest.approx(s["peak_grid_import_kw"], rel=1e-12)
    # steps 17-20 of the default day are below 0.9 pu (docs/design.md): 4 h
    assert c["hours_outside_voltage_band_h"] == len(s["voltage_band_violation_steps"]) == 4
    slack = ts.loc[ts.kind == "network", "p_slack_kw"].to_numpy()
    assert c["feeder_load_factor"] == pytest.approx(slack.mean() / slack.max(), rel=1e-12)
    b_peak = base_ts.loc[base_ts.kind == "network", "p_slack_kw"].max()
    assert k.at["peak_feeder_load_kw", "baseline"] == pytest.approx(b_peak, rel=1e-12)
    assert c["peak_feeder_load_reduction_pct"] == pytest.approx(
        100 * (1 - c["peak_feeder_load_kw"] / b_peak), rel=1e-12)
    for key in ("wind_utilization_pct", "solar_utilization_pct", "renewable_utilization_pct"):
        assert 0 < k.at[key, "baseline"] <= 100 and 0 < c[key] <= 100


def test_run_reports_the_table_and_summary(default_day: dict[str, Any]) -> None:
    k, s, report = default_day["kpis"], default_day["summary"], default_day["report"]
    assert s["kpis"]["baseline"].startswith("the same scenario")
    assert s["wall_time_s"]["baseline"] > 0
    for key, row in s["kpis"]["rows"].items():
        assert row["baseline"] == pytest.approx(k.at[key, "baseline"], rel=1e-12)
        assert row["coordinated"] == pytest.approx(k.at[key, "coordinated"], rel=1e-12)
    assert "## Baseline vs coordinated" in report
    losses = k.loc["network_losses_kwh"]
    assert (f"| {KPI_LABELS['network_losses_kwh']} | {losses['baseline']:,.2f} | "
            f"{losses['coordinated']:,.2f} | {losses['change']:,.2f} |") in report


def test_run_without_baseline(passthrough_day_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(passthrough_day_path), "--out", str(out), "--quiet", "--no-figures",
                 "--no-baseline"]) == 0
    k = pd.read_csv(out / "kpis.csv", index_col="kpi")
    assert k["baseline"].isna().all() and k["change"].isna().all()
    # every KPI but the reduction against the (missing) baseline
    assert np.isfinite(k["coordinated"].drop("peak_feeder_load_reduction_pct")).all()
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["kpis"]["baseline"] is None and "baseline" not in s["wall_time_s"]
    assert "Baseline skipped (`--no-baseline`)" in (out / "report.md").read_text(encoding="utf-8")


def test_a_scenario_with_nothing_to_take_away_is_its_own_baseline(passthrough_day_path: Path,
                                                                     tmp_path: Path) -> None:
    # the default day without batteries, tariff passed through: baseline_of changes nothing
    raw = yaml.safe_load(passthrough_day_path.read_text(encoding="utf-8"))
    for vpp in raw["vpps"]:
        vpp["members"] = [m for m in vpp["members"] if m["kind"] != "battery"]
    path = passthrough_day_path.with_name("no_batteries.yaml")
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    assert baseline_of(load_scenario(path)).scenario == load_scenario(path).scenario
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-figures"]) == 0
    k = pd.read_csv(out / "kpis.csv", index_col="kpi")
    assert (k["change"] == 0).all()
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))[
        "wall_time_s"]["baseline"] == 0.0
