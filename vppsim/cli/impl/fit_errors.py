"""``vppsim forecast --fit-errors SCENARIO``: the scenario's error model fitted from a naive forecast.

Builds the scenario's model (nothing is stepped) over ``--fit-days`` days, takes the forecast
profile of every member that realizes with an error (its ``error_quantity``: PV, wind, load),
forecasts it naively (:func:`vppsim.forecast.fit.naive_forecast`) and fits each quantity's
relative errors (:func:`vppsim.forecast.fit.fit_profiles`). Prints the ``forecast_error:``
block (each quantity with the scenario's kind, ``normal`` where it has none) and writes
``forecast_error.yaml`` and ``error_fit.csv`` into the result folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from vppsim.cli.common import claimed, folder_summary, output_folder, report
from vppsim.forecast.fit import error_block, fit_profiles
from vppsim.model import VPPModel
from vppsim.results.folders import default_out_dir
from vppsim.scenario.loader import LoadedScenario, load_scenario
from vppsim.scenario.schema import ScenarioError


def profiles_by_quantity(loaded: LoadedScenario) -> list[tuple[str, str, object]]:
    """``(quantity, member, forecast kW per step)`` of every member realizing with an error."""
    model = VPPModel(loaded)
    return [(a.error_quantity, a.name, a.forecast_kw) for a in model.realizers
            if getattr(a, "error_quantity", None) and hasattr(a, "forecast_kw")]


def _check(loaded: LoadedScenario, args: argparse.Namespace) -> None:
    s, path = loaded.scenario, loaded.path
    need = (1 if args.naive == "persistence" else args.average_days) + 1
    if s.days < need:
        raise ScenarioError(path, [("--fit-days", f"expected at least {need} days for the "
                                    f"{args.naive} forecast, got {s.days}")])
    if loaded.simbench is None and len(loaded.profiles) < 2 * s.steps_per_day:
        raise ScenarioError(path, [("profiles", "expected a profile table of several days to fit "
                                    "errors from (a one-day table repeats: a naive forecast of it "
                                    "is exact)")])


def run(args: argparse.Namespace) -> int:
    """Fit, print the block and write the folder."""
    if args.series is not None:
        raise ScenarioError(args.series, [("--fit-errors", "expected either a series CSV or "
                                           "--fit-errors SCENARIO, not both")])
    loaded = load_scenario(args.fit_errors)
    if args.fit_days is not None and args.fit_days != loaded.scenario.days:
        loaded = loaded.with_overrides(days=args.fit_days)
    _check(loaded, args)
    series = profiles_by_quantity(loaded)
    if not series:
        raise ScenarioError(loaded.path, [("vpps", "expected members with a forecast error "
                                           "(PV, wind or load) to fit")])
    s = loaded.scenario
    fits = fit_profiles([(q, x) for q, _, x in series], s.steps_per_day, args.naive,
                        args.average_days)
    kinds = {q: getattr(s.forecast_error, q).kind for q in fits}
    kinds = {q: k if k in ("normal", "uniform") else "normal" for q, k in kinds.items()}
    block = {"forecast_error": error_block(fits, kinds)}
    text = yaml.safe_dump(block, sort_keys=False)
    table = pd.DataFrame([{"quantity": f.quantity, "members": sum(q == f.quantity for q, _, _ in series),
                           "steps_used": f.n, "bias": f.bias, "sd": f.sd,
                           "autocorrelation": f.autocorrelation, "normal_sd": f.normal_sd,
                           "uniform_band": f.uniform_band, "clipped": "; ".join(f.clipped)}
                          for f in fits.values()])
    folder = output_folder(args, default_out_dir(f"{Path(loaded.path).stem}-error-fit"))
    with claimed(folder):
        method = args.naive + (f" of {args.average_days} days" if args.naive == "average" else "")
        header = (f"# {s.name}: forecast errors fitted from a naive {method} forecast over "
                  f"{s.days} days ({s.step_h} h steps); vppsim.forecast.fit\n")
        (folder.work / "forecast_error.yaml").write_text(header + text, encoding="utf-8")
        table.to_csv(folder.work / "error_fit.csv", index=False)
        final = folder.publish()
    report(args, folder_summary(final, scenario=str(loaded.path), naive=args.naive, **block,
                                fits=table.to_dict("records")))
    if not args.quiet:
        print(header + text, end="")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"wrote {final}")
    return 0
