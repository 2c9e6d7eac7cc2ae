"""The day-ahead market of paper 004's game as one value: the VPPs, the tariff, the VPO's storage.

Every exact computation of the game (the lower level at given prices, the optimistic outcome,
the centralized LP, the MPEC) reads the same data: each VPP's day-ahead problem
(:class:`vppsim.market.lower_level.VppDayAheadData`), the grid tariff ``pi_imp``/``pi_exp``
(CNY/kWh, ``pi_exp <= pi_imp``, docs/design.md signs) and, optionally, the VPO's own battery
(:class:`vppsim.market.vpo_storage.VpoStorageData`). :class:`DayAheadMarket` holds them once,
checked, with the step length and the number of periods shared by all VPPs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vppsim.market.lower_level import VppDayAheadData
from vppsim.market.vpo_storage import VpoStorageData

#: Tolerance of the check that the VPO battery starts inside its energy window, kWh.
SOC_TOL_KWH = 1e-9


def _tariff(name: str, values: np.ndarray | Sequence[float], n_periods: int) -> np.ndarray:
    """A read-only float copy of one tariff array of length ``n_periods``."""
    arr = np.array(values, dtype=float)
    if arr.shape != (n_periods,):
        raise ValueError(f"DayAheadMarket.{name}: expected a 1-D array of {n_periods} periods "
                         f"(the VPPs' n_periods), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"DayAheadMarket.{name}: expected finite prices (CNY/kWh)")
    arr.setflags(write=False)
    return arr


def _check_storage(storage: VpoStorageData) -> None:
    """The VPO battery starts inside its energy window and costs nothing negative to run."""
    p = storage.params
    lo, hi = p.soc_min * p.capacity_kwh, p.soc_max * p.capacity_kwh
    if not lo - SOC_TOL_KWH <= storage.soc_start_kwh <= hi + SOC_TOL_KWH:
        raise ValueError(f"DayAheadMarket.storage: expected soc_start_kwh in [{lo}, {hi}] "
                         f"(soc_min..soc_max of the capacity), got {storage.soc_start_kwh}")
    if storage.cost_cny_per_kwh < 0.0:
        raise ValueError("DayAheadMarket.storage: expected cost_cny_per_kwh >= 0, "
                         f"got {storage.cost_cny_per_kwh}")


@dataclass(frozen=True, eq=False)
class DayAheadMarket:
    """One day of the VPO-VPP market: the followers' problems, the tariff, the VPO's storage.

    Parameters
    ----------
    vpps : sequence of VppDayAheadData
        The VPPs' day-ahead problems (stored as a tuple); at least one, all with the same
        period length ``dt_h`` and number of periods.
    pi_imp, pi_exp : np.ndarray
        Grid import / export price per period, CNY/kWh, with ``pi_exp <= pi_imp`` (stored as
        read-only float copies).
    storage : VpoStorageData, optional
        The VPO's own battery (None: the VPO has none).

    Raises
    ------
    ValueError
        If any of the above does not hold; the message names the field and what was expected.

    Notes
    -----
    Compared by identity (``eq=False``): its fields are arrays.
    """

    vpps: tuple[VppDayAheadData, ...]
    pi_imp: np.ndarray
    pi_exp: np.ndarray
    storage: VpoStorageData | None = None

    def __post_init__(self) -> None:
        vpps = tuple(self.vpps)
        if not vpps:
            raise ValueError("DayAheadMarket.vpps: expected at least one VPP")
        twice = sorted(n for n, k in Counter(d.name for d in vpps).items() if k > 1)
        if twice:  # results are keyed by VPP name
            verb = "appears" if len(twice) == 1 else "appear"
            raise ValueError(f"DayAheadMarket.vpps: expected distinct VPP names; "
                             f"{', '.join(twice)} {verb} more than once")
        first = vpps[0]
        for d in vpps[1:]:
            if d.dt_h != first.dt_h or d.n_periods != first.n_periods:
                raise ValueError(
                    f"DayAheadMarket.vpps: expected every VPP to have dt_h = {first.dt_h} h and "
                    f"{first.n_periods} periods (as {first.name}); {d.name} has dt_h = "
                    f"{d.dt_h} h and {d.n_periods} periods")
        pi_imp = _tariff("pi_imp", self.pi_imp, first.n_periods)
        pi_exp = _tariff("pi_exp", self.pi_exp, first.n_periods)
        above = np.flatnonzero(pi_exp > pi_imp)
        if above.size:
            raise ValueError("DayAheadMarket.pi_exp: expected pi_exp <= pi_imp in every period; "
                             f"pi_exp > pi_imp in periods {above.tolist()}")
        if self.storage is not None:
            _check_storage(self.storage)
        object.__setattr__(self, "vpps", vpps)
        object.__setattr__(self, "pi_imp", pi_imp)
        object.__setattr__(self, "pi_exp", pi_exp)

    @property
    def dt_h(self) -> float:
        """Period length shared by every VPP, h."""
        return self.vpps[0].dt_h

    @property
    def n_periods(self) -> int:
        """Number of periods of the day shared by every VPP."""
        return self.vpps[0].n_periods

    @property
    def milp_followers(self) -> tuple[str, ...]:
        """Names of the VPPs whose day-ahead problem has binaries (committed units, reservoirs).

        With any of them the game's LP-based exact references (centralized LP, MPEC) and the
        LP tie-breaking do not apply (:mod:`vppsim.market.reference`).
        """
        return tuple(d.name for d in self.vpps if d.has_binaries)
