"""Loads: inflexible loads, controllable loads (paper 001 eq. 6-9) and prosumers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from vppsim.forecast.errors import error_at
from vppsim.scenario.schema import ReserveRatioSpec

if TYPE_CHECKING:
    from vppsim.model import VPPModel


def reserve_period(hour: int) -> str:
    """Period of the controllable-load reserve ratio for an hour of day (paper 001 eq. 7).

    ``low`` 00-07, ``morning_peak`` 08-12, ``evening_peak`` 19-21 (hours starting 19, 20),
    ``shoulder`` otherwise (07, 12-18, 21-23).
    """
    if hour < 7:
        return "low"
    if 8 <= hour < 12:
        return "morning_peak"
    if 19 <= hour < 21:
        return "evening_peak"
    return "shoulder"


def reserve_ratio(hours: np.ndarray, spec: ReserveRatioSpec) -> np.ndarray:
    """Reserve ratio for each hour of day (paper 001 eq. 6-7: a four-period piecewise function)."""
    return np.array([getattr(spec, reserve_period(int(h) % 24)) for h in hours], dtype=float)


class Load(mesa.Agent):
    """An inflexible load with a forecast profile; realized demand carries forecast error."""

    def __init__(
        self,
        model: VPPModel,
        name: str,
        bus: int,
        owner: str,
        forecast_kw: np.ndarray,
        power_factor: float,
    ) -> None:
        super().__init__(model)
        self.name = name
        self.bus = bus
        self.owner = owner
        self.forecast_kw = np.asarray(forecast_kw, dtype=float)
        self.power_factor = power_factor
        self.demand_kw = 0.0  # realized demand this step
        self.curtailed_kw = 0.0
        self.unmet_kw = 0.0

    def realize(self, t: int) -> None:
        """Set the realized demand at step ``t``: forecast times ``1 + eps``, at least 0.

        ``eps``: :func:`vppsim.forecast.errors.error_at` of this agent's ``forecast_error`` row.
        """
        eps = error_at(getattr(self, "forecast_error", None), t,
                       self.model.scenario.forecast_error.load, self.model.rng)
        self.demand_kw = max(0.0, float(self.forecast_kw[t] * (1.0 + eps)))
        self.curtailed_kw = 0.0
        self.unmet_kw = 0.0

    def curtailable_kw(self, t: int, demand_kw: float | None = None) -> float:
        """Curtailable power at step ``t``; zero for an inflexible load."""
        return 0.0

    @property
    def served_kw(self) -> float:
        """Demand actually served this step, kW."""
        return self.demand_kw - self.curtailed_kw - self.unmet_kw

    @property
    def tan_phi(self) -> float:
        """Reactive-to-active power ratio from the power factor."""
        return float(np.sqrt(1.0 / self.power_factor**2 - 1.0))


class ControllableLoad(Load):
    """A load whose curtailable power is ``L(t) * reserve_ratio(t) * participation``.

    Paper 001 eq. 6-9: the reserve ratio is a four-period function of the hour; the
    participation degree (optimal band 0.6-0.8) scales how much of the reserve is called.
    """

    def __init__(
        self,
        model: VPPModel,
        name: str,
        bus: int,
        owner: str,
        forecast_kw: np.ndarray,
        power_factor: float,
        reserve: ReserveRatioSpec,
        participation: float,
        curtail_cost_cny_per_kwh: float,
    ) -> None:
        super().__init__(model, name, bus, owner, forecast_kw, power_factor)
        hours = (np.arange(model.n_steps) * model.step_h) % 24
        self.reserve_ratio = reserve_ratio(hours, reserve)
        self.participation = participation
        self.curtail_cost_cny_per_kwh = curtail_cost_cny_per_kwh

    def curtailable_kw(self, t: int, demand_kw: float | None = None) -> float:
        """Curtailable power at step ``t`` for the given (default: realized) demand."""
        demand = self.demand_kw if demand_kw is None else demand_kw
        return demand * self.reserve_ratio[t] * self.participation
