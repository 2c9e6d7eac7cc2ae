"""Committed units, EVs and water reservoirs in a VPP's day-ahead problem (paper 003's members).

The VPP's lower level (:mod:`vppsim.market.lower_level`) gains, per member (power kW, energy
kWh, money CNY, periods of ``dt`` hours):

- committed diesel/hydro unit ``j``: on ``u`` (binary), start ``v`` and stop ``w`` with
  ``u[t] - u[t-1] = v[t] - w[t]``, ``p_min u <= p <= p_max u``, ramps
  ``p[t] - p[t-1] <= R u[t-1] + max(p_min, R) v[t]`` (and down alike), minimum up time
  ``sum(v[t-UT+1..t]) <= u[t]``, minimum down time ``sum(w[t-DT+1..t]) <= 1 - u[t]`` and the
  initial state's remaining up/down time (the tight three-variable formulation, as the
  standalone unit commitment :mod:`vppsim.uc.milp` writes it); cost ``no_load*dt*u +
  (marginal + maintenance)*dt*p + startup*v + shutdown*w``;
- EV: charge/discharge bounded by the plug mask, ``soc[t] = soc[t-1] + eta_c dt ch -
  dt dis / eta_d - trip[t]`` (the trip energy is taken at the departure period), at least
  ``departure_kwh`` stored in the period before each departure, degradation cost per kWh;
- reservoir: pump and turbine with mode binaries (never both; the pump at least ``pump_min``
  when on), level ``L[t] = L[t-1] + eta_p dt pump - dt turbine / eta_t - dt water[t] +
  short[t]`` within its bounds; water it cannot supply (``short``, kWh) costs the value of lost
  load.

A VPP with a unit or a reservoir has binaries, so its day-ahead problem is a MILP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vppsim.optimizers.highs import INF, LpBuilder


@dataclass(frozen=True)
class UnitData:
    """A committed diesel or hydro unit as the day-ahead MILP sees it."""

    name: str
    p_min_kw: float
    p_max_kw: float
    ramp_kw_per_h: float | None
    min_up_h: float
    min_down_h: float
    startup_cost_cny: float
    shutdown_cost_cny: float
    no_load_cost_cny_per_h: float
    energy_cost_cny_per_kwh: float  # marginal (fuel/water) + maintenance
    initially_on: bool
    initial_hours_in_state: float
    p_start_kw: float


@dataclass(frozen=True)
class EvData:
    """An EV: its battery, the plug mask of the day's periods and its trip."""

    name: str
    p_charge_max_kw: float
    p_discharge_max_kw: float
    eta_charge: float
    eta_discharge: float
    soc_min_kwh: float
    soc_max_kwh: float
    soc_start_kwh: float
    plugged: np.ndarray  # bool per period
    plugged_before: bool  # plugged in the period before the first one
    departure_kwh: float
    trip_kwh: float
    degradation_cost_cny_per_kwh: float

    def departures(self) -> np.ndarray:
        """Periods ``t`` at which the EV leaves (plugged at ``t - 1``, not at ``t``)."""
        p = np.asarray(self.plugged, bool)
        prev = np.concatenate([[self.plugged_before], p[:-1]])
        return np.flatnonzero(prev & ~p)


@dataclass(frozen=True)
class ReservoirData:
    """A water reservoir with a pump and a turbine (energy units: kWh of water)."""

    name: str
    pump_max_kw: float
    pump_min_kw: float
    turbine_max_kw: float
    eta_pump: float
    eta_turbine: float
    level_min_kwh: float
    level_max_kwh: float
    level_start_kwh: float
    water_demand_kw: np.ndarray
    pump_cost_cny_per_kwh: float
    turbine_cost_cny_per_kwh: float


def periods(hours: float, dt_h: float) -> int:
    """A duration in hours as a whole number of periods (at least 1)."""
    return max(1, math.ceil(hours / dt_h - 1e-9))


@dataclass(frozen=True)
class MemberColumns:
    """Column indices of the members' blocks (``[n, T]`` arrays; empty when absent)."""

    u: list[np.ndarray]
    v: list[np.ndarray]
    w: list[np.ndarray]
    p: list[np.ndarray]
    ev_ch: list[np.ndarray]
    ev_dis: list[np.ndarray]
    ev_soc: list[np.ndarray]
    pump: list[np.ndarray]
    turbine: list[np.ndarray]
    level: list[np.ndarray]
    short: list[np.ndarray]

    def balance_terms(self, t: int) -> tuple[list[int], list[float]]:
        """Columns and coefficients of period ``t`` in the balance row (supply positive)."""
        cols: list[int] = []
        vals: list[float] = []
        for p in self.p:
            cols.append(int(p[t]))
            vals.append(1.0)
        for ch, dis in zip(self.ev_ch, self.ev_dis, strict=True):
            cols += [int(ch[t]), int(dis[t])]
            vals += [-1.0, 1.0]
        for pump, tur in zip(self.pump, self.turbine, strict=True):
            cols += [int(pump[t]), int(tur[t])]
            vals += [-1.0, 1.0]
        return cols, vals


