"""Unit tests of agent physics, the tariff and the merit-order allocator."""

import pickle

import numpy as np
import pytest

from vppsim.agents.loads import reserve_period
from vppsim.agents.renewables import pv_power_kw, pv_rated_kw, wind_power_kw
from vppsim.allocation.realtime import (
    ALLOCATORS,
    BalancedAllocator,
    BalanceInputs,
    MeritOrderAllocator,
    get_allocator,
    merit_order,
)
from vppsim.market.settlement import settle_grid, settle_vpp
from vppsim.market.tariff import Tariff
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import PVParams


def test_wind_power_curve_regions():
    v = np.array([0.0, 2.99, 3.0, 7.5, 12.0, 20.0, 24.99, 25.0, 30.0])
    p = wind_power_kw(v, rated_kw=100.0, cut_in_m_s=3.0, rated_m_s=12.0, cut_out_m_s=25.0)
    np.testing.assert_allclose(p, [0, 0, 0, 50.0, 100, 100, 100, 0, 0])


def test_pv_model_matches_hand_calculation():
    params = PVParams(panels=10, panel_area_m2=2.0, eta_ref=0.2, eta_pc=0.9,
                      temp_coeff_per_c=0.004, t_ref_c=25.0, noct_c=45.0,
                      irradiance="g", temperature="t")
    g, ta = 800.0, 20.0
    t_cell = ta + (45 - 20) / 800 * g  # 45 C
    expected = 10 * 2.0 * 0.2 * 0.9 * (1 - 0.004 * (t_cell - 25)) * g / 1000
    assert pv_power_kw(g, ta, params) == pytest.approx(expected, rel=1e-12)
    assert pv_power_kw(0.0, ta, params) == 0.0
    assert pv_rated_kw(params) == pytest.approx(10 * 2.0 * 0.2 * 0.9)


@pytest.mark.parametrize(
    ("hour", "period"),
    [(0, "low"), (6, "low"), (7, "shoulder"), (8, "morning_peak"), (11, "morning_peak"),
     (12, "shoulder"), (18, "shoulder"), (19, "evening_peak"), (20, "evening_peak"),
     (21, "shoulder"), (23, "shoulder")],
)
def test_controllable_load_reserve_periods(hour, period):
    assert reserve_period(hour) == period


def test_tariff_expands_paper_table3():
    s = load_scenario(default_scenario_path()).scenario
    tariff = Tariff.from_spec(s.tariff, 48, 1.0)
    assert tariff.import_cny_per_kwh[13] == 1.40 and tariff.export_cny_per_kwh[13] == 1.04
    assert tariff.import_cny_per_kwh[3] == 0.53 and tariff.import_cny_per_kwh[27] == 0.53
    assert tariff.import_cny_per_kwh[9] == 0.79
    assert np.all(tariff.export_cny_per_kwh <= tariff.import_cny_per_kwh)
    quarter = Tariff.from_spec(s.tariff, 96, 0.25)
    np.testing.assert_array_equal(quarter.import_cny_per_kwh[::4], tariff.import_cny_per_kwh[:24])


def test_settlement_signs():
    s = settle_vpp(10.0, 0.0, 2.0, c_sell=1.0, c_buy=0.5, penalty=0.1, dt_h=1.0)
    assert s.day_ahead_cny == 10.0 and s.imbalance_cny == pytest.approx(2.2)
    s = settle_vpp(0.0, 4.0, -2.0, c_sell=1.0, c_buy=0.5, penalty=0.1, dt_h=0.5)
    assert s.day_ahead_cny == -1.0 and s.imbalance_cny == pytest.approx(-0.45)
    assert settle_grid(5.0, 1.4, 1.04, 1.0) == (5.0, 0.0, pytest.approx(5.2))
    assert settle_grid(-5.0, 1.4, 1.04, 1.0) == (0.0, 5.0, pytest.approx(-7.0))


