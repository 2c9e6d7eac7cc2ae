"""Network losses in the result equal pandapower's own, recomputed step by step from scratch.

For every step a fresh pandapower net is built from ``pandapower.networks`` (not through
vppsim), its own loads are scaled by the scenario's background factor, the step's recorded
bus injections are added as plain sgens (reactive power: every load draws q at its power
factor), ``pandapower.runpp`` solves it, and ``res_line.pl_mw + res_trafo.pl_mw`` is summed.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest
import yaml

from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.run import write_results
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ControllableLoadSpec, LoadSpec, ProsumerSpec

# pandapower's own case24_ieee_rts data predates its tap_dependency_table; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:tap_dependency_table:DeprecationWarning")

TOL_KWH = 1e-6
LOAD_KINDS = ("load", "controllable_load", "prosumer")
# ieee24 variant: VPPs on load buses of the RTS (0-based), one PV plant on a bus of its own,
# and per-load power factors that differ from the default so that q is really exercised
IEEE24_VPP_BUSES = (3, 9, 18)
IEEE24_PV_BUS = 4
IEEE24_LOAD_PF = {"VPP1-LOAD": 0.90, "VPP2-LOAD": 0.80, "VPP3-LOAD": 0.98}


def _ieee24_scenario(folder: Path) -> Path:
    default = default_scenario_path()
    raw = yaml.safe_load(default.read_text(encoding="utf-8"))
    raw["feeder"]["name"] = "ieee24"
    for vpp, bus in zip(raw["vpps"], IEEE24_VPP_BUSES, strict=True):
        vpp["bus"] = bus
        for member in vpp["members"]:
            if member["name"] in IEEE24_LOAD_PF:
                member["power_factor"] = IEEE24_LOAD_PF[member["name"]]
            if member["name"] == "VPP1-PV":
                member["bus"] = IEEE24_PV_BUS
    folder.mkdir(parents=True)
    shutil.copy(default.parent / raw["profiles"], folder / raw["profiles"])
    path = folder / "liu2025_3vpp_ieee24.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _run_and_write(path: Path, out: Path) -> Path:
    loaded = load_scenario(path)
    # on pandapower explicitly: the point is equality with runpp to 1e-6 kWh (lightsim2grid, the
    # default backend, agrees to runpp's own tolerance: tests/test_feeder_tables.py)
    feeder = {**loaded.scenario.feeder.model_dump(), "power_flow_backend": "pandapower"}
    model = VPPModel(loaded.with_overrides(feeder=feeder))
    model.run()
    return write_results(model, out, {}, figures=False)


def _load_power_factors(path: Path) -> dict[str, float]:
    """Power factor of every load-like member, as the scenario declares it (schema default included)."""
    scenario = load_scenario(path).scenario
    return {
        m.name: m.power_factor
        for v in scenario.vpps
        for m in v.members
        if isinstance(m, LoadSpec | ControllableLoadSpec | ProsumerSpec)
    }


def _recompute(
    scenario_path: Path, result: Path, factory: Callable[[], pp.pandapowerNet]
) -> dict[str, Any]:
    """Losses per step from fresh pandapower nets and the recorded injections of ``result``."""
    raw = yaml.safe_load(scenario_path.read_text(encoding="utf-8"))
    feeder = raw.get("feeder", {})
    scale = float(feeder.get("background_load_scale", 1.0))
    profiles = pd.read_csv(scenario_path.parent / raw["profiles"])
    column = feeder.get("background_load_profile")
    background = profiles[column].to_numpy(dtype=float) if column else None
    step_h = float(raw.get("step_h", 1.0))
    tan_phi = {name: math.tan(math.acos(pf)) for name, pf in _load_power_factors(scenario_path).items()}

    ts = pd.read_parquet(result / "timeseries.parquet")
    buses = pd.read_parquet(result / "bus_injections.parquet")
    loads = ts[ts["kind"].isin(LOAD_KINDS)].copy()
    assert set(loads["agent"]) == set(tan_phi), "every load of the scenario is in the time series"
    # served demand is -p_kw; it draws q = served * tan(phi), i.e. injects p_kw * tan(phi)
    loads["q_kvar"] = loads["p_kw"] * loads["agent"].map(tan_phi)

    pristine = factory()
    per_step: list[dict[str, float]] = []
    for step in sorted(ts["step"].unique()):
        net = copy.deepcopy(pristine)  # a freshly built net, never solved before
        factor = background[step % len(background)] if background is not None else 1.0
        net.load["scaling"] = net.load["scaling"] * scale * factor
        p_kw = buses[buses["step"] == step].groupby("bus")["p_injection_kw"].sum()
        q_kvar = loads[loads["step"] == step].groupby("bus")["q_kvar"].sum()
        for bus in sorted(set(p_kw.index) | set(q_kvar.index)):
            pp.create_sgen(net, int(bus), p_mw=float(p_kw.get(bus, 0.0)) / 1000.0,
                           q_mvar=float(q_kvar.get(bus, 0.0)) / 1000.0)
        pp.runpp(net, numba=False)
        line_kw = float(net.res_line["pl_mw"].sum()) * 1000.0
        trafo_kw = float(net.res_trafo["pl_mw"].sum()) * 1000.0 if len(net.trafo) else 0.0
        assert len(net.trafo3w) == 0
        per_step.append({"step": int(step), "line_kw": line_kw, "trafo_kw": trafo_kw,
                         "losses_kw": line_kw + trafo_kw})
    table = pd.DataFrame(per_step).set_index("step")
    return {
        "per_step": table,
        "losses_kwh": float(table["losses_kw"].sum()) * step_h,
        "trafo_kwh": float(table["trafo_kw"].sum()) * step_h,
        "line_kwh": float(table["line_kw"].sum()) * step_h,
        "q_total_kvar": float(loads["q_kvar"].abs().sum()),
    }


def _summary(result: Path) -> dict[str, Any]:
    return json.loads((result / "summary.json").read_text(encoding="utf-8"))


def _check_injections_match_agents(result: Path) -> None:
    """The recorded bus injections are the sum of the agents' own p_kw rows at that bus."""
    ts = pd.read_parquet(result / "timeseries.parquet")
    buses = pd.read_parquet(result / "bus_injections.parquet")
    physical = ts[~ts["kind"].isin(("vpp", "vpo", "network"))]
    by_agents = physical.groupby(["step", "bus"])["p_kw"].sum()
    recorded = buses.set_index(["step", "bus"])["p_injection_kw"]
    assert not recorded.index.duplicated().any()
    assert set(by_agents.index) == set(recorded.index)
    diff = (by_agents - recorded.reindex(by_agents.index)).abs().max()
    assert diff < 1e-9
    assert buses["p_injection_kw"].abs().sum() > 1000.0, "the VPPs inject something"


