"""``vppsim uc SCENARIO [--solver milp|elm-ga] [--units N] [--no-dsm] [--traditional] --out DIR``.

Loads the unit-commitment case (:mod:`vppsim.uc.spec`), replicates it to ``--units``, solves it
with the exact MILP or ELM-GA (then also with the MILP, for the gap), optionally the four
variants (``--compare``), and writes the folder (:mod:`vppsim.results.uc`). Bad input raises
:class:`vppsim.scenario.schema.ScenarioError` (``file: field: expected``; exit code 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from vppsim.cli.common import claimed, folder_summary, output_folder, report, stages
from vppsim.results.folders import default_out_dir
from vppsim.results.uc import UcRun, render_report, uc_summary, write_uc_results
from vppsim.scenario.schema import ScenarioError
from vppsim.uc.heuristic import solve_uc_elm_ga
from vppsim.uc.portfolio import UcCase, with_units
from vppsim.uc.solve import solve_uc
from vppsim.uc.spec import load_uc_case

#: the largest ``--units`` (a guard against typing one zero too many)
MAX_UNITS = 2000


def _variants(case: UcCase, args: argparse.Namespace, stage: Callable[[str], None]) -> dict:
    gap = args.gap / 100.0
    out = {}
    for mode, label in (("vpp", "VPP"), ("traditional", "traditional grid")):
        for c, dsm in ((case, "with DSM"), (case.without_dsm(), "without DSM")):
            stage(f"MILP {label}, {dsm}")
            out[f"{label}, {dsm}"] = solve_uc(c, mode, args.time_limit, gap)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``vppsim uc``: solve, check, print the report and write the result folder."""
    case = load_uc_case(args.scenario)
    if args.units is not None:
        if args.units > MAX_UNITS:
            raise ScenarioError(args.scenario, [("--units", f"expected at most {MAX_UNITS}, "
                                                             f"got {args.units}")])
        try:
            case = with_units(case, args.units)
        except ValueError as exc:
            raise ScenarioError(args.scenario, [("--units", str(exc))]) from None
    if args.no_dsm:
        case = case.without_dsm()
    mode = "traditional" if args.traditional else "vpp"
    folder = output_folder(args, default_out_dir(f"{case.name}-uc"))  # before computing
    total = 1 + (args.solver != "milp") + 4 * args.compare
    with claimed(folder), stages(args, f"{case.name} uc", total) as stage:
        stage(f"MILP, {len(case.thermal)} thermal units")
        milp = solve_uc(case, mode, args.time_limit, args.gap / 100.0)
        if args.solver == "milp":
            result = UcRun("milp", milp, 100.0 * milp.gap)
        else:
            stage(f"ELM-GA, {args.budget} evaluations")
            heur = solve_uc_elm_ga(case, mode, args.budget, args.seed, args.starts)
            gap = 100.0 * (milp.profit_cny - heur.solution.profit_cny) / max(abs(milp.profit_cny), 1.0)
            result = UcRun("elm-ga", heur.solution, gap, args.seed, milp, heur.info)
        if args.compare:
            result.variants = _variants(case, args, stage)
        summary = uc_summary(result)
        final = write_uc_results(result, folder, figures=not args.no_figures, summary=summary)
    report(args, folder_summary(final))
    if not args.quiet:
        print(render_report(summary))
        print(f"wrote {final}")
    return 0
