"""``vppsim montecarlo``: its options; what it does is :mod:`vppsim.cli.impl.montecarlo`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.cli.common import scenario_argument, seed_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim montecarlo`` to the sub-commands."""
    mc = sub.add_parser("montecarlo", help="Monte Carlo over forecast errors on Dask (resumable)")
    scenario_argument(mc, what="scenario YAML (a sample runs all its days)")
    mc.add_argument("--samples", type=int, required=True, help="number of samples N (>= 1)")
    mc.add_argument("--days", type=int, default=None,
                    help="override the scenario's number of days (a sample runs them all)")
    mc.add_argument("--workers", type=int, default=None,
                    help="LocalCluster worker processes (default: one per core; not with --scheduler)")
    mc.add_argument("--scheduler", default=None,
                    help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    mc.add_argument("--out", type=Path, default=None,
                    help="result folder (default: results/<scenario>-mc-<seed>); re-running the "
                    "same command on it resumes")
    mc.add_argument("--seed", type=seed_int, default=None,
                    help="base seed of SeedSequence(seed).spawn(N), an integer 0..2**63-1 "
                    "(default: the scenario's seed)")
    mc.add_argument("--chunk-size", type=int, default=None,
                    help="samples per Dask task (default: automatic; results do not depend on it)")
    mc.add_argument("--max-samples", type=int, default=None,
                    help="stop after computing this many new samples (resume later)")
    mc.add_argument("--power-flow", choices=("lightsim2grid", "pandapower", "scenario"),
                    default="lightsim2grid",
                    help="power-flow backend of the samples (default lightsim2grid; scenario: the "
                    "scenario's feeder.power_flow_backend)")
    mc.add_argument("--allocation-gap", action="store_true",
                    help="also solve every step's exact allocation LP and report the allocator's "
                    "gap (allocation_gap_max); about doubles the allocation time")
    mc.add_argument("--path", choices=("auto", "arrays", "objects"), default="auto",
                    help="how the workers step the samples: auto (as numpy arrays where the "
                    "scenario is supported, else one Mesa model per sample), arrays, objects "
                    "(the reference); the tables are the same")
    mc.add_argument("--grid", action="store_true",
                    help="run every case of the scenario's sensitivity: section (one batch per "
                    "case in OUT/<case>/) and print the grid's table beside the paper's")
    mc.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    mc.set_defaults(impl="vppsim.cli.impl.montecarlo:run")
