"""Scenario files: YAML loading, ``extends:``, catalogs, profiles and cross-checks.

A scenario is one YAML file plus one CSV of daily profiles beside it. Loading validates the
whole file before anything runs: schema (types, ranges, unknown fields;
:mod:`vppsim.scenario.schema`), the agent catalogs it references, the profile columns it names
(present, numeric, non-negative, right length) and the feeder buses it places agents on. Every
problem is reported in one :class:`ScenarioError` whose message names the file, the field path
and what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from vppsim.agents.registry import MemberKinds, default_member_kinds
from vppsim.allocation.realtime import ALLOCATORS
from vppsim.forecast.load import FORECASTERS, day_ahead_ratio, read_load_weather
from vppsim.grids import BACKENDS, FeederError, PowerFlow, load_feeder
from vppsim.grids.simbench import ElementProfiles, SimbenchError, element_profiles
from vppsim.grids.tables import feeder_tables
from vppsim.market.pricing import PRICE_POLICIES
from vppsim.market.solvers import EXACT_SOLVER, GAME_SOLVERS, OBJECTIVES
from vppsim.paths import data_dir
from vppsim.prosumers.schedule import METHODS as PROSUMER_METHODS
from vppsim.scenario.files import (
    duplicate_csv_columns,
    parse_yaml,
    read_scenario_mapping,
    read_text,
)
from vppsim.scenario.schema import (
    PER_UNIT_RANGE,
    ProfileRange,
    ProsumerFleetSpec,
    Scenario,
    ScenarioError,
    SimbenchProfilesSpec,
    validation_problems,
)


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its source path, profile table and member registry.

    The table has one row per step of a day (repeated every day) or of the whole horizon.
    ``member_kinds`` is the registry the scenario was validated with; the model builds the
    members from it. ``load_forecasts`` maps a load member with a ``forecast`` option to its
    forecaster's relative forecast (``forecast / actual``) per step, from the run's first step
    to the end of the series (fitted once here, shared by every model built from this scenario).
    ``simbench`` holds the feeder's SimBench element profiles of the run's window (with
    ``profiles: {simbench: ...}``; the table then has their ``load/<i>``, ``sgen/<i>`` columns)
    and ``taken_elements`` the elements a member takes over (they leave the background).
    """

    scenario: Scenario
    path: Path
    profiles: pd.DataFrame
    member_kinds: MemberKinds
    load_forecasts: dict[str, np.ndarray] = dataclass_field(default_factory=dict)
    simbench: ElementProfiles | None = None
    taken_elements: frozenset[str] = frozenset()

    def profile(self, column: str, n_steps: int | None = None) -> np.ndarray:
        """Return ``column`` as a float array of ``n_steps`` values (a daily profile is tiled)."""
        values = self.profiles[column].to_numpy(dtype=float)
        n = self.scenario.n_steps if n_steps is None else n_steps
        reps = math.ceil(n / len(values))
        return np.tile(values, reps)[:n]

    def with_overrides(self, **changes: Any) -> LoadedScenario:
        """Return a copy whose scenario has the given top-level fields replaced, re-validated."""
        data = self.scenario.model_dump()
        data.update(changes)
        try:
            scenario = type(self.scenario).model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(self.path, validation_problems(exc, self.member_kinds.specs)) from None
        # the cross-checks load_scenario makes of names and policies (e.g. no game for prosumers)
        problems = _check_names(scenario) + _check_self_scheduling(scenario)
        if problems:
            raise ScenarioError(self.path, problems)
        profiles, simbench = self.profiles, self.simbench
        if simbench is not None and scenario.days != self.scenario.days:
            simbench, profiles, problems = _simbench_table(scenario, self.path)
            if problems:
                raise ScenarioError(self.path, problems)
        return LoadedScenario(scenario=scenario, path=self.path, profiles=profiles,
                              member_kinds=self.member_kinds, load_forecasts=self.load_forecasts,
                              simbench=simbench, taken_elements=self.taken_elements)


