"""Equilibrium sweeps: one market parameter moved over values, the game solved at each.

A sweep field (:data:`SWEEP_FIELDS`) names what ``vppsim equilibria --sweep FIELD=v1,v2,...``
changes: most edit the scenario (its ``model_dump()`` dict, re-validated by the caller, so a
value out of range is reported like a bad scenario field); ``renewables.scale`` scales the
VPPs' wind and PV forecasts in the day's market. :func:`solve_point` solves one point: the
game with the chosen solver, the centralized LP (the exact ``system_cost`` bound, always), the
MPEC (the leader's optimum, on request or when the objective is ``vpo_profit``), and
:func:`point_tables` turns it into tidy rows: one per point, one per (point, period) of prices,
one per (point, VPP).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import GameResult, solve_game
from vppsim.market.reference import ExactReference, exact_reference
from vppsim.scenario.schema import ScenarioError


def _set_spread_scale(data: dict[str, Any], value: float) -> str | None:
    data["tariff"]["spread_scale"] = value
    return None


def _set_exchange(data: dict[str, Any], value: float) -> str | None:
    for vpp in data["vpps"]:
        if vpp.get("exchange") is not None:
            vpp["exchange"] = {"buy_max_kw": value, "sell_max_kw": value}
    return None


def _set_vpo_capacity(data: dict[str, Any], value: float) -> str | None:
    if data["vpo"].get("battery") is None:
        return "the scenario's VPO has no battery (vpo.battery) to resize"
    data["vpo"]["battery"]["capacity_kwh"] = value
    return None


def _set_vpp_count(data: dict[str, Any], value: float) -> str | None:
    n = len(data["vpps"])
    if not 1 <= value <= n:
        return f"expected a number of VPPs 1..{n} (the scenario's first VPPs are kept), got {value:g}"
    data["vpps"] = data["vpps"][: int(value)]
    return None


def _scale_renewables(market: DayAheadMarket, value: float) -> DayAheadMarket:
    vpps = [dataclasses.replace(d, wind_fc_kw=d.wind_fc_kw * value, pv_fc_kw=d.pv_fc_kw * value)
            for d in market.vpps]
    return DayAheadMarket(vpps, market.pi_imp, market.pi_exp, market.storage)


@dataclass(frozen=True)
class SweepField:
    """A field ``--sweep`` can move: what it means and how it is applied.

    ``scenario`` edits a scenario's ``model_dump()`` dict in place and returns None, or a
    message saying why the value cannot apply; ``market`` returns the day's market changed.
    """

    name: str
    description: str
    integer: bool = False
    minimum: float = 0.0
    scenario: Callable[[dict[str, Any], float], str | None] | None = None
    market: Callable[[DayAheadMarket, float], DayAheadMarket] | None = None


#: Every field ``vppsim equilibria --sweep`` accepts, by name.
SWEEP_FIELDS: dict[str, SweepField] = {f.name: f for f in (
    SweepField("tariff.spread_scale", "each tariff period's import-export spread scaled around "
               "its midpoint (1 = as listed)", scenario=_set_spread_scale),
    SweepField("vpps.exchange_max_kw", "every VPP's buy and sell limit with the VPO, kW",
               scenario=_set_exchange),
    SweepField("vpo.battery.capacity_kwh", "the VPO's battery capacity, kWh (the scenario "
               "needs a vpo.battery)", minimum=1e-9, scenario=_set_vpo_capacity),
    SweepField("vpps.count", "the number of VPPs (the scenario's first ones)", integer=True,
               minimum=1, scenario=_set_vpp_count),
    SweepField("renewables.scale", "the VPPs' wind and PV forecasts scaled by this factor",
               market=_scale_renewables),
)}


def _expected(field: SweepField | None = None) -> str:
    if field is None:
        return (f"expected FIELD=v1,v2,... with FIELD one of {', '.join(SWEEP_FIELDS)} and "
                "numbers v1, v2, ...")
    kind = "integers" if field.integer else "finite numbers"
    return f"expected {field.name}=v1,v2,... with distinct {kind} >= {field.minimum:g}"


def parse_sweep(text: str, file: Path | str) -> tuple[SweepField, list[float]]:
    """``FIELD=v1,v2,...`` as the field and its values, in the order given.

    Raises
    ------
    ScenarioError
        Naming ``--sweep`` (and ``file``, the scenario) and what was expected: an unknown
        field, a value that is not a number (an integer for integer fields), below the field's
        minimum, or repeated.
    """
    name, sep, rest = str(text).partition("=")
    field = SWEEP_FIELDS.get(name.strip())
    if not sep or field is None:
        raise ScenarioError(file, [("--sweep", f"{_expected()}; got {text!r}")])
    values: list[float] = []
    for item in rest.split(","):
        try:
            v = float(item)
        except ValueError:
            v = math.nan
        bad = not math.isfinite(v) or v < field.minimum or (field.integer and v != int(v))
        if bad or v in values:
            why = "repeated" if v in values else "not allowed"
            raise ScenarioError(file, [("--sweep", f"{_expected(field)}; got {item.strip()!r} "
                                        f"({why}) in {text!r}")])
        values.append(v)
    return field, values


def apply_to_scenario(field: SweepField, data: dict[str, Any], value: float,
                      file: Path | str) -> dict[str, Any]:
    """A copy of the scenario dict ``data`` with ``field`` set to ``value`` (not yet validated).

    Raises
    ------
    ScenarioError
        Naming ``--sweep`` if the value cannot apply to this scenario.
    """
    out = _deep_copy(data)
    if field.scenario is not None:
        problem = field.scenario(out, value)
        if problem is not None:
            raise ScenarioError(file, [("--sweep", f"{field.name}={value:g}: {problem}")])
    return out


def _deep_copy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _deep_copy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_deep_copy(v) for v in x]
    return x


def apply_to_market(field: SweepField, market: DayAheadMarket, value: float) -> DayAheadMarket:
    """The day's market with ``field`` applied (unchanged for fields applied to the scenario)."""
    return field.market(market, value) if field.market is not None else market


