"""Monte Carlo over forecast uncertainty on Dask (DESIGN.md "Monte Carlo").

One batch is ``n_samples`` realizations of one scenario day:

1. the day-ahead market (prices, committed schedules, VPO storage plan) is cleared **once**,
   in the client, from the forecasts (:class:`vppsim.agents.vpo.ClearedDay`);
2. every sample ``i`` is a fresh :class:`vppsim.model.VPPModel` seeded with
   ``SeedSequence(seed).spawn(n_samples)[i]`` that adopts that cleared day and runs real-time
   balancing, settlement and power flow under its own forecast-error draws;
3. samples run in chunks on Dask workers (a ``distributed.LocalCluster`` with one
   single-threaded process per core by default, or an existing scheduler); the client writes
   each finished chunk at once as Parquet parts, so an interrupted batch resumes where it
   stopped and computes only the missing samples.

A sample's result depends only on the scenario, the cleared day and its own seed, never on
the chunking, the worker count or the order of completion, and the tables are sorted by
sample: the KPI table is bit-for-bit the same on one worker, two workers or a cluster.

Output folder (``out``)::

    manifest.json           what the batch is (scenario hash, seed, n_samples, backend); a
                            re-run with a different batch in the same folder is refused
    parts/samples-<first>-<last>.parquet   KPI rows of one finished chunk
    parts/steps-<first>-<last>.parquet     per-step series of the same chunk
    kpis.parquet            one row per sample, sorted by sample (see KPI_COLUMNS)
    steps.parquet           tidy (sample, agent, quantity, step, value)
    step_quantiles.parquet  per (agent, quantity, step): mean and 5/50/95 % quantiles
    summary.json            n, errors, seed, wall time split, mean/std/5/50/95 % per KPI
    report.md, figures/*.png

KPI table layout (wide, one row per sample): ``sample``, ``seed`` (the integer given to the
sample's model), ``cost_cny__<VPP>`` for every VPP of the scenario (realized cost incl.
imbalance settlement), then the scalar KPIs of :data:`KPI_SCALARS` (the names and units of
``summary.json``, DESIGN.md "Results"), then ``error``: ``None``, or ``"<Type>: <message>"``
for a sample that raised, whose KPIs are then NaN.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vppsim import __version__
from vppsim.montecarlo.chunk import SampleContext, run_chunk
from vppsim.montecarlo.report import MonteCarloResult, _finish
from vppsim.montecarlo.store import (
    PARTS,
    _check_manifest,
    _file_hash,
    _part_name,
    _read_parts,
    _scan_parts,
    _scenario_hash,
    _write_parquet,
)
from vppsim.montecarlo.tables import STEPS_SCHEMA, _kpi_schema
from vppsim.scenario.loader import LoadedScenario

log = logging.getLogger(__name__)


def sample_seeds(seed: int, n_samples: int) -> list[int]:
    """The model seed of every sample: ``SeedSequence(seed).spawn(n)[i].generate_state(1)[0]``.

    Child ``i`` depends only on ``seed`` and ``i``, so sample ``i`` is the same in a batch of
    any size, on any worker.
    """
    children = np.random.SeedSequence(seed).spawn(n_samples)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def _chunks(items: list[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def clear_day_ahead(loaded: LoadedScenario, seed: int) -> dict[int, Any]:
    """Clear the day-ahead market of day 0 once, from the forecasts: ``{0: ClearedDay}``."""
    from vppsim.model import VPPModel

    model = VPPModel(loaded, seed=seed)
    model.step()  # the first step clears the day (DESIGN.md "The co-simulation loop", step 2)
    return dict(model.vpo.cleared)


def batch_scenario(loaded: LoadedScenario, backend: str | None = "lightsim2grid",
                   allocation_gap: bool | None = False) -> LoadedScenario:
    """The scenario as a batch runs it: power-flow backend and per-step exact allocation LP.

    ``allocation_gap``: whether the balanced allocators solve every step's exact LP; ``None``
    (for either argument) keeps the scenario's own setting.
    """
    s = loaded.scenario
    changes: dict[str, Any] = {}
    if backend is not None and backend != s.feeder.power_flow_backend:
        changes["feeder"] = {**s.feeder.model_dump(), "power_flow_backend": backend}
    if allocation_gap is not None and allocation_gap != s.balancing.exact_reference:
        changes["balancing"] = {**s.balancing.model_dump(), "exact_reference": allocation_gap}
    return loaded.with_overrides(**changes) if changes else loaded


def run_montecarlo(
    loaded: LoadedScenario,
    n_samples: int,
    out: str | Path,
    seed: int | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    chunk_size: int | None = None,
    max_samples: int | None = None,
    progress: bool = True,
    power_flow_backend: str | None = "lightsim2grid",
    allocation_gap: bool | None = False,
) -> MonteCarloResult:
    """Run (or resume) a Monte Carlo batch of one scenario day and write its result folder.

    Parameters
    ----------
    loaded:
        A validated one-day scenario (:func:`vppsim.scenario.loader.load_scenario`).
    n_samples:
        Number of forecast-error samples (>= 1).
    out:
        Result folder; if it already holds this batch (same manifest) the batch resumes and
        only the missing samples are computed.
    seed:
        Base seed of ``SeedSequence(seed).spawn(n_samples)``; default: the scenario's seed.
        It also seeds the day-ahead clearing.
    workers:
        Worker processes of the ``LocalCluster`` (default: ``os.cpu_count()``).
    scheduler:
        Address of an existing Dask scheduler (or a ``distributed.Client``) to use instead of a
        ``LocalCluster``; not together with ``workers``.
    chunk_size:
        Samples per Dask task (default: about two tasks per worker, at most 100 samples).
        Results do not depend on it.
    max_samples:
        Stop after computing this many new samples (the batch stays incomplete; a re-run
        resumes it). Meant for tests and for doing a long batch in slices.
    progress:
        A tqdm bar on stderr: samples done, rate and ETA.
    power_flow_backend:
        Power-flow backend of the samples (default ``lightsim2grid``, DESIGN.md "Grids");
        ``None`` keeps the scenario's ``feeder.power_flow_backend``.
    allocation_gap:
        Whether the balanced allocators also solve every step's exact LP to report their gap
        (``allocation_gap_max`` in the KPI table); default off for speed (it about doubles the
        allocation time); ``None`` keeps the scenario's ``balancing.exact_reference``.

    Raises
    ------
    ValueError
        Bad arguments, or a scenario of more than one day.
    ManifestMismatchError
        ``out`` holds a different batch.
    """
    t_start = time.perf_counter()
    if n_samples < 1:
        raise ValueError(f"n_samples: expected an integer >= 1, got {n_samples}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers: expected an integer >= 1, got {workers}")
    if workers is not None and scheduler is not None:
        raise ValueError("expected either workers (a LocalCluster) or scheduler, not both")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size: expected an integer >= 1, got {chunk_size}")
    if max_samples is not None and max_samples < 0:
        raise ValueError(f"max_samples: expected an integer >= 0, got {max_samples}")
    if loaded.scenario.days != 1:
        raise ValueError(
            f"Monte Carlo runs one scenario day; {loaded.path} has days: {loaded.scenario.days} "
            "(set days: 1)")
    loaded = batch_scenario(loaded, power_flow_backend, allocation_gap)
    base_seed = loaded.scenario.seed if seed is None else int(seed)
    out = Path(out)
    vpp_names = tuple(v.name for v in loaded.scenario.vpps)
    manifest = {
        "kind": "vppsim-montecarlo",
        "scenario": loaded.scenario.name,
        "scenario_file": str(loaded.path),
        "scenario_file_sha256": _file_hash(loaded.path),
        "scenario_sha256": _scenario_hash(loaded),
        "seed": base_seed,
        "n_samples": int(n_samples),
        "days": loaded.scenario.days,
        "power_flow_backend": loaded.scenario.feeder.power_flow_backend,
        "seeds": "SeedSequence(seed).spawn(n_samples)[i].generate_state(1)[0]",
        "vppsim_version": __version__,
    }
    _check_manifest(out, manifest)
    parts = out / PARTS
    parts.mkdir(exist_ok=True)
    _, _, done = _scan_parts(parts)
    seeds = sample_seeds(base_seed, n_samples)
    missing = [(i, seeds[i]) for i in range(n_samples) if i not in done]
    if max_samples is not None:
        missing = missing[:max_samples]

    wall = {"day_ahead": 0.0, "cluster_start": 0.0, "samples": 0.0, "writing": 0.0}
    computed: list[int] = []
    failed_chunks: list[str] = []
    worker_compute_s = 0.0
    worker_phase_s: dict[str, float] = {}
    if missing:
        t0 = time.perf_counter()
        cleared = clear_day_ahead(loaded, base_seed)
        wall["day_ahead"] = time.perf_counter() - t0
        ctx = SampleContext(loaded=loaded, cleared=cleared, vpp_names=vpp_names)
        computed, failed_chunks, worker_compute_s = _compute(
            ctx, missing, parts, workers, scheduler, chunk_size, progress, len(done), n_samples,
            loaded.scenario.name, wall, worker_phase_s)

    t0 = time.perf_counter()
    sample_parts, step_parts, done = _scan_parts(parts)
    kpis = _read_parts(sample_parts, _kpi_schema(vpp_names))
    kpis = (kpis.drop_duplicates("sample").sort_values("sample", kind="mergesort")
            .reset_index(drop=True))
    steps = _read_parts(step_parts, STEPS_SCHEMA)
    steps = (steps[steps["sample"].isin(kpis["sample"])]
             .drop_duplicates(["sample", "agent", "quantity", "step"])
             .sort_values(["sample", "agent", "quantity", "step"]).reset_index(drop=True))
    complete = len(kpis) == n_samples
    result = MonteCarloResult(out=out, kpis=kpis, steps=steps, n_samples=n_samples,
                              computed_samples=sorted(computed), complete=complete)
    wall["writing"] += time.perf_counter() - t0
    if complete:
        _finish(result, loaded, manifest, wall, worker_compute_s, failed_chunks, t_start,
                worker_phase_s)
    else:
        result.summary = {"n_samples": n_samples, "n_done": len(kpis),
                          "computed_samples": len(computed), "failed_chunks": failed_chunks,
                          "wall_time_s": wall}
    return result


def _open_client(workers: int | None, scheduler: Any) -> tuple[Any, Any, bool]:
    """(client, cluster or None, whether we own the client)."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler, None, False
    if scheduler is not None:
        return Client(scheduler), None, True
    # no dashboard; the scheduler's small HTTP server (health, metrics) on a free port
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"},
                           silence_logs=logging.ERROR)
    try:
        return Client(cluster), cluster, True
    except BaseException:
        cluster.close()
        raise