def _resolve_catalogs(raw: dict[str, Any], base_dir: Path) -> list[tuple[str, str]]:
    """Replace ``catalog: FILE/KEY`` in battery members with the catalog entry (inline keys win)."""
    problems: list[tuple[str, str]] = []
    vpps = raw.get("vpps")
    if not isinstance(vpps, list):
        return problems
    for i, vpp in enumerate(vpps):
        members = vpp.get("members") if isinstance(vpp, dict) else None
        if not isinstance(members, list):
            continue
        for j, member in enumerate(members):
            if not isinstance(member, dict) or "catalog" not in member:
                continue
            field = f"vpps[{i}].members[{j}].catalog"
            ref = member.pop("catalog")
            entry, error = _catalog_entry(str(ref), base_dir)
            if error:
                problems.append((field, error))
                continue
            merged = {**entry, **member}
            merged.setdefault("source", f"catalog {ref}")
            members[j] = merged
    return problems


def _catalog_entry(ref: str, base_dir: Path) -> tuple[dict[str, Any], str | None]:
    if "/" not in ref:
        return {}, f"expected 'CATALOG/ENTRY' (for example 'liu2025_batteries/VPP1'), got {ref!r}"
    catalog, key = ref.rsplit("/", 1)
    candidates = [base_dir / f"{catalog}.yaml", data_dir("agents") / f"{catalog}.yaml"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        shipped = sorted(p.stem for p in data_dir("agents").glob("*.yaml"))
        return {}, f"expected an agent catalog among {shipped}, got {catalog!r}"
    try:
        doc, problem = parse_yaml(read_text(path, "agent catalog YAML"))
    except ScenarioError as exc:
        return {}, f"in catalog {path}: {exc.problems[0][1]}"
    if problem is not None:
        return {}, f"in catalog {path}: {problem}"
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        return {}, f"in catalog {path}: expected a mapping with a mapping 'entries' of named entries"
    if key not in entries:
        return {}, f"expected an entry of catalog {catalog!r} among {sorted(entries)}, got {key!r}"
    if not isinstance(entries[key], dict):
        return {}, f"in catalog {path}: expected entries.{key} to be a mapping of member fields"
    return dict(entries[key]), None


def _profile_columns(s: Scenario) -> list[tuple[str, str, bool, ProfileRange | None]]:
    """(field path, column, may_be_negative, plausible range) of every profile column named."""
    cols: list[tuple[str, str, bool, ProfileRange | None]] = []
    if s.feeder.background_load_profile:
        cols.append(("feeder.background_load_profile", s.feeder.background_load_profile, False,
                     PER_UNIT_RANGE))
    for i, vpp in enumerate(s.vpps):
        for j, m in enumerate(vpp.members):
            cols += [(f"vpps[{i}].members[{j}].{field}", column, negative,
                      m.profile_ranges.get(field))
                     for field, column, negative in m.profile_columns()]
    return cols


def _column_problem(table: pd.DataFrame, column: str, may_be_negative: bool,
                    bounds: ProfileRange | None, csv_name: str) -> str | None:
    """What is wrong with the first bad cell of a profile column, or None."""
    values = pd.to_numeric(table[column], errors="coerce")
    where = f"in column {column!r}"
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax())
        bad = table[column].iloc[row]
        # read_csv turns empty cells and 'n/a', 'NaN'... into NaN: say so, not "nan"
        got = "an empty or missing value" if pd.isna(bad) else repr(bad)
        return f"expected numbers {where}, got {got} at row {row + 2} of {csv_name}"
    arr = values.to_numpy(dtype=float)
    checks = [(~np.isfinite(arr), f"expected finite numbers {where}")]
    if not may_be_negative:
        checks.append((arr < 0, f"expected non-negative values {where}"))
    if bounds is not None:
        checks.append(((arr < bounds.low) | (arr > bounds.high),
                       f"expected values in the plausible range {bounds} {where}"))
    for bad_rows, expected in checks:
        if bad_rows.any():
            row = int(bad_rows.argmax())
            return f"{expected}, got {arr[row]:g} at row {row + 2} of {csv_name}"
    return None


