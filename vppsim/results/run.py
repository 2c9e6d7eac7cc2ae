"""The result folder of one run: ``summary.json``, tables (Parquet), ``report.md``, ``figures/*.png``."""

from __future__ import annotations

import functools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim import __version__
from vppsim.metrics import renewable_utilization
from vppsim.results.figures import FigureDrawing, draw_run_figures
from vppsim.results.folders import HORIZON_DIR, ResultFolder, output_path, result_folder
from vppsim.results.format import json_ready, number
from vppsim.results.game import certificate_lines, tie_block
from vppsim.results.kpis import kpi_report_lines, kpi_summary, kpi_table, model_kpis
from vppsim.scenario.schema import VoltageBandSpec


def summarize(model: Any, wall_s: dict[str, float]) -> dict[str, Any]:
    """Build the ``summary.json`` contract (docs/design.md "Results") from a finished model.

    ``warnings`` (see :func:`run_warnings`) says in words what a reader must not miss: power
    flows that did not converge (the network figures then cover the converged steps only) and
    bus voltages outside the scenario's ``feeder.voltage_band``.
    """
    ts = model.timeseries()
    dt = model.step_h
    vpp = ts[ts.kind == "vpp"]
    vpo = ts[ts.kind == "vpo"]
    net = ts[ts.kind == "network"]
    alloc = allocation_kpis(vpp)
    per_vpp = vpp.groupby("agent", sort=False)["cost_cny"].sum()
    vpp_cost = {k: float(v) for k, v in per_vpp.items()}
    total_vpp = float(per_vpp.sum())
    vpo_profit = float(vpo["profit_cny"].sum())
    available = float((vpp["wind_available_kw"] + vpp["pv_available_kw"]).sum()) * dt
    used = float((vpp["wind_kw"] + vpp["pv_kw"]).sum()) * dt
    converged = net["converged"].astype(bool)
    cost_cols = [c for c in vpp.columns
                 if c.startswith("cost_") and c.endswith("_cny") and c != "cost_cny"]
    breakdown = {
        name: {c.removeprefix("cost_").removesuffix("_cny"): float(g[c].sum()) for c in cost_cols}
        for name, g in vpp.groupby("agent", sort=False)
    }
    schedules = {v.name: v.schedule for v in model.vpps}
    summary = json_ready(
        {
            "scenario": model.scenario.name,
            "scenario_file": str(model.loaded.path),
            "seed": model.seed_used,
            "vppsim_version": __version__,
            "days": model.scenario.days,
            "horizon_h": model.n_steps * dt,
            "step_h": dt,
            "price_policy": model.scenario.market.price_policy,
            "vpp_cost_cny": vpp_cost,
            "vpp_cost_breakdown_cny": breakdown,
            "total_vpp_cost_cny": total_vpp,
            "vpo_profit_cny": vpo_profit,
            "system_cost_cny": total_vpp - vpo_profit,
            "day_ahead_vpp_cost_cny": {
                v.name: float(np.sum(v.planned_cost_by_day_cny)) for v in model.vpps
            },
            "grid_import_kwh": float(vpo["grid_import_kw"].sum()) * dt,
            "grid_export_kwh": float(vpo["grid_export_kw"].sum()) * dt,
            "network_losses_kwh": float(net["losses_kw"].sum(min_count=1)) * dt,
            "renewable_available_kwh": available,
            "renewable_used_kwh": used,
            "renewable_utilization": (renewable_utilization(used, available) if available > 0
                                      else None),
            "curtailment_kwh": available - used,
            "imbalance_kwh": float(vpp["imbalance_kw"].abs().sum()) * dt,
            "unmet_energy_kwh": float(vpp["unmet_kw"].sum()) * dt,
            "spilled_energy_kwh": float(vpp["spill_kw"].sum()) * dt,
            "peak_grid_import_kw": float(vpo["grid_import_kw"].max()),
            "peak_feeder_load_kw": float(net["p_slack_kw"].max()),
            "min_voltage_pu": float(net["vm_min_pu"].min()),
            "max_voltage_pu": float(net["vm_max_pu"].max()),
            "max_line_loading_pct": float(net["max_line_loading_pct"].max()),
            "power_flow_nonconverged_steps": [int(s) for s in net.loc[~converged, "step"]],
            **power_flow_kpis(net, model.scenario.feeder.voltage_band,
                              model.datacollector.bus_voltages(model.steps_per_day, dt)),
            "max_energy_balance_residual_kw": float(vpp["energy_balance_residual_kw"].abs().max()),
            **{k: v for k, v in alloc.items() if k != "allocation_solve_ms_mean"},
            "messaging": dict(model.message_counts),
            "equilibrium_certificate": _certificate_summary(model),
            "solver": {
                "price_policy": model.scenario.market.price_policy,
                "lower_level": "HiGHS LP (MILP re-solve if charge/discharge or buy/sell overlap)",
                "lower_level_milp_used": {
                    k: bool(s.used_milp) for k, s in schedules.items() if s is not None
                },
                "realtime_allocator": model.scenario.balancing.allocator,
                "power_flow": model.scenario.feeder.power_flow_backend,
                "game": _game_solver_summary(model),
                "iterations": _iterations(model),
            },
            "wall_time_s": {**{k: float(v) for k, v in model.phase_s.items()}, **wall_s,
                            "allocation_mean_per_problem": alloc["allocation_solve_ms_mean"] / 1e3,
                            **({"game": float(sum(g.wall_s["total"] for g in model.vpo.game_results))}
                               if model.vpo.game_results else {})},
            "assumptions": list(model.scenario.assumptions),
            **({"prosumers": prosumer_summary(model)} if model.prosumer_fleets
               else {}),
        }
    )
    summary["warnings"] = run_warnings(summary)
    return summary


