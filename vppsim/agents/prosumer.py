"""Prosumer agent: a load with optional rooftop PV and battery, each its own Mesa agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vppsim.agents.battery import Battery
from vppsim.agents.loads import Load
from vppsim.agents.renewables import PVPlant

if TYPE_CHECKING:
    from vppsim.model import VPPModel


class Prosumer(Load):
    """A prosumer: its demand, plus the PV and Battery agents it owns.

    Inside a VPP the prosumer's PV and battery are scheduled with the VPP's other resources
    (the VPP's day-ahead LP); self-scheduling against a price (paper 002) plugs in here.
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