def _inputs(**kw):
    base = dict(
        dt_h=1.0, wind_available_kw=np.array([50.0]), pv_available_kw=np.array([30.0]),
        wind_planned_curtail_kw=0.0, pv_planned_curtail_kw=0.0, mu_wind=0.5, mu_pv=0.4,
        demand_kw=np.array([100.0]), battery_planned_kw=np.array([0.0]),
        battery_min_kw=np.array([-20.0]), battery_max_kw=np.array([20.0]),
        gen_planned_kw=np.zeros(0), gen_limits_kw=np.zeros((0, 2)),
        gen_marginal_cny_per_kwh=np.zeros(0), curtailable_kw=np.array([5.0]),
        load_curtail_planned_kw=np.array([0.0]), curtail_cost_cny_per_kwh=np.array([0.9]),
        net_buy_planned_kw=20.0, buy_max_kw=30.0, sell_max_kw=30.0,
    )
    base.update(kw)
    return BalanceInputs(**base)


def _balance(x, out):
    return (out.wind_kw.sum() + out.pv_kw.sum() + out.battery_kw.sum() + out.gen_kw.sum()
            + out.net_buy_kw + out.load_curtail_kw.sum() + out.unmet_kw - out.spill_kw
            - x.demand_kw.sum())


def test_merit_order_reproduces_plan_without_error():
    x = _inputs()
    out = merit_order(x)
    assert out.net_buy_kw == 20.0 and out.battery_kw[0] == 0.0 and out.unmet_kw == 0.0
    assert _balance(x, out) == pytest.approx(0.0, abs=1e-12)


def test_merit_order_deficit_order_battery_then_load_then_exchange_then_unmet():
    x = _inputs(demand_kw=np.array([200.0]))  # 100 kW short of the plan
    out = merit_order(x)
    assert out.battery_kw[0] == 20.0  # battery first
    assert out.load_curtail_kw[0] == 5.0  # then controllable load
    assert out.net_buy_kw == 30.0  # then the exchange up to its limit
    assert out.unmet_kw == pytest.approx(100 - 20 - 5 - 10)
    assert _balance(x, out) == pytest.approx(0.0, abs=1e-12)


def test_merit_order_surplus_curtails_cheapest_curtailment_last_resort():
    x = _inputs(demand_kw=np.array([10.0]))  # 90 kW surplus
    out = merit_order(x)
    assert out.battery_kw[0] == -20.0  # charge first
    assert out.net_buy_kw == -30.0  # then sell up to the limit
    # 90 - 20 - 50 = 20 kW to curtail: PV (mu 0.4) before wind (mu 0.5)
    assert out.pv_kw.sum() == pytest.approx(10.0) and out.wind_kw.sum() == pytest.approx(50.0)
    assert out.spill_kw == 0.0
    assert _balance(x, out) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- balanced allocators (paper 001)

BALANCED = ["ga-aco", "exact", "proportional"]


@pytest.mark.parametrize("name", BALANCED)
def test_balanced_allocators_reproduce_plan_without_error(name):
    x = _inputs()  # supply = demand at the plan: nothing to re-allocate
    out = get_allocator(name)([x], [1])[0]
    assert out.net_buy_kw == 20.0 and out.battery_kw[0] == 0.0 and out.unmet_kw == 0.0
    assert out.info["allocation_required_kw"] == 0.0
    assert _balance(x, out) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", BALANCED)
