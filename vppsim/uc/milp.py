"""The exact 24-hour unit commitment of a VPP as one MILP (HiGHS), paper 003's model.

Decisions per hour ``t`` (periods of ``dt`` hours; power kW, energy kWh, money CNY):

- diesel/hydro unit ``k``: on ``u``, start ``v``, stop ``w`` and output ``p`` with
  ``u[t] - u[t-1] = v[t] - w[t]``, ``p_min u <= p <= p_max u``, ramps
  ``p[t] - p[t-1] <= R u[t-1] + max(p_min, R) v[t]`` (and down alike), minimum up time
  ``sum(v[t-UT+1..t]) <= u[t]``, minimum down time ``sum(w[t-DT+1..t]) <= 1 - u[t]`` (the tight
  three-variable formulation: ``v, w`` need no integrality), the initial state's remaining
  up or down time, and a horizon energy limit ``dt * sum(p) <= E`` (a hydro unit's water);
- wind/solar unit: on ``u`` and ``p <= available * u``, a start costing ``startup_cost``;
- battery/EV: charge and discharge with a mode binary (never both), energy
  ``soc[t] = soc[t-1] + eta_c dt ch - dt dis / eta_d - trip[t]``, bounds, the energy an EV
  needs at departure, and ``soc[T-1] >= soc_start``;
- reservoir: pump and turbine with binaries (never both, the pump at least ``pump_min`` when
  on), level ``L[t] = L[t-1] + eta_p dt pump - dt turbine / eta_t - water[t] + short[t]``,
  bounds, ``L[T-1] >= L_start``; water the reservoir cannot supply (``short``) costs the
  value of lost load;
- market: sales ``sell <= export_max`` at ``sell_price``, purchases ``buy <= import_max`` at
  ``buy_price``, unmet demand at ``voll`` and spilled output at ``spill_cost``.

``mode="vpp"``: one energy balance per hour, ``sum(p) + dis + turbine + buy + unmet = demand +
ch + pump + sell + spill``; the VPP maximizes its profit ``dt * sum(sell_price*sell -
buy_price*buy) - costs - dt * voll * unmet - dt * spill_cost * spill``, where ``costs`` are
fuel/water, no-load, start-up, shut-down, maintenance, storage degradation and pumping.
``mode="traditional"``: no coordination. Every unit sells all it produces to the market and
every consumer (the demand, the pumps, the storage's charging) buys what it uses, so the two
sides have separate balances and each unit commits against the market price alone. The grid
serves every consumer and takes every unit's output (the VPP's exchange limits bound its own
net exchange, which the traditional grid does not have).

``commitment``: fixed on/off states of the diesel/hydro units (``[n_units, T]`` 0/1), which
turns the MILP into the dispatch LP of that commitment (other binaries stay free) - the
evaluation of the ELM-GA's candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vppsim.optimizers.highs import INF, LinearProgram, LpBuilder
from vppsim.uc.portfolio import Reservoir, StorageUnit, ThermalUnit, UcCase

MODES = ("vpp", "traditional")


@dataclass(frozen=True)
class UcIndex:
    """Column indices of every decision in the MILP (``[n, T]`` arrays per block)."""

    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    p: np.ndarray
    ren_u: np.ndarray
    ren_v: np.ndarray
    ren_p: np.ndarray
    ch: np.ndarray
    dis: np.ndarray
    soc: np.ndarray
    mode: np.ndarray
    pump: np.ndarray
    turbine: np.ndarray
    level: np.ndarray
    short: np.ndarray
    x_pump: np.ndarray
    x_turbine: np.ndarray
    sell: np.ndarray
    buy: np.ndarray
    unmet: np.ndarray
    spill: np.ndarray


def periods(hours: float, dt_h: float) -> int:
    """A duration in hours as a whole number of periods (at least 1)."""
    return max(1, math.ceil(hours / dt_h - 1e-9))


def _block(b: LpBuilder, name: str, n: int, T: int, lo: float | np.ndarray = 0.0,
           hi: float | np.ndarray = INF, integer: bool = False) -> np.ndarray:
    if n == 0:
        return np.zeros((0, T), dtype=int)
    return b.add_var(name, n * T, lo, hi, 0.0, integer=integer).reshape(n, T)


def _thermal_rows(b: LpBuilder, k: int, unit: ThermalUnit, idx: UcIndex, T: int,
                  dt: float) -> None:
    """Logic, limits, ramps, minimum up/down times and the energy limit of unit ``k``."""
    u, v, w, p = idx.u[k], idx.v[k], idx.w[k], idx.p[k]
    on0 = 1.0 if unit.initially_on else 0.0
    p0 = unit.initial_p_kw if unit.initially_on else 0.0
    for t in range(T):
        if t == 0:  # u[0] - v[0] + w[0] = on0
            b.add_row([u[0], v[0], w[0]], [1.0, -1.0, 1.0], on0, on0)
        else:
            b.add_row([u[t], u[t - 1], v[t], w[t]], [1.0, -1.0, -1.0, 1.0], 0.0, 0.0)
        b.add_row([p[t], u[t]], [1.0, -unit.p_min_kw], 0.0, INF)
        b.add_row([p[t], u[t]], [1.0, -unit.p_max_kw], -INF, 0.0)
        b.add_row([v[t], w[t]], [1.0, 1.0], -INF, 1.0)
    if unit.ramp_kw_per_h is not None and unit.ramp_kw_per_h * dt < unit.p_max_kw:
        r = unit.ramp_kw_per_h * dt
        su = max(unit.p_min_kw, r)
        for t in range(T):
            if t == 0:  # p[0] - p0 <= r on0 + su v[0];  p0 - p[0] <= r u[0] + su w[0]
                b.add_row([p[0], v[0]], [1.0, -su], -INF, p0 + r * on0)
                b.add_row([p[0], u[0], w[0]], [-1.0, -r, -su], -INF, -p0)
            else:
                b.add_row([p[t], p[t - 1], u[t - 1], v[t]], [1.0, -1.0, -r, -su], -INF, 0.0)
                b.add_row([p[t - 1], p[t], u[t], w[t]], [1.0, -1.0, -r, -su], -INF, 0.0)
            # implied by the ramps at integer points, tighter in the relaxation:
            # p[t] <= p_max u[t] - (p_max - su) v[t] - ... (su at a start, su before a stop)
            b.add_row([p[t], u[t], v[t]], [1.0, -unit.p_max_kw, unit.p_max_kw - su], -INF, 0.0)
            if t + 1 < T:
                b.add_row([p[t], u[t], w[t + 1]], [1.0, -unit.p_max_kw, unit.p_max_kw - su],
                          -INF, 0.0)
    up, down = periods(unit.min_up_h, dt), periods(unit.min_down_h, dt)
    for t in range(T):
        if up > 1:
            lo = max(0, t - up + 1)
            b.add_row(np.append(v[lo:t + 1], u[t]), np.append(np.ones(t + 1 - lo), -1.0),
                      -INF, 0.0)
        if down > 1:
            lo = max(0, t - down + 1)
            b.add_row(np.append(w[lo:t + 1], u[t]), np.append(np.ones(t + 1 - lo), 1.0),
                      -INF, 1.0)
    held = periods(unit.initial_hours_in_state, dt)
    must = (up - held) if unit.initially_on else (down - held)
    for t in range(min(max(must, 0), T)):
        b.add_row([u[t]], [1.0], on0, on0)
    if unit.energy_limit_kwh is not None:
        b.add_row(p, np.full(T, dt), -INF, unit.energy_limit_kwh)


def _storage_rows(b: LpBuilder, s: StorageUnit, ch: np.ndarray, dis: np.ndarray,
                  soc: np.ndarray, mode: np.ndarray, T: int, dt: float) -> None:
    trip = np.zeros(T)
    departures = s.departures()
    trip[departures] = s.trip_kwh
    start = s.soc_start * s.capacity_kwh
    for t in range(T):
        cols = [soc[t], ch[t], dis[t]]
        vals = [1.0, -s.eta_charge * dt, dt / s.eta_discharge]
        rhs = -trip[t] + (start if t == 0 else 0.0)
        if t > 0:
            cols.append(soc[t - 1])
            vals.append(-1.0)
        b.add_row(cols, vals, rhs, rhs)
        b.add_row([ch[t], mode[t]], [1.0, -s.p_charge_max_kw], -INF, 0.0)
        b.add_row([dis[t], mode[t]], [1.0, s.p_discharge_max_kw], -INF, s.p_discharge_max_kw)
    for t in departures:
        if t > 0 and s.departure_kwh > 0.0:
            b.add_row([soc[t - 1]], [1.0], s.departure_kwh, INF)
    if s.end_soc_at_least_start:
        b.add_row([soc[T - 1]], [1.0], start, INF)


def _reservoir_rows(b: LpBuilder, r: Reservoir, j: int, idx: UcIndex, T: int,
                    dt: float) -> None:
    pump, tur, lev, short = idx.pump[j], idx.turbine[j], idx.level[j], idx.short[j]
    xp, xt = idx.x_pump[j], idx.x_turbine[j]
    for t in range(T):
        cols = [lev[t], pump[t], tur[t], short[t]]
        vals = [1.0, -r.eta_pump * dt, dt / r.eta_turbine, -1.0]
        rhs = -float(r.water_demand_kwh[t]) + (r.level_start_kwh if t == 0 else 0.0)
        if t > 0:
            cols.append(lev[t - 1])
            vals.append(-1.0)
        b.add_row(cols, vals, rhs, rhs)
        b.add_row([pump[t], xp[t]], [1.0, -r.pump_max_kw], -INF, 0.0)
        b.add_row([pump[t], xp[t]], [1.0, -r.pump_min_kw], 0.0, INF)
        b.add_row([tur[t], xt[t]], [1.0, -r.turbine_max_kw], -INF, 0.0)
        b.add_row([xp[t], xt[t]], [1.0, 1.0], -INF, 1.0)
    b.add_row([lev[T - 1]], [1.0], r.level_start_kwh, INF)


def _columns(b: LpBuilder, case: UcCase, commitment: np.ndarray | None,
             coordinated: bool) -> UcIndex:
    T = case.n_hours
    nk, nr, ns, nw = (len(case.thermal), len(case.renewables), len(case.storage),
                      len(case.reservoirs))
    if commitment is None:
        u = _block(b, "u", nk, T, 0.0, 1.0, integer=True)
    else:  # a fixed commitment: u's bounds
        fixed = np.asarray(commitment, float).ravel()
        u = _block(b, "u", nk, T, fixed, fixed)
    avail = np.array([r.available_kw for r in case.renewables]).reshape(nr, T)
    plugged = np.array([s.plugged for s in case.storage], bool).reshape(ns, T)
    pch = np.array([s.p_charge_max_kw for s in case.storage])[:, None] * plugged
    pdis = np.array([s.p_discharge_max_kw for s in case.storage])[:, None] * plugged
    soc_lo = np.array([s.soc_min * s.capacity_kwh for s in case.storage])[:, None]
    soc_hi = np.array([s.soc_max * s.capacity_kwh for s in case.storage])[:, None]
    lev_lo = np.array([r.level_min_kwh for r in case.reservoirs])[:, None]
    lev_hi = np.array([r.level_max_kwh for r in case.reservoirs])[:, None]
    return UcIndex(
        u=u, v=_block(b, "v", nk, T, 0.0, 1.0), w=_block(b, "w", nk, T, 0.0, 1.0),
        p=_block(b, "p", nk, T, 0.0, np.repeat([t.p_max_kw for t in case.thermal], T)),
        ren_u=_block(b, "ren_u", nr, T, 0.0, 1.0, integer=True),
        ren_v=_block(b, "ren_v", nr, T, 0.0, 1.0),
        ren_p=_block(b, "ren_p", nr, T, 0.0, avail.ravel()),
        ch=_block(b, "ch", ns, T, 0.0, pch.ravel()), dis=_block(b, "dis", ns, T, 0.0, pdis.ravel()),
        soc=_block(b, "soc", ns, T, np.broadcast_to(soc_lo, (ns, T)).ravel(),
                   np.broadcast_to(soc_hi, (ns, T)).ravel()),
        mode=_block(b, "mode", ns, T, 0.0, 1.0, integer=True),
        pump=_block(b, "pump", nw, T, 0.0, np.repeat([r.pump_max_kw for r in case.reservoirs], T)),
        turbine=_block(b, "turbine", nw, T, 0.0,
                       np.repeat([r.turbine_max_kw for r in case.reservoirs], T)),
        level=_block(b, "level", nw, T, np.broadcast_to(lev_lo, (nw, T)).ravel(),
                     np.broadcast_to(lev_hi, (nw, T)).ravel()),
        short=_block(b, "short", nw, T),
        x_pump=_block(b, "x_pump", nw, T, 0.0, 1.0, integer=True),
        x_turbine=_block(b, "x_turbine", nw, T, 0.0, 1.0, integer=True),
        sell=b.add_var("sell", T, 0.0, case.export_max_kw if coordinated else INF),
        buy=b.add_var("buy", T, 0.0, case.import_max_kw if coordinated else INF),
        unmet=b.add_var("unmet", T, 0.0, case.demand_kw),
        spill=b.add_var("spill", T, 0.0, INF),
    )


def _set_costs(c: np.ndarray, case: UcCase, idx: UcIndex) -> None:
    """Objective coefficients (minimize: costs minus revenue)."""
    dt = case.dt_h
    for k, unit in enumerate(case.thermal):
        c[idx.u[k]] = dt * unit.no_load_cost_cny_per_h
        c[idx.p[k]] = dt * (unit.marginal_cost_cny_per_kwh + unit.maintenance_cost_cny_per_kwh)
        c[idx.v[k]] = unit.startup_cost_cny
        c[idx.w[k]] = unit.shutdown_cost_cny
    for j, ren in enumerate(case.renewables):
        c[idx.ren_p[j]] = dt * (ren.marginal_cost_cny_per_kwh + ren.maintenance_cost_cny_per_kwh)
        c[idx.ren_v[j]] = ren.startup_cost_cny
    for j, s in enumerate(case.storage):
        c[idx.ch[j]] = c[idx.dis[j]] = dt * s.degradation_cost_cny_per_kwh
    for j, r in enumerate(case.reservoirs):
        c[idx.pump[j]] = dt * r.pump_cost_cny_per_kwh
        c[idx.turbine[j]] = dt * r.turbine_cost_cny_per_kwh
        c[idx.short[j]] = case.voll_cny_per_kwh
    c[idx.sell] = -dt * case.sell_price_cny_per_kwh
    c[idx.buy] = dt * case.buy_price_cny_per_kwh
    c[idx.unmet] = dt * case.voll_cny_per_kwh
    c[idx.spill] = dt * case.spill_cost_cny_per_kwh


def _balance_rows(b: LpBuilder, case: UcCase, idx: UcIndex, mode: str) -> None:
    """One balance per hour (``vpp``), or a producers' and a consumers' one (``traditional``)."""
    for t in range(case.n_hours):
        supply = np.concatenate([idx.p[:, t], idx.ren_p[:, t], idx.dis[:, t], idx.turbine[:, t]])
        uses = np.concatenate([idx.ch[:, t], idx.pump[:, t]])
        d = float(case.demand_kw[t])
        if mode == "vpp":
            cols = np.concatenate([supply, [idx.buy[t], idx.unmet[t]], uses,
                                   [idx.sell[t], idx.spill[t]]])
            vals = np.concatenate([np.ones(len(supply) + 2), -np.ones(len(uses) + 2)])
            b.add_row(cols, vals, d, d)
        else:
            b.add_row(np.concatenate([supply, [idx.sell[t], idx.spill[t]]]),
                      np.concatenate([np.ones(len(supply)), [-1.0, -1.0]]), 0.0, 0.0)
            b.add_row(np.concatenate([[idx.buy[t], idx.unmet[t]], uses]),
                      np.concatenate([[1.0, 1.0], -np.ones(len(uses))]), d, d)


def build_uc_milp(case: UcCase, mode: str = "vpp",
                  commitment: np.ndarray | None = None) -> tuple[LinearProgram, UcIndex]:
    """The MILP of the module docstring and its column indices.

    Raises
    ------
    ValueError
        On an unknown ``mode`` or a ``commitment`` of the wrong shape.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    T, dt = case.n_hours, case.dt_h
    if commitment is not None and np.shape(commitment) != (case.n_units, T):
        raise ValueError(f"commitment must have shape {(case.n_units, T)}, "
                         f"got {np.shape(commitment)}")
    b = LpBuilder()
    idx = _columns(b, case, commitment, coordinated=mode == "vpp")
    for k, unit in enumerate(case.thermal):
        _thermal_rows(b, k, unit, idx, T, dt)
    for j, ren in enumerate(case.renewables):
        on0 = 1.0 if ren.initially_on else 0.0
        for t in range(T):
            prev = [idx.ren_u[j, t - 1]] if t > 0 else []
            b.add_row([idx.ren_v[j, t], idx.ren_u[j, t], *prev],
                      [1.0, -1.0, *([1.0] * len(prev))], 0.0 if t > 0 else -on0, INF)
            b.add_row([idx.ren_p[j, t], idx.ren_u[j, t]], [1.0, -float(ren.available_kw[t])],
                      -INF, 0.0)
    for j, s in enumerate(case.storage):
        _storage_rows(b, s, idx.ch[j], idx.dis[j], idx.soc[j], idx.mode[j], T, dt)
    for j, r in enumerate(case.reservoirs):
        _reservoir_rows(b, r, j, idx, T, dt)
    _balance_rows(b, case, idx, mode)
    lp = b.build()
    _set_costs(lp.c, case, idx)
    return lp, idx
