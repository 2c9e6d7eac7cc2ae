"""Balanced allocation (paper 001): problem, projection, exact LP, GA-ACO, case file, CLI, 12-bus feeder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from scipy.optimize import linprog

from vppsim.allocation import AllocationProblem, FitnessForm, feasibility, proportional, solve_ga_aco
from vppsim.allocation.exact import solve_exact
from vppsim.allocation.scenario import load_allocation_case
from vppsim.cli import allocate as alloc_cli
from vppsim.cli.impl import allocate as alloc_impl
from vppsim.grids import FEEDERS, load_feeder
from vppsim.optimizers.gaaco import GaAcoSettings
from vppsim.optimizers.rng import CounterRng, problem_keys
from vppsim.paths import data_dir
from vppsim.results.folders import OutputFolderError
from vppsim.scenario.schema import ScenarioError

CASE = data_dir("scenarios") / "allocation_ieee12.yaml"
CAP = np.array([61.0, 81.0, 13.0, 41.0, 31.0, 31.0])


@pytest.fixture(scope="module")
def case():
    return load_allocation_case(CASE)


def _random_problems(n: int, seed: int, k_max: int = 8) -> tuple[AllocationProblem, list[int]]:
    """``n`` random problems padded to ``k_max`` resources (some zero capacities, odd demands)."""
    rng = np.random.default_rng(seed)
    cap = np.zeros((n, k_max))
    cost = np.ones((n, k_max))
    sizes = []
    for b in range(n):
        k = int(rng.integers(1, k_max + 1))
        sizes.append(k)
        cap[b, :k] = rng.uniform(0.5, 100.0, k) * (rng.random(k) > 0.1)
        cost[b, :k] = rng.uniform(0.2, 5.0, k)
    total = cap.sum(axis=1)
    kind = rng.integers(0, 6, n)
    demand = np.select(
        [kind == 0, kind == 1, kind == 2],
        [-rng.uniform(0, 10, n), total * rng.uniform(1.0, 1.5, n), total],
        default=total * rng.uniform(0.0, 1.0, n),
    )
    return AllocationProblem(cap, cost, demand), sizes


@pytest.fixture(scope="module")
def random_batch():
    problem, sizes = _random_problems(200, seed=2024)
    exact = solve_exact(problem)
    result = solve_ga_aco(problem, np.arange(200) + 7)
    return problem, sizes, exact, result


# --------------------------------------------------------------------------- paper case


def test_258_mw_every_resource_at_max(case) -> None:
    problem = case.problem([258.0])
    for res in (solve_ga_aco(problem, 3), solve_exact(problem), proportional(problem)):
        np.testing.assert_array_equal(res.allocation[0], CAP)
        assert res.unmet[0] == 0.0


def test_55_mw_meets_demand_exactly_within_bounds(case) -> None:
    problem = case.problem([55.0] * 14)
    res = solve_ga_aco(problem, np.arange(14))
    assert np.all(np.abs(res.allocation.sum(axis=1) - 55.0) <= 1e-9)
    assert np.all(res.allocation >= 0.0) and np.all(res.allocation <= CAP)
    assert feasibility(problem, res.allocation).all()
    exact = solve_exact(problem)
    assert abs(exact.allocation[0].sum() - 55.0) <= 1e-9
    # the LP optimum is 0 here (all fitness values can be equal): absolute gap, normalized by
    # the total fitness at the optimum
    scale = problem.total_fitness(exact.allocation)[0]
    gap = (res.objective - exact.objective) / scale
    assert np.median(gap) <= 1e-3 and gap.max() <= 1e-2
    assert np.all(res.objective >= exact.objective - 1e-9)


def test_55_mw_split_near_paper_for_storage_and_loads(case) -> None:
    exact = solve_exact(case.problem([55.0]))
    paper = case.paper(55.0)
    # storage and controllable loads within 0.1 MW of Table 3; wind/PV share one coefficient
    np.testing.assert_allclose(exact.allocation[0, 2:], paper[2:], atol=0.1)
    assert exact.allocation[0, :2].sum() == pytest.approx(paper[:2].sum(), abs=0.25)


def test_demand_above_capacity_is_unmet_never_overgeneration() -> None:
    problem = AllocationProblem(CAP, np.ones(6), 300.0)
    for res in (solve_ga_aco(problem, 0), solve_exact(problem), proportional(problem)):
        np.testing.assert_array_equal(res.allocation[0], CAP)
        assert res.unmet[0] == pytest.approx(42.0)


def test_non_positive_demand_allocates_nothing() -> None:
    problem = AllocationProblem(np.vstack([CAP, CAP]), np.ones((2, 6)), [0.0, -5.0])
    for res in (solve_ga_aco(problem, 0), solve_exact(problem), proportional(problem)):
        assert np.all(res.allocation == 0.0)
        assert np.all(res.unmet == 0.0)


# --------------------------------------------------------------------------- projection


@pytest.mark.parametrize("metric", ["fitness", "euclidean"])
def test_repair_is_the_exact_projection(metric: str) -> None:
    problem, _ = _random_problems(60, seed=5)
    problem = AllocationProblem(problem.cap, problem.cost, problem.demand, repair_metric=metric)
    rng = np.random.default_rng(1)
    x = rng.normal(20.0, 40.0, (60, 5, 8))
    p = problem.repair(x)
    assert problem.feasible(p).all()
    d = problem.repair_direction
    for b in range(60):
        act = problem.active[b]
        for m in range(5):
            # bisection on the shift: an independent reference
            lo, hi = -1e7, 1e7
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if np.clip(x[b, m, act] - mid * d[b, act], 0, problem.cap[b, act]).sum() > problem.target[b]:
                    lo = mid
                else:
                    hi = mid
            ref = np.clip(x[b, m, act] - lo * d[b, act], 0, problem.cap[b, act])
            if 0 < problem.target[b] < problem.total[b]:
                np.testing.assert_allclose(p[b, m, act], ref, atol=1e-8)
            assert np.all(p[b, m, ~act] == 0.0)


def test_fitness_repair_keeps_the_spread() -> None:
    problem = AllocationProblem(CAP, [1.0, 1.0, 1.6, 1.25, 1.5, 1.5], 55.0)
    x = np.array([[[12.0, 20.0, 3.0, 9.0, 6.0, 7.0]]])
    p = problem.repair(x)
    # no bound hit: every fitness moves by the same amount, the spread is unchanged
    assert problem.evaluate(p)[0, 0] == pytest.approx(problem.evaluate(x)[0, 0], rel=1e-12)


# --------------------------------------------------------------------------- exact LP


def test_exact_lp_matches_an_independent_linprog(random_batch) -> None:
    problem, _, exact, _ = random_batch
    checked = 0
    for b in range(problem.n_problems):
        if problem.degenerate[b]:
            continue
        act = np.flatnonzero(problem.active[b])
        n = len(act)
        w = problem.weight[b, act]
        # variables: P (n), deviations e (n); f_bar eliminated: e_k >= |w_k P_k - mean(w P)|
        a_dev = np.diag(w) - np.outer(np.ones(n), w) / n
        c = np.r_[np.zeros(n), np.ones(n)]
        a_ub = np.block([[a_dev, -np.eye(n)], [-a_dev, -np.eye(n)]])
        a_eq = np.r_[np.ones(n), np.zeros(n)][None, :]
        bounds = [(0.0, problem.cap[b, k]) for k in act] + [(0.0, None)] * n
        ref = linprog(c, A_ub=a_ub, b_ub=np.zeros(2 * n), A_eq=a_eq, b_eq=[problem.target[b]],
                      bounds=bounds, method="highs-ipm")
        assert ref.status == 0
        assert exact.objective[b] == pytest.approx(ref.fun, abs=1e-7 * max(1.0, abs(ref.fun)))
        checked += 1
        if checked == 40:
            break
    assert checked == 40


# --------------------------------------------------------------------------- GA-ACO properties


def test_random_problems_feasible_and_never_better_than_lp(random_batch) -> None:
    problem, _, exact, res = random_batch
    p = res.allocation
    np.testing.assert_allclose(p.sum(axis=1), problem.target, atol=1e-9 * max(1.0, problem.total.max()))
    assert np.all(p >= 0.0) and np.all(p <= problem.cap)
    assert feasibility(problem, p).all() and feasibility(problem, exact.allocation).all()
    np.testing.assert_allclose(res.unmet, np.maximum(problem.demand - problem.total, 0.0))
    assert np.all(res.allocation.sum(axis=1) <= np.maximum(problem.demand, 0.0) + 1e-9)
    scale = np.maximum(1.0, problem.total_fitness(exact.allocation))
    assert np.all(res.objective >= exact.objective - 1e-9 * scale)
    np.testing.assert_allclose(res.objective, problem.evaluate(p))
    norm = np.maximum(np.maximum(exact.objective, problem.total_fitness(exact.allocation)), 1e-300)
    gap = np.where(problem.degenerate, 0.0, (res.objective - exact.objective) / norm)
    assert np.median(gap) < 1e-3


def test_batched_equals_alone_bit_for_bit_and_padding_changes_nothing(random_batch) -> None:
    problem, sizes, _, res = random_batch
    for b in [0, 3, 17, 42, 99, 150, 199]:
        alone = solve_ga_aco(problem.subset(b), b + 7)
        np.testing.assert_array_equal(alone.allocation[0], res.allocation[b])
        np.testing.assert_array_equal(alone.history[0], res.history[b])
        assert alone.objective[0] == res.objective[b]
        k = sizes[b]
        unpadded = AllocationProblem(problem.cap[b, :k], problem.cost[b, :k], problem.demand[b])
        small = solve_ga_aco(unpadded, b + 7)
        np.testing.assert_array_equal(small.allocation[0], res.allocation[b, :k])


def test_same_seed_same_result_other_seed_other_path() -> None:
    problem = AllocationProblem(CAP, [1.0, 1.0, 1.6, 1.25, 1.5, 1.5], 55.0)
    a, b, c = solve_ga_aco(problem, 1), solve_ga_aco(problem, 1), solve_ga_aco(problem, 2)
    np.testing.assert_array_equal(a.allocation, b.allocation)
    assert not np.array_equal(a.history, c.history)
    assert a.history.shape == (1, 1 + GaAcoSettings().generations + GaAcoSettings().iterations)
    assert np.all(np.diff(a.history[0]) <= 0.0)


def test_counter_rng_is_uniform_and_keyed() -> None:
    rng = CounterRng(problem_keys([0, 1], 2))
    u = rng.uniform(5, (50_000,))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u[0].mean() - 0.5) < 0.01 and abs(u[0].var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < 0.02
    small = CounterRng(problem_keys([1], 1)).uniform(9, (4, 6))
    large = rng.uniform(9, (4, 8))
    np.testing.assert_array_equal(small[0], large[1][:, :6])


def test_bad_seeds_and_settings_raise() -> None:
    problem = AllocationProblem(CAP, np.ones(6), 55.0)
    with pytest.raises(ValueError, match="seeds"):
        solve_ga_aco(problem, -1)
    with pytest.raises(ValueError, match="seeds"):
        solve_ga_aco(problem, [1, 2])
    with pytest.raises(ValueError, match="q0"):
        GaAcoSettings(q0=1.5)
    with pytest.raises(ValueError, match="cost"):
        AllocationProblem(CAP, np.zeros(6), 55.0)
    with pytest.raises(ValueError, match="cap"):
        AllocationProblem(-CAP, np.ones(6), 55.0)


def test_capacity_exponent_zero_equalizes_call_cost() -> None:
    problem = AllocationProblem(CAP, [1.0, 2.0, 1.0, 1.0, 4.0, 1.0], 40.0, FitnessForm(capacity_exponent=0.0))
    exact = solve_exact(problem)
    f = problem.fitness(exact.allocation)[0]
    np.testing.assert_allclose(f, f.mean(), atol=1e-9)
    res = solve_ga_aco(problem, 0)
    assert res.objective[0] <= 1e-3 * f.sum()


def test_stack_pads_problems(case) -> None:
    a = case.problem([55.0])
    b = AllocationProblem([5.0, 7.0], [1.0, 2.0], 6.0)
    both = AllocationProblem.stack([a, b])
    assert both.cap.shape == (2, 6)
    np.testing.assert_array_equal(solve_ga_aco(both, [4, 5]).allocation[1, :2],
                                  solve_ga_aco(b, 5).allocation[0])


# --------------------------------------------------------------------------- case file and CLI


def test_case_file_loads_with_assumptions(case) -> None:
    assert case.names[0] == "wind_farm" and case.unit == "MW"
    np.testing.assert_array_equal(case.problem().cap[0], CAP)
    assert any("assumed" in a for a in case.assumptions)
    assert case.feeder in FEEDERS


def test_bad_case_file_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nresources:\n  - {name: a, capacity: -3, cost_coefficient: 1}\ndemands: [1]\n")
    with pytest.raises(ScenarioError) as info:
        load_allocation_case(bad)
    assert f"{bad}: resources[0].capacity:" in str(info.value)
    with pytest.raises(ScenarioError, match="expected an existing"):
        load_allocation_case(tmp_path / "missing.yaml")


def test_cli_prints_table_and_writes_a_folder(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    alloc_cli.add_parser(parser.add_subparsers(dest="command"))
    out_dir = tmp_path / "alloc"
    args = parser.parse_args(["allocate", str(CASE), "--demand", "55", "--runs", "2", "--seed", "3",
                              "--out", str(out_dir)])
    assert alloc_impl.run(args) == 0
    out = capsys.readouterr().out
    assert "| wind_farm | 61 |" in out and "paper (Table 3)" in out and "gap to LP" in out
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    (d55,) = summary["demands"]
    assert d55["demand"] == 55 and d55["gaaco_runs"] == 2 and d55["allocation"]["wind_farm"]["paper"] == 10
    assert d55["lp_objective"] <= d55["proportional_objective"] and d55["gaaco_gap_max"] >= -1e-9
    runs = pd.read_csv(out_dir / "runs.csv")
    assert list(runs["seed"]) == [3, 4]
    np.testing.assert_allclose(runs[list(summary["demands"][0]["allocation"])].sum(axis=1), 55.0)
    assert (out_dir / "report.md").is_file() and (out_dir / "figures" / "allocation_55.png").is_file()
    again = parser.parse_args(["allocate", str(CASE), "--demand", "55", "--out", str(out_dir)])
    with pytest.raises(OutputFolderError, match="--out: expected a folder that does not exist"):
        alloc_impl.run(again)  # an existing folder is never overwritten
    bad = parser.parse_args(["allocate", str(CASE), "--runs", "0"])
    with pytest.raises(ScenarioError, match="--runs"):
        alloc_impl.run(bad)


# --------------------------------------------------------------------------- 12-bus feeder


def test_ieee12_feeder_power_flow() -> None:
    net = load_feeder("ieee12")
    assert len(net.bus) == 12 and len(net.line) == 11
    assert net.load.p_mw.sum() == pytest.approx(0.435)
    pp.runpp(net, numba=False)
    assert net.converged
    vm = net.res_bus.vm_pu
    assert vm.iloc[0] == pytest.approx(1.0)
    assert 0.94 < vm.min() < 1.0 and int(vm.idxmin()) == 11
    # Das, Nagi & Kothari (1994): minimum 0.9434 pu at bus 12, losses 20.71 kW
    assert vm.min() == pytest.approx(0.9434, abs=1e-4)
    assert net.res_line.pl_mw.sum() * 1000 == pytest.approx(20.71, abs=0.01)
