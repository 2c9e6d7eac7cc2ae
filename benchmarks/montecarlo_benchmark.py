"""Benchmark of `vppsim montecarlo`: 1,000 samples of the default 3-VPP day on the default LocalCluster.

    python benchmarks/montecarlo_benchmark.py                   # 1,000 samples, 1 worker per core, exact-fast
    python benchmarks/montecarlo_benchmark.py --allocator ga-aco  # the same with paper 001's GA-ACO
    python benchmarks/montecarlo_benchmark.py --samples 200 --workers 2 --out /tmp/mc
    python benchmarks/montecarlo_benchmark.py --quick           # 10 samples on 1 worker, a 5-sample profile

It prints the batch's wall time split (day-ahead, cluster start, samples, writing by part), samples/s
and the workers' time per sample by phase; then chunks run in this process as a worker runs
them: the object path (one Mesa model per sample, lockstep, one batched allocator call per step)
and the array path (the chunk's samples as numpy arrays, GA-ACO and exact-fast) side by side,
time per phase in ms per sample, GA-ACO's gap to the exact optimum, and cProfile's heaviest
functions of the object chunk. Issue 17's target: 1,000 samples in under 10 s.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _bench import add_quick

from vppsim.model import VPPModel
from vppsim.montecarlo.arrays import run_arrays
from vppsim.montecarlo.chunk import SampleContext, run_chunk
from vppsim.montecarlo.run import batch_scenario, clear_day_ahead, run_montecarlo, sample_seeds
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario


def batch(samples: int, workers: int | None, out: Path, allocator: str | None = None) -> None:
    loaded = load_scenario(default_scenario_path())
    if allocator not in (None, "scenario"):
        loaded = _with_allocator(loaded, allocator)
    t0 = time.perf_counter()
    res = run_montecarlo(loaded, samples, out, workers=workers, progress=True)
    total = time.perf_counter() - t0
    w = res.summary["wall_time_s"]
    print(f"\n{samples} samples of {loaded.scenario.name} ({loaded.scenario.market.price_policy} "
          f"day-ahead), {workers or os.cpu_count()} workers, {loaded.scenario.balancing.allocator} "
          f"allocator, lightsim2grid: {total:.1f} s wall")
    for k in ("day_ahead", "cluster_start", "samples", "writing"):
        print(f"  {k:14s} {w[k]:7.2f} s")
        if k == "cluster_start":
            c = res.summary.get("cluster_start_s") or {}
            print(f"    (client up {c.get('started_s', float('nan')):.2f} s, workers warmed "
                  f"{c.get('warmed_s', float('nan')):.2f} s after its start began; it overlaps "
                  "the day-ahead only with a spare core or an existing scheduler)")
        if k == "writing":
            for part, v in (res.summary.get("writing_split_s") or {}).items():
                print(f"    {part:22s} {v:7.2f} s")
    print(f"  {'total':14s} {w['total']:7.2f} s  (at most {res.summary.get('max_chunks_in_flight')}"
          " chunks in flight)")
    print(f"  {samples / total:.1f} samples/s overall; {res.summary['samples_per_s']:.1f} samples/s "
          f"once the cluster runs; worker time per sample {res.summary['worker_s_per_sample'] * 1e3:.1f} ms"
          f" (incl. each worker's first-sample imports); errors {res.n_errors}")
    print("  worker time per sample by phase: " + ", ".join(
        f"{k} {v:.1f} ms" for k, v in (res.summary["worker_phase_ms_per_sample"] or {}).items()))


def _cum(stats: pstats.Stats, path_end: str, func: str) -> float:
    return sum(v[3] for k, v in stats.stats.items() if k[0].endswith(path_end) and k[2] == func)


PHASE_LABELS = {"build": "model build (agents, forecast errors)", "realize": "  step: realize",
                "realtime": "  step: balancing inputs and outcomes",
                "allocation": "  step: allocation (batched over the chunk)",
                "settlement": "  step: settlement", "power_flow": "  step: power flow",
                "accounting": "  step: accounting", "kpis": "KPI row and per-step series"}


def _with_allocator(loaded: Any, allocator: str, exact_reference: bool = False) -> Any:
    return loaded.with_overrides(balancing={**loaded.scenario.balancing.model_dump(),
                                            "allocator": allocator,
                                            "exact_reference": exact_reference})


def _timed_chunk(ctx: SampleContext, pairs: list, path: str) -> tuple[float, dict[str, float]]:
    run_chunk(ctx, pairs[:3], path=path)  # warm-up: imports, first-call caches
    t0 = time.perf_counter()
    _, _, _, phases = run_chunk(ctx, pairs[3:], path=path)
    return time.perf_counter() - t0, phases


def _gap(loaded: Any, cleared: dict, pairs: list) -> tuple[float, float, int]:
    """GA-ACO's balance gap to the exact LP optimum per searched problem: mean, max, count."""
    ctx = SampleContext(_with_allocator(loaded, "ga-aco", exact_reference=True), cleared,
                        tuple(v.name for v in loaded.scenario.vpps))
    _, _, _, ch = run_arrays(ctx, pairs, VPPModel.build_power_flow(ctx.loaded))
    gap = ch.rec.vpp["allocation_gap_cny_per_kwh"].ravel()
    gap = gap[np.isfinite(gap)]
    return float(gap.mean()), float(gap.max()), len(gap)


