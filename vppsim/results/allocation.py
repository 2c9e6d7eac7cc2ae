"""Result folder of ``vppsim allocate``: paper 001's allocation table, ours beside the paper's.

Files (written to ``DIR.incomplete`` and renamed when complete, like a run's folder):
``summary.json`` (per demand: the LP, proportional and paper objectives, the GA-ACO gap and
time quantiles), ``report.md`` (one table per demand), ``allocations.csv`` (per demand and
resource: capacity, GA-ACO median, LP, proportional, paper), ``runs.csv`` (per demand and
GA-ACO run: seed, objective, gap, time, iterations, allocation) and ``figures/*.png``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim import __version__
from vppsim.allocation.compare import AllocationComparison
from vppsim.allocation.pareto import ParetoFront
from vppsim.results.allocation_pareto import render_pareto, write_pareto
from vppsim.results.folders import ResultFolder, output_path, result_folder
from vppsim.results.format import json_ready, number
from vppsim.results.plotting import pyplot


def _cell(v: float, width: int = 9, prec: int = 3) -> str:
    return number(v, spec=f"{width}.{prec}f", missing=f"{'-':>{width}}")


def render_table(c: AllocationComparison) -> str:
    """The comparison of one demand as Markdown: allocations, checks, and every GA-ACO run."""
    case, problem, unit, demand = c.case, c.problem, c.case.unit, c.demand
    median = np.median(c.gaaco_allocation, axis=0)
    paper = c.paper_allocation
    lines = [f"## {case.name}: demand {demand:g} {unit}", "",
             "| resource | capacity | GA-ACO median | exact LP | proportional | paper (Table 3) |",
             "|---|---:|---:|---:|---:|---:|"]
    for k, name in enumerate(case.names):
        pv = paper[k] if paper is not None else np.nan
        lines.append(f"| {name} | {problem.cap[0, k]:g} | {_cell(median[k])} | "
                     f"{_cell(c.lp_allocation[k])} | {_cell(c.proportional_allocation[k])} | "
                     f"{_cell(pv, prec=0)} |")
    totals = c.gaaco_allocation.sum(axis=1)
    ptotal = float(np.nansum(paper)) if paper is not None else np.nan
    lines.append(f"| **total** | {problem.total[0]:g} | {_cell(float(np.median(totals)))} | "
                 f"{_cell(float(c.lp_allocation.sum()))} | "
                 f"{_cell(float(c.proportional_allocation.sum()))} | {_cell(ptotal, prec=0)} |")
    lines.append("")
    over = max(0.0, float(np.max(totals)) - demand) if demand > 0 else float(np.max(totals))
    lines.append(f"- demand {demand:g} {unit}; allocated {problem.target[0]:g} {unit}; "
                 f"unmet {problem.unmet[0]:g} {unit}; over-generation (worst run) {over:.2e} {unit}; "
                 f"largest balance error over runs "
                 f"{np.max(np.abs(totals - problem.target[0])):.1e} {unit}")
    paper_obj = c.paper_objective
    lines.append(f"- objective sum_k |f_k - mean f| (f_k = c_k P_k / cap_k): exact LP "
                 f"{c.lp_objective:.6g}, proportional {c.proportional_objective:.6g}, paper's split "
                 + (f"{paper_obj:.6g}" if paper_obj is not None else "-")
                 + f"; normalization (total fitness at the LP optimum) {c.scale:.6g}")
    if problem.degenerate[0]:
        lines.append("- the feasible set is a single point (every resource at 0 or at capacity): "
                     "nothing to optimize")
    gaps, times = c.gap, c.gaaco_time_s
    lines.append(f"- GA-ACO over {c.runs} runs (seeds {c.seed}..{c.seed + c.runs - 1}): gap to LP "
                 f"median {np.median(gaps):.2e}, worst {np.max(gaps):.2e} (relative to the "
                 f"normalization; absolute worst {np.max(c.gaaco_objective - c.lp_objective):.2e}); "
                 f"time per run median {np.median(times) * 1e3:.1f} ms, max "
                 f"{np.max(times) * 1e3:.1f} ms; iterations median "
                 f"{int(np.median(c.gaaco_iterations))}")
    lines += ["", "| run | seed | objective | gap | time (ms) | iterations |",
              "|---:|---:|---:|---:|---:|---:|"]
    for i in range(c.runs):
        lines.append(f"| {i + 1} | {c.seed + i} | {c.gaaco_objective[i]:.3e} | {gaps[i]:.2e} | "
                     f"{times[i] * 1e3:.1f} | {c.gaaco_iterations[i]} |")
    return "\n".join(lines)


def allocation_summary(comparisons: Sequence[AllocationComparison]) -> dict[str, Any]:
    """``summary.json``: the case, and per demand the objectives, gaps and times."""
    case = comparisons[0].case
    demands = []
    for c in comparisons:
        demands.append({
            "demand": c.demand, "unit": case.unit, "allocated": float(c.problem.target[0]),
            "unmet": float(c.problem.unmet[0]), "single_feasible_point": bool(c.problem.degenerate[0]),
            "lp_objective": c.lp_objective, "proportional_objective": c.proportional_objective,
            "paper_objective": c.paper_objective, "normalization": c.scale,
            "gaaco_runs": c.runs, "gaaco_seeds": [c.seed, c.seed + c.runs - 1],
            "gaaco_gap_median": float(np.median(c.gap)), "gaaco_gap_max": float(np.max(c.gap)),
            "gaaco_time_ms_median": float(np.median(c.gaaco_time_s)) * 1e3,
            "gaaco_time_ms_max": float(np.max(c.gaaco_time_s)) * 1e3,
            "allocation": {name: {"gaaco_median": float(np.median(c.gaaco_allocation[:, k])),
                                  "lp": float(c.lp_allocation[k]),
                                  "proportional": float(c.proportional_allocation[k]),
                                  "paper": (None if c.paper_allocation is None
                                            else float(c.paper_allocation[k]))}
                           for k, name in enumerate(case.names)},
        })
    return json_ready({"kind": "vppsim-allocate", "case": case.name, "vppsim_version": __version__,
                       "fitness": "f_k = c_k * P_k / cap_k ** capacity_exponent",
                       "capacity_exponent": case.fitness.capacity_exponent,
                       "objective": "sum_k |f_k - mean f|", "demands": demands,
                       "assumptions": list(case.assumptions)})


def _tables(comparisons: Sequence[AllocationComparison]) -> tuple[pd.DataFrame, pd.DataFrame]:
    alloc_rows, run_rows = [], []
    for c in comparisons:
        names = c.case.names
        for k, name in enumerate(names):
            alloc_rows.append({"demand": c.demand, "resource": name,
                               "capacity": float(c.problem.cap[0, k]),
                               "gaaco_median": float(np.median(c.gaaco_allocation[:, k])),
                               "lp": float(c.lp_allocation[k]),
                               "proportional": float(c.proportional_allocation[k]),
                               "paper": (np.nan if c.paper_allocation is None
                                         else float(c.paper_allocation[k]))})
        for i in range(c.runs):
            run_rows.append({"demand": c.demand, "run": i + 1, "seed": c.seed + i,
                             "objective": float(c.gaaco_objective[i]), "gap": float(c.gap[i]),
                             "time_ms": float(c.gaaco_time_s[i]) * 1e3,
                             "iterations": int(c.gaaco_iterations[i]),
                             **{name: float(c.gaaco_allocation[i, k]) for k, name in enumerate(names)}})
    return pd.DataFrame(alloc_rows), pd.DataFrame(run_rows)


def _figure(c: AllocationComparison, folder: Path) -> str:
    plt = pyplot()
    names = c.case.names
    x = np.arange(len(names))
    series = [("GA-ACO median", np.median(c.gaaco_allocation, axis=0)), ("exact LP", c.lp_allocation),
              ("proportional", c.proportional_allocation)]
    if c.paper_allocation is not None:
        series.append(("paper", c.paper_allocation))
    w = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(x, c.problem.cap[0], 0.9, color="0.9", label="capacity")
    for i, (label, v) in enumerate(series):
        ax.bar(x - 0.4 + w * (i + 0.5), v, w, label=label)
    ax.set_xticks(x, names, rotation=20, fontsize=8)
    ax.set(ylabel=f"allocated ({c.case.unit})", title=f"{c.case.name}: demand {c.demand:g} {c.case.unit}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = folder / f"allocation_{c.demand:g}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def write_allocation_results(comparisons: Sequence[AllocationComparison], out: Path | ResultFolder,
                             figures: bool = True, pareto: ParetoFront | None = None) -> Path:
    """Write the folder of ``vppsim allocate`` and return its final path.

    ``pareto``: also write ``pareto.parquet``, ``pareto.png`` and the front's lines in ``report.md``
    (:mod:`vppsim.results.allocation_pareto`).
    """
    with result_folder(out) as work:
        allocations, runs = _tables(comparisons)
        allocations.to_csv(work / "allocations.csv", index=False)
        runs.to_csv(work / "runs.csv", index=False)
        summary = allocation_summary(comparisons)
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        files: list[str] = []
        if figures:
            (work / "figures").mkdir()
            files = [_figure(c, work / "figures") for c in comparisons]
        report = [f"# {comparisons[0].case.name}: balanced allocation (paper 001)", ""]
        report += [render_table(c) + "\n" for c in comparisons]
        report += [f"![{Path(f).stem}](figures/{Path(f).name})" for f in files]
        if pareto is not None:
            pfiles = write_pareto(pareto, work, figures)
            report += ["", render_pareto(pareto), ""]
            report += ["![pareto](pareto.png)"] if "pareto.png" in pfiles else []
        (work / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    return output_path(out)
