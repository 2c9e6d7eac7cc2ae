"""``vppsim run``: one scenario through its horizon, written to a result folder."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from vppsim.cli.common import EXIT_BAD_INPUT, claimed, output_folder
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.folders import default_out_dir
from vppsim.results.kpis import baseline_of
from vppsim.results.run import console_summary, save_partial, write_results
from vppsim.scenario.loader import LoadedScenario, load_scenario


def run_baseline(loaded: LoadedScenario, seed: int | None) -> tuple[Any | None, float]:
    """Run the baseline without coordination (same seed); ``(None, s)`` if it failed."""
    t0 = time.perf_counter()
    try:
        model = VPPModel(loaded, seed=seed)
        model.run(progress=False)
    except Exception as exc:  # the coordinated run stands on its own: report, do not fail it
        print(f"vppsim: WARNING: the baseline run failed ({type(exc).__name__}: {exc}); the "
              "KPI table shows the coordinated run only", file=sys.stderr)
        return None, time.perf_counter() - t0
    return model, time.perf_counter() - t0


def run(args: argparse.Namespace) -> int:
    """``vppsim run``: run a scenario and write its result folder."""
    t0 = time.perf_counter()
    path = args.scenario or default_scenario_path()
    if args.days is not None and args.days < 1:
        print(f"vppsim: --days: expected an integer >= 1, got {args.days}", file=sys.stderr)
        return EXIT_BAD_INPUT
    loaded = load_scenario(path)
    if args.days is not None:
        loaded = loaded.with_overrides(days=args.days)
    # the baseline's scenario is checked before anything runs (bad input: exit 2)
    base_loaded = None if args.no_baseline else baseline_of(loaded)
    # claimed before computing: an existing, busy or unwritable folder fails now (exit 2)
    folder = output_folder(args, default_out_dir(loaded.scenario.name))
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    with claimed(folder):
        model = VPPModel(loaded, seed=args.seed)
        build_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        try:
            model.run(progress=not args.quiet and loaded.scenario.days > 1)
        except KeyboardInterrupt as exc:
            partial = save_partial(model, folder, exc)
            print(f"vppsim: stopped at step {model.t}; the steps done are in {partial}",
                  file=sys.stderr)
            raise
        except Exception as exc:
            partial = save_partial(model, folder, exc)
            print(f"vppsim: the run failed at step {model.t}: {type(exc).__name__}: {exc}\n"
                  f"  what was computed so far is in {partial} (see error.txt)", file=sys.stderr)
            return 1
        run_s = time.perf_counter() - t2
        wall = {"load_scenario": load_s, "build": build_s, "run": run_s}
        baseline = None
        if base_loaded is not None and base_loaded.scenario == loaded.scenario:
            baseline, wall["baseline"] = model, 0.0  # nothing to take away: its own baseline
        elif base_loaded is not None:
            baseline, wall["baseline"] = run_baseline(base_loaded, args.seed)
        final = write_results(model, folder, wall, figures=not args.no_figures,
                              baseline=baseline)
    if not args.quiet:
        s = json.loads((final / "summary.json").read_text(encoding="utf-8"))
        print(console_summary(s))
        print(f"  wrote {final} in {time.perf_counter() - t0:.1f} s")
    return 0
