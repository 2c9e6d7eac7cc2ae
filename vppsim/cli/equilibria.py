"""``vppsim equilibria``: its options; what it does is :mod:`vppsim.cli.impl.equilibria`.

``vppsim equilibria [SCENARIO] --sweep FIELD=v1,v2,...``: for every value, the day's game with
the chosen solver, the centralized LP (the exact system-cost bound) and, with ``--mpec`` (or
the ``vpo_profit`` objective), the MPEC; the points run in parallel on Dask.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.cli.common import positive_number, scenario_argument, seed_int
from vppsim.market.solvers import GAME_SOLVERS, OBJECTIVES
from vppsim.market.sweep import SWEEP_FIELDS


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
    p.add_argument("--robust", action="store_true",
                   help="also compute the epsilon-incentive (the VPO's guaranteed profit) at "
                   "every point; about 1-2 s more per point")
    p.add_argument("--workers", type=_workers, default=None,
                   help="Dask worker processes (default: one per core, at most one per point; "
                   "0: no cluster, the points one after the other); results do not depend on it")
    p.add_argument("--out", type=Path, default=None,
                   help="result folder (default: results/<scenario>-equilibria-<timestamp>)")
    p.add_argument("--quiet", action="store_true", help="write the folder, print nothing")
    p.set_defaults(impl="vppsim.cli.impl.equilibria:run", claims_out=True)
