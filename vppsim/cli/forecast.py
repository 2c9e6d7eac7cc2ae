"""``vppsim forecast``: its options; what it does is :mod:`vppsim.cli.impl.forecast` (loaded when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vppsim.cli.common import folder_options, int_at_least, seed_int

#: the forecasters offered (the keys of ``vppsim.forecast.load.FORECASTERS``; kept here so that
#: parsing the options does not import pandas)
MODELS = ("regression", "gbr")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim forecast`` to the sub-commands."""
    p = sub.add_parser("forecast", help="day-ahead load forecasting from temperature and humidity "
                                        "(paper 000's regression vs gradient boosting), out of sample")
    p.add_argument("series", type=Path, nargs="?", default=None,
                   help="hourly CSV: timestamp, temperature_c, humidity_pct, load_kw (default: "
                   "the shipped synthetic year scenarios/load_weather_hourly.csv)")
    p.add_argument("--model", choices=(*MODELS, "all"), default="all",
                   help="regression: paper 000 eq. 8; gbr: gradient boosting on calendar, weather "
                   "and lagged load; all: both on the same split (default)")
    p.add_argument("--test-days", type=int_at_least(1), default=28,
                   help="the last N days are the test part, the rest trains (default 28)")
    p.add_argument("--seed", type=seed_int, default=0, help="model seed (default 0)")
    p.add_argument("--fit-errors", type=Path, default=None, metavar="SCENARIO",
                   help="instead: fit SCENARIO's forecast_error: block from its members' profiles "
                   "and a naive forecast of them; prints the block, writes forecast_error.yaml")
    p.add_argument("--naive", choices=("persistence", "average"), default="persistence",
                   help="with --fit-errors: persistence (the same step one day earlier, default) "
                   "or average (the mean of the same step over the last --average-days days)")
    p.add_argument("--average-days", type=int_at_least(1), default=7,
                   help="with --naive average: days averaged (default 7)")
    p.add_argument("--fit-days", type=int_at_least(2), default=None,
                   help="with --fit-errors: days of profile to fit on, from the scenario's start "
                   "(default: the scenario's days)")
    folder_options(p, "vppsim.cli.impl.forecast:run", "results/<series>-forecast-<timestamp>", "forecast.png")
