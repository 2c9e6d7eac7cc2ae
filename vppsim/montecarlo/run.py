"""Monte Carlo over forecast uncertainty on Dask (docs/design.md "Monte Carlo").

One batch is ``n_samples`` realizations of the scenario's horizon (all its ``days``):

1. the day-ahead market of day 0 (prices, committed schedules, VPO storage plan) is cleared
   **once**, in the client, from the forecasts (:class:`vppsim.agents.vpo.ClearedDay`);
2. every sample ``i`` is a fresh :class:`vppsim.model.VPPModel` seeded with
   ``SeedSequence(seed).spawn(n_samples)[i]`` that adopts that cleared day and runs real-time
   balancing, settlement and power flow under its own forecast-error draws; on every later
   day it clears its own day-ahead market, as ``vppsim run`` does, from its own state (the
   batteries' state of charge after its realized previous day), so a sample is the run of
   ``vppsim run --seed <its seed>`` with day 0's clearing shared;
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
    .lock                   flock'ed by the run writing the folder (holds its pid); a second
                            run is refused while it lives (vppsim.montecarlo.store.locked_folder)
    parts/samples-<first>-<last>.parquet   KPI rows of one finished chunk
    parts/steps-<first>-<last>.parquet     per-step series of the same chunk
    parts/chunk-<first>-<last>.json        the chunk's sample ids and the SHA-256 of its two
                            parts; a resume moves a chunk that does not match to
                            parts/damaged/ and computes it again (vppsim.montecarlo.parts)
    kpis.parquet            one row per sample, sorted by sample (see KPI_COLUMNS)
    steps.parquet           tidy (sample, agent, quantity, step, value)
    step_quantiles.parquet  per (agent, quantity, step): mean and 5/50/95 % quantiles
    summary.json            n, errors, seed, wall time split, mean/std/5/50/95 % per KPI
    report.md, figures/*.png

KPI table layout (wide, one row per sample): ``sample``, ``seed`` (the integer given to the
sample's model), ``cost_cny__<VPP>`` for every VPP of the scenario (realized cost incl.
imbalance settlement), then the scalar KPIs of :data:`KPI_SCALARS` (the names and units of
``summary.json``, docs/design.md "Results"), then ``error``: ``None``, or ``"<Type>: <message>"``
for a sample that raised, whose KPIs are then NaN.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from vppsim import __version__
from vppsim.model import VPPModel
from vppsim.montecarlo.chunk import SampleContext
from vppsim.montecarlo.cluster import ChunkLog, ClientStart, compute_chunks, overlap_pays
from vppsim.montecarlo.parts import verify_parts
from vppsim.montecarlo.report import MonteCarloResult, finish_batch
from vppsim.montecarlo.store import (
    PARTS,
    check_manifest,
    file_sha256,
    locked_folder,
    scan_parts,
    scenario_sha256,
)
from vppsim.montecarlo.stream import assign_samples
from vppsim.montecarlo.tables import kpi_schema
from vppsim.scenario.loader import LoadedScenario

log = logging.getLogger(__name__)

#: seeds of a batch: ``0 <= seed < SEED_END`` (numpy refuses negative seeds; int64 in tables)
SEED_END = 2**63


def sample_seeds(seed: int, n_samples: int) -> list[int]:
    """The model seed of every sample: ``SeedSequence(seed).spawn(n)[i].generate_state(1)[0]``.

    Child ``i`` depends only on ``seed`` and ``i``, so sample ``i`` is the same in a batch of
    any size, on any worker.
    """
    children = np.random.SeedSequence(seed).spawn(n_samples)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


class PowerFlowBackendError(ValueError):
    """The batch's power-flow backend cannot solve the scenario's feeder."""


def clear_day_ahead(loaded: LoadedScenario, seed: int) -> dict[int, Any]:
    """Clear the day-ahead market of day 0 once, from the forecasts: ``{0: ClearedDay}``.

    Raises :class:`PowerFlowBackendError` if the scenario's backend refuses its feeder.
    """
    try:
        power_flow = VPPModel.build_power_flow(loaded)
    except ValueError as exc:
        raise PowerFlowBackendError(str(exc)) from None
    model = VPPModel(loaded, seed=seed, power_flow=power_flow)
    model.step()  # the first step clears the day (docs/design.md "One step of the co-simulation", step 2)
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
    max_in_flight: int | None = None, path: str = "auto",
) -> MonteCarloResult:
    """Run (or resume) a Monte Carlo batch of a scenario's horizon and write its result folder.

    Parameters
    ----------
    loaded:
        A validated scenario (:func:`vppsim.scenario.loader.load_scenario`); a sample runs
        all its ``days`` (per-step series over the whole horizon, KPIs over the horizon).
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
        Power-flow backend of the samples (default ``lightsim2grid``, docs/design.md "Grids");
        ``None`` keeps the scenario's ``feeder.power_flow_backend``.
    allocation_gap:
        Whether the balanced allocators also solve every step's exact LP to report their gap
        (``allocation_gap_max`` in the KPI table); default off for speed (it about doubles the
        allocation time); ``None`` keeps the scenario's ``balancing.exact_reference``.
    max_in_flight:
        Most chunks submitted to the cluster and not yet written (default: two per worker);
        the next chunk is submitted as one finishes, so memory does not grow with the batch.
    path: how workers step a chunk, ``auto``, ``arrays`` or ``objects`` (:func:`.chunk.run_chunk`).

    Raises
    ------
    ValueError
        Bad arguments (e.g. a seed outside ``0 <= seed < 2**63``); raised before anything is
        written.
    ManifestMismatchError
        ``out`` holds a different batch (or a damaged manifest), or is a folder that is not a
        Monte Carlo folder; its subclasses: :class:`FolderNotWritableError` (``out`` cannot be
        written: raised before anything is computed) and :class:`FolderLockedError` (another
        live run is writing ``out``).
    """
    t_start = time.perf_counter()
    base_seed = loaded.scenario.seed if seed is None else int(seed)
    _check_arguments(loaded, n_samples, base_seed, workers, scheduler, chunk_size, max_samples)
    if max_in_flight is not None and max_in_flight < 1:
        raise ValueError(f"max_in_flight: expected an integer >= 1, got {max_in_flight}")
    loaded = batch_scenario(loaded, power_flow_backend, allocation_gap)
    out = Path(out)
    manifest = batch_manifest(loaded, base_seed, n_samples)
    with locked_folder(out):
        check_manifest(out, manifest)
        parts = out / PARTS
        parts.mkdir(exist_ok=True)
        record = ChunkLog()
        missing, done = _missing_samples(out, loaded, base_seed, n_samples, max_samples, record)
        start = (ClientStart(workers, scheduler, loaded, begin=overlap_pays(workers, scheduler))
                 if missing else None)
        try:
            if start is not None:
                _compute(loaded, base_seed, missing, parts, start, record, chunk_size=chunk_size,
                         progress=progress, n_done=len(done), n_samples=n_samples,
                         max_in_flight=max_in_flight, path=path)
            t0 = time.perf_counter()
            result = read_batch(out, loaded, n_samples, record.computed)
            record.wall["writing"] += time.perf_counter() - t0
            record.writing["read_parts"] = time.perf_counter() - t0
            if result.complete:  # the cluster's workers draw the figures
                finish_batch(result, loaded, manifest, record, t_start,
                             client=start.client() if start is not None else None)
        finally:
            if start is not None:
                start.close()
        if not result.complete:
            result.summary = _partial_summary(result, record)
    return result


def _missing_samples(out: Path, loaded: LoadedScenario, base_seed: int, n_samples: int,
                     max_samples: int | None, record: ChunkLog
                     ) -> tuple[list[tuple[int, int]], set[int]]:
    """``(sample, seed)`` still to compute (damaged parts moved aside first), and those done."""
    parts = out / PARTS
    record.damaged = verify_parts(parts, kpi_schema(tuple(v.name for v in loaded.scenario.vpps)))
    for line in record.damaged:
        log.warning("%s: damaged part, %s", out, line)
    _, _, done = scan_parts(parts)
    seeds = sample_seeds(base_seed, n_samples)
    missing = [(i, seeds[i]) for i in range(n_samples) if i not in done]
    if max_samples is not None:
        missing = missing[:max_samples]
    return missing, done


def _partial_summary(result: MonteCarloResult, record: ChunkLog) -> dict[str, Any]:
    """The summary of a batch left incomplete (no ``summary.json`` is written)."""
    return {"n_samples": result.n_samples, "n_done": len(result.kpis),
            "computed_samples": len(record.computed), "failed_chunks": record.failed,
            "recomputed_damaged_parts": len(record.damaged), "damaged_parts": record.damaged,
            "wall_time_s": record.wall}


def _compute(loaded: LoadedScenario, base_seed: int, missing: list[tuple[int, int]], parts: Path,
             start: ClientStart, record: ChunkLog, path: str = "auto", **kw: Any) -> None:
    """Clear the day-ahead market (the cluster starting meanwhile if begun); compute the samples."""
    t0 = time.perf_counter()
    cleared = clear_day_ahead(loaded, base_seed)
    record.wall["day_ahead"] = time.perf_counter() - t0
    start.begin()  # no-op if it began before the clearing
    ctx = SampleContext(loaded=loaded, cleared=cleared,
                        vpp_names=tuple(v.name for v in loaded.scenario.vpps), path=path)
    compute_chunks(ctx, missing, parts, workers=None, scheduler=None, record=record,
                   start=start, **kw)


def _check_arguments(loaded: LoadedScenario, n_samples: int, seed: int, workers: int | None,
                     scheduler: Any, chunk_size: int | None, max_samples: int | None) -> None:
    if n_samples < 1:
        raise ValueError(f"n_samples: expected an integer >= 1, got {n_samples}")
    if not 0 <= seed < SEED_END:
        raise ValueError(f"seed: expected an integer 0 <= seed < 2**63, got {seed!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers: expected an integer >= 1, got {workers}")
    if workers is not None and scheduler is not None:
        raise ValueError("expected either workers (a LocalCluster) or scheduler, not both")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size: expected an integer >= 1, got {chunk_size}")
    if max_samples is not None and max_samples < 0:
        raise ValueError(f"max_samples: expected an integer >= 0, got {max_samples}")


def batch_manifest(loaded: LoadedScenario, seed: int, n_samples: int) -> dict[str, Any]:
    """What a batch is (``manifest.json``); :data:`GUARDED` fields must match to resume."""
    return {
        "kind": "vppsim-montecarlo",
        "scenario": loaded.scenario.name,
        "scenario_file": str(loaded.path),
        "scenario_file_sha256": file_sha256(loaded.path),
        "scenario_sha256": scenario_sha256(loaded),
        "seed": seed,
        "n_samples": int(n_samples),
        "days": loaded.scenario.days,
        "power_flow_backend": loaded.scenario.feeder.power_flow_backend,
        "seeds": "SeedSequence(seed).spawn(n_samples)[i].generate_state(1)[0]",
        "vppsim_version": __version__,
    }


def read_batch(out: Path, loaded: LoadedScenario, n_samples: int, computed: list[int]
               ) -> MonteCarloResult:
    """Every sample written so far (all parts of the folder), sorted by sample."""
    vpp_names = tuple(v.name for v in loaded.scenario.vpps)
    sample_parts, _, _ = scan_parts(out / PARTS)
    parts, kpis = assign_samples(sample_parts, kpi_schema(vpp_names))
    return MonteCarloResult(out=out, kpis=kpis, n_samples=n_samples,
                            computed_samples=sorted(computed), complete=len(kpis) == n_samples,
                            parts=parts)
