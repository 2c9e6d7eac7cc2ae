"""Committed diesel and hydro units (paper 003): on/off state, min up/down times, start-up costs.

The VPP's day-ahead MILP decides the unit's commitment (:mod:`vppsim.market.commitment`); in
real time the unit keeps the committed on/off state and its output moves within
``[p_min, p_max]`` and its ramp limits (0 when off).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vppsim.agents.base import BusAgent
from vppsim.market.commitment import UnitData
from vppsim.scenario.schema import UnitSpec

if TYPE_CHECKING:
    import mesa

    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel


class CommittedUnit(BusAgent):
    """A diesel or hydro unit with a commitment (role ``unit``)."""

    roles = frozenset({"unit"})

    def __init__(self, model: VPPModel, spec: UnitSpec, bus: int, owner: str) -> None:
        super().__init__(model)
        self.join(spec, bus, owner)
        self.on = spec.initially_on
        self.hours_in_state = float(spec.initial_hours_in_state)
        self.p_kw = (spec.p_min_kw if spec.p0_kw is None else spec.p0_kw) if self.on else 0.0
        self.last_p_kw = self.p_kw
        self.started = self.stopped = False

    @classmethod
    def from_spec(cls, model: VPPModel, spec: UnitSpec, vpp: VPP) -> list[mesa.Agent]:
        """The unit member ``spec`` of ``vpp``."""
        return [cls(model, spec, spec.bus if spec.bus is not None else vpp.bus, vpp.name)]

    @property
    def energy_cost_cny_per_kwh(self) -> float:
        """Marginal (fuel or water) plus maintenance cost, CNY/kWh."""
        return self.spec.marginal_cost_cny_per_kwh + self.spec.maintenance_cost_cny_per_kwh

    def unit_data(self) -> UnitData:
        """The unit as the day-ahead MILP sees it, from its present state."""
        s = self.spec
        return UnitData(s.name, s.p_min_kw, s.p_max_kw, s.ramp_kw_per_h, s.min_up_h,
                        s.min_down_h, s.startup_cost_cny, s.shutdown_cost_cny,
                        s.no_load_cost_cny_per_h, self.energy_cost_cny_per_kwh, self.on,
                        self.hours_in_state, self.last_p_kw)

    def limits_kw(self, dt_h: float, on: bool, off_next: bool) -> tuple[float, float]:
        """Output range this step for the committed state ``on`` (ramps as in the MILP).

        Starting up or shutting down next step, the output is at most ``max(p_min, R dt)``.
        """
        s = self.spec
        if not on:
            return 0.0, 0.0
        lo, hi = s.p_min_kw, s.p_max_kw
        if s.ramp_kw_per_h is not None:
            r = s.ramp_kw_per_h * dt_h
            su = max(s.p_min_kw, r)
            if self.on:
                lo, hi = max(lo, self.last_p_kw - r), min(hi, self.last_p_kw + r)
            else:
                hi = min(hi, su)
            if off_next:
                hi = min(hi, su)
        return min(lo, hi), hi

    def set_output(self, p_kw: float, on: bool, dt_h: float) -> None:
        """Apply the committed state and an output set-point for one step."""
        self.started = on and not self.on
        self.stopped = self.on and not on
        self.hours_in_state = dt_h if on != self.on else self.hours_in_state + dt_h
        self.on = on
        self.p_kw = p_kw if on else 0.0
        self.last_p_kw = self.p_kw

    def cost_cny(self, dt_h: float) -> float:
        """Cost of this step: no-load, fuel and maintenance, start-up and shut-down, CNY."""
        s = self.spec
        return (dt_h * (s.no_load_cost_cny_per_h * self.on + self.energy_cost_cny_per_kwh * self.p_kw)
                + s.startup_cost_cny * self.started + s.shutdown_cost_cny * self.stopped)

    def report(self, t: int) -> dict[str, Any]:
        """State, output and cost of step ``t``."""
        return {"vpp": self.vpp_name, "bus": self.bus, "kind": "unit",
                "technology": self.spec.technology, "on": bool(self.on), "p_kw": self.p_kw,
                "p_min_kw": self.spec.p_min_kw, "p_max_kw": self.spec.p_max_kw,
                "started": bool(self.started), "stopped": bool(self.stopped),
                "cost_generation_cny": self.cost_cny(self.model.step_h)}

    def injection_kw(self) -> tuple[float, float]:
        """Output, kW; no reactive power."""
        return self.p_kw, 0.0
