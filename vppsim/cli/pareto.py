"""``vppsim pareto``: its options; what it does is :mod:`vppsim.cli.impl.pareto`."""

from __future__ import annotations

import argparse

from vppsim.cli.common import folder_options, int_at_least, scenario_argument, seed_int

#: ways to the front: the SLP weighted-sum sweep, NSGA-II, or both (compared)
METHODS = ("exact", "nsga2", "both")
#: the front's second objective besides the feeder losses
FRONTS = ("cost", "utilization")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``pareto`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "pareto", help="loss-aware dispatch: feeder losses vs renewable utilization and cost "
        "(paper 000), SLP weighted sums and NSGA-II")
    scenario_argument(p)
    p.add_argument("--points", type=int_at_least(2), default=16,
                   help="loss weights of the SLP sweep, an integer >= 2 (default 16)")
    p.add_argument("--method", choices=METHODS, default="both",
                   help="exact: SLP-converged weighted sums; nsga2: pymoo's NSGA-II; both "
                   "(default)")
    p.add_argument("--front", choices=FRONTS, default="cost",
                   help="cost: losses vs system cost, a sweep of the loss weight (default); "
                   "utilization: losses vs renewable utilization, least losses s.t. U >= eps "
                   "(--points values of eps)")
    p.add_argument("--day", type=int_at_least(0), default=0, help="day of the scenario (default 0)")
    p.add_argument("--population", type=int_at_least(4), default=40,
                   help="NSGA-II population (default 40)")
    p.add_argument("--generations", type=int_at_least(1), default=60,
                   help="NSGA-II generations (default 60)")
    p.add_argument("--seed", type=seed_int, default=None,
                   help="NSGA-II seed, an integer 0..2**63-1 (default: the scenario's seed)")
    folder_options(p, "vppsim.cli.impl.pareto:run", "results/<scenario>-pareto-<timestamp>",
                   "pareto.png")
    return p
