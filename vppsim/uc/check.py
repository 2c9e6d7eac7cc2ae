"""An independent checker of unit-commitment schedules.

It reads only the case (:class:`vppsim.uc.portfolio.UcCase`) and the schedule's tables (the
columns of :func:`vppsim.uc.solve.unit_table`, ``storage_table``, ``reservoir_table`` and
``market_table``), never the MILP, and recomputes every rule from the on/off sequences and the
powers: output limits, ramps, minimum up and down times (with the initial state), energy
limits, storage and reservoir energy, EV departures, exclusivity of charge/discharge and
pump/turbine, and the energy balance of every hour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vppsim.uc.portfolio import Reservoir, StorageUnit, ThermalUnit, UcCase

#: Absolute tolerance in kW or kWh, plus this share of the quantity's scale.
ABS_TOL = 1e-6
REL_TOL = 1e-7


def _tol(scale: float) -> float:
    return ABS_TOL + REL_TOL * abs(scale)


def _runs(on: np.ndarray, value: int) -> list[tuple[int, int]]:
    """(start, length) of every maximal run of ``value`` in ``on``."""
    out, t, T = [], 0, len(on)
    while t < T:
        if on[t] == value:
            s = t
            while t < T and on[t] == value:
                t += 1
            out.append((s, t - s))
        else:
            t += 1
    return out


def _min_times(u: ThermalUnit, on: np.ndarray, dt: float) -> list[str]:
    T, bad = len(on), []
    for value, need_h, label in ((1, u.min_up_h, "up"), (0, u.min_down_h, "down")):
        need = max(1, int(np.ceil(need_h / dt - 1e-9)))
        for start, length in _runs(on, value):
            if start + length == T:
                continue  # the run goes on past the horizon
            held = length
            if start == 0 and int(u.initially_on) == value:
                held += int(np.ceil(u.initial_hours_in_state / dt - 1e-9))
            if held < need:
                bad.append(f"{u.name}: {label} for {held} period(s) from hour {start}, "
                           f"minimum {need}")
    return bad


def _thermal(u: ThermalUnit, rows: pd.DataFrame, dt: float) -> list[str]:
    on = rows["on"].to_numpy().astype(int)
    p = rows["p_kw"].to_numpy(float)
    bad = []
    tol = _tol(u.p_max_kw)
    if np.any((on != 0) & (on != 1)):
        bad.append(f"{u.name}: on/off values other than 0/1")
    if np.any(p < u.p_min_kw * on - tol) or np.any(p > u.p_max_kw * on + tol):
        bad.append(f"{u.name}: output outside [p_min, p_max] when on or not 0 when off")
    if u.ramp_kw_per_h is not None:
        r = u.ramp_kw_per_h * dt
        jump = max(u.p_min_kw, r)
        prev_on = np.concatenate([[int(u.initially_on)], on[:-1]])
        prev_p = np.concatenate([[u.initial_p_kw if u.initially_on else 0.0], p[:-1]])
        up_lim = np.where(prev_on == 1, r, 0.0) + np.where((on == 1) & (prev_on == 0), jump, 0.0)
        down_lim = np.where(on == 1, r, 0.0) + np.where((on == 0) & (prev_on == 1), jump, 0.0)
        if np.any(p - prev_p > up_lim + tol) or np.any(prev_p - p > down_lim + tol):
            bad.append(f"{u.name}: ramp limit exceeded")
    bad += _min_times(u, on, dt)
    if u.energy_limit_kwh is not None and dt * p.sum() > u.energy_limit_kwh + _tol(
            u.energy_limit_kwh):
        bad.append(f"{u.name}: energy {dt * p.sum():.3f} kWh above its limit")
    return bad


def _storage(s: StorageUnit, rows: pd.DataFrame, dt: float) -> list[str]:
    ch, dis = rows["charge_kw"].to_numpy(float), rows["discharge_kw"].to_numpy(float)
    soc = rows["soc_kwh"].to_numpy(float)
    plugged = np.asarray(s.plugged, bool)
    tol, bad = _tol(s.capacity_kwh), []
    if np.any(ch < -tol) or np.any(dis < -tol) or np.any(ch > s.p_charge_max_kw + tol) or np.any(
            dis > s.p_discharge_max_kw + tol):
        bad.append(f"{s.name}: charge or discharge outside its limits")
    if np.any((ch > tol) & (dis > tol)):
        bad.append(f"{s.name}: charges and discharges in the same hour")
    if np.any(~plugged & ((ch > tol) | (dis > tol))):
        bad.append(f"{s.name}: charges or discharges while unplugged")
    trip = np.zeros(len(soc))
    trip[s.departures()] = s.trip_kwh
    start = s.soc_start * s.capacity_kwh
    expected = start + np.cumsum(s.eta_charge * dt * ch - dt * dis / s.eta_discharge - trip)
    if np.max(np.abs(expected - soc)) > tol * 10:
        bad.append(f"{s.name}: stored energy does not follow charge and discharge")
    if np.any(soc < s.soc_min * s.capacity_kwh - tol) or np.any(
            soc > s.soc_max * s.capacity_kwh + tol):
        bad.append(f"{s.name}: stored energy outside [soc_min, soc_max]")
    for t in s.departures():
        if t > 0 and soc[t - 1] < s.departure_kwh - tol:
            bad.append(f"{s.name}: leaves at hour {t} with {soc[t - 1]:.3f} kWh, "
                       f"needs {s.departure_kwh}")
    if s.end_soc_at_least_start and soc[-1] < start - tol:
        bad.append(f"{s.name}: ends below its starting energy")
    return bad


def _reservoir(r: Reservoir, rows: pd.DataFrame, dt: float) -> list[str]:
    pump, tur = rows["pump_kw"].to_numpy(float), rows["turbine_kw"].to_numpy(float)
    lev, short = rows["level_kwh"].to_numpy(float), rows["shortfall_kwh"].to_numpy(float)
    tol, bad = _tol(r.level_max_kwh), []
    if np.any((pump > tol) & (tur > tol)):
        bad.append(f"{r.name}: pumps and generates in the same hour")
    if np.any((pump > tol) & (pump < r.pump_min_kw - tol)) or np.any(pump > r.pump_max_kw + tol):
        bad.append(f"{r.name}: pump power outside [pump_min, pump_max] when on")
    if np.any(tur > r.turbine_max_kw + tol) or np.any(short < -tol):
        bad.append(f"{r.name}: turbine above its limit or negative shortfall")
    expected = r.level_start_kwh + np.cumsum(
        r.eta_pump * dt * pump - dt * tur / r.eta_turbine - r.water_demand_kwh + short)
    if np.max(np.abs(expected - lev)) > tol * 10:
        bad.append(f"{r.name}: level does not follow pumping, release and demand")
    if np.any(lev < r.level_min_kwh - tol) or np.any(lev > r.level_max_kwh + tol):
        bad.append(f"{r.name}: level outside its bounds")
    if lev[-1] < r.level_start_kwh - tol:
        bad.append(f"{r.name}: ends below its starting level")
    return bad


def balance_residual_kw(case: UcCase, units: pd.DataFrame, storage: pd.DataFrame,
                        reservoirs: pd.DataFrame, market: pd.DataFrame,
                        mode: str = "vpp") -> np.ndarray:
    """Per hour: supply + purchases + unmet - demand - uses - sales - spill, kW.

    In ``traditional`` mode the producers' and the consumers' balances are added.
    """
    T = case.n_hours

    def hourly(df: pd.DataFrame, col: str) -> np.ndarray:
        if df.empty:
            return np.zeros(T)
        return df.groupby("hour")[col].sum().reindex(range(T), fill_value=0.0).to_numpy(float)

    supply = hourly(units, "p_kw") + hourly(storage, "discharge_kw") + hourly(reservoirs,
                                                                                "turbine_kw")
    uses = hourly(storage, "charge_kw") + hourly(reservoirs, "pump_kw")
    m = market.set_index("hour").reindex(range(T))
    return (supply + m["buy_kw"].to_numpy() + m["unmet_kw"].to_numpy() - case.demand_kw - uses
            - m["sell_kw"].to_numpy() - m["spill_kw"].to_numpy())


def check_schedule(case: UcCase, units: pd.DataFrame, storage: pd.DataFrame,
                   reservoirs: pd.DataFrame, market: pd.DataFrame) -> list[str]:
    """Every rule the schedule breaks (an empty list: it passes). See the module docstring."""
    dt, bad = case.dt_h, []
    for u in case.thermal:
        bad += _thermal(u, units[units["unit"] == u.name].sort_values("hour"), dt)
    for r in case.renewables:
        rows = units[units["unit"] == r.name].sort_values("hour")
        if np.any(rows["p_kw"].to_numpy() > r.available_kw * rows["on"].to_numpy()
                  + _tol(float(np.max(r.available_kw, initial=0.0)))):
            bad.append(f"{r.name}: output above what is available (or on while off)")
    for s in case.storage:
        bad += _storage(s, storage[storage["unit"] == s.name].sort_values("hour"), dt)
    for r in case.reservoirs:
        bad += _reservoir(r, reservoirs[reservoirs["reservoir"] == r.name].sort_values("hour"), dt)
    residual = balance_residual_kw(case, units, storage, reservoirs, market)
    worst = float(np.max(np.abs(residual)))
    if worst > 1e-6 * max(1.0, float(np.max(case.demand_kw))):
        bad.append(f"energy balance off by up to {worst:.3g} kW")
    return bad