def profile(n: int, n_arrays: int) -> None:
    """One chunk of ``n`` samples in this process on the object path (Mesa models, lockstep,
    one batched allocator call per step) and chunks of ``n_arrays`` on the array path
    (GA-ACO and exact-fast): time per phase side by side, then cProfile of the object chunk."""
    loaded = batch_scenario(load_scenario(default_scenario_path()), "lightsim2grid", False)
    cleared = clear_day_ahead(loaded, loaded.scenario.seed)
    names = tuple(v.name for v in loaded.scenario.vpps)
    pairs = list(enumerate(sample_seeds(loaded.scenario.seed, max(n, n_arrays) + 3)))
    runs = {}
    for label, allocator, path, m in (("objects ga-aco", "ga-aco", "objects", n),
                                      ("arrays ga-aco", "ga-aco", "arrays", n_arrays),
                                      ("arrays exact-fast", "exact-fast", "arrays", n_arrays)):
        ctx = SampleContext(_with_allocator(loaded, allocator), cleared, names)
        cpu = time.process_time()
        total, phases = _timed_chunk(ctx, pairs[:m + 3], path)
        runs[label] = (m, total, phases, time.process_time() - cpu)
    print("\nin-process chunks (ms per sample; no per-step exact LP; lightsim2grid):")
    print(f"  {'phase':44s}" + "".join(f"{k:>20s}" for k in runs))
    print(f"  {'samples in the chunk':44s}" + "".join(f"{r[0]:20d}" for r in runs.values()))
    for k, label in PHASE_LABELS.items():
        print(f"  {label:44s}" + "".join(f"{r[2].get(k, 0.0) / r[0] * 1e3:20.2f}"
                                         for r in runs.values()))
    print(f"  {'total (wall)':44s}" + "".join(f"{r[1] / r[0] * 1e3:20.2f}" for r in runs.values()))
    print(f"  {'total (CPU of this process, incl. warm-up)':44s}"
          + "".join(f"{r[3] / (r[0] + 3) * 1e3:20.2f}" for r in runs.values()))
    mean, worst, count = _gap(loaded, cleared, pairs[3:3 + min(n_arrays, 50)])
    print(f"  GA-ACO's balance gap to the exact optimum over {count} VPP-steps: mean "
          f"{mean:.3g}, max {worst:.3g} CNY/kWh (allocation_gap_cny_per_kwh)")

    ctx = SampleContext(loaded, cleared, names)
    prof = cProfile.Profile()
    prof.enable()
    run_chunk(ctx, pairs[3:n + 3], path="objects")
    prof.disable()
    st = pstats.Stats(prof)
    print("\ncProfile of the object chunk (cumulative ms per sample; profiler overhead inflates "
          "small calls):")
    rows = [
        ("GA-ACO (ga_aco)", "vppsim/optimizers/gaaco.py", "ga_aco"),
        ("  projection repair", "vppsim/allocation/problem.py", "repair"),
        ("balanced allocator around it", "vppsim/allocation/realtime.py", "__call__"),
        ("PowerFlow.solve (tabled feeder)", "vppsim/grids/light.py", "solve"),
        ("summarize", "vppsim/results/run.py", "summarize"),
    ]
    for label, path, func in rows:
        print(f"  {label:48s} {_cum(st, path, func) / n * 1e3:7.2f} ms")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
    print("\nheaviest functions by own time:")
    print("\n".join(buf.getvalue().splitlines()[6:22]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--workers", type=int, default=None, help="default: one per core")
    p.add_argument("--out", type=Path, default=None, help="default: a temporary folder")
    p.add_argument("--profile-samples", type=int, default=100,
                   help="samples of the in-process chunk on the object path")
    p.add_argument("--array-samples", type=int, default=500,
                   help="samples of the in-process chunks on the array path")
    p.add_argument("--no-batch", action="store_true", help="only the per-sample profile")
    p.add_argument("--allocator", default="exact-fast",
                   help="the batch's real-time allocator (default: exact-fast, the exact optimum "
                        "at array speed; `--allocator scenario` keeps the scenario's)")
    add_quick(p, "--samples 10 --profile-samples 5, one worker unless --workers")
    args = p.parse_args()
    if args.quick:
        args.samples, args.profile_samples, args.workers = 10, 5, args.workers or 1
        args.array_samples = 20
    if not args.no_batch:
        if args.out is not None:
            batch(args.samples, args.workers, args.out, args.allocator)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                batch(args.samples, args.workers, Path(tmp) / "mc", args.allocator)
    if args.profile_samples:
        profile(args.profile_samples, args.array_samples)


if __name__ == "__main__":
    main()
