"""VPP operator: sets internal prices (a price policy), clears schedules, settles, trades with the grid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from vppsim.cosim import RoundOutcome, day_ahead_round
from vppsim.market.pricing import DayContext, InternalPrices, get_price_policy
from vppsim.market.settlement import settle_grid, settle_vpp

if TYPE_CHECKING:
    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel


class VPO(mesa.Agent):
    """The VPP operator (upper level of paper 004's game)."""

    def __init__(self, model: VPPModel, name: str) -> None:
        super().__init__(model)
        self.name = name
        self.prices: InternalPrices | None = None
        self.day = -1
        self.round: RoundOutcome | None = None
        self.record: dict[str, Any] = {}
        self.settlements: dict[str, dict[str, float]] = {}
        self.game_results: list[Any] = []  # one GameResult per day under the game policy

    def day_ahead(self, day: int, vpps: list[VPP]) -> None:
        """Set the day's internal prices, collect schedules through SimPy and clear them."""
        m = self.model
        sl = slice(day * m.steps_per_day, (day + 1) * m.steps_per_day)
        ctx = DayContext(
            day=day,
            import_cny_per_kwh=m.tariff.import_cny_per_kwh[sl],
            export_cny_per_kwh=m.tariff.export_cny_per_kwh[sl],
            vpps=tuple(v.day_ahead_data(day) for v in vpps),
            game=m.scenario.market.game,
            seed=int(np.random.SeedSequence([m.seed_used, day]).generate_state(1)[0]),
        )
        self.prices = get_price_policy(m.scenario.market.price_policy)(ctx)
        if "game" in self.prices.info:
            self.game_results.append(self.prices.info["game"])
        self.day = day
        by_name = {v.name: v for v in vpps}
        self.round = day_ahead_round(
            m.message_bus,
            round_id=day,
            vpo_name=self.name,
            vpp_names=[v.name for v in vpps],
            prices=self.prices,
            respond=lambda name, prices: by_name[name].plan_day(prices, day),
        )
        for v in vpps:
            if v.name in self.round.received:
                v.commit(self.round.received[v.name], day, fallback=False)
            else:
                v.commit(v.fallback_schedule(day), day, fallback=True)

    def settle(self, t: int, vpps: list[VPP]) -> None:
        """Settle every VPP's step and the VPO's net position with the grid."""
        m = self.model
        assert self.prices is not None
        k = t - self.day * m.steps_per_day
        c_sell = float(self.prices.c_sell_cny_per_kwh[k])
        c_buy = float(self.prices.c_buy_cny_per_kwh[k])
        pi_imp = float(m.tariff.import_cny_per_kwh[t])
        pi_exp = float(m.tariff.export_cny_per_kwh[t])
        dt = m.step_h
        income = 0.0
        bought_from_vpps = sold_to_vpps = 0.0
        self.settlements = {}
        for v in vpps:
            r = v.record
            s = settle_vpp(r["committed_buy_kw"], r["committed_sell_kw"], r["imbalance_kw"],
                           c_sell, c_buy, m.scenario.market.imbalance_penalty, dt)
            self.settlements[v.name] = {"day_ahead_cny": s.day_ahead_cny,
                                        "imbalance_cny": s.imbalance_cny}
            income += s.total_cny
            sold_to_vpps += r["buy_kw"]
            bought_from_vpps += r["sell_kw"]
        x, mm, grid_revenue = settle_grid(bought_from_vpps - sold_to_vpps, pi_imp, pi_exp, dt)
        self.record = {
            "c_sell_cny_per_kwh": c_sell,
            "c_buy_cny_per_kwh": c_buy,
            "pi_imp_cny_per_kwh": pi_imp,
            "pi_exp_cny_per_kwh": pi_exp,
            "buy_kw": bought_from_vpps,
            "sell_kw": sold_to_vpps,
            "grid_import_kw": mm,
            "grid_export_kw": x,
            "profit_cny": income + grid_revenue,
            "energy_balance_residual_kw": bought_from_vpps - sold_to_vpps - (x - mm),
        }

    @property
    def price_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The current day's ``(c_sell, c_buy)``."""
        assert self.prices is not None
        return self.prices.c_sell_cny_per_kwh, self.prices.c_buy_cny_per_kwh
