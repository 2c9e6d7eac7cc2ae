"""``vppsim game``: its options; what it does is :mod:`vppsim.cli.impl.game` (loaded when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.cli.common import game_options, int_at_least, scenario_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim game`` to the sub-commands."""
    game = sub.add_parser("game", help="solve the day-ahead bi-level game alone")
    scenario_argument(game)
    game_options(game)
    which = game.add_mutually_exclusive_group()
    which.add_argument("--day", type=int, default=None, help="which day of the horizon (default 0)")
    which.add_argument("--days", type=int_at_least(1), default=None,
                       help="solve N days in a row, each starting where the day before ended "
                       "(battery and VPO storage SoC, generator output); default: one day")
    game.add_argument("--out", type=Path, default=None,
                      help="result folder (default: results/<scenario>-game-<timestamp>)")
    game.add_argument("--compare", action="store_true",
                      help="also run the other metaheuristics and write comparison.md "
                      "(Model 1 vs Model 2, paper 004 Table 4 style)")
    game.add_argument("--no-reference", action="store_true",
                      help="skip the exact reference (the certificate then has no VPO regret)")
    game.add_argument("--quiet", action="store_true", help="write the folder, print nothing")
    game.set_defaults(impl="vppsim.cli.impl.game:run", claims_out=True)
