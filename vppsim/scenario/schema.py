"""The scenario schema: pydantic models of a scenario file, and the error that names the field.

Units are in the field names: kW, kWh, CNY, m/s, W/m2, degrees C, seconds, hours. Every
number must be finite (``.inf`` and ``.nan`` are rejected) and lie within a plausible range:
the bounds below are generous (well beyond any distribution-level VPP) and are there to catch
a typo, a wrong unit or a stray digit before it reaches the solvers. This module imports
nothing else from vppsim; loading, catalogs, profiles and the cross-checks against the
registries are in :mod:`vppsim.scenario.loader`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)


class ScenarioError(ValueError):
    """A scenario file that cannot run; the message names file, field path and expectation.

    The first line says what was invalid: ``what`` if given (e.g. ``"input file"`` for a data
    series), else "option" when every problem is a command-line option (``--points``), else
    "scenario".
    """

    def __init__(self, file: Path | str, problems: list[tuple[str, str]], what: str | None = None):
        self.file = str(file)
        self.problems = problems
        if what is None:
            options = bool(problems) and all(field.startswith("--") for field, _ in problems)
            what = "option" if options else "scenario"
        lines = [f"{self.file}: {field}: {text}" for field, text in problems]
        self.message = f"invalid {what}\n" + "\n".join(lines)
        super().__init__(self.message)
        # rebuildable from its args: simpy re-raises a process's error as ``type(e)(*e.args)``
        # and pickle (Dask, process pools) does the same
        self.args = (self.file, problems, what)

    def __str__(self) -> str:
        return self.message


class _Spec(BaseModel):
    # allow_inf_nan=False: every float field (and a member kind's own) must be finite
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------- plausible ranges

#: power of one member, an exchange limit, a load profile value: 1 GW
MAX_POWER_KW = 1.0e6
#: energy of one battery: 10 GWh
MAX_ENERGY_KWH = 1.0e7
#: a price or cost coefficient per kWh (tariff, costs, value of lost load): 10,000 CNY/kWh
MAX_PRICE_CNY_PER_KWH = 1.0e4
#: units in one member (wind turbines) or one fleet (prosumers)
MAX_UNITS = 100_000
#: PV panels in one plant
MAX_PANELS = 10_000_000
#: a wind speed (power curve, profile): 75 m/s
MAX_WIND_SPEED_M_S = 75.0
#: a time (latency, gate closure, solver time limit): one day
MAX_SECONDS = 86_400.0
#: seeds are unsigned 63-bit integers (numpy and the Monte Carlo seed sequences take them)
SEED_LIMIT = 2**63

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
PositiveKw = Annotated[float, Field(gt=0.0)]  # kept for compatibility; prefer a bounded type
PowerKw = Annotated[float, Field(gt=0.0, le=MAX_POWER_KW)]
NonNegativeKw = Annotated[float, Field(ge=0.0, le=MAX_POWER_KW)]
EnergyKwh = Annotated[float, Field(gt=0.0, le=MAX_ENERGY_KWH)]
Price = Annotated[float, Field(ge=0.0, le=MAX_PRICE_CNY_PER_KWH)]
WindSpeed = Annotated[float, Field(ge=0.0, le=MAX_WIND_SPEED_M_S)]
Seconds = Annotated[float, Field(ge=0.0, le=MAX_SECONDS)]
Seed = Annotated[int, Field(ge=0, lt=SEED_LIMIT,
                            description="an integer, 0 <= seed < 2**63")]


class ProfileRange(NamedTuple):
    """Plausible range of the values of one kind of profile column."""

    low: float
    high: float
    unit: str

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g} {self.unit}"


WIND_SPEED_RANGE = ProfileRange(0.0, MAX_WIND_SPEED_M_S, "m/s")
IRRADIANCE_RANGE = ProfileRange(0.0, 1500.0, "W/m2")
AIR_TEMPERATURE_RANGE = ProfileRange(-90.0, 70.0, "degrees C")
LOAD_RANGE = ProfileRange(0.0, MAX_POWER_KW, "kW")
PER_UNIT_RANGE = ProfileRange(0.0, 10.0, "per unit")


# ---------------------------------------------------------------- members of a VPP


class MemberSpec(_Spec):
    """What every member of a VPP has: its kind, a unique name and (optionally) its own bus.

    A member kind (:class:`vppsim.agents.registry.MemberKind`) pairs a subclass of this with the
    agent class it builds. The subclass fixes ``kind`` to its tag,
    ``kind: Literal["heat_pump"] = "heat_pump"``, which selects it in a scenario file. Without
    ``bus`` a member sits at its VPP's bus.
    """

    kind: str = Field(description="the member kind's tag, selects its spec (each kind fixes it)")
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")

    #: plausible range of each profile field (as :meth:`profile_columns` names it); the
    #: values of a column not listed here need only be finite (and non-negative unless
    #: the column may be negative)
    profile_ranges: ClassVar[dict[str, ProfileRange]] = {}

    #: True for a member that makes up its VPP's whole portfolio and schedules itself (a
    #: prosumer fleet): its VPP holds nothing else, has no ``exchange`` or ``costs`` and no
    #: day-ahead LP, so only the ``passthrough`` price policy applies.
    self_scheduling: ClassVar[bool] = False

    #: True for a member that puts binaries into its VPP's day-ahead problem (a committed unit,
    #: a reservoir's pump): the VPP then solves a MILP, and the game's exact solver (an LP-based
    #: MPEC and bound) does not apply.
    milp: ClassVar[bool] = False

    def profile_columns(self) -> list[tuple[str, str, bool]]:
        """``(field, column, may_be_negative)`` of every profile column the member reads."""
        return []

    def bus_fields(self) -> list[tuple[str, int]]:
        """``(field, bus)`` of every feeder bus the member names."""
        return [] if self.bus is None else [("bus", self.bus)]


class BatteryParams(_Spec):
    """Battery physics: ``soc[t] = soc[t-1] + eta_c*ch*dt - dis*dt/eta_d`` in ``[soc_min, soc_max]*E``."""

    capacity_kwh: EnergyKwh = Field(description="energy capacity E of the battery")
    soc0: Fraction = Field(description="state of charge at the start of the run, fraction of capacity_kwh")
    soc_min: Fraction = Field(description="lowest state of charge, fraction of capacity_kwh")
    soc_max: Fraction = Field(description="highest state of charge, fraction of capacity_kwh")
    p_max_kw: PowerKw = Field(description="largest charging and discharging power")
    eta_charge: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.95, description="charging efficiency eta_c (energy stored per kWh charged)")
    eta_discharge: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.95, description="discharging efficiency eta_d (energy delivered per kWh taken from "
                                  "storage)")

    @model_validator(mode="after")
    def _soc_order(self) -> BatteryParams:
        if self.soc_min >= self.soc_max:
            raise ValueError(
                f"expected soc_min < soc_max, got soc_min={self.soc_min}, soc_max={self.soc_max}"
            )
        if not self.soc_min <= self.soc0 <= self.soc_max:
            raise ValueError(
                f"expected soc_min <= soc0 <= soc_max, got {self.soc_min} <= {self.soc0} "
                f"<= {self.soc_max}"
            )
        return self


class BatterySpec(BatteryParams, MemberSpec):
    """A battery member of a VPP (fields may come from an agent catalog: ``catalog: FILE/KEY``)."""

    kind: Literal["battery"] = Field(
        default="battery", description="the member kind's tag, selects this spec")
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")
    source: str | None = Field(
        default=None, description="where the values come from, free text (a catalog entry sets catalog "
                                  "FILE/KEY)")


class WindTurbineSpec(MemberSpec):
    """Wind turbines with a cut-in / rated / cut-out power curve (paper 001 eq. 1)."""

    kind: Literal["wind"] = Field(default="wind", description="the member kind's tag, selects this spec")
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")
    rated_kw: PowerKw = Field(description="rated power of one turbine, kW")
    count: Annotated[int, Field(ge=1, le=MAX_UNITS)] = Field(
        default=1, description="number of identical turbines")
    cut_in_m_s: WindSpeed = Field(default=3.0, description="cut-in wind speed: no output below it")
    rated_m_s: WindSpeed = Field(
        default=12.0, description="rated wind speed: rated power from it up to cut-out (linear from cut-in)")
    cut_out_m_s: WindSpeed = Field(default=25.0, description="cut-out wind speed: no output at or above it")
    wind_speed: str = Field(description="profile column: hub-height wind speed forecast, m/s")

    profile_ranges: ClassVar[dict[str, ProfileRange]] = {"wind_speed": WIND_SPEED_RANGE}

    @model_validator(mode="after")
    def _curve_order(self) -> WindTurbineSpec:
        if not self.cut_in_m_s < self.rated_m_s < self.cut_out_m_s:
            raise ValueError(
                "expected cut_in_m_s < rated_m_s < cut_out_m_s, got "
                f"{self.cut_in_m_s} < {self.rated_m_s} < {self.cut_out_m_s}"
            )
        if self.rated_kw * self.count > MAX_POWER_KW:
            raise ValueError(
                f"expected rated_kw * count <= {MAX_POWER_KW:g} kW (1 GW in one member), got "
                f"{self.rated_kw:g} * {self.count} = {self.rated_kw * self.count:g} kW"
            )
        return self

    def profile_columns(self) -> list[tuple[str, str, bool]]:
        """The wind-speed column."""
        return [("wind_speed", self.wind_speed, False)]


class PVParams(_Spec):
    """PV array parameters (paper 001 eq. 2-3).

    ``P = N * A * eta * G`` with ``eta = eta_ref * eta_pc * (1 - beta*(T_c - T_ref))``; the cell
    temperature comes from the ambient one by the NOCT rule.
    """

    panels: Annotated[int, Field(ge=1, le=MAX_PANELS)] = Field(description="number of panels N")
    panel_area_m2: Annotated[float, Field(gt=0.0, le=10.0)] = Field(
        default=1.6, description="area A of one panel")
    eta_ref: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.20, description="panel efficiency eta_ref at the reference cell temperature t_ref_c")
    eta_pc: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.95, description="power-conditioning efficiency eta_pc (paper 001 eq. 3)")
    temp_coeff_per_c: Annotated[float, Field(ge=0.0, le=0.02)] = Field(
        default=0.0045, description="temperature coefficient beta: relative efficiency lost per degree of "
                                    "cell temperature above t_ref_c")
    t_ref_c: Annotated[float, Field(ge=-50.0, le=100.0)] = Field(
        default=25.0, description="reference cell temperature T_ref of eta_ref")
    noct_c: Annotated[float, Field(ge=20.0, le=100.0)] = Field(
        default=45.0, description="nominal operating cell temperature NOCT: T_c = T_a + (NOCT - 20)/800 * G")
    irradiance: str = Field(description="profile column: plane-of-array irradiance, W/m2")
    temperature: str = Field(description="profile column: ambient temperature, degrees C")

    @model_validator(mode="after")
    def _peak_power(self) -> PVParams:
        peak_kw = self.panels * self.panel_area_m2 * self.eta_ref  # at 1 kW/m2
        if peak_kw > MAX_POWER_KW:
            raise ValueError(
                f"expected panels * panel_area_m2 * eta_ref <= {MAX_POWER_KW:g} kW peak (1 GW), "
                f"got {peak_kw:g} kW"
            )
        return self


class PVPlantSpec(PVParams, MemberSpec):
    """A PV plant member of a VPP."""

    kind: Literal["pv"] = Field(default="pv", description="the member kind's tag, selects this spec")
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")

    profile_ranges: ClassVar[dict[str, ProfileRange]] = {
        "irradiance": IRRADIANCE_RANGE, "temperature": AIR_TEMPERATURE_RANGE}

    def profile_columns(self) -> list[tuple[str, str, bool]]:
        """Irradiance and (possibly negative) ambient temperature."""
        return [("irradiance", self.irradiance, False), ("temperature", self.temperature, True)]


class PVProfileSpec(MemberSpec):
    """A PV plant whose available power is a profile column, kW (no weather model).

    With SimBench profiles, ``profile: sgen/<index>`` takes over that sgen of the feeder (it
    leaves the background; the member must sit at its bus).
    """

    kind: Literal["pv_profile"] = Field(
        default="pv_profile", description="the member kind's tag, selects this spec")
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")
    profile: str = Field(description="profile column: available PV power forecast, kW")
    rated_kw: PowerKw | None = Field(
        default=None, description="inverter rating, kW (default: the profile's peak)")

    profile_ranges: ClassVar[dict[str, ProfileRange]] = {"profile": LOAD_RANGE}

    def profile_columns(self) -> list[tuple[str, str, bool]]:
        """The available-power column."""
        return [("profile", self.profile, False)]


class LoadForecastSpec(_Spec):
    """Plan a load on a fitted forecaster instead of its profile (docs/design.md, "Load forecasting").

    ``model`` (a name of ``vppsim.forecast.load.FORECASTERS``, checked by the loader) is fitted
    on the first ``train_days`` days of ``series`` (hourly CSV ``timestamp, temperature_c,
    humidity_pct, load_kw``, relative to the YAML file) and forecasts the days after them. Its
    relative forecast ``forecast / actual`` on series day ``train_days + d`` scales the profile
    of the run's day ``d``: the day-ahead plan uses ``profile * forecast / actual``; the
    realized load stays the profile (times ``1 + eps`` of ``forecast_error.load``).
    """

    model: str = Field(
        default="regression", description="forecaster: regression or gbr (a name of "
                                          "vppsim.forecast.load.FORECASTERS)")
    series: str = Field(
        description="hourly CSV timestamp, temperature_c, humidity_pct, load_kw, relative to the YAML file")
    train_days: Annotated[int, Field(ge=14, le=3660)] = Field(
        default=90, description="days at the start of series the model is fitted on")
    seed: Seed = 0


class LoadSpec(MemberSpec):
    """An inflexible load following a profile (kW)."""

    kind: Literal["load"] = Field(default="load", description="the member kind's tag, selects this spec")
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")
    profile: str = Field(description="profile column: load forecast, kW")
    power_factor: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.95, description="power factor of the served load (sets the reactive power it draws)")
    forecast: LoadForecastSpec | None = Field(
        default=None, description="plan on a fitted load forecaster instead of the profile (default: the "
                                  "profile)")

    profile_ranges: ClassVar[dict[str, ProfileRange]] = {"profile": LOAD_RANGE}

    def profile_columns(self) -> list[tuple[str, str, bool]]:
        """The load forecast column."""
        return [("profile", self.profile, False)]


class ReserveRatioSpec(_Spec):
    """Controllable-load reserve ratio per period of the day (paper 001 eq. 6-7).

    Periods: ``low`` 00:00-07:00, ``morning_peak`` 08:00-12:00, ``evening_peak`` 19:00-21:00,
    ``shoulder`` the remaining hours (07:00-08:00, 12:00-19:00, 21:00-24:00).
    """

    low: Fraction = Field(default=0.10, description="reserve ratio, fraction of the load, 00:00-07:00")
    morning_peak: Fraction = Field(
        default=0.20, description="reserve ratio, fraction of the load, 08:00-12:00")
    evening_peak: Fraction = Field(
        default=0.25, description="reserve ratio, fraction of the load, 19:00-21:00")
    shoulder: Fraction = Field(
        default=0.15, description="reserve ratio, fraction of the load, in the remaining hours")


class ControllableLoadSpec(LoadSpec):
    """A load whose curtailable share is ``reserve_ratio(t) * participation`` (paper 001 eq. 6-9)."""

    kind: Literal["controllable_load"] = Field(  # type: ignore[assignment]
        default="controllable_load", description="the member kind's tag, selects this spec")
    reserve_ratio: ReserveRatioSpec = Field(
        default=ReserveRatioSpec(), description="curtailable share of the load per period of the day")
    participation: Fraction = Field(
        default=0.7, description="participation degree: share of the reserve ratio that can be curtailed")
    curtail_cost_cny_per_kwh: Price = Field(default=0.9, description="cost of each kWh of load curtailed")


class GeneratorSpec(MemberSpec):
    """A dispatchable unit (microturbine, fuel cell, diesel) with a convex quadratic cost curve.

    Cost per hour at output ``p`` kW: ``a + b*p + c*p**2`` (CNY/h) while it runs.
    """

    kind: Literal["generator"] = Field(
        default="generator", description="the member kind's tag, selects this spec")
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")
    technology: Literal["microturbine", "fuel_cell", "diesel", "hydro"] = Field(
        description="a label only: every technology has the same model")
    p_min_kw: NonNegativeKw = Field(default=0.0, description="lowest output")
    p_max_kw: PowerKw = Field(description="highest output")
    ramp_kw_per_h: Annotated[float, Field(gt=0.0, le=60 * MAX_POWER_KW)] | None = Field(
        default=None, description="largest change of output per hour (default: no ramp limit)")
    p0_kw: NonNegativeKw | None = Field(
        default=None, description="output before the first step, kW (default: p_min_kw)"
    )
    cost_a_cny_per_h: Annotated[float, Field(ge=0.0, le=1.0e6)] = Field(
        default=0.0, description="constant term a of the hourly cost a + b*p + c*p**2")
    cost_b_cny_per_kwh: Price = Field(description="linear term b of the hourly cost a + b*p + c*p**2")
    cost_c_cny_per_kw2h: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        default=0.0, description="quadratic term c of the hourly cost a + b*p + c*p**2")

    @model_validator(mode="after")
    def _limits(self) -> GeneratorSpec:
        if self.p_min_kw > self.p_max_kw:
            raise ValueError(
                f"expected p_min_kw <= p_max_kw, got {self.p_min_kw} > {self.p_max_kw}"
            )
        if self.p0_kw is not None and not self.p_min_kw <= self.p0_kw <= self.p_max_kw:
            raise ValueError(
                f"expected p_min_kw <= p0_kw <= p_max_kw, got {self.p_min_kw} <= {self.p0_kw} "
                f"<= {self.p_max_kw}"
            )
        return self


Hours = Annotated[int, Field(ge=0, le=168)]
HourOfDay = Annotated[int, Field(ge=0, le=23)]
CostCny = Annotated[float, Field(ge=0.0, le=1.0e7)]


class UnitSpec(MemberSpec):
    """A committed diesel or hydro unit (paper 003): on/off, output limits, ramps, min up/down.

    Cost: ``no_load_cost_cny_per_h`` per hour on, ``marginal + maintenance`` per kWh, and
    ``startup_cost_cny`` / ``shutdown_cost_cny`` per start / stop.
    """

    kind: Literal["unit"] = Field(default="unit", description="the member kind's tag, selects this spec")
    milp: ClassVar[bool] = True
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")
    technology: Literal["diesel", "hydro"] = Field(
        description="diesel or hydro: a label in its rows, both have the same model")
    p_min_kw: NonNegativeKw = Field(default=0.0, description="lowest output while on")
    p_max_kw: PowerKw = Field(description="highest output")
    ramp_kw_per_h: Annotated[float, Field(gt=0.0, le=60 * MAX_POWER_KW)] | None = Field(
        default=None, description="largest change of output per hour (default: no ramp limit)")
    min_up_h: Hours = Field(default=1, description="minimum time on after a start")
    min_down_h: Hours = Field(default=1, description="minimum time off after a stop")
    startup_cost_cny: CostCny = Field(default=0.0, description="cost of one start")
    shutdown_cost_cny: CostCny = Field(default=0.0, description="cost of one stop")
    no_load_cost_cny_per_h: CostCny = Field(
        default=0.0, description="cost of every hour on, whatever the output")
    marginal_cost_cny_per_kwh: Price = Field(description="cost of each kWh generated")
    maintenance_cost_cny_per_kwh: Price = Field(
        default=0.0, description="maintenance cost of each kWh generated (added to the marginal cost)")
    initially_on: bool = Field(default=False, description="whether the unit is on before the first step")
    initial_hours_in_state: Hours = Field(
        default=24, description="time the unit has been in its initial on/off state before the run, h")
    p0_kw: NonNegativeKw | None = Field(
        default=None, description="output before the first step if initially on, kW "
        "(default: p_min_kw)")

    @model_validator(mode="after")
    def _limits(self) -> UnitSpec:
        if self.p_min_kw > self.p_max_kw:
            raise ValueError(
                f"expected p_min_kw <= p_max_kw, got {self.p_min_kw} > {self.p_max_kw}")
        if self.p0_kw is not None and not self.initially_on:
            raise ValueError("p0_kw is the output of a unit that is initially on: expected "
                             "initially_on: true or no p0_kw")
        if self.p0_kw is not None and not self.p_min_kw <= self.p0_kw <= self.p_max_kw:
            raise ValueError(f"expected p_min_kw <= p0_kw <= p_max_kw, got {self.p_min_kw} <= "
                             f"{self.p0_kw} <= {self.p_max_kw}")
        return self


class EvSpec(MemberSpec):
    """An EV battery (paper 003): charges and discharges only while plugged in.

    It leaves with at least ``departure_kwh`` and spends ``trip_kwh`` away (taken at
    departure). ``plugged_hours``: hours of the day (0-23) it is plugged in; a departure is a plugged hour
    followed by an unplugged one.
    """

    kind: Literal["ev"] = Field(default="ev", description="the member kind's tag, selects this spec")
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")
    capacity_kwh: EnergyKwh = Field(description="energy capacity of the EV battery")
    soc0: Fraction = Field(description="state of charge at the start of the run, fraction of capacity_kwh")
    soc_min: Fraction = Field(default=0.0, description="lowest state of charge, fraction of capacity_kwh")
    soc_max: Fraction = Field(default=1.0, description="highest state of charge, fraction of capacity_kwh")
    p_charge_max_kw: PowerKw = Field(description="largest charging power")
    p_discharge_max_kw: NonNegativeKw = Field(
        default=0.0, description="largest discharging power (0: it never discharges)")
    eta_charge: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.95, description="charging efficiency (energy stored per kWh charged)")
    eta_discharge: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.95, description="discharging efficiency (energy delivered per kWh taken from storage)")
    plugged_hours: list[HourOfDay] = Field(
        min_length=1, description="hours of the day (0-23) the EV is plugged in")
    departure_kwh: Annotated[float, Field(ge=0.0, le=MAX_ENERGY_KWH)] = Field(
        default=0.0, description="energy the EV holds at least when it leaves")
    trip_kwh: Annotated[float, Field(ge=0.0, le=MAX_ENERGY_KWH)] = Field(
        default=0.0, description="energy spent away, taken at departure")
    degradation_cost_cny_per_kwh: Price = Field(
        default=0.0, description="cost of each kWh charged or discharged")

    @model_validator(mode="after")
    def _energy(self) -> EvSpec:
        lo, hi = self.soc_min * self.capacity_kwh, self.soc_max * self.capacity_kwh
        if self.soc_min >= self.soc_max:
            raise ValueError(f"expected soc_min < soc_max, got {self.soc_min} >= {self.soc_max}")
        if not self.soc_min <= self.soc0 <= self.soc_max:
            raise ValueError(f"expected soc_min <= soc0 <= soc_max, got {self.soc_min} <= "
                             f"{self.soc0} <= {self.soc_max}")
        if self.departure_kwh > hi:
            raise ValueError(f"expected departure_kwh <= soc_max * capacity_kwh = {hi:g}, got "
                             f"{self.departure_kwh:g}")
        if len(set(self.plugged_hours)) < 24 and self.trip_kwh > max(self.departure_kwh, lo) - lo:
            raise ValueError(f"expected trip_kwh <= departure_kwh - soc_min * capacity_kwh = "
                             f"{max(self.departure_kwh, lo) - lo:g} (the trip must not empty the "
                             f"battery below soc_min), got {self.trip_kwh:g}")
        return self


class WaterStorageSpec(MemberSpec):
    """A water reservoir with a pump and a turbine (paper 003's demand-side water storage).

    Energy units (kWh of water): ``level += eta_pump*pump*dt - turbine*dt/eta_turbine -
    water_demand*dt``, within ``[level_min_kwh, level_max_kwh]``; pumping and generating
    exclude each other, the pump runs at ``pump_min_kw`` at least. ``water_demand_kw`` (or the
    profile column ``water_demand``, kW of water) is drawn every hour.
    """

    kind: Literal["water_storage"] = Field(
        default="water_storage", description="the member kind's tag, selects this spec")
    milp: ClassVar[bool] = True
    name: str = Field(description="agent name, unique among the scenario's agent names")
    bus: int | None = Field(
        default=None, description="feeder bus the member sits at (default: its VPP's bus)")
    pump_max_kw: PowerKw = Field(description="largest pump power (electric)")
    pump_min_kw: NonNegativeKw = Field(default=0.0, description="lowest pump power while the pump runs")
    turbine_max_kw: NonNegativeKw = Field(default=0.0, description="largest turbine output (0: no turbine)")
    eta_pump: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.85, description="pump efficiency eta_pump: kWh of water stored per kWh pumped")
    eta_turbine: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.85, description="turbine efficiency eta_turbine: kWh generated per kWh of water")
    level_min_kwh: Annotated[float, Field(ge=0.0, le=MAX_ENERGY_KWH)] = Field(
        default=0.0, description="lowest level (kWh of water)")
    level_max_kwh: EnergyKwh = Field(description="highest level (kWh of water)")
    level0_kwh: Annotated[float, Field(ge=0.0, le=MAX_ENERGY_KWH)] = Field(
        description="level at the start of the run (kWh of water)")
    water_demand_kw: NonNegativeKw = Field(
        default=0.0, description="constant water drawn, kW of water (unless the profile column water_demand "
                                 "is given)")
    water_demand: str | None = Field(
        default=None, description="profile column: water drawn, kW (replaces water_demand_kw)")
    pump_cost_cny_per_kwh: Price = Field(default=0.0, description="cost of each kWh pumped")
    turbine_cost_cny_per_kwh: Price = Field(default=0.0, description="cost of each kWh the turbine generates")

    profile_ranges: ClassVar[dict[str, ProfileRange]] = {"water_demand": LOAD_RANGE}

    @model_validator(mode="after")
    def _levels(self) -> WaterStorageSpec:
        if self.level_min_kwh >= self.level_max_kwh:
            raise ValueError(f"expected level_min_kwh < level_max_kwh, got "
                             f"{self.level_min_kwh} >= {self.level_max_kwh}")
        if not self.level_min_kwh <= self.level0_kwh <= self.level_max_kwh:
            raise ValueError(f"expected level_min_kwh <= level0_kwh <= level_max_kwh, got "
                             f"{self.level_min_kwh} <= {self.level0_kwh} <= {self.level_max_kwh}")
        if self.pump_min_kw > self.pump_max_kw:
            raise ValueError(f"expected pump_min_kw <= pump_max_kw, got {self.pump_min_kw} > "
                             f"{self.pump_max_kw}")
        return self

    def profile_columns(self) -> list[tuple[str, str, bool]]:
        """The water-demand column, if any."""
        return [] if self.water_demand is None else [("water_demand", self.water_demand, False)]


class ProsumerSpec(LoadSpec):
    """A prosumer: a load with optional rooftop PV and an optional battery."""

    kind: Literal["prosumer"] = Field(  # type: ignore[assignment]
        default="prosumer", description="the member kind's tag, selects this spec")
    pv: PVParams | None = Field(default=None, description="rooftop PV (default: none)")
    battery: BatteryParams | None = Field(default=None, description="the prosumer's battery (default: none)")

    profile_ranges: ClassVar[dict[str, ProfileRange]] = {
        "profile": LOAD_RANGE, "pv.irradiance": IRRADIANCE_RANGE,
        "pv.temperature": AIR_TEMPERATURE_RANGE}

    def profile_columns(self) -> list[tuple[str, str, bool]]:
        """The load column and, with rooftop PV, its irradiance and temperature."""
        cols = super().profile_columns()
        if self.pv is not None:
            cols += [("pv.irradiance", self.pv.irradiance, False),
                     ("pv.temperature", self.pv.temperature, True)]
        return cols


class SyntheticFleetSpec(_Spec):
    """A synthetic prosumer population (:func:`vppsim.prosumers.synthetic_fleet`, every number assumed).

    ``seed`` fixes the population (roofs, loads, batteries, limits); the scenario's seed does
    not change it (it drives the forecast errors and the annealing).
    """

    seed: Seed = 0


#: a Dask scheduler address, ``[scheme://]host:port`` (as vppsim.prosumers.cluster accepts)
SCHEDULER_ADDRESS = re.compile(r"^((tcp|tls|ucx|ws|wss)://)?[^\s:/]+:\d{1,5}$")


def is_scheduler_address(value: str) -> bool:
    """Whether ``value`` is a Dask scheduler address ``[scheme://]host:port`` (port 0-65535)."""
    return SCHEDULER_ADDRESS.match(value) is not None and int(value.rsplit(":", 1)[1]) <= 65535


class ProsumerFleetSpec(MemberSpec):
    """``count`` self-scheduling prosumers (paper 002), each a Prosumer agent with its own battery.

    The prosumers are placed on ``buses`` round-robin, or all on ``bus`` (one or the other;
    default: the VPP's bus). Each answers
    the VPO's internal prices with its own schedule by ``optimizer`` (``sa``: simulated
    annealing, ``milp``: the exact MILP, ``lp``: its relaxation; HiGHS); the VPP's exchange is
    the sum. ``rolling_horizon``: re-optimize every step over the rest of the day with the
    step's realized generation and load and the batteries' present state (paper 002's rolling
    optimization); otherwise each prosumer keeps its planned battery power as far as its
    state allows. ``workers``: processes for the optimizer; ``sa_iterations``: annealing moves
    per prosumer for a whole day (a rolling window with SA starts from the previous step's
    plan instead and anneals briefly, ``vppsim.prosumers.anneal.warm_settings``, in one
    process). ``scheduler``: run the optimizer on Dask, ``local`` (a LocalCluster of
    ``workers`` processes, kept open for the run) or a scheduler's address
    ``tcp://host:port``; default (none) in this process or a process pool. A VPP holding a
    prosumer fleet holds nothing else.
    """

    kind: Literal["prosumer_fleet"] = Field(
        default="prosumer_fleet", description="the member kind's tag, selects this spec")
    name: str = Field(description="fleet name (its prosumers are named <name>-0000, <name>-0001, ...)")
    bus: int | None = Field(
        default=None, description="feeder bus of every prosumer, instead of buses (default: the VPP's)")
    count: Annotated[int, Field(ge=1, le=MAX_UNITS)] = Field(description="number of prosumers")
    buses: Annotated[list[int], Field(min_length=1)] | None = Field(
        default=None, description="feeder buses the prosumers are spread over (default: the VPP's)"
    )
    optimizer: str = Field(default="sa", description="sa, milp or lp (checked against "
                           "vppsim.prosumers.schedule.METHODS)")
    rolling_horizon: bool = Field(
        default=False, description="re-optimize every step over the rest of the day (paper 002's rolling "
                                   "optimization)")
    workers: Annotated[int, Field(ge=1, le=1024)] = Field(
        default=1, description="processes for the optimizer (with scheduler local: the LocalCluster's)")
    sa_iterations: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=3000, description="annealing moves per prosumer for a whole day (optimizer sa)")
    scheduler: str | None = Field(default=None, description="local or a Dask scheduler address "
                                  "tcp://host:port (default: in this process)")
    power_factor: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.95, description="power factor of the prosumers' served load (sets its reactive power)")
    synthetic: SyntheticFleetSpec = Field(
        default=SyntheticFleetSpec(), description="the synthetic prosumer population (its seed)")

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None and value != "local" and not is_scheduler_address(value):
            raise ValueError(f"expected 'local' or a Dask scheduler address such as "
                             f"'tcp://127.0.0.1:8786' ([scheme://]host:port, port 0-65535), "
                             f"got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_placement(self) -> ProsumerFleetSpec:
        if self.bus is not None and self.buses is not None:
            raise ValueError(f"expected bus (every prosumer on it) or buses (the prosumers spread "
                             f"over them), not both; got bus {self.bus} and buses {self.buses}")
        return self

    self_scheduling: ClassVar[bool] = True

    def bus_fields(self) -> list[tuple[str, int]]:
        """The fleet's buses (its prosumers sit on them round-robin)."""
        return super().bus_fields() + [(f"buses[{k}]", b) for k, b in enumerate(self.buses or [])]


#: The member kinds vppsim ships, in the order of the scenario reference (the member registry,
#: :mod:`vppsim.agents.registry`, pairs each with its agent class and may add more).
BUILTIN_MEMBER_SPECS: tuple[type[MemberSpec], ...] = (
    BatterySpec,
    WindTurbineSpec,
    PVPlantSpec,
    PVProfileSpec,
    LoadSpec,
    ControllableLoadSpec,
    GeneratorSpec,
    ProsumerSpec,
    ProsumerFleetSpec,
    UnitSpec,
    EvSpec,
    WaterStorageSpec,
)


def member_tag(spec: type[MemberSpec]) -> str:
    """The ``kind`` tag a member spec class is selected by (its ``kind`` field's default)."""
    tag = spec.model_fields["kind"].default
    if not isinstance(tag, str):
        raise TypeError(f"{spec.__name__}: expected kind: Literal['<tag>'] = '<tag>'")
    return tag


class VppCostSpec(_Spec):
    """Cost coefficients of a VPP's lower-level objective (paper 004 eq. 4-5), CNY/kWh.

    ``mu1``/``mu2`` curtailment, ``lam1`` battery operation, ``lam2``/``lam3`` wind/PV
    operation on the forecast, ``w_b`` purchased-power management, ``w_bat`` battery leakage.
    """

    mu1_wind_curtail_cny_per_kwh: Price = Field(description="mu1: cost of each kWh of wind curtailed")
    mu2_pv_curtail_cny_per_kwh: Price = Field(description="mu2: cost of each kWh of PV curtailed")
    lam1_battery_cny_per_kwh: Price = Field(
        description="lam1: battery operation cost of each kWh charged or discharged")
    lam2_wind_om_cny_per_kwh: Price = Field(
        description="lam2: wind operation cost of each kWh of forecast wind output")
    lam3_pv_om_cny_per_kwh: Price = Field(
        description="lam3: PV operation cost of each kWh of forecast PV output")
    w_b_purchase_cny_per_kwh: Price = Field(
        description="W_b: purchased-power management cost of each kWh bought from the VPO")
    w_bat_battery_cny_per_kwh: Price = Field(
        description="W_bat: battery leakage cost of each kWh charged or discharged")


class ExchangeLimitSpec(_Spec):
    """Exchange limits with the VPO (paper 004 eq. 3), kW."""

    buy_max_kw: NonNegativeKw = Field(description="largest power the VPP buys from the VPO (g_max)")
    sell_max_kw: NonNegativeKw = Field(description="largest power the VPP sells to the VPO (e_max)")


class VppSpec(_Spec):
    """A virtual power plant: its members, exchange limits and cost coefficients.

    ``exchange`` and ``costs`` are required unless the VPP holds a self-scheduling member (a
    prosumer fleet, whose prosumers have their own limits and costs; it then holds nothing
    else, see :func:`vppsim.scenario.loader.load_scenario`). ``end_soc_at_least_initial``
    applies to a fleet's batteries too. ``members`` take every registered member kind
    (:func:`scenario_model`); this class lists the built-in ones.
    """

    name: str = Field(description="VPP name, unique among the scenario's agent names")
    bus: int = Field(description="feeder bus of the VPP (its members' default bus)")
    exchange: ExchangeLimitSpec | None = Field(
        default=None, description="exchange limits with the VPO (required unless the VPP holds a prosumer "
                                  "fleet)")
    costs: VppCostSpec | None = Field(
        default=None, description="cost coefficients (required unless the VPP holds a prosumer fleet)")
    end_soc_at_least_initial: bool = Field(
        default=True, description="day-ahead plans end each day with every storage of the VPP at least at "
                                  "its start energy")
    members: Annotated[
        list[Annotated[Union[BUILTIN_MEMBER_SPECS], Field(discriminator="kind")]],  # noqa: UP007
        Field(min_length=1),
    ] = Field(description="the VPP's members, each selected by its kind")

    @property
    def self_scheduling_member(self) -> MemberSpec | None:
        """The VPP's self-scheduling member (a prosumer fleet), if it holds one."""
        return next((m for m in self.members if m.self_scheduling), None)

    @property
    def prosumer_fleet(self) -> ProsumerFleetSpec | None:
        """The VPP's prosumer fleet, if it holds one."""
        return next((m for m in self.members if isinstance(m, ProsumerFleetSpec)), None)

    @model_validator(mode="after")
    def _required_unless_self_scheduling(self) -> VppSpec:
        if self.self_scheduling_member is None:
            missing = [f for f in ("exchange", "costs") if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"expected the field(s) {missing} (required unless the VPP holds a prosumer_fleet)"
                )
        return self


# ---------------------------------------------------------------- system-level parts


class TariffPeriodSpec(_Spec):
    """One tariff period: the hours of the day it covers and its import/export prices."""

    name: str = Field(description="name of the period")
    hours: Annotated[list[Annotated[int, Field(ge=0, le=23)]], Field(min_length=1)] = Field(
        description="hours of the day (0-23) the period covers")
    import_cny_per_kwh: Price = Field(
        description="import price pi_imp of this period (the coalition pays it)")
    export_cny_per_kwh: Price = Field(
        description="export price pi_exp of this period (the coalition is paid it)")
    export_incentive: bool = Field(
        default=False, description="let export_cny_per_kwh exceed import_cny_per_kwh in this "
        "period (an export incentive or local flexibility payment); only when every VPP holds "
        "a prosumer fleet and the price policy is passthrough")

    @model_validator(mode="after")
    def _export_below_import(self) -> TariffPeriodSpec:
        if self.export_cny_per_kwh > self.import_cny_per_kwh and not self.export_incentive:
            raise ValueError(
                "expected export_cny_per_kwh <= import_cny_per_kwh (or export_incentive: true), "
                f"got {self.export_cny_per_kwh} > {self.import_cny_per_kwh}"
            )
        return self


class TariffSpec(_Spec):
    """Time-of-use grid tariff; the periods must cover every hour of the day exactly once.

    ``spread_scale`` scales each period's import-export spread around its midpoint (1: the
    periods as listed; 0: import = export); the scaled export prices must stay >= 0.
    """

    periods: Annotated[list[TariffPeriodSpec], Field(min_length=1)] = Field(
        description="the tariff periods, covering the hours 0-23 exactly once")
    spread_scale: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        default=1.0, description="scales each period's import-export spread around its midpoint")

    @model_validator(mode="after")
    def _scaled_export_not_negative(self) -> TariffSpec:
        for p in self.periods:
            mid = 0.5 * (p.import_cny_per_kwh + p.export_cny_per_kwh)
            half = 0.5 * (p.import_cny_per_kwh - p.export_cny_per_kwh)
            if mid - self.spread_scale * half < 0.0:
                raise ValueError(
                    f"expected spread_scale <= {mid / half:.6g} (period {p.name!r}: the scaled "
                    f"export price would be negative), got {self.spread_scale}")
        return self

    @model_validator(mode="after")
    def _cover_day(self) -> TariffSpec:
        hours = [h for p in self.periods for h in p.hours]
        missing = sorted(set(range(24)) - set(hours))
        doubled = sorted({h for h in hours if hours.count(h) > 1})
        if missing or doubled:
            raise ValueError(
                "expected the periods to cover hours 0-23 exactly once; "
                f"missing {missing}, listed twice {doubled}"
            )
        return self