def power_flow_kpis(net: pd.DataFrame, band: VoltageBandSpec,
                    bus_vm: pd.DataFrame) -> dict[str, Any]:
    """How many power flows converged, and where bus voltages left the band (converged steps).

    ``net`` holds the network rows of the time series (one per step), ``band`` the scenario's
    :class:`vppsim.scenario.schema.VoltageBandSpec`, ``bus_vm`` the voltage per bus and step
    (:meth:`vppsim.collector.StepCollector.bus_voltages`). The ``min_voltage_*`` and
    ``max_voltage_*`` locations are None when no power flow converged.
    """
    n_steps = len(net)
    n_ok = int(net["converged"].astype(bool).sum())
    lo, hi = float(band.min_pu), float(band.max_pu)
    outside = (net["vm_min_pu"] < lo) | (net["vm_max_pu"] > hi)  # NaN compares False
    out: dict[str, Any] = {
        "n_steps": n_steps,
        "power_flow_steps_converged": n_ok,
        "power_flow_status": ("converged" if n_ok == n_steps
                              else "partly_converged" if n_ok else "not_converged"),
        "voltage_band_pu": [lo, hi],
        "voltage_band_violation_steps": [int(t) for t in net.loc[outside, "step"]],
        "buses_outside_voltage_band": sorted(
            {int(b) for b in bus_vm.loc[(bus_vm["vm_pu"] < lo) | (bus_vm["vm_pu"] > hi), "bus"]}),
    }
    solved = bus_vm[bus_vm["vm_pu"].notna()]
    for side, func in (("min", "idxmin"), ("max", "idxmax")):
        at = solved.loc[getattr(solved["vm_pu"], func)()] if len(solved) else None
        out[f"{side}_voltage_bus"] = int(at["bus"]) if at is not None else None
        out[f"{side}_voltage_step"] = int(at["step"]) if at is not None else None
    return out


def _when(step: int, step_h: float) -> str:
    """``step 19 (day 0, 19:00)``: a step and its clock time."""
    hours = step * step_h
    day, minutes = divmod(round(hours * 60), 24 * 60)
    return f"step {step} (day {day}, {minutes // 60:02d}:{minutes % 60:02d})"


