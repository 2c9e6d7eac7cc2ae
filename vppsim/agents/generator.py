"""Dispatchable generators: microturbines, fuel cells, diesel and hydro units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.scenario.schema import GeneratorSpec

if TYPE_CHECKING:
    import mesa

    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel

COST_SEGMENTS = 4


class DispatchableGenerator(BusAgent):
    """A unit with output limits, a ramp limit and the cost curve ``a + b*p + c*p**2`` (CNY/h).

    The day-ahead LP keeps every unit committed for the day (its no-load cost ``a`` is paid
    every hour) and uses the quadratic curve through ``COST_SEGMENTS`` secant segments, which
    is exact at the breakpoints; commitment decisions belong to the unit-commitment MILP.
    Role ``generator``.
    """

    roles = frozenset({"generator"})

    def __init__(self, model: VPPModel, spec: GeneratorSpec, bus: int, owner: str) -> None:
        super().__init__(model)
        self.join(spec, bus, owner)
        self.p_kw = spec.p_min_kw if spec.p0_kw is None else spec.p0_kw
        self.last_p_kw = self.p_kw

    def cost_cny_per_h(self, p_kw: float) -> float:
        """Hourly cost at output ``p_kw`` with the piecewise-linear curve the LP uses."""
        widths, slopes = self.cost_segments()
        used = np.clip(p_kw - np.concatenate([[0.0], np.cumsum(widths)[:-1]]), 0.0, widths)
        return float(self.spec.cost_a_cny_per_h + np.dot(slopes, used))

    def cost_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Widths (kW) and slopes (CNY/kWh) of the secant segments of the quadratic curve."""
        s = self.spec
        w = s.p_max_kw / COST_SEGMENTS
        k = np.arange(COST_SEGMENTS)
        slopes = s.cost_b_cny_per_kwh + s.cost_c_cny_per_kw2h * w * (2 * k + 1)
        return np.full(COST_SEGMENTS, w), slopes

    def limits_kw(self, dt_h: float) -> tuple[float, float]:
        """Output range reachable this step from the last output (limits and ramp)."""
        s = self.spec
        lo, hi = s.p_min_kw, s.p_max_kw
        if s.ramp_kw_per_h is not None:
            lo = max(lo, self.last_p_kw - s.ramp_kw_per_h * dt_h)
            hi = min(hi, self.last_p_kw + s.ramp_kw_per_h * dt_h)
        return lo, max(lo, hi)

    def set_output(self, p_kw: float) -> None:
        """Apply an output set-point for this step."""
        self.p_kw = p_kw
        self.last_p_kw = p_kw

    @classmethod
    def from_spec(cls, model: VPPModel, spec: GeneratorSpec, vpp: VPP) -> list[mesa.Agent]:
        """The generator member ``spec`` of ``vpp``."""
        return [cls(model, spec, spec.bus if spec.bus is not None else vpp.bus, vpp.name)]

    def report(self, t: int) -> dict[str, Any]:
        """Output and generation cost of step ``t``."""
        return {"vpp": self.vpp_name, "bus": self.bus, "kind": "generator", "p_kw": self.p_kw,
                "cost_generation_cny": self.cost_cny_per_h(self.p_kw) * self.model.step_h}

    def injection_kw(self) -> tuple[float, float]:
        """Output, kW; no reactive power."""
        return self.p_kw, 0.0
