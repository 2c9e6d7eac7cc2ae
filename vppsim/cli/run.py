"""``vppsim run``: its options; what it does is :mod:`vppsim.cli.impl.run` (loaded when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.cli.common import scenario_argument, seed_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim run`` to the sub-commands."""
    run_p = sub.add_parser("run", help="run a scenario and write a result folder")
    scenario_argument(run_p)
    run_p.add_argument("--out", type=Path, default=None,
                       help="result folder (default: results/<scenario>-<timestamp>)")
    run_p.add_argument("--seed", type=seed_int, default=None,
                       help="override the scenario's seed (an integer 0..2**63-1)")
    run_p.add_argument("--days", type=int, default=None, help="override the number of days")
    run_p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    run_p.add_argument("--no-baseline", action="store_true",
                       help="skip the baseline run without coordination (the KPI table then "
                            "shows the coordinated run only)")
    run_p.add_argument("--no-stream", action="store_true",
                       help="keep a multi-day run in memory (default: its tables are streamed "
                            "to Parquet by day and the run can resume by day)")
    run_p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    run_p.set_defaults(impl="vppsim.cli.impl.run:run", claims_out=True, draws_figures=True)
