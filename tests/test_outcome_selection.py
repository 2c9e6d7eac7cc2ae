"""A well-posed game outcome (selection rule) and both ends of the VPPs' ties, real HiGHS."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from market_cases import TIE_PI_EXP, TIE_PI_IMP, brute_force_ends, tiny_market

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import solve_game
from vppsim.market.lower_level import (
    solve_vpp_day_ahead,
)
from vppsim.market.reference import centralized_bound, exact_reference
from vppsim.market.selection import select_system_optimal
from vppsim.market.ties import tie_ends
from vppsim.market.vpo_storage import VpoStorageData
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import BatteryParams


@pytest.fixture(scope="module")
def tiny() -> DayAheadMarket:
    return tiny_market()


def _prices(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c_sell = TIE_PI_EXP + rng.random(3) * (TIE_PI_IMP - TIE_PI_EXP)
    c_buy = TIE_PI_EXP + rng.random(3) * (c_sell - TIE_PI_EXP)
    return c_sell, c_buy


def test_tie_ends_match_a_brute_force_over_the_grid_side(tiny):
    cases = [(TIE_PI_IMP, TIE_PI_EXP), ((TIE_PI_IMP + TIE_PI_EXP) / 2, (TIE_PI_IMP + TIE_PI_EXP) / 2),
             *[_prices(s) for s in range(4)]]
    for c_sell, c_buy in cases:
        ends = tie_ends(tiny, c_sell, c_buy)
        lowest, highest = brute_force_ends(tiny, c_sell, c_buy)
        assert ends.vpo_profit_pessimistic_cny == pytest.approx(lowest, abs=1e-6)
        assert ends.vpo_profit_optimistic_cny == pytest.approx(highest, abs=1e-6)
        assert ends.vpo_profit_pessimistic_cny <= ends.vpo_profit_optimistic_cny + 1e-9
        assert ends.system_cost_pessimistic_cny >= ends.system_cost_optimistic_cny - 1e-9
    ends = tie_ends(tiny, TIE_PI_IMP, TIE_PI_EXP)  # the battery's tie really matters here
    assert ends.vpo_profit_range_cny > 0.5


def test_pessimistic_end_with_vpo_storage_stays_below_the_optimistic_end(tiny):
    st = VpoStorageData(BatteryParams(capacity_kwh=40, soc0=0.5, soc_min=0.1, soc_max=0.9,
                                      p_max_kw=10), 20.0, 0.01)
    market = dataclasses.replace(tiny, storage=st)
    for c_sell, c_buy in [(TIE_PI_IMP, TIE_PI_EXP), _prices(7)]:
        ends = tie_ends(market, c_sell, c_buy)
        assert ends.storage_rule is not None
        assert ends.vpo_profit_pessimistic_cny <= ends.vpo_profit_optimistic_cny + 1e-9


def _check_selection(market: DayAheadMarket) -> tuple[float, float]:
    """Selected outcome: system optimum, best responses, IR, box. Returns (profit, IR cap)."""
    sel = select_system_optimal(market)
    o = sel.outcome
    bound = centralized_bound(market).system_cost_cny
    assert o.system_cost_cny == pytest.approx(bound, abs=1e-6 * max(1.0, abs(bound)))
    c_sell, c_buy = o.c_sell_cny_per_kwh, o.c_buy_cny_per_kwh
    assert np.all(market.pi_exp <= c_buy + 1e-12) and np.all(c_buy <= c_sell + 1e-12)
    assert np.all(c_sell <= market.pi_imp + 1e-12)
    for d in market.vpps:
        again = solve_vpp_day_ahead(d, c_sell, c_buy).cost_cny  # a fresh best response
        assert o.vpp_cost_cny[d.name] == pytest.approx(again, abs=1e-6)
        assert o.vpp_cost_cny[d.name] <= sel.model1_vpp_cost_cny[d.name] + 1e-6  # IR
    return o.vpo_profit_cny, sum(sel.model1_vpp_cost_cny.values()) - bound


def test_selection_is_a_best_response_split_that_reaches_the_ir_cap(tiny):
    profit, ir_cap = _check_selection(tiny)
    # IR caps the VPO's profit at sum(Model 1 costs) - centralized bound; here it is reached
    assert ir_cap > 1.0
    assert profit == pytest.approx(ir_cap, abs=1e-6)


@pytest.fixture(scope="module")
def liu3() -> DayAheadMarket:
    model = VPPModel(load_scenario(default_scenario_path()))
    return DayAheadMarket([v.day_ahead_data(0) for v in model.vpps],
                          model.tariff.import_cny_per_kwh[:24],
                          model.tariff.export_cny_per_kwh[:24])


def test_selection_on_the_3vpp_day_gives_the_stackelberg_profit(liu3):
    profit, _ = _check_selection(liu3)
    # independent figures (issue 12: separately written LP and MPEC): bound 12,660.2763 CNY,
    # Stackelberg optimum 256.4900 CNY, which no split can exceed
    assert centralized_bound(liu3).system_cost_cny == pytest.approx(12660.2763, abs=1e-4)
    assert profit == pytest.approx(256.4900, abs=1e-4)


def test_3vpp_tie_ends_at_the_tariff_passed_through(liu3):
    ends = tie_ends(liu3, liu3.pi_imp, liu3.pi_exp)
    assert ends.vpo_profit_optimistic_cny == pytest.approx(256.49, abs=5e-3)
    assert ends.vpo_profit_pessimistic_cny == pytest.approx(174.47, abs=5e-3)


def _same_split(a, b) -> None:
    assert a.outcome.vpo_profit_cny == pytest.approx(b.outcome.vpo_profit_cny, abs=1e-6)
    for name, cost in a.outcome.vpp_cost_cny.items():
        assert b.outcome.vpp_cost_cny[name] == pytest.approx(cost, abs=1e-6)
    assert a.ties is not None and b.ties is not None
    assert a.ties.vpo_profit_pessimistic_cny <= a.ties.vpo_profit_optimistic_cny + 1e-9


@pytest.mark.parametrize("market_name", ["tiny", "liu3"])
def test_solvers_reaching_the_system_optimum_report_the_same_split(market_name, request):
    market = request.getfixturevalue(market_name)
    ref = exact_reference(market, "system_cost")
    runs = [solve_game(market, "system_cost", s, budget=200, seed=1, precomputed_reference=ref)
            for s in ("exact", "pso")]
    for r in runs:
        assert r.outcome.system_cost_cny == pytest.approx(ref.value_cny, rel=1e-6)
        assert r.selection.startswith("centralized optimum")
    _same_split(*runs)


def test_solvers_reaching_the_leaders_optimum_report_the_same_split(tiny):
    ref = exact_reference(tiny, "vpo_profit")
    runs = [solve_game(tiny, "vpo_profit", s, budget=200, seed=1, precomputed_reference=ref)
            for s in ("exact", "pso-rl")]
    for r in runs:
        assert r.outcome.vpo_profit_cny == pytest.approx(ref.value_cny, rel=1e-6)
    _same_split(*runs)
    assert runs[0].model1_ties is not None