class GameSpec(_Spec):
    """The bi-level game the ``game`` price policy solves each day (paper 004 Model 2)."""

    solver: str = Field(default="pso-rl", description="a game solver (checked against the "
                        "market's registry when the scenario is loaded)")
    objective: str = Field(default="system_cost", description="system_cost or vpo_profit")
    budget: Annotated[int, Field(ge=10, le=10_000_000)] = Field(
        default=1500, description="objective evaluations per day (each = one LP per VPP)"
    )
    reference: bool = Field(
        default=True, description="compute the exact reference for the certificate every day"
    )
    reference_time_limit_s: Annotated[float, Field(gt=0.0, le=MAX_SECONDS)] = Field(
        default=120.0, description="time limit of the exact reference's MILP (the MPEC of vpo_profit)")
    stop_at_bound: bool = Field(
        default=True, description="stop the search once its best candidate reaches the proven "
        "bound (same outcome, fewer evaluations); false: spend the whole budget")


class LossAwareSpec(_Spec):
    """The weights of the ``loss_aware`` price policy's dispatch (paper 000's trade-off).

    The VPO minimizes system cost + ``w_losses_cny_per_kwh`` x the feeder's AC losses (kWh) -
    ``w_utilization_cny`` x renewable utilization (used / available, 1.0 = 100 %).
    """

    w_losses_cny_per_kwh: Price = Field(
        default=50.0, description="price of one kWh lost in the feeder (0: loss-blind dispatch)")
    w_utilization_cny: Annotated[float, Field(ge=0.0, le=1.0e7)] = Field(
        default=0.0, description="worth of renewable utilization, CNY per unit (1.0 = 100 %)")


