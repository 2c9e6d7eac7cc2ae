"""``vppsim pareto``: feeder losses against renewable utilization and cost (paper 000), SLP and NSGA-II."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time

from vppsim.cli.common import EXIT_BAD_INPUT, claimed, folder_summary, output_folder, report, stages
from vppsim.market.pareto import (
    FrontPoint,
    front_distance,
    non_dominated,
    nsga2_front,
    utilization_front,
    weighted_sum_front,
)
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.folders import default_out_dir
from vppsim.results.pareto import ParetoRun, write_pareto_results
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError


def _utilization_weights(points: list[FrontPoint]) -> tuple[float, ...]:
    """Utilization weights to sweep (CNY per unit): only 0 if the loss-blind day curtails nothing."""
    return (0.0,) if points[0].renewable_utilization >= 1.0 else (0.0, 100.0, 1000.0)


def _print_utilization_front(run_: ParetoRun, final: object) -> None:
    """The console lines of ``--front utilization``: the two ends, the front's size, NSGA-II."""
    top, least = run_.slp_points[0], run_.slp_points[-1]
    print(f"{run_.scenario}: max utilization {100 * top.renewable_utilization:.2f} % at "
          f"{top.losses_kwh:.2f} kWh losses ({top.system_cost_cny:,.2f} CNY), least losses "
          f"{least.losses_kwh:.2f} kWh at {100 * least.renewable_utilization:.2f} % "
          f"({least.system_cost_cny:,.2f} CNY); SLP front {len(non_dominated(run_.slp_points))} "
          f"points in {run_.slp_wall_s:.1f} s")
    if run_.nsga2_points:
        print(f"  NSGA-II: {len(run_.nsga2_points)} points in {run_.nsga2_wall_s:.1f} s, distance "
              f"to the SLP front mean {run_.nsga2_distance[0]:.3g}, max "
              f"{run_.nsga2_distance[1]:.3g} (normalized)")
    print(f"  wrote {final}")


def run(args: argparse.Namespace) -> int:
    """``vppsim pareto``: the SLP weighted-sum front and/or NSGA-II's, written to a folder."""
    loaded = load_scenario(args.scenario or default_scenario_path())
    s = loaded.scenario
    if args.day >= s.days:
        print(f"vppsim: --day: expected 0..{s.days - 1}, got {args.day}", file=sys.stderr)
        return EXIT_BAD_INPUT
    seed = s.seed if args.seed is None else args.seed
    if args.method != "exact" and importlib.util.find_spec("pymoo") is None:
        print(f"vppsim: --method {args.method}: NSGA-II needs pymoo (pip install "
              "'vppsim[pareto]'); --method exact runs without it", file=sys.stderr)
        return EXIT_BAD_INPUT
    folder = output_folder(args, default_out_dir(f"{s.name}-pareto"))
    n_stages = 2 + (args.method in ("nsga2", "both"))
    with claimed(folder), stages(args, f"{s.name} pareto", n_stages) as stage:
        stage("build the model and the day's market")
        model = VPPModel(loaded)
        market = model.day_ahead_market(args.day)
        if market.milp_followers:
            raise ScenarioError(loaded.path, [("vpps", "expected VPPs with day-ahead LPs for the "
                                               "loss-aware dispatch, got MILP followers "
                                               f"{', '.join(market.milp_followers)}")])
        grid = model.dispatch_grid(args.day)
        start = time.perf_counter()
        stage(f"SLP front, {args.points} points")
        front = args.front
        if front == "utilization":
            slp, dispatches = utilization_front(market, grid, args.points)
        else:
            slp, dispatches = weighted_sum_front(market, grid, args.points)
        if front == "cost" and args.method != "nsga2" and _utilization_weights(slp) != (0.0,):
            slp, dispatches = weighted_sum_front(market, grid, args.points,
                                                 _utilization_weights(slp))
        slp_wall = time.perf_counter() - start
        nsga, nsga_wall, dist = [], 0.0, (float("nan"), float("nan"))
        if args.method in ("nsga2", "both"):
            stage(f"NSGA-II, {args.population} x {args.generations}")
            try:
                nsga, nsga_wall = nsga2_front(market, grid, population=args.population,
                                              generations=args.generations, seed=seed % 2**32,
                                              against=front)
            except ValueError as exc:
                raise ScenarioError(loaded.path, [("--method nsga2", str(exc))]) from None
            dist = front_distance(nsga, non_dominated(slp), front)
        if args.method == "nsga2":
            slp = [slp[0], slp[-1]] if front == "utilization" else slp[:1]  # the plot's reference
        run_ = ParetoRun(s.name, slp, nsga, slp_wall, nsga_wall, dist,
                         [d.iterations for d in dispatches], front)
        final = write_pareto_results(run_, folder, figures=not args.no_figures)
    report(args, folder_summary(final))
    if not args.quiet and front == "utilization":
        _print_utilization_front(run_, final)
    elif not args.quiet:
        front = non_dominated(slp)
        blind, least = slp[0], min(slp, key=lambda p: (p.losses_kwh, p.system_cost_cny))
        print(f"{s.name} day {args.day}: loss-blind {blind.losses_kwh:.2f} kWh "
              f"({blind.losses_pct:.3f} %), least losses {least.losses_kwh:.2f} kWh "
              f"({least.losses_pct:.3f} %) at {least.system_cost_cny - blind.system_cost_cny:+.2f} "
              f"CNY; SLP front {len(front)} points in {slp_wall:.1f} s")
        if nsga:
            print(f"  NSGA-II: {len(nsga)} points in {nsga_wall:.1f} s, distance to the SLP "
                  f"front mean {dist[0]:.3g}, max {dist[1]:.3g} (normalized)")
        print(f"  wrote {final}")
    return 0