@dataclass
class SweepTables:
    """A sweep's tidy tables: one row per point, per (point, period), per (point, VPP)."""

    points: pd.DataFrame
    prices: pd.DataFrame
    vpp_costs: pd.DataFrame
    wall_s: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass
class SweepPoint:
    """One solved point: the game, the centralized LP and (optional) the MPEC."""

    value: float
    game: GameResult
    bound: ExactReference
    mpec: ExactReference | None
    pi_imp: np.ndarray
    pi_exp: np.ndarray


def solve_point(market: DayAheadMarket, value: float, objective: str, solver: str, budget: int,
                seed: int, mpec: bool = False, mpec_time_limit_s: float = 120.0,
                robust: bool = False) -> SweepPoint:
    """Solve one point: the game with ``solver`` and the exact references.

    The game reports both tie ends, and with ``robust`` the epsilon-incentive
    (:mod:`vppsim.market.incentive`).

    The centralized LP is always solved (it bounds the system cost at any prices); the MPEC
    when ``mpec`` is set or the objective is ``vpo_profit`` (then it is the game's reference).
    """
    bound = exact_reference(market, "system_cost")
    leader = (exact_reference(market, "vpo_profit", mpec_time_limit_s)
              if mpec or objective == "vpo_profit" else None)
    ref = bound if objective == "system_cost" else leader
    res = solve_game(market, objective=objective, solver=solver, budget=budget, seed=seed,
                     reference=True, precomputed_reference=ref, robust=robust)
    return SweepPoint(value, res, bound, leader, market.pi_imp, market.pi_exp)


def point_tables(point: SweepPoint, index: int, field: str,
                 dt_h: float) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Tidy rows of one point: the point's row, its prices per period, its VPPs' costs.

    Outcome columns use the game's tie-breaking (optimistic); ``*_pessimistic_cny`` are the
    other end of the VPPs' ties and ``vpo_profit_robust_cny`` the profit the epsilon-incentive
    guarantees (NaN where not computed).
    """
    res, o, m1 = point.game, point.game.outcome, point.game.model1
    c = res.certificate
    leader = point.mpec
    nan = math.nan
    row = {
        "point": index, "field": field, "value": point.value,
        "objective": res.objective, "solver": res.solver, "seed": res.seed,
        "selected_from": res.selected_from,
        "c_sell_mean_cny_per_kwh": float(o.c_sell_cny_per_kwh.mean()),
        "c_buy_mean_cny_per_kwh": float(o.c_buy_cny_per_kwh.mean()),
        "pi_imp_mean_cny_per_kwh": float(point.pi_imp.mean()),
        "pi_exp_mean_cny_per_kwh": float(point.pi_exp.mean()),
        "vpo_profit_cny": o.vpo_profit_cny,
        "total_vpp_cost_cny": o.total_vpp_cost_cny,
        "system_cost_cny": o.system_cost_cny,
        "vpo_profit_pessimistic_cny": (res.ties.vpo_profit_pessimistic_cny
                                       if res.ties is not None else nan),
        "system_cost_pessimistic_cny": (res.ties.system_cost_pessimistic_cny
                                        if res.ties is not None else nan),
        "vpo_profit_robust_cny": (res.incentive.vpo_profit_robust_cny
                                  if res.incentive is not None else nan),
        "incentive_epsilon": res.incentive.epsilon if res.incentive is not None else nan,
        "model1_vpo_profit_cny": m1.vpo_profit_cny,
        "model1_total_vpp_cost_cny": m1.total_vpp_cost_cny,
        "model1_system_cost_cny": m1.system_cost_cny,
        "bound_system_cost_cny": point.bound.value_cny,
        "system_cost_gap_cny": o.system_cost_cny - point.bound.value_cny,
        "mpec_vpo_profit_cny": leader.value_cny if leader is not None else nan,
        "mpec_proven_optimal": bool(leader.proven_optimal) if leader is not None else None,
        "vpo_profit_gap_cny": (leader.value_cny - o.vpo_profit_cny) if leader is not None else nan,
        "max_vpp_regret_cny": max(c.vpp_regret_cny.values()),
        "vpo_regret_cny": c.vpo_regret_cny if c.vpo_regret_cny is not None else nan,
        "epsilon_cny": c.epsilon_cny,
        "lower_level_solves": res.lower_level_solves,
    }
    prices = [{"point": index, "value": point.value, "step": t, "time_h": t * dt_h,
               "c_sell_cny_per_kwh": float(o.c_sell_cny_per_kwh[t]),
               "c_buy_cny_per_kwh": float(o.c_buy_cny_per_kwh[t]),
               "pi_imp_cny_per_kwh": float(point.pi_imp[t]),
               "pi_exp_cny_per_kwh": float(point.pi_exp[t])}
              for t in range(len(point.pi_imp))]
    vpps = [{"point": index, "value": point.value, "vpp": name, "cost_cny": cost,
             "model1_cost_cny": m1.vpp_cost_cny[name], "regret_cny": c.vpp_regret_cny[name]}
            for name, cost in o.vpp_cost_cny.items()]
    return row, prices, vpps
