"""The game's search stops at the proven bound with the full budget's outcome (real HiGHS)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from market_cases import tiny_market

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import STOPPED_AT_BOUND, GameResult, solve_game
from vppsim.market.reference import centralized_bound, exact_reference
from vppsim.model import VPPModel
from vppsim.optimizers.algorithms import get_algorithm
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario


def _market(file_name: str) -> DayAheadMarket:
    model = VPPModel(load_scenario(default_scenario_path().parent / file_name))
    return model.day_ahead_market(0)


@pytest.fixture(scope="module")
def liu3() -> DayAheadMarket:
    return _market("liu2025_3vpp.yaml")


@pytest.fixture(scope="module")
def liu6() -> DayAheadMarket:
    return _market("liu2025_6vpp.yaml")


def _same_outcome(a: GameResult, b: GameResult, rel: float = 1e-9) -> None:
    """Prices, VPO profit, VPP costs and tie ends equal to ``rel``."""
    for x, y in [(a.outcome.c_sell_cny_per_kwh, b.outcome.c_sell_cny_per_kwh),
                 (a.outcome.c_buy_cny_per_kwh, b.outcome.c_buy_cny_per_kwh)]:
        np.testing.assert_allclose(x, y, rtol=rel, atol=0.0)
    assert a.outcome.vpo_profit_cny == pytest.approx(b.outcome.vpo_profit_cny, rel=rel)
    assert a.outcome.vpp_cost_cny == pytest.approx(b.outcome.vpp_cost_cny, rel=rel)
    for ends_a, ends_b in [(a.ties, b.ties), (a.model1_ties, b.model1_ties)]:
        assert ends_a is not None and ends_b is not None
        da, db = ends_a.to_dict(), ends_b.to_dict()
        assert da.pop("storage_rule") == db.pop("storage_rule")
        assert da == pytest.approx(db, rel=rel)


FULL_BUDGET_CASES = [
    pytest.param("liu3", 256.49, 300, id="liu3-300"),
    pytest.param("liu6", 210.82, 300, id="liu6-300"),
    # the shipped scenarios' budget (9,000 and 18,000 LP solves without the stop)
    pytest.param("liu3", 256.49, 1500, id="liu3-1500", marks=pytest.mark.slow),
    pytest.param("liu6", 210.82, 1500, id="liu6-1500", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("market_name", "profit_cny", "budget"), FULL_BUDGET_CASES)
def test_stopped_search_gives_the_full_budgets_outcome(market_name, profit_cny, budget, request):
    market = request.getfixturevalue(market_name)
    stopped = solve_game(market, "system_cost", "pso-rl", budget=budget, seed=2025)
    full = solve_game(market, "system_cost", "pso-rl", budget=budget, seed=2025,
                      stop_at_bound=False)
    assert stopped.stop == STOPPED_AT_BOUND and full.stop == "budget"
    assert stopped.convergence is not None and full.convergence is not None
    assert full.convergence.evaluations == budget
    assert stopped.convergence.evaluations < budget
    assert stopped.lower_level_solves < full.lower_level_solves
    _same_outcome(stopped, full)
    # independent figures: the centralized LP's optimum and issue 12's selected splits
    bound = centralized_bound(market).system_cost_cny
    assert stopped.outcome.system_cost_cny == pytest.approx(bound, rel=1e-9)
    assert stopped.outcome.vpo_profit_cny == pytest.approx(profit_cny, abs=5e-3)


def test_6vpp_costs_of_the_stopped_search_are_issue_12s(liu6):
    res = solve_game(liu6, "system_cost", "pso", budget=1500, seed=3)
    assert res.stop == STOPPED_AT_BOUND
    costs = [res.outcome.vpp_cost_cny[d.name] for d in liu6.vpps]
    np.testing.assert_allclose(costs, [3996.48, 4257.70, 4371.36, 4515.58, 4300.46, 4111.89],
                               atol=5e-3)


@pytest.mark.parametrize("solver", ["pso-rl", "pso", "ga"])
def test_black_box_searches_stop_at_the_bound_only_when_asked(liu3, solver):
    ref = exact_reference(liu3, "system_cost")
    kwargs = dict(budget=150, seed=1, polish=False, precomputed_reference=ref, ties=False)
    off = solve_game(liu3, "system_cost", solver, stop_at_bound=False, **kwargs)
    assert off.convergence is not None and off.convergence.evaluations == 150
    on = solve_game(liu3, "system_cost", solver, **kwargs)
    assert on.convergence is not None
    if on.stop == STOPPED_AT_BOUND:  # reached the bound: same outcome, fewer evaluations
        assert on.convergence.f <= ref.value_cny * (1 + 1e-9)
        assert on.outcome.vpo_profit_cny == pytest.approx(off.outcome.vpo_profit_cny, rel=1e-9)
    else:  # never reached: the same run as without the stop
        assert on.convergence.evaluations == 150
        np.testing.assert_array_equal(on.convergence.history, off.convergence.history)


def test_leader_search_stops_at_the_mpec_bound_with_the_mpec_outcome():
    tiny = tiny_market()
    ref = exact_reference(tiny, "vpo_profit")
    on = solve_game(tiny, "vpo_profit", "pso-rl", budget=600, seed=1, precomputed_reference=ref)
    off = solve_game(tiny, "vpo_profit", "pso-rl", budget=600, seed=1, precomputed_reference=ref,
                     stop_at_bound=False)
    assert on.stop == STOPPED_AT_BOUND and off.stop == "budget"
    assert on.outcome.vpo_profit_cny == pytest.approx(ref.value_cny, rel=1e-6)
    _same_outcome(on, off)


class _Sphere:
    """``sum(x**2)`` on ``[-1, 2]^4``: minimum 0 at the origin (analytic)."""

    n_var = 4
    xl = np.full(4, -1.0)
    xu = np.full(4, 2.0)

    def __init__(self, target_f: float | None) -> None:
        self.target_f = target_f

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(x) ** 2).sum(axis=1)


@pytest.mark.parametrize("name", ["pso-rl", "pso", "ga", "irla-paper"])
def test_every_algorithm_stops_at_a_problems_target(name):
    res = get_algorithm(name).minimize(_Sphere(0.05), 3000, 0)
    assert res.info["stop_reason"] == "target"
    assert res.f <= 0.05 and res.evaluations < 3000
    free = get_algorithm(name).minimize(_Sphere(None), 3000, 0)
    assert free.info["stop_reason"] != "target"
    n = len(res.history)  # the same run up to the stop
    np.testing.assert_array_equal(free.history[:n], res.history)


def test_tie_ends_solved_in_the_background_are_the_same(liu6):
    ref = exact_reference(liu6, "system_cost")
    kwargs = dict(budget=60, seed=1, precomputed_reference=ref)
    here = solve_game(liu6, "system_cost", "pso-rl", **kwargs)
    later = solve_game(liu6, "system_cost", "pso-rl", background_ties=True, **kwargs)
    restored = pickle.loads(pickle.dumps(later))  # waits for the worker, drops it
    for res in (later, restored):
        assert res.ties == here.ties and res.model1_ties == here.model1_ties
    # at the selected 6-VPP prices the ends differ from Model 1's (issue 12's figures)
    assert here.ties.vpo_profit_optimistic_cny == pytest.approx(210.82, abs=5e-3)
    assert here.model1_ties.vpo_profit_optimistic_cny == pytest.approx(271.88, abs=5e-3)
    assert later.wall_s["ties"] > 0.0
