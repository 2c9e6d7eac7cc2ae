"""``vppsim validate`` and ``vppsim feeders``: check a scenario file, list the named feeders."""

from __future__ import annotations

import argparse

from vppsim.grids import FEEDERS
from vppsim.scenario.loader import load_scenario


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
