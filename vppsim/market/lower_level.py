"""The lower level of the bi-level game: one VPP's least-cost day-ahead schedule given prices.

Paper 004 eq. 1-6 with the signs of docs/design.md: the VPP buys ``g[t] >= 0`` from the VPO at
``c_sell[t]`` and sells ``e[t] >= 0`` to it at ``c_buy[t]``. Balance per period::

    wind_fc - w_cur + pv_fc - pv_cur + sum(dis - ch) + sum(gen) + g - e + lc + unmet - spill = load

Objective (CNY)::

    F = dt * sum_t [ mu1*w_cur + mu2*pv_cur + (lam1 + W_bat)*(ch + dis) + lam2*wind_fc
                     + lam3*pv_fc + W_b*g + gen cost + lc cost + VOLL*(unmet + spill)
                     + c_sell*g - c_buy*e ]

``unmet`` (demand that nothing can serve) and ``spill`` (output that nothing can absorb, only
possible with must-run generators) are priced at the value of lost load, so a physically
impossible day is a reported result, never an infeasible LP.

The LP is solved first; if its optimum charges and discharges a battery at once, or buys and
sells at once, the same model is re-solved as a MILP with the flip-flop binaries, so the
returned schedule is always physically realizable and still exactly optimal.

Committed units, EVs and water reservoirs (:mod:`vppsim.market.commitment`) add their own
columns and rows; a VPP with a unit or a reservoir has on/off binaries, and its problem is
solved as a MILP directly (``VppDayAheadData.has_binaries``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from vppsim.market.commitment import (
    EvData,
    MemberSchedule,
    ReservoirData,
    UnitData,
    add_member_columns,
    add_member_rows,
    member_cost_terms,
    member_schedule,
)
from vppsim.optimizers.highs import INF, LinearProgram, LpBuilder, solve_lp
from vppsim.scenario.schema import BatteryParams, VppCostSpec

COMPLEMENTARITY_TOL_KW = 1e-6


@dataclass(frozen=True)
class BatteryData:
    """A battery as the LP sees it: physics and the stored energy at the start, kWh."""

    params: BatteryParams
    soc_start_kwh: float


@dataclass(frozen=True)
class GeneratorData:
    """A dispatchable unit as the LP sees it (always committed; see the generator agent)."""

    p_min_kw: float
    p_max_kw: float
    ramp_kw_per_h: float | None
    p_start_kw: float
    cost_a_cny_per_h: float
    segment_width_kw: np.ndarray
    segment_slope_cny_per_kwh: np.ndarray


@dataclass(frozen=True)
class ControllableLoadData:
    """Curtailable power of a controllable load per period and its cost."""

    curtailable_kw: np.ndarray
    cost_cny_per_kwh: float


@dataclass(frozen=True)
class VppDayAheadData:
    """Everything a VPP's day-ahead problem needs except the prices."""

    name: str
    dt_h: float
    wind_fc_kw: np.ndarray
    pv_fc_kw: np.ndarray
    load_kw: np.ndarray
    costs: VppCostSpec
    buy_max_kw: float
    sell_max_kw: float
    voll_cny_per_kwh: float
    batteries: tuple[BatteryData, ...] = ()
    generators: tuple[GeneratorData, ...] = ()
    controllable_loads: tuple[ControllableLoadData, ...] = ()
    end_soc_at_least_initial: bool = True
    units: tuple[UnitData, ...] = ()
    evs: tuple[EvData, ...] = ()
    reservoirs: tuple[ReservoirData, ...] = ()

    @property
    def n_periods(self) -> int:
        """Number of periods in the day."""
        return len(self.load_kw)

    @property
    def has_binaries(self) -> bool:
        """True if its problem has on/off binaries of its own (a unit or a reservoir): a MILP."""
        return bool(self.units or self.reservoirs)

    @property
    def has_members(self) -> bool:
        """True if it has committed units, EVs or reservoirs."""
        return bool(self.units or self.evs or self.reservoirs)

    @cached_property
    def lp_templates(self) -> dict[bool, LinearProgram]:
        """Its LP (``False``) and MILP (``True``) at zero prices, once built (:func:`build_vpp_lp`).

        Only the trade costs depend on the prices; a game builds the same VPP's LP dozens of
        times. The templates' arrays are read-only, as they are shared.
        """
        return {}


@dataclass
class VppSchedule:
    """A VPP's schedule; arrays are per period (``[n, T]`` for per-unit blocks)."""

    name: str
    status: str
    buy_kw: np.ndarray
    sell_kw: np.ndarray
    wind_curtail_kw: np.ndarray
    pv_curtail_kw: np.ndarray
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray  # [n_batteries, T + 1], column 0 = start
    gen_kw: np.ndarray
    load_curtail_kw: np.ndarray
    unmet_kw: np.ndarray
    spill_kw: np.ndarray
    cost_cny: float
    used_milp: bool = False
    cost_terms_cny: dict[str, float] = field(default_factory=dict)
    #: committed units, EVs and reservoirs (None if the VPP has none)
    members: MemberSchedule | None = None

    @property
    def net_buy_kw(self) -> np.ndarray:
        """Net purchase from the VPO (buy minus sell), kW."""
        return self.buy_kw - self.sell_kw


