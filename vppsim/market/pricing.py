"""VPO price policies: how the VPO sets internal prices ``c_sell``/``c_buy`` for a day.

The seam for the bi-level game: a policy is looked up by name from ``PRICE_POLICIES``
(the scenario's ``market.price_policy``) and called with the day's context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import solve_game
from vppsim.market.loss_aware import DispatchGrid, solve_loss_aware
from vppsim.market.lower_level import VppDayAheadData, VppSchedule, build_vpp_lp
from vppsim.market.reference import build_centralized_lp
from vppsim.market.selection import outcome_of_schedules
from vppsim.market.vpo_storage import VpoStorageData
from vppsim.scenario.schema import GameSpec, LossAwareSpec


@dataclass(frozen=True)
class DayContext:
    """What a price policy may look at: the day's tariff and every VPP's forecast problem.

    ``vpps`` may be empty (VPPs of self-scheduling prosumers have no day-ahead LP), which the
    passthrough policy allows; :attr:`market` builds the game's :class:`DayAheadMarket`.
    ``dispatch_grid`` builds the feeder as the loss-aware dispatch sees it (called only by the
    ``loss_aware`` policy).
    """

    day: int
    import_cny_per_kwh: np.ndarray
    export_cny_per_kwh: np.ndarray
    vpps: tuple[VppDayAheadData, ...]
    game: GameSpec = GameSpec()
    seed: int | None = None
    vpo_storage: VpoStorageData | None = None
    loss_aware: LossAwareSpec = LossAwareSpec()
    dispatch_grid: Callable[[], DispatchGrid] | None = None

    @property
    def market(self) -> DayAheadMarket:
        """The day-ahead market of these VPPs, tariff and VPO storage (validated on each call).

        Raises
        ------
        ValueError
            If there is no VPP with a day-ahead problem, or the data are inconsistent.
        """
        return DayAheadMarket(self.vpps, self.import_cny_per_kwh, self.export_cny_per_kwh,
                              self.vpo_storage)


@dataclass(frozen=True)
class InternalPrices:
    """Internal prices for one day, CNY/kWh; ``export <= c_buy <= c_sell <= import``."""

    c_sell_cny_per_kwh: np.ndarray
    c_buy_cny_per_kwh: np.ndarray
    policy: str
    info: dict[str, object]


def passthrough(ctx: DayContext) -> InternalPrices:
    """Model 1 of paper 004 section 4.3: the grid tariff passed through unchanged."""
    return InternalPrices(
        c_sell_cny_per_kwh=ctx.import_cny_per_kwh.copy(),
        c_buy_cny_per_kwh=ctx.export_cny_per_kwh.copy(),
        policy="passthrough",
        info={},
    )


def game(ctx: DayContext) -> InternalPrices:
    """Model 2 of paper 004: prices from the bi-level game (``market.game`` settings).

    ``info`` carries the :class:`vppsim.market.game.GameResult` (certificate, convergence).
    """
    spec = ctx.game
    result = solve_game(
        ctx.market, objective=spec.objective, solver=spec.solver, budget=spec.budget,
        seed=ctx.seed, reference=spec.reference,
        reference_time_limit_s=spec.reference_time_limit_s, stop_at_bound=spec.stop_at_bound,
        background_ties=True,  # its tie ends are only reported: solved during the day's steps
    )
    return InternalPrices(
        c_sell_cny_per_kwh=result.outcome.c_sell_cny_per_kwh.copy(),
        c_buy_cny_per_kwh=result.outcome.c_buy_cny_per_kwh.copy(),
        policy="game",
        info={"game": result,
              "suggested_schedules": {sch.name: sch for sch in result.outcome.schedules}},
    )


def _dispatched_schedules(market: DayAheadMarket, x: np.ndarray) -> list[VppSchedule]:
    """Each VPP's part of the centralized LP solution ``x``, priced at the tariff.

    A purchase and a sale of the same VPP in the same period (equal cost in the centralized LP,
    where the internal prices cancel) are netted into one exchange.
    """
    _, offsets, _, _ = build_centralized_lp(market)
    T = market.n_periods
    blocks = [build_vpp_lp(d, np.zeros(T), np.zeros(T)) for d in market.vpps]
    parts = []
    for off, blk in zip(offsets, blocks, strict=True):
        part = np.clip(x[int(off): int(off) + blk.a.shape[1]], blk.col_lo, blk.col_hi)
        g, e = part[blk.names["g"]], part[blk.names["e"]]
        both = np.minimum(g, e)
        part[blk.names["g"]], part[blk.names["e"]] = g - both, e - both
        parts.append(part)
    return outcome_of_schedules(market, market.pi_imp, market.pi_exp, blocks, parts,
                                "loss-aware").schedules


def loss_aware(ctx: DayContext) -> InternalPrices:
    """The VPO's loss-aware centralized dispatch (paper 000; ``market.loss_aware`` weights).

    The VPO solves the day's dispatch over all VPPs with the feeder's AC losses and the
    renewable utilization in the objective (:func:`vppsim.market.loss_aware.solve_loss_aware`);
    each VPP commits to its part (``info["dispatched_schedules"]``). Internal prices: the
    tariff passed through. ``info["loss_aware"]`` carries the
    :class:`vppsim.market.loss_aware.LossAwareDispatch` (day-ahead losses, iterations).

    Raises
    ------
    ValueError
        Without a ``dispatch_grid`` in the context, or for VPPs that are not LP followers.
    """
    if ctx.dispatch_grid is None:
        raise ValueError("loss_aware price policy: expected a dispatch grid in the day context")
    market = ctx.market
    spec = ctx.loss_aware
    dispatch = solve_loss_aware(market, ctx.dispatch_grid(), w_losses=spec.w_losses_cny_per_kwh,
                                w_utilization=spec.w_utilization_cny)
    schedules = _dispatched_schedules(market, dispatch.lp_solution)
    return InternalPrices(
        c_sell_cny_per_kwh=ctx.import_cny_per_kwh.copy(),
        c_buy_cny_per_kwh=ctx.export_cny_per_kwh.copy(),
        policy="loss_aware",
        info={"loss_aware": dispatch, "dispatched_schedules": {s.name: s for s in schedules}},
    )


PricePolicy = Callable[[DayContext], InternalPrices]

PRICE_POLICIES: dict[str, PricePolicy] = {"passthrough": passthrough, "game": game,
                                          "loss_aware": loss_aware}


def get_price_policy(name: str) -> PricePolicy:
    """Look up a price policy by name; the error lists the valid names."""
    try:
        return PRICE_POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown price policy {name!r}; expected one of {sorted(PRICE_POLICIES)}") from None