FACTORIES: dict[str, Callable[[], pp.pandapowerNet]] = {
    "ieee33": pn.case33bw,
    "ieee24": pn.case24_ieee_rts,
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, dict[str, Any]]]:
    """feeder -> (scenario file, result folder, independent recomputation)."""
    base = tmp_path_factory.mktemp("losses")
    paths = {"ieee33": default_scenario_path(), "ieee24": _ieee24_scenario(base / "scenario24")}
    out = {}
    for feeder, path in paths.items():
        result = _run_and_write(path, base / feeder)
        out[feeder] = (path, result, _recompute(path, result, FACTORIES[feeder]))
    return out


@pytest.mark.parametrize("feeder", ["ieee33", "ieee24"])
def test_losses_equal_independent_pandapower_runs(
    feeder: str, cases: dict[str, tuple[Path, Path, dict[str, Any]]]
) -> None:
    _, result, ref = cases[feeder]
    summary = _summary(result)
    assert summary["power_flow_nonconverged_steps"] == []
    _check_injections_match_agents(result)
    assert ref["q_total_kvar"] > 100.0, "loads draw reactive power"
    assert summary["network_losses_kwh"] == pytest.approx(ref["losses_kwh"], rel=0, abs=TOL_KWH)

    net_rows = pd.read_parquet(result / "timeseries.parquet").query("kind == 'network'")
    net_rows = net_rows.set_index("step")
    assert list(net_rows.index) == list(ref["per_step"].index)
    for col in ("losses_kw", "line_losses_kw", "trafo_losses_kw"):
        diff = (net_rows[col] - ref["per_step"][col.replace("_losses", "")]).abs().max()
        assert diff < TOL_KWH, f"{col} differs from pandapower by {diff} kW"


def test_ieee24_losses_include_transformers(cases: dict[str, tuple[Path, Path, dict[str, Any]]]) -> None:
    _, result, ref = cases["ieee24"]
    assert ref["trafo_kwh"] > 1.0
    ts = pd.read_parquet(result / "timeseries.parquet")
    trafo_kwh = float(ts.loc[ts["kind"] == "network", "trafo_losses_kw"].sum())  # 1 h steps
    assert trafo_kwh == pytest.approx(ref["trafo_kwh"], rel=0, abs=TOL_KWH)
    # the total is line + transformer losses, not line losses alone
    summary = _summary(result)
    assert summary["network_losses_kwh"] - ref["line_kwh"] == pytest.approx(
        ref["trafo_kwh"], rel=0, abs=TOL_KWH
    )


def test_recomputation_is_sensitive_to_the_injections(
    cases: dict[str, tuple[Path, Path, dict[str, Any]]]
) -> None:
    """Guard: without the VPP injections the same nets lose a clearly different energy."""
    scenario_path, result, _ = cases["ieee33"]
    summary = _summary(result)
    ts = pd.read_parquet(result / "timeseries.parquet")
    raw = yaml.safe_load(scenario_path.read_text(encoding="utf-8"))
    factor = pd.read_csv(scenario_path.parent / raw["profiles"])[
        raw["feeder"]["background_load_profile"]
    ].to_numpy(dtype=float)
    pristine = pn.case33bw()
    bare_kwh = 0.0
    for step in sorted(ts["step"].unique()):
        net = copy.deepcopy(pristine)
        net.load["scaling"] = net.load["scaling"] * factor[step % len(factor)]
        pp.runpp(net, numba=False)
        bare_kwh += float(net.res_line["pl_mw"].sum()) * 1000.0
    assert abs(summary["network_losses_kwh"] - bare_kwh) > 1.0
