"""``vppsim scenarios``: the shipped scenario files, listed from their YAML without building them.

Each file is read strictly, ``extends:`` followed as the loader does
(:func:`vppsim.scenario.files.read_scenario_mapping`), and its horizon, feeder and market
checked against the schema's own field models (:class:`vppsim.scenario.schema.FeederSpec`,
``MarketSpec``); nothing else is loaded (no
profiles, no feeder, no SimBench net), so the listing takes a fraction of a second. The
allocation and unit-commitment cases in the same folder are listed as such.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vppsim.cli.common import report
from vppsim.paths import data_dir
from vppsim.scenario.files import read_scenario_mapping
from vppsim.scenario.schema import FeederSpec, MarketSpec, Scenario, ScenarioError

#: what a YAML in scenarios/ is, from a key only that kind has, and the command that takes it
CASE_KINDS = (("vpps", "scenario"), ("resources", "allocation case"), ("thermal", "uc case"))
#: the command each kind is run with
COMMAND = {"scenario": "vppsim run", "allocation case": "vppsim allocate", "uc case": "vppsim uc"}


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (whitespace folded)."""
    flat = " ".join(str(text or "").split())
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    return match.group(1) if match else flat


def describe(path: Path) -> dict[str, Any]:
    """One shipped file: name, kind, horizon, VPPs, feeder, price policy, description.

    A file that does not read or check is listed with ``kind: "invalid"`` and the problem.
    """
    row: dict[str, Any] = {"file": path.name, "name": path.stem, "kind": "invalid",
                           "days": None, "step_h": None, "vpps": None, "feeder": None,
                           "price_policy": None, "description": ""}
    try:
        raw = read_scenario_mapping(path)
    except ScenarioError as exc:
        return {**row, "description": str(exc)}
    kind = next((k for key, k in CASE_KINDS if key in raw), "invalid")
    row.update(name=str(raw.get("name", path.stem)), kind=kind,
               description=" ".join(str(raw.get("description", "")).split()))
    fields = Scenario.model_fields
    try:
        if kind == "scenario":
            feeder = FeederSpec.model_validate(raw.get("feeder") or {})
            row.update(days=int(raw.get("days", fields["days"].default)),
                       step_h=float(raw.get("step_h", fields["step_h"].default)),
                       vpps=len(raw["vpps"]), feeder=feeder.simbench or feeder.name,
                       price_policy=MarketSpec.model_validate(raw.get("market") or {}).price_policy)
        elif kind == "uc case":
            row.update(days=1, step_h=float(raw.get("dt_h", 1.0)), vpps=1,
                       feeder=raw.get("feeder"))
        elif kind == "allocation case":
            row.update(vpps=1, feeder=raw.get("feeder"))
    except (ValidationError, TypeError, ValueError) as exc:
        row.update(kind="invalid", description=f"{type(exc).__name__}: {exc}".splitlines()[0])
    row["command"] = COMMAND.get(row["kind"])
    return row


def shipped_scenarios(folder: Path | None = None) -> list[dict[str, Any]]:
    """Every YAML in the shipped scenarios folder (or ``folder``), described, by file name."""
    folder = data_dir("scenarios") if folder is None else folder
    return [describe(p) for p in sorted(folder.glob("*.yaml"))]


def _cell(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}" if isinstance(value, float) else str(value)


def render(rows: list[dict[str, Any]], full: bool = False) -> str:
    """The listing: one line per file (its description's first sentence, or all with ``full``)."""
    head = f"{'file':<32}{'kind':<17}{'days x step':<13}{'VPPs':>5}  {'feeder':<22}{'prices':<12}"
    lines = [head + "description", "-" * (len(head) + 11)]
    for r in rows:
        horizon = "-" if r["days"] is None else f"{r['days']} x {_cell(r['step_h'])} h"
        text = r["description"] if full else first_sentence(r["description"])
        lines.append(f"{r['file']:<32}{r['kind']:<17}{horizon:<13}{_cell(r['vpps']):>5}  "
                     f"{_cell(r['feeder']):<22}{_cell(r['price_policy']):<12}{text}")
    lines.append(f"\n{len(rows)} files in {data_dir('scenarios')}; run one with the command of its "
                 "kind (scenario: vppsim run FILE; allocation case: vppsim allocate FILE; uc "
                 "case: vppsim uc FILE); vppsim validate FILE checks a scenario fully")
    return "\n".join(lines)


def scenarios(args: argparse.Namespace) -> int:
    """``vppsim scenarios``: print the table (``--json``: the rows)."""
    rows = shipped_scenarios()
    folder = data_dir("scenarios")
    report(args, {"folder": str(folder), "scenarios": rows})
    if not args.quiet:
        print(render(rows, full=args.full))
    return 0
