"""Prosumer scheduling on a Dask cluster: the fleet scattered once, chunks as tasks.

:class:`ProsumerCluster` holds a ``distributed`` client (a ``LocalCluster`` of single-threaded
worker processes it starts, an existing scheduler's address, or a client passed in) and runs a
per-prosumer solver over chunks of a fleet (:func:`vppsim.prosumers.parallel.map_chunks`
hands it the work). Kept open across calls (``with ProsumerCluster(...) as pc:``), it serves
many ``schedule_fleet`` calls (rolling horizon, Monte Carlo days) without starting a cluster
each time.

Per call, the fleet goes to the workers once (``scatter="broadcast"``: one copy per worker,
every chunk cuts its slice there; or ``scatter="chunks"``: each chunk's slice is sent to one
worker, round robin), the chunks run as tasks, and their results come back as they finish
(each task's result released on arrival, so the cluster holds at most the unfinished
chunks'). The solver receives each chunk's global prosumer index, so the results are those
of the in-process run, bit for bit, for any chunking and number of workers.

``distributed`` is imported when a cluster is opened (about a second; a single run without
a ``scheduler`` never imports it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vppsim.localcluster import start_local_cluster
from vppsim.prosumers.parallel import chunk_bounds
from vppsim.prosumers.problem import ProsumerFleet
from vppsim.scenario.schema import is_scheduler_address

#: ``scheduler`` value that starts a ``LocalCluster`` (anything else is a scheduler's address)
LOCAL = "local"
#: module each LocalCluster worker imports as it starts (numpy, the SA, HiGHS)
WORKER_PRELOAD = "vppsim.prosumers.schedule"
#: chunks per worker when the caller gives none: enough to balance the load, each small
#: enough that a worker's copy of its slice and state stays a fraction of the fleet
CHUNKS_PER_WORKER = 4
#: prosumers per chunk below which a chunk is not split further (the SA's array block)
MIN_CHUNK = 1024
#: seconds to wait for an existing scheduler before giving up
CONNECT_TIMEOUT_S = 10.0
SCATTER_MODES = ("broadcast", "chunks")


class ClusterError(RuntimeError):
    """The Dask scheduler could not be reached (or started); the message says which and why."""


def is_scheduler(value: str) -> bool:
    """Whether ``value`` is ``"local"`` or looks like a scheduler address (``tcp://host:8786``)."""
    return value == LOCAL or is_scheduler_address(value)


def default_chunks(n: int, workers: int) -> int:
    """Chunks for ``n`` prosumers: one per :data:`MIN_CHUNK` prosumers, 1 to 4 per worker."""
    return max(workers, min(CHUNKS_PER_WORKER * workers, -(-n // MIN_CHUNK)))


def _run_slice(fn: Callable[..., Any], fleet: ProsumerFleet, a: int, b: int, first: int,
               *args: Any) -> Any:
    """On a worker: ``fn`` on prosumers ``a:b`` of the scattered fleet (global index ``first + a``)."""
    return fn(fleet.take(slice(a, b)), first + a, *args)


class ProsumerCluster:
    """A Dask client for prosumer scheduling, kept open across calls; close it (or use ``with``).

    ``scheduler``: ``"local"`` starts a ``LocalCluster`` of ``workers`` single-threaded
    processes (no dashboard; each imports :data:`WORKER_PRELOAD` as it starts); an address
    (``tcp://host:8786``) connects to a running scheduler; a ``distributed.Client`` is used as
    is (and not closed). ``scatter``: how a fleet reaches the workers (see the module
    docstring; ``chunks`` by default: measured at 100,000 x 96 on 2 workers it moves the fleet
    once, where ``broadcast`` sends a whole copy to every worker). Raises
    :class:`ClusterError` if the scheduler cannot be reached within ``timeout_s`` (default
    :data:`CONNECT_TIMEOUT_S`). ``start_s``: seconds the start took; ``last``: the last call's
    phases (``scatter_s``, ``solve_s``, ``gather_s``), ``chunks``, ``scattered`` (objects scattered:
    1 fleet, or one slice per chunk) and ``replicas`` (copies of them the workers held, from
    the scheduler's ``who_has``); ``scatters``: objects scattered so far.
    """

    def __init__(self, scheduler: Any = LOCAL, workers: int = 2, scatter: str = "chunks",
                 timeout_s: float | None = None) -> None:
        from distributed import Client  # noqa: PLC0415 - heavy; only for a cluster

        if scatter not in SCATTER_MODES:
            raise ValueError(f"scatter must be one of {SCATTER_MODES}, got {scatter!r}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.scatter = scatter
        self.cluster: Any = None
        self.owns_client = True
        self.last: dict[str, float] = {}
        self.scatters = 0
        t0 = time.perf_counter()
        if isinstance(scheduler, Client):
            self.client, self.owns_client = scheduler, False
        elif scheduler == LOCAL:
            self.cluster = start_local_cluster(workers, preload=[WORKER_PRELOAD])
            try:
                self.client = Client(self.cluster)
            except BaseException:
                self.cluster.close()
                raise
        elif isinstance(scheduler, str) and is_scheduler(scheduler):
            timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
            try:
                self.client = Client(scheduler, timeout=timeout_s)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterError(f"cannot reach the Dask scheduler at {scheduler!r} within "
                                   f"{timeout_s:g} s ({type(exc).__name__}: {exc})") from exc
        else:
            raise ClusterError(f"expected 'local', a Dask scheduler address such as "
                               f"'tcp://host:8786' or a distributed.Client, got {scheduler!r}")
        self.start_s = time.perf_counter() - t0

    def __enter__(self) -> ProsumerCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and the LocalCluster this object opened (a second call does nothing)."""
        if self.owns_client and self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client, self.cluster = None, None

    @property
    def n_workers(self) -> int:
        """Worker threads of the cluster (one per process on a LocalCluster)."""
        return max(1, sum(self.client.nthreads().values()))

    def map_chunks(self, fn: Callable[..., Any], fleet: ProsumerFleet, *args: Any,
                   chunks: int | None = None, first_index: int = 0) -> list[Any]:
        """``[fn(fleet.take(a:b), first_index + a, *args) for each chunk]`` on the cluster, in order.

        ``chunks`` defaults to :func:`default_chunks`. Results are collected as
        the tasks finish; each task (and its scattered slice) is released on arrival.
        """
        from distributed import as_completed  # noqa: PLC0415 - heavy; only for a cluster

        if self.client is None:
            raise ClusterError("the prosumer cluster is closed")
        client = self.client
        bounds = chunk_bounds(fleet.n, chunks or default_chunks(fleet.n, self.n_workers))
        t0 = time.perf_counter()
        if self.scatter == "broadcast":
            data = client.scatter(fleet, broadcast=True, hash=False, direct=True)
            scattered = [data]
            futures = [client.submit(_run_slice, fn, data, a, b, first_index, *args, pure=False)
                       for a, b in bounds]
        else:
            addrs = sorted(client.scheduler_info()["workers"])
            scattered, futures = [], []
            for k, (a, b) in enumerate(bounds):
                home = [addrs[k % len(addrs)]]
                part = client.scatter(fleet.take(slice(a, b)), workers=home, hash=False, direct=True)
                scattered.append(part)
                futures.append(client.submit(fn, part, first_index + a, *args, pure=False,
                                             workers=home, allow_other_workers=True))
        self.scatters += len(scattered)
        who = client.who_has(scattered)
        replicas = sum(len(who.get(f.key, ())) for f in scattered)
        t1 = time.perf_counter()
        order = {f.key: k for k, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        gather_s = 0.0
        try:
            for fut in as_completed(futures):
                tg = time.perf_counter()
                k = order[fut.key]
                out[k] = fut.result()
                fut.release()
                if len(scattered) == len(futures):  # a chunk's own slice: no longer needed
                    scattered[k].release()
                gather_s += time.perf_counter() - tg
        finally:  # also when a chunk failed: nothing of this call stays on the workers
            for f in (*futures, *scattered):
                f.release()
        t2 = time.perf_counter()
        self.last = {"scatter_s": t1 - t0, "solve_s": t2 - t1 - gather_s, "gather_s": gather_s,
                     "chunks": float(len(bounds)), "scattered": float(len(scattered)),
                     "replicas": float(replicas)}
        return out
