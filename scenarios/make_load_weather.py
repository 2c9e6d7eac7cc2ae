"""Write ``load_weather_hourly.csv``: a synthetic hourly load + weather year (issue 14).

The project has no real hourly load series with weather (the real-data issue is not built),
so ``vppsim forecast`` and the scenario option ``forecast:`` of a load member train on this
series. It is **synthetic**; its structure, all in this file:

- 365 days of 2023, hourly, local time without daylight saving: ``timestamp``,
  ``temperature_c``, ``humidity_pct``, ``load_kw``.
- Temperature: annual cycle (mean 12 C, +-10 C, coldest mid-January), daily cycle (+-4 C,
  warmest at 15:00) and AR(1) weather noise (coefficient 0.97 per hour, stationary sd 3 C).
- Relative humidity: 70 % falling by 15 points in the afternoon, 1.5 points lower per degree of
  temperature anomaly, AR(1) noise (0.9 per hour, sd 6 points), clipped to 15-100 %.
- Load: ``400 kW * daily shape * weekly factor`` (night 0.7, morning peak at 08:00, evening
  peak at 19:00; Saturday 0.9, Sunday 0.85) plus a heating branch ``12 kW/C * max(0, 15 - T)``
  and a cooling branch ``18 kW/C * max(0, T - 22)`` that grows by 1 % per humidity point
  above 60 % (``* (1 + 0.01 * (H - 60))``), plus AR(1) noise (0.8 per hour, sd 15 kW).

A linear model in temperature and humidity (paper 000 eq. 8) cannot follow the V-shaped
temperature response nor the daily cycle: that is the gap the stronger model should close.
Run ``python scenarios/make_load_weather.py`` to rewrite the file (seeded: same bytes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 14
DAYS = 365
START = "2023-01-01 00:00"


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) series with coefficient ``phi`` and standard deviation ``sd``."""
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    innov = rng.normal(0.0, sd * np.sqrt(1.0 - phi**2), n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + innov[t]
    return x


def daily_shape(hour: np.ndarray) -> np.ndarray:
    """Relative load by hour of day: night 0.7, peaks at 08:00 and 19:00."""
    return (0.7 + 0.25 * np.exp(-(((hour - 8.0) / 2.0) ** 2))
            + 0.4 * np.exp(-(((hour - 19.0) / 2.5) ** 2))
            + 0.1 * ((hour >= 9) & (hour <= 17)))


def make_series(seed: int = SEED, days: int = DAYS) -> pd.DataFrame:
    """The synthetic series (see the module docstring for its structure)."""
    rng = np.random.default_rng(seed)
    n = 24 * days
    stamps = pd.date_range(START, periods=n, freq="h")
    hour = stamps.hour.to_numpy(dtype=float)
    doy = stamps.dayofyear.to_numpy(dtype=float)
    weekday = stamps.dayofweek.to_numpy()
    anomaly = _ar1(rng, n, 0.97, 3.0)
    temp_c = (12.0 - 10.0 * np.cos(2 * np.pi * (doy - 15.0) / 365.0)
              + 4.0 * np.cos(2 * np.pi * (hour - 15.0) / 24.0) + anomaly)
    hum_pct = np.clip(70.0 - 15.0 * np.exp(-(((hour - 15.0) / 4.0) ** 2)) - 1.5 * anomaly
                      + _ar1(rng, n, 0.9, 6.0), 15.0, 100.0)
    weekly = np.select([weekday == 5, weekday == 6], [0.9, 0.85], 1.0)
    heating_kw = 12.0 * np.maximum(0.0, 15.0 - temp_c)
    cooling_kw = 18.0 * np.maximum(0.0, temp_c - 22.0) * (1.0 + 0.01 * (hum_pct - 60.0))
    load_kw = 400.0 * daily_shape(hour) * weekly + heating_kw + cooling_kw + _ar1(rng, n, 0.8, 15.0)
    return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M"),
                         "temperature_c": np.round(temp_c, 2), "humidity_pct": np.round(hum_pct, 1),
                         "load_kw": np.round(load_kw, 2)})


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "load_weather_hourly.csv"
    make_series().to_csv(out, index=False)
    print(f"wrote {out}")
