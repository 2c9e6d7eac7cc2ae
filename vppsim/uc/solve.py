"""Solve the unit-commitment MILP with HiGHS and read its schedule as tidy tables."""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd

from vppsim.optimizers.highs import new_highs, pass_model
from vppsim.uc.milp import UcIndex, build_uc_milp
from vppsim.uc.portfolio import UcCase

#: HiGHS primal solution status "feasible"
_FEASIBLE = 2


@dataclass(frozen=True)
class UcSolution:
    """A solved unit commitment: the HiGHS answer and the schedule it holds.

    ``profit_cny`` is the VPP's profit (revenue minus every cost and penalty) of the schedule;
    ``bound_cny`` HiGHS' proven upper bound on it and ``gap`` the relative gap
    ``(bound - profit) / max(|profit|, 1)`` (0 when proven optimal; NaN if unknown).
    """

    case: UcCase
    mode: str
    status: str
    proven_optimal: bool
    profit_cny: float
    bound_cny: float
    gap: float
    wall_s: float
    x: np.ndarray
    idx: UcIndex

    @property
    def commitment(self) -> np.ndarray:
        """On/off of every diesel/hydro unit, ``[n_units, T]`` 0/1."""
        return np.round(self.x[self.idx.u]).astype(int)


def solve_uc(case: UcCase, mode: str = "vpp", time_limit_s: float = 120.0,
             mip_rel_gap: float = 1e-3, commitment: np.ndarray | None = None,
             threads: int = 1) -> UcSolution:
    """Solve the case's MILP (or, with ``commitment``, its dispatch) with HiGHS.

    Raises
    ------
    RuntimeError
        If HiGHS finds no feasible schedule (the model always has one: unmet demand, spill
        and water shortfall are priced, not forbidden, so this means a solver failure or a
        time limit reached before the first schedule).
    """
    lp, idx = build_uc_milp(case, mode, commitment)
    h = new_highs(threads)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    pass_model(h, lp)
    t0 = time.perf_counter()
    h.run()
    wall = time.perf_counter() - t0
    info = h.getInfo()
    status = h.getModelStatus()
    if info.primal_solution_status != _FEASIBLE:
        hint = (f"; HiGHS stopped at the time limit of {time_limit_s:g} s before its first "
                "schedule: allow more time (vppsim uc --time-limit)"
                if status == highspy.HighsModelStatus.kTimeLimit else "")
        raise RuntimeError(f"{case.name}: no feasible unit commitment found "
                           f"({h.modelStatusToString(status)}){hint}")
    profit = -float(info.objective_function_value) - lp.offset
    optimal = status == highspy.HighsModelStatus.kOptimal
    if lp.is_mip:
        bound = -float(info.mip_dual_bound) - lp.offset
        gap = (bound - profit) / max(abs(profit), 1.0)
    else:
        bound, gap = profit, 0.0 if optimal else float("nan")
    return UcSolution(case, mode, h.modelStatusToString(status), optimal, profit, bound,
                      max(float(gap), 0.0), wall, np.asarray(h.getSolution().col_value), idx)


