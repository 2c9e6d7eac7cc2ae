"""The learning PSO (``pso-rl``): reproducibility, the bandit's credit assignment, the game's score."""

from __future__ import annotations

import numpy as np
import pytest
from market_cases import COSTS

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import GameProblem, solve_game
from vppsim.market.lower_level import VppDayAheadData
from vppsim.market.outcome import optimistic_profit
from vppsim.market.reference import exact_reference
from vppsim.optimizers.algorithms import ALGORITHMS, get_algorithm
from vppsim.optimizers.irla import IRLA
from vppsim.optimizers.learning_pso import LearningPSO, bandit_update, softmax_choice


class Sphere:
    """``sum (x - 1.3)^2`` on ``[-5, 5]^n``; optimum 0."""

    def __init__(self, n: int) -> None:
        self.n_var, self.xl, self.xu = n, -5.0 * np.ones(n), 5.0 * np.ones(n)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        return ((x - 1.3) ** 2).sum(axis=1)


class UselessHint(Sphere):
    """A sphere whose ``propose`` always returns the worst corner: the hint never pays."""

    def propose(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.broadcast_to(self.xl, x.shape).copy()


def test_registry_default_is_learning_and_paper_irla_kept():
    assert ALGORITHMS["pso-rl"] is LearningPSO and ALGORITHMS["irla-paper"] is IRLA
    assert get_algorithm("irla-paper").name == "irla-paper"
    with pytest.raises(ValueError, match="operators"):
        LearningPSO(operators=("search", "teleport"))


def test_same_seed_same_result_different_seed_different():
    a = LearningPSO().minimize(Sphere(8), 600, seed=5)
    b = LearningPSO().minimize(Sphere(8), 600, seed=5)
    c = LearningPSO().minimize(Sphere(8), 600, seed=6)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.info["picks"] == b.info["picks"] and a.info["q"] == b.info["q"]
    assert not np.array_equal(a.x, c.x) and a.f != c.f
    # a Generator passed in is the one source of the draws
    d = LearningPSO().minimize(Sphere(8), 600, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a.x, d.x)


def test_bandit_primitives():
    q = np.zeros((2, 3))
    bandit_update(q, np.array([0, 0, 1]), np.array([2, 2, 0]), np.array([1.0, 0.0, 1.0]), 0.5)
    np.testing.assert_allclose(q, [[0, 0, 0.25], [0.5, 0, 0]])  # mean reward 0.5 of (0, 2)
    rng = np.random.default_rng(0)
    op, p = softmax_choice(np.tile([0.0, 1.0, 0.5], (20000, 1)), 0.5, 0.05, rng)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0].min() >= 0.05
    # relative temperature: exp(-1) between the best and the half-best value, whatever the scale
    _, p2 = softmax_choice(np.array([[0.0, 1e-3, 0.5e-3]]), 0.5, 0.0, rng)
    np.testing.assert_allclose(p2[0, 2] / p2[0, 1], np.exp(-1.0))
    np.testing.assert_allclose(np.bincount(op, minlength=3) / len(op), p[0], atol=0.01)


def test_useless_operator_loses_its_share():
    """Credit assignment: a move that never improves anything is chosen less and less."""
    res = LearningPSO().minimize(UselessHint(6), 3000, seed=1)
    ops = res.info["operators"]
    h = ops.index("hint")
    share = np.array(res.info["share_history"])[:, h]
    n = len(share)
    quarters = [share[q * n // 4:(q + 1) * n // 4].mean() for q in range(4)]
    assert share[:3].mean() > 0.15  # a fair start (5 operators, equal values)
    assert quarters[3] < quarters[1] < quarters[0] and share[n // 2:].mean() < 0.06
    assert res.info["wins"]["hint"] <= 1  # a fresh-swarm particle may improve once by luck
    assert max(res.info["q"][s][h] for s in range(3)) < 0.05
    assert res.f < 1e-6  # and the search itself still works


def _vpp(name: str, wind, load) -> VppDayAheadData:
    return VppDayAheadData(
        name=name, dt_h=1.0, wind_fc_kw=np.asarray(wind, float), pv_fc_kw=np.zeros(len(load)),
        load_kw=np.asarray(load, float), costs=COSTS, buy_max_kw=500.0, sell_max_kw=500.0,
        voll_cny_per_kwh=10.0,
    )


@pytest.fixture(scope="module")
def small_market() -> DayAheadMarket:
    """Four periods, two complementary VPPs: the VPO has trades to net."""
    return DayAheadMarket(
        [_vpp("A", [300, 50, 250, 0], [100, 150, 80, 120]),
         _vpp("B", [0, 200, 30, 260], [180, 60, 200, 90])],
        np.array([0.9, 1.2, 0.7, 1.0]), np.array([0.3, 0.4, 0.2, 0.35]))


@pytest.mark.parametrize("objective", ["system_cost", "vpo_profit"])
def test_black_box_gap_to_exact_on_a_small_market(small_market, objective):
    """As a black box (no starting points) pso-rl reaches the exact reference (LP / MPEC)."""
    ref = exact_reference(small_market, objective)
    assert ref.proven_optimal
    for seed in range(3):
        res = solve_game(small_market, objective, "pso-rl", budget=600, seed=seed,
                         polish=False, precomputed_reference=ref)
        value = res.outcome.objective_value(objective)
        gap = value - ref.value_cny if objective == "system_cost" else ref.value_cny - value
        assert -1e-6 <= gap <= 1e-3 * abs(ref.value_cny), (seed, value, ref.value_cny)


def test_tie_broken_score_is_a_best_response_below_the_optimistic_value(small_market):
    """The score lies between each VPP's own vertex and the optimistic outcome (exact LP)."""
    plain = GameProblem(small_market, "vpo_profit", score="plain")
    tied = GameProblem(small_market, "vpo_profit")
    u = np.random.default_rng(2).random((40, 8))
    u[0] = tied.initial_points[0]  # the tariff passed through
    f_plain, f_tied = plain.evaluate(u), tied.evaluate(u)
    assert np.all(f_tied <= f_plain + 1e-9)
    for k in range(len(u)):
        cs, cb = tied.decode(u[k])
        assert -f_tied[k] <= optimistic_profit(small_market, cs, cb) + 1e-6