def add_member_columns(b: LpBuilder, units: tuple[UnitData, ...], evs: tuple[EvData, ...],
                       reservoirs: tuple[ReservoirData, ...], T: int, dt: float,
                       voll_cny_per_kwh: float) -> MemberColumns:
    """Add every member's columns and their costs to ``b`` (rows: :func:`add_member_rows`)."""
    mc = MemberColumns([], [], [], [], [], [], [], [], [], [], [])
    for j, un in enumerate(units):
        mc.u.append(b.add_var(f"unit{j}_u", T, 0.0, 1.0, dt * un.no_load_cost_cny_per_h,
                              integer=True))
        mc.v.append(b.add_var(f"unit{j}_v", T, 0.0, 1.0, un.startup_cost_cny))
        mc.w.append(b.add_var(f"unit{j}_w", T, 0.0, 1.0, un.shutdown_cost_cny))
        mc.p.append(b.add_var(f"unit{j}_p", T, 0.0, un.p_max_kw, dt * un.energy_cost_cny_per_kwh))
    for i, ev in enumerate(evs):
        plug = np.asarray(ev.plugged, float)
        cost = dt * ev.degradation_cost_cny_per_kwh
        mc.ev_ch.append(b.add_var(f"ev{i}_ch", T, 0.0, ev.p_charge_max_kw * plug, cost))
        mc.ev_dis.append(b.add_var(f"ev{i}_dis", T, 0.0, ev.p_discharge_max_kw * plug, cost))
        mc.ev_soc.append(b.add_var(f"ev{i}_soc", T, ev.soc_min_kwh, ev.soc_max_kwh))
    for r, res in enumerate(reservoirs):
        mc.pump.append(b.add_var(f"res{r}_pump", T, 0.0, res.pump_max_kw,
                                 dt * res.pump_cost_cny_per_kwh))
        mc.turbine.append(b.add_var(f"res{r}_turbine", T, 0.0, res.turbine_max_kw,
                                    dt * res.turbine_cost_cny_per_kwh))
        mc.level.append(b.add_var(f"res{r}_level", T, res.level_min_kwh, res.level_max_kwh))
        mc.short.append(b.add_var(f"res{r}_short", T, 0.0, INF, voll_cny_per_kwh))
    return mc


def _unit_rows(b: LpBuilder, un: UnitData, u: np.ndarray, v: np.ndarray, w: np.ndarray,
               p: np.ndarray, T: int, dt: float) -> None:
    """Logic, limits, ramps and minimum up/down times of one unit (module docstring)."""
    on0 = 1.0 if un.initially_on else 0.0
    p0 = un.p_start_kw if un.initially_on else 0.0
    for t in range(T):
        if t == 0:
            b.add_row([u[0], v[0], w[0]], [1.0, -1.0, 1.0], on0, on0)
        else:
            b.add_row([u[t], u[t - 1], v[t], w[t]], [1.0, -1.0, -1.0, 1.0], 0.0, 0.0)
        b.add_row([p[t], u[t]], [1.0, -un.p_min_kw], 0.0, INF)
        b.add_row([p[t], u[t]], [1.0, -un.p_max_kw], -INF, 0.0)
        b.add_row([v[t], w[t]], [1.0, 1.0], -INF, 1.0)
    if un.ramp_kw_per_h is not None and un.ramp_kw_per_h * dt < un.p_max_kw:
        r = un.ramp_kw_per_h * dt
        su = max(un.p_min_kw, r)
        b.add_row([p[0], v[0]], [1.0, -su], -INF, p0 + r * on0)
        b.add_row([p[0], u[0], w[0]], [-1.0, -r, -su], -INF, -p0)
        for t in range(1, T):
            b.add_row([p[t], p[t - 1], u[t - 1], v[t]], [1.0, -1.0, -r, -su], -INF, 0.0)
            b.add_row([p[t - 1], p[t], u[t], w[t]], [1.0, -1.0, -r, -su], -INF, 0.0)
    up, down = periods(un.min_up_h, dt), periods(un.min_down_h, dt)
    for t in range(T):
        lo_up, lo_down = max(0, t - up + 1), max(0, t - down + 1)
        if up > 1:
            b.add_row(np.append(v[lo_up:t + 1], u[t]), np.append(np.ones(t + 1 - lo_up), -1.0),
                      -INF, 0.0)
        if down > 1:
            b.add_row(np.append(w[lo_down:t + 1], u[t]),
                      np.append(np.ones(t + 1 - lo_down), 1.0), -INF, 1.0)
    held = periods(un.initial_hours_in_state, dt)
    must = (up - held) if un.initially_on else (down - held)
    for t in range(min(max(must, 0), T)):
        b.add_row([u[t]], [1.0], on0, on0)


