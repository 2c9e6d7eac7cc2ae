"""``vppsim scenario from-feeder``: its options; the work is :mod:`vppsim.cli.impl.scenario`."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from vppsim.cli.common import int_at_least

#: the grids' own choice of step, hours, when --step-h is not given: LV 15 min, others 1 h
LV_STEP_H = 0.25
OTHER_STEP_H = 1.0


def iso_date(text: str) -> str:
    """An argparse type: a date YYYY-MM-DD (within 2016: checked with ``--days``)."""
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim scenario`` (sub-command ``from-feeder``) to the sub-commands."""
    scen = sub.add_parser("scenario", help="generate a scenario file (from-feeder: from a "
                                         "SimBench feeder's DERs)")
    scen_sub = scen.add_subparsers(dest="scenario_command", required=True,
                                 help="what to generate the scenario from")
    ff = scen_sub.add_parser(
        "from-feeder", help="group a SimBench feeder's DERs into N VPPs by electrical proximity "
                            "and write a scenario YAML with its DER table beside it")
    ff.add_argument("code", help="a SimBench code, e.g. 1-LV-rural1--0-sw, 1-MV-rural--0-sw")
    ff.add_argument("--vpps", type=int_at_least(1), required=True,
                    help="number of VPPs, 1..(buses with a DER)")
    ff.add_argument("--out", type=Path, required=True,
                    help="scenario YAML to write (its DER table: <stem>_ders.csv beside it)")
    ff.add_argument("--start", type=iso_date, default="2016-06-01",
                    help="first day of the profile window in 2016 (default 2016-06-01)")
    ff.add_argument("--days", type=int_at_least(1), default=7, help="days (default 7)")
    ff.add_argument("--step-h", type=float, choices=[0.25, 0.5, 1.0], default=None,
                    help=f"step in hours (default {LV_STEP_H} for LV codes, "
                         f"{OTHER_STEP_H} for the others)")
    ff.add_argument("--loads", choices=["der-buses", "all"], default="der-buses",
                    help="loads that join a VPP: those at a PV/wind/storage bus (default) or all")
    ff.add_argument("--seed", type=int_at_least(0), default=2016,
                    help="the scenario's seed (default 2016)")
    ff.add_argument("--force", action="store_true", help="overwrite existing files")
    ff.set_defaults(impl="vppsim.cli.impl.scenario:from_feeder")
