"""The days an environment draws from: a scenario's day-ahead markets and their perturbations.

:func:`scenario_markets` builds each requested day's :class:`DayAheadMarket` as ``vppsim game``
does (the scenario's :class:`vppsim.model.VPPModel` before it runs: every VPP's day-ahead LP
data, the day's tariff, the VPO's battery); :func:`perturbed_market` scales a market's
forecasts by seeded multiplicative noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import ControllableLoadData, VppDayAheadData
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario


def scenario_markets(scenario: str | Path | None = None,
                     days: Sequence[int] | None = None) -> list[DayAheadMarket]:
    """One :class:`DayAheadMarket` per requested day of a scenario.

    Parameters
    ----------
    scenario : str or Path, optional
        The scenario YAML file (default: the shipped default scenario).
    days : sequence of int, optional
        Days of the scenario's horizon, ``0..days-1`` (default: every day).

    Returns
    -------
    list of DayAheadMarket
        The day's VPP problems as the model poses them before running (batteries at their
        initial state of charge), the day's tariff and the VPO's battery.

    Raises
    ------
    ScenarioError
        If the file is invalid, or a VPP has no day-ahead LP (a self-scheduling prosumer
        fleet: the game's lower level needs one).
    ValueError
        If a requested day is outside the horizon.
    """
    loaded = load_scenario(scenario if scenario is not None else default_scenario_path())
    s = loaded.scenario
    wanted = list(range(s.days)) if days is None else [int(d) for d in days]
    bad = [d for d in wanted if not 0 <= d < s.days]
    if not wanted or bad:
        raise ValueError(f"DayAheadPricingEnv days: expected a non-empty list of days in "
                         f"0..{s.days - 1} ({loaded.path} has {s.days}), got {list(days or [])}")
    model = VPPModel(loaded)
    return [model.day_ahead_market(day) for day in wanted]


def _perturbed_vpp(d: VppDayAheadData, noise: float, rng: np.random.Generator) -> VppDayAheadData:
    """``d`` with wind, PV and load forecasts scaled per period by ``U(1 - noise, 1 + noise)``."""
    T = d.n_periods
    f_wind, f_pv, f_load = rng.uniform(1.0 - noise, 1.0 + noise, size=(3, T))
    loads = tuple(ControllableLoadData(cl.curtailable_kw * f_load, cl.cost_cny_per_kwh)
                  for cl in d.controllable_loads)
    return dataclasses.replace(d, wind_fc_kw=d.wind_fc_kw * f_wind, pv_fc_kw=d.pv_fc_kw * f_pv,
                               load_kw=d.load_kw * f_load, controllable_loads=loads)


def perturbed_market(market: DayAheadMarket, noise: float,
                     rng: np.random.Generator) -> DayAheadMarket:
    """``market`` with every VPP's forecasts scaled by seeded multiplicative noise.

    Each VPP's wind, PV and load forecast (and its controllable loads' curtailable power, with
    the load's factor) is multiplied per period by an independent ``U(1 - noise, 1 + noise)``
    draw from ``rng``; the tariff and the VPO's battery are kept. ``noise = 0`` returns
    ``market`` itself (no draw).
    """
    if noise == 0.0:
        return market
    vpps = [_perturbed_vpp(d, noise, rng) for d in market.vpps]
    return DayAheadMarket(vpps, market.pi_imp, market.pi_exp, market.storage)
