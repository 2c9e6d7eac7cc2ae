"""Key performance indicators of a run against its baseline without coordination (issue 14).

The baseline (:func:`baseline_of`) is the same scenario as a feeder *without a VPP*: the VPO
passes the tariff through (no game), every battery of the VPPs and the VPO's storage is idle
(removed), and the rest is unchanged; it runs through the same model with the same seed, so
the realized weather and load (the forecast errors) are the same. :func:`kpi_table` compares
the two runs with the functions of :mod:`vppsim.metrics`; definitions in docs/design.md, "Key
performance indicators".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from vppsim import metrics
from vppsim.results.format import number
from vppsim.scenario.loader import LoadedScenario
from vppsim.scenario.schema import ScenarioError, validation_problems

#: what the baseline is, in words (summary.json and report.md say it)
BASELINE_DEFINITION = (
    "the same scenario, seed and realized forecast errors without VPP coordination: the VPO "
    "passes the tariff through (no game), every VPP battery and the VPO's storage stay idle, "
    "each VPP uses its renewables up to its own load plus its export limit (its least-cost "
    "schedule without storage) and the VPPs' other members are as in the scenario")

#: KPI key (units in the name) -> label in report.md; the order of kpis.csv
KPI_LABELS: dict[str, str] = {
    "peak_feeder_load_kw": "peak feeder load: substation import (kW)",
    "peak_feeder_load_reduction_pct": "peak feeder load reduction against the baseline (%)",
    "feeder_load_factor": "feeder load factor (mean / peak of the substation import)",
    "peak_grid_import_kw": "peak grid import of the VPO (kW)",
    "grid_import_load_factor": "load factor of the VPO's grid import",
    "grid_import_kwh": "grid import of the VPO (kWh)",
    "grid_export_kwh": "grid export of the VPO (kWh)",
    "wind_utilization_pct": "wind utilization: used / available (%)",
    "solar_utilization_pct": "solar utilization: used / available (%)",
    "renewable_utilization_pct": "wind and solar utilization: used / available (%)",
    "curtailment_kwh": "curtailment, wind and solar (kWh)",
    "network_losses_kwh": "network losses (kWh)",
    "network_losses_pct": "network losses, share of the energy fed into the feeder (%)",
    "hours_outside_voltage_band_h": "hours outside the voltage band (h)",
    "power_flow_steps_converged": "power flows converged (steps)",
    "unmet_energy_kwh": "unmet energy (kWh)",
    "total_vpp_cost_cny": "total VPP cost, realized (CNY)",
}


def baseline_of(loaded: LoadedScenario) -> LoadedScenario:
    """The scenario without coordination (:data:`BASELINE_DEFINITION`), validated again.

    Batteries are removed from the VPPs (a VPP left without members, one of batteries only, is
    removed as a whole: idle, it injects nothing), the VPO's battery is dropped and the price
    policy becomes ``passthrough``. Batteries carry no forecast error, so the model draws the
    same errors for the remaining members from the same seed. Prosumer fleets schedule
    themselves in both runs and stay as they are.
    """
    data = loaded.scenario.model_dump()
    vpps = []
    for vpp in data["vpps"]:
        members = [m for m in vpp["members"] if m.get("kind") != "battery"]
        if members:
            vpps.append({**vpp, "members": members})
    data["vpps"] = vpps
    data["vpo"] = {**data["vpo"], "battery": None, "battery_bus": None}
    data["market"] = {**data["market"], "price_policy": "passthrough"}
    try:
        scenario = type(loaded.scenario).model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, loaded.member_kinds.specs)
        raise ScenarioError(loaded.path, [(f"baseline: {f}", m) for f, m in problems]) from None
    return LoadedScenario(scenario=scenario, path=loaded.path, profiles=loaded.profiles,
                          member_kinds=loaded.member_kinds, simbench=loaded.simbench,
                          taken_elements=loaded.taken_elements)


def run_kpis(ts: pd.DataFrame, bus_injections: pd.DataFrame, step_h: float,
             band_pu: tuple[float, float]) -> dict[str, float]:
    """The KPIs of one run from its time series and bus injections (NaN where undefined).

    Feeder figures use the converged power flows only: the substation import ``p_slack_kw``
    (the feeder's external-grid power, background loads included) and ``losses_kw``.
    """
    vpp = ts[ts.kind == "vpp"]
    vpo = ts[ts.kind == "vpo"]
    net = ts[ts.kind == "network"].sort_values("step")
    ok = net["converged"].astype(bool).to_numpy()
    slack = net["p_slack_kw"].to_numpy(dtype=float)[ok]
    losses_kwh = float(net["losses_kw"].sum(min_count=1)) * step_h
    fed_in = np.clip(slack, 0.0, None).sum() * step_h
    inj = bus_injections[bus_injections["step"].isin(net.loc[ok, "step"])]
    fed_in += float(np.clip(inj["p_injection_kw"].to_numpy(dtype=float), 0.0, None).sum()) * step_h
    e = {c: vpp[c].to_numpy(dtype=float) * step_h
         for c in ("wind_kw", "wind_available_kw", "pv_kw", "pv_available_kw")}
    used, available = e["wind_kw"] + e["pv_kw"], e["wind_available_kw"] + e["pv_available_kw"]
    import_kw = vpo["grid_import_kw"].to_numpy(dtype=float)
    nan = float("nan")
    return {
        "peak_feeder_load_kw": metrics.peak_kw(slack) if ok.any() else nan,
        "feeder_load_factor": metrics.load_factor(slack),
        "peak_grid_import_kw": metrics.peak_kw(import_kw),
        "grid_import_load_factor": metrics.load_factor(import_kw),
        "grid_import_kwh": float(import_kw.sum()) * step_h,
        "grid_export_kwh": float(vpo["grid_export_kw"].sum()) * step_h,
        "wind_utilization_pct": 100.0 * metrics.renewable_utilization(
            e["wind_kw"], e["wind_available_kw"]),
        "solar_utilization_pct": 100.0 * metrics.renewable_utilization(
            e["pv_kw"], e["pv_available_kw"]),
        "renewable_utilization_pct": 100.0 * metrics.renewable_utilization(used, available),
        "curtailment_kwh": float(available.sum() - used.sum()),
        "network_losses_kwh": losses_kwh,
        "network_losses_pct": 100.0 * losses_kwh / fed_in if fed_in > 0 else nan,
        "hours_outside_voltage_band_h": metrics.hours_outside_band(
            net["vm_min_pu"], net["vm_max_pu"], band_pu[0], band_pu[1], step_h),
        "power_flow_steps_converged": float(ok.sum()),
        "unmet_energy_kwh": float(vpp["unmet_kw"].sum()) * step_h,
        "total_vpp_cost_cny": float(vpp["cost_cny"].sum()),
    }


def model_kpis(model: Any) -> dict[str, float]:
    """The KPIs of a finished :class:`vppsim.model.VPPModel` (:func:`run_kpis`)."""
    band = model.scenario.feeder.voltage_band
    return run_kpis(model.timeseries(), model.bus_injections(), model.step_h,
                    (band.min_pu, band.max_pu))


def kpi_table(coordinated: dict[str, float], baseline: dict[str, float] | None) -> pd.DataFrame:
    """Rows = KPIs (:data:`KPI_LABELS` order), columns ``baseline``, ``coordinated``, ``change``.

    ``change`` is coordinated minus baseline in the KPI's own unit; the peak reduction row is
    ``1 - peak / baseline peak`` in %, 0 for the baseline itself. Without a baseline the
    ``baseline`` and ``change`` columns are NaN.
    """
    base = dict(baseline) if baseline is not None else {k: float("nan") for k in coordinated}
    coord = dict(coordinated)
    b_peak, c_peak = base["peak_feeder_load_kw"], coord["peak_feeder_load_kw"]
    coord["peak_feeder_load_reduction_pct"] = (
        100.0 * (1.0 - c_peak / b_peak) if np.isfinite(b_peak) and b_peak > 0 else float("nan"))
    base["peak_feeder_load_reduction_pct"] = 0.0 if np.isfinite(b_peak) else float("nan")
    rows = [{"kpi": k, "baseline": base[k], "coordinated": coord[k],
             "change": coord[k] - base[k]} for k in KPI_LABELS]
    return pd.DataFrame(rows).set_index("kpi")


def kpi_summary(table: pd.DataFrame, with_baseline: bool) -> dict[str, Any]:
    """The ``kpis`` block of summary.json: the baseline's definition (None if skipped), the rows.

    The baseline's wall time is under ``wall_time_s`` (``baseline``), with the other timings.
    """
    return {
        "baseline": BASELINE_DEFINITION if with_baseline else None,
        "rows": {k: {c: float(table.at[k, c]) for c in table.columns} for k in table.index},
    }


def kpi_report_lines(kpis: dict[str, Any]) -> list[str]:
    """The report's "Baseline vs coordinated" section from the ``kpis`` block of the summary."""
    if kpis["baseline"] is None:
        intro = ("Baseline skipped (`--no-baseline`): the coordinated run's KPIs only.")
    else:
        intro = (f"Baseline: {kpis['baseline']}. Change = coordinated - baseline. Definitions "
                 "in docs/design.md, \"Key performance indicators\"; the table is `kpis.csv`.")
    lines = ["## Baseline vs coordinated", "", intro, "",
             "| KPI | baseline | coordinated | change |", "|---|---:|---:|---:|"]
    for key, label in KPI_LABELS.items():
        row = kpis["rows"][key]
        digits = 4 if key.endswith("load_factor") else 0 if key.endswith("converged") else 2
        lines.append(f"| {label} | {number(row['baseline'], digits)} | "
                     f"{number(row['coordinated'], digits)} | {number(row['change'], digits)} |")
    return lines
