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
from vppsim.market.lower_level import VppDayAheadData
from vppsim.market.vpo_storage import VpoStorageData
from vppsim.scenario.schema import GameSpec


@dataclass(frozen=True)
class DayContext:
    """What a price policy may look at: the day's tariff and every VPP's forecast problem.

    ``vpps`` may be empty (VPPs of self-scheduling prosumers have no day-ahead LP), which the
    passthrough policy allows; :attr:`market` builds the game's :class:`DayAheadMarket`.
    """

    day: int
    import_cny_per_kwh: np.ndarray
    export_cny_per_kwh: np.ndarray
    vpps: tuple[VppDayAheadData, ...]
    game: GameSpec = GameSpec()
    seed: int | None = None
    vpo_storage: VpoStorageData | None = None

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
        reference_time_limit_s=spec.reference_time_limit_s,
    )
    return InternalPrices(
        c_sell_cny_per_kwh=result.outcome.c_sell_cny_per_kwh.copy(),
        c_buy_cny_per_kwh=result.outcome.c_buy_cny_per_kwh.copy(),
        policy="game",
        info={"game": result,
              "suggested_schedules": {sch.name: sch for sch in result.outcome.schedules}},
    )


PricePolicy = Callable[[DayContext], InternalPrices]

PRICE_POLICIES: dict[str, PricePolicy] = {"passthrough": passthrough, "game": game}


def get_price_policy(name: str) -> PricePolicy:
    """Look up a price policy by name; the error lists the valid names."""
    try:
        return PRICE_POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown price policy {name!r}; expected one of {sorted(PRICE_POLICIES)}") from None
