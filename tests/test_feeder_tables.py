"""The built-in feeders shipped as tables (grids/*.tables.json) and their pandapower-free power flow.

Checked against pandapower itself: the tables equal the nets of ``load_feeder`` value for
value, the graph equals pandapower's ``create_nxgraph``, :class:`TablePowerFlow` gives the same
bits as :class:`PowerFlow` on lightsim2grid (the pandapower-converted ``LSGrid``) and agrees
with ``pandapower.runpp`` run to a tight tolerance on random injections.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from vppsim.grids import PowerFlow, load_feeder
from vppsim.grids.light import TablePowerFlow, table_power_flow
from vppsim.grids.tables import TABLE_COLUMNS, feeder_tables, tables_file, tables_of_net
from vppsim.grids.topology import feeder_graph
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError

TABLED = ("ieee33", "ieee12")


def _injections(rng: np.random.Generator, buses: list[int], in_service: dict[int, bool]
                ) -> tuple[dict[int, float], dict[int, float], float]:
    p = {b: float(v) if in_service[b] else 0.0
         for b, v in zip(buses, rng.uniform(-400.0, 400.0, len(buses)), strict=True)}
    q = {b: float(v) if in_service[b] else 0.0
         for b, v in zip(buses, rng.uniform(-150.0, 150.0, len(buses)), strict=True)}
    return p, q, float(rng.uniform(0.4, 1.3))


@pytest.mark.parametrize("name", TABLED)
def test_tables_equal_the_pandapower_net_value_for_value(name: str) -> None:
    net = load_feeder(name)
    tables = feeder_tables(name)
    assert tables is not None
    assert (tables.sn_mva, tables.f_hz) == (float(net.sn_mva), float(net.f_hz))
    for key, columns in TABLE_COLUMNS.items():
        assert np.array_equal(tables.column(key, "index"), net[key].index.to_numpy()), key
        for col in columns:
            expected = net[key][col].to_numpy()
            got = tables.column(key, col)
            assert got.dtype.kind == expected.dtype.kind or got.dtype.kind in "if", (key, col)
            assert np.array_equal(got, expected), (key, col)
    # the shipped file is what the generator script writes today (pandapower unchanged)
    shipped = json.loads(tables_file(name).read_text(encoding="utf-8"))
    assert shipped == json.loads(json.dumps(tables_of_net(net, name)))


@pytest.mark.parametrize("name", TABLED)
def test_graph_and_slack_equal_pandapowers(name: str) -> None:
    net = load_feeder(name)
    flow = table_power_flow(name, "lightsim2grid")
    ref = feeder_graph(net)
    assert list(flow.graph.nodes(data=True)) == list(ref.nodes(data=True))
    assert list(flow.graph.edges(keys=True, data=True)) == list(ref.edges(keys=True, data=True))
    assert flow.slack_bus == PowerFlow(net).slack_bus
    assert flow.bus_ids == [int(b) for b in net.bus.index]


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("name", TABLED)
def test_table_power_flow_equals_the_converted_net_bit_for_bit(name: str, warm_start: bool) -> None:
    net = load_feeder(name)
    light = table_power_flow(name, "lightsim2grid", 1.2, warm_start=warm_start)
    ref = PowerFlow(net, 1.2, backend="lightsim2grid", warm_start=warm_start)
    in_service = dict(zip(light.bus_ids, light.tables.column("bus", "in_service"), strict=True))
    rng = np.random.default_rng(17)
    for _ in range(6):
        p, q, factor = _injections(rng, light.bus_ids, in_service)
        assert light.solve(p, q, factor) == ref.solve(p, q, factor)


@pytest.mark.parametrize("name", TABLED)
def test_table_power_flow_agrees_with_pandapower_runpp(name: str) -> None:
    """Bus voltages to 1e-9 pu, losses and slack power to 1e-9 relative (runpp to 1e-12 MVA)."""
    light = table_power_flow(name, "lightsim2grid", warm_start=False)
    ref = PowerFlow(load_feeder(name), backend="pandapower", warm_start=False)
    in_service = dict(zip(light.bus_ids, light.tables.column("bus", "in_service"), strict=True))
    rng = np.random.default_rng(3)
    for _ in range(4):
        p, q, factor = _injections(rng, light.bus_ids, in_service)
        got = light.solve(p, q, factor)
        ref.solve(p, q, factor)  # writes the set-points into ref.net
        net = copy.deepcopy(ref.net)
        pp.runpp(net, numba=False, tolerance_mva=1e-12)
        assert got.converged
        vm = np.array([got.vm_pu_by_bus[b] for b in light.bus_ids])
        np.testing.assert_allclose(vm, net.res_bus["vm_pu"].to_numpy(), rtol=0, atol=1e-9)
        losses_kw = float(net.res_line["pl_mw"].sum()) * 1000.0
        assert got.losses_kw == pytest.approx(losses_kw, rel=1e-9)
        assert got.p_slack_kw == pytest.approx(float(net.res_ext_grid["p_mw"].sum()) * 1000.0,
                                               rel=1e-9)


def test_only_the_built_in_lightsim2grid_case_is_served_from_tables() -> None:
    assert isinstance(table_power_flow("ieee33", "lightsim2grid"), TablePowerFlow)
    assert table_power_flow("ieee33", "pandapower") is None
    assert table_power_flow("cigre_mv", "lightsim2grid") is None
    assert table_power_flow("simbench:1-LV-rural1--0-sw", "lightsim2grid") is None
    assert table_power_flow("grids/ieee12.json", "lightsim2grid") is None
    with pytest.raises(ValueError, match="switch"):
        tables_of_net(load_feeder("cigre_mv"), "cigre_mv")
    with pytest.raises(ValueError, match="unknown bus"):
        table_power_flow("ieee33", "lightsim2grid").solve({99: 1.0})


def _scenario(tmp_path: Path, feeder: str) -> Path:
    base = default_scenario_path()
    path = tmp_path / "s.yaml"
    path.write_text(f"extends: {base}\nname: s\nprofiles: {base.parent / 'liu2025_3vpp_profiles.csv'}\n"
                    f"feeder: {feeder}\n", encoding="utf-8")
    return path


def test_default_backend_is_lightsim2grid_from_tables_and_pandapower_stays_selectable(
        tmp_path: Path) -> None:
    loaded = load_scenario(default_scenario_path())
    assert loaded.scenario.feeder.power_flow_backend == "lightsim2grid"
    assert isinstance(VPPModel.build_power_flow(loaded), TablePowerFlow)
    chosen = load_scenario(_scenario(tmp_path, "{power_flow_backend: pandapower}"))
    flow = VPPModel.build_power_flow(chosen)
    assert isinstance(flow, PowerFlow) and flow.backend.name == "pandapower"


def test_a_net_lightsim2grid_cannot_solve_falls_back_to_pandapower_unless_asked(
        tmp_path: Path) -> None:
    net = load_feeder("ieee33")
    pp.create_gen(net, 0, p_mw=0.0, vm_pu=1.0)  # a generator at the slack bus
    pp.to_json(net, str(tmp_path / "gen_at_slack.json"))
    loaded = load_scenario(_scenario(tmp_path, "{name: gen_at_slack.json}"))
    assert loaded.scenario.feeder.power_flow_backend == "pandapower"
    assert isinstance(VPPModel.build_power_flow(loaded).backend, type(PowerFlow(net).backend))
    with pytest.raises(ScenarioError, match="feeder.power_flow_backend"):
        load_scenario(_scenario(tmp_path,
                                "{name: gen_at_slack.json, power_flow_backend: lightsim2grid}"))
