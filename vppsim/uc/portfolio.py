"""The unit-commitment case: a VPP's units, its demand and the market, as plain data (paper 003).

Power in kW, energy in kWh, money in CNY, time in hours; arrays are per hour of the horizon.
The model (:mod:`vppsim.uc.milp`) and the checker (:mod:`vppsim.uc.check`) read these objects;
the scenario file (:mod:`vppsim.uc.spec`) builds them.

- :class:`ThermalUnit`: a diesel or hydro unit with on/off state, output limits, ramp limits,
  minimum up and down times, start-up and shut-down costs, a no-load cost per hour on, a
  marginal (fuel or water) cost and a maintenance cost per kWh, and optionally a daily energy
  limit (the water a hydro unit may release in the horizon).
- :class:`RenewableUnit`: a wind turbine or a solar plant with its available power per hour and
  an on/off binary (paper 003, Table 3): off, it produces nothing; switching it on costs
  ``startup_cost_cny``.
- :class:`StorageUnit`: a battery or an EV (charge and discharge never at once; an EV only while
  plugged, and leaves with at least ``departure_kwh`` stored, spending ``trip_kwh`` away).
- :class:`Reservoir`: demand-side water storage. Its pump draws power to lift water (stored as
  the energy it can give back, kWh), a water demand drains it every hour, and releasing water
  through its turbine generates power; pumping and generating exclude each other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

THERMAL_KINDS = ("diesel", "hydro")
RENEWABLE_KINDS = ("wind", "solar")
STORAGE_KINDS = ("battery", "ev")


@dataclass(frozen=True)
class ThermalUnit:
    """A dispatchable diesel or hydro unit."""

    name: str
    kind: str
    p_min_kw: float
    p_max_kw: float
    ramp_kw_per_h: float | None
    min_up_h: int
    min_down_h: int
    startup_cost_cny: float
    shutdown_cost_cny: float
    no_load_cost_cny_per_h: float
    marginal_cost_cny_per_kwh: float
    maintenance_cost_cny_per_kwh: float
    energy_limit_kwh: float | None = None
    initially_on: bool = False
    initial_hours_in_state: int = 24
    initial_p_kw: float = 0.0
    bus: int = 0


@dataclass(frozen=True)
class RenewableUnit:
    """A wind turbine or solar plant: available power per hour and an on/off binary."""

    name: str
    kind: str
    available_kw: np.ndarray
    marginal_cost_cny_per_kwh: float
    maintenance_cost_cny_per_kwh: float
    startup_cost_cny: float
    initially_on: bool = True
    bus: int = 0


@dataclass(frozen=True)
class StorageUnit:
    """A battery or an EV (``plugged`` all True for a battery)."""

    name: str
    kind: str
    capacity_kwh: float
    p_charge_max_kw: float
    p_discharge_max_kw: float
    eta_charge: float
    eta_discharge: float
    soc_min: float
    soc_max: float
    soc_start: float
    degradation_cost_cny_per_kwh: float
    plugged: np.ndarray
    departure_kwh: float = 0.0
    trip_kwh: float = 0.0
    end_soc_at_least_start: bool = True
    bus: int = 0

    def departures(self) -> np.ndarray:
        """Hours ``t`` at which the EV leaves: plugged at ``t - 1``, not at ``t``."""
        p = np.asarray(self.plugged, bool)
        return np.flatnonzero(~p[1:] & p[:-1]) + 1


@dataclass(frozen=True)
class Reservoir:
    """Demand-side water storage with a pump and a turbine (energy units: kWh of water)."""

    name: str
    pump_max_kw: float
    pump_min_kw: float
    turbine_max_kw: float
    eta_pump: float
    eta_turbine: float
    level_min_kwh: float
    level_max_kwh: float
    level_start_kwh: float
    water_demand_kwh: np.ndarray
    pump_cost_cny_per_kwh: float
    turbine_cost_cny_per_kwh: float
    bus: int = 0


@dataclass(frozen=True)
class UcCase:
    """One unit-commitment day: units, demand, market prices and penalties.

    ``sell_price`` is what the market pays for the VPP's exports, ``buy_price`` what the VPP
    (or, in the traditional grid, every consumer) pays for imports, CNY/kWh. Demand the VPP
    cannot serve costs ``voll_cny_per_kwh``; output nothing can absorb is spilled at
    ``spill_cost_cny_per_kwh``.
    """

    name: str
    dt_h: float
    demand_kw: np.ndarray
    sell_price_cny_per_kwh: np.ndarray
    buy_price_cny_per_kwh: np.ndarray
    export_max_kw: float
    import_max_kw: float
    voll_cny_per_kwh: float
    spill_cost_cny_per_kwh: float
    thermal: tuple[ThermalUnit, ...] = ()
    renewables: tuple[RenewableUnit, ...] = ()
    storage: tuple[StorageUnit, ...] = ()
    reservoirs: tuple[Reservoir, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def n_hours(self) -> int:
        """Number of periods in the horizon."""
        return len(self.demand_kw)

    @property
    def n_units(self) -> int:
        """Number of dispatchable (diesel and hydro) units."""
        return len(self.thermal)

    def without_dsm(self) -> UcCase:
        """The same case without the demand-side water storage (no reservoirs)."""
        return dataclasses.replace(self, reservoirs=())


def with_units(case: UcCase, n_units: int) -> UcCase:
    """The case with ``n_units`` dispatchable units: the portfolio replicated, demand scaled.

    Copy ``k`` (0-based) of the base portfolio repeats every diesel and hydro unit exactly,
    names suffixed ``-k``; the last copy may be partial. (HiGHS detects the symmetry of
    identical units and uses it: at 30 units it proves 0.1 % in half the time it needs when
    each copy's cost differs by 0.5 %.) Demand, water
    demand, renewables, storage and reservoirs scale by ``n_units / base``, so that every size
    is the same day for a larger VPP.

    Raises
    ------
    ValueError
        If ``n_units`` is below 1 or the case has no dispatchable unit.
    """
    base = len(case.thermal)
    if base == 0:
        raise ValueError(f"{case.name}: no diesel or hydro unit to replicate")
    if n_units < 1:
        raise ValueError(f"--units must be at least 1, got {n_units}")
    if n_units == base:
        return case
    scale = n_units / base
    units = []
    for i in range(n_units):
        k, u = divmod(i, base)
        src = case.thermal[u]
        units.append(src if k == 0 else dataclasses.replace(src, name=f"{src.name}-{k}"))
    ren = tuple(dataclasses.replace(r, available_kw=r.available_kw * scale)
                for r in case.renewables)
    sto = tuple(dataclasses.replace(
        s, capacity_kwh=s.capacity_kwh * scale, p_charge_max_kw=s.p_charge_max_kw * scale,
        p_discharge_max_kw=s.p_discharge_max_kw * scale, departure_kwh=s.departure_kwh * scale,
        trip_kwh=s.trip_kwh * scale) for s in case.storage)
    res = tuple(dataclasses.replace(
        r, pump_max_kw=r.pump_max_kw * scale, pump_min_kw=r.pump_min_kw * scale,
        turbine_max_kw=r.turbine_max_kw * scale, level_min_kwh=r.level_min_kwh * scale,
        level_max_kwh=r.level_max_kwh * scale, level_start_kwh=r.level_start_kwh * scale,
        water_demand_kwh=r.water_demand_kwh * scale) for r in case.reservoirs)
    return dataclasses.replace(
        case, thermal=tuple(units), renewables=ren, storage=sto, reservoirs=res,
        demand_kw=case.demand_kw * scale, export_max_kw=case.export_max_kw * scale,
        import_max_kw=case.import_max_kw * scale)
