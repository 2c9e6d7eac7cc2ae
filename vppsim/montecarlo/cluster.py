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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vppsim.localcluster import start_local_cluster
from vppsim.model import VPPModel
from vppsim.montecarlo.chunk import SampleContext, run_chunk
from vppsim.montecarlo.parts import write_chunk
from vppsim.montecarlo.tables import kpi_schema
from vppsim.scenario.loader import LoadedScenario

log = logging.getLogger(__name__)

#: module every LocalCluster worker imports as it starts (the samples' code: model, agents,
#: allocators, power flow)
WORKER_PRELOAD = "vppsim.montecarlo.chunk"

#: largest number of samples in one Dask task (a chunk is stepped in lockstep)
MAX_CHUNK = 100


@dataclass
class ChunkLog:
    """What the client records while the chunks run (wall-clock; not part of the tables).

    ``wall`` holds the batch's wall time by phase (s); ``worker_phase_s`` the workers' time by
    phase summed over the samples; ``worker_compute_s`` their total compute time;
    ``writing`` the writing phase by part (s: ``parts`` as the chunks finish, then the final
    tables); ``computed`` the samples written by this call; ``failed`` one line per chunk lost to the
    cluster (those samples stay missing and a re-run computes them); ``damaged`` one line per
    chunk found damaged on resume (moved aside, its samples computed again);
    ``max_in_flight`` the most chunks submitted and not yet written at any time; ``cluster``
    when the client was up and the workers warmed (s after the start began).
    """

    wall: dict[str, float] = field(default_factory=lambda: {
        "day_ahead": 0.0, "cluster_start": 0.0, "samples": 0.0, "writing": 0.0})
    writing: dict[str, float] = field(default_factory=lambda: {"parts": 0.0})
    worker_phase_s: dict[str, float] = field(default_factory=dict)
    worker_compute_s: float = 0.0
    computed: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    cluster: dict[str, float] = field(default_factory=dict)