def _compute(ctx: SampleContext, missing: list[tuple[int, int]], parts: Path,
             workers: int | None, scheduler: Any, chunk_size: int | None, progress: bool,
             n_done: int, n_samples: int, name: str, wall: dict[str, float],
             worker_phase_s: dict[str, float]) -> tuple[list[int], list[str], float]:
    """Submit the missing samples in chunks; write every chunk as it completes."""
    from distributed import as_completed
    from tqdm import tqdm

    t0 = time.perf_counter()
    client, cluster, owned = _open_client(workers, scheduler)
    wall["cluster_start"] = time.perf_counter() - t0
    computed: list[int] = []
    failed: list[str] = []
    compute_s = 0.0
    kpi_schema = _kpi_schema(ctx.vpp_names)
    bar = tqdm(total=n_samples, initial=n_done, unit="sample", desc=f"{name} Monte Carlo",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        n_workers = max(1, sum(client.nthreads().values()))
        # big chunks: a chunk's samples are stepped in lockstep and their VPPs allocated in one
        # batched call per step, so the allocator's per-call overhead is shared by more samples
        size = chunk_size or max(1, min(100, math.ceil(len(missing) / (2 * n_workers))))
        t1 = time.perf_counter()
        ctx_future = client.scatter(ctx, broadcast=True)
        chunk_of: dict[Any, list[tuple[int, int]]] = {}
        futures = []
        for chunk in _chunks(missing, size):
            f = client.submit(run_chunk, ctx_future, chunk, pure=False)
            chunk_of[f.key] = chunk
            futures.append(f)
        pending = as_completed(futures)
        futures.clear()  # as_completed holds them until yielded; a written chunk is freed
        for fut in pending:
            chunk = chunk_of[fut.key]
            first, last = chunk[0][0], chunk[-1][0]
            try:
                kpis, steps, seconds, phases = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost chunk stays missing, resumable
                failed.append(f"samples {first}-{last}: {type(exc).__name__}: {exc}")
                log.warning("chunk %s-%s failed: %s", first, last, exc)
                continue
            tw = time.perf_counter()
            _write_parquet(steps, parts / _part_name("steps", first, last), STEPS_SCHEMA)
            _write_parquet(kpis, parts / _part_name("samples", first, last), kpi_schema)
            wall["writing"] += time.perf_counter() - tw
            compute_s += seconds
            for k, v in phases.items():
                worker_phase_s[k] = worker_phase_s.get(k, 0.0) + v
            computed.extend(int(s) for s in kpis["sample"])
            bar.update(len(kpis))
        wall["samples"] = time.perf_counter() - t1 - wall["writing"]
    finally:
        bar.close()
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()
    return computed, failed, compute_s
