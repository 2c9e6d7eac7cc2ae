"""``vppsim forecast [SERIES.csv] [--model regression|gbr|all] [--test-days N] --out DIR``.

Reads the series (:func:`vppsim.forecast.load.read_load_weather`), fits every model on all but
the last ``--test-days`` days, prints their out-of-sample errors side by side and writes
``metrics.csv``, ``forecast.parquet`` and ``forecast.png`` (the first test week). Bad input
raises :class:`vppsim.scenario.schema.ScenarioError` (``file: field: expected``; exit code 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from vppsim.cli.common import claimed, folder_summary, output_folder, report
from vppsim.cli.forecast import MODELS
from vppsim.cli.impl import fit_errors
from vppsim.forecast.load import Evaluation, evaluate, read_load_weather, split_row
from vppsim.paths import data_dir
from vppsim.results.folders import default_out_dir
from vppsim.results.plotting import pyplot
from vppsim.scenario.schema import ScenarioError

#: the shipped series (synthetic, see scenarios/make_load_weather.py)
DEFAULT_SERIES = "load_weather_hourly.csv"


def render_table(metrics: pd.DataFrame) -> str:
    """The out-of-sample errors, one line per model."""
    lines = [f"{'model':<12}{'MAE kW':>10}{'RMSE kW':>10}{'MAPE %':>9}{'train h':>9}{'test h':>8}"]
    for r in metrics.itertuples():
        lines.append(f"{r.model:<12}{r.mae_kw:>10.2f}{r.rmse_kw:>10.2f}{r.mape_pct:>9.2f}"
                     f"{r.train_hours:>9d}{r.test_hours:>8d}")
    return "\n".join(lines)


def plot_week(forecast: pd.DataFrame, path: Path) -> None:
    """Actual load and every model's forecast over the first week (168 h) of the test part."""
    plt = pyplot()
    week = forecast.iloc[:168]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(week["timestamp"], week["actual_kw"], color="black", lw=1.5, label="actual")
    for col in week.columns[2:]:
        ax.plot(week["timestamp"], week[col], lw=1.0, label=col.removesuffix("_kw"))
    ax.set_ylabel("load, kW")
    ax.set_title("Day-ahead load forecast, first test week (out of sample)")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(result: Evaluation, out: Path, figures: bool) -> None:
    """``metrics.csv``, ``forecast.parquet`` and (with ``figures``) ``forecast.png`` in ``out``."""
    result.metrics.to_csv(out / "metrics.csv", index=False)
    result.forecast.to_parquet(out / "forecast.parquet", index=False)
    if figures:
        plot_week(result.forecast, out / "forecast.png")


def run(args: argparse.Namespace) -> int:
    """Run ``vppsim forecast``: evaluate, print the error table and write the result folder."""
    if args.fit_errors is not None:
        return fit_errors.run(args)
    path = args.series if args.series is not None else data_dir("scenarios") / DEFAULT_SERIES
    series = read_load_weather(path)
    try:
        split_row(len(series), args.test_days)
    except ValueError as exc:
        raise ScenarioError(path, [("--test-days", str(exc))]) from None
    models = list(MODELS) if args.model == "all" else [args.model]
    folder = output_folder(args, default_out_dir(f"{Path(path).stem}-forecast"))
    with claimed(folder):
        result = evaluate(series, models, args.test_days, args.seed)
        write_results(result, folder.work, figures=not args.no_figures)
        final = folder.publish()
    report(args, folder_summary(final, series=str(path), test_days=args.test_days,
                                metrics=result.metrics.to_dict("records")))
    if not args.quiet:
        print(f"out-of-sample day-ahead load forecast, {path.name}: last {args.test_days} days")
        print(render_table(result.metrics))
        print(f"wrote {final}")
    return 0
