"""The Monte Carlo array path (vppsim.montecarlo.arrays) against the object path it replaces.

The per-sample Mesa models (``run_chunk(path="objects")``) are the reference. Tolerance: every
KPI and per-step column bit for bit, except the power-flow figures when a step's power flows
are solved in one lightsim2grid batch (the default: ``network_losses_kwh``, ``min_voltage_pu``,
``max_voltage_pu`` and the per-step ``losses_kw``, ``vm_min_pu``, ``vm_max_pu``), which agree
to 1e-9 relative (the batch solver stops within the same 1e-10 pu tolerance on other bits);
solved one by one (``batch_power_flow=False``) they are bit for bit too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vppsim.allocation.exact import solve_exact, solve_exact_fast
from vppsim.allocation.problem import AllocationProblem
from vppsim.cli.main import main
from vppsim.model import VPPModel
from vppsim.montecarlo.arrays import run_arrays
from vppsim.montecarlo.chunk import SampleContext, run_chunk
from vppsim.montecarlo.run import batch_scenario, clear_day_ahead, sample_seeds
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario

N = 50
POWER_FLOW_KPIS = ("network_losses_kwh", "min_voltage_pu", "max_voltage_pu")
POWER_FLOW_STEPS = ("losses_kw", "vm_min_pu", "vm_max_pu")


@pytest.fixture(scope="module")
def default_day() -> tuple:
    """The default scenario as a batch runs it and its day ahead, cleared once."""
    loaded = batch_scenario(load_scenario(default_scenario_path()), "lightsim2grid", False)
    return loaded, clear_day_ahead(loaded, loaded.scenario.seed)


def _ctx(default_day: tuple, allocator: str) -> SampleContext:
    loaded, cleared = default_day  # the day ahead does not depend on the real-time allocator
    loaded = loaded.with_overrides(
        balancing={**loaded.scenario.balancing.model_dump(), "allocator": allocator})
    return SampleContext(loaded, cleared, tuple(v.name for v in loaded.scenario.vpps))


@pytest.fixture(scope="module", params=["ga-aco", "exact-fast"])
def both_paths(request: pytest.FixtureRequest, default_day: tuple) -> dict:
    ctx = _ctx(default_day, request.param)
    pairs = list(enumerate(sample_seeds(ctx.loaded.scenario.seed, N)))
    objects = run_chunk(ctx, pairs, path="objects")
    arrays = run_chunk(ctx, pairs, path="arrays")
    return {"ctx": ctx, "pairs": pairs, "objects": objects, "arrays": arrays,
            "allocator": request.param}


def _assert_kpis(ref: pd.DataFrame, got: pd.DataFrame, loose: tuple[str, ...]) -> None:
    assert list(ref.columns) == list(got.columns)
    assert ref["error"].isna().all() and got["error"].isna().all()
    for c in ref.columns[:-1]:
        a, b = ref[c].to_numpy(dtype=float), got[c].to_numpy(dtype=float)
        if c in loose:
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=0, err_msg=c)
        else:
            assert np.array_equal(a, b, equal_nan=True), c


def _assert_steps(ref: pd.DataFrame, got: pd.DataFrame, loose: tuple[str, ...]) -> None:
    pd.testing.assert_frame_equal(ref.drop(columns="value"), got.drop(columns="value"))
    lo = ref["quantity"].isin(loose).to_numpy()
    a, b = ref["value"].to_numpy(), got["value"].to_numpy()
    assert np.array_equal(a[~lo], b[~lo], equal_nan=True)
    np.testing.assert_allclose(b[lo], a[lo], rtol=1e-9, atol=0)


def test_array_path_equals_object_path(both_paths: dict) -> None:
    """50 samples of the default day: KPI table and per-step series (GA-ACO and exact-fast)."""
    (ko, so, _, _), (ka, sa, _, phases) = both_paths["objects"], both_paths["arrays"]
    assert "power_flow" in phases and len(ka) == N
    _assert_kpis(ko, ka, POWER_FLOW_KPIS)
    _assert_steps(so, sa, POWER_FLOW_STEPS)
    # the samples differ from one another (a test of equal constants would prove nothing)
    assert ka["total_vpp_cost_cny"].nunique() == N and ka["imbalance_kwh"].min() > 0


def test_one_by_one_power_flows_bit_for_bit(both_paths: dict) -> None:
    """Power flows solved one by one as the objects do: every column bit for bit."""
    ctx, pairs = both_paths["ctx"], both_paths["pairs"][:10]
    kpis, steps, _, _ = run_arrays(ctx, pairs, VPPModel.build_power_flow(ctx.loaded),
                                   batch_power_flow=False)
    ko, so = both_paths["objects"][0].iloc[:10], both_paths["objects"][1]
    _assert_kpis(ko.reset_index(drop=True), kpis, ())
    _assert_steps(so[so["sample"] < 10].reset_index(drop=True), steps, ())


def test_chunk_independence(both_paths: dict) -> None:
    """KPI tables identical for one chunk of 50 and five chunks of 10 (array path).

    With exact-fast: what could depend on the chunk is the array path's own batching (power
    flows, allocation batches); GA-ACO's per-problem seeds are the allocator's (its tests).
    """
    if both_paths["allocator"] != "exact-fast":
        pytest.skip("one allocator suffices (see the docstring)")
    ctx, pairs = both_paths["ctx"], both_paths["pairs"]
    parts = [run_chunk(ctx, pairs[i:i + 10], path="arrays")[0] for i in range(0, N, 10)]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), both_paths["arrays"][0],
                                  check_exact=True)


def test_invariants_on_array_path(both_paths: dict) -> None:
    """Every VPP balances at every step (1e-6 kWh) and every SoC stays within its bounds."""
    ctx, pairs = both_paths["ctx"], both_paths["pairs"][:20]
    _, _, _, ch = run_arrays(ctx, pairs, VPPModel.build_power_flow(ctx.loaded))
    residual_kwh = np.abs(ch.rec.vpp["energy_balance_residual_kw"]) * ch.dt
    assert residual_kwh.max() <= 1e-6
    b = ch.bat_p
    assert np.all(ch.rec.soc_kwh >= b["soc_min_kwh"] - 1e-9)
    assert np.all(ch.rec.soc_kwh <= b["soc_max_kwh"] + 1e-9)
    # the batteries move (a constant SoC would pass the bounds trivially)
    assert np.ptp(ch.rec.soc_kwh, axis=1).max() > 1.0


def test_exact_fast_equals_highs_lp() -> None:
    """exact-fast (closed form below the balance threshold) equals the HiGHS LP optimum."""
    rng = np.random.default_rng(17)
    n_closed = 0
    for k in (2, 3, 4, 6):
        b = 300
        cap = rng.uniform(0.0, 100.0, (b, k)) * (rng.random((b, k)) > 0.15)
        cost = rng.uniform(1e-3, 1.0, (b, k))
        demand = rng.uniform(-0.1, 1.1, b) * cap.sum(axis=1)
        problem = AllocationProblem(cap, cost, demand)
        fast, ref = solve_exact_fast(problem), solve_exact(problem)
        closed = fast.info["closed_form"]
        n_closed += int(closed.sum())
        assert np.all(problem.feasible(fast.allocation))
        scale = np.maximum(1.0, problem.total_fitness(ref.allocation))
        np.testing.assert_array_less(np.abs(fast.objective - ref.objective) / scale, 1e-9)
        # below the threshold the optimum is unique: the allocations agree too
        np.testing.assert_allclose(fast.allocation[closed], ref.allocation[closed], rtol=0,
                                   atol=1e-9 * max(1.0, cap.max()))
    assert n_closed > 300  # the closed form was exercised (and the LP for the rest)


def test_unsupported_scenario_falls_back_to_objects(default_day: tuple) -> None:
    """merit-order is not on the array path: auto runs the objects; arrays says why."""
    ctx = _ctx(default_day, "merit-order")
    pairs = list(enumerate(sample_seeds(ctx.loaded.scenario.seed, 3)))
    auto = run_chunk(ctx, pairs, path="auto")
    ref = run_chunk(ctx, pairs, path="objects")
    pd.testing.assert_frame_equal(auto[0], ref[0], check_exact=True)
    pd.testing.assert_frame_equal(auto[1], ref[1], check_exact=True)
    with pytest.raises(ValueError, match="allocator 'merit-order'"):
        run_chunk(ctx, pairs, path="arrays")


def test_cli_path_arrays_refuses_an_unsupported_scenario(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """``vppsim montecarlo --path arrays`` on committed units: exit 2 naming the member kind."""
    scenario = Path(default_scenario_path()).parent / "uc_vpp_members.yaml"
    code = main(["montecarlo", str(scenario), "--samples", "1", "--path", "arrays",
                 "--out", str(tmp_path / "mc")])
    assert code == 2
    assert "member kind 'unit'" in capsys.readouterr().err
    assert not (tmp_path / "mc").exists()
