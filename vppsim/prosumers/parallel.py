"""Run a per-prosumer solver on chunks of a fleet, in this process or across processes.

Prosumers are independent once prices are given (paper 002, 3.1), so a fleet splits into
contiguous chunks solved apart and concatenated in order. The solver receives each chunk's
global index offset, so its random streams can be keyed by prosumer (results then do not
depend on the chunking or the number of workers).

Executor choice: a ``concurrent.futures.ProcessPoolExecutor`` by default (no cluster to
start, about 0.1 s to fork two workers on Linux, and the chunks are few and large). Its start
method is explicit: importing mesa (3.3, ``mesa.batchrunner``) sets the whole process's
multiprocessing default to ``spawn``, whose workers import NumPy and vppsim again on every call
(about 1 s each; the SA on 1,024 prosumers took 4.2 s with 2 spawned workers, 2.0 s forked).
``fork=True`` (the SA: NumPy only) forks where the platform offers it (Linux); the exact
solvers keep the default, since a forked child would inherit HiGHS' thread scheduler without
its threads. Any
``concurrent.futures.Executor`` may be passed instead, e.g. a Dask ``distributed``
client's ``client.get_executor()`` to run on an existing cluster (each chunk's slice is then
pickled into its task). A ``cluster`` (:class:`vppsim.prosumers.cluster.ProsumerCluster`,
city scale) scatters the fleet to its workers once and cuts the chunks there.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

import numpy as np

from vppsim.prosumers.problem import ProsumerFleet

R = TypeVar("R")


class ChunkRunner(Protocol):
    """Runs ``fn`` over chunks of a fleet elsewhere (a :class:`~vppsim.prosumers.cluster.ProsumerCluster`)."""

    def map_chunks(self, fn: Callable[..., Any], fleet: ProsumerFleet, *args: Any,
                   chunks: int | None = None, first_index: int = 0) -> list[Any]:
        """``[fn(fleet.take(a:b), first_index + a, *args) for each chunk]``, in chunk order."""


def pool_context(fork: bool) -> multiprocessing.context.BaseContext | None:
    """The pool's start method: ``fork`` on Linux when asked, else the process default (None)."""
    if fork and sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return None


def chunk_bounds(n: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` contiguous ``(start, stop)`` ranges covering ``0..n`` (sizes differ by <= 1)."""
    chunks = max(1, min(int(chunks), n)) if n > 0 else 1
    edges = np.linspace(0, n, chunks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a] or [(0, 0)]


def map_chunks(
    fn: Callable[..., R],
    fleet: ProsumerFleet,
    *args: Any,
    workers: int = 1,
    chunks: int | None = None,
    executor: Executor | None = None,
    cluster: ChunkRunner | None = None,
    first_index: int = 0,
    fork: bool = False,
) -> list[R]:
    """``[fn(fleet.take(a:b), first_index + a, *args) for each chunk]``, in chunk order.

    ``workers=1`` and no ``executor`` runs in this process. ``workers>1`` starts a process
    pool of that size for this call; an ``executor`` passed in is used as is (and not shut
    down); a ``cluster`` runs the chunks on its workers (its default chunking applies).
    ``chunks`` defaults to the number of workers. ``first_index``: the global index of the
    fleet's first prosumer (a slice of a larger fleet keeps its prosumers' random streams).
    ``fork``: start the pool's workers by fork where possible (:func:`pool_context`).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if cluster is not None:
        return cluster.map_chunks(fn, fleet, *args, chunks=chunks, first_index=first_index)
    workers = int(workers)
    n_chunks = chunks if chunks is not None else workers
    bounds = chunk_bounds(fleet.n, n_chunks)
    parts = [(fleet.take(slice(a, b)), first_index + a) for a, b in bounds]
    if executor is None and workers == 1:
        return [fn(part, a, *args) for part, a in parts]
    own = executor is None
    ex = executor if executor is not None else ProcessPoolExecutor(
        max_workers=workers, mp_context=pool_context(fork))
    try:
        futures = [ex.submit(fn, part, a, *args) for part, a in parts]
        return [f.result() for f in futures]
    finally:
        if own:
            ex.shutdown()
