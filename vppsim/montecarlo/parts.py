"""The parts of a Monte Carlo folder: one finished chunk's files, and their check on resume.

A finished chunk ``first..last`` is three files in ``OUT/parts/``, each written atomically and
in this order:

- ``steps-<first>-<last>.parquet``: its per-step series;
- ``samples-<first>-<last>.parquet``: its KPI rows;
- ``chunk-<first>-<last>.json``: its record: the sample ids and the SHA-256 of both parts.

On resume :func:`verify_parts` checks every chunk. With a record, both parts must have its
checksums and the samples part its sample ids. Without one (a folder written before records
existed, or a run killed just before writing it), both parts must be readable with the
expected schema and hold sample ids between ``first`` and ``last``; such a chunk then gets
its record. A chunk that fails is moved to ``OUT/parts/damaged/`` and its samples count as
missing, so the run computes them again.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vppsim.montecarlo.store import file_sha256, part_name, write_parquet, write_text
from vppsim.montecarlo.tables import STEPS_SCHEMA

#: where damaged chunks are moved (inside ``OUT/parts``)
DAMAGED = "damaged"

_CHUNK_FILE = re.compile(r"^(?:samples|chunk)-(\d+)-(\d+)\.(?:parquet|json)$")


def record_name(first: int, last: int) -> str:
    """File name of one chunk's record: ``chunk-<first>-<last>.json``."""
    return f"chunk-{first:06d}-{last:06d}.json"


def write_chunk(parts: Path, first: int, last: int, kpis: pd.DataFrame, steps: pd.DataFrame,
                samples_schema: pa.Schema) -> None:
    """Write one finished chunk: its step part, its samples part, then its record."""
    steps_sha = write_parquet(steps, parts / part_name("steps", first, last), STEPS_SCHEMA)
    samples_sha = write_parquet(kpis, parts / part_name("samples", first, last), samples_schema)
    _write_record(parts, first, last, [int(s) for s in kpis["sample"]], samples_sha, steps_sha)


def _write_record(parts: Path, first: int, last: int, samples: list[int], samples_sha: str,
                  steps_sha: str) -> None:
    record = {"first": first, "last": last, "samples": samples,
              "sha256": {"samples": samples_sha, "steps": steps_sha}}
    write_text(parts / record_name(first, last), json.dumps(record) + "\n")


def verify_parts(parts: Path, samples_schema: pa.Schema) -> list[str]:
    """Check every chunk in ``parts``; move the damaged ones aside; one line per damaged chunk.

    ``samples_schema``: the KPI table's schema (:func:`vppsim.montecarlo.tables.kpi_schema`),
    which a part without a record must be readable with.
    """
    chunks = sorted({(int(m[1]), int(m[2])) for p in parts.iterdir()
                     if (m := _CHUNK_FILE.match(p.name))})
    damaged = []
    for first, last in chunks:
        files = [parts / part_name("samples", first, last), parts / part_name("steps", first, last),
                 parts / record_name(first, last)]
        problem = _check_chunk(parts, first, last, samples_schema)
        if problem is None:
            continue
        (parts / DAMAGED).mkdir(exist_ok=True)
        for f in files:
            if f.exists():
                os.replace(f, parts / DAMAGED / f.name)
        damaged.append(f"samples {first}-{last}: {problem}; moved to {parts / DAMAGED}, "
                       "computed again")
    return damaged


def _check_chunk(parts: Path, first: int, last: int, samples_schema: pa.Schema) -> str | None:
    """What is wrong with a chunk's files (None: sound; a sound chunk lacking a record gets one)."""
    samples = parts / part_name("samples", first, last)
    steps = parts / part_name("steps", first, last)
    record_path = parts / record_name(first, last)
    if not samples.exists():
        return "samples part missing" if record_path.exists() else None  # else: an orphan step part
    if not steps.exists():
        return "steps part missing"
    if record_path.exists():
        return _check_against_record(record_path, samples, steps)
    try:
        ids = [int(s) for s in pq.read_table(samples, schema=samples_schema)
               .column("sample").to_pylist()]
        step_ids = set(pq.read_table(steps, schema=STEPS_SCHEMA).column("sample").to_pylist())
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        return f"unreadable part ({type(exc).__name__}: {exc})"
    if not ids or ids[0] != first or ids[-1] != last or ids != sorted(set(ids)):
        return f"sample ids {ids} do not match the part's name"
    if not step_ids <= set(ids):
        return "the steps part holds samples of another chunk"
    _write_record(parts, first, last, ids, str(file_sha256(samples)), str(file_sha256(steps)))
    return None


def _check_against_record(record_path: Path, samples: Path, steps: Path) -> str | None:
    try:
        record: Any = json.loads(record_path.read_text(encoding="utf-8"))
        expected = dict(record["sha256"])
        ids = [int(s) for s in record["samples"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable chunk record ({type(exc).__name__}: {exc})"
    for kind, path in (("samples", samples), ("steps", steps)):
        if file_sha256(path) != expected.get(kind):
            return f"{kind} part does not match its checksum (damaged or changed)"
    try:
        found = [int(s) for s in pq.read_table(samples, columns=["sample"]).column(0).to_pylist()]
    except (pa.ArrowException, OSError, ValueError) as exc:
        return f"unreadable samples part ({type(exc).__name__}: {exc})"
    if found != ids:
        return f"sample ids {found} differ from the chunk record's {ids}"
    return None
