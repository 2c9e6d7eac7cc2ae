"""``vppsim validate`` and ``vppsim feeders``: check a scenario file, list the named feeders."""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.grids import FEEDERS
from vppsim.scenario.loader import load_scenario


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim validate`` and ``vppsim feeders`` to the sub-commands."""
    val = sub.add_parser("validate", help="check a scenario file without running it")
    val.add_argument("scenario", type=Path,
                     help="scenario YAML to check (schema, profiles, feeder, buses, tariff)")
    val.set_defaults(func=validate)
    feeders_p = sub.add_parser("feeders", help="list the named feeders")
    feeders_p.set_defaults(func=feeders)


def validate(args: argparse.Namespace) -> int:
    """Load and check the scenario; print a one-line description."""
    loaded = load_scenario(args.scenario)
    s = loaded.scenario
    print(f"{args.scenario}: valid ({len(s.vpps)} VPPs, "
          f"{sum(len(v.members) for v in s.vpps)} members, feeder {s.feeder.name}, "
          f"{s.days} day(s) of {s.step_h} h steps)")
    return 0


def feeders(args: argparse.Namespace) -> int:
    """Print the named feeders and their sources."""
    for name, feeder in FEEDERS.items():
        print(f"{name:10s} {feeder.description}")
    return 0
