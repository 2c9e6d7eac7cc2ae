"""``vppsim game``: the day-ahead bi-level game of one day alone (paper 004), with references."""

from __future__ import annotations

import argparse
import sys

from vppsim.cli.common import EXIT_BAD_INPUT, claimed, folder_summary, output_folder, report, stages
from vppsim.cli.impl.game_days import run_days
from vppsim.cli.impl.game_settings import game_settings
from vppsim.market.game import solve_game
from vppsim.market.solvers import SEARCH_SOLVERS
from vppsim.model import VPPModel
from vppsim.results.folders import default_out_dir
from vppsim.results.game import write_game_results


def run(args: argparse.Namespace) -> int:
    """``vppsim game``: solve one day's bi-level game alone and write its result folder."""
    if (getattr(args, "days", None) or 1) > 1:
        return run_days(args)  # a horizon of days in a row (vppsim.cli.impl.game_days)
    args.day = 0 if getattr(args, "day", None) is None else args.day
    g = game_settings(args)
    if isinstance(g, int):
        return g
    loaded, solver, objective, seed, s = g.loaded, g.solver, g.objective, g.seed, g.loaded.scenario
    if not 0 <= args.day < s.days:
        print(f"vppsim: --day: expected 0..{s.days - 1}, got {args.day}", file=sys.stderr)
        return EXIT_BAD_INPUT
    folder = output_folder(args, default_out_dir(f"{s.name}-game"))  # before computing (exit 2)
    compared = [o for o in SEARCH_SOLVERS if o != solver] if args.compare else []
    with claimed(folder), stages(args, f"{s.name} game", 1 + len(compared)) as stage:
        model = VPPModel(loaded, seed=seed)
        market = model.day_ahead_market(args.day)
        pi_imp, pi_exp = market.pi_imp, market.pi_exp
        kwargs = dict(objective=objective, budget=g.budget, seed=seed,
                      reference_time_limit_s=g.reference_time_limit_s)
        stage(f"{solver}, reference, certificate")
        res = solve_game(market, solver=solver, reference=not args.no_reference, robust=True,
                         **kwargs)
        others = {}
        for other in compared:  # every other metaheuristic of the registry
            stage(other)
            others[other] = solve_game(market, solver=other, reference=False, **kwargs)
        final = write_game_results(res, folder, s.name, pi_imp, pi_exp, s.step_h, others,
                                   compare=args.compare)
    report(args, folder_summary(final))
    if not args.quiet:
        c = res.certificate
        value = res.outcome.objective_value(objective)
        print(f"{s.name} day {args.day}: {solver} on {objective} = {value:,.2f} CNY "
              f"(Model 1: {res.model1.objective_value(objective):,.2f})")
        if res.reference is not None:
            print(f"  reference: {res.reference.name} = {res.reference.value_cny:,.2f} "
                  f"({res.reference.status})")
        print(f"  certificate: epsilon {c.epsilon_cny:.4g} CNY ({c.epsilon_rel:.3g} relative); "
              f"max VPP regret {max(c.vpp_regret_cny.values()):.3g} CNY")
        if res.ties is not None:
            t = res.ties
            print(f"  VPO profit over the VPPs' ties: {t.vpo_profit_pessimistic_cny:,.2f} "
                  f"(pessimistic) to {t.vpo_profit_optimistic_cny:,.2f} (optimistic) CNY")
        if res.incentive is not None:
            inc = res.incentive
            print(f"  epsilon-incentive: {inc.vpo_profit_robust_cny:,.2f} CNY guaranteed with "
                  f"prices moved by at most {inc.max_price_shift_cny_per_kwh:.2g} CNY/kWh"
                  + ("" if inc.closed else f" (a tie gap of {inc.tie_gap_cny:,.2f} CNY remains)"))
        for k, r in others.items():
            print(f"  {k}: {r.outcome.objective_value(objective):,.2f} CNY")
        print(f"  wrote {final} in {res.wall_s['total']:.1f} s (game)")
    return 0
