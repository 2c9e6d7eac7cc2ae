"""Losses vs renewable utilization on the reverse-flow scenario (paper 000's trade-off).

Independent figures: the sign of dL/dP against a finite difference of ``pandapower.runpp`` on
``pandapower.networks.case33bw`` (not through vppsim); the losses of front points against a
fresh ``runpp`` of their dispatch, hour by hour; the maximum-utilization end against the
available wind and PV (nothing curtailed, U = 1.0) and the loss-blind LP (HiGHS); the
least-loss end against every other dispatch computed (the loss-weight sweep included) and
the first-order conditions on its curtailment.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from powerflow_cases import runpp_losses_kw

from vppsim.cli.main import main
from vppsim.market.loss_aware import max_utilization, solve_loss_aware
from vppsim.market.pareto import utilization_front, weighted_sum_front
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario

REVERSE_FLOW = default_scenario_path().parent / "liu2025_3vpp_reverse_flow.yaml"


@pytest.fixture(scope="module")
def day() -> dict[str, Any]:
    """The reverse-flow day: market, feeder, loss-blind dispatch and a 12-point front."""
    model = VPPModel(load_scenario(REVERSE_FLOW))
    market = model.day_ahead_market(0)
    grid = model.dispatch_grid()
    points, dispatches = utilization_front(market, grid, 12)
    return {"market": market, "grid": grid, "points": points, "dispatches": dispatches,
            "blind": solve_loss_aware(market, grid, 0.0),
            "scale": model.network.power_flow.background_load_scale}


def _hour(grid: Any, injections_kw: np.ndarray, t: int) -> tuple[dict, dict]:
    p = {b: float(injections_kw[i, t]) for i, b in enumerate(grid.vpp_buses)}
    q = {b: float(grid.q_kvar[i, t]) for i, b in enumerate(grid.vpp_buses)}
    return p, q


def test_exports_raise_the_losses_at_a_vpp_bus_around_noon(day: dict[str, Any]) -> None:
    """At the loss-blind dispatch dL/dP > 0 at bus 17 (and 32) around noon; runpp agrees."""
    blind, grid = day["blind"], day["grid"]
    sens = blind.sensitivities  # FeederLossModel's Jacobian dL/dP, [VPP, hour]
    assert blind.renewable_utilization == 1.0  # the least-cost day curtails nothing
    i17, i32 = grid.vpp_buses.index(17), grid.vpp_buses.index(32)
    assert np.all(sens[i17, 10:15] > 0.05) and np.all(sens[i32, 10:15] > 0.03)
    t = int(np.argmax(sens[i17]))
    p, q = _hour(grid, blind.injections_kw, t)
    scale = day["scale"] * float(grid.background_factor[t])
    h = 5.0
    up, down = dict(p), dict(p)
    up[17] += h
    down[17] -= h
    fd = (runpp_losses_kw(up, q, scale, 1e-12) - runpp_losses_kw(down, q, scale, 1e-12)) / (2 * h)
    assert fd > 0.05 and sens[i17, t] == pytest.approx(fd, rel=1e-3)


def test_front_has_ten_non_dominated_points_losses_vs_utilization(day: dict[str, Any]) -> None:
    """>= 10 points, utilization strictly falling and losses strictly falling along the front."""
    points = day["points"]
    u = np.array([p.renewable_utilization for p in points])
    losses = np.array([p.losses_kwh for p in points])
    assert len(points) == 12 and all(d.converged for d in day["dispatches"])
    assert np.all(np.diff(u) < -1e-3) and np.all(np.diff(losses) < -0.1)
    for k, p in enumerate(points):  # no point is as good in both and better in one
        others = [o for j, o in enumerate(points) if j != k]
        assert not any(o.losses_kwh <= p.losses_kwh and o.renewable_utilization
                       >= p.renewable_utilization for o in others)
    for p in points[:-1]:  # each epsilon-constraint binds: U = eps (curtailing lowers losses)
        assert p.renewable_utilization == pytest.approx(p.u_min, abs=1e-6)
    assert losses[0] - losses[-1] > 100.0 and u[0] - u[-1] > 0.2


def test_front_losses_match_a_full_pandapower_run(day: dict[str, Any]) -> None:
    """Both ends of the front: the reported losses == fresh runpp, hour by hour, to 1e-6."""
    grid = day["grid"]
    for r in (day["dispatches"][0], day["dispatches"][-1]):
        total = 0.0
        for t in range(r.injections_kw.shape[1]):
            p, q = _hour(grid, r.injections_kw, t)
            ref = runpp_losses_kw(p, q, day["scale"] * float(grid.background_factor[t]))
            assert r.losses_kw[t] == pytest.approx(ref, rel=1e-6)
            total += ref
        assert r.losses_kwh == pytest.approx(total, rel=1e-6)


def test_front_ends_are_the_single_objective_optima(day: dict[str, Any]) -> None:
    """Max-utilization end: U = 1.0 (nothing curtailed), fewer losses than the loss-blind LP.

    Least-loss end: no dispatch computed (the front, a sweep of loss weights 0-500 CNY/kWh)
    has fewer losses; where it curtails part of a VPP's output, dL/dP there is about 0.
    """
    market, grid, points = day["market"], day["grid"], day["points"]
    top, least = day["dispatches"][0], day["dispatches"][-1]
    assert max_utilization(market) == pytest.approx(1.0, abs=1e-9)
    assert top.renewable_utilization == pytest.approx(1.0, abs=1e-9)
    assert top.curtailed_kwh == pytest.approx(0.0, abs=1e-6)
    assert top.losses_kwh < day["blind"].losses_kwh - 10.0
    sweep, _ = weighted_sum_front(market, grid, 5)
    assert min(p.losses_kwh for p in sweep + points) >= least.losses_kwh - 1e-6
    assert least.renewable_utilization == min(p.renewable_utilization for p in points)
    avail = np.array([d.wind_fc_kw + d.pv_fc_kw for d in market.vpps])
    load = np.array([d.load_kw for d in market.vpps])
    bat_kw = np.array([[sum(b.params.p_max_kw for b in d.batteries)] for d in market.vpps])
    # curtailing part of its output for sure: below what it injects with the batteries
    # charging at full power, above what it injects with them discharging and nothing left
    partial = ((least.injections_kw < avail - load - bat_kw - 5.0)
               & (least.injections_kw > -load + bat_kw + 5.0))
    assert partial.sum() >= 5
    assert np.all(np.abs(least.sensitivities[partial]) < 5e-3)


def test_shipped_profiles_are_the_seeded_generator_output() -> None:
    """The CSV beside the scenario is what make_liu2025_reverse_flow_profiles.py writes."""
    script = REVERSE_FLOW.parent / "make_liu2025_reverse_flow_profiles.py"
    spec = importlib.util.spec_from_file_location("make_reverse_flow", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = pd.read_csv(REVERSE_FLOW.parent / "liu2025_3vpp_reverse_flow_profiles.csv")
    pd.testing.assert_frame_equal(shipped, module.profiles(), check_dtype=False, atol=1e-9)


def test_pareto_cli_utilization_front(tmp_path: Path) -> None:
    """``vppsim pareto --front utilization``: the parquet holds the epsilon points and NSGA-II's."""
    out = tmp_path / "front"
    assert main(["pareto", str(REVERSE_FLOW), "--front", "utilization", "--points", "3",
                 "--population", "8", "--generations", "2", "--out", str(out), "--quiet"]) == 0
    table = pd.read_parquet(out / "pareto.parquet")
    eps = table[table["method"] == "slp-eps"]
    assert len(eps) == 3 and set(table["method"]) == {"slp-eps", "nsga2"}
    assert eps["renewable_utilization"].iloc[0] == pytest.approx(1.0, abs=1e-9)
    assert np.isnan(eps["u_min"].iloc[-1])
    assert eps["losses_kwh"].is_monotonic_decreasing
    assert (out / "pareto.png").stat().st_size > 1000
    assert "max utilization" in (out / "report.md").read_text(encoding="utf-8")
