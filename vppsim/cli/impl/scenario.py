"""``vppsim scenario from-feeder``: a SimBench feeder's DERs grouped into N VPPs, written as a scenario.

The YAML is written to a temporary file beside ``--out``, loaded by
:func:`vppsim.scenario.loader.load_scenario` (so only a valid scenario is published) and then
renamed; its DER table ``<stem>_ders.csv`` is written beside it. Existing files are kept
unless ``--force``.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import os
from pathlib import Path

from vppsim.cli.common import report, stages
from vppsim.cli.scenario import LV_STEP_H, OTHER_STEP_H
from vppsim.grids.feeder_scenario import feeder_scenario
from vppsim.grids.partition import VppCountError
from vppsim.grids.simbench import SimbenchError, simbench_codes, simbench_net, window_rows
from vppsim.grids.topology import feeder_graph
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError

_COMMAND = "vppsim scenario from-feeder"


def _option_error(field: str, message: str) -> ScenarioError:
    return ScenarioError(_COMMAND, [(field, message)], what="option")


def ders_csv_path(out: Path) -> Path:
    """The DER table beside the scenario ``out``: ``<stem>_ders.csv``."""
    return out.with_name(f"{out.stem}_ders.csv")


def _check_options(args: argparse.Namespace) -> None:
    """Bad output paths, codes and windows as one option error each (exit 2)."""
    if args.out.suffix not in (".yaml", ".yml"):
        raise _option_error("--out", f"expected a .yaml file, got {str(args.out)!r}")
    for path in (args.out, ders_csv_path(args.out)):
        if path.exists() and not args.force:
            raise _option_error("--out", f"{path} exists; pass --force to overwrite it")
    try:
        codes = simbench_codes()
        window_rows(args.start, args.days)
    except SimbenchError as exc:
        field = "--start" if "date" in str(exc) or "day(s)" in str(exc) else "CODE"
        raise _option_error(field, str(exc)) from None
    if args.code not in codes:
        close = difflib.get_close_matches(args.code, codes, n=4, cutoff=0.6)
        hint = (f"close ones: {', '.join(close)}" if close else
                "e.g. 1-LV-rural1--0-sw, 1-LV-urban6--0-sw, 1-MV-rural--0-sw")
        raise _option_error("CODE", f"unknown SimBench code {args.code!r}; {hint} "
                                    f"({len(codes)} in all: simbench.collect_all_simbench_codes())")


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def from_feeder(args: argparse.Namespace) -> int:
    """Generate, validate and write the scenario and its DER table."""
    _check_options(args)
    step_h = args.step_h or (LV_STEP_H if "-LV-" in args.code else OTHER_STEP_H)
    with stages(args, args.code, 3) as stage:
        stage("SimBench net and profiles")
        net = simbench_net(args.code)
        stage(f"{args.vpps} VPPs by electrical proximity")
        try:
            generated = feeder_scenario(net, feeder_graph(net), args.code, args.vpps,
                                        start=args.start, days=args.days, step_h=step_h,
                                        loads=args.loads, stem=args.out.stem, seed=args.seed)
        except VppCountError as exc:
            raise _option_error("--vpps", str(exc)) from None
        except ValueError as exc:
            raise _option_error("CODE", str(exc)) from None
        stage("check the scenario")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp.yaml")
        try:
            tmp.write_text(generated.yaml_text, encoding="utf-8")
            load_scenario(tmp)
            os.replace(tmp, args.out)
        finally:
            tmp.unlink(missing_ok=True)
    csv_path = ders_csv_path(args.out)
    _write_csv(csv_path, generated.ders)
    members = [r for r in generated.ders if r["vpp"]]
    report(args, {"out": str(args.out), "ders": str(csv_path), "vpps": args.vpps,
                  "members": generated.n_members, "code": args.code, "start": args.start,
                  "days": args.days, "step_h": step_h})
    if args.quiet:
        return 0
    print(f"{args.out}: {args.vpps} VPPs, {generated.n_members} members ({len(members)} SimBench "
          f"DERs, {len(generated.ders) - len(members)} elements left as background), "
          f"{args.days} day(s) from {args.start} at {step_h:g} h; DER table {csv_path}")
    return 0
