"""Real-time balancing: how a VPP re-allocates its members when the realization differs.

An allocator takes :class:`BalanceInputs` (what the day-ahead plan said for this step and
what is physically possible now) and returns a :class:`BalanceOutcome` that balances the
VPP exactly: ``wind + pv + battery + gen + net_buy + load_curtail + unmet - spill = demand``.
Allocators are looked up by name (the scenario's ``balancing.allocator``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BalanceInputs:
    """One VPP at one step. Battery power is discharge-positive; ``net_buy`` = buy - sell."""

    dt_h: float
    wind_available_kw: np.ndarray
    pv_available_kw: np.ndarray
    wind_planned_curtail_kw: float
    pv_planned_curtail_kw: float
    mu_wind: float
    mu_pv: float
    demand_kw: np.ndarray
    battery_planned_kw: np.ndarray
    battery_min_kw: np.ndarray
    battery_max_kw: np.ndarray
    gen_planned_kw: np.ndarray
    gen_limits_kw: np.ndarray  # [n, 2]: lowest, highest reachable output
    gen_marginal_cny_per_kwh: np.ndarray
    curtailable_kw: np.ndarray
    load_curtail_planned_kw: np.ndarray
    curtail_cost_cny_per_kwh: np.ndarray
    net_buy_planned_kw: float
    buy_max_kw: float
    sell_max_kw: float
    unmet_planned_kw: float = 0.0  # demand the day-ahead plan leaves unserved at this step
    spill_planned_kw: float = 0.0  # output the day-ahead plan spills at this step


@dataclass(frozen=True)
class BalanceOutcome:
    """The realized set-points of one VPP at one step."""

    wind_kw: np.ndarray
    pv_kw: np.ndarray
    battery_kw: np.ndarray
    gen_kw: np.ndarray
    load_curtail_kw: np.ndarray
    net_buy_kw: float
    unmet_kw: float
    spill_kw: float


def _take(amount: float, room: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, float]:
    """Take up to ``amount`` from ``room`` (non-negative) in ``order``; returns (taken, rest)."""
    taken = np.zeros_like(room)
    for i in order:
        if amount <= 0.0:
            break
        x = min(amount, max(float(room[i]), 0.0))
        taken[i] = x
        amount -= x
    return taken, amount


def _scale_curtailment(avail: np.ndarray, curtail_kw: float) -> np.ndarray:
    """Output of units sharing a curtailment ``curtail_kw`` in proportion to their availability."""
    total = float(avail.sum())
    if total <= 0.0:
        return np.zeros_like(avail)
    return avail * (1.0 - min(max(curtail_kw, 0.0), total) / total)


def merit_order(x: BalanceInputs) -> BalanceOutcome:
    """Balance by a fixed order of means, starting from the plan.

    Start: renewables at availability minus the planned curtailment, batteries, generators
    and load curtailment at their planned set-points (clipped to what is possible now),
    exchange as committed, unmet demand and spill as planned. A deficit is then met by
    dropping planned spill, releasing planned curtailment, more battery discharge, generator
    headroom (cheapest first), controllable-load curtailment (cheapest first), extra purchase
    from the VPO (an imbalance), and finally unmet demand. A surplus is absorbed by serving
    planned-unmet demand, battery charging, generator reduction (dearest first), restoring
    curtailed load, extra sale to the VPO (an imbalance), renewable curtailment (cheapest
    curtailment first), and finally spill. With no forecast error the plan is reproduced.
    """
    wind_avail, pv_avail = x.wind_available_kw, x.pv_available_kw
    w_cur = min(x.wind_planned_curtail_kw, float(wind_avail.sum()))
    p_cur = min(x.pv_planned_curtail_kw, float(pv_avail.sum()))
    # set-points below 1e-6 kW are LP round-off, not a plan: treat them as idle
    planned = np.where(np.abs(x.battery_planned_kw) < 1e-6, 0.0, x.battery_planned_kw)
    bat = np.clip(planned, x.battery_min_kw, x.battery_max_kw)
    gen_lo, gen_hi = (x.gen_limits_kw[:, 0], x.gen_limits_kw[:, 1]) if len(x.gen_limits_kw) else (
        np.zeros(0), np.zeros(0))
    gen = np.clip(x.gen_planned_kw, gen_lo, gen_hi)
    lc = np.minimum(x.load_curtail_planned_kw, x.curtailable_kw)
    net = float(np.clip(x.net_buy_planned_kw, -x.sell_max_kw, x.buy_max_kw))
    unmet = min(max(x.unmet_planned_kw, 0.0), float(x.demand_kw.sum()))
    spill = max(x.spill_planned_kw, 0.0)
    supply = (float(wind_avail.sum()) - w_cur + float(pv_avail.sum()) - p_cur + float(bat.sum())
              + float(gen.sum()) + net + float(lc.sum()) + unmet - spill)
    residual = float(x.demand_kw.sum()) - supply
    curt_order = [("w", x.mu_wind), ("p", x.mu_pv)]
    if residual > 0.0:  # deficit
        d = min(residual, spill)  # 0. stop spilling what the plan spilled
        spill -= d
        residual -= d
        # 1. release planned renewable curtailment (dearest curtailment released first)
        for tech, _ in sorted(curt_order, key=lambda c: -c[1]):
            if tech == "w":
                d = min(residual, w_cur)
                w_cur -= d
            else:
                d = min(residual, p_cur)
                p_cur -= d
            residual -= d
        add, residual = _take(residual, x.battery_max_kw - bat, np.arange(len(bat)))
        bat = bat + add
        add, residual = _take(residual, gen_hi - gen, np.argsort(x.gen_marginal_cny_per_kwh,
                                                                  kind="stable"))
        gen = gen + add
        add, residual = _take(residual, x.curtailable_kw - lc,
                              np.argsort(x.curtail_cost_cny_per_kwh, kind="stable"))
        lc = lc + add
        d = min(residual, x.buy_max_kw - net)
        net += d
        residual -= d
        unmet += max(residual, 0.0)
    elif residual < 0.0:  # surplus
        surplus = -residual
        d = min(surplus, unmet)  # 0. serve demand the plan left unmet
        unmet -= d
        surplus -= d
        cut, surplus = _take(surplus, bat - x.battery_min_kw, np.arange(len(bat)))
        bat = bat - cut
        cut, surplus = _take(surplus, gen - gen_lo,
                             np.argsort(-x.gen_marginal_cny_per_kwh, kind="stable"))
        gen = gen - cut
        cut, surplus = _take(surplus, lc, np.argsort(-x.curtail_cost_cny_per_kwh, kind="stable"))
        lc = lc - cut
        d = min(surplus, net + x.sell_max_kw)
        net -= d
        surplus -= d
        for tech, _ in sorted(curt_order, key=lambda c: c[1]):
            if tech == "w":
                d = min(surplus, float(wind_avail.sum()) - w_cur)
                w_cur += d
            else:
                d = min(surplus, float(pv_avail.sum()) - p_cur)
                p_cur += d
            surplus -= d
        spill += max(surplus, 0.0)
    return BalanceOutcome(
        wind_kw=_scale_curtailment(wind_avail, w_cur),
        pv_kw=_scale_curtailment(pv_avail, p_cur),
        battery_kw=bat,
        gen_kw=gen,
        load_curtail_kw=lc,
        net_buy_kw=net,
        unmet_kw=unmet,
        spill_kw=spill,
    )


Allocator = Callable[[BalanceInputs], BalanceOutcome]

ALLOCATORS: dict[str, Allocator] = {"merit-order": merit_order}


def get_allocator(name: str) -> Allocator:
    """Look up a real-time allocator by name; the error lists the valid names."""
    try:
        return ALLOCATORS[name]
    except KeyError:
        raise ValueError(f"unknown allocator {name!r}; expected one of {sorted(ALLOCATORS)}") from None