def _simbench_table(s: Scenario, path: Path
                    ) -> tuple[ElementProfiles | None, pd.DataFrame | None, list[tuple[str, str]]]:
    """The feeder's SimBench element profiles of the scenario's window, and their table."""
    assert isinstance(s.profiles, SimbenchProfilesSpec)
    if s.feeder.simbench is None:
        return None, None, [("profiles.simbench", "expected a SimBench feeder (feeder.simbench: "
                             f"CODE) to take profiles from, got feeder.name {s.feeder.name!r}")]
    try:
        net = load_feeder(s.feeder.name, base_dir=path.parent)
        profiles = element_profiles(net, s.profiles.simbench.start, s.days, s.step_h)
    except FeederError:
        return None, None, []  # reported by _check_feeder
    except SimbenchError as exc:
        return None, None, [("profiles.simbench.start", str(exc))]
    return profiles, pd.DataFrame(profiles.columns()), []


def _taken_elements(s: Scenario, simbench: ElementProfiles
                    ) -> tuple[frozenset[str], list[tuple[str, str]]]:
    """The SimBench elements members take over (a profile column ``load/<i>``, ``sgen/<i>``).

    Each at most once, by a member at the element's bus.
    """
    taken: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for i, vpp in enumerate(s.vpps):
        for j, m in enumerate(vpp.members):
            for field, column, _ in m.profile_columns():
                element_bus = simbench.element_bus(column)
                if element_bus is None:
                    continue
                where = f"vpps[{i}].members[{j}]"
                bus = m.bus if m.bus is not None else vpp.bus
                if bus != element_bus:
                    problems.append((f"{where}.bus", f"expected the bus of SimBench element "
                                     f"{column} ({element_bus}), the member takes it over; got "
                                     f"{bus}"))
                if column in taken:
                    problems.append((f"{where}.{field}", f"expected each SimBench element taken "
                                     f"by one member, {column} is {taken[column]}'s already"))
                taken.setdefault(column, m.name)
    return frozenset(taken), problems