class MarketSpec(_Spec):
    """Price policy of the VPO and settlement rules."""

    price_policy: str = Field(
        default="passthrough", description="passthrough, game or loss_aware (a name of "
                                           "vppsim.market.pricing.PRICE_POLICIES)")
    game: GameSpec = Field(default=GameSpec(), description="settings of the game price policy")
    loss_aware: LossAwareSpec = Field(
        default=LossAwareSpec(), description="weights of the loss_aware price policy")
    imbalance_penalty: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.10, description="imbalance surcharge: short pays c_sell*(1+penalty), long is paid "
                                  "c_buy*(1-penalty)")
    value_of_lost_load_cny_per_kwh: Annotated[
        float, Field(gt=0.0, le=MAX_PRICE_CNY_PER_KWH)] = Field(
        default=10.0, description="value of lost load: cost of each kWh of unmet demand or spilled output")


class VpoSpec(_Spec):
    """The VPP operator; trades with the grid at the feeder's slack bus; optional own storage."""

    name: str = Field(
        default="VPO", description="the VPO's agent name, unique among the scenario's agent names")
    battery: BatteryParams | None = Field(default=None, description="the VPO's own battery (default: none)")
    battery_bus: int | None = Field(
        default=None, description="bus of the VPO's battery (default: the feeder's slack bus)"
    )
    battery_cost_cny_per_kwh: Price = Field(
        default=0.02, description="lam_o: the VPO's storage cost per kWh charged or discharged"
    )


