"""Distribution-network agent: sets bus injections from the agents and runs the power flow."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from vppsim.grids import PowerFlow

if TYPE_CHECKING:
    from vppsim.model import VPPModel


class DistributionNetwork(mesa.Agent):
    """Holds the pandapower net; decides nothing; reports losses, voltages and loading.

    Every agent with a ``bus`` contributes its active power (generation positive, served
    demand negative, kW); loads also draw reactive power at their power factor. The prosumers
    of a prosumer-fleet VPP inject ``paid - acquire`` at their own buses (summed per bus from
    the fleet's arrays). kW become MW only inside :class:`vppsim.grids.PowerFlow`.
    """

    def __init__(self, model: VPPModel, power_flow: PowerFlow) -> None:
        super().__init__(model)
        self.power_flow = power_flow
        self.record: dict[str, Any] = {}
        self.injections_kw: dict[int, float] = {}

    def step_power_flow(self, t: int) -> None:
        """Collect injections, run the power flow for step ``t`` and record the result."""
        from vppsim.agents.loads import Load

        p_kw: dict[int, float] = defaultdict(float)
        q_kvar: dict[int, float] = defaultdict(float)
        for agent in self.model.physical_agents:
            if isinstance(agent, Load):
                p_kw[agent.bus] -= agent.served_kw
                q_kvar[agent.bus] -= agent.served_kw * agent.tan_phi
            else:
                p_kw[agent.bus] += agent.p_kw
        for fleet in self.model.prosumer_fleets:  # self-scheduling prosumers, as arrays
            buses, p, q = fleet.injections()
            at = np.unique(buses)
            p_at = np.bincount(buses, weights=p)[at]
            q_at = np.bincount(buses, weights=q)[at]
            for b, pb, qb in zip(at.tolist(), p_at.tolist(), q_at.tolist(), strict=True):
                p_kw[b] += pb
                q_kvar[b] += qb
        self.injections_kw = dict(p_kw)
        res = self.power_flow.solve(p_kw, q_kvar, background_factor=self.model.background_factor[t])
        self.record = res.to_record()
