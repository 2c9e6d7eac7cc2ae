"""What the benchmark scripts share: ``--quick``, where their table goes, a progress bar.

``python benchmarks/NAME.py --quick`` runs a small case in under 30 s and prints the same
table (fewer rows, smaller budgets); it writes nothing to ``benchmarks/results/``, which keeps
the full runs' tables, unless ``--out`` says where. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

#: the full runs' tables
RESULTS = Path(__file__).resolve().parent / "results"


def add_quick(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--quick`` (``what``: the small case) to a benchmark's options."""
    parser.add_argument("--quick", action="store_true",
                        help=f"a small case in under 30 s ({what}): the same table, printed "
                        "only (benchmarks/results/ keeps the full run's)")


def table_path(quick: bool, name: str, out: Path | None = None) -> Path | None:
    """Where to write the table: ``out``, else ``benchmarks/results/NAME`` (None with --quick)."""
    if out is not None:
        return out
    return None if quick else RESULTS / name


def write_table(text: str, path: Path | None) -> None:
    """Write ``text`` to ``path`` (nothing if None) and say where."""
    if path is None:
        print("(--quick: not written to benchmarks/results/)", file=sys.stderr)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """``items`` with a tqdm bar on stderr."""
    return iter(tqdm(items, desc=desc, total=total, file=sys.stderr, leave=False))
