"""Benchmark of `vppsim montecarlo`: 1,000 samples of the default 3-VPP day on the default LocalCluster.

    python benchmarks/montecarlo_benchmark.py                   # 1,000 samples, one worker per core
    python benchmarks/montecarlo_benchmark.py --samples 200 --workers 2 --out /tmp/mc

It prints the batch's wall time split (day-ahead, cluster start, samples, writing), samples/s,
then where one sample's time goes, measured in this process (no Dask): building the model
(feeder, power-flow backend, agents), each phase of the step loop (realize, real-time
balancing, settlement, power flow, accounting), the KPI summary and the per-step series;
and cProfile's heaviest functions for the same samples. The issue's target: 1,000 samples in
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

import numpy as np

from vppsim.batch import _step_series, _with_backend, clear_day_ahead, run_montecarlo, sample_seeds
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results import summarize
from vppsim.scenario import load_scenario


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
    print(f"  {'total':14s} {w['total']:7.2f} s")
    print(f"  {samples / total:.1f} samples/s overall; {res.summary['samples_per_s']:.1f} samples/s "
          f"once the cluster runs; worker time per sample {res.summary['worker_s_per_sample'] * 1e3:.1f} ms"
          f" (incl. each worker's first-sample imports); errors {res.n_errors}")


def _cum(stats: pstats.Stats, path_end: str, func: str) -> float:
    return sum(v[3] for k, v in stats.stats.items() if k[0].endswith(path_end) and k[2] == func)


def profile(n: int) -> None:
    loaded = _with_backend(load_scenario(default_scenario_path()), "lightsim2grid")
    cleared = clear_day_ahead(loaded, loaded.scenario.seed)
    seeds = sample_seeds(loaded.scenario.seed, n + 3)
    parts: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    power_flow = VPPModel.build_power_flow(loaded)  # once per chunk, as run_chunk does
    print(f"\npower-flow build (feeder copy, sgens, lightsim2grid model), once per chunk: "
          f"{(time.perf_counter() - t0) * 1e3:.1f} ms")

    def one(seed: int) -> None:
        t0 = time.perf_counter()
        m = VPPModel(loaded, seed=seed, shared_day_ahead=cleared, power_flow=power_flow)
        t1 = time.perf_counter()
        m.run()
        t2 = time.perf_counter()
        summarize(m, {})
        t3 = time.perf_counter()
        _step_series(m.timeseries(), 0)
        t4 = time.perf_counter()
        for k, v in {"model build": t1 - t0, **{f"  step: {p}": s for p, s in m.phase_s.items()},
                     "summarize (KPIs)": t3 - t2, "per-step series": t4 - t3,
                     "total": t4 - t0}.items():
            parts.setdefault(k, []).append(v)

    for s in seeds[:3]:  # warm-up: imports, first-call caches
        one(s)
    parts.clear()
    for s in seeds[3:]:
        one(s)
    print(f"\none sample, in process (mean of {n}, after 3 warm-up samples):")
    total = np.mean(parts["total"])
    for k, v in parts.items():
        print(f"  {k:26s} {np.mean(v) * 1e3:7.2f} ms  {np.mean(v) / total:6.1%}")

    prof = cProfile.Profile()
    prof.enable()
    for s in seeds[3:]:
        one(s)
    prof.disable()
    st = pstats.Stats(prof)
    print(f"\ncProfile of the same {n} samples (cumulative ms per sample; profiler overhead "
          "inflates small calls):")
    rows = [
        ("VPPModel.__init__", "vppsim/model.py", "__init__"),
        ("  forecast-error sample", "vppsim/forecast/uncertainty.py", "sample_relative_errors"),
        ("VPPModel.step", "vppsim/model.py", "step"),
        ("  PowerFlow.solve", "vppsim/grids/powerflow.py", "solve"),
        ("summarize", "vppsim/results.py", "summarize"),
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
    p.add_argument("--profile-samples", type=int, default=20)
    p.add_argument("--no-batch", action="store_true", help="only the per-sample profile")
    args = p.parse_args()
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
