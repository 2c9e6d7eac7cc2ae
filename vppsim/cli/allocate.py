"""``vppsim allocate CASE --demand MW --runs 14 [--seed S]``: paper 001's allocation table.

Wired into ``vppsim/cli.py`` with :func:`add_parser` and :func:`run`. Bad input raises
:class:`vppsim.scenario.schema.ScenarioError` (``file: field: expected``; exit code 2 there).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from vppsim.allocation.exact import solve_exact
from vppsim.allocation.gaaco import solve_ga_aco
from vppsim.allocation.problem import proportional
from vppsim.allocation.scenario import AllocationCase, load_allocation_case
from vppsim.optimizers.gaaco import GaAcoSettings
from vppsim.results.format import number
from vppsim.scenario.schema import ScenarioError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``allocate`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "allocate", help="balanced allocation of a demand across resources (paper 001, GA-ACO vs LP)"
    )
    p.add_argument("scenario", type=Path, help="allocation case YAML, e.g. scenarios/allocation_ieee12.yaml")
    p.add_argument("--demand", type=float, action="append", default=None,
                   help="demand in the case's unit (repeatable; default: the case's demands)")
    p.add_argument("--runs", type=int, default=14, help="GA-ACO runs, one seed each (default 14)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first run (default 0)")
    p.set_defaults(func=run)
    return p


def _fmt(v: float, width: int = 9, prec: int = 3) -> str:
    return number(v, spec=f"{width}.{prec}f", missing=f"{'-':>{width}}")


def allocation_report(case: AllocationCase, demand: float, runs: int, seed: int) -> str:
    """The comparison table for one demand (see the module docstring of the CLI)."""
    problem = case.problem([demand])
    exact = solve_exact(problem)
    prop = proportional(problem)
    settings = GaAcoSettings()
    allocs, objs, times, iters = [], [], [], []
    for i in range(runs):
        t0 = time.perf_counter()
        res = solve_ga_aco(problem, seed + i, settings)
        times.append(time.perf_counter() - t0)
        allocs.append(res.allocation[0])
        objs.append(res.objective[0])
        iters.append(int(res.iterations[0]))
    allocs_a = np.array(allocs)
    objs_a = np.array(objs)
    lp_obj = float(exact.objective[0])
    lp_alloc = exact.allocation[0]
    scale = max(abs(lp_obj), float(problem.total_fitness(exact.allocation)[0]))
    median = np.median(allocs_a, axis=0)
    paper = case.paper(demand)
    unit = case.unit
    lines = [f"## {case.name}: demand {demand:g} {unit}", ""]
    lines.append("| resource | capacity | GA-ACO median | exact LP | proportional | paper (Table 3) |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for k, name in enumerate(case.names):
        pv = paper[k] if paper is not None else np.nan
        lines.append(
            f"| {name} | {problem.cap[0, k]:g} | {_fmt(median[k])} | {_fmt(lp_alloc[k])} | "
            f"{_fmt(prop.allocation[0, k])} | {_fmt(pv, prec=0)} |"
        )
    totals = allocs_a.sum(axis=1)
    ptotal = float(np.nansum(paper)) if paper is not None else np.nan
    lines.append(
        f"| **total** | {problem.total[0]:g} | {_fmt(float(np.median(totals)))} | "
        f"{_fmt(float(lp_alloc.sum()))} | {_fmt(float(prop.allocation[0].sum()))} | {_fmt(ptotal, prec=0)} |"
    )
    lines.append("")
    over = max(0.0, float(np.max(totals)) - demand) if demand > 0 else float(np.max(totals))
    lines.append(f"- demand {demand:g} {unit}; allocated {problem.target[0]:g} {unit}; "
                 f"unmet {problem.unmet[0]:g} {unit}; over-generation (worst run) {over:.2e} {unit}; "
                 f"largest balance error over runs {np.max(np.abs(totals - problem.target[0])):.1e} {unit}")
    lines.append(f"- objective sum_k |f_k - mean f| (f_k = c_k P_k / cap_k): exact LP {lp_obj:.6g}, "
                 f"proportional {prop.objective[0]:.6g}, paper's split "
                 + (f"{float(problem.evaluate(paper[None, :])[0]):.6g}" if paper is not None else "-")
                 + f"; normalization (total fitness at the LP optimum) {scale:.6g}")
    if problem.degenerate[0]:
        lines.append("- the feasible set is a single point (every resource at 0 or at capacity): "
                     "nothing to optimize")
    gaps = (objs_a - lp_obj) / scale if scale > 0 else objs_a - lp_obj
    lines.append(f"- GA-ACO over {runs} runs (seeds {seed}..{seed + runs - 1}): gap to LP median "
                 f"{np.median(gaps):.2e}, worst {np.max(gaps):.2e} (relative to the normalization; "
                 f"absolute worst {np.max(objs_a - lp_obj):.2e}); time per run median "
                 f"{np.median(times) * 1e3:.1f} ms, max {np.max(times) * 1e3:.1f} ms; iterations "
                 f"median {int(np.median(iters))}")
    lines.append("")
    lines.append("| run | seed | objective | gap | time (ms) | iterations |")
    lines.append("|---:|---:|---:|---:|---:|---:|")
    for i in range(runs):
        lines.append(f"| {i + 1} | {seed + i} | {objs_a[i]:.3e} | {gaps[i]:.2e} | "
                     f"{times[i] * 1e3:.1f} | {iters[i]} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``vppsim allocate``; prints one table per demand and returns 0."""
    case = load_allocation_case(args.scenario)
    if args.runs < 1:
        raise ScenarioError(args.scenario, [("--runs", f"expected an integer >= 1, got {args.runs}")])
    if args.seed < 0:
        raise ScenarioError(args.scenario, [("--seed", f"expected an integer >= 0, got {args.seed}")])
    demands = args.demand if args.demand else list(case.demands)
    for d in demands:
        if not np.isfinite(d):
            raise ScenarioError(args.scenario, [("--demand", f"expected a finite number, got {d}")])
    for d in demands:
        print(allocation_report(case, float(d), args.runs, args.seed))
        print()
    return 0
