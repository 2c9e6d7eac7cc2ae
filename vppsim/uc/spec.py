"""The unit-commitment scenario file (``scenarios/uc_ieee24.yaml``): schema and loader.

Every profile is a list with one value per hour of the horizon (``hours``); power kW, energy
kWh, money CNY, times in hours. A bad file raises :class:`~vppsim.scenario.schema.ScenarioError`
naming the file, the field and what was expected (the CLI exits with code 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vppsim.grids.registry import FeederError, bus_ids, load_feeder
from vppsim.scenario.files import read_yaml_mapping
from vppsim.scenario.schema import (
    MAX_ENERGY_KWH,
    MAX_POWER_KW,
    MAX_PRICE_CNY_PER_KWH,
    ScenarioError,
    validation_problems,
)
from vppsim.uc.portfolio import (
    RenewableUnit,
    Reservoir,
    StorageUnit,
    ThermalUnit,
    UcCase,
)

Kw = Annotated[float, Field(ge=0.0, le=MAX_POWER_KW)]
Kwh = Annotated[float, Field(ge=0.0, le=MAX_ENERGY_KWH)]
Cost = Annotated[float, Field(ge=0.0, le=1.0e7)]
Price = Annotated[float, Field(ge=0.0, le=MAX_PRICE_CNY_PER_KWH)]
Efficiency = Annotated[float, Field(gt=0.0, le=1.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Hours = Annotated[int, Field(ge=0, le=8760)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ThermalSpec(_Spec):
    """A diesel or hydro unit (see :class:`vppsim.uc.portfolio.ThermalUnit`)."""

    name: str
    kind: Literal["diesel", "hydro"]
    p_min_kw: Kw
    p_max_kw: Annotated[float, Field(gt=0.0, le=MAX_POWER_KW)]
    ramp_kw_per_h: Annotated[float, Field(gt=0.0, le=MAX_POWER_KW)] | None = None
    min_up_h: Annotated[int, Field(ge=1, le=168)] = 1
    min_down_h: Annotated[int, Field(ge=1, le=168)] = 1
    startup_cost_cny: Cost = 0.0
    shutdown_cost_cny: Cost = 0.0
    no_load_cost_cny_per_h: Cost = 0.0
    marginal_cost_cny_per_kwh: Price
    maintenance_cost_cny_per_kwh: Price = 0.0
    energy_limit_kwh: Kwh | None = None
    initially_on: bool = False
    initial_hours_in_state: Hours = 24
    initial_p_kw: Kw = 0.0
    bus: int = 0

    @model_validator(mode="after")
    def _limits(self) -> ThermalSpec:
        if self.p_min_kw > self.p_max_kw:
            raise ValueError(f"p_min_kw ({self.p_min_kw}) exceeds p_max_kw ({self.p_max_kw})")
        if self.initially_on and not self.p_min_kw <= self.initial_p_kw <= self.p_max_kw:
            raise ValueError("initial_p_kw of a unit initially on must lie in "
                             f"[p_min_kw, p_max_kw] = [{self.p_min_kw}, {self.p_max_kw}]")
        return self


class RenewableSpec(_Spec):
    """A wind turbine or solar plant; ``available_kw`` per hour."""

    name: str
    kind: Literal["wind", "solar"]
    available_kw: list[Kw]
    marginal_cost_cny_per_kwh: Price = 0.0
    maintenance_cost_cny_per_kwh: Price = 0.0
    startup_cost_cny: Cost = 0.0
    initially_on: bool = True
    bus: int = 0


class StorageSpec(_Spec):
    """A battery or EV; ``plugged`` per hour (default: always, a battery)."""

    name: str
    kind: Literal["battery", "ev"]
    capacity_kwh: Annotated[float, Field(gt=0.0, le=MAX_ENERGY_KWH)]
    p_charge_max_kw: Kw
    p_discharge_max_kw: Kw
    eta_charge: Efficiency = 0.95
    eta_discharge: Efficiency = 0.95
    soc_min: Fraction = 0.1
    soc_max: Fraction = 0.9
    soc_start: Fraction = 0.5
    degradation_cost_cny_per_kwh: Price = 0.0
    plugged: list[bool] | None = None
    departure_kwh: Kwh = 0.0
    trip_kwh: Kwh = 0.0
    bus: int = 0

    @model_validator(mode="after")
    def _window(self) -> StorageSpec:
        if not self.soc_min <= self.soc_start <= self.soc_max:
            raise ValueError("expected soc_min <= soc_start <= soc_max")
        if self.departure_kwh > self.soc_max * self.capacity_kwh:
            raise ValueError("departure_kwh exceeds soc_max * capacity_kwh")
        return self


class ReservoirSpec(_Spec):
    """A water reservoir with pump and turbine; ``water_demand_kwh`` per hour."""

    name: str
    pump_max_kw: Kw
    pump_min_kw: Kw = 0.0
    turbine_max_kw: Kw = 0.0
    eta_pump: Efficiency = 0.8
    eta_turbine: Efficiency = 0.85
    level_min_kwh: Kwh = 0.0
    level_max_kwh: Annotated[float, Field(gt=0.0, le=MAX_ENERGY_KWH)]
    level_start_kwh: Kwh
    water_demand_kwh: list[Kwh]
    pump_cost_cny_per_kwh: Price = 0.0
    turbine_cost_cny_per_kwh: Price = 0.0
    bus: int = 0

    @model_validator(mode="after")
    def _levels(self) -> ReservoirSpec:
        if not self.level_min_kwh <= self.level_start_kwh <= self.level_max_kwh:
            raise ValueError("expected level_min_kwh <= level_start_kwh <= level_max_kwh")
        if self.pump_min_kw > self.pump_max_kw:
            raise ValueError("pump_min_kw exceeds pump_max_kw")
        return self


class MarketSpec(_Spec):
    """Prices per hour (CNY/kWh), exchange limits and penalties."""

    sell_price_cny_per_kwh: list[Price]
    buy_price_cny_per_kwh: list[Price]
    export_max_kw: Kw
    import_max_kw: Kw
    voll_cny_per_kwh: Price = 20.0
    spill_cost_cny_per_kwh: Price = 0.0


class UcScenario(_Spec):
    """A unit-commitment scenario file."""

    name: str
    description: str = ""
    source: str = ""
    feeder: str = Field(default="", description="a named feeder or a feeder file; the units' "
                        "buses must be its buses (empty: not checked)")
    hours: Annotated[int, Field(ge=1, le=8760)] = 24
    dt_h: Annotated[float, Field(gt=0.0, le=24.0)] = 1.0
    demand_kw: list[Kw]
    market: MarketSpec
    thermal: list[ThermalSpec] = []
    renewables: list[RenewableSpec] = []
    storage: list[StorageSpec] = []
    reservoirs: list[ReservoirSpec] = []


def _profile_problems(s: UcScenario) -> list[tuple[str, str]]:
    """Every profile with a length other than ``hours``, and repeated unit names."""
    T = s.hours
    lists: list[tuple[str, list | None]] = [
        ("demand_kw", s.demand_kw),
        ("market.sell_price_cny_per_kwh", s.market.sell_price_cny_per_kwh),
        ("market.buy_price_cny_per_kwh", s.market.buy_price_cny_per_kwh)]
    lists += [(f"renewables[{i}].available_kw", r.available_kw) for i, r in enumerate(s.renewables)]
    lists += [(f"storage[{i}].plugged", st.plugged) for i, st in enumerate(s.storage)]
    lists += [(f"reservoirs[{i}].water_demand_kwh", r.water_demand_kwh)
              for i, r in enumerate(s.reservoirs)]
    problems = [(f, f"expected {T} values (one per hour of 'hours'), got {len(v)}")
                for f, v in lists if v is not None and len(v) != T]
    names = [u.name for group in (s.thermal, s.renewables, s.storage, s.reservoirs) for u in group]
    problems += [("(names)", f"unit name {n!r} is used more than once")
                 for n in sorted({n for n in names if names.count(n) > 1})]
    return problems


def _bus_problems(s: UcScenario, base_dir: Path) -> list[tuple[str, str]]:
    """Every unit bus that the scenario's feeder (if named) does not have."""
    if not s.feeder:
        return []
    try:
        buses = set(bus_ids(load_feeder(s.feeder, base_dir)))
    except (FeederError, OSError, ValueError) as exc:
        return [("feeder", str(exc))]
    groups = (("thermal", s.thermal), ("renewables", s.renewables), ("storage", s.storage),
              ("reservoirs", s.reservoirs))
    return [(f"{g}[{i}].bus", f"expected a bus of feeder {s.feeder!r} "
                              f"({min(buses)}..{max(buses)}), got {u.bus}")
            for g, units in groups for i, u in enumerate(units) if u.bus not in buses]


