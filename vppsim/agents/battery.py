"""Battery agent: state of charge physics; its owner (a VPP, prosumer or the VPO) dispatches it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.scenario.schema import BatteryParams, BatterySpec

if TYPE_CHECKING:
    import mesa

    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel

SOC_TOL_KWH = 1e-7


# The battery physics as functions of arrays (or floats): the agent's methods and the Monte
# Carlo array path (vppsim.montecarlo.arrays) both call these, so the formulas live here only.
def max_charge_kw(soc_kwh: Any, soc_max_kwh: Any, p_max_kw: Any, eta_charge: Any,
                  dt_h: float) -> Any:
    """Largest charge power this step without exceeding ``soc_max`` or ``p_max``, kW."""
    return np.minimum(p_max_kw, np.maximum(0.0, soc_max_kwh - soc_kwh) / (eta_charge * dt_h))


def max_discharge_kw(soc_kwh: Any, soc_min_kwh: Any, p_max_kw: Any, eta_discharge: Any,
                     dt_h: float) -> Any:
    """Largest discharge power this step without going below ``soc_min`` or above ``p_max``, kW."""
    return np.minimum(p_max_kw, np.maximum(0.0, soc_kwh - soc_min_kwh) * eta_discharge / dt_h)


def soc_after_kwh(soc_kwh: Any, charge_kw: Any, discharge_kw: Any, eta_charge: Any,
                  eta_discharge: Any, dt_h: float) -> Any:
    """Stored energy after one step (paper 004 eq. 2), before the bounds are checked, kWh."""
    return soc_kwh + eta_charge * charge_kw * dt_h - discharge_kw * dt_h / eta_discharge


class Battery(BusAgent):
    """A battery with ``soc[t] = soc[t-1] + eta_c*ch*dt - dis*dt/eta_d`` (paper 004 eq. 2).

    SoC is kept within ``[soc_min, soc_max] * capacity`` and charge and discharge are never
    both positive in an applied set-point. Role ``storage``.
    """

    roles = frozenset({"storage"})

    def __init__(
        self,
        model: VPPModel,
        name: str,
        params: BatteryParams,
        bus: int,
        owner: str,
    ) -> None:
        super().__init__(model)
        self.name = name
        self.params = params
        self.place(bus)
        self.owner = owner
        self.vpp_name: str | None = None
        self.soc_kwh = params.soc0 * params.capacity_kwh
        self.charge_kw = 0.0
        self.discharge_kw = 0.0

    @property
    def capacity_kwh(self) -> float:
        """Energy capacity, kWh."""
        return self.params.capacity_kwh

    @property
    def soc_pu(self) -> float:
        """State of charge as a fraction of capacity."""
        return self.soc_kwh / self.params.capacity_kwh

    @property
    def soc_min_kwh(self) -> float:
        """Lowest allowed stored energy, kWh."""
        return self.params.soc_min * self.params.capacity_kwh

    @property
    def soc_max_kwh(self) -> float:
        """Highest allowed stored energy, kWh."""
        return self.params.soc_max * self.params.capacity_kwh

    def max_charge_kw(self, dt_h: float) -> float:
        """Largest charge power this step without exceeding ``soc_max`` or ``p_max``."""
        p = self.params
        return float(max_charge_kw(self.soc_kwh, self.soc_max_kwh, p.p_max_kw, p.eta_charge, dt_h))

    def max_discharge_kw(self, dt_h: float) -> float:
        """Largest discharge power this step without going below ``soc_min`` or above ``p_max``."""
        p = self.params
        return float(max_discharge_kw(self.soc_kwh, self.soc_min_kwh, p.p_max_kw, p.eta_discharge,
                                      dt_h))

    def apply(self, charge_kw: float, discharge_kw: float, dt_h: float) -> None:
        """Apply a set-point for one step, updating SoC; rejects physically impossible ones."""
        if charge_kw > 1e-9 and discharge_kw > 1e-9:
            raise ValueError(f"{self.name}: charge and discharge at once ({charge_kw}, {discharge_kw})")
        if charge_kw < -1e-9 or discharge_kw < -1e-9:
            raise ValueError(f"{self.name}: negative set-point ({charge_kw}, {discharge_kw})")
        p = self.params
        if max(charge_kw, discharge_kw) > p.p_max_kw + 1e-7:
            raise ValueError(f"{self.name}: set-point above p_max_kw={p.p_max_kw}")
        soc = float(soc_after_kwh(self.soc_kwh, charge_kw, discharge_kw, p.eta_charge,
                                  p.eta_discharge, dt_h))
        if soc < self.soc_min_kwh - SOC_TOL_KWH or soc > self.soc_max_kwh + SOC_TOL_KWH:
            raise ValueError(
                f"{self.name}: SoC {soc:.6f} kWh outside [{self.soc_min_kwh}, {self.soc_max_kwh}]"
            )
        self.soc_kwh = min(max(soc, self.soc_min_kwh), self.soc_max_kwh)
        self.charge_kw = max(charge_kw, 0.0)
        self.discharge_kw = max(discharge_kw, 0.0)

    @property
    def p_kw(self) -> float:
        """Net output of the last applied set-point (discharge positive), kW."""
        return self.discharge_kw - self.charge_kw

    @classmethod
    def from_spec(cls, model: VPPModel, spec: BatterySpec, vpp: VPP) -> list[mesa.Agent]:
        """The battery member ``spec`` of ``vpp`` (at its own bus or the VPP's)."""
        return [cls(model, spec.name, spec, spec.bus if spec.bus is not None else vpp.bus, vpp.name)]

    def report(self, t: int) -> dict[str, Any]:
        """Set-points and state of charge at the end of step ``t``."""
        p = self.params
        return {"vpp": self.vpp_name, "bus": self.bus, "kind": "battery",
                "charge_kw": self.charge_kw, "discharge_kw": self.discharge_kw, "p_kw": self.p_kw,
                "soc_kwh": self.soc_kwh, "soc_pu": self.soc_pu, "soc_min_pu": p.soc_min,
                "soc_max_pu": p.soc_max}

    def injection_kw(self) -> tuple[float, float]:
        """Discharge minus charge, kW; no reactive power."""
        return self.p_kw, 0.0
