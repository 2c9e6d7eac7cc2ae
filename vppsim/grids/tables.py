"""Built-in feeders as plain tables: buses, lines, loads and the external grid, without pandapower.

The IEEE 33-bus (and 12-bus) feeders are shipped as ``grids/<name>.tables.json``, the columns
of pandapower's own tables that a power flow reads (written by ``grids/make_feeder_tables.py``;
``tests/test_feeder_tables.py`` holds them equal to the nets of
:func:`vppsim.grids.registry.load_feeder`, value for value). A default run builds from them
what it needs of the feeder: its buses for the scenario check, its graph for the Mesa network
space, and the lightsim2grid ``LSGrid`` of :class:`vppsim.grids.light.TablePowerFlow`, built
the way ``lightsim2grid.network.init_from_pandapower(net, pp_orig_file="pandapower_v2")``
converts such a net, so pandapower is not imported at all (about 3 s). Feeders without a tables
file (SimBench, CIGRE, the IEEE 24-bus system, files) keep their pandapower path.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from lightsim2grid.algorithm import AlgorithmType
from lightsim2grid.lightsim2grid_cpp import LSGrid, PandaPowerConverter

from vppsim.paths import data_dir

__all__ = ["TABLE_COLUMNS", "FeederTables", "feeder_tables", "tables_file", "tables_of_net"]

#: the columns kept of each pandapower table (plus its index)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bus": ("vn_kv", "in_service"),
    "line": ("from_bus", "to_bus", "length_km", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km",
             "g_us_per_km", "max_i_ka", "df", "parallel", "in_service"),
    "load": ("bus", "p_mw", "q_mvar", "scaling", "in_service"),
    "ext_grid": ("bus", "vm_pu", "va_degree", "slack_weight", "in_service"),
}
#: load columns that must be 0 (constant-power loads only: lightsim2grid has no ZIP model)
_ZIP_COLUMNS = ("const_z_p_percent", "const_z_q_percent", "const_i_p_percent",
                "const_i_q_percent")
#: tables that do not enter a power flow (costs of an OPF, controllers, metadata)
_IGNORED = ("poly_cost", "pwl_cost", "characteristic", "controller", "group", "measurement")
#: lightsim2grid's stand-ins for missing limits of sgens and the slack generator
_NO_LIMIT = 99999.0


def tables_file(name: str, folder: Path | None = None) -> Path:
    """The tables file of built-in feeder ``name`` (in ``folder``, default the shipped grids)."""
    return (folder if folder is not None else data_dir("grids")) / f"{name}.tables.json"


def tables_of_net(net: Any, name: str) -> dict[str, Any]:
    """A pandapower net as the JSON document of a tables file.

    Raises ``ValueError`` for a net with other elements than buses, lines, constant-power
    loads and one external grid, or with parallel lines or bus indices other than ``0..n-1``.
    """
    for key, table in net.items():
        if (key.startswith(("res_", "_")) or key in TABLE_COLUMNS or key in _IGNORED
                or not hasattr(table, "shape")):
            continue
        if len(table):
            raise ValueError(f"feeder {name!r} has {key} elements; tables hold none")
    if not np.array_equal(net.bus.index.to_numpy(), np.arange(len(net.bus))):
        raise ValueError(f"feeder {name!r}: expected bus indices 0..n-1")
    if (net.line["parallel"].to_numpy() != 1).any() or len(net.ext_grid) != 1:
        raise ValueError(f"feeder {name!r}: expected single lines and one ext_grid")
    if any((net.load[c].to_numpy() != 0).any() for c in _ZIP_COLUMNS if c in net.load):
        raise ValueError(f"feeder {name!r}: expected constant-power loads")
    tables = {}
    for key, columns in TABLE_COLUMNS.items():
        table = net[key]
        tables[key] = {"index": [int(i) for i in table.index],
                       **{c: table[c].to_numpy().tolist() for c in columns}}
    return {"name": name, "sn_mva": float(net.sn_mva), "f_hz": float(net.f_hz), "tables": tables}


@dataclass(frozen=True, eq=False)
class FeederTables:
    """One feeder's tables (pandapower's columns as read-only numpy arrays, in table order)."""

    name: str
    sn_mva: float
    f_hz: float
    tables: dict[str, dict[str, np.ndarray]]

    @classmethod
    def read(cls, path: Path) -> FeederTables:
        """Read a tables file (JSON floats round-trip exactly)."""
        doc = json.loads(path.read_text(encoding="utf-8"))
        tables = {}
        for key, columns in doc["tables"].items():
            arrays = {c: np.asarray(v) for c, v in columns.items()}
            for a in arrays.values():
                a.flags.writeable = False
            tables[key] = arrays
        return cls(doc["name"], float(doc["sn_mva"]), float(doc["f_hz"]), tables)

    def column(self, table: str, column: str) -> np.ndarray:
        """One column (read-only)."""
        return self.tables[table][column]

    @property
    def bus_ids(self) -> list[int]:
        """The bus indices, as plain ints."""
        return [int(b) for b in self.tables["bus"]["index"]]

    @property
    def slack_bus(self) -> int:
        """The external grid's bus (as :func:`vppsim.grids.topology.slack_bus`)."""
        ext = self.tables["ext_grid"]
        live = np.flatnonzero(ext["in_service"])
        if live.size == 0:
            raise ValueError("the feeder has no in-service external grid (slack bus)")
        return int(ext["bus"][live[0]])

    def graph(self) -> nx.MultiGraph:
        """The feeder's graph as :func:`vppsim.grids.topology.feeder_graph` builds it.

        Buses in service are nodes (Python ints), in-service lines edges keyed ``("line", i)``
        with ``weight`` (length, km) and ``path`` 1, as pandapower's ``create_nxgraph`` sets them.
        """
        bus, line = self.tables["bus"], self.tables["line"]
        graph = nx.MultiGraph()
        live_bus = {int(b) for b, s in zip(bus["index"], bus["in_service"], strict=True) if s}
        graph.add_nodes_from(int(b) for b in bus["index"] if int(b) in live_bus)
        for i, f, t, km, s in zip(line["index"], line["from_bus"], line["to_bus"],
                                  line["length_km"], line["in_service"], strict=True):
            if s and int(f) in live_bus and int(t) in live_bus:
                graph.add_edge(int(f), int(t), key=("line", np.int64(i)), weight=np.float64(km),
                               path=1)
        return graph

    def lsgrid(self, sgen_buses: list[int]) -> LSGrid:
        """The ``LSGrid`` of this feeder with one sgen (0 MW, 0 Mvar) at each of ``sgen_buses``.

        The steps and arithmetic of ``init_from_pandapower(net, pp_orig_file="pandapower_v2")``
        for a net of buses, lines, loads, sgens without limits and one ext_grid (no generator),
        so that both solve to the same bits (``tests/test_feeder_tables.py``).
        """
        bus, line, load, ext = (self.tables[k] for k in ("bus", "line", "load", "ext_grid"))
        converter = PandaPowerConverter()
        converter.set_sn_mva(self.sn_mva)
        converter.set_f_hz(self.f_hz)
        model = LSGrid()
        model.set_sn_mva(self.sn_mva)
        n_bus = len(bus["index"])
        vn_kv = bus["vn_kv"].astype(float)
        model.init_bus(n_bus, 1, vn_kv, len(line["index"]), 0)
        for b in np.flatnonzero(~bus["in_service"].astype(bool)):
            model.deactivate_bus(int(b))
        km = line["length_km"]
        f_bus, t_bus = line["from_bus"].astype(int), line["to_bus"].astype(int)
        r, x, h_or, h_ex = converter.get_line_param(
            line["r_ohm_per_km"] * km, line["x_ohm_per_km"] * km, line["g_us_per_km"] * km,
            line["c_nf_per_km"] * km, vn_kv[f_bus], vn_kv[t_bus])
        model.init_powerlines_full(r, x, h_or, h_ex, f_bus, t_bus)
        for k in np.flatnonzero(~line["in_service"].astype(bool)):
            model.deactivate_powerline(int(k))
        model.init_loads(load["p_mw"] * load["scaling"], load["q_mvar"] * load["scaling"],
                         load["bus"].astype(int))
        for k in np.flatnonzero(~load["in_service"].astype(bool)):
            model.deactivate_load(int(k))
        n_sgen = len(sgen_buses)
        zeros = np.zeros(n_sgen)
        model.init_sgens(zeros, zeros.copy(), zeros - _NO_LIMIT, zeros + _NO_LIMIT,
                         zeros - _NO_LIMIT, zeros + _NO_LIMIT, np.asarray(sgen_buses, dtype=int))
        self._add_slack(model)
        model.check_grid()
        available = model.available_default_algorithms()
        for algo in (AlgorithmType.NR_KLU, AlgorithmType.DC_KLU):
            if algo in available:
                model.change_algorithm(algo)
        return model

    def _add_slack(self, model: LSGrid) -> None:
        """The ext_grid as lightsim2grid's slack generator(s) (``_aux_add_slack``, no gens)."""
        ext, load = self.tables["ext_grid"], self.tables["load"]
        slack_buses = ext["bus"].astype(int)
        weight = ext["slack_weight"].astype(float).copy()
        norm = weight / weight.sum()
        if not np.all(np.isfinite(norm)):
            norm[:] = 1.0 / norm.shape[0]
            weight[:] = 1.0
        contrib = -1.0 * (0.0 - np.sum(load["p_mw"])) * norm
        n = len(slack_buses)
        model.init_generators(contrib, 1.0 * ext["vm_pu"].astype(float), np.full(n, -999999.0),
                              np.full(n, _NO_LIMIT), slack_buses)
        if np.sum(weight) == 0.0 or np.any(weight < 0.0):
            weight[:] = 1.0
        for k in range(n):
            model.add_gen_slackbus(k, weight[k])
        model.set_gen_to_subid(slack_buses % len(self.tables["bus"]["index"]))


@functools.cache
def feeder_tables(name: str) -> FeederTables | None:
    """The shipped tables of built-in feeder ``name``, or None if it has none (read once)."""
    if not name.replace("_", "").isalnum():  # a path, simbench:<code>: no tables
        return None
    path = tables_file(name)
    return FeederTables.read(path) if path.is_file() else None
