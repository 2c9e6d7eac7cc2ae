"""How much of the batteries' value a heuristic schedule captures (issue 18).

The gap to the total bill dilutes a heuristic's loss: most of a prosumer's bill is the load
no battery schedule avoids, and prosumers without a battery have a gap of 0 by construction.
The **flexibility value captured** measures against what the battery can save, per battery
owner::

    captured = (idle cost - schedule cost) / (idle cost - optimal cost)

- *idle cost*: the prosumer's bill with its battery idle (no charge, no discharge; the grid
  exchange follows from the energy balance), :func:`idle_cost`, exact and cheap;
- *optimal cost*: the exact optimum (the MILP of :mod:`vppsim.prosumers.exact`);
- 1.0 for the optimal schedule, 0.0 for the idle one; below 0 when a schedule is worse than
  leaving the battery alone.

Degenerate batteries: where the battery's optimal value ``idle - optimal`` is below
``min_value_share`` (default 0.1 %) of the prosumer's reference bill, the ratio is ~0/0; such
prosumers are excluded from the quantiles and the fleet's share and counted
(``summary["degenerate"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vppsim.prosumers.problem import ProsumerFleet, schedule_from_stored

#: A battery whose optimal value is below this share of the prosumer's reference bill is
#: "degenerate" (its captured share is ~0/0) and excluded from the quantiles.
MIN_VALUE_SHARE = 1e-3
#: Quantiles of the per-prosumer share reported in the summary.
QUANTILES = (0.05, 0.50, 0.95)


def battery_owners(fleet: ProsumerFleet) -> np.ndarray:
    """Per prosumer: it has a usable battery (an energy window and a power limit above 0)."""
    window = fleet.soc_max_kwh - fleet.soc_min_kwh
    power = np.maximum(fleet.charge_max_kw, fleet.discharge_max_kw)
    return (window > 0) & (power > 0)


def idle_cost(fleet: ProsumerFleet) -> np.ndarray:
    """Each prosumer's bill with its battery idle (objective 3.3.1, ``(N,)``), currency."""
    return schedule_from_stored(fleet, np.zeros((fleet.n, fleet.periods))).cost


@dataclass(frozen=True)
class FlexibilityCaptured:
    """Per-prosumer table and fleet summary of :func:`flexibility_captured`.

    ``table``: one row per prosumer (``prosumer`` index, ``battery``, ``idle_cost``,
    ``cost``, ``optimal_cost``, ``value_optimal`` = idle - optimal, ``value`` = idle -
    cost, ``captured`` (NaN where not counted), ``counted``); ``summary``: see
    :func:`flexibility_captured`.
    """

    table: pd.DataFrame
    summary: dict[str, Any]


def _summary(table: pd.DataFrame, cost: np.ndarray, optimal: np.ndarray,
             min_value_share: float) -> dict[str, Any]:
    counted = table["counted"].to_numpy()
    share = table["captured"].to_numpy()[counted]
    value_opt = float(table["value_optimal"].to_numpy()[counted].sum())
    value = float(table["value"].to_numpy()[counted].sum())
    opt_total = float(np.sum(optimal))
    out: dict[str, Any] = {
        "prosumers": len(table),
        "battery_owners": int(table["battery"].sum()),
        "counted": int(counted.sum()),
        "degenerate": int((table["battery"] & ~table["counted"]).sum()),
        "min_value_share": min_value_share,
        "fleet_share": value / value_opt if value_opt > 0 else float("nan"),
        "worst": float(share.min()) if share.size else float("nan"),
        "gap_to_bill": (float(np.sum(cost)) - opt_total) / abs(opt_total) if opt_total else float("nan"),
        "value_optimal": value_opt,
    }
    for q in QUANTILES:
        out[f"q{round(q * 100):02d}"] = float(np.quantile(share, q)) if share.size else float("nan")
    return out


def flexibility_captured(fleet: ProsumerFleet, cost: np.ndarray, optimal_cost: np.ndarray,
                         min_value_share: float = MIN_VALUE_SHARE) -> FlexibilityCaptured:
    """Share of each battery's optimal value that the schedule costing ``cost`` captures.

    ``cost`` and ``optimal_cost`` are per-prosumer costs (``(N,)``, e.g. ``sa.cost`` and
    ``milp.cost``). Counted: battery owners (:func:`battery_owners`) whose optimal value is
    at least ``min_value_share`` of their reference bill. ``summary``: ``prosumers``,
    ``battery_owners``, ``counted``, ``degenerate`` (owners not counted), ``fleet_share``
    (sum of captured value / sum of optimal value over the counted prosumers), ``q05``,
    ``q50``, ``q95`` and ``worst`` (quantiles and minimum of the per-prosumer share),
    ``gap_to_bill`` ((sum of cost - sum of optimum) / |sum of optimum|, the whole fleet) and
    ``value_optimal`` (the counted batteries' optimal value, currency). Shares are fractions.
    """
    cost = np.asarray(cost, float)
    optimal = np.asarray(optimal_cost, float)
    if cost.shape != (fleet.n,) or optimal.shape != (fleet.n,):
        raise ValueError(f"expected costs of shape ({fleet.n},), got {cost.shape} and {optimal.shape}")
    if not min_value_share >= 0:
        raise ValueError(f"min_value_share must be >= 0, got {min_value_share}")
    idle = idle_cost(fleet)
    owners = battery_owners(fleet)
    value_opt = idle - optimal
    counted = owners & (value_opt >= min_value_share * fleet.reference_bill()) & (value_opt > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(counted, (idle - cost) / value_opt, np.nan)
    table = pd.DataFrame({
        "prosumer": np.arange(fleet.n), "battery": owners, "idle_cost": idle, "cost": cost,
        "optimal_cost": optimal, "value_optimal": value_opt, "value": idle - cost,
        "captured": share, "counted": counted,
    })
    return FlexibilityCaptured(table, _summary(table, cost, optimal, min_value_share))
