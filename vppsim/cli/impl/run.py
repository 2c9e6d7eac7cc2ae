"""``vppsim run``: one scenario through its horizon, written to a result folder.

A run of more than one day is stepped day by day with its tables streamed to Parquet and a
checkpoint after each day (:mod:`vppsim.results.horizon`); the same command with the same
``--out`` resumes a killed run from its last finished day. The uncoordinated baseline runs
in a forked child process (:class:`vppsim.forked.ForkedCall`, Linux) while the coordinated
run computes: independent models from the same seed (and, for a long run, separate stores
with their own checkpoints), so the KPIs are those of running them one after the other.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from vppsim.cli.common import EXIT_BAD_INPUT, claimed, folder_summary, output_folder, report
from vppsim.forked import ForkedCall, ForkedCallError, can_fork
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.figures import FigureDrawing
from vppsim.results.folders import HORIZON_DIR, OutputFolderError, ResultFolder, default_out_dir
from vppsim.results.horizon import resume_mismatch, run_by_day, run_identity, save_finished_days, start_store
from vppsim.results.kpis import baseline_of, model_kpis
from vppsim.results.run import console_summary, draw_figures, save_partial, write_results
from vppsim.scenario.loader import LoadedScenario, load_scenario


def _baseline_failed(why: str) -> None:
    print(f"vppsim: WARNING: the baseline run failed ({why}); the KPI table shows the "
          "coordinated run only", file=sys.stderr)


def run_baseline(loaded: LoadedScenario, seed: int | None, store: Path | None = None,
                 progress: bool = False) -> tuple[dict[str, float] | None, float]:
    """Run the baseline without coordination (same seed): its KPIs and wall time in s.

    The KPIs are :func:`vppsim.results.kpis.model_kpis`; ``(None, s)`` if the run failed (said
    on stderr). ``store``: stream it by day there (:func:`vppsim.results.horizon.run_by_day`).
    """
    t0 = time.perf_counter()
    try:
        model = VPPModel(loaded, seed=seed)
        if store is None:
            model.run(progress=progress)
        else:
            model = run_by_day(model, store, progress, label="baseline")
        kpis = model_kpis(model)
    except Exception as exc:  # the coordinated run stands on its own: report, do not fail it
        _baseline_failed(f"{type(exc).__name__}: {exc}")
        return None, time.perf_counter() - t0
    return kpis, time.perf_counter() - t0


def _baseline_answer(call: ForkedCall) -> tuple[dict[str, float] | None, float]:
    """The answer of :func:`run_baseline` in a :class:`ForkedCall`; ``(None, 0)`` if it was lost."""
    try:
        return call.result()
    except ForkedCallError as exc:  # the child died (killed, out of memory) or its answer broke
        _baseline_failed(str(exc))
        return None, 0.0


def _check_resume(folder: ResultFolder, identity: dict[str, Any], streamed: bool) -> None:
    """Refuse (exit 2) to continue a kept long run that is not this one; clear its old error."""
    if not folder.resumable:
        return
    bad = resume_mismatch(folder.work, identity) if streamed else ["streaming (off now)"]
    if bad:
        folder.release()
        raise OutputFolderError(
            f"--out: expected the same scenario, seed, --days and baseline as the unfinished "
            f"run kept in {folder.work} to resume it, but these differ: {'; '.join(bad)}; "
            "remove that folder or choose another --out", reason="exists")
    (folder.work / "error.txt").unlink(missing_ok=True)


def _run_main(model: VPPModel, folder: ResultFolder, streamed: bool,
              progress: bool) -> VPPModel | None:
    """Run the coordinated model; on failure keep what was done, say so and return None."""
    try:
        if streamed:
            return run_by_day(model, folder.work / HORIZON_DIR / "main", progress)
        model.run(progress=progress)
        return model
    except BaseException as exc:
        if streamed:
            try:
                days = save_finished_days(folder.work / HORIZON_DIR / "main", folder.work)
            finally:
                folder.fail(exc)
            at, where = "", (f"the {days} finished day(s) are kept in {folder.work} "
                             "(timeseries.parquet); the same command resumes from there")
        else:
            at = f" at step {model.t}"
            where = f"the steps done are in {save_partial(model, folder, exc)}"
        if isinstance(exc, KeyboardInterrupt):
            print(f"vppsim: stopped{at}; {where}", file=sys.stderr)
            raise
        if not isinstance(exc, Exception):
            raise
        print(f"vppsim: the run failed{at}: {type(exc).__name__}: {exc}\n  {where} "
              "(see error.txt)", file=sys.stderr)
        return None


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
    skip = args.no_baseline or not loaded.scenario.baseline
    base_loaded = None if skip else baseline_of(loaded)
    streamed = loaded.scenario.days > 1 and not getattr(args, "no_stream", False)
    identity = run_identity(loaded, args.seed, base_loaded is not None)
    # claimed before computing: an existing, busy or unwritable folder fails now (exit 2)
    folder = output_folder(args, default_out_dir(loaded.scenario.name))
    _check_resume(folder, identity, streamed)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    progress = not args.quiet  # a bar by day (streamed) or by step, on stderr
    with claimed(folder), ExitStack() as stack:
        if streamed and not folder.resumable:
            start_store(folder.work, identity)
        own_baseline = base_loaded is not None and base_loaded.scenario == loaded.scenario
        # forked first (Linux), before any solver has run here: computes beside the run
        # without a bar of its own; where nothing may be forked it runs after the run, with one
        baseline_call = None
        if base_loaded is not None and not own_baseline:
            store = folder.work / HORIZON_DIR / "baseline" if streamed else None
            baseline_call = stack.enter_context(ForkedCall(
                run_baseline, base_loaded, args.seed, store, progress and not can_fork()))
        model = VPPModel(loaded, seed=args.seed)
        build_s = time.perf_counter() - t1
        # forked by the command line before the model was imported (Linux; else now): it has
        # imported matplotlib by the end of the run and draws while the tables are written
        drawing = None
        if not args.no_figures:
            drawing = getattr(args, "drawing", None) or stack.enter_context(FigureDrawing())
        t2 = time.perf_counter()
        finished = _run_main(model, folder, streamed, progress)
        if finished is None:
            return 1  # a failure while running
        model = finished
        run_s = time.perf_counter() - t2
        if drawing is not None:
            draw_figures(model, drawing, folder)
        wall = {"load_scenario": load_s, "build": build_s, "run": run_s}
        baseline_kpis = None
        if own_baseline:  # nothing to take away: the scenario is its own baseline
            baseline_kpis, wall["baseline"] = model_kpis(model), 0.0
        elif baseline_call is not None:
            baseline_kpis, wall["baseline"] = _baseline_answer(baseline_call)
        final = write_results(model, folder, wall, figures=not args.no_figures,
                              baseline_kpis=baseline_kpis, drawing=drawing)
    report(args, folder_summary(final))
    if not args.quiet:
        s = json.loads((final / "summary.json").read_text(encoding="utf-8"))
        print(console_summary(s))
        print(f"  wrote {final} in {time.perf_counter() - t0:.1f} s")
    return 0