class BalancingSpec(_Spec):
    """Real-time balancing inside each VPP (``vppsim.allocation.realtime``).

    ``allocator``: ``ga-aco`` (paper 001's balanced allocation, the default), ``exact`` (the
    same problem as an LP, HiGHS), ``exact-fast`` (its optimum in closed form below the
    balance threshold, the LP above), ``proportional`` (in proportion to headroom) or
    ``merit-order`` (a fixed order of means). ``exact_reference``: the balanced allocators
    also solve each step's LP and record the gap (``allocation_gap`` in the time series).
    """

    allocator: str = Field(
        default="ga-aco", description="ga-aco, exact, exact-fast, proportional or merit-order")
    exact_reference: bool = Field(
        default=True, description="balanced allocators also solve each step's LP and record allocation_gap")


class ErrorModelSpec(_Spec):
    """Relative forecast error of one quantity: ``actual = forecast * (1 + eps)``.

    ``uniform``: eps ~ U(-band, band) (paper 004's +-30 %); ``normal``: eps ~ N(0, sd)
    truncated at ``clip_sd`` standard deviations (exactly: ``sd`` is the parent normal's,
    the truncated error's own standard deviation is a little smaller); ``none``: perfect
    forecast. ``autocorrelation`` is the AR(1) coefficient of the error over consecutive
    periods (of its Gaussian score, see :mod:`vppsim.forecast.uncertainty`); 0 draws every
    period independently.
    """

    kind: Literal["none", "uniform", "normal"] = Field(
        default="none", description="none (perfect forecast), uniform or normal")
    band: Fraction = Field(
        default=0.0, description="half-width of the uniform error, fraction of the forecast (0.3: +-30 %)")
    sd: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        default=0.0, description="standard deviation of the normal error before truncation, fraction of the "
                                 "forecast")
    clip_sd: Annotated[float, Field(gt=0.0, le=10.0)] = Field(
        default=3.0, description="truncation of the normal error, in standard deviations")
    autocorrelation: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.0, description="AR(1) coefficient of the error over consecutive periods (0: independent)")