def build_vpp_lp(
    d: VppDayAheadData, c_sell: np.ndarray, c_buy: np.ndarray, binaries: bool = False
) -> LinearProgram:
    """The VPP's day-ahead LP (or MILP with flip-flop binaries) at the prices ``c_sell``/``c_buy``.

    Its rows, bounds and the other costs come from ``d.lp_templates`` (built once, shared and
    read-only); only the cost vector is new: the trade costs ``(c_sell + w_b)*dt`` of the
    purchases ``g`` and ``-c_buy*dt`` of the sales ``e``.
    """
    template = d.lp_templates.get(binaries)
    if template is None:
        template = d.lp_templates[binaries] = _read_only(_build_vpp_lp(d, binaries))
    c = template.c.copy()
    c[template.names["g"]] = (np.asarray(c_sell) + d.costs.w_b_purchase_cny_per_kwh) * d.dt_h
    c[template.names["e"]] = -np.asarray(c_buy) * d.dt_h
    return replace(template, c=c)


def _read_only(lp: LinearProgram) -> LinearProgram:
    """``lp`` with its arrays (and its matrix's) made read-only, to be shared."""
    for arr in (lp.c, lp.row_lo, lp.row_hi, lp.col_lo, lp.col_hi, lp.integer, lp.a.data,
                lp.a.indices, lp.a.indptr, *lp.names.values()):
        arr.flags.writeable = False
    return lp


