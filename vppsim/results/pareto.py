"""The folder of ``vppsim pareto``: ``pareto.parquet``, ``pareto.png``, ``summary.json``, ``report.md``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vppsim.market.pareto import FrontPoint, non_dominated
from vppsim.results.folders import ResultFolder, output_path, result_folder
from vppsim.results.format import json_ready
from vppsim.results.plotting import pyplot


@dataclass(frozen=True)
class ParetoRun:
    """What ``vppsim pareto`` found: every point, the fronts, timings and NSGA-II's distance."""

    scenario: str
    slp_points: list[FrontPoint]
    nsga2_points: list[FrontPoint]
    slp_wall_s: float
    nsga2_wall_s: float
    nsga2_distance: tuple[float, float]  # mean, max (normalized, see front_distance)
    slp_iterations: list[int]
    against: str = "cost"  # the front's second objective: "cost" or "utilization"


def pareto_table(run: ParetoRun) -> pd.DataFrame:
    """One row per point; ``non_dominated`` marks the points of each method's own front."""
    rows = []
    for pts in (run.slp_points, run.nsga2_points):
        front = {id(p) for p in non_dominated(pts)} if pts else set()
        rows += [{**asdict(p), "non_dominated": id(p) in front} for p in pts]
    cols = ["method", "w_losses", "w_utilization", "losses_kwh", "losses_pct",
            "renewable_utilization", "system_cost_cny", "u_min", "non_dominated"]
    return pd.DataFrame(rows, columns=cols)


