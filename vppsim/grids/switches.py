"""A switch-free, continuously numbered copy of a feeder, for solvers that need one.

lightsim2grid converts nets whose buses are numbered ``0..n-1`` and that have no switches;
SimBench's ``-sw`` nets have switches (and LV nets numbers like bus 42). :func:`switch_free`
builds an electrically equivalent copy the way ``pandapower.runpp`` sees the net:

- a closed line or transformer switch is a no-op: dropped;
- an open line or transformer switch disconnects that end of the branch, which stays energised
  from its other end (line charging, magnetising current). As pandapower does internally
  (``build_branch._switch_branches``), that end moves to a new auxiliary bus of the same
  voltage level; a branch open at both ends is taken out of service (pandapower's auxiliary
  buses would be isolated);
- a closed bus-bus switch fuses its two buses (``pandapower.toolbox.fuse_buses``: elements of
  the second move to the first), an open one is dropped;
- limit columns SimBench holds as objects (``min_p_mw``...) are cast to float;
- buses are renumbered ``0..n-1`` (``pandapower.toolbox.create_continuous_bus_index``).

Element tables keep their rows and order, so set-points written by position still reach the
same element. The map returned gives, for each bus of the original net (in its order), its
position in the copy's buses, so voltages come back under the original bus numbers.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

__all__ = ["needs_conversion", "switch_free"]

#: switch element type -> (element table, its bus columns in switch ``side`` order)
_BRANCHES = {"l": ("line", ("from_bus", "to_bus")), "t": ("trafo", ("hv_bus", "lv_bus"))}


def needs_conversion(net: pandapowerNet) -> bool:
    """Whether ``net`` has switches or buses not numbered ``0..n-1``."""
    return bool(len(net.switch)) or not np.array_equal(net.bus.index.to_numpy(),
                                                       np.arange(len(net.bus)))


def _numeric_limits(net: pandapowerNet) -> None:
    """Cast the injection tables' limit columns held as objects (SimBench's) to float."""
    for table in ("load", "sgen", "gen", "storage", "ext_grid"):
        frame = net[table] if table in net else None
        if frame is None:
            continue
        for col in frame.columns:
            if (col.startswith(("min_", "max_")) or col == "slack_weight") and \
                    frame[col].dtype == object:
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)


def _open_branch_ends(net: pandapowerNet) -> None:
    """Move each open branch end to an auxiliary bus; drop the line/trafo switches."""
    import pandapower as pp  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import

    sw = net.switch
    for et, (table, sides) in _BRANCHES.items():
        opened = sw[(sw["et"] == et) & ~sw["closed"].astype(bool)]
        for element, group in opened.groupby("element"):
            row = net[table].loc[int(element)]
            ends = [col for col in sides if int(row[col]) in set(group["bus"].astype(int))]
            if len(ends) == len(sides):
                net[table].loc[int(element), "in_service"] = False
                continue
            for col in ends:
                bus = int(row[col])
                aux = pp.create_bus(net, vn_kv=float(net.bus.at[bus, "vn_kv"]),
                                    name=f"aux_{table}_{int(element)}_{col}")
                net[table].loc[int(element), col] = aux
    other = sw[~sw["et"].isin(list(_BRANCHES) + ["b"])]
    if len(other):
        raise ValueError(f"switches of element type {sorted(set(other['et']))} are not supported")
    net.switch.drop(sw.index[sw["et"] != "b"], inplace=True)


def _fuse_bus_switches(net: pandapowerNet) -> dict[int, int]:
    """Fuse the buses of closed bus-bus switches; return fused-away bus -> the bus kept."""
    import pandapower.toolbox as tb  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import

    rep: dict[int, int] = {}

    def find(b: int) -> int:
        while b in rep:
            b = rep[b]
        return b

    closed = net.switch[(net.switch["et"] == "b") & net.switch["closed"].astype(bool)]
    pairs = list(zip(closed["bus"].astype(int), closed["element"].astype(int), strict=True))
    net.switch.drop(net.switch.index, inplace=True)
    for a, b in pairs:
        keep, gone = find(a), find(b)
        if keep != gone:
            tb.fuse_buses(net, keep, gone)
            rep[gone] = keep
    return {b: find(b) for b in rep}


def switch_free(net: pandapowerNet) -> tuple[pandapowerNet, np.ndarray]:
    """An equivalent copy of ``net`` without switches, buses ``0..n-1``; and the bus map.

    Returns the copy and, for each bus of ``net`` (in ``net.bus`` order), the position of the
    bus it became in the copy. ``net`` is not modified.

    Raises
    ------
    ValueError
        Switches on elements other than lines, transformers and buses, or buses that the
        switches leave without supply (pandapower would report them as out of service).
    """
    import pandapower.toolbox as tb  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import
    from pandapower.topology import unsupplied_buses  # noqa: PLC0415

    out = copy.deepcopy(net)
    _numeric_limits(out)
    _open_branch_ends(out)
    fused = _fuse_bus_switches(out)
    lost = sorted(int(b) for b in unsupplied_buses(out) if out.bus.at[b, "in_service"])
    if lost:
        raise ValueError(f"buses {lost[:10]} are not supplied once the switches are applied")
    lookup = tb.create_continuous_bus_index(out)
    positions = np.array([lookup[fused.get(int(b), int(b))] for b in net.bus.index], dtype=int)
    return out, positions