@pytest.mark.parametrize("demand", [112.0, 200.0, 70.0, 10.0])
def test_balanced_allocators_use_members_before_the_exchange(name, demand):
    """A deficit within the members' headroom (battery 20, load 5) never touches the exchange;
    beyond it the exchange takes the rest, then unmet demand; a surplus is absorbed by
    charging and curtailing before any extra sale; balance holds, bounds hold."""
    x = _inputs(demand_kw=np.array([demand]))
    out = get_allocator(name)([x], [7])[0]
    assert _balance(x, out) == pytest.approx(0.0, abs=1e-9)
    assert x.battery_min_kw[0] - 1e-9 <= out.battery_kw[0] <= x.battery_max_kw[0] + 1e-9
    assert 0.0 <= out.load_curtail_kw[0] <= 5.0 + 1e-9
    assert (out.wind_kw <= x.wind_available_kw + 1e-9).all()
    assert (out.pv_kw <= x.pv_available_kw + 1e-9).all()
    need = demand - 100.0
    if 0 < need <= 25:
        assert out.net_buy_kw == 20.0 and out.unmet_kw == 0.0
        assert out.battery_kw[0] + out.load_curtail_kw[0] == pytest.approx(need, abs=1e-9)
    elif need > 25:  # 100 kW short: 25 from members, 10 more bought, 65 unmet
        assert out.net_buy_kw == pytest.approx(30.0)
        assert out.unmet_kw == pytest.approx(need - 25 - 10, abs=1e-9)
    else:  # surplus of 30 or 90 kW: members (charge 20 + curtail 80) before any extra sale
        assert out.net_buy_kw == 20.0 and out.spill_kw == 0.0
    assert out.info["allocation_headroom_kw"] > 0.0


def test_ga_aco_allocator_close_to_exact_and_same_alone_or_batched():
    xs = [_inputs(demand_kw=np.array([d]), curtailable_kw=np.array([c]))
          for d, c in [(112.0, 5.0), (118.0, 15.0), (60.0, 0.0), (95.0, 10.0), (121.0, 30.0)]]
    keys = [11, 12, 13, 14, 15]
    batched = get_allocator("ga-aco")(xs, keys)
    alone = [get_allocator("ga-aco")([x], [k])[0] for x, k in zip(xs, keys, strict=True)]
    exact = get_allocator("exact")(xs, keys)
    for b, a, e in zip(batched, alone, exact, strict=True):
        np.testing.assert_array_equal(b.battery_kw, a.battery_kw)
        np.testing.assert_array_equal(b.load_curtail_kw, a.load_curtail_kw)
        assert b.net_buy_kw == a.net_buy_kw
        # the reported gap is to the LP optimum of the same problem, and never negative
        assert b.info["allocation_gap_cny_per_kwh"] >= -1e-9
        assert b.info["allocation_exact_objective_cny_per_kwh"] == pytest.approx(
            e.info["allocation_objective_cny_per_kwh"], abs=1e-12)
        assert b.info["allocation_gap_cny_per_kwh"] <= 1e-3


@pytest.mark.parametrize("name", sorted(ALLOCATORS))
@pytest.mark.parametrize("exact_reference", [True, False])
def test_allocators_pickle_round_trip(name, exact_reference):
    """Allocators are shipped to Dask workers: a pickled copy equals and acts as the original."""
    alloc = get_allocator(name, exact_reference=exact_reference)
    copy = pickle.loads(pickle.dumps(alloc))
    assert copy == alloc and type(copy) is type(alloc)
    assert copy.exact_reference is exact_reference
    x = _inputs(demand_kw=np.array([112.0]))
    a, b = alloc([x], [3])[0], copy([x], [3])[0]
    np.testing.assert_array_equal(a.battery_kw, b.battery_kw)
    np.testing.assert_array_equal(a.load_curtail_kw, b.load_curtail_kw)
    assert a.net_buy_kw == b.net_buy_kw


def test_allocator_registry_and_errors():
    assert isinstance(get_allocator("merit-order"), MeritOrderAllocator)
    for name in ("ga-aco", "exact", "proportional"):
        alloc = get_allocator(name, exact_reference=False)
        assert isinstance(alloc, BalancedAllocator)
        assert alloc.method == name and alloc.exact_reference is False
        x = _inputs(demand_kw=np.array([118.0]))
        same = BalancedAllocator(name, exact_reference=False)([x], [5])[0]
        np.testing.assert_array_equal(alloc([x], [5])[0].battery_kw, same.battery_kw)
    with pytest.raises(ValueError, match="merit-order"):
        get_allocator("greedy")
    with pytest.raises(ValueError, match="ga-aco"):
        BalancedAllocator("simplex")
