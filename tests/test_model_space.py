"""The Mesa model for real: the feeder as a network space, agents by type, a DataCollector."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vppsim.agents.battery import Battery
from vppsim.agents.network import DistributionNetwork
from vppsim.agents.renewables import WindTurbine
from vppsim.agents.vpo import VPO
from vppsim.agents.vpp import VPP
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario


def _model_on(feeder: str, buses: list[int], tmp_path: Path) -> VPPModel:
    src = default_scenario_path()
    raw = yaml.safe_load(src.read_text(encoding="utf-8"))
    raw["feeder"]["name"] = feeder
    raw["market"]["price_policy"] = "passthrough"
    for vpp, bus in zip(raw["vpps"], buses, strict=True):
        vpp["bus"] = bus
    path = tmp_path / f"{feeder}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    shutil.copy(src.with_name(raw["profiles"]), tmp_path / raw["profiles"])
    shutil.copytree(src.parent.parent / "agents", tmp_path / "agents", dirs_exist_ok=True)
    return VPPModel(load_scenario(path))


def _neighbours_from_tables(net: object) -> dict[int, set[int]]:
    """Bus neighbours read straight from pandapower's branch tables (in service, switches closed)."""
    nb: dict[int, set[int]] = {int(b): set() for b in net.bus.index}
    open_lines = set(net.switch[(net.switch.et == "l") & ~net.switch.closed].element.astype(int))
    for i, row in net.line.iterrows():
        if row.in_service and i not in open_lines:
            a, b = int(row.from_bus), int(row.to_bus)
            nb[a].add(b)
            nb[b].add(a)
    for _, row in net.trafo.iterrows():
        if row.in_service:
            a, b = int(row.hv_bus), int(row.lv_bus)
            nb[a].add(b)
            nb[b].add(a)
    for _, row in net.switch[(net.switch.et == "b") & net.switch.closed].iterrows():
        a, b = int(row.bus), int(row.element)
        nb[a].add(b)
        nb[b].add(a)
    return nb


@pytest.mark.parametrize(("feeder", "buses"), [("ieee33", [17, 24, 32]), ("ieee24", [3, 9, 15])])
def test_space_neighbourhoods_match_pandapower_topology(feeder: str, buses: list[int],
                                                       tmp_path: Path) -> None:
    model = _model_on(feeder, buses, tmp_path)
    net = model.network.power_flow.net
    expected = _neighbours_from_tables(net)
    assert {c.coordinate for c in model.space.all_cells} == set(expected)
    for bus, neighbours in expected.items():
        got = {c.coordinate for c in model.space[bus].neighborhood}
        assert got == neighbours, f"{feeder} bus {bus}"
    # every VPP, member, the VPO and the network agent sit in the cell of their bus
    for vpp, bus in zip(model.vpps, buses, strict=True):
        assert vpp.bus == bus and vpp in model.agents_at(bus)
        for m in vpp.members:
            assert m in model.space[m.bus].agents
    slack = int(net.ext_grid.bus.iloc[0])
    assert model.network.bus == model.vpo.bus == slack


def test_radius_two_neighbourhood_is_a_graph_query(tmp_path: Path) -> None:
    """On the radial 33-bus feeder, the cells within two hops of a bus are its tree neighbours."""
    model = _model_on("ieee33", [17, 24, 32], tmp_path)
    cells = {c.coordinate for c in model.space[17].get_neighborhood(radius=2)}
    assert cells == {15, 16}  # bus 17 (Baran-Wu 18) ends the main feeder (tie line 17-32 open)


def test_agents_by_type_and_the_data_collector(tmp_path: Path) -> None:
    model = _model_on("ieee33", [17, 24, 32], tmp_path)
    model.run()
    by_type = model.agents_by_type
    assert [v.name for v in by_type[VPP]] == ["VPP1", "VPP2", "VPP3"]
    assert len(by_type[WindTurbine]) == 3 and len(by_type[Battery]) == 3
    assert len(by_type[VPO]) == 1 and len(by_type[DistributionNetwork]) == 1
    table = model.model_table()
    assert model.datacollector.get_model_vars_dataframe() is not None
    assert len(table) == model.n_steps and list(table["step"]) == list(range(model.n_steps))
    ts = model.timeseries()
    vpo = ts[ts.kind == "vpo"].reset_index(drop=True)
    net = ts[ts.kind == "network"].reset_index(drop=True)
    vpp = ts[ts.kind == "vpp"]
    pd.testing.assert_series_equal(table["vpo_profit_cny"], vpo["profit_cny"], check_names=False)
    pd.testing.assert_series_equal(table["losses_kw"], net["losses_kw"], check_names=False)
    np.testing.assert_allclose(table["total_vpp_cost_cny"],
                               vpp.groupby("step")["cost_cny"].sum().to_numpy(), rtol=1e-12)
    inj = model.bus_injections()
    assert list(inj.columns) == ["step", "day", "time_h", "hour_of_day", "bus", "p_injection_kw"]
    assert set(inj["bus"]) == {m.bus for m in model.grid_members()}