def _steps_text(items: list[int], limit: int = 8) -> str:
    """``17, 18, 19``: the first ``limit`` of ``items`` and how many more."""
    shown = ", ".join(str(t) for t in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def run_warnings(s: dict[str, Any]) -> list[str]:
    """What a reader of a run's summary must not miss, in words (empty when all is well).

    Power flows that did not converge (how many, which steps, and that losses, voltages, line
    loading and feeder load then cover the converged steps only) and bus voltages outside the
    voltage band (how many steps, the worst value and where).
    """
    out = []
    n, n_ok = s["n_steps"], s["power_flow_steps_converged"]
    failed = s["power_flow_nonconverged_steps"]
    if n_ok == 0:
        out.append(f"the power flow converged in none of the {n} steps: no network losses, bus "
                   "voltages, line loading or feeder load are available for this run")
    elif n_ok < n:
        out.append(f"the power flow did not converge in {n - n_ok} of {n} steps "
                   f"(steps {_steps_text(failed)}): network losses, bus voltages, line loading "
                   f"and peak feeder load cover the {n_ok} converged steps only")
    lo, hi = s["voltage_band_pu"]
    bad = s["voltage_band_violation_steps"]
    if bad:
        extremes = []
        for side, word, off in (("min", "lowest", s["min_voltage_pu"] < lo),
                                ("max", "highest", s["max_voltage_pu"] > hi)):
            if off:
                bus, step = s[f"{side}_voltage_bus"], s[f"{side}_voltage_step"]
                extremes.append(f"{word} {s[f'{side}_voltage_pu']:.4f} pu at bus {bus}, "
                                f"{_when(step, s['step_h'])}")
        buses = s["buses_outside_voltage_band"]
        out.append(f"bus voltage outside the band {lo:g}-{hi:g} pu in {len(bad)} of {n_ok} "
                   f"converged steps, at {len(buses)} bus{'es' if len(buses) != 1 else ''} "
                   f"({_steps_text(buses)}): " + "; ".join(extremes))
    return out


def prosumer_summary(model: Any) -> dict[str, Any]:
    """Per prosumer-fleet VPP: size, optimizer, solve time, planned and realized bills."""
    out = {}
    for f in model.prosumer_fleets:
        fs = f.fleet_spec
        h = f.history
        n = model.t
        soc = h["soc_kwh"][:n, f.battery_index] / f.capacity_kwh[f.battery_index]
        out[f.name] = {
            "count": f.n,
            "batteries": len(f.battery_index),
            "optimizer": fs.optimizer,
            "rolling_horizon": fs.rolling_horizon,
            "workers": fs.workers,
            "solves": f.solves,
            "solve_s": dict(f.solve_s),
            "day_ahead_cost_cny": float(np.nansum(f.planned_cost_by_day_cny)),
            "realized_prosumer_cost_cny": float(h["cost_cny"][:n].sum()),
            "energy_kwh": {k.removesuffix("_kw"): float(h[k][:n].sum()) * model.step_h
                           for k in ("gen_kw", "load_kw", "acquire_kw", "paid_kw", "spill_kw",
                                     "charge_kw", "discharge_kw", "unmet_kw")},
            "soc_pu_range": [float(soc.min()), float(soc.max())] if soc.size else None,
        }
    return out


def allocation_kpis(vpp_rows: pd.DataFrame) -> dict[str, Any]:
    """Real-time allocation figures of a run (paper 001 publishes no definitions; ours).

    - ``allocation_deviation_rate``: the energy a VPP could not deliver from its own members
      as committed, over its demand: ``sum(|imbalance| + (unmet - planned unmet)+ +
      (spill - planned spill)+) / sum(load)`` over VPPs and steps (0 = every deviation
      absorbed inside the VPP);
    - ``allocation_stability_index``: ``1 - mean over VPP-steps of min(1, |D| / H)``, with
      ``D`` the power the plan no longer covered and ``H`` the members' headroom in that
      direction: 1 when the plan holds, lower the more of the VPPs' flexibility real-time
      balancing consumes;
    - ``allocation_gap_max``: the largest gap of the allocator to the exact LP (NaN when the
      exact reference was not computed or the allocator is merit-order);
    - ``allocation_solve_ms_mean``: mean allocator wall time per VPP and step (wall-clock;
      the summary keeps it under ``wall_time_s`` as ``allocation_mean_per_problem``, in s).
    """
    r = vpp_rows
    extra_unmet = (r["unmet_kw"] - r["planned_unmet_kw"]).clip(lower=0.0)
    extra_spill = (r["spill_kw"] - r["planned_spill_kw"]).clip(lower=0.0)
    load = float(r["load_kw"].sum())
    deviation = float((r["imbalance_kw"].abs() + extra_unmet + extra_spill).sum())
    req = r["allocation_required_kw"].abs().to_numpy(dtype=float)
    head = r["allocation_headroom_kw"].to_numpy(dtype=float)
    used = np.where(req > 0, np.minimum(1.0, req / np.where(head > 0, head, 1.0)), 0.0)
    used = np.where((req > 0) & ~(head > 0), 1.0, used)  # needed power, no headroom at all
    gap = r["allocation_gap_cny_per_kwh"].to_numpy(dtype=float)
    return {
        "allocation_deviation_rate": deviation / load if load > 0 else None,
        "allocation_stability_index": (float(1.0 - np.nanmean(used))
                                       if np.isfinite(head).any() else None),
        "allocation_gap_max": float(np.max(gap)) if np.isfinite(gap).all() and len(gap) else None,
        "allocation_solve_ms_mean": float(r["allocation_solve_ms"].mean()),
    }


def _certificate_summary(model: Any) -> dict[str, Any]:
    games = model.vpo.game_results
    if not games:
        reason = (f"price policy {model.scenario.market.price_policy!r} sets no game; "
                  "every VPP schedule is its exact best response (HiGHS) to the prices")
        if model.scenario.market.price_policy == "loss_aware":
            reason = ("price policy 'loss_aware' sets no game; every VPP schedule is its part of "
                      "the VPO's loss-aware dispatch (SLP), the tariff passed through")
        fleets = model.prosumer_fleets
        if fleets:
            reason += (" (prosumer-fleet VPPs: the sum of their prosumers' responses by their own "
                       f"optimizer, {sorted({f.fleet_spec.optimizer for f in fleets})})")
        return {"status": "not_computed", "reason": reason}
    days = []
    for day, g in enumerate(games):
        ref = g.reference
        days.append({"day": day, "objective": g.objective, "solver": g.solver,
                     **g.certificate.to_dict(),
                     "reference_status": ref.status if ref is not None else None,
                     "reference_proven_optimal": (ref.proven_optimal if ref is not None
                                                  else None)})
    return {
        "status": "computed",
        "epsilon_cny": max(d["epsilon_cny"] for d in days),
        "epsilon_rel": max(d["epsilon_rel"] for d in days),
        "days": days,
    }


def _game_solver_summary(model: Any) -> dict[str, Any] | None:
    games = model.vpo.game_results
    if not games:
        return None
    spec = model.scenario.market.game
    return {"solver": spec.solver, "objective": spec.objective, "budget": spec.budget,
            "lower_level_solves": int(sum(g.lower_level_solves for g in games)),
            "days": [{"day": day, "selection_rule": g.selection, "stop": g.stop,
                      "evaluations": (g.convergence.evaluations if g.convergence is not None
                                      else None),
                      "vpo_profit_cny": g.outcome.vpo_profit_cny,
                      "system_cost_cny": g.outcome.system_cost_cny, **tie_block(g.ties)}
                     for day, g in enumerate(games)]}


def _iterations(model: Any) -> int | None:
    its = [g.convergence.iterations for g in model.vpo.game_results if g.convergence is not None]
    return int(sum(its)) if its else None


#: a run's figures, inside its result folder
FIGURES_DIR = "figures"


def write_results(
    model: Any,
    out: Path | ResultFolder,
    wall_s: dict[str, float],
    figures: bool = True,
    baseline_kpis: dict[str, float] | None = None,
    drawing: FigureDrawing | None = None,
) -> Path:
    """Write the result folder for a finished model and return its final path.

    ``baseline_kpis``: :func:`vppsim.results.kpis.model_kpis` of the finished run of
    :func:`vppsim.results.kpis.baseline_of` (same seed), for the "Baseline vs coordinated"
    KPIs (``kpis.csv``, ``summary.json`` ``kpis``, report.md); without it those hold the
    coordinated run's KPIs only. ``drawing``: the
    figures already being drawn into ``<out>/figures`` (:func:`draw_figures`); else they are
    drawn here (if ``figures``).
    """
    with result_folder(out) as work:
        start = time.perf_counter()
        ts = model.timeseries()
        ts.to_parquet(work / "timeseries.parquet", index=False)
        model.bus_injections().to_parquet(work / "bus_injections.parquet", index=False)
        model.datacollector.bus_voltages(model.steps_per_day, model.step_h).to_parquet(
            work / "bus_voltages.parquet", index=False)
        model.model_table().to_parquet(work / "model.parquet", index=False)
        prosumers = model.prosumer_frame() if model.prosumer_fleets else None
        if prosumers is not None:
            prosumers.to_parquet(work / "prosumers.parquet", index=False)
        summary = summarize(model, wall_s)
        table = kpi_table(model_kpis(model), baseline_kpis)
        table.to_csv(work / "kpis.csv")
        summary["kpis"] = json_ready(kpi_summary(table, with_baseline=baseline_kpis is not None))
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        figure_files: list[str] = []
        if drawing is not None:
            figure_files = drawing.files()
        elif figures:
            figure_files = draw_run_figures(ts, work / FIGURES_DIR, model.step_h, prosumers)
        (work / "report.md").write_text(render_report(summary, figure_files), encoding="utf-8")
        summary["wall_time_s"]["writing"] = time.perf_counter() - start
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(work / HORIZON_DIR, ignore_errors=True)  # a long run's stream: written
    return output_path(out)


def draw_figures(model: Any, drawing: FigureDrawing, folder: ResultFolder) -> None:
    """Hand a finished model's time series to ``drawing`` (:class:`FigureDrawing`).

    The figures go to ``folder``'s ``figures``; pass ``drawing`` to :func:`write_results` for
    the same folder afterwards, it collects the files.
    """
    prosumers = model.prosumer_frame() if model.prosumer_fleets else None
    drawing.draw(folder.work / FIGURES_DIR, model.timeseries(), model.step_h, prosumers)


def save_partial(model: Any, folder: ResultFolder, exc: BaseException) -> Path:
    """Keep what a failed run computed (the time series so far) and the error in the staging folder."""
    work = folder.work
    try:
        if model.rows:
            model.timeseries().to_parquet(work / "timeseries.parquet", index=False)
        if model.prosumer_fleets and model.t > 0:
            model.prosumer_frame().to_parquet(work / "prosumers.parquet", index=False)
    finally:
        folder.fail(exc)
    return work


def certificate_section(cert: dict[str, Any]) -> list[str]:
    """The report's equilibrium-certificate section: each day's regrets and epsilon, or why none."""
    if cert.get("status") != "computed":
        return [f"Not computed: {cert.get('reason', 'no reason given')}."]
    sci = functools.partial(number, spec=".3e")
    lines = [f"epsilon = {sci(cert['epsilon_cny'])} CNY ({sci(cert['epsilon_rel'])} relative): "
             f"the largest regret over the {len(cert['days'])} day(s) of the game (a VPP's cost "
             "minus its best response's at the same prices; the VPO's gap to the exact "
             "reference)."]
    for d in cert["days"]:
        status = d.get("reference_status")
        proven = (", proven optimal" if d.get("reference_proven_optimal")
                  else ", not proven optimal" if status is not None else "")
        lines += ["", f"### Day {d['day']}: `{d['solver']}` on `{d['objective']}`"
                  + (f" (reference: {status}{proven})" if status is not None else ""), "",
                  *certificate_lines(d)]
    return lines


def console_summary(summary: dict[str, Any]) -> str:
    """The lines ``vppsim run`` prints about a finished run (from its ``summary.json``)."""
    s = summary

    def costs(by_vpp: dict[str, float | None]) -> str:
        values = list(by_vpp.values())
        total = sum(values) if None not in values else None
        return (", ".join(f"{k} {number(v)}" for k, v in by_vpp.items())
                + f"; total {number(total)}")

    n, n_ok = s["n_steps"], s["power_flow_steps_converged"]
    network = (f"losses {number(s['network_losses_kwh'])} kWh; voltage "
               f"{number(s['min_voltage_pu'], 4)}-{number(s['max_voltage_pu'], 4)} pu")
    network = (f": {network}" if n_ok == n else f"; over those {n_ok} steps: {network}" if n_ok
               else ": no losses or voltages")
    lines = [
        f"{s['scenario']}: seed {s['seed']}, {s['horizon_h']:g} h, price policy "
        f"{s['price_policy']}",
        f"  planned day-ahead cost (CNY): {costs(s['day_ahead_vpp_cost_cny'])}",
        f"  realized cost incl. imbalance settlement (CNY): {costs(s['vpp_cost_cny'])}",
        f"  VPO profit {number(s['vpo_profit_cny'])} CNY; system cost (realized) "
        f"{number(s['system_cost_cny'])} CNY; unmet {number(s['unmet_energy_kwh'])} kWh",
        f"  power flow converged in {n_ok} of {n} steps{network}",
    ]
    rows = s.get("kpis", {}).get("rows")
    if rows and s["kpis"]["baseline"] is not None:
        def pair(key: str, digits: int = 2) -> str:
            return (f"{number(rows[key]['baseline'], digits)} -> "
                    f"{number(rows[key]['coordinated'], digits)}")
        lines.append(f"  against the baseline without coordination: peak feeder load "
                     f"{pair('peak_feeder_load_kw')} kW, losses {pair('network_losses_kwh')} "
                     f"kWh, wind+solar utilization {pair('renewable_utilization_pct')} % "
                     "(kpis.csv)")
    lines += [f"  WARNING: {w}" for w in s.get("warnings", [])]
    return "\n".join(lines)


def _energy_network_table(s: dict[str, Any]) -> list[str]:
    """The report's energy-and-network table; network figures say which steps they cover."""
    lo, hi = s["voltage_band_pu"]
    n_ok = s["power_flow_steps_converged"]
    cover = f" (over {n_ok} of {s['n_steps']} steps)" if n_ok < s["n_steps"] else ""
    return [
        "| quantity | value |",
        "|---|---:|",
        f"| grid import (kWh) | {number(s['grid_import_kwh'])} |",
        f"| grid export (kWh) | {number(s['grid_export_kwh'])} |",
        f"| network losses (kWh) | {number(s['network_losses_kwh'])}{cover} |",
        f"| renewable utilization | {number(s['renewable_utilization'], 4)} |",
        f"| curtailment (kWh) | {number(s['curtailment_kwh'])} |",
        f"| imbalance, absolute (kWh) | {number(s['imbalance_kwh'])} |",
        f"| unmet energy (kWh) | {number(s['unmet_energy_kwh'])} |",
        f"| peak grid import (kW) | {number(s['peak_grid_import_kw'])} |",
        f"| min / max bus voltage (pu) | {number(s['min_voltage_pu'], 4)} / "
        f"{number(s['max_voltage_pu'], 4)}{cover} |",
        f"| steps outside the voltage band {lo:g}-{hi:g} pu | "
        f"{len(s['voltage_band_violation_steps'])} of {n_ok} converged |",
        f"| max line loading (%) | {number(s['max_line_loading_pct'])}"
        f"{' (the feeder has no line ratings)' if s['max_line_loading_pct'] is None else cover} |",
        f"| power flows not converged | {len(s['power_flow_nonconverged_steps'])} of "
        f"{s['n_steps']} steps |",
        f"| largest energy-balance residual (kW) | {s['max_energy_balance_residual_kw']:.2e} |",
    ]


def render_report(summary: dict[str, Any], figure_files: list[str]) -> str:
    """A Markdown report of one run."""
    s = summary
    lo, hi = s["voltage_band_pu"]
    lines = [
        f"# {s['scenario']}: co-simulation report",
        "",
        f"vppsim {s['vppsim_version']}, seed {s['seed']}, {s['days']} day(s) of "
        f"{s['step_h']} h steps, price policy `{s['price_policy']}`.",
        "",
        *(["## Warnings", "", *[f"- **{w[0].upper()}{w[1:]}.**" for w in s["warnings"]], ""]
          if s.get("warnings") else []),
        "## Costs (CNY)",
        "",
        "| VPP | realized cost incl. imbalance settlement | planned day-ahead cost (n/a: a day "
        "on a fallback schedule) |",
        "|---|---:|---:|",
    ]
    for name, cost in s["vpp_cost_cny"].items():
        lines.append(f"| {name} | {number(cost)} | {number(s['day_ahead_vpp_cost_cny'].get(name))} |")
    lines += [
        f"| **total** | **{number(s['total_vpp_cost_cny'])}** | |",
        "",
        f"VPO profit: {number(s['vpo_profit_cny'])} CNY. System cost (VPP costs minus VPO "
        f"profit): {number(s['system_cost_cny'])} CNY.",
        "",
        "## Energy and network",
        "",
        *_energy_network_table(s),
        "",
        *(kpi_report_lines(s["kpis"]) + [""] if "kpis" in s else []),
        "## Real-time allocation",
        "",
        f"Allocator `{s['solver']['realtime_allocator']}`. Deviation rate "
        f"{number(s['allocation_deviation_rate'], 4)} (energy not delivered by the VPPs' own "
        f"members as committed, over demand); stability index "
        f"{number(s['allocation_stability_index'], 4)} (1 - mean share of the members' headroom "
        "used by re-allocation); largest gap to the exact LP "
        + ("n/a (not computed or not applicable)" if s["allocation_gap_max"] is None
           else f"{s['allocation_gap_max']:.2e} CNY/kWh of fitness spread") + ". Per step "
        "and VPP: the `allocation_*` columns of `timeseries.parquet`.",
        "",
        "## Messaging",
        "",
        f"Messages sent {s['messaging']['sent']}, lost {s['messaging']['lost']}, late "
        f"{s['messaging']['late']}; VPP schedules replaced by a fallback: "
        f"{s['messaging']['fallbacks']}.",
        "",
        "## Equilibrium certificate",
        "",
        *certificate_section(s["equilibrium_certificate"]),
        "",
        "## Definitions",
        "",
        "- Realized VPP cost: paper 004 eq. 4-6 on the realized schedule (curtailment, battery "
        "and renewable operation, environmental cost, trade) plus imbalance settlement: a short "
        "position pays `c_sell*(1+penalty)`, a long one is paid `c_buy*(1-penalty)`.",
        "- Renewable utilization: wind and PV energy used over energy available after forecast "
        "error.",
        "- Losses: pandapower's `res_line.pl_mw` plus transformer losses, summed over steps.",
        "- Network figures (losses, voltages, line loading, feeder load) cover the steps whose "
        "power flow converged; a step that did not converge is counted, not guessed.",
        f"- Voltage band: `feeder.voltage_band` of the scenario, {lo:g}-{hi:g} pu; the voltage "
        "of every bus in every step is in `bus_voltages.parquet`.",
        "",
    ]
    if figure_files:
        lines += ["## Figures", ""]
        lines += [f"![{Path(f).stem}](figures/{Path(f).name})" for f in figure_files]
        lines.append("")
    if s.get("prosumers"):
        lines += ["## Prosumers", "",
                  "Per-prosumer steps are in `prosumers.parquet`.", "",
                  "| VPP | prosumers | batteries | optimizer | rolling | day-ahead bills (CNY) "
                  "| realized bills (CNY) | solve (s) |",
                  "|---|---:|---:|---|---|---:|---:|---:|"]
        for name, p in s["prosumers"].items():
            lines.append(f"| {name} | {p['count']} | {p['batteries']} | {p['optimizer']} | "
                         f"{p['rolling_horizon']} | {number(p['day_ahead_cost_cny'])} | "
                         f"{number(p['realized_prosumer_cost_cny'])} | "
                         f"{number(sum(p['solve_s'].values()))} |")
        lines.append("")
    if s.get("assumptions"):
        lines += ["## Assumptions of the scenario", ""]
        lines += [f"- {a}" for a in s["assumptions"]]
        lines.append("")
    return "\n".join(lines)
