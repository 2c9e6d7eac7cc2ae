"""What the sub-commands share: exit codes, the scenario argument, checked option types."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from vppsim.market.solvers import GAME_SOLVERS, OBJECTIVES
from vppsim.results.folders import ResultFolder, claim
from vppsim.scenario.schema import ScenarioError

#: exit code of bad input (an invalid scenario file or option); 1 is a failure while running
EXIT_BAD_INPUT = 2
#: exit codes of a run stopped by Ctrl-C (SIGINT) and by SIGTERM: 128 + the signal number
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: seeds are integers in [0, 2**63): what numpy's SeedSequence and every generator accept
SEED_MAX = 2**63 - 1


def scenario_argument(parser: argparse.ArgumentParser, what: str = "scenario YAML") -> None:
    """The optional positional scenario path (default: the shipped default scenario)."""
    parser.add_argument("scenario", nargs="?", type=Path, default=None,
                        help=f"{what} (default: the shipped liu2025_3vpp.yaml)")


def folder_options(parser: argparse.ArgumentParser, impl: str, default_folder: str,
                   figures: str | None = "the PNG figures") -> None:
    """The options of a command that writes one result folder, and its ``impl``.

    ``--out``, ``--no-figures`` (unless ``figures`` is None) and ``--quiet``; ``impl`` is the
    command's implementation, ``module:function``.
    """
    parser.add_argument("--out", type=Path, default=None,
                        help=f"result folder (default: {default_folder})")
    if figures is not None:
        parser.add_argument("--no-figures", action="store_true", help=f"skip {figures}")
    output_options(parser, quiet_help="write the folder, print nothing")
    parser.set_defaults(impl=impl, claims_out=True)


#: ``--quiet`` where a command gives no help text of its own
QUIET_HELP = "print nothing on stdout (the exit code tells)"
#: ``--json``
JSON_HELP = ("print one JSON object (the command's summary) on stdout and nothing else; "
             "progress and messages go to stderr or are off")


def output_options(parser: argparse.ArgumentParser, quiet_help: str = QUIET_HELP) -> None:
    """Add ``--quiet`` and ``--json`` to ``parser``, each unless it has it already.

    ``vppsim.cli.main`` calls it on every sub-command, so every command has both.
    """
    have = {s for a in parser._actions for s in a.option_strings}
    if "--quiet" not in have:
        parser.add_argument("--quiet", action="store_true", help=quiet_help)
    if "--json" not in have:
        parser.add_argument("--json", action="store_true", help=JSON_HELP)


def report(args: argparse.Namespace, summary: dict[str, Any] | list[Any]) -> None:
    """Hand the command's machine-readable summary to the dispatcher (printed by ``--json``)."""
    args.summary = summary


def folder_summary(final: Path, **extra: Any) -> dict[str, Any]:
    """A result folder's ``summary.json`` (if it has one), ``extra`` and ``"out"``: its path."""
    path = Path(final) / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {**summary, **extra, "out": str(final)}


def _strict(value: Any) -> Any:
    """``value`` with NaN and infinities as None (strict JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def print_json(summary: dict[str, Any] | list[Any] | None, stream: TextIO | None = None) -> None:
    """The one place that prints a ``--json`` summary: one JSON value, one line, on stdout.

    NaN and infinities (in some ``summary.json`` files) become ``null``. ``stream``: where
    stdout was before ``vppsim.cli.main`` sent a ``--json`` command's own output to stderr
    (``args.stdout``; default: stdout now).
    """
    print(json.dumps(_strict({} if summary is None else summary), default=str,
                     allow_nan=False), file=stream or sys.stdout, flush=True)


def seed_int(text: str) -> int:
    """An argparse type: a seed, an integer 0 <= seed < 2**63."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer 0..2**63-1, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer 0..2**63-1, got {value}")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum`` (a clear message otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    return parse


def game_options(parser: argparse.ArgumentParser, per: str = "") -> None:
    """Add the game's ``--solver``, ``--objective``, ``--budget`` and ``--seed`` options.

    ``per`` qualifies the budget and the seed (e.g. ``" per point"``).
    """
    parser.add_argument("--solver", choices=list(GAME_SOLVERS), default=None,
                        help="default: the scenario's market.game.solver")
    parser.add_argument("--objective", choices=list(OBJECTIVES), default=None,
                        help="default: the scenario's market.game.objective")
    parser.add_argument("--budget", type=int, default=None,
                        help=f"objective evaluations{per} (default: the scenario's "
                        "market.game.budget)")
    parser.add_argument("--seed", type=seed_int, default=None,
                        help=f"an integer 0..2**63-1{per and ', the same at every point'} "
                        "(default: the scenario's seed)")


def positive_number(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


@contextmanager
def claimed(folder: ResultFolder) -> Iterator[ResultFolder]:
    """Release ``folder`` if the block fails: bad input leaves nothing, a failure ``error.txt``."""
    try:
        yield folder
    except ScenarioError:
        folder.discard()
        raise
    except BaseException as exc:
        folder.fail(exc)
        raise


@contextmanager
def stages(args: argparse.Namespace, desc: str, total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr over a command's ``total`` stages (off with --quiet and --json).

    For work without a finer hook (one MILP, one game): ``stage(name)`` starts the next
    stage, so the bar shows the stages done, the current one's name and the time elapsed.
    """
    bar = tqdm(total=total, desc=desc, unit="stage", disable=bool(getattr(args, "quiet", False)),
               leave=False, file=sys.stderr)
    started = False

    def stage(name: str) -> None:
        nonlocal started
        if started:
            bar.update()
        started = True
        bar.set_postfix_str(name)

    try:
        yield stage
    finally:
        bar.close()


def output_folder(args: argparse.Namespace, default: Path) -> ResultFolder:
    """The folder claimed for ``--out`` by ``vppsim.cli.main`` (``args.folder``), else a claim.

    Without ``args.folder`` (a caller that skips the dispatcher): ``--out`` itself, or a free
    folder beside ``default``.
    """
    folder = getattr(args, "folder", None)
    return folder if folder is not None else claim(args.out, default)
