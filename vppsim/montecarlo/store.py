"""The folder of a Monte Carlo batch: manifest, Parquet parts, atomic writes, resume."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vppsim.scenario.loader import LoadedScenario

MANIFEST = "manifest.json"


PARTS = "parts"


#: manifest fields that must match for a re-run to resume a folder
GUARDED = ("scenario_sha256", "seed", "n_samples", "power_flow_backend", "days")


class ManifestMismatchError(ValueError):
    """The output folder holds a different batch (scenario, seed, size or backend)."""


def scenario_sha256(loaded: LoadedScenario) -> str:
    """SHA-256 of the validated scenario (catalogs resolved, overrides applied) and its profiles."""
    h = hashlib.sha256()
    h.update(loaded.scenario.model_dump_json().encode())
    h.update(loaded.profiles.to_csv(index=False).encode())
    return h.hexdigest()


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None if it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def check_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Create ``out`` with its manifest, or check that it holds this batch (to resume it).

    Raises
    ------
    ManifestMismatchError
        ``out`` holds another batch, or is a non-empty folder that is not a batch.
    """
    path = out / MANIFEST
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        diffs = [f"{k}: folder has {old.get(k)!r}, this run {manifest[k]!r}"
                 for k in GUARDED if old.get(k) != manifest[k]]
        if diffs:
            raise ManifestMismatchError(
                f"{out} holds a different Monte Carlo batch ({'; '.join(diffs)}); "
                "choose another --out or remove the folder")
        return
    if out.exists() and any(out.iterdir()):
        raise ManifestMismatchError(
            f"{out} exists and is not a Monte Carlo folder (no {MANIFEST}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(manifest, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_parquet(df: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    """Write atomically: a killed run leaves either the whole file or none."""
    tmp = path.with_name(path.name + ".tmp")
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_frame(df: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame to Parquet atomically (pandas' own schema)."""
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def part_name(kind: str, first: int, last: int) -> str:
    """File name of one chunk's part: ``<kind>-<first>-<last>.parquet``."""
    return f"{kind}-{first:06d}-{last:06d}.parquet"


def scan_parts(parts: Path) -> tuple[list[Path], list[Path], set[int]]:
    """Existing (sample parts, step parts, done samples); removes leftovers of a killed write."""
    for tmp in parts.glob("*.tmp"):
        tmp.unlink()
    sample_parts = sorted(parts.glob("samples-*.parquet"))
    step_parts = []
    for p in sorted(parts.glob("steps-*.parquet")):
        if (parts / p.name.replace("steps-", "samples-", 1)).exists():
            step_parts.append(p)
        else:  # its chunk was killed between the two writes: recomputed below
            p.unlink()
    done: set[int] = set()
    for p in sample_parts:
        done.update(int(s) for s in pq.read_table(p, columns=["sample"]).column(0).to_pylist())
    return sample_parts, step_parts, done


def read_parts(paths: list[Path], schema: pa.Schema) -> pd.DataFrame:
    """The parts concatenated (an empty table of ``schema`` without parts)."""
    if not paths:
        return schema.empty_table().to_pandas()
    return pa.concat_tables([pq.read_table(p, schema=schema) for p in paths]).to_pandas()
