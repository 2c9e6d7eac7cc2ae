"""The member registry: a kind from outside vppsim (tests/toy_heat_pump.py) runs in a scenario.

The heat pump touches no vppsim module: it is a spec, an agent class and a registry entry,
passed to ``load_scenario(..., member_kinds=...)``.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from toy_heat_pump import HEAT_PUMP, HeatPump, HeatPumpSpec

from vppsim.agents.battery import Battery
from vppsim.agents.registry import MemberKind, MemberKinds, default_member_kinds
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import BUILTIN_MEMBER_SPECS, Scenario, ScenarioError

HP_BUS = 5  # a bus of ieee33 where no other agent of the default scenario sits


def _scenario_with_heat_pump(tmp_path: Path) -> Path:
    src = default_scenario_path()
    raw = yaml.safe_load(src.read_text(encoding="utf-8"))
    raw["market"]["price_policy"] = "passthrough"
    raw["vpps"][0]["members"].append({"kind": "heat_pump", "name": "VPP1-HP", "bus": HP_BUS,
                                      "profile": "vpp2_load_kw", "shift_kw": 40.0,
                                      "buffer_kwh": 120.0})
    path = tmp_path / "hp.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    shutil.copy(src.with_name(raw["profiles"]), tmp_path / raw["profiles"])
    shutil.copytree(src.parent.parent / "agents", tmp_path / "agents", dirs_exist_ok=True)
    return path


@pytest.fixture(scope="module")
def hp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[VPPModel, Path]:
    path = _scenario_with_heat_pump(tmp_path_factory.mktemp("hp"))
    model = VPPModel(load_scenario(path, member_kinds=default_member_kinds().with_kind(HEAT_PUMP)))
    model.run()
    return model, path


def test_a_heat_pump_from_outside_the_package_runs(hp_run: tuple[VPPModel, Path]) -> None:
    model, _ = hp_run
    hp = next(a for a in model.agents_by_type[HeatPump])
    vpp1 = model.vpps[0]
    assert hp in vpp1.loads and hp in vpp1.batteries and hp.bus == HP_BUS
    ts = model.timeseries()
    rows = ts[ts.agent == "VPP1-HP"]
    assert len(rows) == model.n_steps and set(rows["kind"]) == {"heat_pump"}
    # it shifts: more draw in some hours, less in others, within its band and buffer
    shift = rows["shift_kw"].to_numpy()
    assert shift.max() > 1.0 and shift.min() < -1.0
    assert np.all(np.abs(shift) <= 40.0 + 1e-7)
    assert rows["buffer_kwh"].between(-1e-9, 120.0 + 1e-9).all()
    # the day-ahead plan keeps the buffer's energy: it ends no lower than it started
    k = vpp1.batteries.index(hp)
    plan = vpp1.schedule
    assert plan.soc_kwh[k, -1] >= plan.soc_kwh[k, 0] - 1e-6
    # the VPP still balances to the watt, and the feeder sees the shifted draw at the pump's bus
    vpp = ts[ts.kind == "vpp"]
    assert vpp["energy_balance_residual_kw"].abs().max() < 1e-6
    inj = model.bus_injections()
    at_bus = inj[inj.bus == HP_BUS].set_index("step")["p_injection_kw"]
    np.testing.assert_allclose(at_bus.to_numpy(), rows["p_kw"].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(-rows["p_kw"].to_numpy(),
                               rows["load_kw"].to_numpy() - rows["unmet_kw"].to_numpy() + shift,
                               atol=1e-9)


def test_the_heat_pump_sits_in_the_network_space(hp_run: tuple[VPPModel, Path]) -> None:
    model, _ = hp_run
    assert [a.name for a in model.agents_at(HP_BUS)] == ["VPP1-HP"]


def test_an_unregistered_kind_is_a_clear_scenario_error(hp_run: tuple[VPPModel, Path]) -> None:
    _, path = hp_run
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)  # vppsim's own kinds only
    line = next(ln for ln in str(err.value).splitlines() if "vpps[0].members[4]" in ln)
    assert str(path) in line and "'heat_pump'" in line and "'battery'" in line


def test_a_scenario_with_a_plugin_kind_pickles(hp_run: tuple[VPPModel, Path]) -> None:
    """LoadedScenario crosses to Dask workers: the run-time scenario class pickles as its recipe."""
    model, _ = hp_run
    loaded = model.loaded
    back = pickle.loads(pickle.dumps(loaded))
    assert back.scenario == loaded.scenario and back.member_kinds == loaded.member_kinds
    assert isinstance(back.scenario.vpps[0].members[4], HeatPumpSpec)


def test_builtin_registry_matches_the_schema() -> None:
    kinds = default_member_kinds(plugins=False)
    assert kinds.specs == BUILTIN_MEMBER_SPECS
    assert kinds.scenario_model() is Scenario
    assert list(kinds) == ["battery", "wind", "pv", "pv_profile", "load", "controllable_load", "generator",
                           "prosumer", "prosumer_fleet", "unit", "ev", "water_storage"]


@pytest.mark.parametrize(("kind", "error"), [
    (lambda: MemberKind("pump", HeatPumpSpec, HeatPump), "kind tag is 'heat_pump'"),
    (lambda: MemberKind("heat_pump", dict, HeatPump), "MemberSpec subclass"),  # type: ignore[arg-type]
    (lambda: MemberKind("heat_pump", HeatPumpSpec, object), "has no from_spec"),
    (lambda: default_member_kinds(plugins=False).with_kind(
        MemberKind("battery", default_member_kinds(plugins=False)["battery"].spec, Battery)),
     "registered twice"),
])
def test_bad_member_kinds_are_refused(kind: Any, error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        kind()


def test_unknown_kind_lookup_lists_the_kinds() -> None:
    with pytest.raises(KeyError, match="expected one of"):
        MemberKinds([HEAT_PUMP])["battery"]
