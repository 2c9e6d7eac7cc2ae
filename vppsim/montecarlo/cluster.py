"""The Dask side of a Monte Carlo batch: the client, chunked submission, writing as chunks finish.

``distributed`` is imported when a batch runs (it takes about a second to import and is not
needed for a single run).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vppsim.montecarlo.chunk import SampleContext, run_chunk
from vppsim.montecarlo.parts import write_chunk
from vppsim.montecarlo.tables import kpi_schema

log = logging.getLogger(__name__)

#: largest number of samples in one Dask task (a chunk is stepped in lockstep)
MAX_CHUNK = 100


@dataclass
class ChunkLog:
    """What the client records while the chunks run (wall-clock; not part of the tables).

    ``wall`` holds the batch's wall time by phase (s); ``worker_phase_s`` the workers' time by
    phase summed over the samples; ``worker_compute_s`` their total compute time;
    ``computed`` the samples written by this call; ``failed`` one line per chunk lost to the
    cluster (those samples stay missing and a re-run computes them); ``damaged`` one line per
    chunk found damaged on resume (moved aside, its samples computed again).
    """

    wall: dict[str, float] = field(default_factory=lambda: {
        "day_ahead": 0.0, "cluster_start": 0.0, "samples": 0.0, "writing": 0.0})
    worker_phase_s: dict[str, float] = field(default_factory=dict)
    worker_compute_s: float = 0.0
    computed: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)


def chunked(items: list[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    """``items`` in consecutive chunks of at most ``size``."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def open_client(workers: int | None, scheduler: Any) -> tuple[Any, Any, bool]:
    """``(client, cluster or None, whether we own the client)`` for ``scheduler`` or a LocalCluster.

    ``scheduler``: an address, a ``distributed.Client``, or None for a ``LocalCluster`` of
    ``workers`` single-threaded processes (default: one per core).
    """
    from distributed import Client, LocalCluster  # noqa: PLC0415 - heavy; only when a batch runs

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


def compute_chunks(ctx: SampleContext, missing: list[tuple[int, int]], parts: Path, *,
                   workers: int | None, scheduler: Any, chunk_size: int | None, progress: bool,
                   n_done: int, n_samples: int, record: ChunkLog) -> None:
    """Submit the missing samples in chunks; write every chunk's parts as it completes.

    The chunks are at most :data:`MAX_CHUNK` sample-days, about two per worker (``chunk_size``
    overrides it; results do not depend on it). A tqdm bar on stderr shows samples done,
    rate and ETA unless ``progress`` is off.
    """
    from distributed import as_completed  # noqa: PLC0415 - heavy; only when a batch runs

    t0 = time.perf_counter()
    client, cluster, owned = open_client(workers, scheduler)
    wall = record.wall
    wall["cluster_start"] = time.perf_counter() - t0
    samples_schema = kpi_schema(ctx.vpp_names)
    bar = tqdm(total=n_samples, initial=n_done, unit="sample",
               desc=f"{ctx.loaded.scenario.name} Monte Carlo", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        n_workers = max(1, sum(client.nthreads().values()))
        # big chunks: a chunk's samples are stepped in lockstep and their VPPs allocated in one
        # batched call per step, so the allocator's per-call overhead is shared by more samples
        # a chunk holds its samples' tables until they finish: at most MAX_CHUNK sample-days
        max_chunk = max(1, MAX_CHUNK // ctx.loaded.scenario.days)
        size = chunk_size or max(1, min(max_chunk, math.ceil(len(missing) / (2 * n_workers))))
        t1 = time.perf_counter()
        ctx_future = client.scatter(ctx, broadcast=True)
        chunk_of: dict[Any, list[tuple[int, int]]] = {}
        futures = []
        for chunk in chunked(missing, size):
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
                record.failed.append(f"samples {first}-{last}: {type(exc).__name__}: {exc}")
                log.warning("chunk %s-%s failed: %s", first, last, exc)
                continue
            tw = time.perf_counter()
            write_chunk(parts, first, last, kpis, steps, samples_schema)
            wall["writing"] += time.perf_counter() - tw
            record.worker_compute_s += seconds
            for k, v in phases.items():
                record.worker_phase_s[k] = record.worker_phase_s.get(k, 0.0) + v
            record.computed.extend(int(s) for s in kpis["sample"])
            bar.update(len(kpis))
        wall["samples"] = time.perf_counter() - t1 - wall["writing"]
    finally:
        bar.close()
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()
