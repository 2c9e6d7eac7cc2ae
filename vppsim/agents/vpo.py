"""VPP operator: sets internal prices (a price policy), clears schedules, settles, trades with the grid."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.base import BusAgent
from vppsim.cosim import RoundOutcome, day_ahead_round
from vppsim.market.pricing import DayContext, InternalPrices, get_price_policy
from vppsim.market.settlement import settle_grid, settle_vpp
from vppsim.market.vpo_storage import VpoStorageData, storage_response


@dataclass(frozen=True)
class ClearedDay:
    """A day's cleared day-ahead market: prices, committed schedules, VPO storage plan.

    Everything in it is plain data (picklable), so it can be computed once and shipped to
    Monte Carlo workers.
    """

    prices: InternalPrices
    schedules: dict[str, Any]
    fallback: dict[str, bool]
    storage_plan_kw: np.ndarray | None
    message_log: list[Any]
    missing: list[str]


if TYPE_CHECKING:
    from vppsim.agents.battery import Battery
    from vppsim.agents.vpp import VPP
    from vppsim.model import VPPModel


class VPO(BusAgent):
    """The VPP operator (upper level of paper 004's game); it sits at the feeder's slack bus."""

    def __init__(self, model: VPPModel, name: str, bus: int, battery: Battery | None = None,
                 battery_cost_cny_per_kwh: float = 0.0) -> None:
        super().__init__(model)
        self.name = name
        self.place(bus)
        self.battery = battery
        self.battery_cost_cny_per_kwh = battery_cost_cny_per_kwh
        self.storage_plan_kw: np.ndarray | None = None  # discharge-positive, per period of the day
        self.prices: InternalPrices | None = None
        self.day = -1
        self.round: RoundOutcome | None = None
        self.record: dict[str, Any] = {}
        self.settlements: dict[str, dict[str, float]] = {}
        self.game_results: list[Any] = []  # one GameResult per day under the game policy
        self.cleared: dict[int, ClearedDay] = {}  # the day-ahead outcome of every day

    def day_ahead(self, day: int, vpps: list[VPP]) -> None:
        """Set the day's internal prices, collect schedules through SimPy and clear them.

        If the model was given a cleared day-ahead for this day (``model.shared_day_ahead``,
        e.g. computed once for every Monte Carlo sample), it is adopted as it is.
        """
        m = self.model
        shared = m.shared_day_ahead.get(day) if m.shared_day_ahead else None
        if shared is not None:
            self.adopt(shared, day, vpps)
            return
        sl = slice(day * m.steps_per_day, (day + 1) * m.steps_per_day)
        ctx = DayContext(
            day=day,
            import_cny_per_kwh=m.tariff.import_cny_per_kwh[sl],
            export_cny_per_kwh=m.tariff.export_cny_per_kwh[sl],
            # self-scheduling VPPs (prosumer fleets) have no day-ahead LP (passthrough prices only)
            vpps=tuple(d for v in vpps if (d := v.day_ahead_data(day)) is not None),
            game=m.scenario.market.game,
            seed=int(np.random.SeedSequence([m.seed_used, day]).generate_state(1)[0]),
            vpo_storage=self.storage_data(),
            loss_aware=m.scenario.market.loss_aware,
            dispatch_grid=partial(m.dispatch_grid, day),
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
        self._plan_storage(day, vpps, ctx)
        self.cleared[day] = ClearedDay(
            prices=self.prices,
            schedules={v.name: v.schedule for v in vpps},
            fallback={v.name: v.fallback for v in vpps},
            storage_plan_kw=self.storage_plan_kw,
            message_log=list(self.round.log),
            missing=list(self.round.missing),
        )

    def adopt(self, cleared: ClearedDay, day: int, vpps: list[VPP]) -> None:
        """Commit a day-ahead clearing computed elsewhere (same scenario, same forecasts)."""
        self.prices = cleared.prices
        self.day = day
        for v in vpps:
            v.last_prices = cleared.prices
            v.commit(cleared.schedules[v.name], day, fallback=cleared.fallback[v.name])
        self.storage_plan_kw = cleared.storage_plan_kw
        if "game" in cleared.prices.info:
            self.game_results.append(cleared.prices.info["game"])
        self.round = RoundOutcome(received={}, missing=list(cleared.missing),
                                  gate_closure_s=float("nan"), log=list(cleared.message_log))
        self.cleared[day] = cleared

    def storage_data(self) -> VpoStorageData | None:
        """The VPO battery as the day-ahead problems see it (None without a battery)."""
        if self.battery is None:
            return None
        return VpoStorageData(self.battery.params, self.battery.soc_kwh,
                              self.battery_cost_cny_per_kwh)

    def _plan_storage(self, day: int, vpps: list[VPP], ctx: DayContext) -> None:
        """The VPO's storage plan: its best response to the cleared trades (paper 004 eq. 10)."""
        st = ctx.vpo_storage
        if st is None:
            self.storage_plan_kw = None
            return
        g = np.sum([v.schedule.buy_kw for v in vpps if v.schedule is not None], axis=0)
        e = np.sum([v.schedule.sell_kw for v in vpps if v.schedule is not None], axis=0)
        r = storage_response(st, e - g, ctx.import_cny_per_kwh, ctx.export_cny_per_kwh,
                             self.model.step_h)
        self.storage_plan_kw = r.discharge_kw - r.charge_kw

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
        storage_kw = 0.0
        storage_cost = 0.0
        if self.battery is not None and self.storage_plan_kw is not None:
            # keep the plan as far as the battery's present state allows
            b = self.battery
            plan = float(self.storage_plan_kw[k])
            storage_kw = float(np.clip(plan, -b.max_charge_kw(dt), b.max_discharge_kw(dt)))
            b.apply(max(-storage_kw, 0.0), max(storage_kw, 0.0), dt)
            storage_cost = self.battery_cost_cny_per_kwh * abs(storage_kw) * dt
        x, mm, grid_revenue = settle_grid(bought_from_vpps - sold_to_vpps + storage_kw, pi_imp,
                                          pi_exp, dt)
        self.record = {
            "c_sell_cny_per_kwh": c_sell,
            "c_buy_cny_per_kwh": c_buy,
            "pi_imp_cny_per_kwh": pi_imp,
            "pi_exp_cny_per_kwh": pi_exp,
            "buy_kw": bought_from_vpps,
            "sell_kw": sold_to_vpps,
            "grid_import_kw": mm,
            "grid_export_kw": x,
            "storage_kw": storage_kw,
            "storage_cost_cny": storage_cost,
            "profit_cny": income + grid_revenue - storage_cost,
            "energy_balance_residual_kw": bought_from_vpps - sold_to_vpps + storage_kw - (x - mm),
        }

    @property
    def price_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The current day's ``(c_sell, c_buy)``."""
        assert self.prices is not None
        return self.prices.c_sell_cny_per_kwh, self.prices.c_buy_cny_per_kwh

    def report(self, t: int) -> dict[str, Any]:
        """Prices, trades, grid exchange, storage and profit of step ``t``."""
        return {"kind": "vpo", **self.record}