def chunked(items: list[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    """``items`` in consecutive chunks of at most ``size``."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def open_client(workers: int | None, scheduler: Any) -> tuple[Any, Any, bool]:
    """``(client, cluster or None, whether we own the client)`` for ``scheduler`` or a LocalCluster.

    ``scheduler``: an address, a ``distributed.Client``, or None for a ``LocalCluster`` of
    ``workers`` single-threaded processes (default: one per core).
    """
    from distributed import Client  # noqa: PLC0415 - heavy; only when a batch runs

    if isinstance(scheduler, Client):
        return scheduler, None, False
    if scheduler is not None:
        return Client(scheduler), None, True
    # no dashboard; the scheduler's small HTTP server (health, metrics) on a free port
    # preload: every worker process imports the sample's code while it starts (overlapping the
    # client's day-ahead clearing), not when the first chunk arrives
    cluster = start_local_cluster(workers or os.cpu_count() or 1, preload=[WORKER_PRELOAD])
    try:
        return Client(cluster), cluster, True
    except BaseException:
        cluster.close()
        raise


class ClientStart:
    """A Dask client opened in a background thread, its workers warmed once it is up.

    The batch starts it before clearing the day-ahead market, so the cluster's start (worker
    processes importing vppsim, numpy, pandas, the power-flow backend) overlaps the clearing;
    :meth:`result` waits for what remains. ``loaded``: a scenario every worker builds its
    feeder's power flow for once (:func:`warm_worker`) when they belong to an existing
    scheduler, so the first chunk does not pay the imports (a ``LocalCluster``'s workers
    import :data:`WORKER_PRELOAD` as they start); None skips the warm-up. ``begin=False``:
    opened at :meth:`begin` or when first needed.
    """

    def __init__(self, workers: int | None, scheduler: Any, loaded: LoadedScenario | None = None,
                 begin: bool = True) -> None:
        self.args = (workers, scheduler, loaded)
        self.t0 = math.nan
        self.started_s = math.nan  #: cluster and client up, after t0 (s)
        self.warmed_s = math.nan  #: workers warmed, after t0 (s)
        self.closed = False
        self._future: Future[tuple[Any, Any, bool]] | None = None
        if begin:
            self.begin()

    def begin(self) -> None:
        """Start opening the client (in a background thread) unless already begun."""
        if self._future is not None:
            return
        self.t0 = time.perf_counter()
        pool = ThreadPoolExecutor(1, thread_name_prefix="vppsim-cluster-start")
        self._future = pool.submit(self._open, *self.args)
        pool.shutdown(wait=False)

    def _open(self, workers: int | None, scheduler: Any, loaded: LoadedScenario | None
              ) -> tuple[Any, Any, bool]:
        client, cluster, owned = open_client(workers, scheduler)
        self.started_s = time.perf_counter() - self.t0
        if loaded is not None and cluster is None:  # a LocalCluster's workers preload instead
            try:
                client.run(warm_worker, loaded)
            except Exception as exc:  # noqa: BLE001 - only a warm-up: the chunks report errors
                log.warning("warming the workers failed: %s", exc)
        self.warmed_s = time.perf_counter() - self.t0
        return client, cluster, owned

    def result(self) -> tuple[Any, Any, bool]:
        """``(client, cluster or None, whether we own the client)``, as :func:`open_client`."""
        self.begin()
        assert self._future is not None
        return self._future.result()

    def client(self) -> Any:
        """The client, or None if it could not be opened."""
        try:
            return self.result()[0]
        except Exception:  # noqa: BLE001 - the error was raised where the client was needed
            return None

    def close(self) -> None:
        """Wait for the start and close what it opened (a second call does nothing)."""
        if self.closed or self._future is None:
            return
        self.closed = True
        try:
            client, cluster, owned = self.result()
        except Exception:  # noqa: BLE001 - nothing was opened
            return
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()


def overlap_pays(workers: int | None, scheduler: Any) -> bool:
    """Whether to start the cluster while the client clears the day-ahead market.

    Yes for an existing scheduler, or when the machine has a core beyond the
    ``LocalCluster``'s workers.
    With one worker per core the clearing, the scheduler (in the client process) and the
    workers' imports compete for the cores and the GIL: measured on 2 cores, 2 workers,
    overlapping took 11.3-13.0 s where one after the other took 9.6-12.1 s.
    """
    cores = os.cpu_count() or 1
    return scheduler is not None or cores > (workers or cores)


def warm_worker(loaded: LoadedScenario) -> float:
    """Build the scenario's power flow and a model once in this process (imports, caches); s."""
    t0 = time.perf_counter()
    VPPModel(loaded, seed=0, power_flow=VPPModel.build_power_flow(loaded))
    return time.perf_counter() - t0


def compute_chunks(ctx: SampleContext, missing: list[tuple[int, int]], parts: Path, *,
                   workers: int | None, scheduler: Any, chunk_size: int | None, progress: bool,
                   n_done: int, n_samples: int, record: ChunkLog,
                   start: ClientStart | None = None, max_in_flight: int | None = None) -> None:
    """Submit the missing samples in chunks; write every chunk's parts as it completes.

    The chunks are at most :data:`MAX_CHUNK` sample-days, about two per worker (``chunk_size``
    overrides it; results do not depend on it). At most ``max_in_flight`` chunks (default two
    per worker) are submitted and not yet written: the next is submitted as one finishes, so
    the client, the scheduler and the workers hold a bounded number of chunks' results
    however large the batch. ``start``: a client already being opened, which the caller
    closes (else one is opened from ``workers`` / ``scheduler`` here and closed at the end).
    A tqdm bar on stderr shows samples done, rate and ETA unless ``progress`` is off.
    """
    from distributed import as_completed  # noqa: PLC0415 - heavy; only when a batch runs

    own_start = start is None
    start = start or ClientStart(workers, scheduler)
    t0 = time.perf_counter()
    client, _, _ = start.result()
    wall = record.wall
    wall["cluster_start"] = time.perf_counter() - t0
    record.cluster = {"started_s": start.started_s, "warmed_s": start.warmed_s}
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
        window = max_in_flight or 2 * n_workers
        t1 = time.perf_counter()
        ctx_future = client.scatter(ctx, broadcast=True)
        todo = iter(chunked(missing, size))
        in_flight: dict[Any, list[tuple[int, int]]] = {}
        pending = as_completed()

        def submit_next() -> None:
            chunk = next(todo, None)
            if chunk is not None:
                f = client.submit(run_chunk, ctx_future, chunk, pure=False)
                in_flight[f.key] = chunk
                pending.add(f)
                record.max_in_flight = max(record.max_in_flight, len(in_flight))

        for _ in range(window):
            submit_next()
        for fut in pending:
            chunk = in_flight.pop(fut.key)
            submit_next()  # before writing: the workers stay busy while the client writes
            _collect(fut, chunk, parts, ctx, record, bar)
            fut.release()
        wall["samples"] = time.perf_counter() - t1 - wall["writing"]
    finally:
        bar.close()
        if own_start:
            start.close()


def _collect(fut: Any, chunk: list[tuple[int, int]], parts: Path, ctx: SampleContext,
             record: ChunkLog, bar: Any) -> None:
    """Write one finished chunk's parts (or record it as lost) and count its samples."""
    first, last = chunk[0][0], chunk[-1][0]
    try:
        kpis, steps, seconds, phases = fut.result()
    except Exception as exc:  # noqa: BLE001 - a lost chunk stays missing, resumable
        record.failed.append(f"samples {first}-{last}: {type(exc).__name__}: {exc}")
        log.warning("chunk %s-%s failed: %s", first, last, exc)
        return
    tw = time.perf_counter()
    write_chunk(parts, first, last, kpis, steps, kpi_schema(ctx.vpp_names))
    record.wall["writing"] += time.perf_counter() - tw
    record.writing["parts"] += time.perf_counter() - tw
    record.worker_compute_s += seconds
    for k, v in phases.items():
        record.worker_phase_s[k] = record.worker_phase_s.get(k, 0.0) + v
    record.computed.extend(int(s) for s in kpis["sample"])
    bar.update(len(kpis))