def _ev_rows(b: LpBuilder, ev: EvData, ch: np.ndarray, dis: np.ndarray, soc: np.ndarray,
             T: int, dt: float, end_at_least_start: bool) -> None:
    """Energy recursion with the trip, departure energy and end-of-day energy of one EV."""
    trip = np.zeros(T)
    departures = ev.departures()
    trip[departures] = ev.trip_kwh
    for t in range(T):
        cols = [soc[t], ch[t], dis[t]]
        vals = [1.0, -ev.eta_charge * dt, dt / ev.eta_discharge]
        rhs = -trip[t] + (ev.soc_start_kwh if t == 0 else 0.0)
        if t > 0:
            cols.append(soc[t - 1])
            vals.append(-1.0)
        b.add_row(cols, vals, rhs, rhs)
    need = [t - 1 for t in departures if t > 0]
    if ev.plugged[T - 1] and not ev.plugged[0]:  # it leaves at the start of the next day
        need.append(T - 1)
    for t in need:
        if ev.departure_kwh > 0.0:
            b.add_row([soc[t]], [1.0], ev.departure_kwh, INF)
    if end_at_least_start:
        b.add_row([soc[T - 1]], [1.0], ev.soc_start_kwh, INF)


def _reservoir_rows(b: LpBuilder, res: ReservoirData, r: int, mc: MemberColumns, T: int,
                    dt: float, end_at_least_start: bool) -> None:
    """Level recursion, pump/turbine modes and end level of one reservoir."""
    pump, tur, lev, short = mc.pump[r], mc.turbine[r], mc.level[r], mc.short[r]
    xp = b.add_var(f"res{r}_xpump", T, 0.0, 1.0, 0.0, integer=True)
    xt = b.add_var(f"res{r}_xturbine", T, 0.0, 1.0, 0.0, integer=True)
    for t in range(T):
        cols = [lev[t], pump[t], tur[t], short[t]]
        vals = [1.0, -res.eta_pump * dt, dt / res.eta_turbine, -1.0]
        rhs = -dt * float(res.water_demand_kw[t]) + (res.level_start_kwh if t == 0 else 0.0)
        if t > 0:
            cols.append(lev[t - 1])
            vals.append(-1.0)
        b.add_row(cols, vals, rhs, rhs)
        b.add_row([pump[t], xp[t]], [1.0, -res.pump_max_kw], -INF, 0.0)
        b.add_row([pump[t], xp[t]], [1.0, -res.pump_min_kw], 0.0, INF)
        b.add_row([tur[t], xt[t]], [1.0, -res.turbine_max_kw], -INF, 0.0)
        b.add_row([xp[t], xt[t]], [1.0, 1.0], -INF, 1.0)
    if end_at_least_start:
        b.add_row([lev[T - 1]], [1.0], res.level_start_kwh, INF)


def add_member_rows(b: LpBuilder, mc: MemberColumns | None, units: tuple[UnitData, ...],
                    evs: tuple[EvData, ...], reservoirs: tuple[ReservoirData, ...], T: int,
                    dt: float, end_at_least_start: bool, binaries: bool) -> None:
    """The members' own rows (none if ``mc`` is None); ``binaries`` adds the EVs' mode binaries."""
    if mc is None:
        return
    for j, un in enumerate(units):
        _unit_rows(b, un, mc.u[j], mc.v[j], mc.w[j], mc.p[j], T, dt)
    for i, ev in enumerate(evs):
        _ev_rows(b, ev, mc.ev_ch[i], mc.ev_dis[i], mc.ev_soc[i], T, dt, end_at_least_start)
        if binaries:
            mode = b.add_var(f"ev{i}_mode", T, 0.0, 1.0, 0.0, integer=True)
            pc, pd = ev.p_charge_max_kw, ev.p_discharge_max_kw
            for t in range(T):
                b.add_row([mc.ev_ch[i][t], mode[t]], [1.0, -pc], -INF, 0.0)
                b.add_row([mc.ev_dis[i][t], mode[t]], [1.0, pd], -INF, pd)
    for r, res in enumerate(reservoirs):
        _reservoir_rows(b, res, r, mc, T, dt, end_at_least_start)


