"""Wind turbines and PV plants: forecasts from weather profiles, realized output with error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.forecast.errors import error_at
from vppsim.scenario.schema import PVParams, PVPlantSpec, PVProfileSpec, WindTurbineSpec

if TYPE_CHECKING:
    import mesa

    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel


def wind_power_kw(
    speed_m_s: np.ndarray | float,
    rated_kw: float,
    cut_in_m_s: float,
    rated_m_s: float,
    cut_out_m_s: float,
) -> np.ndarray:
    """Wind turbine power curve (paper 001 eq. 1).

    Zero below cut-in and at or above cut-out; proportional to ``(v - v_ci)/(v_r - v_ci)``
    between cut-in and rated speed (the paper's linear form); rated power from rated speed
    to cut-out.
    """
    v = np.asarray(speed_m_s, dtype=float)
    ramp = rated_kw * (v - cut_in_m_s) / (rated_m_s - cut_in_m_s)
    p = np.where(v < cut_in_m_s, 0.0, np.where(v < rated_m_s, ramp, rated_kw))
    return np.where(v >= cut_out_m_s, 0.0, p)


def pv_power_kw(
    irradiance_w_m2: np.ndarray | float,
    ambient_c: np.ndarray | float,
    params: PVParams,
) -> np.ndarray:
    """PV output ``P = N * A * eta * G`` (paper 001 eq. 2) in kW.

    ``eta = eta_ref * eta_pc * (1 - beta * (T_c - T_ref))`` (eq. 3), with the cell temperature
    ``T_c = T_a + (NOCT - 20)/800 * G`` (the NOCT rule; the paper gives ``T_c`` directly).
    """
    g = np.asarray(irradiance_w_m2, dtype=float)
    t_cell = np.asarray(ambient_c, dtype=float) + (params.noct_c - 20.0) / 800.0 * g
    eta = params.eta_ref * params.eta_pc * (1.0 - params.temp_coeff_per_c * (t_cell - params.t_ref_c))
    return np.maximum(0.0, params.panels * params.panel_area_m2 * eta * g / 1000.0)


def realized_available_kw(forecast_kw: Any, eps: Any, cap_kw: Any) -> Any:
    """Available output after forecast error: ``clip(forecast * (1 + eps), 0, cap)``, kW.

    Arrays or floats; the agents' :meth:`_Renewable.realize` and the Monte Carlo array path
    (:mod:`vppsim.montecarlo.arrays`) both use it.
    """
    return np.clip(forecast_kw * (1.0 + eps), 0.0, cap_kw)


def pv_rated_kw(params: PVParams) -> float:
    """Output at 1000 W/m2 and 25 degrees C cell temperature, kW (the inverter rating)."""
    return params.panels * params.panel_area_m2 * params.eta_ref * params.eta_pc


class _Renewable(BusAgent):
    """Common part of variable renewables: forecast array, realized availability, curtailment.

    Role ``wind`` or ``pv`` (its ``tech``); its forecast error is that quantity's.
    """

    tech = "renewable"

    def __init__(self, model: VPPModel, name: str, bus: int, owner: str) -> None:
        super().__init__(model)
        self.name = name
        self.place(bus)
        self.owner = owner
        self.vpp_name: str | None = None
        self.forecast_kw = np.zeros(model.n_steps)
        self.cap_kw = 0.0
        self.available_kw = 0.0
        self.p_kw = 0.0
        self.curtailed_kw = 0.0

    def realize(self, t: int) -> None:
        """Set the actual available output at step ``t`` (forecast times ``1 + eps``, capped).

        ``eps``: :func:`vppsim.forecast.errors.error_at` of this agent's ``forecast_error`` row.
        """
        eps = error_at(getattr(self, "forecast_error", None), t,
                       getattr(self.model.scenario.forecast_error, self.tech), self.model.rng)
        self.available_kw = float(realized_available_kw(self.forecast_kw[t], eps, self.cap_kw))
        self.p_kw = self.available_kw
        self.curtailed_kw = 0.0

    def curtail_to(self, p_kw: float) -> None:
        """Use ``p_kw`` of the available output; the rest is curtailed."""
        self.p_kw = min(max(p_kw, 0.0), self.available_kw)
        self.curtailed_kw = self.available_kw - self.p_kw

    @property
    def error_quantity(self) -> str:
        """The forecast-error model it realizes with: its technology."""
        return self.tech

    def report(self, t: int) -> dict[str, Any]:
        """Forecast, availability after forecast error, output and curtailment at step ``t``."""
        return {"vpp": self.vpp_name, "bus": self.bus, "kind": self.tech,
                "p_forecast_kw": float(self.forecast_kw[t]), "p_available_kw": self.available_kw,
                "p_kw": self.p_kw, "curtailed_kw": self.curtailed_kw}

    def injection_kw(self) -> tuple[float, float]:
        """Output after curtailment, kW; no reactive power."""
        return self.p_kw, 0.0


class WindTurbine(_Renewable):
    """One or more identical wind turbines on a bus (power curve: paper 001 eq. 1)."""

    tech = "wind"
    roles = frozenset({"wind"})

    def __init__(
        self, model: VPPModel, spec: WindTurbineSpec, bus: int, owner: str, speed_m_s: np.ndarray
    ) -> None:
        super().__init__(model, spec.name, bus, owner)
        self.spec = spec
        self.cap_kw = spec.rated_kw * spec.count
        self.forecast_kw = spec.count * wind_power_kw(
            speed_m_s, spec.rated_kw, spec.cut_in_m_s, spec.rated_m_s, spec.cut_out_m_s
        )

    @classmethod
    def from_spec(cls, model: VPPModel, spec: WindTurbineSpec, vpp: VPP) -> list[mesa.Agent]:
        """The wind member ``spec`` of ``vpp``, its forecast from the wind-speed profile."""
        bus = spec.bus if spec.bus is not None else vpp.bus
        return [cls(model, spec, bus, vpp.name, model.loaded.profile(spec.wind_speed))]


class PVPlant(_Renewable):
    """A PV plant or rooftop array (paper 001 eq. 2-3)."""

    tech = "pv"
    roles = frozenset({"pv"})

    def __init__(
        self,
        model: VPPModel,
        name: str,
        params: PVParams,
        bus: int,
        owner: str,
        irradiance_w_m2: np.ndarray,
        ambient_c: np.ndarray,
    ) -> None:
        super().__init__(model, name, bus, owner)
        self.params = params
        self.cap_kw = pv_rated_kw(params)  # inverter clipping at the STC rating
        self.forecast_kw = np.minimum(pv_power_kw(irradiance_w_m2, ambient_c, params), self.cap_kw)

    @classmethod
    def from_spec(cls, model: VPPModel, spec: PVPlantSpec, vpp: VPP) -> list[mesa.Agent]:
        """The PV member ``spec`` of ``vpp``, its forecast from irradiance and temperature."""
        bus = spec.bus if spec.bus is not None else vpp.bus
        prof = model.loaded.profile
        return [cls(model, spec.name, spec, bus, vpp.name, prof(spec.irradiance),
                    prof(spec.temperature))]


class PVProfile(_Renewable):
    """A PV plant whose available power forecast is a profile column, kW (``kind: pv_profile``).

    Role ``pv`` like :class:`PVPlant`; capped at ``rated_kw`` (default: the profile's peak).
    """

    tech = "pv"
    roles = frozenset({"pv"})

    def __init__(self, model: VPPModel, spec: PVProfileSpec, bus: int, owner: str,
                 forecast_kw: np.ndarray) -> None:
        super().__init__(model, spec.name, bus, owner)
        self.spec = spec
        forecast_kw = np.asarray(forecast_kw, dtype=float)
        self.cap_kw = spec.rated_kw if spec.rated_kw is not None else float(forecast_kw.max())
        self.forecast_kw = np.minimum(forecast_kw, self.cap_kw)

    @classmethod
    def from_spec(cls, model: VPPModel, spec: PVProfileSpec, vpp: VPP) -> list[mesa.Agent]:
        """The PV member ``spec`` of ``vpp``, its forecast the profile column."""
        bus = spec.bus if spec.bus is not None else vpp.bus
        return [cls(model, spec, bus, vpp.name, model.loaded.profile(spec.profile))]
