"""Result folder of ``vppsim uc``: the commitment, the hourly generation and the costs.

Files (written to ``DIR.incomplete`` and renamed when complete): ``summary.json`` (solver,
status, profit and net cost, ``gap_pct``, wall time, the checker's verdict, the cost
breakdown and, with ``--compare``, the four variants), ``commitment.csv`` (unit x hour on/off),
``units.csv``, ``storage.csv``, ``reservoirs.csv``, ``market.csv`` (tidy, per hour),
``report.md`` and ``figures/generation.png`` (hourly output per unit, as paper 003's Fig. 6).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim import __version__
from vppsim.results.folders import ResultFolder, output_path, result_folder
from vppsim.results.format import json_ready
from vppsim.results.plotting import pyplot
from vppsim.uc.check import check_schedule
from vppsim.uc.solve import (
    UcSolution,
    cost_breakdown,
    market_table,
    reservoir_table,
    storage_table,
    unit_table,
)


@dataclass
class UcRun:
    """One ``vppsim uc`` run: the chosen solver's schedule and what it is compared with.

    ``reference`` is the MILP's solution when the chosen solver is a heuristic (its gap is
    measured against it); ``variants`` maps a label (``"VPP, with DSM"``...) to a MILP
    solution of that variant (``--compare``).
    """

    solver: str
    solution: UcSolution
    gap_pct: float
    seed: int | None = None
    reference: UcSolution | None = None
    heuristic_info: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, UcSolution] = field(default_factory=dict)


def schedule_tables(sol: UcSolution) -> dict[str, pd.DataFrame]:
    """The tidy tables of a schedule, by file stem."""
    return {"units": unit_table(sol), "storage": storage_table(sol),
            "reservoirs": reservoir_table(sol), "market": market_table(sol)}


def violations(sol: UcSolution) -> list[str]:
    """What the independent checker finds wrong with the schedule (empty: it passes)."""
    t = schedule_tables(sol)
    return check_schedule(sol.case, t["units"], t["storage"], t["reservoirs"], t["market"])


def _variant_rows(run: UcRun) -> list[dict[str, Any]]:
    rows = []
    for label, sol in run.variants.items():
        costs = cost_breakdown(sol)
        out = unit_table(sol)
        hourly = out.groupby("hour")["p_kw"].sum().to_numpy() if not out.empty else np.zeros(1)
        rows.append({"variant": label, "net_cost_cny": costs["net_cost_cny"],
                     "operating_cost_cny": costs["operating_cost_cny"],
                     "production_std_kw": float(np.std(hourly)),
                     "production_max_step_kw": float(np.max(np.abs(np.diff(hourly)), initial=0.0)),
                     "gap_pct": 100.0 * sol.gap, "status": sol.status})
    return rows


def uc_summary(run: UcRun) -> dict[str, Any]:
    """The ``summary.json`` content."""
    sol = run.solution
    out: dict[str, Any] = {
        "vppsim_version": __version__, "scenario": sol.case.name, "solver": run.solver,
        "mode": sol.mode, "dsm": bool(sol.case.reservoirs), "units": sol.case.n_units,
        "seed": run.seed, "status": sol.status, "objective_profit_cny": sol.profit_cny,
        "gap_pct": run.gap_pct, "wall_s": sol.wall_s, "violations": violations(sol),
        "costs": cost_breakdown(sol),
    }
    if run.reference is not None:
        out["milp"] = {"objective_profit_cny": run.reference.profit_cny,
                       "proven_gap_pct": 100.0 * run.reference.gap,
                       "wall_s": run.reference.wall_s, "status": run.reference.status}
    if run.heuristic_info:
        out["heuristic"] = run.heuristic_info
    if run.variants:
        out["variants"] = _variant_rows(run)
    return json_ready(out)


def render_report(s: dict[str, Any]) -> str:
    """``report.md`` from :func:`uc_summary`: the result, costs, solver comparison, variants."""
    lines = [f"# {s['scenario']}: unit commitment ({s['solver']}, {s['mode']}, "
             f"{'with' if s['dsm'] else 'without'} DSM, {s['units']} dispatchable units)", "",
             f"- status: {s['status']}; profit {s['objective_profit_cny']:,.2f} CNY; "
             f"gap {s['gap_pct']:.3f} %; {s['wall_s']:.2f} s",
             f"- independent check: {'passes' if not s['violations'] else 'FAILS'}"]
    lines += [f"  - {v}" for v in s["violations"]]
    lines += ["", "| cost item | CNY |", "|---|---:|"]
    lines += [f"| {k} | {v:,.2f} |" for k, v in s["costs"].items()]
    if "milp" in s:
        m = s["milp"]
        lines += ["", "| solver | profit CNY | gap to MILP % | wall s |", "|---|---:|---:|---:|",
                  f"| MILP (HiGHS, proven gap {m['proven_gap_pct']:.3f} %) | "
                  f"{m['objective_profit_cny']:,.2f} | 0 | {m['wall_s']:.2f} |",
                  f"| {s['solver']} | {s['objective_profit_cny']:,.2f} | {s['gap_pct']:.3f} | "
                  f"{s['wall_s']:.2f} |"]
    if "variants" in s:
        lines += ["", "| variant | net cost CNY | operating cost CNY | std of hourly production kW "
                  "| largest hourly change kW | gap % |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['variant']} | {r['net_cost_cny']:,.2f} | {r['operating_cost_cny']:,.2f} "
                  f"| {r['production_std_kw']:,.1f} | {r['production_max_step_kw']:,.1f} | "
                  f"{r['gap_pct']:.3f} |" for r in s["variants"]]
    return "\n".join(lines) + "\n"


def _generation_figure(sol: UcSolution, path: Path) -> None:
    plt = pyplot()
    units = unit_table(sol)
    pivot = units.pivot_table(index="hour", columns="unit", values="p_kw", aggfunc="sum")
    fig, ax = plt.subplots(figsize=(10, 4.5))
    bottom = np.zeros(len(pivot))
    for name in pivot.columns:
        ax.bar(pivot.index, pivot[name].to_numpy(), bottom=bottom, label=name, width=0.85)
        bottom += pivot[name].to_numpy()
    ax.plot(sol.case.demand_kw, color="k", lw=1.5, label="demand")
    ax.set(xlabel="hour", ylabel="output (kW)",
           title=f"{sol.case.name}: hourly generation per unit ({sol.mode})")
    ax.legend(fontsize=6, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_uc_results(run: UcRun, out: Path | ResultFolder, figures: bool = True,
                     summary: dict[str, Any] | None = None) -> Path:
    """Write the folder of ``vppsim uc`` and return its final path.

    ``summary``: :func:`uc_summary` of ``run`` if the caller has it (it runs the checker).
    """
    sol = run.solution
    with result_folder(out) as work:
        summary = uc_summary(run) if summary is None else summary
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                           encoding="utf-8")
        tables = schedule_tables(sol)
        for stem, table in tables.items():
            table.to_csv(work / f"{stem}.csv", index=False)
        commitment = pd.DataFrame(sol.commitment, index=[u.name for u in sol.case.thermal],
                                  columns=[f"h{t:02d}" for t in range(sol.case.n_hours)])
        commitment.to_csv(work / "commitment.csv", index_label="unit")
        report = render_report(summary)
        if figures:
            (work / "figures").mkdir()
            _generation_figure(sol, work / "figures" / "generation.png")
            report += "\n![generation](figures/generation.png)\n"
        (work / "report.md").write_text(report, encoding="utf-8")
    return output_path(out)
