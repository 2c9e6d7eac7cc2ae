"""Long horizons: a run stepped day by day, its tables streamed to Parquet, resumable by day.

``vppsim run`` of more than one day (docs/design.md "Long runs") keeps, inside its staging
folder ``OUT.incomplete``, a folder ``.horizon/`` with

- ``run.json``: what the run is (scenario hash, seed, days, baseline or not); a re-run into the
  same ``--out`` resumes only if these match;
- ``<model>/parts/<table>/day-NNNNN.parquet``: each finished day's rows of the model's tables
  (``timeseries``, ``model``, ``bus_injections``, ``bus_voltages``), dropped from memory once
  written;
- ``<model>/checkpoint.pkl``: the whole model after its last finished day (battery states,
  generator outputs, random streams), written atomically, so a killed run continues from
  there and ends with the same tables as an uninterrupted one. A cold-started power flow
  (``warm_start=False``, the model's default) keeps no state between steps: it is left out
  and the resumed run uses the one it builds from the same scenario (a SimBench feeder's net
  would be most of the checkpoint: 22 MB and 0.2 s per day for the MV year).

``<model>`` is ``main`` (the coordinated run) or ``baseline``. The folder is removed when
the result folder is published.
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import simpy
from tqdm import tqdm

from vppsim.collector import MODEL_REPORTERS, STREAMED_TABLES, StepCollector
from vppsim.grids import PowerFlow
from vppsim.model import VPPModel
from vppsim.results.folders import HORIZON_DIR, RESUME_FILE
from vppsim.scenario.loader import LoadedScenario

CHECKPOINT = "checkpoint.pkl"


def run_identity(loaded: LoadedScenario, seed: int | None, baseline: bool) -> dict[str, Any]:
    """What a resumed run must share with the run it continues (``run.json``).

    The scenario hash covers the validated scenario (days included) and its profiles' values.
    """
    h = hashlib.sha256(loaded.scenario.model_dump_json().encode())
    h.update(pd.util.hash_pandas_object(loaded.profiles, index=True).to_numpy().tobytes())
    h.update(",".join(map(str, loaded.profiles.columns)).encode())
    return {"scenario": loaded.scenario.name, "scenario_sha256": h.hexdigest(),
            "seed": loaded.scenario.seed if seed is None else int(seed),
            "days": loaded.scenario.days, "baseline": bool(baseline)}


def resume_mismatch(work: Path, identity: dict[str, Any]) -> list[str]:
    """The fields of ``run.json`` in ``work`` that differ from ``identity`` (empty: resumable)."""
    path = work / RESUME_FILE
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["run.json (unreadable)"]
    return [f"{k} (folder: {old.get(k)!r}, now: {v!r})" for k, v in identity.items()
            if k != "scenario_sha256" and old.get(k) != v] + (
        ["scenario_sha256 (the scenario file or its profiles changed)"]
        if old.get("scenario_sha256") != identity["scenario_sha256"] else [])


def start_store(work: Path, identity: dict[str, Any]) -> None:
    """Write ``run.json`` into ``work/.horizon`` (a fresh streamed run)."""
    (work / HORIZON_DIR).mkdir(parents=True, exist_ok=True)
    _atomic_write(work / RESUME_FILE, (json.dumps(identity, indent=2) + "\n").encode())


# ---------------------------------------------------------------------- checkpoints
def _rebuild_store(env: simpy.Environment, capacity: float, items: list[Any]) -> simpy.Store:
    store = simpy.Store(env, capacity)
    store.items = list(items)
    return store


def _reduce_env(env: simpy.Environment) -> tuple[Any, tuple[float]]:
    # between steps the message bus's processes have all finished; what may stay queued are
    # inert events (no callbacks) at or before ``now``
    if any(e[3].callbacks for e in env._queue):
        raise RuntimeError("cannot checkpoint the model while messages are under way")
    return simpy.Environment, (env.now,)


def _reduce_store(store: simpy.Store) -> tuple[Any, tuple[Any, ...]]:
    if store.put_queue or store.get_queue:
        raise RuntimeError("cannot checkpoint the model while a message inbox is waited on")
    return _rebuild_store, (store._env, store._capacity, store.items)


def _rebuild_collector(state: dict[str, Any]) -> StepCollector:
    collector = StepCollector.__new__(StepCollector)
    collector.__dict__.update(state, model_reporters=dict(MODEL_REPORTERS))
    return collector


def _reduce_collector(collector: StepCollector) -> tuple[Any, tuple[dict[str, Any]]]:
    # the reporters are the module's functions (lambdas among them): restored by reference
    state = {k: v for k, v in collector.__dict__.items() if k != "model_reporters"}
    return _rebuild_collector, (state,)


class _Pickler(pickle.Pickler):
    """Pickles a model: simpy's environment by its clock, the collector without its reporters."""

    dispatch_table = {**copyreg.dispatch_table, simpy.Environment: _reduce_env,
                      simpy.Store: _reduce_store, StepCollector: _reduce_collector}



