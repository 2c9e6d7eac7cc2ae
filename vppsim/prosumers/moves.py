"""Problem-side pieces of the prosumer SA: per-period cost, feasible starts and repair.

The SA's decision is the battery's SoC change ``e[n, t]`` (kWh) per prosumer and period.
Everything else follows (``schedule_from_stored``): charge or discharge from the sign of
``e`` (3.4.2, exclusive by construction), the grid exchange from the energy balance (3.4.4).
``e`` is feasible when each ``e[n, t]`` lies in the per-period box of
``ProsumerFleet.stored_energy_bounds_kwh`` (power and grid limits, 3.3.3, 3.3.6) and the
running sum keeps the SoC within its bounds (3.3.7) and above the end floor.
"""

from __future__ import annotations

import numpy as np

from vppsim.prosumers.problem import ProsumerFleet


class PeriodCost:
    """Cost (3.3.1) of one period as a function of the SoC change, for gathered periods.

    Holds the fleet's per-period arrays flattened, so that the cost of prosumer ``rows`` at
    periods ``cols`` is evaluated with a few gathers (``flat = rows * T + cols``).
    """

    def __init__(self, fleet: ProsumerFleet) -> None:
        self.t = fleet.periods
        self.dt = fleet.dt_h
        self.net = (fleet.load_kw - fleet.gen_kw).ravel()
        self.gen = fleet.gen_kw.ravel()
        self.pb = fleet.price_buy_per_kwh.ravel()
        self.ps = fleet.price_sell_per_kwh.ravel()
        self.dmax = fleet.dispatch_max_kw
        self.wear = fleet.battery_cost_per_kwh
        self.up = 1.0 / (fleet.eta_charge * fleet.dt_h)  # kW per kWh stored, charging
        self.down = fleet.eta_discharge / fleet.dt_h  # kW per kWh taken, discharging

    def __call__(self, rows: np.ndarray, flat: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Cost of SoC change ``e`` of prosumers ``rows`` at flat period indices ``flat``."""
        b = e * np.where(e > 0, self.up[rows], self.down[rows])
        r = self.net[flat] + b
        acq = np.maximum(r, 0.0)
        surplus = np.maximum(-r, 0.0)
        ps = self.ps[flat]
        paid = np.where(ps < 0, np.maximum(surplus - self.gen[flat], 0.0),
                        np.minimum(surplus, self.dmax[rows]))
        return self.dt * (self.pb[flat] * acq - ps * paid + self.wear[rows] * np.abs(b))

    def all(self, e: np.ndarray) -> np.ndarray:
        """Cost of every period ``(N, T)`` of the SoC changes ``e`` ``(N, T)``."""
        n = e.shape[0]
        rows = np.repeat(np.arange(n), self.t)
        return self(rows, np.arange(n * self.t), e.ravel()).reshape(n, self.t)


def end_floor_kwh(fleet: ProsumerFleet, ehi: np.ndarray) -> np.ndarray:
    """Lowest SoC at the end of each period from which ``soc_end_min`` is still reachable.

    ``max(soc_lower[t], soc_end_min - sum_{k>t} max(ehi[k], 0))`` (the soc lower bound of
    ``ProsumerFleet.soc_lower_kwh`` included).
    """
    rest = np.cumsum(np.maximum(ehi, 0.0)[:, ::-1], axis=1)[:, ::-1]
    after = np.concatenate([rest[:, 1:], np.zeros((fleet.n, 1))], axis=1)
    return np.maximum(fleet.soc_lower_kwh(), fleet.soc_end_min_kwh[:, None] - after)


def repair_stored(fleet: ProsumerFleet, e: np.ndarray) -> np.ndarray:
    """Clip proposed SoC changes forward through the horizon into the feasible set.

    Each period is clipped to its box and to what keeps the SoC between the end floor
    (:func:`end_floor_kwh`) and ``soc_max``; the floor makes the end constraint reachable
    whatever comes later. Needs ``soc_min <= soc_init <= soc_max`` and a box containing 0.
    """
    elo, ehi = fleet.stored_energy_bounds_kwh()
    floor = end_floor_kwh(fleet, ehi)
    ub = fleet.soc_max_kwh
    out = np.empty_like(e, dtype=float)
    soc = fleet.soc_init_kwh.astype(float).copy()
    for t in range(fleet.periods):
        lo = np.maximum(elo[:, t], floor[:, t] - soc)
        hi = np.minimum(ehi[:, t], ub - soc)
        out[:, t] = np.minimum(np.maximum(e[:, t], lo), np.maximum(hi, lo))
        soc = soc + out[:, t]
    return out


def self_consumption_stored(fleet: ProsumerFleet) -> np.ndarray:
    """The rule-based start: store PV surplus, cover deficits from the battery (repaired)."""
    surplus = fleet.gen_kw - fleet.load_kw
    b = np.clip(surplus, -fleet.discharge_max_kw[:, None], fleet.charge_max_kw[:, None])
    e = np.where(b > 0, b * fleet.eta_charge[:, None], b / fleet.eta_discharge[:, None]) * fleet.dt_h
    return repair_stored(fleet, e)
