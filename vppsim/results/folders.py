"""Result folders: written into ``<out>.incomplete/`` and renamed to ``<out>`` only when complete.

A folder without that suffix is always complete. If a step fails, what was already written
stays in the ``.incomplete`` folder together with ``error.txt``.
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

INCOMPLETE_SUFFIX = ".incomplete"


def default_out_dir(scenario_name: str, base: Path | None = None) -> Path:
    """``results/<scenario>-<timestamp>`` under ``base`` (default: the working directory)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (base or Path.cwd()) / "results" / f"{scenario_name}-{stamp}"


@contextmanager
def result_folder(out: Path) -> Iterator[Path]:
    """Yield ``out.incomplete`` to write into; rename it to ``out`` only if the block succeeds.

    On failure the folder keeps what was written plus ``error.txt``, and the error propagates.
    """
    out = Path(out)
    work = out.with_name(out.name + INCOMPLETE_SUFFIX)
    if out.exists():
        raise FileExistsError(f"{out} exists; choose another --out or remove it")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        yield work
    except BaseException:
        (work / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        raise
    work.rename(out)
