"""``vppsim equilibria``: solve the game at every point of a sweep and write the folder."""

from __future__ import annotations

import argparse
import sys

from vppsim.cli.common import EXIT_BAD_INPUT, claimed, folder_summary, output_folder, report
from vppsim.market.sweep import parse_sweep
from vppsim.montecarlo.equilibria import SweepSettings, point_scenarios, run_sweep
from vppsim.paths import default_scenario_path
from vppsim.results.equilibria import write_equilibria_results
from vppsim.results.folders import default_out_dir
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError


def run(args: argparse.Namespace) -> int:
    """``vppsim equilibria``: solve the game at every point of the sweep and write the folder."""
    loaded = load_scenario(args.scenario or default_scenario_path())
    s = loaded.scenario
    spec = s.market.game
    sweep, values = parse_sweep(args.sweep, loaded.path)
    settings = SweepSettings(
        objective=args.objective or spec.objective, solver=args.solver or spec.solver,
        budget=args.budget if args.budget is not None else spec.budget,
        seed=args.seed if args.seed is not None else s.seed, day=args.day, mpec=args.mpec,
        mpec_time_limit_s=args.mpec_time_limit or spec.reference_time_limit_s,
        robust=args.robust)
    if settings.budget < 10:
        raise ScenarioError(loaded.path, [("--budget", f"expected an integer >= 10, got "
                                           f"{settings.budget}")])
    if not 0 <= args.day < s.days:
        print(f"vppsim: --day: expected 0..{s.days - 1}, got {args.day}", file=sys.stderr)
        return EXIT_BAD_INPUT
    scenarios = point_scenarios(loaded, sweep, values)  # every point checked before computing
    folder = output_folder(args, default_out_dir(f"{s.name}-equilibria"))  # before computing
    with claimed(folder):
        tables = run_sweep(scenarios, sweep, values, settings, workers=args.workers,
                           progress=not args.quiet)
        meta = {"objective": settings.objective, "solver": settings.solver,
                "budget": settings.budget, "seed": settings.seed, "day": settings.day,
                "mpec": settings.mpec or settings.objective == "vpo_profit",
                "workers": args.workers}
        final = write_equilibria_results(tables, folder, s.name, sweep.name, meta)
    report(args, folder_summary(final))
    if not args.quiet:
        p = tables.points
        print(f"{s.name}: {settings.solver} on {settings.objective} at {len(p)} values of "
              f"{sweep.name}")
        for _, r in p.iterrows():
            print(f"  {r['value']:g}: VPO profit {r['vpo_profit_cny']:,.2f} (Model 1 "
                  f"{r['model1_vpo_profit_cny']:,.2f}), system cost {r['system_cost_cny']:,.2f} "
                  f"(bound {r['bound_system_cost_cny']:,.2f}), epsilon {r['epsilon_cny']:.3g}")
        print(f"  wrote {final} in {tables.wall_s['total']:.1f} s (sweep)")
    return 0
