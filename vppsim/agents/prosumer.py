"""Prosumer agent: a load with optional rooftop PV and battery, each its own Mesa agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.agents.battery import Battery
from vppsim.agents.loads import Load
from vppsim.agents.renewables import PVPlant
from vppsim.scenario.schema import ProsumerSpec

if TYPE_CHECKING:
    import mesa

    from vppsim.agents.prosumer_fleet import ProsumerFleetDispatch
    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel


class Prosumer(Load):
    """A prosumer: its demand, plus the PV and Battery agents it owns.

    Inside a VPP the prosumer's PV and battery are scheduled with the VPP's other resources
    (the VPP's day-ahead LP); self-scheduling prosumers (paper 002) are :class:`FleetProsumer`.
    The prosumer plays role ``load``; its PV and battery are members of the VPP of their own.
    """

    report_kind = "prosumer"

    def __init__(
        self,
        model: VPPModel,
        name: str,
        bus: int,
        owner: str,
        forecast_kw: np.ndarray,
        power_factor: float,
        pv: PVPlant | None = None,
        battery: Battery | None = None,
    ) -> None:
        super().__init__(model, name, bus, owner, forecast_kw, power_factor)
        self.pv = pv
        self.battery = battery

    @classmethod
    def from_spec(cls, model: VPPModel, spec: ProsumerSpec, vpp: VPP) -> list[mesa.Agent]:
        """The prosumer ``spec`` of ``vpp`` and, if it has them, its PV and battery agents."""
        bus = spec.bus if spec.bus is not None else vpp.bus
        prof = model.loaded.profile
        pv = (PVPlant(model, f"{spec.name}-PV", spec.pv, bus, spec.name, prof(spec.pv.irradiance),
                      prof(spec.pv.temperature)) if spec.pv else None)
        bat = Battery(model, f"{spec.name}-BAT", spec.battery, bus, spec.name) if spec.battery else None
        prosumer = cls(model, spec.name, bus, vpp.name, prof(spec.profile), spec.power_factor,
                       pv=pv, battery=bat)
        return [a for a in (prosumer, pv, bat) if a is not None]


class FleetProsumer(BusAgent):
    """One self-scheduling prosumer of a VPP's prosumer fleet (paper 002).

    It has a load, rooftop PV (possibly none) and, when it has a battery, its own
    :class:`Battery` agent, which enforces the SoC physics. Its VPP's dispatch
    (:class:`vppsim.agents.prosumer_fleet.ProsumerFleetDispatch`) keeps the whole fleet as arrays
    (forecasts, prices, schedules) so that the optimizer runs for all prosumers at once, and
    dispatches the batteries every step; this agent reads its own entries of those arrays.
    """

    def __init__(self, model: VPPModel, name: str, bus: int, owner: ProsumerFleetDispatch,
                 index: int, power_factor: float, battery: Battery | None = None) -> None:
        super().__init__(model)
        self.name = name
        self.place(bus)
        self.owner = owner
        self.index = index
        self.power_factor = power_factor
        self.battery = battery

    def _now(self, field: str) -> float:
        return float(getattr(self.owner.now, field)[self.index])

    @property
    def gen_kw(self) -> float:
        """Realized PV generation this step, kW."""
        return self._now("gen_kw")

    @property
    def demand_kw(self) -> float:
        """Realized demand this step, kW."""
        return self._now("load_kw")

    @property
    def acquire_kw(self) -> float:
        """Power bought this step, kW."""
        return self._now("acquire_kw")

    @property
    def paid_kw(self) -> float:
        """Power sold (paid dispatch) this step, kW."""
        return self._now("paid_kw")

    @property
    def spill_kw(self) -> float:
        """Generation curtailed beyond the export limit this step, kW."""
        return self._now("spill_kw")

    @property
    def unmet_kw(self) -> float:
        """Demand not served this step (import limit reached), kW."""
        return self._now("unmet_kw")

    @property
    def p_kw(self) -> float:
        """Net injection at its bus this step (generation positive), kW: ``paid - acquire``."""
        return self.paid_kw - self.acquire_kw
