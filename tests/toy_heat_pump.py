"""A member kind written outside vppsim: a heat pump whose electric load shifts within a band.

The pump follows a baseline electric demand (a profile column) and may draw up to ``shift_kw``
more (heating the house ahead) or less (coasting on its thermal buffer) than the baseline; the
buffer holds ``buffer_kwh`` of electric-equivalent energy and must be back at its starting
level by the end of the day (the VPP's ``end_soc_at_least_initial``). To its VPP it is a
``load`` (the baseline, with forecast error) and a ``storage`` (the shift), so the VPP's LP and
real-time allocator schedule the shift with its other flexibility. ``shift_kw`` should stay
below the smallest baseline (the pump cannot feed power back).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from vppsim.agents.loads import Load
from vppsim.agents.registry import MemberKind
from vppsim.scenario.schema import BatteryParams, MemberSpec


class HeatPumpSpec(MemberSpec):
    """``kind: heat_pump`` in a scenario file."""

    kind: Literal["heat_pump"] = "heat_pump"
    profile: str = Field(description="profile column: baseline electric demand, kW")
    shift_kw: float = Field(gt=0, description="largest deviation from the baseline, kW")
    buffer_kwh: float = Field(gt=0, description="thermal buffer, electric-equivalent kWh")
    power_factor: float = Field(default=0.95, gt=0, le=1)

    def profile_columns(self) -> list[tuple[str, str, bool]]:
        return [("profile", self.profile, False)]


class HeatPump(Load):
    """Roles ``load`` and ``storage``; it reports its own row and its own injection."""

    roles = frozenset({"load", "storage"})
    report_kind = "heat_pump"

    def __init__(self, model: Any, spec: HeatPumpSpec, bus: int, owner: str) -> None:
        super().__init__(model, spec.name, bus, owner, model.loaded.profile(spec.profile),
                         spec.power_factor)
        self.params = BatteryParams(capacity_kwh=spec.buffer_kwh, soc0=0.5, soc_min=0.0,
                                    soc_max=1.0, p_max_kw=spec.shift_kw, eta_charge=1.0,
                                    eta_discharge=1.0)
        self.soc_kwh = 0.5 * spec.buffer_kwh
        self.charge_kw = self.discharge_kw = 0.0  # extra draw / reduced draw this step

    @classmethod
    def from_spec(cls, model: Any, spec: HeatPumpSpec, vpp: Any) -> list[Any]:
        return [cls(model, spec, spec.bus if spec.bus is not None else vpp.bus, vpp.name)]

    def max_charge_kw(self, dt_h: float) -> float:
        return min(self.params.p_max_kw, (self.params.capacity_kwh - self.soc_kwh) / dt_h)

    def max_discharge_kw(self, dt_h: float) -> float:
        return min(self.params.p_max_kw, self.soc_kwh / dt_h)

    def apply(self, charge_kw: float, discharge_kw: float, dt_h: float) -> None:
        if charge_kw > self.max_charge_kw(dt_h) + 1e-7 or discharge_kw > self.max_discharge_kw(dt_h) + 1e-7:
            raise ValueError(f"{self.name}: shift ({charge_kw}, {discharge_kw}) kW outside the band")
        self.soc_kwh = min(max(self.soc_kwh + (charge_kw - discharge_kw) * dt_h, 0.0),
                           self.params.capacity_kwh)
        self.charge_kw, self.discharge_kw = charge_kw, discharge_kw

    @property
    def draw_kw(self) -> float:
        """Electric power drawn this step: the served baseline plus the shift."""
        return self.served_kw + self.charge_kw - self.discharge_kw

    def report(self, t: int) -> dict[str, Any]:
        return {**super().report(t), "shift_kw": self.charge_kw - self.discharge_kw,
                "buffer_kwh": self.soc_kwh, "p_kw": -self.draw_kw}

    def injection_kw(self) -> tuple[float, float]:
        return -self.draw_kw, -self.draw_kw * self.tan_phi


HEAT_PUMP = MemberKind("heat_pump", HeatPumpSpec, HeatPump)
