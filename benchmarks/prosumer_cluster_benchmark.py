"""Prosumer scheduling at city scale on Dask (issue 18): 100,000 prosumers x 96 periods, SA.

    /usr/bin/time -v python benchmarks/prosumer_cluster_benchmark.py            # 100,000 prosumers
    python benchmarks/prosumer_cluster_benchmark.py --quick                     # 2,000 prosumers
    python benchmarks/prosumer_cluster_benchmark.py --scatter-only              # data movement only

``synthetic_fleet(N, seed)`` is scheduled by simulated annealing
(``schedule_fleet(fleet, "sa", seed, scheduler=cluster)``) on a ``LocalCluster`` of
``--workers`` single-threaded processes (:class:`vppsim.prosumers.cluster.ProsumerCluster`):
the fleet is scattered to the workers once, the chunks are tasks that cut their slice there,
results come back as they finish. Then ``--slice`` prosumers from the middle of the fleet
(not aligned with any chunk) are scheduled again in this process with the same seed and their
global offset (``first_index``): the check is bit-for-bit equality of their SoC and cost.

One table row: prosumers, workers, chunks, wall s (cluster start to the assembled schedule),
cluster start s, scatter s, solve s (tasks running, less the gathering), gather s (results
fetched and deserialized), peak resident memory of this process (the client, which also runs
the LocalCluster's scheduler) and of the whole process tree (client + nannies + workers,
sampled by psutil every 0.2 s; ``/usr/bin/time -v`` reports only the largest single process),
the SA's total cost, the in-process slice's time and the identity check.

``--scatter-only``: the same data movement with a no-op solver (returns zeros of the SA's
result shape), for ``--scatter broadcast`` (the whole fleet to every worker, chunks cut
there) and ``--scatter chunks`` (each chunk's slice to one worker): scatter and gather
times and memory, without the SA's compute.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from _bench import add_quick, table_path, write_table

from vppsim.prosumers.anneal import SASettings
from vppsim.prosumers.cluster import SCATTER_MODES, ProsumerCluster
from vppsim.prosumers.problem import ProsumerFleet, synthetic_fleet
from vppsim.prosumers.schedule import schedule_fleet

MIB = 1024.0 * 1024.0


class MemorySampler:
    """Peak RSS of this process and of its whole process tree, sampled every ``period_s``."""

    def __init__(self, period_s: float = 0.2) -> None:
        self.proc = psutil.Process(os.getpid())
        self.peak_self = 0.0
        self.peak_tree = 0.0
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        """Take one sample now."""
        try:
            own = self.proc.memory_info().rss
            tree = own
            for child in self.proc.children(recursive=True):
                try:
                    tree += child.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        except psutil.NoSuchProcess:
            return
        self.peak_self = max(self.peak_self, own)
        self.peak_tree = max(self.peak_tree, tree)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def noop_chunk(fleet: ProsumerFleet, start: int, seed: int, settings: SASettings) -> dict[str, Any]:
    """What the SA returns for a chunk (stored energy ``(n, T)``, history), without computing it."""
    del start, seed
    return {"e": np.zeros((fleet.n, fleet.periods)), "history": np.zeros(settings.stages + 1)}


def run(n: int, workers: int, chunks: int | None, seed: int, settings: SASettings, slice_n: int,
        scatter: str) -> dict[str, Any]:
    """One city-scale SA run on a fresh LocalCluster and the in-process slice check."""
    fleet = synthetic_fleet(n, seed)
    with MemorySampler() as mem:
        t0 = time.perf_counter()
        with ProsumerCluster("local", workers=workers, scatter=scatter) as pc:
            sched = schedule_fleet(fleet, "sa", seed=seed, settings=settings, chunks=chunks,
                                   scheduler=pc)
            wall = time.perf_counter() - t0
            phases, start_s = dict(pc.last), pc.start_s
    a = max(0, n // 2 - slice_n // 2 - 7)  # off any chunk boundary
    b = min(n, a + slice_n)
    t1 = time.perf_counter()
    local = schedule_fleet(fleet.take(slice(a, b)), "sa", seed=seed, settings=settings, first_index=a)
    slice_s = time.perf_counter() - t1
    same = (np.array_equal(local.soc_kwh, sched.soc_kwh[a:b])
            and np.array_equal(local.cost, sched.cost[a:b]))
    return {"prosumers": n, "workers": workers, "chunks": int(phases["chunks"]), "scatter": scatter,
            "wall_s": wall, "start_s": start_s, "scatter_s": phases["scatter_s"],
            "solve_s": phases["solve_s"], "gather_s": phases["gather_s"],
            "rss_client_mib": mem.peak_self / MIB, "rss_tree_mib": mem.peak_tree / MIB,
            "cost": sched.total_cost, "slice": f"{a}:{b}", "slice_s": slice_s, "same": same}


def scatter_only(n: int, workers: int, chunks: int | None, seed: int) -> list[dict[str, Any]]:
    """Data movement of each scatter mode with a no-op solver (one cluster per mode)."""
    fleet = synthetic_fleet(n, seed)
    settings = SASettings()
    rows = []
    for mode in SCATTER_MODES:
        with MemorySampler() as mem, ProsumerCluster("local", workers=workers, scatter=mode) as pc:
            t0 = time.perf_counter()
            pc.map_chunks(noop_chunk, fleet, seed, settings, chunks=chunks)
            wall = time.perf_counter() - t0
            rows.append({"scatter": mode, "chunks": int(pc.last["chunks"]), "wall_s": wall,
                         **{k: pc.last[k] for k in ("scatter_s", "solve_s", "gather_s")},
                         "rss_client_mib": mem.peak_self / MIB, "rss_tree_mib": mem.peak_tree / MIB})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of :func:`run` rows."""
    head = ("| prosumers | workers | chunks | scatter | wall s | cluster start s | scatter s | solve s "
            "| gather s | peak RSS client MiB | peak RSS tree MiB | SA cost total | in-process slice "
            "| slice s | identical |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['prosumers']:,} | {r['workers']} | {r['chunks']} | {r['scatter']} | {r['wall_s']:.1f} "
            f"| {r['start_s']:.1f} | {r['scatter_s']:.2f} | {r['solve_s']:.1f} | {r['gather_s']:.2f} "
            f"| {r['rss_client_mib']:.0f} | {r['rss_tree_mib']:.0f} | {r['cost']:.2f} | {r['slice']} "
            f"| {r['slice_s']:.1f} | {'yes' if r['same'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def scatter_table(n: int, workers: int, rows: list[dict[str, Any]]) -> str:
    """The markdown table of :func:`scatter_only` rows."""
    head = (f"| scatter ({n:,} prosumers, {workers} workers, no-op solver) | chunks | wall s | scatter s "
            "| tasks s | gather s | peak RSS client MiB | peak RSS tree MiB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['scatter']} | {r['chunks']} | {r['wall_s']:.2f} | {r['scatter_s']:.2f} "
                     f"| {r['solve_s']:.2f} | {r['gather_s']:.2f} | {r['rss_client_mib']:.0f} "
                     f"| {r['rss_tree_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the options, run, print (and write) the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick(ap, "2,000 prosumers, 300 SA moves")
    ap.add_argument("--prosumers", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=None, help="default: 4 per worker")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--slice", type=int, default=1000, help="prosumers checked in-process")
    ap.add_argument("--iterations", type=int, default=None, help="SA moves (default: SASettings')")
    ap.add_argument("--scatter", choices=SCATTER_MODES, default="chunks")
    ap.add_argument("--scatter-only", action="store_true",
                    help="compare the scatter modes with a no-op solver")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    n = 2000 if args.quick else args.prosumers
    its = args.iterations or (300 if args.quick else SASettings().iterations)
    settings = SASettings(iterations=its, stages=min(SASettings().stages, its))
    if args.scatter_only:
        text = scatter_table(n, args.workers, scatter_only(n, args.workers, args.chunks, args.seed))
        print(text)
        write_table(text, table_path(args.quick, "prosumer_cluster_scatter.md", args.out))
        return
    row = run(n, args.workers, args.chunks, args.seed, settings, min(args.slice, n), args.scatter)
    text = (f"SA: {its} moves per prosumer, seed {args.seed}, synthetic_fleet({n}, {args.seed}) x 96 "
            f"periods; python {sys.version.split()[0]}, {os.cpu_count()} cores\n\n" + table([row]))
    print(text)
    write_table(text, table_path(args.quick, "prosumer_cluster.md", args.out))
    if not row["same"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
