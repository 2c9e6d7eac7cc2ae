"""``vppsim scenarios``: its options; the listing is :mod:`vppsim.cli.impl.scenarios`."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim scenarios`` to the sub-commands."""
    p = sub.add_parser("scenarios", help="list the shipped scenarios and cases with their "
                                         "descriptions")
    p.add_argument("--full", action="store_true",
                   help="the whole description of each, not only its first sentence")
    p.set_defaults(impl="vppsim.cli.impl.scenarios:scenarios")
