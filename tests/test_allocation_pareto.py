"""Paper 001's two objectives: closed form, weighted problem, exact front, GA-ACO on it, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from vppsim.allocation import AllocationProblem, FitnessForm
from vppsim.allocation.exact import solve_exact
from vppsim.allocation.pareto import front_distance, non_dominated, pareto_front
from vppsim.allocation.problem import Normalization, balance_threshold, balanced_closed_form
from vppsim.allocation.scenario import load_allocation_case
from vppsim.cli.main import main
from vppsim.paths import data_dir

CASE = data_dir("scenarios") / "allocation_ieee12.yaml"
PAPER_55 = np.array([10.0, 25.0, 2.0, 8.0, 5.0, 5.0])


@pytest.fixture(scope="module")
def front55():
    return pareto_front(load_allocation_case(CASE), 55.0, points=11, seed=0)


def _random(n: int, seed: int, beta: float, above: bool) -> AllocationProblem:
    """``n`` random 2-8-resource problems with demand below (or above) the balance threshold."""
    rng = np.random.default_rng(seed)
    cap = np.zeros((n, 8))
    cost = np.ones((n, 8))
    for b in range(n):
        k = int(rng.integers(2, 9))
        cap[b, :k] = rng.uniform(0.5, 100.0, k)
        cost[b, :k] = rng.uniform(0.2, 5.0, k)
    probe = AllocationProblem(cap, cost, np.zeros(n), FitnessForm(beta))
    thr, total = balance_threshold(probe), probe.total
    u = rng.uniform(0.02, 0.98, n)
    demand = thr + u * (total - thr) if above else u * thr
    return AllocationProblem(cap, cost, demand, FitnessForm(beta))


@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_closed_form_matches_the_lp_below_the_threshold(beta: float) -> None:
    problem = _random(60, seed=14 + int(10 * beta), beta=beta, above=False)
    closed, below = balanced_closed_form(problem)
    assert below.all()
    assert problem.feasible(closed).all()
    lp = solve_exact(problem)
    scale = np.maximum(1.0, problem.target)[:, None]
    assert np.max(np.abs(closed - lp.allocation) / scale) <= 1e-9
    assert np.max(problem.balance(closed)) <= 1e-9 and np.max(lp.objective) <= 1e-9


def test_above_the_threshold_the_lp_optimum_is_positive_and_the_closed_form_fails() -> None:
    problem = _random(60, seed=41, beta=1.0, above=True)
    keep = np.flatnonzero(problem.target < problem.total * (1 - 1e-6))
    problem = problem.subset(keep)
    closed, below = balanced_closed_form(problem)
    assert not below.any()
    assert not problem.feasible(closed).any()  # some P_k > cap_k
    lp = solve_exact(problem)
    assert np.all(lp.objective > 1e-9 * problem.total_fitness(lp.allocation))
    # the closed form, made feasible, is never better than the LP (and usually worse)
    repaired = problem.balance(problem.repair(closed))
    assert np.all(repaired >= lp.objective - 1e-9)
    assert np.mean(repaired > lp.objective + 1e-6) > 0.5


def test_weighted_objective_is_the_documented_formula() -> None:
    problem = _random(5, seed=3, beta=1.0, above=False)
    plain = problem.balance(problem.repair(np.ones((5, 8))))
    x = problem.repair(np.random.default_rng(0).uniform(0, 50, (5, 7, 8)))
    assert np.array_equal(problem.evaluate(x), problem.balance(x))  # w = 0: the old objective
    assert plain.shape == (5,)
    norm = Normalization(3.0, 2.0, 0.5, 4.0)
    w = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    weighted = AllocationProblem(problem.cap, problem.cost, problem.demand, cost_weight=w,
                                 normalization=norm)
    cost = np.einsum("bmk,bk->bm", x, problem.cost * problem.active)
    f = x * problem.weight[:, None, :]
    n_act = problem.active.sum(axis=1)[:, None]
    mean = f.sum(axis=2) / n_act
    bal = (np.abs(f - mean[..., None]) * problem.active[:, None, :]).sum(axis=2)
    expect = w[:, None] * (cost - 3.0) / 2.0 + (1 - w[:, None]) * (bal - 0.5) / 4.0
    np.testing.assert_allclose(weighted.evaluate(x), expect, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="cost_weight"):
        AllocationProblem(problem.cap, problem.cost, problem.demand, cost_weight=1.5)


def test_front_at_55_mw_has_ten_non_dominated_exact_points(front55) -> None:
    f = front55
    assert len(f.front) >= 10
    # hand-computed ends: the cheapest coefficient (1.0, wind + PV, 142 MW) covers 55 MW, so the
    # least call cost is 55; the most balanced split is P_k ~ cap_k / c_k with C = D sum cap / sum cap/c
    assert f.front.call_cost[0] == pytest.approx(55.0, abs=1e-6)
    inv = 61 + 81 + 13 / 1.6 + 41 / 1.25 + 2 * 31 / 1.5
    assert f.front.call_cost[-1] == pytest.approx(55.0 * 258.0 / inv, rel=1e-9)
    assert f.front.balance[-1] == pytest.approx(0.0, abs=1e-9)
    assert f.threshold == pytest.approx(1.0 * inv, rel=1e-12)  # min_k c_k * sum cap_j / c_j
    c, b = f.front.call_cost, f.front.balance
    # pairwise: no point dominates another (checked directly, not with non_dominated())
    for i in range(len(c)):
        for j in range(len(c)):
            if i != j:
                assert not (c[j] <= c[i] + 1e-9 and b[j] <= b[i] + 1e-9
                            and (c[j] < c[i] - 1e-9 or b[j] < b[i] - 1e-9))
    assert non_dominated(c, b).all()
    # an LP front is convex: the balance is a convex, decreasing function of the call cost
    assert np.all(np.diff(c) > 0) and np.all(np.diff(b) < 0)
    slopes = np.diff(b) / np.diff(c)
    assert np.all(np.diff(slopes) >= -1e-6)
    # the points are spread: no gap wider than a tenth of either range
    assert np.max(np.diff(c)) <= (c[-1] - c[0]) / 10 + 1e-9
    assert np.max(-np.diff(b)) <= (b[0] - b[-1]) / 10 + 1e-9
    for a in f.front.allocation:
        assert a.sum() == pytest.approx(55.0, abs=1e-7)
        assert np.all(a >= -1e-9) and np.all(a <= f.problem.cap[0] + 1e-9)


def _min_balance_given_cost(problem: AllocationProblem, c_max: float) -> float:
    """``min B s.t. C <= c_max`` with the mean eliminated (scipy's linprog, a different model)."""
    n = problem.n_resources
    w, c = problem.weight[0], problem.cost[0]
    a_dev = np.diag(w) - np.outer(np.ones(n), w) / n
    a_ub = np.block([[a_dev, -np.eye(n)], [-a_dev, -np.eye(n)], [c[None, :], np.zeros((1, n))]])
    res = linprog(np.r_[np.zeros(n), np.ones(n)], A_ub=a_ub, b_ub=np.r_[np.zeros(2 * n), c_max],
                  A_eq=np.r_[np.ones(n), np.zeros(n)][None, :], b_eq=[problem.target[0]],
                  bounds=[(0.0, v) for v in problem.cap[0]] + [(0.0, None)] * n, method="highs-ipm")
    assert res.status == 0
    return float(res.fun)


def test_every_front_point_is_the_least_balance_at_its_cost(front55) -> None:
    f = front55
    for i in range(len(f.front)):
        ref = _min_balance_given_cost(f.problem, float(f.front.call_cost[i]) + 1e-9)
        assert f.front.balance[i] == pytest.approx(ref, abs=1e-6)


def test_gaaco_within_a_tenth_of_a_percent_of_the_exact_weighted_sum(front55) -> None:
    g = front55.gaaco
    assert len(g.objective) == 11
    assert np.max(g.gap_range_pct) <= 0.1
    finite = g.gap_pct[np.isfinite(g.gap_pct)]
    assert len(finite) >= 9 and np.max(finite) <= 0.1
    assert np.min(g.gap_range_pct) >= -1e-4  # never meaningfully better than the exact optimum
    inner = (front55.weights > 0) & (front55.weights < 1)
    assert np.all(np.isnan(g.front_distance_pct[~inner]))
    assert np.max(g.front_distance_pct[inner]) <= 0.1


def test_front_distance_on_a_hand_computed_polyline() -> None:
    # front (0, 1) - (1, 0): the point (1, 1) is sqrt(2)/2 from its middle; (2, 0) is 1 from the
    # end (1, 0); (0.25, 0.75) lies on it; a single front point is a plain distance
    fc, fb = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    d = front_distance(np.array([1.0, 2.0, 0.25]), np.array([1.0, 0.0, 0.75]), fc, fb)
    assert d == pytest.approx([np.sqrt(0.5), 1.0, 0.0], abs=1e-12)
    assert front_distance(np.array([3.0]), np.array([4.0]), np.array([0.0]), np.array([0.0])) == \
        pytest.approx([5.0])


def test_paper_split_is_dominated_and_no_weight_reproduces_it(front55) -> None:
    p = front55.paper
    assert p is not None
    np.testing.assert_array_equal(p.allocation, PAPER_55)
    assert p.call_cost == pytest.approx(10 + 25 + 2 * 1.6 + 8 * 1.25 + 5 * 1.5 * 2)  # 63.2
    assert p.dominated and p.front_balance_at_cost < p.balance and p.front_cost_at_balance < p.call_cost
    assert not p.reproduced and p.nearest_weight_distance > 1.0
    # the nearest weighted-sum optimum is the most balanced split (hand check of the distance)
    inv = 61 + 81 + 13 / 1.6 + 41 / 1.25 + 2 * 31 / 1.5
    closed = 55.0 * np.array([61, 81, 13 / 1.6, 41 / 1.25, 31 / 1.5, 31 / 1.5]) / inv
    assert p.nearest_weight_distance == pytest.approx(np.linalg.norm(closed - PAPER_55), rel=1e-9)
    assert p.nearest_weights[0] == 0.0


def test_cli_pareto_writes_parquet_and_png(tmp_path, capsys) -> None:
    out = tmp_path / "front"
    code = main(["allocate", str(CASE), "--demand", "55", "--pareto", "--points", "11", "--runs", "1",
                 "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "no weight reproduces it; nearest is w=0.." in text
    table = pd.read_parquet(out / "pareto.parquet")
    exact, ga = table[table["method"] == "exact"], table[table["method"] == "ga-aco"]
    assert len(exact) >= 10 and len(ga) == 11
    assert {"weight", "call_cost_mw", "balance", "wind_farm_mw", "gap_pct"} <= set(table.columns)
    np.testing.assert_allclose(exact.filter(like="_mw").drop(columns=["demand_mw", "call_cost_mw"])
                               .sum(axis=1), 55.0, atol=1e-7)
    assert ga["gap_range_pct"].max() <= 0.1
    assert (out / "pareto.png").stat().st_size > 10_000
    assert "call cost vs balance" in (out / "report.md").read_text(encoding="utf-8")


def _exit_code(argv: list[str]) -> int:
    """``vppsim`` with ``argv``: the exit code, whether argparse or the command stops it."""
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors (type checks) exit 2 this way
        return int(exc.code)


@pytest.mark.parametrize("argv, field", [
    (["--demand", "55", "--pareto", "--points", "1"], "--points"),  # argparse: --points >= 2
    (["--demand", "55", "--pareto", "--points", "nan"], "--points"),
    (["--demand", "55", "--pareto", "--points", "100000"], "--points"),
    (["--pareto"], "--demand"),  # the case has two demands
    (["--demand", "55", "--points", "5"], "--points"),  # --points without --pareto
])
def test_bad_pareto_options_exit_2(argv: list[str], field: str, tmp_path, capsys) -> None:
    assert _exit_code(["allocate", str(CASE), *argv, "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert field in err and "expected" in err and "Traceback" not in err
    assert not (tmp_path / "never").exists()
