"""``vppsim equilibria``: its options; what it does is :mod:`vppsim.cli.impl.equilibria`.

``vppsim equilibria [SCENARIO] --sweep FIELD=v1,v2,...``: for every value, the day's game with
the chosen solver, the centralized LP (the exact system-cost bound) and, with ``--mpec`` (or
the ``vpo_profit`` objective), the MPEC; the points run in parallel on Dask.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.cli.common import game_options, int_at_least, positive_number, scenario_argument
from vppsim.market.sweep import SWEEP_FIELDS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim equilibria`` to the sub-commands."""
    p = sub.add_parser("equilibria", help="sweep a market parameter and solve the game at each value")
    scenario_argument(p)
    p.add_argument("--sweep", required=True, metavar="FIELD=v1,v2,...",
                   help="the field to move and its values; FIELD one of: "
                   + "; ".join(f"{k} ({f.description})" for k, f in SWEEP_FIELDS.items()))
    game_options(p, per=" per point")
    p.add_argument("--day", type=int, default=0, help="which day of the horizon (default 0)")
    p.add_argument("--mpec", action="store_true",
                   help="also solve the MPEC (the VPO's exact optimum) at every point; about "
                   "0.5 s each on the default day, 7 s on the 6-VPP day (always done for "
                   "--objective vpo_profit)")
    p.add_argument("--mpec-time-limit", type=positive_number, default=None, metavar="S",
                   help="time limit of each MPEC, s (default: market.game.reference_time_limit_s)")
    p.add_argument("--robust", action="store_true",
                   help="also compute the epsilon-incentive (the VPO's guaranteed profit) at "
                   "every point; about 1-2 s more per point")
    p.add_argument("--workers", type=int_at_least(0), default=None,
                   help="Dask worker processes (default: one per core, at most one per point; "
                   "0: no cluster, the points one after the other); results do not depend on it")
    p.add_argument("--out", type=Path, default=None,
                   help="result folder (default: results/<scenario>-equilibria-<timestamp>)")
    p.add_argument("--quiet", action="store_true", help="write the folder, print nothing")
    p.set_defaults(impl="vppsim.cli.impl.equilibria:run", claims_out=True)