class ForecastErrorSpec(_Spec):
    """Forecast-error models for wind, PV and load, and how their errors are correlated.

    ``wind_pv_correlation``: correlation of the wind and the PV error of the same VPP in the
    same period. ``vpp_correlation``: correlation of the same quantity's errors of two
    different VPPs in the same period; "neighbouring" VPPs are every pair of VPPs in this
    version. Members of one VPP with the same quantity share one error (perfectly
    correlated); wind of one VPP and PV of another correlate with the product of the two.
    Load errors are independent of wind and PV errors. All correlations are those of the
    Gaussian scores (a Gaussian copula, see :mod:`vppsim.forecast.uncertainty`).
    """

    wind: ErrorModelSpec = Field(default=ErrorModelSpec(), description="error model of the wind forecast")
    pv: ErrorModelSpec = Field(default=ErrorModelSpec(), description="error model of the PV forecast")
    load: ErrorModelSpec = Field(default=ErrorModelSpec(), description="error model of the load forecast")
    wind_pv_correlation: Annotated[float, Field(ge=-1.0, le=1.0)] = Field(
        default=0.0, description="correlation of the wind and the PV error of one VPP in one period")
    vpp_correlation: Fraction = Field(
        default=0.0, description="correlation of the same quantity's errors of two VPPs in one period")

    @model_validator(mode="after")
    def _positive_semi_definite(self) -> ForecastErrorSpec:
        # With AR(1) coefficients a_w != a_p the per-period innovations must correlate with
        # rho * (1 - a_w*a_p) / sqrt((1 - a_w^2)(1 - a_p^2)) for the errors themselves to
        # correlate with rho; that matrix (Kronecker with the VPP matrix, which is PSD for
        # vpp_correlation in [0, 1]) is positive semi-definite iff the bound below holds.
        a_w, a_p = self.wind.autocorrelation, self.pv.autocorrelation
        bound = math.sqrt((1.0 - a_w**2) * (1.0 - a_p**2)) / (1.0 - a_w * a_p)
        if abs(self.wind_pv_correlation) > bound + 1e-12:
            raise ValueError(
                f"expected |wind_pv_correlation| <= {bound:.6g} for wind.autocorrelation={a_w} "
                f"and pv.autocorrelation={a_p} (else the implied correlation matrix of the "
                f"error innovations is not positive semi-definite), got "
                f"wind_pv_correlation={self.wind_pv_correlation}"
            )
        return self


