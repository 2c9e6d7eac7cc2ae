"""Command line: ``vppsim run``, ``vppsim validate``, ``vppsim feeders``.

Exit codes: 0 success, 2 bad input (scenario file, options), 1 a failure while running.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vppsim import __version__
from vppsim.paths import default_scenario_path
from vppsim.scenario import ScenarioError, load_scenario

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

    sub.add_parser("feeders", help="list the named feeders")
    return p


def _run(args: argparse.Namespace) -> int:
    from vppsim.model import VPPModel
    from vppsim.results import default_out_dir, save_partial, write_results

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vppsim`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
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
