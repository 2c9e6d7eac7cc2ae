"""The day-ahead market value object (``vppsim.market.day_ahead``) and what builds it."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from market_cases import COSTS, PI_EXP, PI_IMP

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import VppDayAheadData
from vppsim.market.pricing import DayContext, passthrough
from vppsim.market.vpo_storage import VpoStorageData
from vppsim.scenario.schema import BatteryParams


def _vpp(name: str, n: int = 3, dt: float = 1.0) -> VppDayAheadData:
    return VppDayAheadData(
        name=name, dt_h=dt, wind_fc_kw=np.full(n, 50.0), pv_fc_kw=np.zeros(n),
        load_kw=np.full(n, 80.0), costs=COSTS, buy_max_kw=500.0, sell_max_kw=500.0,
        voll_cny_per_kwh=10.0,
    )


def _storage(soc_start_kwh: float = 50.0, cost: float = 0.02) -> VpoStorageData:
    params = BatteryParams(capacity_kwh=100, soc0=0.5, soc_min=0.1, soc_max=0.9, p_max_kw=50)
    return VpoStorageData(params, soc_start_kwh, cost_cny_per_kwh=cost)


def test_a_valid_market_keeps_its_data_checked_and_read_only():
    imp = PI_IMP.copy()
    m = DayAheadMarket([_vpp("A"), _vpp("B")], imp, PI_EXP, _storage())
    assert isinstance(m.vpps, tuple) and [d.name for d in m.vpps] == ["A", "B"]
    assert m.n_periods == 3 and m.dt_h == 1.0
    np.testing.assert_array_equal(m.pi_imp, PI_IMP)
    assert m.pi_imp.dtype == float and not m.pi_imp.flags.writeable
    with pytest.raises(ValueError):
        m.pi_exp[0] = 0.0
    imp[0] = 99.0  # the market holds its own copy
    assert m.pi_imp[0] == PI_IMP[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.storage = None  # type: ignore[misc]
    # a changed copy is validated again
    assert dataclasses.replace(m, storage=None).storage is None
    with pytest.raises(ValueError, match=r"DayAheadMarket\.pi_exp"):
        dataclasses.replace(m, pi_exp=PI_IMP + 0.1)


def test_equal_import_and_export_prices_are_allowed():
    m = DayAheadMarket([_vpp("A")], PI_IMP, PI_IMP)
    np.testing.assert_array_equal(m.pi_exp, m.pi_imp)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vpps": []}, "DayAheadMarket.vpps: expected at least one VPP"),
        ({"vpps": [_vpp("A"), _vpp("B"), _vpp("A")]},
         "DayAheadMarket.vpps: expected distinct VPP names; A appears more than once"),
        ({"vpps": [_vpp("A"), _vpp("B", n=4)]},
         "DayAheadMarket.vpps: expected every VPP to have dt_h = 1.0 h and 3 periods (as A); "
         "B has dt_h = 1.0 h and 4 periods"),
        ({"vpps": [_vpp("A"), _vpp("B", dt=0.5)]},
         "DayAheadMarket.vpps: expected every VPP to have dt_h = 1.0 h and 3 periods (as A); "
         "B has dt_h = 0.5 h and 3 periods"),
        ({"pi_imp": PI_IMP[:2]},
         "DayAheadMarket.pi_imp: expected a 1-D array of 3 periods (the VPPs' n_periods), "
         "got shape (2,)"),
        ({"pi_exp": np.tile(PI_EXP, (2, 1))},
         "DayAheadMarket.pi_exp: expected a 1-D array of 3 periods (the VPPs' n_periods), "
         "got shape (2, 3)"),
        ({"pi_imp": np.array([0.53, np.nan, 0.79])},
         "DayAheadMarket.pi_imp: expected finite prices (CNY/kWh)"),
        ({"pi_exp": np.array([0.40, 1.50, 0.80])},
         "DayAheadMarket.pi_exp: expected pi_exp <= pi_imp in every period; "
         "pi_exp > pi_imp in periods [1, 2]"),
        ({"storage": _storage(soc_start_kwh=95.0)},
         "DayAheadMarket.storage: expected soc_start_kwh in [10.0, 90.0] "
         "(soc_min..soc_max of the capacity), got 95.0"),
        ({"storage": _storage(cost=-0.01)},
         "DayAheadMarket.storage: expected cost_cny_per_kwh >= 0, got -0.01"),
    ],
)
def test_invalid_markets_name_the_field_and_what_was_expected(kwargs, message):
    args = {"vpps": [_vpp("A"), _vpp("B")], "pi_imp": PI_IMP, "pi_exp": PI_EXP, "storage": None}
    args.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        DayAheadMarket(**args)


def test_day_context_builds_the_market_and_allows_no_vpps_for_passthrough():
    ctx = DayContext(day=0, import_cny_per_kwh=PI_IMP, export_cny_per_kwh=PI_EXP,
                     vpps=(_vpp("A"),), vpo_storage=_storage())
    m = ctx.market
    assert m.vpps == ctx.vpps and m.storage is ctx.vpo_storage
    np.testing.assert_array_equal(m.pi_imp, PI_IMP)
    np.testing.assert_array_equal(m.pi_exp, PI_EXP)
    # VPPs of self-scheduling prosumers have no day-ahead LP: passthrough needs no market
    empty = DayContext(day=0, import_cny_per_kwh=PI_IMP, export_cny_per_kwh=PI_EXP, vpps=())
    np.testing.assert_array_equal(passthrough(empty).c_sell_cny_per_kwh, PI_IMP)
    with pytest.raises(ValueError, match="expected at least one VPP"):
        _ = empty.market
