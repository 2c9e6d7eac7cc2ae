"""The feeder as a graph: buses are nodes, in-service lines, transformers and closed switches edges.

Built by pandapower's own topology module (:func:`pandapower.topology.create_nxgraph`) and
used as the model's Mesa network space (one cell per bus), so neighbourhoods, feeder paths and
distances between agents are graph queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet


def feeder_graph(net: pandapowerNet) -> nx.MultiGraph:
    """The feeder's topology with the pandapower bus indices (Python ints) as nodes.

    Out-of-service branches and open switches are left out (``respect_switches``); parallel
    branches stay parallel edges. Edge attribute ``weight``: line length in km (0 for
    transformers and switches), as pandapower sets it.
    """
    import pandapower.topology as pp_topology  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import

    graph = pp_topology.create_nxgraph(net, respect_switches=True, include_out_of_service=False)
    return nx.relabel_nodes(graph, int, copy=True)


def slack_bus(net: pandapowerNet) -> int:
    """The bus of the feeder's first in-service external grid (where the VPO meets the grid)."""
    grids = net.ext_grid[net.ext_grid["in_service"]]
    if grids.empty:
        raise ValueError("the feeder has no in-service external grid (slack bus)")
    return int(grids["bus"].iloc[0])
