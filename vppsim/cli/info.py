"""``vppsim validate`` and ``vppsim feeders``: their options; the work is :mod:`vppsim.cli.impl.info`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim validate`` and ``vppsim feeders`` to the sub-commands."""
    val = sub.add_parser("validate", help="check a scenario file without running it")
    val.add_argument("scenario", type=Path,
                     help="scenario YAML to check (schema, profiles, feeder, buses, tariff)")
    val.set_defaults(impl="vppsim.cli.impl.info:validate")
    feeders_p = sub.add_parser("feeders", help="list the named feeders")
    feeders_p.set_defaults(impl="vppsim.cli.impl.info:feeders")
