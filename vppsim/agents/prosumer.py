"""Prosumer agent: a load with optional rooftop PV and battery, each its own Mesa agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from vppsim.agents.battery import Battery
from vppsim.agents.loads import Load
from vppsim.agents.renewables import PVPlant

if TYPE_CHECKING:
    from vppsim.agents.prosumer_fleet import ProsumerFleetVPP
    from vppsim.model import VPPModel


class Prosumer(Load):
    """A prosumer: its demand, plus the PV and Battery agents it owns.

    Inside a VPP the prosumer's PV and battery are scheduled with the VPP's other resources
    (the VPP's day-ahead LP); self-scheduling prosumers (paper 002) are :class:`FleetProsumer`.
    """

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


class FleetProsumer(mesa.Agent):
    """One self-scheduling prosumer of a VPP's prosumer fleet (paper 002).

    It has a load, rooftop PV (possibly none) and, when it has a battery, its own
    :class:`Battery` agent, which enforces the SoC physics. Its VPP
    (:class:`vppsim.agents.prosumer_fleet.ProsumerFleetVPP`) keeps the whole fleet as arrays
    (forecasts, prices, schedules) so that the optimizer runs for all prosumers at once, and
    dispatches the batteries every step; this agent reads its own entries of those arrays.
    """

    def __init__(self, model: VPPModel, name: str, bus: int, owner: ProsumerFleetVPP, index: int,
                 power_factor: float, battery: Battery | None = None) -> None:
        super().__init__(model)
        self.name = name
        self.bus = bus
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