def _check_profiles(s: Scenario, path: Path
                    ) -> tuple[pd.DataFrame | None, list[tuple[str, str]], ElementProfiles | None]:
    """The profile table, its problems and (with SimBench profiles) the element profiles."""
    if isinstance(s.profiles, SimbenchProfilesSpec):
        simbench, table, problems = _simbench_table(s, path)
        if table is None:
            return None, problems, None
        return table, _check_columns(s, table, f"SimBench profiles of {s.feeder.simbench}"), simbench
    csv_path = (path.parent / s.profiles).resolve()
    if not csv_path.is_file():
        return None, [("profiles", f"expected an existing CSV file, got {str(csv_path)!r}")], None
    try:
        table = pd.read_csv(csv_path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        return None, [("profiles", f"expected a readable CSV file ({csv_path}): {exc}")], None
    doubled = duplicate_csv_columns(csv_path)
    if doubled:
        return None, [("profiles", f"expected each column name once in the header of "
                                   f"{csv_path.name}, got {', '.join(map(repr, doubled))} twice")], None
    problems: list[tuple[str, str]] = []
    allowed = {s.steps_per_day, s.n_steps}
    if len(table) not in allowed:
        expected = f"{s.steps_per_day} rows (one day of {s.step_h} h steps)"
        if s.n_steps != s.steps_per_day:
            expected += f" or {s.n_steps} rows (the whole horizon)"
        problems.append(
            ("profiles", f"expected {expected} in {csv_path.name}, got {len(table)}")
        )
    return table, problems + _check_columns(s, table, csv_path.name), None


def _check_columns(s: Scenario, table: pd.DataFrame, csv_name: str) -> list[tuple[str, str]]:
    """Every profile column the scenario names is in ``table`` and holds plausible values."""
    problems: list[tuple[str, str]] = []
    for field, column, may_be_negative, bounds in _profile_columns(s):
        if column not in table.columns:
            problems.append(
                (field, f"expected a column of {csv_name} {list(table.columns)}, got {column!r}")
            )
            continue
        problem = _column_problem(table, column, may_be_negative, bounds, csv_name)
        if problem is not None:
            problems.append((field, problem))
    return problems


def _load_forecasts(s: Scenario, path: Path) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """Fit the forecaster of every load member with a ``forecast`` option (one fit per setting)."""
    out: dict[str, np.ndarray] = {}
    problems: list[tuple[str, str]] = []
    fitted: dict[tuple[Path, str, int, int], np.ndarray] = {}
    per_hour = int(round(1.0 / s.step_h))
    for i, vpp in enumerate(s.vpps):
        for j, m in enumerate(vpp.members):
            spec = getattr(m, "forecast", None)
            if spec is None:
                continue
            where = f"vpps[{i}].members[{j}].forecast"
            if spec.model not in FORECASTERS:
                problems.append((f"{where}.model", f"expected one of {sorted(FORECASTERS)}, "
                                                   f"got {spec.model!r}"))
                continue
            csv = (path.parent / spec.series).resolve()
            key = (csv, spec.model, spec.train_days, spec.seed)
            try:
                if key not in fitted:
                    series = read_load_weather(csv)
                    n_days = len(series) // 24 - spec.train_days
                    if n_days < s.days:
                        raise ValueError(f"expected {spec.train_days} training days + {s.days} run "
                                         f"days in {csv.name}, got {len(series) / 24:g} days")
                    fitted[key] = day_ahead_ratio(series, spec.model, spec.train_days, n_days,
                                                  spec.seed)
            except ScenarioError as exc:
                problems += [(f"{where}.series", f"{exc.file}: {f}: {w}") for f, w in exc.problems]
                continue
            except ValueError as exc:
                problems.append((f"{where}.train_days", str(exc)))
                continue
            out[m.name] = np.repeat(fitted[key], per_hour)
    return out, problems


def _feeder_buses(s: Scenario, path: Path) -> tuple[set[int], list[tuple[str, str]], str]:
    """The feeder's buses, the problems of its backend, and the backend the run uses.

    A built-in feeder shipped as tables (:mod:`vppsim.grids.tables`) is checked from them on
    lightsim2grid (no pandapower net is built). A ``power_flow_backend`` left at its default
    (lightsim2grid) becomes pandapower on a net lightsim2grid cannot solve.
    """
    backend = s.feeder.power_flow_backend
    tables = feeder_tables(s.feeder.name) if backend == "lightsim2grid" else None
    if tables is not None:
        return set(tables.bus_ids), [], backend
    try:
        net = load_feeder(s.feeder.name, base_dir=path.parent)
    except FeederError as exc:
        return set(), [("feeder.simbench" if s.feeder.simbench else "feeder.name", str(exc))], backend
    buses = set(int(b) for b in net.bus.index)
    if backend not in BACKENDS:
        return buses, [("feeder.power_flow_backend",
                        f"expected one of {sorted(BACKENDS)}, got {backend!r}")], backend
    if backend != "pandapower":
        try:
            PowerFlow(net, backend=backend)
        except ValueError as exc:
            if "power_flow_backend" not in s.feeder.model_fields_set:
                return buses, [], "pandapower"
            return buses, [("feeder.power_flow_backend", f"expected a backend that supports "
                            f"feeder {s.feeder.name!r}: {exc}")], backend
    return buses, [], backend


def _check_feeder(s: Scenario, path: Path) -> tuple[list[tuple[str, str]], str]:
    """The feeder exists, its backend can solve it, and every bus named is one of its buses.

    Also returns the backend the run uses (:func:`_feeder_buses`).
    """
    buses, problems, backend = _feeder_buses(s, path)
    if not buses:
        return problems, backend
    lo, hi = min(buses), max(buses)
    named = [("vpo.battery_bus", s.vpo.battery_bus)] if s.vpo.battery_bus is not None else []
    for i, vpp in enumerate(s.vpps):
        named.append((f"vpps[{i}].bus", vpp.bus))
        for j, m in enumerate(vpp.members):
            named += [(f"vpps[{i}].members[{j}].{field}", b) for field, b in m.bus_fields()]
    for field, b in named:
        if b not in buses:
            problems.append((field, f"expected a bus of feeder {s.feeder.name!r} ({lo}..{hi}), "
                                    f"got {b}"))
    return problems, backend


def _check_self_scheduling(s: Scenario) -> list[tuple[str, str]]:
    """Checks of self-scheduling members (prosumer fleets).

    Such a member is alone in its VPP, which has no exchange or costs; and no game pricing,
    whose lower level is an LP of a VPP's members.
    """
    problems: list[tuple[str, str]] = []
    holding = []
    for i, vpp in enumerate(s.vpps):
        member = vpp.self_scheduling_member
        if member is None:
            continue
        holding.append(vpp.name)
        kinds = [m.kind for m in vpp.members]
        if len(kinds) > 1:
            problems.append(
                (f"vpps[{i}].members", f"expected a {member.kind} alone in its VPP (a VPP of "
                 f"self-scheduling members holds nothing else), got {len(kinds)} members of kinds "
                 f"{kinds}")
            )
        for f, why in (("exchange", "each prosumer's own import/export limits apply"),
                       ("costs", "the prosumers' own prices and battery costs apply")):
            if getattr(vpp, f) is not None:
                problems.append(
                    (f"vpps[{i}].{f}", f"expected no {f} for a VPP holding a {member.kind} ({why})")
                )
    milp = [v.name for v in s.vpps if any(type(m).milp for m in v.members)]
    if milp and s.market.price_policy == "game" and s.market.game.solver == EXACT_SOLVER:
        problems.append(
            ("market.game.solver", f"expected a search solver (e.g. pso-rl): the exact solver "
             f"needs LP followers, and {', '.join(milp)} hold members with binaries (committed "
             "units, reservoirs), got 'exact'"))
    if s.market.price_policy == "loss_aware":
        problems += _loss_aware_problems(s, milp)
    known = s.market.price_policy in PRICE_POLICIES  # an unknown one is reported on its own
    if holding and known and s.market.price_policy != "passthrough":
        problems.append(
            ("market.price_policy",
             f"expected 'passthrough' when a VPP holds a self-scheduling member "
             f"({', '.join(holding)}): the game's lower level is an LP of each VPP's members, got "
             f"{s.market.price_policy!r}")
        )
    return problems + _export_incentive_problems(s, holding)


def _export_incentive_problems(s: Scenario, holding: list[str]) -> list[tuple[str, str]]:
    """Export above import (``export_incentive``) only for prosumer fleets under passthrough.

    The VPPs' and the VPO's LPs would buy and sell at once in such a period; a prosumer's
    own schedule cannot (its flip-flop binaries, paper 002 3.4.2).
    """
    others = [v.name for v in s.vpps if v.name not in holding]  # the policy is checked above
    for k, p in enumerate(s.tariff.periods):
        if p.export_incentive and others:
            return [(f"tariff.periods[{k}].export_incentive",
                     "expected false unless every VPP holds a prosumer fleet (the LPs of other "
                     "VPPs would buy and sell at once), got true with VPPs without one: "
                     f"{', '.join(others)}")]
    return []


def _loss_aware_problems(s: Scenario, milp: list[str]) -> list[tuple[str, str]]:
    """The ``loss_aware`` dispatch: LP followers, every member at its VPP's bus."""
    problems = []
    if isinstance(s.profiles, SimbenchProfilesSpec):
        problems.append(("market.price_policy", "expected 'passthrough' or 'game' with SimBench "
                         "profiles (the loss-aware dispatch models background loads by one "
                         "factor), got 'loss_aware'"))
    if milp:
        problems.append(
            ("market.price_policy", "expected VPPs whose day-ahead problem is an LP for "
             "'loss_aware' (a sequential LP), but members with binaries (committed units, "
             f"reservoirs) are in {', '.join(milp)}; got 'loss_aware'"))
    for i, vpp in enumerate(s.vpps):
        if vpp.self_scheduling_member is not None:
            continue  # reported as not LP-scheduled by the caller
        for j, m in enumerate(vpp.members):
            problems += [(f"vpps[{i}].members[{j}].{f}", f"expected the VPP's bus {vpp.bus} under "
                          "market.price_policy 'loss_aware' (the dispatch places each VPP's net "
                          f"injection at its bus), got {b}")
                         for f, b in m.bus_fields() if b != vpp.bus]
    return problems


def _check_names(s: Scenario) -> list[tuple[str, str]]:
    """Every name the scenario looks up in a registry is registered there."""
    lookups = [("market.price_policy", s.market.price_policy, PRICE_POLICIES),
               ("market.game.solver", s.market.game.solver, GAME_SOLVERS),
               ("market.game.objective", s.market.game.objective, OBJECTIVES),
               ("balancing.allocator", s.balancing.allocator, ALLOCATORS)]
    for i, vpp in enumerate(s.vpps):
        for j, m in enumerate(vpp.members):
            if isinstance(m, ProsumerFleetSpec):
                lookups.append((f"vpps[{i}].members[{j}].optimizer", m.optimizer, PROSUMER_METHODS))
    return [(field, f"expected one of {sorted(valid)}, got {name!r}")
            for field, name, valid in lookups if name not in valid]


def load_scenario(path: str | Path, member_kinds: MemberKinds | None = None) -> LoadedScenario:
    """Load and fully validate a scenario YAML file.

    Parameters
    ----------
    path
        The scenario YAML file (its profiles CSV and catalogs are read relative to it).
    member_kinds
        The member registry to validate and build members with (default:
        :func:`vppsim.agents.registry.default_member_kinds`, vppsim's kinds plus those of the
        ``vppsim.member_kinds`` entry points).

    Raises
    ------
    ScenarioError
        With every problem found, each naming the file, the field path and what was expected.
    """
    kinds = default_member_kinds() if member_kinds is None else member_kinds
    path = Path(path)
    raw = read_scenario_mapping(path)

    problems = _resolve_catalogs(raw, path.parent)
    try:
        scenario = kinds.scenario_model().model_validate(raw)
    except ValidationError as exc:
        # fields that a failed catalog reference would have supplied are not missing on their own
        failed = tuple(f.removesuffix("catalog") for f, _ in problems)
        rest = [(f, w) for f, w in validation_problems(exc, kinds.specs)
                if not (w == "Field required" and f.startswith(failed))]
        raise ScenarioError(path, problems + rest) from None
    if problems:
        raise ScenarioError(path, problems)
    problems += _check_names(scenario)
    problems += _check_self_scheduling(scenario)
    vpp_names = {v.name for v in scenario.vpps}
    for key in scenario.communication.links:
        if key not in vpp_names:
            problems.append(
                (f"communication.links.{key}", f"expected a VPP name {sorted(vpp_names)}")
            )
    profiles, profile_problems, simbench = _check_profiles(scenario, path)
    problems += profile_problems
    feeder_problems, backend = _check_feeder(scenario, path)
    problems += feeder_problems
    if problems:
        raise ScenarioError(path, problems)
    if backend != scenario.feeder.power_flow_backend:
        feeder = scenario.feeder.model_copy(update={"power_flow_backend": backend})
        scenario = scenario.model_copy(update={"feeder": feeder})
    taken = frozenset[str]()
    if simbench is not None:
        taken, problems = _taken_elements(scenario, simbench)
    if problems:
        raise ScenarioError(path, problems)
    forecasts, problems = _load_forecasts(scenario, path)
    if problems:
        raise ScenarioError(path, problems)
    assert profiles is not None
    return LoadedScenario(scenario=scenario, path=path.resolve(), profiles=profiles,
                          member_kinds=kinds, load_forecasts=forecasts, simbench=simbench,
                          taken_elements=taken)
