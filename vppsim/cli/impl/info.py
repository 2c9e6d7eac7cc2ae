"""``vppsim validate`` and ``vppsim feeders``: check a scenario file, list the named feeders."""

from __future__ import annotations

import argparse

from vppsim.cli.common import report
from vppsim.grids import FEEDERS
from vppsim.scenario.loader import load_scenario


def validate(args: argparse.Namespace) -> int:
    """Load and check the scenario; print a one-line description.

    An invalid file raises :class:`vppsim.scenario.schema.ScenarioError` (exit 2, the problems
    on stderr, also with ``--json``).
    """
    loaded = load_scenario(args.scenario)
    s = loaded.scenario
    members = sum(len(v.members) for v in s.vpps)
    report(args, {"valid": True, "scenario": str(args.scenario), "name": s.name,
                  "vpps": len(s.vpps), "members": members, "feeder": s.feeder.name,
                  "days": s.days, "step_h": s.step_h, "errors": []})
    if not args.quiet:
        print(f"{args.scenario}: valid ({len(s.vpps)} VPPs, {members} members, feeder "
              f"{s.feeder.name}, {s.days} day(s) of {s.step_h} h steps)")
    return 0


def feeders(args: argparse.Namespace) -> int:
    """Print the named feeders and their sources."""
    report(args, [{"name": name, "description": feeder.description}
                  for name, feeder in FEEDERS.items()])
    if not args.quiet:
        for name, feeder in FEEDERS.items():
            print(f"{name:10s} {feeder.description}")
    return 0
