"""``vppsim game --days N`` (N > 1): day-ahead games in a row, storage state carried across days."""

from __future__ import annotations

import argparse
import sys

from vppsim.cli.common import EXIT_BAD_INPUT, claimed, folder_summary, output_folder, report
from vppsim.cli.impl.game_settings import game_settings
from vppsim.market.horizon import HorizonDay, solve_game_days
from vppsim.model import VPPModel
from vppsim.results.folders import default_out_dir
from vppsim.results.game_days import horizon_totals, storage_units, write_game_days_results


def _day_line(h: HorizonDay, objective: str) -> str:
    """One progress line: the day's objective, Model 1's, the VPO's profit, the storage ends."""
    r = h.result
    ends = ", ".join(f"{u} {soc[0]:,.1f}->{soc[-1]:,.1f}" for u, soc, _, _ in storage_units(h))
    return (f"  day {h.day}: {r.solver} on {objective} = {r.outcome.objective_value(objective):,.2f}"
            f" CNY (Model 1: {r.model1.objective_value(objective):,.2f}); VPO profit "
            f"{r.outcome.vpo_profit_cny:,.2f}; SoC kWh {ends or 'none'} "
            f"({r.wall_s['total']:.1f} s)")


def run_days(args: argparse.Namespace) -> int:
    """Solve ``args.days`` days' games in a row and write one result folder for the horizon.

    Each day's forecasts come from ``VPPModel(loaded, seed, days=N)`` (daily profiles repeat
    when N exceeds the scenario's days); each day starts where the previous day's outcome ended
    (:func:`vppsim.market.horizon.solve_game_days`).
    """
    if args.compare:
        print(f"vppsim: --compare: expected a one-day game (it compares solvers on one day), "
              f"got --days {args.days}", file=sys.stderr)
        return EXIT_BAD_INPUT
    g = game_settings(args)
    if isinstance(g, int):
        return g
    loaded, solver, objective, seed, s = g.loaded, g.solver, g.objective, g.seed, g.loaded.scenario
    folder = output_folder(args, default_out_dir(f"{s.name}-game-{args.days}days"))
    with claimed(folder):
        model = VPPModel(loaded, seed=seed, days=args.days)  # a bad N: ScenarioError, exit 2

        def progress(h: HorizonDay) -> None:
            if not args.quiet:
                print(_day_line(h, objective), flush=True)

        if not args.quiet:
            print(f"{s.name}: {args.days} days, {solver} on {objective}, seed {seed}; each day "
                  "starts where the previous one ended", flush=True)
        days = solve_game_days(model.day_ahead_market, args.days, seed=seed, progress=progress,
                               objective=objective, solver=solver, budget=g.budget,
                               reference=not args.no_reference,
                               reference_time_limit_s=g.reference_time_limit_s)
        final = write_game_days_results(days, folder, s.name, seed)
    report(args, folder_summary(final))
    if not args.quiet:
        tot = horizon_totals(days)
        wall = sum(h.result.wall_s["total"] for h in days)
        print(f"  total over {args.days} days: system cost {tot['system_cost_cny']:,.2f} CNY "
              f"(Model 1: {tot['model1_system_cost_cny']:,.2f}); VPO profit "
              f"{tot['vpo_profit_cny']:,.2f} (Model 1: {tot['model1_vpo_profit_cny']:,.2f})")
        print(f"  wrote {final} in {wall:.1f} s (games)")
    return 0
