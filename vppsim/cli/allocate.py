"""``vppsim allocate``: its options; what it does is :mod:`vppsim.cli.impl.allocate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.cli.common import folder_options, int_at_least, positive_number, seed_int


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``allocate`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "allocate", help="balanced allocation of a demand across resources (paper 001, GA-ACO vs LP)"
    )
    p.add_argument("scenario", type=Path, help="allocation case YAML, e.g. scenarios/allocation_ieee12.yaml")
    p.add_argument("--demand", type=positive_number, action="append", default=None,
                   help="demand in the case's unit, a number > 0 (repeatable; default: the case's demands)")
    p.add_argument("--runs", type=int, default=14, help="GA-ACO runs, one seed each (default 14)")
    p.add_argument("--seed", type=seed_int, default=0,
                   help="seed of the first run, an integer 0..2**63-1 (default 0)")
    p.add_argument("--pareto", action="store_true",
                   help="also the call-cost / balance Pareto front (exact LPs and GA-ACO; one --demand): "
                   "pareto.parquet, pareto.png, the paper's split against the front")
    p.add_argument("--points", type=int_at_least(2), default=None,
                   help="weights of the --pareto sweep and least number of front points, an integer "
                   "2..1001 (default 11)")
    folder_options(p, "vppsim.cli.impl.allocate:run", "results/<case>-allocate-<timestamp>")
    return p
