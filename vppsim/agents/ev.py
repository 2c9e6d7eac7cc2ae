"""An EV as a VPP member (paper 003): a battery that charges and discharges only when plugged in.

It must hold ``departure_kwh`` when it leaves and spends ``trip_kwh`` on the trip (taken in the
period it leaves, as the day-ahead MILP does, :mod:`vppsim.market.commitment`). In real time
its range keeps enough energy, with the charging still possible before departure, to leave
with ``departure_kwh``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.market.commitment import EvData
from vppsim.scenario.schema import EvSpec

if TYPE_CHECKING:
    import mesa

    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel

SOC_TOL_KWH = 1e-7


class EV(BusAgent):
    """An EV battery with a daily plug pattern (role ``ev``)."""

    roles = frozenset({"ev"})

    def __init__(self, model: VPPModel, spec: EvSpec, bus: int, owner: str) -> None:
        super().__init__(model)
        self.join(spec, bus, owner)
        self.soc_kwh = spec.soc0 * spec.capacity_kwh
        self.charge_kw = self.discharge_kw = 0.0
        self.trip_taken_kwh = 0.0
        self.trip_shortfall_kwh = 0.0
        self.plugged_now = self.plugged(0)

    @classmethod
    def from_spec(cls, model: VPPModel, spec: EvSpec, vpp: VPP) -> list[mesa.Agent]:
        """The EV member ``spec`` of ``vpp``."""
        return [cls(model, spec, spec.bus if spec.bus is not None else vpp.bus, vpp.name)]

    @property
    def soc_min_kwh(self) -> float:
        """Lowest allowed stored energy, kWh."""
        return self.spec.soc_min * self.spec.capacity_kwh

    @property
    def soc_max_kwh(self) -> float:
        """Highest allowed stored energy, kWh."""
        return self.spec.soc_max * self.spec.capacity_kwh

    def plugged(self, t: int) -> bool:
        """True if it is plugged in during step ``t`` (by the hour of day the step starts)."""
        hour = int(np.floor((t * self.model.step_h) % 24 + 1e-9))
        return hour in self.spec.plugged_hours

    def departs(self, t: int) -> bool:
        """True if it leaves at the start of step ``t``."""
        return self.plugged(t - 1) and not self.plugged(t)

    def ev_data(self, day: int) -> EvData:
        """The EV as the day-ahead problem of ``day`` sees it, from its present energy."""
        s, m = self.spec, self.model
        first = day * m.steps_per_day
        plug = np.array([self.plugged(first + k) for k in range(m.steps_per_day)], bool)
        return EvData(s.name, s.p_charge_max_kw, s.p_discharge_max_kw, s.eta_charge,
                      s.eta_discharge, self.soc_min_kwh, self.soc_max_kwh, self.soc_kwh, plug,
                      self.plugged(first - 1), s.departure_kwh, s.trip_kwh,
                      s.degradation_cost_cny_per_kwh)

    def _floor_kwh(self, t: int, dt_h: float) -> float:
        """Energy it must hold at the end of step ``t`` to still leave with ``departure_kwh``."""
        s = self.spec
        steps_day = self.model.steps_per_day
        for k in range(1, steps_day + 1):
            if not self.plugged(t + k):
                # k - 1 more plugged steps after this one can still charge
                return max(self.soc_min_kwh,
                           s.departure_kwh - (k - 1) * s.p_charge_max_kw * s.eta_charge * dt_h)
        return self.soc_min_kwh

    def range_kw(self, t: int, dt_h: float) -> tuple[float, float]:
        """Lowest and highest net output this step (discharge positive); (0, 0) unplugged."""
        if not self.plugged(t):
            return 0.0, 0.0
        s = self.spec
        lo = -min(s.p_charge_max_kw, max(self.soc_max_kwh - self.soc_kwh, 0.0)
                  / (s.eta_charge * dt_h))
        floor = self._floor_kwh(t, dt_h)
        if self.soc_kwh >= floor:
            hi = min(s.p_discharge_max_kw, (self.soc_kwh - floor) * s.eta_discharge / dt_h)
        else:  # it must charge to make its departure
            hi = -(floor - self.soc_kwh) / (s.eta_charge * dt_h)
        hi = max(lo, hi)
        return lo, hi

    def apply(self, charge_kw: float, discharge_kw: float, dt_h: float, t: int) -> None:
        """Apply a set-point for step ``t``; a departure at ``t`` takes the trip energy."""
        if (charge_kw > 1e-9 or discharge_kw > 1e-9) and not self.plugged(t):
            raise ValueError(f"{self.name}: set-point ({charge_kw}, {discharge_kw}) kW while "
                             "unplugged")
        if charge_kw > 1e-9 and discharge_kw > 1e-9:
            raise ValueError(f"{self.name}: charge and discharge at once")
        s = self.spec
        self.trip_taken_kwh = s.trip_kwh if self.departs(t) else 0.0
        soc = (self.soc_kwh + s.eta_charge * charge_kw * dt_h - discharge_kw * dt_h / s.eta_discharge
               - self.trip_taken_kwh)
        if soc > self.soc_max_kwh + SOC_TOL_KWH or (soc < self.soc_min_kwh - SOC_TOL_KWH
                                                    and self.trip_taken_kwh == 0.0):
            raise ValueError(f"{self.name}: energy {soc:.6f} kWh outside "
                             f"[{self.soc_min_kwh}, {self.soc_max_kwh}]")
        self.trip_shortfall_kwh = max(self.soc_min_kwh - soc, 0.0)
        self.soc_kwh = min(max(soc, self.soc_min_kwh), self.soc_max_kwh)
        self.charge_kw, self.discharge_kw = max(charge_kw, 0.0), max(discharge_kw, 0.0)
        self.plugged_now = self.plugged(t)

    @property
    def p_kw(self) -> float:
        """Net output (discharge positive), kW."""
        return self.discharge_kw - self.charge_kw

    def report(self, t: int) -> dict[str, Any]:
        """Plug state, set-points and stored energy at the end of step ``t``."""
        return {"vpp": self.vpp_name, "bus": self.bus, "kind": "ev",
                "plugged": bool(self.plugged(t)), "charge_kw": self.charge_kw,
                "discharge_kw": self.discharge_kw, "p_kw": self.p_kw, "soc_kwh": self.soc_kwh,
                "soc_min_kwh": self.soc_min_kwh, "soc_max_kwh": self.soc_max_kwh,
                "departs_next_step": bool(self.departs(t + 1)),
                "departure_kwh": self.spec.departure_kwh, "trip_kwh": self.trip_taken_kwh,
                "trip_shortfall_kwh": self.trip_shortfall_kwh,
                "cost_degradation_cny": self.spec.degradation_cost_cny_per_kwh
                * (self.charge_kw + self.discharge_kw) * self.model.step_h}

    def injection_kw(self) -> tuple[float, float]:
        """Discharge minus charge, kW; no reactive power."""
        return self.p_kw, 0.0
