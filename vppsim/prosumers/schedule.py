"""One entry point for prosumer self-scheduling, and paper 002's rolling optimization.

``schedule_fleet(fleet, "sa" | "milp" | "lp", seed)`` returns a :class:`FleetSchedule`;
``rolling_schedule`` re-optimizes from every period over the rest of the horizon with
updated forecasts and the battery's current state, and keeps each first period (3.1,
"rolling-based social welfare optimization").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any

import numpy as np

from vppsim.prosumers.anneal import SASettings, anneal_fleet, warm_settings
from vppsim.prosumers.cluster import ProsumerCluster
from vppsim.prosumers.exact import solve_exact
from vppsim.prosumers.problem import FleetSchedule, ProsumerFleet, schedule_from_stored, stored_of_schedule

METHODS = ("sa", "milp", "lp")

#: ``realized(t) -> (gen_kw, load_kw)``: forecasts made at period ``t`` for periods ``t..T-1``
#: (shape ``(N, T - t)``); their first column is what period ``t`` actually brings.
ForecastFn = Callable[[int], tuple[np.ndarray, np.ndarray]]


def schedule_fleet(
    fleet: ProsumerFleet,
    method: str,
    seed: int = 0,
    workers: int = 1,
    settings: SASettings | None = None,
    chunks: int | None = None,
    executor: Executor | None = None,
    scheduler: Any = None,
    first_index: int = 0,
) -> FleetSchedule:
    """Schedules of one VPP's prosumers under given prices, by ``method``.

    ``"sa"``: simulated annealing (:func:`vppsim.prosumers.anneal.anneal_fleet`, ``seed`` and
    ``settings`` apply); ``"milp"``: the exact MILP with flip-flop binaries; ``"lp"``: its
    relaxation (equal to the MILP where ``info["binaries_slack"]``). All methods split the
    fleet into chunks over ``workers`` processes (or the ``executor`` given).

    ``scheduler``: run the chunks on Dask instead (:mod:`vppsim.prosumers.cluster`): an open
    :class:`~vppsim.prosumers.cluster.ProsumerCluster` (kept open across calls), or
    ``"local"`` (a LocalCluster of ``workers`` processes), a scheduler's address or a
    ``distributed.Client``, opened for this call only. ``first_index``: the global index of
    the fleet's first prosumer (a slice of a larger fleet then gets the SA schedules it has
    in the whole fleet). The schedules do not depend on where they are computed.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if scheduler is not None and not isinstance(scheduler, ProsumerCluster):
        with ProsumerCluster(scheduler, workers=workers) as cluster:
            return schedule_fleet(fleet, method, seed, workers, settings, chunks, executor, cluster,
                                  first_index)
    if method == "sa":
        return anneal_fleet(fleet, settings, seed=seed, workers=workers, chunks=chunks, executor=executor,
                            cluster=scheduler, first_index=first_index)
    return solve_exact(fleet, integer=method == "milp", workers=workers, chunks=chunks,
                       executor=executor, cluster=scheduler)


def _forecast_at(fleet: ProsumerFleet, realized: ForecastFn | tuple[np.ndarray, np.ndarray],
                 t: int) -> tuple[np.ndarray, np.ndarray]:
    """Generation and load forecasts for periods ``t..`` as known at period ``t``."""
    if callable(realized):
        gen, load = realized(t)
        gen, load = np.asarray(gen, float), np.asarray(load, float)
    else:
        gen = fleet.gen_kw[:, t:].copy()
        load = fleet.load_kw[:, t:].copy()
        gen[:, 0] = np.asarray(realized[0], float)[:, t]
        load[:, 0] = np.asarray(realized[1], float)[:, t]
    shape = (fleet.n, fleet.periods - t)
    if gen.shape != shape or load.shape != shape:
        raise ValueError(f"forecasts at period {t} must have shape {shape}, got {gen.shape}, {load.shape}")
    return gen, load


def rolling_schedule(
    fleet_forecast: ProsumerFleet,
    realized: ForecastFn | tuple[np.ndarray, np.ndarray],
    method: str,
    seed: int = 0,
    workers: int = 1,
    settings: SASettings | None = None,
    warm: bool = True,
) -> FleetSchedule:
    """Rolling-horizon schedules (paper 002, 3.1): re-optimize at every period, keep the first.

    At period ``t`` the fleet is re-optimized over ``t..T-1`` from the battery's current
    state, with the forecasts known then: ``realized(t)`` if it is a function (see
    :data:`ForecastFn`), otherwise ``realized = (gen_kw, load_kw)`` arrays ``(N, T)`` of what
    happens, of which period ``t``'s values replace the forecast for ``t`` (later periods
    keep ``fleet_forecast``'s). Only the battery decision of the first period is kept; the
    grid exchange of that period follows from the energy balance with what it brings.
    With ``method="sa"`` and ``warm`` every window after the first starts from the previous
    window's plan shifted by one period, annealed briefly and cool
    (:func:`vppsim.prosumers.anneal.warm_settings`), in this process; ``warm=False`` anneals
    every window from the self-consumption rule with ``settings`` scaled to its length.
    Returns the realized schedule, its cost computed with the realized generation and load;
    ``info["fleet"]`` is that realized fleet (for ``check_schedules``).
    """
    n, horizon = fleet_forecast.n, fleet_forecast.periods
    t_start = time.perf_counter()
    soc = fleet_forecast.soc_init_kwh.astype(float).copy()
    stored = np.zeros((n, horizon))
    gen_real = np.zeros((n, horizon))
    load_real = np.zeros((n, horizon))
    plan_e: np.ndarray | None = None
    for t in range(horizon):
        gen, load = _forecast_at(fleet_forecast, realized, t)
        window = fleet_forecast.window(t, soc_init_kwh=soc).replace(gen_kw=gen, load_kw=load)
        if method == "sa" and warm and plan_e is not None:
            plan = anneal_fleet(window, warm_settings(window.periods, settings), seed=seed + t,
                                e_start=plan_e[:, 1:])
        elif method == "sa" and not warm:
            plan = schedule_fleet(window, method, seed=seed + t, workers=workers,
                                  settings=scaled_settings(window.periods, horizon, settings))
        else:
            plan = schedule_fleet(window, method, seed=seed + t, workers=workers, settings=settings)
        plan_e = stored_of_schedule(window, plan)
        stored[:, t] = plan_e[:, 0]
        soc = soc + plan_e[:, 0]
        gen_real[:, t], load_real[:, t] = gen[:, 0], load[:, 0]
    fleet_real = fleet_forecast.replace(gen_kw=gen_real, load_kw=load_real)
    info: dict[str, Any] = {"wall_s": time.perf_counter() - t_start, "fleet": fleet_real, "seed": seed}
    return schedule_from_stored(fleet_real, stored, method=f"rolling-{method}", info=info)


def scaled_settings(periods: int, horizon: int, settings: SASettings | None = None) -> SASettings:
    """Cold-start settings of a window of ``periods`` of a ``horizon``: proportionally fewer moves.

    At least one move per temperature stage (as the prosumer-fleet VPP's rolling windows).
    """
    settings = settings or SASettings()
    its = max(settings.stages, round(settings.iterations * periods / horizon))
    return replace(settings, iterations=min(its, settings.iterations))
