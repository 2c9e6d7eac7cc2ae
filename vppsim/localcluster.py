"""A Dask ``LocalCluster`` with vppsim's settings, shared by Monte Carlo batches and prosumer fleets.

Single-threaded worker processes (the work is NumPy and HiGHS, one core each), no dashboard
(the scheduler's small HTTP server on a free port), quiet logs, and each worker importing
``preload`` as it starts.

One of Dask's defaults is removed: its nannies start workers with
``MALLOC_TRIM_THRESHOLD_=65536`` (``distributed.nanny.pre-spawn-environ``), to hand freed
memory back to the system sooner. Setting any of glibc's malloc thresholds also switches off
glibc's dynamic mmap threshold, so every NumPy temporary above 128 KiB is mapped and unmapped
again on each use: the prosumer annealer (a few dozen such arrays per move) then spent 40 % of
its time in the kernel (1,024 prosumers, one process: 3.6 s with glibc's defaults, 6.4 s with
that variable set; 100,000 prosumers on 2 workers: 269 s of system time in 364 s). Workers
here keep glibc's defaults; a ``MALLOC_TRIM_THRESHOLD_`` set in the environment still applies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

#: Dask's worker environment variables this module unsets (see the module docstring)
DROPPED_WORKER_ENV = ("MALLOC_TRIM_THRESHOLD_",)


def start_local_cluster(workers: int, preload: Sequence[str] = ()) -> Any:
    """A running ``distributed.LocalCluster`` of ``workers`` single-threaded processes."""
    import dask  # noqa: PLC0415 - heavy; only when a cluster starts
    import distributed  # noqa: PLC0415 - heavy; only when a cluster starts

    # None unsets a variable of the nanny's pre-spawn environment (distributed.nanny)
    unset = {f"distributed.nanny.pre-spawn-environ.{k}": None for k in DROPPED_WORKER_ENV}
    with dask.config.set(unset):
        return distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1,
                                        processes=True, dashboard_address=None,
                                        scheduler_kwargs={"dashboard_address": ":0"},
                                        silence_logs=logging.ERROR, preload=list(preload))
