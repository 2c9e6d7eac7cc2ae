"""Command line: ``vppsim run``, ``validate``, ``game``, ``montecarlo``, ``allocate``, ``feeders``.

Each sub-command lives in its own module with ``add_parser(sub)``, which registers its
options and its function (``set_defaults(func=...)``). Exit codes: 0 success, 2 bad input
(scenario file, options), 1 a failure while running.
"""

from __future__ import annotations

import argparse
import sys

from vppsim import __version__
from vppsim.cli import allocate, game, info, montecarlo, run
from vppsim.cli.common import EXIT_BAD_INPUT
from vppsim.scenario.schema import ScenarioError

COMMANDS = (run, info, game, montecarlo, allocate)


def build_parser() -> argparse.ArgumentParser:
    """The ``vppsim`` parser with every sub-command."""
    p = argparse.ArgumentParser(
        prog="vppsim", description="Agent-based co-simulation of virtual power plants.")
    p.add_argument("--version", action="version", version=f"vppsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vppsim`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ScenarioError as exc:
        print(f"vppsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
