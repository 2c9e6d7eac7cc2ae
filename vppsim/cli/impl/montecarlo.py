"""``vppsim montecarlo``: forecast-error Monte Carlo on Dask, resumable; sensitivity grids."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vppsim.cli.common import EXIT_BAD_INPUT, folder_summary, report
from vppsim.montecarlo.arrays import unsupported_reason
from vppsim.montecarlo.run import PowerFlowBackendError, batch_scenario, run_montecarlo
from vppsim.montecarlo.sensitivity import render, run_grid
from vppsim.montecarlo.store import ManifestMismatchError
from vppsim.paths import default_scenario_path
from vppsim.results.folders import safe_name
from vppsim.scenario.loader import load_scenario


def run(args: argparse.Namespace) -> int:
    """``vppsim montecarlo``: a resumable Monte Carlo batch (or a sensitivity grid)."""
    t0 = time.perf_counter()
    for opt, value, low in (("--samples", args.samples, 1), ("--workers", args.workers, 1),
                            ("--chunk-size", args.chunk_size, 1),
                            ("--max-samples", args.max_samples, 0)):
        if value is not None and value < low:
            print(f"vppsim: {opt}: expected an integer >= {low}, got {value}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.workers is not None and args.scheduler is not None:
        print("vppsim: --workers and --scheduler: expected one of them, not both", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.days is not None and args.days < 1:
        print(f"vppsim: --days: expected an integer >= 1, got {args.days}", file=sys.stderr)
        return EXIT_BAD_INPUT
    loaded = load_scenario(args.scenario or default_scenario_path())
    if args.days is not None:
        loaded = loaded.with_overrides(days=args.days)
    s = loaded.scenario
    nested = [f"vpps[{i}].members[{j}].scheduler" for i, v in enumerate(s.vpps)
              for j, m in enumerate(v.members) if getattr(m, "scheduler", None) is not None]
    if nested:
        print(f"vppsim: {loaded.path}: {nested[0]}: expected no scheduler with vppsim montecarlo "
              "(its samples already run on the batch's workers, which would each start a Dask "
              "cluster of their own); remove it, or give the batch --scheduler", file=sys.stderr)
        return EXIT_BAD_INPUT
    seed = args.seed if args.seed is not None else s.seed
    out = args.out or (Path.cwd() / "results"
                       / f"{safe_name(s.name)}-{'grid' if args.grid else 'mc'}-{seed}")
    if args.grid and s.sensitivity is None:
        print(f"vppsim: {loaded.path}: sensitivity: expected a sensitivity section with cases "
              "for --grid", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.grid and args.max_samples is not None:
        print("vppsim: --max-samples: not supported with --grid", file=sys.stderr)
        return EXIT_BAD_INPUT
    backend = None if args.power_flow == "scenario" else args.power_flow
    if args.path == "arrays":
        reason = unsupported_reason(batch_scenario(loaded, backend, args.allocation_gap), {0: None})
        if reason is not None:
            print(f"vppsim: {loaded.path}: --path arrays: the array path does not support "
                  f"{reason} (--path auto runs it as objects)", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:  # Ctrl-C and SIGTERM (vppsim.cli.main) close the cluster; finished parts stay
        if args.grid:

            table = run_grid(loaded, args.samples, out, seed=seed, workers=args.workers,
                             scheduler=args.scheduler, progress=not args.quiet,
                             allocation_gap=args.allocation_gap)
            report(args, folder_summary(out, grid=table.to_dict("records")))
            if not args.quiet:
                print(render(table, loaded, args.samples))
                print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
            return 0
        res = run_montecarlo(loaded, args.samples, out, seed=seed, workers=args.workers,
                             scheduler=args.scheduler, chunk_size=args.chunk_size,
                             max_samples=args.max_samples, progress=not args.quiet,
                             allocation_gap=args.allocation_gap, power_flow_backend=backend,
                             path=args.path)
    except ManifestMismatchError as exc:
        print(f"vppsim: --out: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PowerFlowBackendError as exc:
        print(f"vppsim: {loaded.path}: --power-flow {args.power_flow}: {exc} (--power-flow "
              "scenario keeps the scenario's feeder.power_flow_backend)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"vppsim: interrupted; the finished samples are in {out}/parts; re-run the same "
              "command to resume", file=sys.stderr)
        raise
    except OSError as exc:  # e.g. an unreachable --scheduler
        print(f"vppsim: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    report(args, folder_summary(out, complete=res.complete, n_samples=res.n_samples,
                                samples_done=len(res.kpis),
                                computed_now=len(res.computed_samples)))
    if not res.complete:
        failed = res.summary.get("failed_chunks") or []
        msg = (f"vppsim: {len(res.kpis)} of {res.n_samples} samples done in {out} "
               f"({len(res.computed_samples)} computed now); re-run the same command to resume")
        if failed:
            print(msg + "\n  lost chunks:\n  " + "\n  ".join(failed), file=sys.stderr)
            return 1
        if not args.quiet:
            print(msg)
        return 0
    if not args.quiet:
        sm = res.summary
        k = sm["kpis"]
        print(f"{s.name}: {res.n_samples} samples, seed {seed}, {sm['n_errors']} raised; "
              f"{len(res.computed_samples)} computed now"
              + (f" ({sm['samples_per_s']:.3g} samples/s)" if sm["samples_per_s"] else ""))
        for col in ("system_cost_cny", "vpo_profit_cny", "imbalance_kwh", "min_voltage_pu"):
            st = k[col]
            if st["n"]:
                print(f"  {col}: mean {st['mean']:,.4g}, 5/50/95 % {st['p5']:,.4g} / "
                      f"{st['p50']:,.4g} / {st['p95']:,.4g}")
        print(f"  wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0
