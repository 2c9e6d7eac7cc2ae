"""The folder of a Monte Carlo batch: manifest, Parquet parts, atomic writes, lock, resume."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vppsim.results.folders import FolderLock
from vppsim.scenario.loader import LoadedScenario

MANIFEST = "manifest.json"


PARTS = "parts"

#: the lock file of a folder a run is writing (``flock``; holds the writer's pid)
LOCK = ".lock"


#: manifest fields that must match for a re-run to resume a folder
GUARDED = ("scenario_sha256", "seed", "n_samples", "power_flow_backend", "days")


class ManifestMismatchError(ValueError):
    """The output folder holds a different batch (scenario, seed, size or backend)."""


class FolderNotWritableError(ManifestMismatchError):
    """The output folder cannot be written (a file, or a folder without write permission)."""


class FolderLockedError(ManifestMismatchError):
    """Another live run is writing the output folder (it holds the folder's lock)."""


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
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ManifestMismatchError(
                f"{path} is not readable JSON ({type(exc).__name__}: {exc}); remove the folder "
                "or choose another --out") from exc
        if not isinstance(old, dict):
            raise ManifestMismatchError(
                f"{path}: expected a JSON object, got {type(old).__name__}; remove the folder "
                "or choose another --out")
        diffs = [f"{k}: folder has {old.get(k)!r}, this run {manifest[k]!r}"
                 for k in GUARDED if old.get(k) != manifest[k]]
        if diffs:
            raise ManifestMismatchError(
                f"{out} holds a different Monte Carlo batch ({'; '.join(diffs)}); "
                "choose another --out or remove the folder")
        return
    _check_not_foreign(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(manifest, indent=2) + "\n")


def _check_not_foreign(out: Path) -> None:
    """Refuse a non-empty folder without a manifest (its lock file alone does not count)."""
    try:
        foreign = (out.is_dir() and not (out / MANIFEST).exists()
                   and any(p.name != LOCK for p in out.iterdir()))
    except OSError as exc:
        raise _not_writable(out, exc) from exc
    if foreign:
        raise ManifestMismatchError(
            f"{out} exists and is not a Monte Carlo folder (no {MANIFEST}); choose another --out")


@contextlib.contextmanager
def locked_folder(out: Path) -> Iterator[Path]:
    """Create ``out`` if needed, check it is writable, and hold its lock while the block runs.

    The lock is ``flock(OUT/.lock, LOCK_EX | LOCK_NB)``; the kernel releases it when the
    process ends, however it ends, so a folder left by a killed run is resumable at once. The
    lock file holds the writer's pid (for the message); it is removed when the run ends
    (:class:`vppsim.results.folders.FolderLock`).

    Raises
    ------
    FolderNotWritableError
        ``out`` is a file, or it (or its parent) cannot be written.
    FolderLockedError
        Another live run holds the lock.
    ManifestMismatchError
        ``out`` is a non-empty folder that is not a Monte Carlo folder.
    """
    _check_not_foreign(out)
    create_folder(out)
    lock = FolderLock(out / LOCK)
    try:
        locked = lock.acquire()
    except OSError as exc:
        raise _not_writable(out, exc) from exc
    if not locked:
        raise FolderLockedError(
            f"another run (pid {lock.holder()}) is writing {out}; wait for it to end or choose "
            "another --out")
    try:
        _probe_writable(out)
        yield out
    finally:
        lock.release()


def create_folder(out: Path) -> None:
    """Create ``out`` (and its parents) if needed.

    Raises
    ------
    FolderNotWritableError
        ``out`` is a file, or it cannot be created.
    """
    if out.exists() and not out.is_dir():
        raise FolderNotWritableError(f"{out} is a file; expected a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_writable(out, exc) from exc


def _not_writable(out: Path, exc: OSError) -> FolderNotWritableError:
    return FolderNotWritableError(f"{out}: cannot write there ({type(exc).__name__}: "
                             f"{exc.strerror or exc}); expected a writable folder")


def _probe_writable(out: Path) -> None:
    """Create and remove a file in ``out`` (an existing lock file proves nothing)."""
    probe = out / f".write-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _not_writable(out, exc) from exc


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_parquet(df: pd.DataFrame, path: Path, schema: pa.Schema) -> str:
    """Write atomically (a killed run leaves either the whole file or none); its SHA-256."""
    tmp = path.with_name(path.name + ".tmp")
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    pq.write_table(table, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    os.replace(tmp, path)
    return digest


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