class LinkSpec(_Spec):
    """A communication link between the VPO and one VPP: one-way latency and loss probability."""

    latency_s: Seconds = Field(default=0.0, description="one-way delay of a message on the link")
    loss_probability: Fraction = Field(
        default=0.0, description="probability that a message on the link is lost")


class CommunicationSpec(_Spec):
    """SimPy messaging: per-link latency/loss and the VPO's gate closure after price release."""

    gate_closure_s: Seconds = Field(
        default=900.0, description="time after the price release at which the VPO clears with what arrived")
    default_link: LinkSpec = Field(default=LinkSpec(), description="link of every VPP not named in links")
    links: dict[str, LinkSpec] = Field(
        default={}, description="links by VPP name (the others use default_link)")


class VoltageBandSpec(_Spec):
    """The bus-voltage band (pu) the reports hold every converged power flow to."""

    min_pu: Annotated[float, Field(gt=0.0)] = Field(default=0.9, description="lower end of the voltage band")
    max_pu: Annotated[float, Field(gt=0.0)] = Field(default=1.1, description="upper end of the voltage band")

    @model_validator(mode="after")
    def _ordered(self) -> VoltageBandSpec:
        if not self.min_pu < self.max_pu:
            raise ValueError(f"expected min_pu < max_pu, got min_pu={self.min_pu} and "
                             f"max_pu={self.max_pu}")
        return self