def _utilization_figure(run: ParetoRun, path: Path) -> None:
    """Losses (y) against renewable utilization (x, %), the two single-objective ends marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    front = sorted(non_dominated(run.slp_points), key=lambda p: p.renewable_utilization)
    ax.plot([100 * p.renewable_utilization for p in front], [p.losses_kwh for p in front], "o-",
            label="SLP, least losses s.t. U >= eps (non-dominated)")
    if run.nsga2_points:
        ax.plot([100 * p.renewable_utilization for p in run.nsga2_points],
                [p.losses_kwh for p in run.nsga2_points], "x", label="NSGA-II")
    ends = ((run.slp_points[0], "s", "max utilization"), (run.slp_points[-1], "D", "least losses"))
    for p, marker, name in ends:
        ax.plot(100 * p.renewable_utilization, p.losses_kwh, marker, ms=10, mfc="none",
                label=f"{name}: {p.losses_kwh:,.1f} kWh, U {100 * p.renewable_utilization:.1f} %, "
                      f"{p.system_cost_cny:,.0f} CNY")
    ax.set(xlabel="renewable utilization (%)", ylabel="feeder losses (kWh/day)",
           title=f"{run.scenario}: losses vs renewable utilization")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure(run: ParetoRun, path: Path) -> None:
    if run.against == "utilization":
        _utilization_figure(run, path)
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    front = sorted(non_dominated(run.slp_points), key=lambda p: p.losses_kwh)
    ax.plot([p.losses_kwh for p in front], [p.system_cost_cny for p in front], "o-",
            label="SLP weighted sum (non-dominated)")
    if run.nsga2_points:
        ax.plot([p.losses_kwh for p in run.nsga2_points],
                [p.system_cost_cny for p in run.nsga2_points], "x", label="NSGA-II")
    blind = run.slp_points[0]
    least = min(run.slp_points, key=lambda p: (p.losses_kwh, p.system_cost_cny))
    ax.plot(blind.losses_kwh, blind.system_cost_cny, "s", ms=10, mfc="none",
            label="loss-blind (least cost)")
    ax.plot(least.losses_kwh, least.system_cost_cny, "D", ms=10, mfc="none",
            label="least losses")
    u = sorted({round(p.renewable_utilization, 6) for p in run.slp_points})
    ax.set(xlabel="feeder losses (kWh/day)", ylabel="system cost (CNY/day)",
           title=f"{run.scenario}: losses vs cost (renewable utilization {u[0]:.4g}"
                 f"{'' if len(u) == 1 else f'..{u[-1]:.4g}'})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_report(run: ParetoRun, table: pd.DataFrame) -> str:
    """``report.md``: the loss-blind and least-loss points, the front, NSGA-II against SLP."""
    slp = table[table["method"] != "nsga2"]
    blind, least = slp.iloc[0], slp.sort_values(["losses_kwh", "system_cost_cny"]).iloc[0]
    first = "max utilization" if run.against == "utilization" else "loss-blind"
    lines = [f"# {run.scenario}: loss-aware dispatch, Pareto front (paper 000)", "",
             "| point | w_losses (CNY/kWh) | losses (kWh) | losses (%) | renewable utilization "
             "| system cost (CNY) |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in ((first, blind), ("least losses", least)):
        lines.append(f"| {name} | {r.w_losses:g} | {r.losses_kwh:.3f} | {r.losses_pct:.4f} | "
                     f"{r.renewable_utilization:.4f} | {r.system_cost_cny:,.2f} |")
    n_front = int(slp["non_dominated"].sum())
    kind = "epsilon-constraint (least losses s.t. U >= eps)" if run.against == "utilization" \
        else "weighted-sum"
    lines += ["", f"SLP {kind} front: {n_front} non-dominated points of {len(slp)} "
              f"(losses, cost, utilization); {run.slp_wall_s:.1f} s; SLP iterations per point "
              f"{min(run.slp_iterations)}-{max(run.slp_iterations)}. Each point is the "
              "SLP-converged optimum of its weighted (or epsilon-constrained) problem (the loss "
              "term is nonconvex: a local optimum), its losses from a full AC power flow."]
    if run.nsga2_points:
        mean, worst = run.nsga2_distance
        lines += ["", f"NSGA-II: {len(run.nsga2_points)} non-dominated points in "
                  f"{run.nsga2_wall_s:.1f} s; distance to the SLP front (normalized by its "
                  f"ranges) mean {mean:.3g}, max {worst:.3g}."]
    if slp["renewable_utilization"].nunique() == 1:
        lines += ["", "Renewable utilization is the same at every point: nothing is curtailed, "
                  "and injecting the VPPs' wind and solar lowers the feeder's losses, so the "
                  "two objectives do not conflict on this day; the trade-off is losses vs cost."]
    lines += ["", "![Pareto front](pareto.png)", ""]
    return "\n".join(lines)


def pareto_summary(run: ParetoRun, table: pd.DataFrame) -> dict[str, Any]:
    """``summary.json``: the loss-blind and least-loss points, front sizes, timings, distance."""
    slp = table[table["method"] != "nsga2"]
    blind, least = slp.iloc[0], slp.sort_values(["losses_kwh", "system_cost_cny"]).iloc[0]
    keys = ("w_losses", "losses_kwh", "losses_pct", "renewable_utilization", "system_cost_cny")
    first = "max_utilization" if run.against == "utilization" else "loss_blind"
    return {
        "scenario": run.scenario, "front": run.against,
        first: {k: float(blind[k]) for k in keys},
        "least_losses": {k: float(least[k]) for k in keys},
        "slp_points": len(slp), "slp_non_dominated": int(slp["non_dominated"].sum()),
        "slp_wall_s": run.slp_wall_s, "slp_iterations": run.slp_iterations,
        "nsga2_points": len(run.nsga2_points), "nsga2_wall_s": run.nsga2_wall_s,
        "nsga2_distance_mean": run.nsga2_distance[0], "nsga2_distance_max": run.nsga2_distance[1],
    }


def write_pareto_results(run: ParetoRun, out: Path | ResultFolder, figures: bool = True) -> Path:
    """Write the folder of ``vppsim pareto`` and return its final path."""
    with result_folder(out) as work:
        table = pareto_table(run)
        table.to_parquet(work / "pareto.parquet", index=False)
        summary = pareto_summary(run, table)
        (work / "summary.json").write_text(json.dumps(json_ready(summary), indent=2) + "\n",
                                           encoding="utf-8")
        if figures:
            _figure(run, work / "pareto.png")
        (work / "report.md").write_text(render_report(run, table), encoding="utf-8")
    return output_path(out)
