"""What the sub-commands share: exit codes and the scenario argument."""

from __future__ import annotations

import argparse
from pathlib import Path

#: exit code of bad input (an invalid scenario file or option); 1 is a failure while running
EXIT_BAD_INPUT = 2


def scenario_argument(parser: argparse.ArgumentParser, what: str = "scenario YAML") -> None:
    """The optional positional scenario path (default: the shipped default scenario)."""
    parser.add_argument("scenario", nargs="?", type=Path, default=None,
                        help=f"{what} (default: the shipped liu2025_3vpp.yaml)")
