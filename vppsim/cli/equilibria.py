"""``vppsim equilibria``: move one market parameter over values and solve the game at each.

``vppsim equilibria [SCENARIO] --sweep FIELD=v1,v2,...``: for every value, the day's game with
the chosen solver, the centralized LP (the exact system-cost bound) and, with ``--mpec`` (or
the ``vpo_profit`` objective), the MPEC; the points run in parallel on Dask.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vppsim.cli.common import EXIT_BAD_INPUT, claimed, positive_number, scenario_argument, seed_int
from vppsim.market.solvers import GAME_SOLVERS, OBJECTIVES
from vppsim.market.sweep import SWEEP_FIELDS, parse_sweep
from vppsim.montecarlo.equilibria import SweepSettings, point_scenarios, run_sweep
from vppsim.paths import default_scenario_path
from vppsim.results.equilibria import write_equilibria_results
from vppsim.results.folders import claim, default_out_dir
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim equilibria`` to the sub-commands."""
    p = sub.add_parser("equilibria", help="sweep a market parameter and solve the game at each value")
    scenario_argument(p)
    p.add_argument("--sweep", required=True, metavar="FIELD=v1,v2,...",
                   help="the field to move and its values; FIELD one of: "
                   + "; ".join(f"{k} ({f.description})" for k, f in SWEEP_FIELDS.items()))
    p.add_argument("--solver", choices=list(GAME_SOLVERS), default=None,
                   help="default: the scenario's market.game.solver")
    p.add_argument("--objective", choices=list(OBJECTIVES), default=None,
                   help="default: the scenario's market.game.objective")
    p.add_argument("--budget", type=int, default=None,
                   help="objective evaluations per point (default: the scenario's market.game.budget)")
    p.add_argument("--seed", type=seed_int, default=None,
                   help="an integer 0..2**63-1, the same at every point (default: the scenario's seed)")
    p.add_argument("--day", type=int, default=0, help="which day of the horizon (default 0)")
    p.add_argument("--mpec", action="store_true",
                   help="also solve the MPEC (the VPO's exact optimum) at every point; seconds "
                   "to a minute each (always done for --objective vpo_profit)")
    p.add_argument("--mpec-time-limit", type=positive_number, default=None, metavar="S",
                   help="time limit of each MPEC, s (default: market.game.reference_time_limit_s)")
    p.add_argument("--workers", type=_workers, default=None,
                   help="Dask worker processes (default: one per core, at most one per point; "
                   "0: no cluster, the points one after the other); results do not depend on it")
    p.add_argument("--out", type=Path, default=None,
                   help="result folder (default: results/<scenario>-equilibria-<timestamp>)")
    p.add_argument("--quiet", action="store_true", help="write the folder, print nothing")
    p.set_defaults(func=run)


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
        mpec_time_limit_s=args.mpec_time_limit or spec.reference_time_limit_s)
    if settings.budget < 10:
        raise ScenarioError(loaded.path, [("--budget", f"expected an integer >= 10, got "
                                           f"{settings.budget}")])
    if not 0 <= args.day < s.days:
        print(f"vppsim: --day: expected 0..{s.days - 1}, got {args.day}", file=sys.stderr)
        return EXIT_BAD_INPUT
    scenarios = point_scenarios(loaded, sweep, values)  # every point checked before computing
    folder = claim(args.out, default_out_dir(f"{s.name}-equilibria"))  # before computing (exit 2)
    with claimed(folder):
        tables = run_sweep(scenarios, sweep, values, settings, workers=args.workers)
        meta = {"objective": settings.objective, "solver": settings.solver,
                "budget": settings.budget, "seed": settings.seed, "day": settings.day,
                "mpec": settings.mpec or settings.objective == "vpo_profit",
                "workers": args.workers}
        final = write_equilibria_results(tables, folder, s.name, sweep.name, meta)
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
