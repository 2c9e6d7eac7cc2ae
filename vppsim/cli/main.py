"""Command line: ``vppsim run``, ``validate``, ``game``, ``montecarlo``, ``allocate``, ``uc``, ``feeders``.

Each sub-command has a light module with ``add_parser(sub)``, which registers its options and
names its implementation (``set_defaults(impl="vppsim.cli.impl.run:run")``); the
implementation (:mod:`vppsim.cli.impl`) is imported only when the command runs, after the
options are checked and an explicit ``--out`` is claimed (``claims_out=True``), so bad input
answers in well under a second without loading pandapower, Mesa or the solvers. Exit codes:
0 success, 2 bad input (scenario file, options, an output folder that exists, is busy or is
not writable), 1 a failure while running, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout

from vppsim import __version__
from vppsim.cli import (
    allocate,
    dashboard,
    equilibria,
    forecast,
    game,
    info,
    montecarlo,
    pareto,
    run,
    scenario,
    scenarios,
    uc,
)
from vppsim.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    output_options,
    print_json,
)
from vppsim.results.figures import FigureDrawing
from vppsim.results.folders import OutputFolderError, ResultFolder
from vppsim.scenario.schema import ScenarioError
from vppsim.startup import imports_without_gc, interrupt_of

COMMANDS = (run, info, scenarios, game, equilibria, montecarlo, allocate, uc, forecast, pareto,
            scenario, dashboard)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that runs stop as on Ctrl-C (and keep their parts)."""


class CommandsFormatter(argparse.HelpFormatter):
    """argparse's help layout with room for the longest command name beside its purpose."""

    def add_argument(self, action: argparse.Action) -> None:
        """As argparse, and widen the name column to the sub-commands' names."""
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            longest = max(len(name) for name in action.choices)
            self._action_max_length = max(self._action_max_length, longest + 6)


def build_parser() -> argparse.ArgumentParser:
    """The ``vppsim`` parser with every sub-command."""
    p = argparse.ArgumentParser(
        prog="vppsim", description="Agent-based co-simulation of virtual power plants.",
        epilog="Every command takes --quiet (nothing on stdout) and --json (one JSON summary on "
        "stdout); exit codes: 0 done, 1 failed while running, 2 bad input.",
        formatter_class=CommandsFormatter)
    p.add_argument("--version", action="version", version=f"vppsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands (vppsim COMMAND --help for its options)")
    for command in COMMANDS:
        command.add_parser(sub)
    for leaf in leaf_parsers(p).values():
        output_options(leaf)  # --quiet and --json on every command
    return p


def leaf_parsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command's own parser by its words (``"run"``, ``"scenario from-feeder"``)."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(leaf_parsers(sub, f"{prefix}{name} "))
    return out or {prefix.strip(): parser}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an unknown option is reported by the sub-command's parser (its usage)."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(extras)}")
    return args


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread."""
    def _terminate(signum: int, frame: object) -> None:
        raise Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_command(args: argparse.Namespace) -> int:
    """Claim an explicit ``--out`` (if the command writes one), then run the implementation.

    The claimed folder reaches the implementation as ``args.folder`` (None: it claims its
    default folder itself); whatever happens, a claim that was not published or failed is
    released and its empty staging folder removed. A command that draws figures
    (``draws_figures``) gets a :class:`vppsim.results.figures.FigureDrawing` forked before
    its implementation is imported, as ``args.drawing`` (None with ``--no-figures``).
    """
    args.folder, args.drawing = None, None
    if getattr(args, "claims_out", False) and args.out is not None:
        args.folder = ResultFolder.claim(args.out)
    try:
        if getattr(args, "draws_figures", False) and not getattr(args, "no_figures", False):
            # forked before the implementation's imports (Linux): matplotlib loads beside them
            args.drawing = FigureDrawing()
        module, function = args.impl.split(":")
        with imports_without_gc():  # (see vppsim.startup)
            impl = getattr(importlib.import_module(module), function)
        if not getattr(args, "json", False):
            return int(impl(args))
        # --json: the command runs quiet, anything it still prints goes to stderr, and its
        # summary (vppsim.cli.common.report) is the only thing on stdout
        args.quiet, args.summary, args.stdout = True, None, sys.stdout
        with redirect_stdout(sys.stderr):
            code = int(impl(args))
        if code == 0 and args.summary is not None:  # (the dashboard prints its address itself)
            print_json(args.summary)
        return code
    finally:
        if args.drawing is not None:
            args.drawing.close()  # a child that drew nothing (the command failed first)
        if args.folder is not None:
            args.folder.discard()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vppsim`` console script."""
    try:
        args = parse_args(argv)  # inside: a Ctrl-C while the parser is built is a clean stop
        with _sigterm_raises():
            return run_command(args)
    except ScenarioError as exc:
        print(f"vppsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OutputFolderError as exc:
        print(f"vppsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, ImportError) as exc:
        # (an ImportError: a Ctrl-C or SIGTERM while a compiled extension of the command's
        # implementation initializes, after the handler above is in place)
        stop = interrupt_of(exc)
        if stop is None:
            raise
        return _stopped(stop)


def _stopped(exc: KeyboardInterrupt) -> int:
    """Say that the command was interrupted or terminated; its exit code."""
    terminated = isinstance(exc, Terminated)
    print(f"vppsim: {'terminated (SIGTERM)' if terminated else 'interrupted'}; "
          "what was written so far is kept", file=sys.stderr)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
