"""Equilibrium certificate of a game outcome (paper 004 eq. 12-13, docs/design.md).

``vpp_regret_i = F_i(outcome) - F_i(best response at the same prices)``: the outcome's cost is
evaluated term by term from the schedule (:func:`vpp_cost_terms`), the best response by a
fresh HiGHS solve, so a schedule that is not optimal at its prices shows a positive regret.
``vpo_regret`` = the exact reference's objective minus the achieved one (in the direction of
the objective). ``epsilon`` is the largest regret: the outcome is an epsilon-equilibrium.
``reference_status`` is the reference's status; ``not applicable`` where no exact reference
exists (a market with MILP followers, :func:`vppsim.market.reference.exact_reference`): the
certificate then holds the VPPs' regrets only (each VPP's best response is still its exact
MILP optimum).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vppsim.market.lower_level import (
    VppDayAheadData,
    VppSchedule,
    solve_vpp_day_ahead,
    vpp_cost_terms,
)


@dataclass(frozen=True)
class Certificate:
    """Regrets of every player, CNY and relative to the size of the player's objective."""

    vpp_regret_cny: dict[str, float]
    vpp_regret_rel: dict[str, float]
    vpo_regret_cny: float | None
    vpo_regret_rel: float | None
    reference: str
    reference_objective_cny: float | None
    epsilon_cny: float
    epsilon_rel: float
    reference_status: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain-dict form for JSON."""
        return asdict(self)


def vpp_regrets(
    vpps: Sequence[VppDayAheadData],
    schedules: Sequence[VppSchedule],
    c_sell: np.ndarray,
    c_buy: np.ndarray,
) -> tuple[dict[str, float], dict[str, float]]:
    """Each VPP's regret at the given prices, absolute (CNY) and relative."""
    absolute, relative = {}, {}
    for d, s in zip(vpps, schedules, strict=True):
        outcome = vpp_cost_terms(d, s, c_sell, c_buy)["total"]
        best = solve_vpp_day_ahead(d, c_sell, c_buy).cost_cny
        regret = outcome - best
        absolute[d.name] = float(regret)
        relative[d.name] = float(regret / max(abs(best), 1e-9))
    return absolute, relative


def certify(
    vpps: Sequence[VppDayAheadData],
    schedules: Sequence[VppSchedule],
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    objective: str,
    achieved_cny: float,
    reference: str,
    reference_cny: float | None,
    reference_status: str | None = None,
) -> Certificate:
    """Certificate of an outcome.

    ``achieved_cny`` and ``reference_cny`` are in the objective's own terms: the system cost
    (lower is better) for ``system_cost``, the VPO profit (higher is better) for
    ``vpo_profit``. ``reference_cny`` is None where no reference could be computed.
    """
    absolute, relative = vpp_regrets(vpps, schedules, c_sell, c_buy)
    if reference_cny is None:
        vpo_abs = vpo_rel = None
    else:
        gap = achieved_cny - reference_cny if objective == "system_cost" else reference_cny - achieved_cny
        vpo_abs = float(gap)
        vpo_rel = float(gap / max(abs(reference_cny), 1e-9))
    eps_abs = max([*absolute.values(), vpo_abs if vpo_abs is not None else -np.inf])
    eps_rel = max([*relative.values(), vpo_rel if vpo_rel is not None else -np.inf])
    return Certificate(
        vpp_regret_cny=absolute,
        vpp_regret_rel=relative,
        vpo_regret_cny=vpo_abs,
        vpo_regret_rel=vpo_rel,
        reference=reference,
        reference_objective_cny=reference_cny,
        epsilon_cny=float(max(eps_abs, 0.0)),
        epsilon_rel=float(max(eps_rel, 0.0)),
        reference_status=reference_status,
    )
