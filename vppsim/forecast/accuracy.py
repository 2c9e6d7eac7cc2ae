"""Forecast accuracy: mean absolute error, root mean square error, mean absolute percentage error.

All three compare ``actual`` and ``forecast`` arrays of the same shape, in the unit of the
quantity (kW for loads), except MAPE, which is in percent.
"""

from __future__ import annotations

import numpy as np

#: MAPE skips actual values whose magnitude is at most this (kW): a percentage of ~0 is undefined
MAPE_ZERO_GUARD = 1e-9


def _pair(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if a.shape != f.shape or a.size == 0:
        raise ValueError(f"expected two non-empty arrays of one shape, got {a.shape} and {f.shape}")
    return a, f


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error ``mean|f - a|``, in the unit of the data."""
    a, f = _pair(actual, forecast)
    return float(np.mean(np.abs(f - a)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean square error ``sqrt(mean (f - a)^2)``, in the unit of the data."""
    a, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((f - a) ** 2)))


def mape(actual: np.ndarray, forecast: np.ndarray, zero_guard: float = MAPE_ZERO_GUARD) -> float:
    """Mean absolute percentage error ``100 * mean |f - a| / |a|``, percent.

    Zero guard: periods with ``|a| <= zero_guard`` are left out of the mean (their percentage
    error is undefined); if every period is left out the result is ``nan``.
    """
    a, f = _pair(actual, forecast)
    keep = np.abs(a) > zero_guard
    if not keep.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(f[keep] - a[keep]) / np.abs(a[keep])))
