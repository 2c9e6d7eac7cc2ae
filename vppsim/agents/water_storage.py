"""Demand-side water storage (paper 003): a reservoir with a pump and a turbine.

The pump is a flexible load that lifts water (stored as the energy it can give back, kWh), the
turbine releases water to generate, and a water demand drains the reservoir every step:
``level += eta_pump*pump*dt - turbine*dt/eta_turbine - water_demand*dt`` within the level
bounds. In real time the reservoir keeps the day-ahead mode (pumping or not) and always
serves the water demand: if the level would fall below its minimum, the pump must run; water
it still cannot supply is recorded as ``water_short_kwh``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.market.commitment import ReservoirData
from vppsim.scenario.schema import WaterStorageSpec

if TYPE_CHECKING:
    import mesa

    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel

LEVEL_TOL_KWH = 1e-7


class WaterStorage(BusAgent):
    """A reservoir with pump and turbine (role ``reservoir``)."""

    roles = frozenset({"reservoir"})

    def __init__(self, model: VPPModel, spec: WaterStorageSpec, bus: int, owner: str) -> None:
        super().__init__(model)
        self.join(spec, bus, owner)
        self.level_kwh = spec.level0_kwh
        if spec.water_demand is not None:
            self.water_demand_kw = model.loaded.profile(spec.water_demand)
        else:
            self.water_demand_kw = np.full(model.n_steps, spec.water_demand_kw)
        self.pump_kw = self.turbine_kw = self.water_short_kwh = 0.0

    @classmethod
    def from_spec(cls, model: VPPModel, spec: WaterStorageSpec, vpp: VPP) -> list[mesa.Agent]:
        """The water-storage member ``spec`` of ``vpp``."""
        return [cls(model, spec, spec.bus if spec.bus is not None else vpp.bus, vpp.name)]

    def reservoir_data(self, day: int) -> ReservoirData:
        """The reservoir as the day-ahead problem of ``day`` sees it, from its present level."""
        s, m = self.spec, self.model
        sl = slice(day * m.steps_per_day, (day + 1) * m.steps_per_day)
        return ReservoirData(s.name, s.pump_max_kw, s.pump_min_kw, s.turbine_max_kw, s.eta_pump,
                             s.eta_turbine, s.level_min_kwh, s.level_max_kwh, self.level_kwh,
                             self.water_demand_kw[sl].copy(), s.pump_cost_cny_per_kwh,
                             s.turbine_cost_cny_per_kwh)

    def range_kw(self, t: int, dt_h: float, pumping: bool) -> tuple[float, float]:
        """Lowest and highest net output this step (turbine positive, pump negative).

        ``pumping`` (the day-ahead mode): the pump runs between ``pump_min`` and what the level
        allows; otherwise the turbine may run up to what the level allows. Either way, a pump
        is forced on when the water demand would empty the reservoir below its minimum.
        """
        s = self.spec
        after = self.level_kwh - self.water_demand_kw[t] * dt_h  # level with no pump/turbine
        need = max(s.level_min_kwh - after, 0.0) / (s.eta_pump * dt_h)  # pump power required
        pump_hi = min(s.pump_max_kw, max(s.level_max_kwh - after, 0.0) / (s.eta_pump * dt_h))
        if pumping or need > 0.0:
            lo_pump = min(max(need, s.pump_min_kw), s.pump_max_kw)
            pump_hi = max(pump_hi, lo_pump)
            return -pump_hi, -lo_pump
        tur_hi = min(s.turbine_max_kw, max(after - s.level_min_kwh, 0.0) * s.eta_turbine / dt_h)
        return 0.0, tur_hi

    def apply(self, pump_kw: float, turbine_kw: float, dt_h: float, t: int) -> None:
        """Apply a set-point for step ``t``: the water demand is always drawn."""
        s = self.spec
        if pump_kw > 1e-9 and turbine_kw > 1e-9:
            raise ValueError(f"{self.name}: pump and turbine at once")
        level = (self.level_kwh + s.eta_pump * pump_kw * dt_h - turbine_kw * dt_h / s.eta_turbine
                 - self.water_demand_kw[t] * dt_h)
        if level > s.level_max_kwh + LEVEL_TOL_KWH:
            raise ValueError(f"{self.name}: level {level:.6f} kWh above {s.level_max_kwh}")
        self.water_short_kwh = max(s.level_min_kwh - level, 0.0)
        if self.water_short_kwh > LEVEL_TOL_KWH and turbine_kw > 1e-9:
            raise ValueError(f"{self.name}: turbine empties the reservoir below its minimum")
        self.level_kwh = min(max(level, s.level_min_kwh), s.level_max_kwh)
        self.pump_kw, self.turbine_kw = max(pump_kw, 0.0), max(turbine_kw, 0.0)

    @property
    def p_kw(self) -> float:
        """Net output (turbine minus pump), kW."""
        return self.turbine_kw - self.pump_kw

    def report(self, t: int) -> dict[str, Any]:
        """Pump, turbine, water demand and level at the end of step ``t``."""
        s = self.spec
        return {"vpp": self.vpp_name, "bus": self.bus, "kind": "water_storage",
                "pump_kw": self.pump_kw, "turbine_kw": self.turbine_kw, "p_kw": self.p_kw,
                "water_demand_kw": float(self.water_demand_kw[t]), "level_kwh": self.level_kwh,
                "level_min_kwh": s.level_min_kwh, "level_max_kwh": s.level_max_kwh,
                "water_short_kwh": self.water_short_kwh,
                "cost_water_storage_cny": self.model.step_h * (
                    s.pump_cost_cny_per_kwh * self.pump_kw
                    + s.turbine_cost_cny_per_kwh * self.turbine_kw)}

    def injection_kw(self) -> tuple[float, float]:
        """Turbine minus pump, kW; no reactive power."""
        return self.p_kw, 0.0
