"""``vppsim allocate CASE [--demand MW] [--runs 14] [--seed S] [--out DIR]``: paper 001's table.

Solves each demand of an allocation case by GA-ACO (one run per seed), the exact LP and in
proportion to capacity, prints the tables beside the paper's figures and writes the result
folder (:mod:`vppsim.results.allocation`). Bad input raises
:class:`vppsim.scenario.schema.ScenarioError` (``file: field: expected``; exit code 2).
"""

from __future__ import annotations

import argparse

from vppsim.allocation.compare import compare
from vppsim.allocation.pareto import ParetoFront, pareto_front
from vppsim.allocation.scenario import MAX_CASE_POWER, load_allocation_case
from vppsim.cli.common import SEED_MAX, claimed, folder_summary, output_folder, report, stages
from vppsim.results.allocation import render_table, write_allocation_results
from vppsim.results.allocation_pareto import render_pareto
from vppsim.results.folders import default_out_dir
from vppsim.scenario.schema import ScenarioError

#: most weights of ``--points``
MAX_POINTS = 1001
#: default weights of the ``--pareto`` sweep
DEFAULT_POINTS = 11


def _check_pareto(args: argparse.Namespace, demands: list[float]) -> int:
    """The number of sweep weights; ``ScenarioError`` for options that do not fit together."""
    points = DEFAULT_POINTS if args.points is None else args.points
    if not args.pareto:
        if args.points is not None:
            raise ScenarioError(args.scenario, [("--points", "expected only together with --pareto")])
        return points
    if len(demands) != 1:
        raise ScenarioError(args.scenario, [("--demand", "expected exactly one --demand with --pareto, "
                                                         f"got {len(demands)} demands")])
    if not 2 <= points <= MAX_POINTS:
        raise ScenarioError(args.scenario, [("--points", f"expected an integer 2..{MAX_POINTS}, "
                                                         f"got {points}")])
    if args.seed + points - 1 > SEED_MAX:
        raise ScenarioError(args.scenario, [("--seed", f"expected --seed + --points - 1 <= 2**63-1, "
                                                       f"got {args.seed} and {points} points")])
    return points


def run(args: argparse.Namespace) -> int:
    """Run ``vppsim allocate``: print one table per demand and write the result folder."""
    case = load_allocation_case(args.scenario)
    if args.runs < 1:
        raise ScenarioError(args.scenario, [("--runs", f"expected an integer >= 1, got {args.runs}")])
    if args.seed + args.runs - 1 > SEED_MAX:
        raise ScenarioError(args.scenario, [("--seed", f"expected --seed + --runs - 1 <= 2**63-1, "
                                                       f"got {args.seed} and {args.runs} runs")])
    demands = args.demand if args.demand else list(case.demands)
    for d in demands:
        if d > MAX_CASE_POWER:
            raise ScenarioError(args.scenario, [("--demand", f"expected a number <= {MAX_CASE_POWER:g} "
                                                             f"{case.unit}, got {d:g}")])
    points = _check_pareto(args, demands)
    folder = output_folder(args, default_out_dir(f"{case.name}-allocate"))  # before computing
    with claimed(folder), stages(args, case.name, len(demands) + args.pareto) as stage:
        comparisons = []
        for d in demands:
            stage(f"demand {d:g} {case.unit}: {args.runs} GA-ACO runs, LP")
            comparisons.append(compare(case, float(d), args.runs, args.seed))
        front: ParetoFront | None = None
        if args.pareto:
            stage(f"Pareto front, {points} weights")
            front = pareto_front(case, float(demands[0]), points, args.seed)
        final = write_allocation_results(comparisons, folder, figures=not args.no_figures,
                                         pareto=front)
    report(args, folder_summary(final))
    if not args.quiet:
        for c in comparisons:
            print(render_table(c))
            print()
        if front is not None:
            print(render_pareto(front))
            print()
        print(f"wrote {final}")
    return 0