@dataclass
class MemberSchedule:
    """The members' part of a schedule (``[n, T]``; energies ``[n, T + 1]``, column 0 = start)."""

    unit_on: np.ndarray
    unit_kw: np.ndarray
    ev_charge_kw: np.ndarray
    ev_discharge_kw: np.ndarray
    ev_soc_kwh: np.ndarray
    pump_kw: np.ndarray
    turbine_kw: np.ndarray
    level_kwh: np.ndarray
    water_short_kwh: np.ndarray

    @classmethod
    def empty(cls, T: int) -> MemberSchedule:
        """No members."""
        z, z1 = np.zeros((0, T)), np.zeros((0, T + 1))
        return cls(z, z.copy(), z.copy(), z.copy(), z1, z.copy(), z.copy(), z1.copy(), z.copy())

    def net_kw(self) -> np.ndarray:
        """What the members add to the VPP's supply per period, kW."""
        return (self.unit_kw.sum(axis=0) + self.ev_discharge_kw.sum(axis=0)
                - self.ev_charge_kw.sum(axis=0) + self.turbine_kw.sum(axis=0)
                - self.pump_kw.sum(axis=0))


def member_schedule(x: np.ndarray, names: dict[str, np.ndarray], units: tuple[UnitData, ...],
                    evs: tuple[EvData, ...], reservoirs: tuple[ReservoirData, ...],
                    T: int) -> MemberSchedule:
    """The members' arrays of a solution ``x`` (round-off below 1e-9 cleaned)."""
    def get(prefix: str, n: int, field: str) -> np.ndarray:
        arr = np.array([x[names[f"{prefix}{k}_{field}"]] for k in range(n)]).reshape(n, T)
        return np.where(np.abs(arr) < 1e-9, 0.0, arr)

    def with_start(arr: np.ndarray, start: list[float]) -> np.ndarray:
        return np.concatenate([np.reshape(start, (-1, 1)), arr], axis=1) if len(start) else (
            np.zeros((0, T + 1)))

    nu, ne, nr = len(units), len(evs), len(reservoirs)
    return MemberSchedule(
        unit_on=np.round(get("unit", nu, "u")),
        unit_kw=get("unit", nu, "p"),
        ev_charge_kw=get("ev", ne, "ch"),
        ev_discharge_kw=get("ev", ne, "dis"),
        ev_soc_kwh=with_start(get("ev", ne, "soc"), [e.soc_start_kwh for e in evs]),
        pump_kw=get("res", nr, "pump"),
        turbine_kw=get("res", nr, "turbine"),
        level_kwh=with_start(get("res", nr, "level"), [r.level_start_kwh for r in reservoirs]),
        water_short_kwh=get("res", nr, "short"),
    )


def starts_and_stops(on: np.ndarray, initially_on: bool) -> tuple[np.ndarray, np.ndarray]:
    """Start-ups and shut-downs per period (0/1) of an on/off row."""
    prev = np.concatenate([[1.0 if initially_on else 0.0], on[:-1]])
    return np.maximum(on - prev, 0.0), np.maximum(prev - on, 0.0)


def member_cost_terms(units: tuple[UnitData, ...], evs: tuple[EvData, ...],
                      reservoirs: tuple[ReservoirData, ...], s: MemberSchedule, dt: float,
                      voll_cny_per_kwh: float) -> dict[str, float]:
    """The members' cost terms of a schedule, CNY, evaluated from its arrays (not the MILP).

    Only the terms of member types present are returned.
    """
    terms: dict[str, float] = {}
    if units:
        total = 0.0
        for j, un in enumerate(units):
            on = s.unit_on[j]
            starts, stops = starts_and_stops(on, un.initially_on)
            total += float(dt * un.no_load_cost_cny_per_h * on.sum()
                           + dt * un.energy_cost_cny_per_kwh * s.unit_kw[j].sum()
                           + un.startup_cost_cny * starts.sum() + un.shutdown_cost_cny * stops.sum())
        terms["unit_commitment"] = total
    if evs:
        terms["ev_degradation"] = float(sum(
            dt * ev.degradation_cost_cny_per_kwh * (s.ev_charge_kw[i] + s.ev_discharge_kw[i]).sum()
            for i, ev in enumerate(evs)))
    if reservoirs:
        terms["water_storage"] = float(sum(
            dt * (r.pump_cost_cny_per_kwh * s.pump_kw[k].sum()
                  + r.turbine_cost_cny_per_kwh * s.turbine_kw[k].sum())
            + voll_cny_per_kwh * s.water_short_kwh[k].sum() for k, r in enumerate(reservoirs)))
    return terms
