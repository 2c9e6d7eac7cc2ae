"""Key performance indicators: the metric functions on hand-computed cases, the baseline
scenario (no coordination), and the baseline-vs-coordinated table of a run (issue 14)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vppsim import metrics

# ---------------------------------------------------------------- metrics, computed by hand


def test_renewable_utilization_by_hand() -> None:
    # available 10 + 20 + 30 = 60 kWh, used 10 + 15 + 5 = 30 kWh -> 0.5
    assert metrics.renewable_utilization([10, 15, 5], [10, 20, 30]) == pytest.approx(0.5, abs=1e-15)
    # nothing available: nothing was wasted
    assert metrics.renewable_utilization([0, 0], [0, 0]) == 1.0
    with pytest.raises(ValueError, match="finite"):
        metrics.renewable_utilization([np.nan], [1.0])


def test_load_factor_by_hand() -> None:
    # mean (2 + 4 + 6 + 8) / 4 = 5, peak 8 -> 0.625
    assert metrics.load_factor([2, 4, 6, 8]) == pytest.approx(0.625, abs=1e-15)
    assert metrics.load_factor([3, 3, 3]) == 1.0
    # one hour of 10 kW in a day of zeros: 10/24 / 10
    assert metrics.load_factor([10] + [0] * 23) == pytest.approx(1 / 24, abs=1e-15)
    assert math.isnan(metrics.load_factor([-1, -2]))


def test_peak_reduction_by_hand() -> None:
    # baseline peak 200 kW, coordinated 150 kW -> 25 % lower
    assert metrics.peak_reduction([100, 150], [200, 50]) == pytest.approx(0.25, abs=1e-15)
    # a higher peak is a negative reduction
    assert metrics.peak_reduction([240], [200]) == pytest.approx(-0.2, abs=1e-15)
    assert metrics.peak_kw([1.5, 7.25, -3.0]) == 7.25


def test_hours_outside_band_by_hand() -> None:
    vm_min = [0.95, 0.89, 0.91, np.nan, 0.85]
    vm_max = [1.00, 1.00, 1.11, np.nan, 1.20]
    # step 1 low, step 2 high, step 4 both (counted once), step 3 not converged: 3 steps
    assert metrics.hours_outside_band(vm_min, vm_max, 0.9, 1.1, step_h=1.0) == 3.0
    assert metrics.hours_outside_band(vm_min, vm_max, 0.9, 1.1, step_h=0.25) == 0.75
    # on the band's edge is inside
    assert metrics.hours_outside_band([0.9], [1.1], 0.9, 1.1, step_h=1.0) == 0.0
    with pytest.raises(ValueError, match="shape"):
        metrics.hours_outside_band([0.9, 0.9], [1.0], 0.9, 1.1, step_h=1.0)
