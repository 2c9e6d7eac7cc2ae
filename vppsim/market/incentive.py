"""The epsilon-incentive: the smallest price shift after which the VPPs' ties no longer matter.

At the game's prices a VPP is often indifferent between schedules that are worth different
amounts to the VPO (:mod:`vppsim.market.ties`): the optimistic end assumes the VPP picks the
VPO's favourite, the pessimistic end the VPO's worst. The VPO can remove that risk by giving
up a little margin so that its favourite schedules become strictly better for the VPPs.

The shift used here shares a fraction ``epsilon`` of the VPO's per-kWh margin with the VPPs::

    c_sell' = c_sell - epsilon * (c_sell - pi_m)        (the VPPs buy cheaper)
    c_buy'  = c_buy  + epsilon * (pi_m - c_buy)         (the VPPs sell dearer)

with ``pi_m[t]`` the VPO's marginal grid price at the intended (optimistic) outcome: the export
tariff where the VPO's net position exports, the import tariff where it imports, their midpoint
where it is balanced. In a VPP's cost the shift adds ``-epsilon * Pi_i``, where ``Pi_i`` is
what the VPP's trades earn the VPO at those marginal prices (paper 004 eq. 9-10 with the signs
of docs/design.md), so for a small ``epsilon`` every VPP strictly prefers, among its optimal
schedules, the ones best for the VPO. Both prices stay in the box and ``c_buy' <= c_sell'``
(the spread shrinks by the factor ``1 - epsilon``; ``epsilon = 1`` charges the marginal price).

:func:`epsilon_incentive` evaluates the tie ends (:func:`vppsim.market.ties.tie_ends`) at the
shifted prices for every ``epsilon`` of :data:`EPSILON_GRID` and keeps the one with the largest
pessimistic VPO profit (the smallest on ties within ``gap_tol_cny``): the *robust profit*, what
the VPO earns however the VPPs break their remaining ties. Its *cost* is the intended profit
(the optimistic end at the original prices) minus the robust profit. ``closed`` says whether
the shift removes the tie gap (optimistic minus pessimistic profit at the shifted prices at
most ``gap_tol_cny``); if it does and a smaller grid point does not, the interval between them
is halved :data:`REFINE_STEPS` times for the smallest closing ``epsilon``.

Prices are common to all VPPs, so a shift of this family cannot always make every intended
schedule strictly optimal: on the shipped days the smallest shift (``epsilon = 1e-4``, at most
4e-5 CNY/kWh) raises the VPO's guaranteed profit by most of the tie range and leaves a gap that
no ``epsilon`` closes (reported as ``tie_gap_cny``); that part of the risk needs a different
contract (per-VPP prices or quantities), not a price shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.outcome import GameOutcome, grid_price_by_side
from vppsim.market.ties import TieEnds, tie_ends

#: Shares of the VPO's margin tried, smallest first (0 checks whether the prices are already safe).
EPSILON_GRID: tuple[float, ...] = (0.0, 1e-4, 1e-3, 0.01, 0.1, 1.0)
#: Halvings of the interval in which the tie gap closes.
REFINE_STEPS = 4
#: A net position within this of zero counts as balanced (marginal price: the midpoint), kW.
BALANCED_TOL_KW = 1e-6


@dataclass(frozen=True)
class EpsilonIncentive:
    """The smallest margin share that makes the VPO's profit independent of the VPPs' ties.

    Money in CNY, prices in CNY/kWh. ``epsilon`` is the share of the VPO's margin given to the
    VPPs (0..1); ``max_price_shift_cny_per_kwh`` the largest change of any price.
    """

    epsilon: float
    closed: bool
    c_sell_cny_per_kwh: np.ndarray
    c_buy_cny_per_kwh: np.ndarray
    max_price_shift_cny_per_kwh: float
    vpo_profit_intended_cny: float
    vpo_profit_pessimistic_cny: float
    vpo_profit_robust_cny: float
    tie_gap_cny: float
    evaluations: int

    @property
    def cost_cny(self) -> float:
        """What the robustness costs the VPO: intended minus robust profit, CNY."""
        return self.vpo_profit_intended_cny - self.vpo_profit_robust_cny

    def to_dict(self) -> dict[str, object]:
        """Plain-dict form for JSON (prices as lists)."""
        return {
            "epsilon": self.epsilon,
            "closed": self.closed,
            "max_price_shift_cny_per_kwh": self.max_price_shift_cny_per_kwh,
            "vpo_profit_intended_cny": self.vpo_profit_intended_cny,
            "vpo_profit_pessimistic_cny": self.vpo_profit_pessimistic_cny,
            "vpo_profit_robust_cny": self.vpo_profit_robust_cny,
            "cost_cny": self.cost_cny,
            "tie_gap_cny": self.tie_gap_cny,
            "evaluations": self.evaluations,
            "c_sell_cny_per_kwh": self.c_sell_cny_per_kwh.tolist(),
            "c_buy_cny_per_kwh": self.c_buy_cny_per_kwh.tolist(),
        }


def marginal_grid_price(market: DayAheadMarket, outcome: GameOutcome) -> np.ndarray:
    """The VPO's marginal grid price per period at ``outcome``, CNY/kWh (module docstring)."""
    g = np.sum([s.buy_kw for s in outcome.schedules], axis=0)
    e = np.sum([s.sell_kw for s in outcome.schedules], axis=0)
    net_export = e - g
    if outcome.storage is not None:
        net_export = net_export + outcome.storage.discharge_kw - outcome.storage.charge_kw
    mid = 0.5 * (market.pi_imp + market.pi_exp)
    return grid_price_by_side(net_export, market.pi_imp, market.pi_exp, mid, BALANCED_TOL_KW)