SIMBENCH_FEEDER_PREFIX = "simbench:"


class FeederSpec(_Spec):
    """The distribution feeder: a registry name, a pandapower JSON path or a SimBench code.

    ``simbench: 1-LV-rural1--0-sw`` sets ``name`` to ``simbench:<code>``.
    """

    name: str = Field(
        default="ieee33", description="a feeder of the registry (vppsim feeders), a pandapower JSON path or "
                                      "simbench:<code>")
    simbench: str | None = Field(default=None, description="a SimBench grid code (instead of "
                                 "name; needs the simbench extra)")
    power_flow_backend: str = Field(default="lightsim2grid", description="a power-flow backend "
                                    "(checked against vppsim.grids.BACKENDS); if not given, "
                                    "lightsim2grid, or pandapower on a feeder lightsim2grid "
                                    "cannot solve")
    background_load_scale: Annotated[float, Field(ge=0.0, le=PER_UNIT_RANGE.high)] = Field(
        default=1.0, description="constant factor on the feeder's own loads")
    background_load_profile: str | None = Field(
        default=None, description="profile column: per-unit factor on the feeder's own loads"
    )
    voltage_band: VoltageBandSpec = Field(
        default=VoltageBandSpec(), description="the bus-voltage band the reports hold every converged power "
                                               "flow to")

    @model_validator(mode="before")
    @classmethod
    def _simbench_name(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("simbench") is None:
            return data
        code = data["simbench"]
        name = f"{SIMBENCH_FEEDER_PREFIX}{code}"
        if data.get("name", name) != name:
            raise ValueError(f"expected either name or simbench, not both, got name "
                             f"{data['name']!r} and simbench {code!r}")
        return {**data, "name": name}


class SimbenchWindowSpec(_Spec):
    """A window of SimBench's 2016 profiles: ``days`` (the scenario's) from ``start``."""

    start: Annotated[str, Field(pattern=r"^2016-\d\d-\d\d$",
                                description="first day, YYYY-MM-DD in 2016")]


class SimbenchProfilesSpec(_Spec):
    """Profiles from the feeder's own SimBench element profiles (``profiles: {simbench: ...}``)."""

    simbench: SimbenchWindowSpec = Field(description="the window of SimBench's 2016 profiles")


class PaperFigures(_Spec):
    """A paper's published figures for one sensitivity case (for the side-by-side table)."""

    deviation_pct: float | None = Field(default=None, description="the paper's allocation deviation rate")
    deviation_sd_pct: float | None = Field(
        default=None, description="the paper's standard deviation of the deviation rate")
    time_s: float | None = Field(default=None, description="the paper's time per run")
    stability_index: float | None = Field(default=None, description="the paper's stability index")


class SensitivityCase(_Spec):
    """One case of a sensitivity grid: a name and the forecast-error model it uses."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = Field(
        description="case name (its batch is written to OUT/<name>/)")
    description: str = Field(default="", description="free text on the case")
    forecast_error: ForecastErrorSpec = Field(
        description="the forecast-error model of this case (replaces the scenario's)")
    paper: PaperFigures | None = Field(
        default=None, description="the paper's published figures for this case (default: none)")


class SensitivitySpec(_Spec):
    """A grid of forecast-error cases run by ``vppsim montecarlo --grid`` (one batch each)."""

    source: str = Field(  # where the paper figures come from
        default="", description="where the paper figures come from, free text (in the grid's report)")
    cases: Annotated[list[SensitivityCase], Field(min_length=1)] = Field(
        description="the cases, one Monte Carlo batch each")

    @model_validator(mode="after")
    def _unique_case_names(self) -> SensitivitySpec:
        names = [c.name for c in self.cases]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"expected unique case names, got duplicates {doubled}")
        return self


class Scenario(_Spec):
    """A complete scenario: horizon, feeder, tariff, market, VPO, VPPs, uncertainty, messaging."""

    name: str = Field(description="scenario name (in summaries and progress bars)")
    description: str = Field(default="", description="free text (vppsim scenarios lists its first sentence)")
    seed: Seed = 0
    days: Annotated[int, Field(ge=1, le=3660)] = Field(default=1, description="number of days simulated")
    step_h: Literal[1.0, 0.5, 0.25] = Field(
        default=1.0, description="length of one step (one Mesa step, one period)")
    profiles: str | SimbenchProfilesSpec = Field(
        description="CSV file of daily or whole-horizon profiles, relative to the YAML file, "
                    "or {simbench: {start: YYYY-MM-DD}} (the feeder's SimBench profiles)")
    feeder: FeederSpec = Field(default=FeederSpec(), description="the distribution feeder")
    tariff: TariffSpec = Field(description="the grid's time-of-use tariff")
    market: MarketSpec = Field(
        default=MarketSpec(), description="the VPO's price policy and settlement rules")
    vpo: VpoSpec = Field(default=VpoSpec(), description="the VPP operator")
    balancing: BalancingSpec = Field(
        default=BalancingSpec(), description="real-time balancing inside each VPP")
    vpps: Annotated[list[VppSpec], Field(min_length=1)] = Field(description="the virtual power plants")
    forecast_error: ForecastErrorSpec = Field(
        default=ForecastErrorSpec(), description="forecast-error models (default: perfect forecasts)")
    communication: CommunicationSpec = Field(
        default=CommunicationSpec(), description="messaging between the VPO and the VPPs (default: no "
                                                 "latency, no loss)")
    sensitivity: SensitivitySpec | None = Field(
        default=None, description="forecast-error cases for vppsim montecarlo --grid (default: none)")
    baseline: bool = Field(default=True, description="vppsim run also runs the no-coordination "
                           "baseline for the KPI table (false: as --no-baseline)")
    assumptions: list[str] = Field(
        default=[], description="choices made where the sources publish no number, free text")

    @property
    def steps_per_day(self) -> int:
        """Number of steps in one day."""
        return int(round(24.0 / self.step_h))

    @property
    def n_steps(self) -> int:
        """Number of steps in the whole horizon."""
        return self.days * self.steps_per_day

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        names = [self.vpo.name] + [v.name for v in self.vpps]
        names += [m.name for v in self.vpps for m in v.members]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"expected unique agent names, got duplicates {doubled}")
        return self


class _ExtendedScenario(Scenario):
    """Base of the scenario classes whose VPPs take member kinds beyond the built-in ones."""

    member_specs: ClassVar[tuple[type[MemberSpec], ...]] = BUILTIN_MEMBER_SPECS

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # the class is built at run time (scenario_model), so pickle it as its recipe
        return (_rebuild_scenario, (self.member_specs, self.model_dump()))


def _rebuild_scenario(member_specs: tuple[type[MemberSpec], ...], data: dict[str, Any]) -> Scenario:
    return scenario_model(member_specs).model_validate(data)


@functools.lru_cache(maxsize=32)
def scenario_model(member_specs: tuple[type[MemberSpec], ...]) -> type[Scenario]:
    """The scenario class whose VPP ``members`` take exactly these member kinds.

    The built-in kinds give :class:`Scenario` itself; a registry with more kinds (a member
    kind from outside vppsim) gets a subclass whose members are the discriminated union of
    all of them, so errors still name the field path (``vpps[0].members[2].rated_kw``).
    """
    specs = tuple(member_specs)
    if specs == BUILTIN_MEMBER_SPECS:
        return Scenario
    tags = [member_tag(s) for s in specs]
    doubled = sorted({x for x in tags if tags.count(x) > 1})
    if doubled:
        raise ValueError(f"member kinds: expected unique kind tags, got duplicates {doubled}")
    member = Annotated[Union[specs], Field(discriminator="kind")]  # noqa: UP007
    # the redefined fields keep their descriptions (the scenario reference shows them)
    members = VppSpec.model_fields["members"].description
    vpp = create_model("VppSpec", __base__=VppSpec,
                       members=(Annotated[list[member], Field(min_length=1)],
                                Field(description=members)))
    model = create_model("Scenario", __base__=_ExtendedScenario,
                         vpps=(Annotated[list[vpp], Field(min_length=1)],
                               Field(description=Scenario.model_fields["vpps"].description)))
    model.member_specs = specs
    return model


def _format_loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def validation_problems(exc: ValidationError, member_specs: tuple[type[MemberSpec], ...]
                        = BUILTIN_MEMBER_SPECS) -> list[tuple[str, str]]:
    """``(field path, what was expected)`` for every error of a pydantic validation.

    The discriminator tags pydantic inserts into member locations (``members[2].wind``) are
    dropped, so a path reads as in the scenario file.
    """
    tags = {member_tag(s) for s in member_specs}
    problems = []
    for err in exc.errors():
        loc = [part for i, part in enumerate(err["loc"])
               if not (part in tags and i > 0 and isinstance(err["loc"][i - 1], int))]
        if err["type"] == "extra_forbidden":
            what = "unknown field (not in the schema; check its spelling)"
        elif err["type"] == "finite_number":
            what = f"expected a finite number, got {err['input']!r}"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            # a cross-field check (model validator) names its values itself; its input is
            # the whole mapping (up to the whole scenario), too long to repeat
            whole = err["type"] == "value_error" and isinstance(err["input"], dict)
            what = msg if err["type"] == "missing" or whole else f"{msg} (got {err['input']!r})"
        problems.append((_format_loc(loc), what))
    return problems