def dump_model(model: VPPModel) -> bytes:
    """The model as bytes (its collector should be empty: :meth:`StepCollector.take_frames`).

    A cold-started power flow (no state between steps) is left out: :func:`load_model` takes
    the one to put back.
    """
    network = model.network
    flow = network.power_flow
    if not flow.backend.warm_start:
        network.power_flow = None
    try:
        buf = io.BytesIO()
        _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(model)
    finally:
        network.power_flow = flow
    return buf.getvalue()


def load_model(data: bytes, power_flow: PowerFlow | None = None) -> VPPModel:
    """A model from :func:`dump_model`'s bytes.

    ``power_flow``: the power flow of a model built from the same scenario, put in place of a
    cold-started one the checkpoint left out; without it the model comes back without its power
    flow (``None``: enough to read its clock, not to step it).
    """
    model = pickle.loads(data)
    if model.network.power_flow is None:
        model.network.power_flow = power_flow
    return model


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------- the day loop
def run_by_day(model: VPPModel, store: Path, progress: bool = False,
               label: str | None = None) -> VPPModel:
    """Step ``model`` to the end of its horizon day by day, streaming its tables to ``store``.

    If ``store`` holds a checkpoint, the model saved there (after its last finished day)
    replaces ``model`` and the run continues from the next day. After each day the day's
    rows go to ``store/parts/<table>/day-NNNNN.parquet`` and the model to
    ``store/checkpoint.pkl``. Returns the finished model with the streamed tables read back
    (``model.timeseries()`` etc. give the whole horizon).
    """
    store.mkdir(parents=True, exist_ok=True)
    ckpt = store / CHECKPOINT
    if ckpt.is_file():
        model = load_model(ckpt.read_bytes(), model.network.power_flow)
    spd = model.steps_per_day
    days = model.n_steps // spd
    first = model.t // spd
    # no tqdm object without a bar: its lock is a multiprocessing semaphore, which a forked
    # baseline (vppsim.forked) would leave behind at its os._exit (a resource_tracker warning)
    bar = (tqdm(total=days, initial=first, desc=label or model.scenario.name, unit="day",
                leave=False) if progress else None)
    try:
        for day in range(first, days):
            for _ in range(spd):
                model.step()
            frames = model.datacollector.take_frames(spd, model.step_h)
            for table, frame in frames.items():
                folder = store / "parts" / table
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f"day-{day:05d}.parquet.tmp"
                frame.to_parquet(tmp, index=False)
                os.replace(tmp, folder / f"day-{day:05d}.parquet")
            _atomic_write(ckpt, dump_model(model))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    model.datacollector.adopt(read_parts(store, days))
    return model


def read_parts(store: Path, days: int) -> dict[str, pd.DataFrame]:
    """The streamed tables of days ``0..days-1``, concatenated in day order."""
    out = {}
    for table in STREAMED_TABLES:
        files = [store / "parts" / table / f"day-{d:05d}.parquet" for d in range(days)]
        frames = [pd.read_parquet(f) for f in files]
        out[table] = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return out


def save_finished_days(store: Path, work: Path) -> int:
    """Write the finished days' time series to ``work/timeseries.parquet`` (a stopped run).

    The parts stay where they are, for the run that resumes. Returns the number of days.
    """
    files = sorted((store / "parts" / "timeseries").glob("day-*.parquet"))
    if files:
        pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).to_parquet(
            work / "timeseries.parquet", index=False)
    return len(files)