def shifted_prices(c_sell: np.ndarray, c_buy: np.ndarray, pi_m: np.ndarray,
                   epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """The prices with a share ``epsilon`` of the VPO's margin given to the VPPs, CNY/kWh."""
    return c_sell - epsilon * (c_sell - pi_m), c_buy + epsilon * (pi_m - c_buy)


def epsilon_incentive(
    market: DayAheadMarket,
    outcome: GameOutcome,
    ends: TieEnds | None = None,
    gap_tol_cny: float = 1e-4,
    grid: tuple[float, ...] = EPSILON_GRID,
    refine_steps: int = REFINE_STEPS,
) -> EpsilonIncentive:
    """The margin share ``epsilon`` that best protects the VPO at ``outcome``'s prices (module docstring).

    ``ends``: the tie ends at the outcome's prices, if already computed (saves one evaluation).
    """
    c_sell = np.asarray(outcome.c_sell_cny_per_kwh, float)
    c_buy = np.asarray(outcome.c_buy_cny_per_kwh, float)
    pi_m = marginal_grid_price(market, outcome)
    cache: dict[float, TieEnds] = {}
    if ends is not None:
        cache[0.0] = ends

    def at(eps: float) -> TieEnds:
        if eps not in cache:
            cache[eps] = tie_ends(market, *shifted_prices(c_sell, c_buy, pi_m, eps))
        return cache[eps]

    def closed(eps: float) -> bool:
        te = at(eps)
        return te.vpo_profit_optimistic_cny - te.vpo_profit_pessimistic_cny <= gap_tol_cny

    intended = at(0.0).vpo_profit_optimistic_cny
    for eps in grid:
        at(eps)
    best = max(te.vpo_profit_pessimistic_cny for te in cache.values())
    eps = min(k for k, te in cache.items() if te.vpo_profit_pessimistic_cny >= best - gap_tol_cny)
    is_closed = closed(eps)
    smaller = [k for k in grid if k < eps]
    if is_closed and smaller and not closed(smaller[-1]):
        lo, hi = smaller[-1], eps
        for _ in range(refine_steps):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if closed(mid) else (mid, hi)
        if at(hi).vpo_profit_pessimistic_cny >= at(eps).vpo_profit_pessimistic_cny - gap_tol_cny:
            eps = hi
    te = at(eps)
    cs, cb = shifted_prices(c_sell, c_buy, pi_m, eps)
    shift = float(max(np.abs(cs - c_sell).max(initial=0.0), np.abs(cb - c_buy).max(initial=0.0)))
    return EpsilonIncentive(
        epsilon=float(eps),
        closed=is_closed,
        c_sell_cny_per_kwh=cs,
        c_buy_cny_per_kwh=cb,
        max_price_shift_cny_per_kwh=shift,
        vpo_profit_intended_cny=float(intended),
        vpo_profit_pessimistic_cny=float(at(0.0).vpo_profit_pessimistic_cny),
        vpo_profit_robust_cny=float(te.vpo_profit_pessimistic_cny),
        tie_gap_cny=float(te.vpo_profit_optimistic_cny - te.vpo_profit_pessimistic_cny),
        evaluations=len(cache),
    )
