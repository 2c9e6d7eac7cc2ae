"""Group a feeder's DER buses into N connected regions by electrical proximity (shortest paths).

The feeder graph is :func:`vppsim.grids.topology.feeder_graph` (pandapower's
``create_nxgraph``: in-service lines, transformers and closed switches; open switches cut the
graph). Distance along it is the line length in km plus :data:`HOP_KM` per branch, so that
buses joined by a transformer or a bus-bus switch (length 0) are still distinct.

The partition is a k-medoids on these shortest-path distances among the DER buses: the
first seed is the DER bus with the smallest distance sum to all others (the 1-medoid), then
greedy farthest-point seeds (the DER bus farthest from the seeds so far), then medoid updates
until the seeds stop moving, then PAM swaps (a seed for a DER bus) while one lowers the sum of
the DER buses' distances to their nearest seed. Every bus of the graph reachable from a seed belongs to the
region of its nearest seed; a tie goes to the seed listed first. No randomness: ties between
candidate buses go to the lowest bus index.

**Connected** means: each region's buses induce a connected subgraph of the feeder graph,
and the regions are disjoint. This holds on any graph (radial or meshed) because every bus
``v`` of a region reaches its seed along a shortest path whose buses all have the same nearest
seed under the same tie rule (a bus ``u`` before ``v`` on that path nearer to, or tied with an
earlier, other seed would make that seed nearer to, or tied earlier for, ``v`` too). A
VPP's DERs therefore lie in its region together with the path buses between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

__all__ = ["HOP_KM", "FeederPartition", "VppCountError", "partition_buses", "shortest_path_km"]

#: distance added per branch (km): 1 m, so a transformer or a bus-bus switch separates buses
HOP_KM = 1.0e-3
#: medoid updates at most (they converge in a few on feeders; the cap only bounds the loop)
MAX_MEDOID_ROUNDS = 50
MM_PER_KM = 1.0e6


class VppCountError(ValueError):
    """A number of regions outside 1..(distinct DER buses)."""


@dataclass(frozen=True)
class FeederPartition:
    """N regions of a feeder: ``seeds[k]`` is region k's medoid DER bus.

    ``region_of`` maps every bus reachable from a seed to its region; ``distance_km`` maps it
    to the shortest-path distance to that region's seed (km, with :data:`HOP_KM` per branch).
    """

    seeds: tuple[int, ...]
    region_of: dict[int, int]
    distance_km: dict[int, float]

    def region_buses(self, k: int) -> list[int]:
        """The buses of region ``k``, sorted."""
        return sorted(b for b, r in self.region_of.items() if r == k)

    def is_connected(self, graph: nx.Graph) -> bool:
        """Whether every region induces a connected subgraph of ``graph``."""
        return all(nx.is_connected(graph.subgraph(self.region_buses(k)))
                   for k in range(len(self.seeds)))


def _branch_mm(u: int, v: int, edges: dict) -> int:
    """A branch's length in whole millimetres plus :data:`HOP_KM` (integers: ties are exact)."""
    km = min(float(e.get("weight", 0.0) or 0.0) for e in edges.values()) + HOP_KM
    return round(km * MM_PER_KM)


def shortest_path_km(graph: nx.MultiGraph, sources: Sequence[int]) -> dict[int, dict[int, float]]:
    """Shortest-path distances (km, line length plus :data:`HOP_KM` per branch) from ``sources``.

    Summed in whole millimetres, so equal paths give exactly equal distances (the tie rule).
    """
    return {s: {int(b): d / MM_PER_KM for b, d in
                nx.single_source_dijkstra_path_length(graph, s, weight=_branch_mm).items()}
            for s in sources}


def _nearest(dist: dict[int, dict[int, float]], seeds: Sequence[int], bus: int
             ) -> tuple[float, int]:
    """Distance to and position of ``bus``'s nearest seed (ties: the seed listed first)."""
    return min((dist[s].get(bus, np.inf), k) for k, s in enumerate(seeds))


