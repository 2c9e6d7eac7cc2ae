"""Command line: ``vppsim run``, ``validate``, ``game``, ``montecarlo``, ``allocate``, ``feeders``.

Exit codes: 0 success, 2 bad input (scenario file, options), 1 a failure while running.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vppsim import __version__
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vppsim", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"vppsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and write a result folder")
    run.add_argument("scenario", nargs="?", type=Path, default=None,
                     help="scenario YAML (default: the shipped liu2025_3vpp.yaml)")
    run.add_argument("--out", type=Path, default=None,
                     help="result folder (default: results/<scenario>-<timestamp>)")
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument("--days", type=int, default=None, help="override the number of days")
    run.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    run.add_argument("--quiet", action="store_true", help="no progress bar, no summary")

    val = sub.add_parser("validate", help="check a scenario file without running it")
    val.add_argument("scenario", type=Path)

    game = sub.add_parser("game", help="solve the day-ahead bi-level game alone")
    game.add_argument("scenario", nargs="?", type=Path, default=None,
                      help="scenario YAML (default: the shipped liu2025_3vpp.yaml)")
    game.add_argument("--solver", choices=["pso-rl", "pso", "ga", "exact"], default=None,
                      help="default: the scenario's market.game.solver")
    game.add_argument("--objective", choices=["system_cost", "vpo_profit"], default=None,
                      help="default: the scenario's market.game.objective")
    game.add_argument("--budget", type=int, default=None,
                      help="objective evaluations (default: the scenario's market.game.budget)")
    game.add_argument("--seed", type=int, default=None, help="default: the scenario's seed")
    game.add_argument("--day", type=int, default=0, help="which day of the horizon (default 0)")
    game.add_argument("--out", type=Path, default=None,
                      help="result folder (default: results/<scenario>-game-<timestamp>)")
    game.add_argument("--compare", action="store_true",
                      help="also run the other metaheuristics and write comparison.md "
                      "(Model 1 vs Model 2, paper 004 Table 4 style)")
    game.add_argument("--no-reference", action="store_true",
                      help="skip the exact reference (the certificate then has no VPO regret)")
    game.add_argument("--quiet", action="store_true")

    mc = sub.add_parser("montecarlo", help="Monte Carlo over forecast errors on Dask (resumable)")
    mc.add_argument("scenario", nargs="?", type=Path, default=None,
                    help="one-day scenario YAML (default: the shipped liu2025_3vpp.yaml)")
    mc.add_argument("--samples", type=int, required=True, help="number of samples N (>= 1)")
    mc.add_argument("--workers", type=int, default=None,
                    help="LocalCluster worker processes (default: one per core; not with --scheduler)")
    mc.add_argument("--scheduler", default=None,
                    help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    mc.add_argument("--out", type=Path, default=None,
                    help="result folder (default: results/<scenario>-mc-<seed>); re-running the "
                    "same command on it resumes")
    mc.add_argument("--seed", type=int, default=None,
                    help="base seed of SeedSequence(seed).spawn(N) (default: the scenario's seed)")
    mc.add_argument("--chunk-size", type=int, default=None,
                    help="samples per Dask task (default: automatic; results do not depend on it)")
    mc.add_argument("--max-samples", type=int, default=None,
                    help="stop after computing this many new samples (resume later)")
    mc.add_argument("--allocation-gap", action="store_true",
                    help="also solve every step's exact allocation LP and report the allocator's "
                    "gap (allocation_gap_max); about doubles the allocation time")
    mc.add_argument("--grid", action="store_true",
                    help="run every case of the scenario's sensitivity: section (one batch per "
                    "case in OUT/<case>/) and print the grid's table beside the paper's")
    mc.add_argument("--quiet", action="store_true", help="no progress bar, no summary")

    from vppsim.cli import allocate as allocation_cli

    allocation_cli.add_parser(sub)
    sub.add_parser("feeders", help="list the named feeders")
    return p


def _game(args: argparse.Namespace) -> int:
    from vppsim.market.day_ahead import DayAheadMarket
    from vppsim.market.game import solve_game
    from vppsim.market.solvers import SEARCH_SOLVERS
    from vppsim.model import VPPModel
    from vppsim.results.folders import default_out_dir
    from vppsim.results.game import write_game_results

    loaded = load_scenario(args.scenario or default_scenario_path())
    s = loaded.scenario
    spec = s.market.game
    solver = args.solver or spec.solver
    objective = args.objective or spec.objective
    budget = args.budget if args.budget is not None else spec.budget
    seed = args.seed if args.seed is not None else s.seed
    if budget < 10:
        print(f"vppsim: --budget: expected an integer >= 10, got {budget}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not 0 <= args.day < s.days:
        print(f"vppsim: --day: expected 0..{s.days - 1}, got {args.day}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = args.out or default_out_dir(f"{s.name}-game")
    if out.exists():
        print(f"vppsim: --out: expected a folder that does not exist yet, got {out}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    model = VPPModel(loaded, seed=seed)
    vpps = [v.day_ahead_data(args.day) for v in model.vpps]
    sl = slice(args.day * s.steps_per_day, (args.day + 1) * s.steps_per_day)
    pi_imp = model.tariff.import_cny_per_kwh[sl]
    pi_exp = model.tariff.export_cny_per_kwh[sl]
    market = DayAheadMarket(vpps, pi_imp, pi_exp, model.vpo.storage_data())
    kwargs = dict(objective=objective, budget=budget, seed=seed,
                  reference_time_limit_s=spec.reference_time_limit_s)
    res = solve_game(market, solver=solver, reference=not args.no_reference, **kwargs)
    others = {}
    if args.compare:
        for other in SEARCH_SOLVERS:
            if other != solver:
                others[other] = solve_game(market, solver=other, reference=False, **kwargs)
    final = write_game_results(res, out, s.name, pi_imp, pi_exp, s.step_h, others,
                               compare=args.compare)
    if not args.quiet:
        c = res.certificate
        value = res.outcome.objective_value(objective)
        print(f"{s.name} day {args.day}: {solver} on {objective} = {value:,.2f} CNY "
              f"(Model 1: {res.model1.objective_value(objective):,.2f})")
        if res.reference is not None:
            print(f"  reference: {res.reference.name} = {res.reference.value_cny:,.2f} "
                  f"({res.reference.status})")
        print(f"  certificate: epsilon {c.epsilon_cny:.4g} CNY ({c.epsilon_rel:.3g} relative); "
              f"max VPP regret {max(c.vpp_regret_cny.values()):.3g} CNY")
        for k, r in others.items():
            print(f"  {k}: {r.outcome.objective_value(objective):,.2f} CNY")
        print(f"  wrote {final} in {res.wall_s['total']:.1f} s (game)")
    return 0


def _run(args: argparse.Namespace) -> int:
    from vppsim.model import VPPModel
    from vppsim.results.folders import default_out_dir
    from vppsim.results.run import save_partial, write_results

    t0 = time.perf_counter()
    path = args.scenario or default_scenario_path()
    if args.days is not None and args.days < 1:
        print(f"vppsim: --days: expected an integer >= 1, got {args.days}", file=sys.stderr)
        return EXIT_BAD_INPUT
    loaded = load_scenario(path)
    if args.days is not None:
        loaded = loaded.with_overrides(days=args.days)
    out = args.out or default_out_dir(loaded.scenario.name)
    if out.exists():
        print(f"vppsim: --out: expected a folder that does not exist yet, got {out}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    model = VPPModel(loaded, seed=args.seed)
    build_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    try:
        model.run(progress=not args.quiet and loaded.scenario.days > 1)
    except Exception as exc:
        partial = save_partial(model, out, exc)
        print(f"vppsim: the run failed at step {model.t}: {type(exc).__name__}: {exc}\n"
              f"  what was computed so far is in {partial} (see error.txt)", file=sys.stderr)
        return 1
    run_s = time.perf_counter() - t2
    final = write_results(
        model, out, {"load_scenario": load_s, "build": build_s, "run": run_s},
        figures=not args.no_figures,
    )
    if not args.quiet:
        import json

        s = json.loads((final / "summary.json").read_text(encoding="utf-8"))
        costs = ", ".join(f"{k} {v:,.2f}" for k, v in s["vpp_cost_cny"].items())
        print(f"{s['scenario']}: seed {s['seed']}, {s['horizon_h']:g} h")
        print(f"  VPP cost (CNY): {costs}; total {s['total_vpp_cost_cny']:,.2f}")
        print(f"  VPO profit {s['vpo_profit_cny']:,.2f} CNY; system cost "
              f"{s['system_cost_cny']:,.2f} CNY")
        print(f"  losses {s['network_losses_kwh']:,.2f} kWh; voltage "
              f"{s['min_voltage_pu']:.4f}-{s['max_voltage_pu']:.4f} pu; unmet "
              f"{s['unmet_energy_kwh']:,.2f} kWh")
        print(f"  wrote {final} in {time.perf_counter() - t0:.1f} s")
    return 0


def _montecarlo(args: argparse.Namespace) -> int:
    from vppsim.montecarlo.run import run_montecarlo
    from vppsim.montecarlo.store import ManifestMismatchError

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
    loaded = load_scenario(args.scenario or default_scenario_path())
    s = loaded.scenario
    if s.days != 1:
        print(f"vppsim: {loaded.path}: days: expected 1 for Monte Carlo (one scenario day), "
              f"got {s.days}", file=sys.stderr)
        return EXIT_BAD_INPUT
    seed = args.seed if args.seed is not None else s.seed
    out = args.out or Path.cwd() / "results" / f"{s.name}-{'grid' if args.grid else 'mc'}-{seed}"
    if args.grid and s.sensitivity is None:
        print(f"vppsim: {loaded.path}: sensitivity: expected a sensitivity section with cases "
              "for --grid", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.grid and args.max_samples is not None:
        print("vppsim: --max-samples: not supported with --grid", file=sys.stderr)
        return EXIT_BAD_INPUT
    import signal
    import threading

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # close the cluster; the finished parts stay for a resume

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.grid:
            from vppsim.montecarlo.sensitivity import render, run_grid

            table = run_grid(loaded, args.samples, out, seed=seed, workers=args.workers,
                             scheduler=args.scheduler, progress=not args.quiet,
                             allocation_gap=args.allocation_gap)
            if not args.quiet:
                print(render(table, loaded, args.samples))
                print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
            return 0
        res = run_montecarlo(loaded, args.samples, out, seed=seed, workers=args.workers,
                             scheduler=args.scheduler, chunk_size=args.chunk_size,
                             max_samples=args.max_samples, progress=not args.quiet,
                             allocation_gap=args.allocation_gap)
    except ManifestMismatchError as exc:
        print(f"vppsim: --out: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"vppsim: interrupted; the finished samples are in {out}/parts; re-run the same "
              "command to resume", file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. an unreachable --scheduler
        print(f"vppsim: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
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
              + (f" ({sm['samples_per_s']:.1f} samples/s)" if sm["samples_per_s"] else ""))
        for col in ("system_cost_cny", "vpo_profit_cny", "imbalance_kwh", "min_voltage_pu"):
            st = k[col]
            if st["n"]:
                print(f"  {col}: mean {st['mean']:,.4g}, 5/50/95 % {st['p5']:,.4g} / "
                      f"{st['p50']:,.4g} / {st['p95']:,.4g}")
        print(f"  wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vppsim`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "game":
            return _game(args)
        if args.command == "montecarlo":
            return _montecarlo(args)
        if args.command == "allocate":
            from vppsim.cli import allocate as allocation_cli

            return allocation_cli.run(args)
        if args.command == "validate":
            loaded = load_scenario(args.scenario)
            s = loaded.scenario
            print(f"{args.scenario}: valid ({len(s.vpps)} VPPs, "
                  f"{sum(len(v.members) for v in s.vpps)} members, feeder {s.feeder.name}, "
                  f"{s.days} day(s) of {s.step_h} h steps)")
            return 0
        if args.command == "feeders":
            from vppsim.grids import FEEDERS

            for name, info in FEEDERS.items():
                print(f"{name:10s} {info.description}")
            return 0
    except ScenarioError as exc:
        print(f"vppsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 1


if __name__ == "__main__":
    sys.exit(main())