def _case(s: UcScenario) -> UcCase:
    T = s.hours
    arr = np.asarray
    return UcCase(
        name=s.name, dt_h=s.dt_h, demand_kw=arr(s.demand_kw, float),
        sell_price_cny_per_kwh=arr(s.market.sell_price_cny_per_kwh, float),
        buy_price_cny_per_kwh=arr(s.market.buy_price_cny_per_kwh, float),
        export_max_kw=s.market.export_max_kw, import_max_kw=s.market.import_max_kw,
        voll_cny_per_kwh=s.market.voll_cny_per_kwh,
        spill_cost_cny_per_kwh=s.market.spill_cost_cny_per_kwh,
        thermal=tuple(ThermalUnit(**t.model_dump()) for t in s.thermal),
        renewables=tuple(RenewableUnit(**{**r.model_dump(), "available_kw": arr(
            r.available_kw, float)}) for r in s.renewables),
        storage=tuple(StorageUnit(**{**st.model_dump(), "plugged": arr(
            st.plugged if st.plugged is not None else [True] * T, bool)}) for st in s.storage),
        reservoirs=tuple(Reservoir(**{**r.model_dump(), "water_demand_kwh": arr(
            r.water_demand_kwh, float)}) for r in s.reservoirs),
        meta={"description": s.description, "source": s.source, "feeder": s.feeder},
    )


def load_uc_case(path: Path | str) -> UcCase:
    """Read and check a unit-commitment scenario file.

    Raises
    ------
    ScenarioError
        Naming the file, every bad field and what was expected.
    """
    path = Path(path)
    raw = read_yaml_mapping(path, "unit-commitment scenario YAML", "scenario fields")
    try:
        spec = UcScenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(path, validation_problems(exc)) from None
    problems = _profile_problems(spec) + _bus_problems(spec, path.parent)
    if problems:
        raise ScenarioError(path, problems)
    return _case(spec)
