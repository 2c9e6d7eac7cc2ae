"""Distribution-network agent: sets bus injections from the agents and runs the power flow."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.grids import PowerFlow
from vppsim.grids.light import TablePowerFlow

if TYPE_CHECKING:
    from vppsim.model import VPPModel


class DistributionNetwork(BusAgent):
    """Holds the pandapower net; decides nothing; reports losses, voltages and loading.

    Every member agent contributes what it injects at its bus (``injection_kw``: generation
    positive, served demand negative, kW; loads also draw reactive power at their power
    factor). The prosumers of a self-scheduling VPP inject ``paid - acquire`` at their own
    buses (summed per bus from the fleet's arrays). kW become MW only inside
    :class:`vppsim.grids.PowerFlow`. The agent sits at the feeder's slack bus.

    With SimBench profiles the feeder's own loads and sgens that no member took over follow
    their profiles: their net injection per bus (``model.background_kw``) is added to the
    members' before the solve (``injections_kw`` and the ``bus_injections`` table keep the
    members' only; ``background_p_kw`` in the record is the background's net injection).
    """

    def __init__(self, model: VPPModel, power_flow: PowerFlow | TablePowerFlow) -> None:
        super().__init__(model)
        self.name = "network"
        self.power_flow = power_flow
        self.place(power_flow.slack_bus)
        self.record: dict[str, Any] = {}
        self.injections_kw: dict[int, float] = {}
        #: this step's voltage magnitude per bus (NaN where the power flow did not converge)
        self.vm_pu_by_bus: dict[int, float] = {}

    def step_power_flow(self, t: int) -> None:
        """Collect injections, run the power flow for step ``t`` and record the result."""
        p_kw: dict[int, float] = defaultdict(float)
        q_kvar: dict[int, float] = defaultdict(float)
        for agent in self.model.grid_members():
            p, q = agent.injection_kw()
            p_kw[agent.bus] += p
            q_kvar[agent.bus] += q
        for vpp in self.model.vpps:  # self-scheduling prosumers, as arrays
            arrays = vpp.dispatch.injections()
            if arrays is None:
                continue
            buses, p, q = arrays
            at = np.unique(buses)
            p_at = np.bincount(buses, weights=p)[at]
            q_at = np.bincount(buses, weights=q)[at]
            for b, pb, qb in zip(at.tolist(), p_at.tolist(), q_at.tolist(), strict=True):
                p_kw[b] += pb
                q_kvar[b] += qb
        self.injections_kw = dict(p_kw)
        background: dict[str, float] = {}
        if self.model.background_kw is not None:  # SimBench: the feeder's own elements
            p_bg, q_bg = self.model.background_kw
            for k, b in enumerate(self.power_flow.bus_ids):
                p_kw[b] += float(p_bg[t, k])
                q_kvar[b] += float(q_bg[t, k])
            background["background_p_kw"] = float(p_bg[t].sum())
        res = self.power_flow.solve(p_kw, q_kvar, background_factor=self.model.background_factor[t])
        self.record = {**res.to_record(), **background}
        self.vm_pu_by_bus = res.vm_pu_by_bus

    def report(self, t: int) -> dict[str, Any]:
        """Losses, voltages, loading and convergence of step ``t``'s power flow."""
        return {"kind": "network", **self.record}
