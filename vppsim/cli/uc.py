"""``vppsim uc``: its options; what it does is :mod:`vppsim.cli.impl.uc` (loaded when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.cli.common import folder_options, int_at_least, positive_number, seed_int

SOLVERS = ("milp", "elm-ga")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim uc`` to the sub-commands."""
    p = sub.add_parser("uc", help="unit commitment of a VPP with water storage (paper 003: "
                                  "exact MILP or ELM-GA)")
    p.add_argument("scenario", type=Path, help="unit-commitment YAML, e.g. scenarios/uc_ieee24.yaml")
    p.add_argument("--solver", choices=SOLVERS, default="milp",
                   help="milp: exact (HiGHS, proven gap); elm-ga: paper 003's heuristic, "
                   "reported beside the MILP (default milp)")
    p.add_argument("--units", type=int_at_least(1), default=None,
                   help="replicate the portfolio to N diesel/hydro units, demand scaled "
                   "(default: the scenario's)")
    p.add_argument("--seed", type=seed_int, default=0, help="ELM-GA seed (default 0)")
    p.add_argument("--budget", type=int_at_least(10), default=2000,
                   help="ELM-GA evaluations (dispatch solves), default 2000")
    p.add_argument("--starts", choices=("relaxation", "merit"), default="relaxation",
                   help="ELM-GA's starting commitments: relaxation (also the MILP's LP "
                   "relaxation, rounded; default) or merit (price-based only, a black box)")
    p.add_argument("--no-dsm", action="store_true",
                   help="without the demand-side water storage (no reservoirs)")
    p.add_argument("--traditional", action="store_true",
                   help="the traditional grid: no coordination, every unit sells to and every "
                   "consumer buys from the market")
    p.add_argument("--compare", action="store_true",
                   help="also solve VPP/traditional x with/without DSM by MILP (table in "
                   "report.md)")
    p.add_argument("--time-limit", type=positive_number, default=120.0,
                   help="MILP time limit per solve, s (default 120)")
    p.add_argument("--gap", type=positive_number, default=0.1,
                   help="MILP relative gap to stop at, percent (default 0.1)")
    folder_options(p, "vppsim.cli.impl.uc:run", "results/<scenario>-uc-<timestamp>", "the PNG figure")
