"""Test data shared by the market tests: a VPP cost set and a three-period tariff."""

import numpy as np

from vppsim.scenario.schema import VppCostSpec

COSTS = VppCostSpec(
    mu1_wind_curtail_cny_per_kwh=0.5, mu2_pv_curtail_cny_per_kwh=0.5,
    lam1_battery_cny_per_kwh=0.05, lam2_wind_om_cny_per_kwh=0.3, lam3_pv_om_cny_per_kwh=0.35,
    w_b_purchase_cny_per_kwh=0.03, w_bat_battery_cny_per_kwh=0.02,
)
#: the MPEC tests' cost set (tests/test_mpec.py, tests/test_mpec_fast.py): the shipped O&M costs
MPEC_COSTS = VppCostSpec(
    mu1_wind_curtail_cny_per_kwh=0.5, mu2_pv_curtail_cny_per_kwh=0.5,
    lam1_battery_cny_per_kwh=0.05, lam2_wind_om_cny_per_kwh=0.58, lam3_pv_om_cny_per_kwh=0.68,
    w_b_purchase_cny_per_kwh=0.03, w_bat_battery_cny_per_kwh=0.02,
)
PI_IMP = np.array([0.53, 1.40, 0.79])
PI_EXP = np.array([0.40, 1.04, 0.72])
