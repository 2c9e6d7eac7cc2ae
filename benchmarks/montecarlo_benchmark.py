"""Benchmark of `vppsim montecarlo`: 1,000 samples of the default 3-VPP day on the default LocalCluster.

    python benchmarks/montecarlo_benchmark.py                   # 1,000 samples, one worker per core
    python benchmarks/montecarlo_benchmark.py --samples 200 --workers 2 --out /tmp/mc
    python benchmarks/montecarlo_benchmark.py --quick           # 10 samples on 1 worker, a 5-sample profile

It prints the batch's wall time split (day-ahead, cluster start: what remained of it after the
day-ahead clearing if they overlap, samples, writing: by part), samples/s
and the workers' time per sample by phase; then one chunk of samples run in this process as a
worker runs it (lockstep, one batched allocator call per step): its time per phase, and
cProfile's heaviest functions for the same chunk. The issue's target: 1,000 samples in
under 30 s.
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

from _bench import add_quick

from vppsim.montecarlo.chunk import SampleContext, run_chunk
from vppsim.montecarlo.run import batch_scenario, clear_day_ahead, run_montecarlo, sample_seeds
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario


def batch(samples: int, workers: int | None, out: Path) -> None:
    loaded = load_scenario(default_scenario_path())
    t0 = time.perf_counter()
    res = run_montecarlo(loaded, samples, out, workers=workers, progress=True)
    total = time.perf_counter() - t0
    w = res.summary["wall_time_s"]
    print(f"\n{samples} samples of {loaded.scenario.name} ({loaded.scenario.market.price_policy} "
          f"day-ahead), {workers or os.cpu_count()} workers, lightsim2grid: {total:.1f} s wall")
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


def profile(n: int) -> None:
    """One chunk of ``n`` samples in this process, as a Dask worker runs it (``run_chunk``:
    lockstep, one batched allocator call per step, one power flow for the chunk)."""
    loaded = batch_scenario(load_scenario(default_scenario_path()), "lightsim2grid", False)
    cleared = clear_day_ahead(loaded, loaded.scenario.seed)
    ctx = SampleContext(loaded, cleared, tuple(v.name for v in loaded.scenario.vpps))
    pairs = list(enumerate(sample_seeds(loaded.scenario.seed, n + 3)))
    run_chunk(ctx, pairs[:3])  # warm-up: imports, first-call caches
    t0 = time.perf_counter()
    _, _, seconds, phases = run_chunk(ctx, pairs[3:])
    total = time.perf_counter() - t0
    print(f"\none chunk of {n} samples in process ({loaded.scenario.balancing.allocator} "
          f"allocator, no per-step exact LP): {total:.2f} s, {total / n * 1e3:.1f} ms per sample")
    labels = {"build": "model build (agents, forecast errors)", "realize": "  step: realize",
              "realtime": "  step: balancing inputs and outcomes",
              "allocation": "  step: allocation (batched over the chunk)",
              "settlement": "  step: settlement", "power_flow": "  step: power flow",
              "accounting": "  step: accounting", "kpis": "KPI row and per-step series"}
    for k, label in labels.items():
        v = phases.get(k, 0.0)
        print(f"  {label:44s} {v / n * 1e3:7.2f} ms  {v / seconds:6.1%}")

    prof = cProfile.Profile()
    prof.enable()
    run_chunk(ctx, pairs[3:])
    prof.disable()
    st = pstats.Stats(prof)
    print("\ncProfile of the same chunk (cumulative ms per sample; profiler overhead inflates "
          "small calls):")
    rows = [
        ("GA-ACO (ga_aco)", "vppsim/optimizers/gaaco.py", "ga_aco"),
        ("  projection repair", "vppsim/allocation/problem.py", "repair"),
        ("balanced allocator around it", "vppsim/allocation/realtime.py", "__call__"),
        ("PowerFlow.solve", "vppsim/grids/powerflow.py", "solve"),
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
    p.add_argument("--profile-samples", type=int, default=100, help="samples of the in-process chunk")
    p.add_argument("--no-batch", action="store_true", help="only the per-sample profile")
    add_quick(p, "--samples 10 --profile-samples 5, one worker unless --workers")
    args = p.parse_args()
    if args.quick:
        args.samples, args.profile_samples, args.workers = 10, 5, args.workers or 1
    if not args.no_batch:
        if args.out is not None:
            batch(args.samples, args.workers, args.out)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                batch(args.samples, args.workers, Path(tmp) / "mc")
    if args.profile_samples:
        profile(args.profile_samples)


if __name__ == "__main__":
    main()
