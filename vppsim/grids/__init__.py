"""Feeder registry and AC power flow at the pandapower boundary (kW inside, MW here)."""

from vppsim.grids.powerflow import (
    BACKENDS,
    LightSim2GridBackend,
    PandapowerBackend,
    PowerFlow,
    PowerFlowBackend,
    PowerFlowResult,
)
from vppsim.grids.registry import (
    FEEDERS,
    FeederError,
    FeederInfo,
    bus_ids,
    feeder_names,
    load_feeder,
)
from vppsim.grids.topology import feeder_graph, slack_bus

__all__ = [
    "BACKENDS",
    "FEEDERS",
    "FeederError",
    "FeederInfo",
    "LightSim2GridBackend",
    "PandapowerBackend",
    "PowerFlow",
    "PowerFlowBackend",
    "PowerFlowResult",
    "bus_ids",
    "feeder_graph",
    "feeder_names",
    "load_feeder",
    "slack_bus",
]
