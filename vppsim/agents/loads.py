"""Loads: inflexible loads, controllable loads (paper 001 eq. 6-9) and prosumers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.forecast.errors import error_at
from vppsim.scenario.schema import ControllableLoadSpec, LoadSpec, ReserveRatioSpec, ScenarioError

if TYPE_CHECKING:
    import mesa

    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel


def realized_demand_kw(profile_kw: Any, eps: Any) -> Any:
    """Realized demand after forecast error: ``max(0, profile * (1 + eps))``, kW.

    Arrays or floats; :meth:`Load.realize` and the Monte Carlo array path
    (:mod:`vppsim.montecarlo.arrays`) both use it.
    """
    return np.maximum(0.0, profile_kw * (1.0 + eps))


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


class Load(BusAgent):
    """An inflexible load with a forecast profile; realized demand carries forecast error.

    Role ``load``; its row's ``kind`` is ``report_kind``.
    """

    roles = frozenset({"load"})
    report_kind = "load"
    error_quantity = "load"

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
        self.place(bus)
        self.owner = owner
        self.vpp_name: str | None = None
        self.forecast_kw = np.asarray(forecast_kw, dtype=float)
        # the load's actual profile: its forecast, unless a forecaster plans it (spec.forecast)
        self.profile_kw = self.forecast_kw
        ratio = model.loaded.load_forecasts.get(name)
        if ratio is not None:
            if len(ratio) < len(self.forecast_kw):
                raise ScenarioError(model.loaded.path, [(
                    f"{name}.forecast.train_days", f"expected {len(self.forecast_kw)} steps of "
                    f"forecast after the training days, got {len(ratio)}")])
            self.forecast_kw = self.profile_kw * ratio[:len(self.profile_kw)]
        self.power_factor = power_factor
        self.demand_kw = 0.0  # realized demand this step
        self.curtailed_kw = 0.0
        self.unmet_kw = 0.0

    def realize(self, t: int) -> None:
        """Set the realized demand at step ``t``: profile times ``1 + eps``, at least 0.

        ``eps``: :func:`vppsim.forecast.errors.error_at` of this agent's ``forecast_error`` row.
        The profile is the forecast unless a forecaster plans the load (``spec.forecast``).
        """
        eps = error_at(getattr(self, "forecast_error", None), t,
                       self.model.scenario.forecast_error.load, self.model.rng)
        self.demand_kw = float(realized_demand_kw(self.profile_kw[t], eps))
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

    @classmethod
    def from_spec(cls, model: VPPModel, spec: LoadSpec, vpp: VPP) -> list[mesa.Agent]:
        """The load member ``spec`` of ``vpp``."""
        bus = spec.bus if spec.bus is not None else vpp.bus
        return [cls(model, spec.name, bus, vpp.name, model.loaded.profile(spec.profile),
                    spec.power_factor)]

    def report(self, t: int) -> dict[str, Any]:
        """Forecast, realized demand, curtailment, unmet demand and the served load at step ``t``."""
        return {"vpp": self.vpp_name, "bus": self.bus, "kind": self.report_kind,
                "p_forecast_kw": float(self.forecast_kw[t]), "load_kw": self.demand_kw,
                "load_curtailed_kw": self.curtailed_kw, "unmet_kw": self.unmet_kw,
                "p_kw": -self.served_kw}

    def injection_kw(self) -> tuple[float, float]:
        """The served demand drawn at its power factor (negative injection), kW and kvar."""
        return -self.served_kw, -(self.served_kw * self.tan_phi)


class ControllableLoad(Load):
    """A load whose curtailable power is ``L(t) * reserve_ratio(t) * participation``.

    Paper 001 eq. 6-9: the reserve ratio is a four-period function of the hour; the
    participation degree (optimal band 0.6-0.8) scales how much of the reserve is called.
    Roles ``load`` and ``curtailable_load``.
    """

    roles = frozenset({"load", "curtailable_load"})
    report_kind = "controllable_load"

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

    @classmethod
    def from_spec(cls, model: VPPModel, spec: ControllableLoadSpec, vpp: VPP) -> list[mesa.Agent]:
        """The controllable-load member ``spec`` of ``vpp``."""
        bus = spec.bus if spec.bus is not None else vpp.bus
        return [cls(model, spec.name, bus, vpp.name, model.loaded.profile(spec.profile),
                    spec.power_factor, spec.reserve_ratio, spec.participation,
                    spec.curtail_cost_cny_per_kwh)]