def _build_vpp_lp(d: VppDayAheadData, binaries: bool) -> LinearProgram:
    """The VPP's day-ahead LP (MILP with ``binaries``) with zero prices (see :func:`build_vpp_lp`)."""
    T, dt, k = d.n_periods, d.dt_h, d.costs
    b = LpBuilder()
    big = d.voll_cny_per_kwh * dt
    w_cur = b.add_var("w_cur", T, 0.0, d.wind_fc_kw, k.mu1_wind_curtail_cny_per_kwh * dt)
    pv_cur = b.add_var("pv_cur", T, 0.0, d.pv_fc_kw, k.mu2_pv_curtail_cny_per_kwh * dt)
    g = b.add_var("g", T, 0.0, d.buy_max_kw, k.w_b_purchase_cny_per_kwh * dt)
    e = b.add_var("e", T, 0.0, d.sell_max_kw, 0.0)
    unmet = b.add_var("unmet", T, 0.0, d.load_kw, big)
    spill = b.add_var("spill", T, 0.0, INF, big)
    bat_cost = (k.lam1_battery_cny_per_kwh + k.w_bat_battery_cny_per_kwh) * dt
    ch, dis, soc = [], [], []
    for i, bat in enumerate(d.batteries):
        p = bat.params
        ch.append(b.add_var(f"ch{i}", T, 0.0, p.p_max_kw, bat_cost))
        dis.append(b.add_var(f"dis{i}", T, 0.0, p.p_max_kw, bat_cost))
        soc.append(
            b.add_var(f"soc{i}", T, p.soc_min * p.capacity_kwh, p.soc_max * p.capacity_kwh)
        )
    gens = []
    for j, gen in enumerate(d.generators):
        segs = [
            b.add_var(f"gen{j}_s{s}", T, 0.0, w, slope * dt)
            for s, (w, slope) in enumerate(
                zip(gen.segment_width_kw, gen.segment_slope_cny_per_kwh, strict=True)
            )
        ]
        gens.append(np.stack(segs))  # [S, T]
        b.offset += gen.cost_a_cny_per_h * dt * T
    lcs = [
        b.add_var(f"lc{m}", T, 0.0, cl.curtailable_kw, cl.cost_cny_per_kwh * dt)
        for m, cl in enumerate(d.controllable_loads)
    ]
    mc = (add_member_columns(b, d.units, d.evs, d.reservoirs, T, dt, d.voll_cny_per_kwh)
          if d.has_members else None)
    b.offset += dt * float(
        k.lam2_wind_om_cny_per_kwh * d.wind_fc_kw.sum() + k.lam3_pv_om_cny_per_kwh * d.pv_fc_kw.sum()
    )

    for t in range(T):
        cols = [w_cur[t], pv_cur[t], g[t], e[t], unmet[t], spill[t]]
        vals = [-1.0, -1.0, 1.0, -1.0, 1.0, -1.0]
        for i in range(len(d.batteries)):
            cols += [ch[i][t], dis[i][t]]
            vals += [-1.0, 1.0]
        for segs in gens:
            cols += segs[:, t].tolist()
            vals += [1.0] * segs.shape[0]
        for lc in lcs:
            cols.append(lc[t])
            vals.append(1.0)
        extra = mc.balance_terms(t) if mc is not None else ([], [])
        cols, vals = cols + extra[0], vals + extra[1]
        rhs = d.load_kw[t] - d.wind_fc_kw[t] - d.pv_fc_kw[t]
        b.add_row(cols, vals, rhs, rhs)
    for i, bat in enumerate(d.batteries):
        p = bat.params
        for t in range(T):
            # soc[t] - soc[t-1] - eta_c*dt*ch[t] + dt/eta_d*dis[t] = 0   (soc[-1] = start)
            cols = [soc[i][t], ch[i][t], dis[i][t]]
            vals = [1.0, -p.eta_charge * dt, dt / p.eta_discharge]
            rhs = 0.0
            if t == 0:
                rhs = bat.soc_start_kwh
            else:
                cols.append(soc[i][t - 1])
                vals.append(-1.0)
            b.add_row(cols, vals, rhs, rhs)
        if d.end_soc_at_least_initial:
            b.add_row([soc[i][T - 1]], [1.0], bat.soc_start_kwh, INF)
    for j, gen in enumerate(d.generators):
        segs = gens[j]
        for t in range(T):
            b.add_row(segs[:, t], 1.0, gen.p_min_kw, INF)
            if gen.ramp_kw_per_h is not None:
                r = gen.ramp_kw_per_h * dt
                if t == 0:
                    b.add_row(segs[:, 0], 1.0, gen.p_start_kw - r, gen.p_start_kw + r)
                else:
                    cols = np.concatenate([segs[:, t], segs[:, t - 1]])
                    vals = np.concatenate([np.ones(segs.shape[0]), -np.ones(segs.shape[0])])
                    b.add_row(cols, vals, -r, r)
    add_member_rows(b, mc, d.units, d.evs, d.reservoirs, T, dt, d.end_soc_at_least_initial, binaries)
    if binaries:
        u_g = b.add_var("u_buy", T, 0.0, 1.0, 0.0, integer=True)
        for t in range(T):
            b.add_row([g[t], u_g[t]], [1.0, -d.buy_max_kw], -INF, 0.0)
            b.add_row([e[t], u_g[t]], [1.0, d.sell_max_kw], -INF, d.sell_max_kw)
        for i, bat in enumerate(d.batteries):
            u = b.add_var(f"u_ch{i}", T, 0.0, 1.0, 0.0, integer=True)
            pm = bat.params.p_max_kw
            for t in range(T):
                b.add_row([ch[i][t], u[t]], [1.0, -pm], -INF, 0.0)
                b.add_row([dis[i][t], u[t]], [1.0, pm], -INF, pm)
    return b.build()


def _schedule_from(d: VppDayAheadData, lp: LinearProgram, x: np.ndarray, status: str,
                   objective: float, used_milp: bool) -> VppSchedule:
    n = lp.names
    T = d.n_periods
    nb, ng, nl = len(d.batteries), len(d.generators), len(d.controllable_loads)
    ch = np.array([x[n[f"ch{i}"]] for i in range(nb)]).reshape(nb, T)
    dis = np.array([x[n[f"dis{i}"]] for i in range(nb)]).reshape(nb, T)
    soc = np.zeros((nb, T + 1))
    for i, bat in enumerate(d.batteries):
        soc[i, 0] = bat.soc_start_kwh
        soc[i, 1:] = x[n[f"soc{i}"]]
    gen = np.zeros((ng, T))
    for j, g in enumerate(d.generators):
        gen[j] = sum(x[n[f"gen{j}_s{s}"]] for s in range(len(g.segment_width_kw)))
    lc = np.array([x[n[f"lc{m}"]] for m in range(nl)]).reshape(nl, T)
    clean = lambda v: np.where(np.abs(v) < 1e-9, 0.0, v)  # noqa: E731
    return VppSchedule(
        name=d.name,
        status=status,
        buy_kw=clean(x[n["g"]]),
        sell_kw=clean(x[n["e"]]),
        wind_curtail_kw=clean(x[n["w_cur"]]),
        pv_curtail_kw=clean(x[n["pv_cur"]]),
        charge_kw=clean(ch),
        discharge_kw=clean(dis),
        soc_kwh=soc,
        gen_kw=clean(gen),
        load_curtail_kw=clean(lc),
        unmet_kw=clean(x[n["unmet"]]),
        spill_kw=clean(x[n["spill"]]),
        cost_cny=objective,
        used_milp=used_milp,
        members=(member_schedule(x, n, d.units, d.evs, d.reservoirs, T) if d.has_members
                 else None),
    )


