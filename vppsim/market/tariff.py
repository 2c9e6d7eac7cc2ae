"""Time-of-use grid tariff (paper 004 Table 3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vppsim.scenario.schema import TariffSpec


@dataclass(frozen=True)
class Tariff:
    """Grid import/export prices per step, CNY/kWh; ``export <= import`` but where ``export_incentive``."""

    import_cny_per_kwh: np.ndarray
    export_cny_per_kwh: np.ndarray
    period_name: np.ndarray

    @classmethod
    def from_spec(cls, spec: TariffSpec, n_steps: int, step_h: float) -> Tariff:
        """Expand hour-of-day periods to ``n_steps`` steps of ``step_h`` hours.

        Each period's prices are its midpoint -/+ half its spread times ``spec.spread_scale``
        (exactly the listed prices at the default 1.0).
        """
        by_hour_imp = np.zeros(24)
        by_hour_exp = np.zeros(24)
        names = np.empty(24, dtype=object)
        for period in spec.periods:  # the spread scaled around the period's midpoint
            imp, exp = period.import_cny_per_kwh, period.export_cny_per_kwh
            shrink = 0.5 * (1.0 - spec.spread_scale) * (imp - exp)  # 0.0 at scale 1: exact
            by_hour_imp[period.hours] = imp - shrink
            cap = np.inf if period.export_incentive else imp - shrink  # no rounding above
            by_hour_exp[period.hours] = min(exp + shrink, cap)
            names[period.hours] = period.name
        hours = (np.floor(np.arange(n_steps) * step_h) % 24).astype(int)
        return cls(by_hour_imp[hours], by_hour_exp[hours], names[hours])