def unit_table(sol: UcSolution) -> pd.DataFrame:
    """Per hour and unit (diesel, hydro, wind, solar): on, start, stop, output kW."""
    case, x, idx = sol.case, sol.x, sol.idx
    T = case.n_hours
    frames = []
    for k, unit in enumerate(case.thermal):
        frames.append(pd.DataFrame({
            "hour": np.arange(T), "unit": unit.name, "kind": unit.kind,
            "on": np.round(x[idx.u[k]]).astype(int), "start": np.round(x[idx.v[k]]).astype(int),
            "stop": np.round(x[idx.w[k]]).astype(int), "p_kw": x[idx.p[k]]}))
    for j, ren in enumerate(case.renewables):
        on = np.round(x[idx.ren_u[j]]).astype(int)
        prev = np.concatenate([[int(ren.initially_on)], on[:-1]])
        frames.append(pd.DataFrame({
            "hour": np.arange(T), "unit": ren.name, "kind": ren.kind, "on": on,
            "start": np.maximum(on - prev, 0), "stop": np.maximum(prev - on, 0),
            "p_kw": x[idx.ren_p[j]]}))
    cols = ["hour", "unit", "kind", "on", "start", "stop", "p_kw"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def storage_table(sol: UcSolution) -> pd.DataFrame:
    """Per hour and battery/EV: charge, discharge kW and energy stored at the end, kWh."""
    case, x, idx = sol.case, sol.x, sol.idx
    T = case.n_hours
    frames = [pd.DataFrame({
        "hour": np.arange(T), "unit": s.name, "kind": s.kind, "charge_kw": x[idx.ch[j]],
        "discharge_kw": x[idx.dis[j]], "soc_kwh": x[idx.soc[j]],
        "plugged": np.asarray(s.plugged, bool)}) for j, s in enumerate(case.storage)]
    cols = ["hour", "unit", "kind", "charge_kw", "discharge_kw", "soc_kwh", "plugged"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def reservoir_table(sol: UcSolution) -> pd.DataFrame:
    """Per hour and reservoir: pump and turbine kW, level and water shortfall, kWh."""
    case, x, idx = sol.case, sol.x, sol.idx
    T = case.n_hours
    frames = [pd.DataFrame({
        "hour": np.arange(T), "reservoir": r.name, "pump_kw": x[idx.pump[j]],
        "turbine_kw": x[idx.turbine[j]], "level_kwh": x[idx.level[j]],
        "water_demand_kwh": r.water_demand_kwh, "shortfall_kwh": x[idx.short[j]]})
        for j, r in enumerate(case.reservoirs)]
    cols = ["hour", "reservoir", "pump_kw", "turbine_kw", "level_kwh", "water_demand_kwh",
            "shortfall_kwh"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def market_table(sol: UcSolution) -> pd.DataFrame:
    """Per hour: demand, sales, purchases, unmet demand and spill (kW) and the prices."""
    case, x, idx = sol.case, sol.x, sol.idx
    return pd.DataFrame({
        "hour": np.arange(case.n_hours), "demand_kw": case.demand_kw,
        "sell_kw": x[idx.sell], "buy_kw": x[idx.buy], "unmet_kw": x[idx.unmet],
        "spill_kw": x[idx.spill], "sell_price_cny_per_kwh": case.sell_price_cny_per_kwh,
        "buy_price_cny_per_kwh": case.buy_price_cny_per_kwh})


def cost_breakdown(sol: UcSolution) -> dict[str, float]:
    """Revenue, every cost and penalty of the schedule, and the profit, CNY.

    ``operating_cost_cny`` is what running the units costs (fuel/water, no-load, start-up,
    shut-down, maintenance, storage degradation, pumping and turbines); ``net_cost_cny`` is
    minus the profit (purchases and penalties included, sales subtracted).
    """
    case, x, idx, dt = sol.case, sol.x, sol.idx, sol.case.dt_h
    th = case.thermal
    mc = np.array([u.marginal_cost_cny_per_kwh for u in th])
    om = np.array([u.maintenance_cost_cny_per_kwh for u in th])
    out = {
        "fuel_cny": dt * float(np.sum(mc[:, None] * x[idx.p])) if th else 0.0,
        "maintenance_cny": dt * float(np.sum(om[:, None] * x[idx.p])) if th else 0.0,
        "no_load_cny": dt * float(sum(u.no_load_cost_cny_per_h * x[idx.u[k]].sum()
                                      for k, u in enumerate(th))),
        "startup_cny": float(sum(u.startup_cost_cny * x[idx.v[k]].sum() for k, u in enumerate(th))),
        "shutdown_cny": float(sum(u.shutdown_cost_cny * x[idx.w[k]].sum()
                                  for k, u in enumerate(th))),
        "renewables_cny": float(sum(
            dt * (r.marginal_cost_cny_per_kwh + r.maintenance_cost_cny_per_kwh) * x[idx.ren_p[j]].sum()
            + r.startup_cost_cny * x[idx.ren_v[j]].sum() for j, r in enumerate(case.renewables))),
        "degradation_cny": float(sum(dt * s.degradation_cost_cny_per_kwh
                                     * (x[idx.ch[j]].sum() + x[idx.dis[j]].sum())
                                     for j, s in enumerate(case.storage))),
        "pumping_cny": float(sum(dt * (r.pump_cost_cny_per_kwh * x[idx.pump[j]].sum()
                                       + r.turbine_cost_cny_per_kwh * x[idx.turbine[j]].sum())
                                 for j, r in enumerate(case.reservoirs))),
    }
    out["operating_cost_cny"] = float(sum(out.values()))
    out["sales_cny"] = dt * float(case.sell_price_cny_per_kwh @ x[idx.sell])
    out["purchases_cny"] = dt * float(case.buy_price_cny_per_kwh @ x[idx.buy])
    out["unmet_penalty_cny"] = dt * case.voll_cny_per_kwh * float(x[idx.unmet].sum()) + (
        case.voll_cny_per_kwh * float(x[idx.short].sum()) if case.reservoirs else 0.0)
    out["spill_penalty_cny"] = dt * case.spill_cost_cny_per_kwh * float(x[idx.spill].sum())
    out["profit_cny"] = (out["sales_cny"] - out["purchases_cny"] - out["operating_cost_cny"]
                         - out["unmet_penalty_cny"] - out["spill_penalty_cny"])
    out["net_cost_cny"] = -out["profit_cny"]
    return out
