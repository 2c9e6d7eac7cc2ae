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


def _scenario_hash(loaded: LoadedScenario) -> str:
    """SHA-256 of the validated scenario (catalogs resolved, overrides applied) and its profiles."""
    h = hashlib.sha256()
    h.update(loaded.scenario.model_dump_json().encode())
    h.update(loaded.profiles.to_csv(index=False).encode())
    return h.hexdigest()


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _check_manifest(out: Path, manifest: dict[str, Any]) -> None:
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
    _write_text(path, json.dumps(manifest, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_parquet(df: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    """Write atomically: a killed run leaves either the whole file or none."""
    tmp = path.with_name(path.name + ".tmp")
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _part_name(kind: str, first: int, last: int) -> str:
    return f"{kind}-{first:06d}-{last:06d}.parquet"


def _scan_parts(parts: Path) -> tuple[list[Path], list[Path], set[int]]:
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


def _read_parts(paths: list[Path], schema: pa.Schema) -> pd.DataFrame:
    if not paths:
        return schema.empty_table().to_pandas()
    return pa.concat_tables([pq.read_table(p, schema=schema) for p in paths]).to_pandas()
