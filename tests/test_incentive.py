"""The epsilon-incentive (vppsim.market.incentive): real HiGHS, checked by independent solves."""

from __future__ import annotations

import json

import numpy as np
import pytest
from market_cases import TIE_PI_EXP, TIE_PI_IMP, brute_force_ends, tiny_market

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import solve_game
from vppsim.market.incentive import epsilon_incentive, marginal_grid_price, shifted_prices
from vppsim.market.lower_level import solve_vpp_day_ahead
from vppsim.market.outcome import outcome_at, vpo_profit_cny
from vppsim.market.ties import tie_ends
from vppsim.model import VPPModel
from vppsim.paths import data_dir
from vppsim.results.game import game_summary, incentive_lines
from vppsim.scenario.loader import load_scenario


def _plain_profit(market: DayAheadMarket, c_sell: np.ndarray, c_buy: np.ndarray) -> float:
    """The VPO's profit when every VPP takes its own HiGHS answer (one point of each face)."""
    s = [solve_vpp_day_ahead(d, c_sell, c_buy) for d in market.vpps]
    g = np.sum([x.buy_kw for x in s], axis=0)
    e = np.sum([x.sell_kw for x in s], axis=0)
    return float(vpo_profit_cny(c_sell, c_buy, g, e, market.pi_imp, market.pi_exp, market.dt_h))


def test_shifted_prices_stay_in_the_box_and_keep_their_order():
    rng = np.random.default_rng(3)
    for _ in range(20):
        c_sell = TIE_PI_EXP + rng.random(3) * (TIE_PI_IMP - TIE_PI_EXP)
        c_buy = TIE_PI_EXP + rng.random(3) * (c_sell - TIE_PI_EXP)
        pi_m = TIE_PI_EXP + rng.random(3) * (TIE_PI_IMP - TIE_PI_EXP)
        for eps in (0.0, 0.3, 1.0):
            cs, cb = shifted_prices(c_sell, c_buy, pi_m, eps)
            assert np.all(cs >= TIE_PI_EXP - 1e-12) and np.all(cs <= TIE_PI_IMP + 1e-12)
            assert np.all(cb >= TIE_PI_EXP - 1e-12) and np.all(cb <= TIE_PI_IMP + 1e-12)
            assert np.all(cb <= cs + 1e-12)
            np.testing.assert_allclose(cs - cb, (1 - eps) * (c_sell - c_buy), atol=1e-12)
        np.testing.assert_allclose(shifted_prices(c_sell, c_buy, pi_m, 1.0), (pi_m, pi_m))


def test_a_small_incentive_removes_the_batterys_tie():
    """The tie market: the battery VPP may charge in period 0 or 1; the VPO wants period 0."""
    market = tiny_market()
    o = outcome_at(market, TIE_PI_IMP, TIE_PI_EXP)
    # at the tariff passed through, intended: the battery takes VPP B's wind in period 0 (the
    # VPO is balanced there: midpoint price), the VPO imports in period 1
    np.testing.assert_allclose(marginal_grid_price(market, o)[:2], [0.45, 0.5])
    inc = epsilon_incentive(market, o)
    low, high = brute_force_ends(market, TIE_PI_IMP, TIE_PI_EXP)  # enumeration, no binaries
    assert inc.vpo_profit_intended_cny == pytest.approx(high, abs=1e-6)
    assert inc.vpo_profit_pessimistic_cny == pytest.approx(low, abs=1e-6)
    assert high - low > 0.5  # the tie matters
    assert inc.closed and 0.0 < inc.epsilon <= 1e-4
    assert inc.max_price_shift_cny_per_kwh <= inc.epsilon * np.max(TIE_PI_IMP - TIE_PI_EXP) + 1e-12
    # at the shifted prices the enumeration finds a single VPO profit, the intended one less
    # the margin shared, and each VPP's own HiGHS answer reaches it
    cs, cb = inc.c_sell_cny_per_kwh, inc.c_buy_cny_per_kwh
    low_s, high_s = brute_force_ends(market, cs, cb)
    assert high_s - low_s <= 1e-4
    assert inc.vpo_profit_robust_cny == pytest.approx(low_s, abs=1e-6)
    assert _plain_profit(market, cs, cb) == pytest.approx(inc.vpo_profit_robust_cny, abs=1e-4)
    assert 0.0 <= inc.cost_cny <= 1e-2


@pytest.fixture(scope="module")
def liu3() -> DayAheadMarket:
    return VPPModel(load_scenario(data_dir("scenarios") / "liu2025_3vpp.yaml")).day_ahead_market(0)


def test_incentive_on_the_3vpp_day_is_bracketed_by_the_tie_ends(liu3):
    o = outcome_at(liu3, liu3.pi_imp, liu3.pi_exp)
    inc = epsilon_incentive(liu3, o)
    # the tie ends at the tariff passed through (issue 12: [174.47, 256.49])
    assert inc.vpo_profit_intended_cny == pytest.approx(256.49, abs=5e-3)
    assert inc.vpo_profit_pessimistic_cny == pytest.approx(174.47, abs=5e-3)
    # epsilon = 0 is on the grid, so the incentive never guarantees less than doing nothing
    assert inc.vpo_profit_pessimistic_cny - 1e-6 <= inc.vpo_profit_robust_cny
    assert inc.vpo_profit_robust_cny <= inc.vpo_profit_intended_cny + 1e-6
    cs, cb = inc.c_sell_cny_per_kwh, inc.c_buy_cny_per_kwh
    assert np.all(cs <= liu3.pi_imp + 1e-12) and np.all(cb >= liu3.pi_exp - 1e-12)
    assert np.all(cb <= cs + 1e-12)
    # the robust profit is the pessimistic end at the shifted prices, recomputed from scratch;
    # each VPP's own answer is one point of its face, so it cannot do worse for the VPO
    assert tie_ends(liu3, cs, cb).vpo_profit_pessimistic_cny == pytest.approx(
        inc.vpo_profit_robust_cny, abs=1e-6)
    assert _plain_profit(liu3, cs, cb) >= inc.vpo_profit_robust_cny - 1e-4
    if not inc.closed:
        assert inc.tie_gap_cny > 1e-4


def test_the_game_reports_the_incentive_when_asked(liu3):
    res = solve_game(liu3, solver="exact", objective="system_cost", robust=True)
    assert res.incentive is not None and res.ties is not None
    assert res.incentive.vpo_profit_intended_cny == pytest.approx(
        res.ties.vpo_profit_optimistic_cny, abs=1e-6)
    assert res.incentive.vpo_profit_pessimistic_cny == pytest.approx(
        res.ties.vpo_profit_pessimistic_cny, abs=1e-6)
    summary = json.loads(json.dumps(game_summary(res, "liu3", liu3.pi_imp, liu3.pi_exp, 1.0)))
    assert summary["epsilon_incentive"]["vpo_profit_robust_cny"] == pytest.approx(
        res.incentive.vpo_profit_robust_cny)
    assert any("guaranteed with the incentive" in line for line in incentive_lines(res.incentive))
    assert solve_game(liu3, solver="exact", objective="system_cost").incentive is None
