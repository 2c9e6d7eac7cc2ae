"""Rolling unit commitment: one horizon (a day) after another, the state carried across.

What carries from the last hour of one horizon into the first of the next
(:func:`carry_state`): every diesel/hydro unit's on/off state, the hours it has been in that
state (so a minimum up or down time that started yesterday still binds this morning) and its
output (for its ramp limit); every wind/solar unit's on/off state (for its start-up cost);
every battery's and EV's stored energy; every reservoir's level. Losing any of these at the
horizon boundary is the classic rolling-horizon bug; ``tests/test_uc.py`` compares a 3-day
roll with one 72-hour MILP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from vppsim.uc.milp import periods
from vppsim.uc.portfolio import UcCase
from vppsim.uc.solve import (
    UcSolution,
    market_table,
    reservoir_table,
    solve_uc,
    storage_table,
    unit_table,
)


def tile_days(case: UcCase, days: int) -> UcCase:
    """The case repeated ``days`` times in a row (every hourly profile tiled)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")

    def tile(a: np.ndarray) -> np.ndarray:
        return np.tile(np.asarray(a), days)

    return dataclasses.replace(
        case, demand_kw=tile(case.demand_kw),
        sell_price_cny_per_kwh=tile(case.sell_price_cny_per_kwh),
        buy_price_cny_per_kwh=tile(case.buy_price_cny_per_kwh),
        renewables=tuple(dataclasses.replace(r, available_kw=tile(r.available_kw))
                         for r in case.renewables),
        storage=tuple(dataclasses.replace(s, plugged=tile(s.plugged)) for s in case.storage),
        reservoirs=tuple(dataclasses.replace(r, water_demand_kwh=tile(r.water_demand_kwh))
                         for r in case.reservoirs))


def slice_hours(case: UcCase, start: int, hours: int) -> UcCase:
    """Hours ``start .. start + hours - 1`` of the case (its initial state unchanged).

    A hydro unit's energy limit applies to the whole case; a slice gets the share of its hours.
    """
    sl = slice(start, start + hours)
    share = hours / case.n_hours
    return dataclasses.replace(
        case, demand_kw=case.demand_kw[sl],
        sell_price_cny_per_kwh=case.sell_price_cny_per_kwh[sl],
        buy_price_cny_per_kwh=case.buy_price_cny_per_kwh[sl],
        thermal=tuple(dataclasses.replace(
            u, energy_limit_kwh=None if u.energy_limit_kwh is None else u.energy_limit_kwh * share)
            for u in case.thermal),
        renewables=tuple(dataclasses.replace(r, available_kw=r.available_kw[sl])
                         for r in case.renewables),
        storage=tuple(dataclasses.replace(s, plugged=np.asarray(s.plugged)[sl])
                      for s in case.storage),
        reservoirs=tuple(dataclasses.replace(r, water_demand_kwh=r.water_demand_kwh[sl])
                         for r in case.reservoirs))


def _final_run_periods(on: np.ndarray, initially_on: bool, held0: int) -> int:
    """Periods the last state of ``on`` has lasted at its end (continuing the initial state)."""
    last = on[-1]
    change = np.flatnonzero(on != last)
    if len(change):
        return int(len(on) - 1 - change[-1])
    return int(len(on) + (held0 if bool(last) == initially_on else 0))


def carry_state(nxt: UcCase, prev: UcSolution) -> UcCase:
    """``nxt`` starting from where ``prev`` (the horizon before it) ended (module docstring)."""
    x, idx, case = prev.x, prev.idx, prev.case
    dt = case.dt_h
    thermal = []
    for k, u in enumerate(nxt.thermal):
        on = np.round(x[idx.u[k]]).astype(int)
        held = _final_run_periods(on, u.initially_on, periods(u.initial_hours_in_state, dt))
        thermal.append(dataclasses.replace(
            u, initially_on=bool(on[-1]), initial_hours_in_state=int(round(held * dt)),
            initial_p_kw=float(x[idx.p[k, -1]]) if on[-1] else 0.0))
    renewables = [dataclasses.replace(r, initially_on=bool(round(x[idx.ren_u[j, -1]])))
                  for j, r in enumerate(nxt.renewables)]
    storage = [dataclasses.replace(s, soc_start=float(x[idx.soc[j, -1]]) / s.capacity_kwh)
               for j, s in enumerate(nxt.storage)]
    reservoirs = [dataclasses.replace(r, level_start_kwh=float(x[idx.level[j, -1]]))
                  for j, r in enumerate(nxt.reservoirs)]
    return dataclasses.replace(nxt, thermal=tuple(thermal), renewables=tuple(renewables),
                               storage=tuple(storage), reservoirs=tuple(reservoirs))


def solve_rolling(case: UcCase, horizon_h: int = 24, mode: str = "vpp",
                  time_limit_s: float = 120.0, mip_rel_gap: float = 1e-3) -> list[UcSolution]:
    """Solve ``case`` one horizon after another, each from the state the last one left.

    Raises
    ------
    ValueError
        If the case's length is not a whole number of horizons.
    """
    T = case.n_hours
    if horizon_h < 1 or T % horizon_h:
        raise ValueError(f"{case.name}: {T} hours are not a whole number of {horizon_h}-hour "
                         "horizons")
    out: list[UcSolution] = []
    for start in range(0, T, horizon_h):
        part = slice_hours(case, start, horizon_h)
        if out:
            part = carry_state(part, out[-1])
        out.append(solve_uc(part, mode, time_limit_s, mip_rel_gap))
    return out


def joined_tables(parts: Sequence[UcSolution]) -> dict[str, pd.DataFrame]:
    """The horizons' tables one after another, ``hour`` counted from the first horizon."""
    tables: dict[str, list[pd.DataFrame]] = {"units": [], "storage": [], "reservoirs": [],
                                             "market": []}
    offset = 0
    for sol in parts:
        for key, fn in (("units", unit_table), ("storage", storage_table),
                        ("reservoirs", reservoir_table), ("market", market_table)):
            t = fn(sol).copy()
            t["hour"] = t["hour"] + offset
            tables[key].append(t)
        offset += sol.case.n_hours
    return {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