def _violates_complementarity(s: VppSchedule) -> bool:
    tol = COMPLEMENTARITY_TOL_KW
    both_trade = np.minimum(s.buy_kw, s.sell_kw) > tol
    both_bat = np.minimum(s.charge_kw, s.discharge_kw) > tol
    both_ev = (np.minimum(s.members.ev_charge_kw, s.members.ev_discharge_kw) > tol
               if s.members is not None else np.zeros(0, bool))
    return bool(both_trade.any() or both_bat.any() or both_ev.any())


def solve_vpp_day_ahead(
    d: VppDayAheadData, c_sell: np.ndarray, c_buy: np.ndarray
) -> VppSchedule:
    """Return the VPP's least-cost schedule at prices ``c_sell``/``c_buy`` (HiGHS, exact).

    A VPP with binaries of its own (``d.has_binaries``) is solved as one MILP with the
    flip-flop binaries included. Raises ``RuntimeError`` only if HiGHS fails on a model that
    is feasible by construction.
    """
    if d.has_binaries:
        milp = build_vpp_lp(d, c_sell, c_buy, binaries=True)
        msol = solve_lp(milp, time_limit_s=60.0)
        if not msol.optimal or msol.x is None:
            raise RuntimeError(f"{d.name}: day-ahead MILP not solved ({msol.status})")
        sched = _schedule_from(d, milp, msol.x, msol.status, msol.objective, used_milp=True)
        sched.cost_terms_cny = vpp_cost_terms(d, sched, c_sell, c_buy)
        return sched
    lp = build_vpp_lp(d, c_sell, c_buy)
    sol = solve_lp(lp)
    if not sol.optimal or sol.x is None:
        raise RuntimeError(f"{d.name}: day-ahead LP not solved ({sol.status})")
    sched = _schedule_from(d, lp, sol.x, sol.status, sol.objective, used_milp=False)
    if _violates_complementarity(sched):
        milp = build_vpp_lp(d, c_sell, c_buy, binaries=True)
        msol = solve_lp(milp, time_limit_s=60.0)
        if not msol.optimal or msol.x is None:
            raise RuntimeError(f"{d.name}: day-ahead MILP not solved ({msol.status})")
        sched = _schedule_from(d, milp, msol.x, msol.status, msol.objective, used_milp=True)
    sched.cost_terms_cny = vpp_cost_terms(d, sched, c_sell, c_buy)
    return sched


def vpp_cost_terms(
    d: VppDayAheadData, s: VppSchedule, c_sell: np.ndarray, c_buy: np.ndarray
) -> dict[str, float]:
    """Evaluate the terms of paper 004 eq. 4-6 for a schedule, CNY (independent of the LP)."""
    dt, k = d.dt_h, d.costs
    throughput = float((s.charge_kw + s.discharge_kw).sum())
    gen_cost = 0.0
    for j, g in enumerate(d.generators):
        starts = np.concatenate([[0.0], np.cumsum(g.segment_width_kw)[:-1]])
        used = np.clip(s.gen_kw[j][:, None] - starts[None, :], 0.0, g.segment_width_kw[None, :])
        gen_cost += float((used @ g.segment_slope_cny_per_kwh).sum() + g.cost_a_cny_per_h * d.n_periods)
    lc_cost = sum(
        float(s.load_curtail_kw[m].sum()) * cl.cost_cny_per_kwh
        for m, cl in enumerate(d.controllable_loads)
    )
    terms = {
        "curtailment": dt * float(k.mu1_wind_curtail_cny_per_kwh * s.wind_curtail_kw.sum()
                                  + k.mu2_pv_curtail_cny_per_kwh * s.pv_curtail_kw.sum()),
        "battery_operation": dt * k.lam1_battery_cny_per_kwh * throughput,
        "renewable_operation": dt * float(k.lam2_wind_om_cny_per_kwh * d.wind_fc_kw.sum()
                                          + k.lam3_pv_om_cny_per_kwh * d.pv_fc_kw.sum()),
        "environmental": dt * (k.w_b_purchase_cny_per_kwh * float(s.buy_kw.sum())
                               + k.w_bat_battery_cny_per_kwh * throughput),
        "generation": dt * gen_cost,
        "load_curtailment": dt * lc_cost,
        "lost_load": dt * d.voll_cny_per_kwh * float(s.unmet_kw.sum() + s.spill_kw.sum()),
        "trade": dt * float(np.dot(c_sell, s.buy_kw) - np.dot(c_buy, s.sell_kw)),
    }
    if s.members is not None:
        terms.update(member_cost_terms(d.units, d.evs, d.reservoirs, s.members, dt,
                                       d.voll_cny_per_kwh))
    terms["total"] = sum(terms.values())
    return terms
