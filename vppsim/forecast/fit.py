"""Fit the forecast-error model from a profile and a naive forecast of it.

The scenario's error model (``forecast_error:``, :mod:`vppsim.forecast.uncertainty`) draws
relative errors ``eps`` with ``actual = forecast * (1 + eps)``. Given a measured profile
(a SimBench PV or load column, any CSV column) and a *naive* forecast of it, the errors that
forecast would have made are ``eps[t] = actual[t] / forecast[t] - 1``, and their statistics
give the model's parameters:

- naive forecasts (:func:`naive_forecast`): ``persistence`` (the same step one day earlier)
  or ``average`` (the mean of the same step over the last ``k_days`` days);
- the steps used: where the forecast is at least ``min_fraction`` (default 5 %) of the
  series' peak, so that relative errors stay defined (for PV: the daylight steps);
- the statistic (:func:`fit_relative_errors`, pooled over every series of one quantity):
  ``sd`` = the sample standard deviation (ddof 1) of ``eps``; the model's ``normal`` takes
  ``sd`` as its parent normal's, truncated at ``clip_sd``, so the fitted ``normal_sd`` is
  ``sd`` divided by the truncated normal's standard deviation factor (the draws then have
  the measured spread); the ``uniform`` band with the same standard deviation is
  ``sqrt(3) * sd``; ``autocorrelation`` is the lag-1 correlation of ``eps`` over consecutive
  used steps (of the errors themselves, an approximation of the model's Gaussian-score AR(1)
  coefficient); ``bias`` (the mean of ``eps``) is reported, not modelled.

Values outside the scenario schema's ranges (``band <= 1``, ``sd <= 5``,
``autocorrelation < 1``) are clipped to them and the fit says so (``clipped``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the naive forecasts :func:`naive_forecast` makes
NAIVE_METHODS = ("persistence", "average")

#: schema bounds of the error model (vppsim.scenario.schema.ErrorModelSpec)
MAX_BAND = 1.0
MAX_SD = 5.0
MAX_AUTOCORRELATION = 0.99


def naive_forecast(values: np.ndarray, steps_per_day: int, method: str = "persistence",
                   k_days: int = 1) -> np.ndarray:
    """The naive day-ahead forecast of ``values`` (NaN where it has no history).

    ``persistence``: ``values[t - steps_per_day]``; ``average``: the mean of
    ``values[t - j * steps_per_day]`` for ``j = 1..k_days`` (``average`` with one day is
    persistence).
    """
    if method not in NAIVE_METHODS:
        raise ValueError(f"method: expected one of {NAIVE_METHODS}, got {method!r}")
    if steps_per_day < 1 or k_days < 1:
        raise ValueError(f"expected steps_per_day >= 1 and k_days >= 1, got {steps_per_day}, {k_days}")
    x = np.asarray(values, dtype=float)
    k = 1 if method == "persistence" else k_days
    out = np.full(x.shape, np.nan)
    lag = k * steps_per_day
    if x.size > lag:
        out[lag:] = np.mean([x[lag - j * steps_per_day: x.size - j * steps_per_day]
                             for j in range(1, k + 1)], axis=0)
    return out


def relative_errors(actual: np.ndarray, forecast: np.ndarray, min_fraction: float = 0.05
                    ) -> np.ndarray:
    """``actual / forecast - 1`` where usable, NaN elsewhere.

    Usable: both finite and the forecast at least ``min_fraction`` of the peak of ``actual``.
    """
    a = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    peak = float(np.nanmax(np.abs(a))) if np.isfinite(a).any() else 0.0
    ok = np.isfinite(a) & np.isfinite(f) & (f >= min_fraction * peak) & (f > 0.0)
    eps = np.full(a.shape, np.nan)
    eps[ok] = a[ok] / f[ok] - 1.0
    return eps


def truncated_sd_factor(clip_sd: float) -> float:
    """Standard deviation of ``N(0, 1)`` truncated to ``+-clip_sd``."""
    c = float(clip_sd)
    pdf = math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)
    mass = math.erf(c / math.sqrt(2.0))
    return math.sqrt(1.0 - 2.0 * c * pdf / mass)


@dataclass(frozen=True)
class ErrorFit:
    """The fitted error statistics of one quantity (see the module docstring)."""

    quantity: str
    n: int
    bias: float
    sd: float
    autocorrelation: float
    normal_sd: float
    uniform_band: float
    clip_sd: float = 3.0
    clipped: tuple[str, ...] = field(default_factory=tuple)

    def spec(self, kind: str) -> dict[str, Any]:
        """The ``forecast_error.<quantity>`` block of kind ``normal`` or ``uniform``."""
        if kind == "uniform":
            return {"kind": "uniform", "band": round(self.uniform_band, 4),
                    "autocorrelation": round(self.autocorrelation, 4)}
        if kind == "normal":
            return {"kind": "normal", "sd": round(self.normal_sd, 4), "clip_sd": self.clip_sd,
                    "autocorrelation": round(self.autocorrelation, 4)}
        raise ValueError(f"kind: expected 'normal' or 'uniform', got {kind!r}")


def _lag1(eps: Sequence[np.ndarray]) -> float:
    """Lag-1 correlation of consecutive finite errors, pooled over the series."""
    a, b = [], []
    for e in eps:
        ok = np.isfinite(e[:-1]) & np.isfinite(e[1:])
        a.append(e[:-1][ok])
        b.append(e[1:][ok])
    x, y = np.concatenate(a) if a else np.array([]), np.concatenate(b) if b else np.array([])
    if x.size < 3 or x.std() == 0.0 or y.std() == 0.0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def fit_relative_errors(quantity: str, eps: Sequence[np.ndarray], clip_sd: float = 3.0) -> ErrorFit:
    """Fit one quantity's error model from its relative errors (one array per series, NaN: unused).

    Raises
    ------
    ValueError
        Fewer than two finite errors.
    """
    values = np.concatenate([np.asarray(e, dtype=float).ravel() for e in eps]) if eps else np.array([])
    values = values[np.isfinite(values)]
    if values.size < 2:
        raise ValueError(f"{quantity}: expected at least 2 steps with a naive forecast, got "
                         f"{values.size}")
    sd = float(values.std(ddof=1))
    rho = _lag1([np.asarray(e, dtype=float).ravel() for e in eps])
    clipped = []
    normal_sd = sd / truncated_sd_factor(clip_sd)
    band = math.sqrt(3.0) * sd
    if normal_sd > MAX_SD:
        clipped.append(f"normal sd {normal_sd:.4g} -> {MAX_SD}")
        normal_sd = MAX_SD
    if band > MAX_BAND:
        clipped.append(f"uniform band {band:.4g} -> {MAX_BAND}")
        band = MAX_BAND
    if not 0.0 <= rho <= MAX_AUTOCORRELATION:
        new = min(max(rho, 0.0), MAX_AUTOCORRELATION)
        clipped.append(f"autocorrelation {rho:.4g} -> {new}")
        rho = new
    return ErrorFit(quantity=quantity, n=int(values.size), bias=float(values.mean()), sd=sd,
                    autocorrelation=rho, normal_sd=normal_sd, uniform_band=band,
                    clip_sd=float(clip_sd), clipped=tuple(clipped))


def fit_profiles(series: Sequence[tuple[str, np.ndarray]], steps_per_day: int,
                 method: str = "persistence", k_days: int = 1, min_fraction: float = 0.05,
                 clip_sd: float = 3.0) -> dict[str, ErrorFit]:
    """Fit every quantity from ``(quantity, profile)`` pairs (e.g. ``("pv", kW per step)``).

    Each profile is forecast by :func:`naive_forecast` and its relative errors are taken
    where the forecast is at least ``min_fraction`` of its peak; the errors of the profiles of
    one quantity are pooled (:func:`fit_relative_errors`).
    """
    by_quantity: dict[str, list[np.ndarray]] = {}
    for quantity, values in series:
        x = np.asarray(values, dtype=float)
        eps = relative_errors(x, naive_forecast(x, steps_per_day, method, k_days), min_fraction)
        by_quantity.setdefault(quantity, []).append(eps)
    return {q: fit_relative_errors(q, eps, clip_sd) for q, eps in by_quantity.items()}


def error_block(fits: Mapping[str, ErrorFit], kinds: Mapping[str, str]) -> dict[str, Any]:
    """The ``forecast_error:`` block: every fitted quantity with its kind (default ``normal``)."""
    return {q: f.spec(kinds.get(q, "normal")) for q, f in fits.items()}