def _initial_seeds(dist: dict[int, dict[int, float]], der_buses: list[int], n: int) -> list[int]:
    """The 1-medoid of the DER buses, then n-1 farthest-point seeds (ties: lowest bus)."""
    total = {b: sum(dist[b].get(o, np.inf) for o in der_buses) for b in der_buses}
    seeds = [min(der_buses, key=lambda b: (total[b], b))]
    while len(seeds) < n:
        rest = [b for b in der_buses if b not in seeds]
        seeds.append(max(rest, key=lambda b: (_nearest(dist, seeds, b)[0], -b)))
    return seeds


def _medoid_round(dist: dict[int, dict[int, float]], der_buses: list[int], seeds: list[int]
                  ) -> list[int]:
    """Each seed moved to the DER bus of its cluster with the smallest distance sum."""
    clusters: list[list[int]] = [[] for _ in seeds]
    for b in der_buses:
        clusters[_nearest(dist, seeds, b)[1]].append(b)
    return [min(c, key=lambda m: (sum(dist[m].get(o, np.inf) for o in c), m)) if c else s
            for c, s in zip(clusters, seeds, strict=True)]


def _cost(dist: dict[int, dict[int, float]], der_buses: list[int], seeds: list[int]) -> float:
    """Sum over the DER buses of the distance to the nearest seed, km."""
    return sum(_nearest(dist, seeds, b)[0] for b in der_buses)


def _best_swap(dist: dict[int, dict[int, float]], der_buses: list[int], seeds: list[int]
               ) -> list[int] | None:
    """The seeds after the one seed-for-DER-bus swap that lowers the cost most, or None.

    Ties between swaps go to the first seed position, then the lowest bus.
    """
    best, best_cost = None, _cost(dist, der_buses, seeds) - 1e-9
    for k in range(len(seeds)):
        for b in der_buses:
            if b in seeds:
                continue
            trial = seeds[:k] + [b] + seeds[k + 1:]
            c = _cost(dist, der_buses, trial)
            if c < best_cost:
                best, best_cost = trial, c
    return best


def partition_buses(graph: nx.MultiGraph, der_buses: Sequence[int], n: int) -> FeederPartition:
    """Partition the feeder into ``n`` connected regions around medoids of ``der_buses``.

    Raises :class:`VppCountError` unless ``1 <= n <= len(set(der_buses))``, ValueError when a
    DER bus is not in the graph or cannot be reached from the others (an isolated part).
    """
    buses = sorted({int(b) for b in der_buses})
    if not 1 <= n <= len(buses):
        raise VppCountError(f"expected 1 <= VPPs <= {len(buses)} (the buses with a DER), got {n}")
    missing = [b for b in buses if b not in graph]
    if missing:
        raise ValueError(f"DER buses {missing} are not in the feeder graph (out of service?)")
    dist = shortest_path_km(graph, buses)
    cut = [b for b in buses if b not in dist[buses[0]]]
    if cut:
        raise ValueError(f"DER buses {cut} cannot be reached from bus {buses[0]} "
                         "(open switches or out-of-service branches split the feeder)")
    seeds = _initial_seeds(dist, buses, n)
    for _ in range(MAX_MEDOID_ROUNDS):
        moved = _medoid_round(dist, buses, seeds)
        if moved == seeds or len(set(moved)) < n:
            break
        seeds = moved
    for _ in range(MAX_MEDOID_ROUNDS):
        swapped = _best_swap(dist, buses, seeds)
        if swapped is None:
            break
        seeds = swapped
    # every bus of the graph, not only the DER buses: the regions are the Voronoi cells
    region_of: dict[int, int] = {}
    distance_km: dict[int, float] = {}
    for bus in sorted(graph.nodes):
        d, k = _nearest(dist, seeds, int(bus))
        if np.isfinite(d):
            region_of[int(bus)] = k
            distance_km[int(bus)] = float(d)
    return FeederPartition(seeds=tuple(seeds), region_of=region_of, distance_km=distance_km)
