"""VPP agent: plans its day-ahead exchange with the VPO and balances its members in real time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from vppsim.agents.battery import Battery
from vppsim.agents.generator import DispatchableGenerator
from vppsim.agents.loads import ControllableLoad, Load
from vppsim.agents.renewables import PVPlant, WindTurbine
from vppsim.allocation.realtime import ALLOCATION_FIELDS, BalanceInputs, BalanceOutcome
from vppsim.market.lower_level import (
    BatteryData,
    ControllableLoadData,
    GeneratorData,
    VppDayAheadData,
    VppSchedule,
    solve_vpp_day_ahead,
    vpp_cost_terms,
)
from vppsim.market.pricing import InternalPrices
from vppsim.scenario.schema import VppSpec

if TYPE_CHECKING:
    from vppsim.model import VPPModel

TIE_TOL_CNY = 1e-5  # a suggested schedule this close to the VPP's own optimum is a tie


class VPP(mesa.Agent):
    """A virtual power plant: members, committed schedule, real-time balancing, accounts."""

    #: a VPP of self-scheduling prosumers (:class:`vppsim.agents.prosumer_fleet.ProsumerFleetVPP`)
    has_prosumer_fleet = False

    def __init__(self, model: VPPModel, spec: VppSpec) -> None:
        super().__init__(model)
        self.spec = spec
        self.name = spec.name
        self.bus = spec.bus
        self.winds: list[WindTurbine] = []
        self.pvs: list[PVPlant] = []
        self.batteries: list[Battery] = []
        self.loads: list[Load] = []
        self.generators: list[DispatchableGenerator] = []
        self.schedule: VppSchedule | None = None  # committed for the current day
        self.schedule_day = -1
        self.fallback = False
        self.planned_cost_by_day_cny: list[float] = []  # NaN for a day on a fallback schedule
        self.last_prices: InternalPrices | None = None
        self.record: dict[str, Any] = {}

    # ------------------------------------------------------------------ membership
    def add_member(self, agent: mesa.Agent) -> None:
        """Register a member agent by its kind."""
        if isinstance(agent, WindTurbine):
            self.winds.append(agent)
        elif isinstance(agent, PVPlant):
            self.pvs.append(agent)
        elif isinstance(agent, Battery):
            self.batteries.append(agent)
        elif isinstance(agent, Load):
            self.loads.append(agent)
        elif isinstance(agent, DispatchableGenerator):
            self.generators.append(agent)
        else:
            raise TypeError(f"{self.name}: cannot hold a member of type {type(agent).__name__}")

    @property
    def controllable_loads(self) -> list[ControllableLoad]:
        """The members whose demand may be curtailed."""
        return [ld for ld in self.loads if isinstance(ld, ControllableLoad)]

    # ------------------------------------------------------------------ day-ahead
    def day_ahead_data(self, day: int) -> VppDayAheadData:
        """The VPP's day-ahead problem from its members' forecasts and present state."""
        m = self.model
        sl = slice(day * m.steps_per_day, (day + 1) * m.steps_per_day)
        zeros = np.zeros(m.steps_per_day)
        wind = sum((w.forecast_kw[sl] for w in self.winds), zeros)
        pv = sum((p.forecast_kw[sl] for p in self.pvs), zeros)
        load = sum((ld.forecast_kw[sl] for ld in self.loads), zeros)
        gens = []
        for g in self.generators:
            widths, slopes = g.cost_segments()
            s = g.spec
            gens.append(
                GeneratorData(s.p_min_kw, s.p_max_kw, s.ramp_kw_per_h, g.last_p_kw,
                              s.cost_a_cny_per_h, widths, slopes)
            )
        cls = tuple(
            ControllableLoadData(
                cl.forecast_kw[sl] * cl.reserve_ratio[sl] * cl.participation,
                cl.curtail_cost_cny_per_kwh,
            )
            for cl in self.controllable_loads
        )
        return VppDayAheadData(
            name=self.name,
            dt_h=m.step_h,
            wind_fc_kw=np.asarray(wind, float),
            pv_fc_kw=np.asarray(pv, float),
            load_kw=np.asarray(load, float),
            costs=self.spec.costs,
            buy_max_kw=self.spec.exchange.buy_max_kw,
            sell_max_kw=self.spec.exchange.sell_max_kw,
            voll_cny_per_kwh=m.scenario.market.value_of_lost_load_cny_per_kwh,
            batteries=tuple(BatteryData(b.params, b.soc_kwh) for b in self.batteries),
            generators=tuple(gens),
            controllable_loads=cls,
            end_soc_at_least_initial=self.spec.end_soc_at_least_initial,
        )

    def plan_day(self, prices: InternalPrices, day: int) -> VppSchedule:
        """Best response to the VPO's prices: the least-cost schedule (HiGHS LP)."""
        self.last_prices = prices
        data = self.day_ahead_data(day)
        own = solve_vpp_day_ahead(data, prices.c_sell_cny_per_kwh, prices.c_buy_cny_per_kwh)
        # optimistic bilevel: among equally cheap schedules, take the one the VPO suggests
        suggested = prices.info.get("suggested_schedules", {}).get(self.name)
        if suggested is not None:
            cost = vpp_cost_terms(data, suggested, prices.c_sell_cny_per_kwh,
                                  prices.c_buy_cny_per_kwh)["total"]
            if cost <= own.cost_cny + TIE_TOL_CNY:
                return suggested
        return own

    def fallback_schedule(self, day: int) -> VppSchedule:
        """What the VPP commits to when its schedule did not reach the VPO in time.

        Its previous committed schedule (yesterday's, as set-points per period); on the
        first day, a schedule with no exchange and idle batteries, so that everything is
        balanced in real time and settled as imbalance.
        """
        if self.schedule is not None:
            return self.schedule
        d = self.day_ahead_data(day)
        T, nb = d.n_periods, len(d.batteries)
        z = np.zeros(T)
        return VppSchedule(
            name=self.name, status="fallback", buy_kw=z.copy(), sell_kw=z.copy(),
            wind_curtail_kw=z.copy(), pv_curtail_kw=z.copy(), charge_kw=np.zeros((nb, T)),
            discharge_kw=np.zeros((nb, T)),
            soc_kwh=np.repeat([[b.soc_start_kwh] for b in d.batteries], T + 1, axis=1)
            if nb else np.zeros((0, T + 1)),
            gen_kw=np.array([np.full(T, g.p_start_kw) for g in d.generators]).reshape(-1, T),
            load_curtail_kw=np.zeros((len(d.controllable_loads), T)), unmet_kw=z.copy(),
            spill_kw=z.copy(), cost_cny=float("nan"),
        )

    def commit(self, schedule: VppSchedule, day: int, fallback: bool) -> None:
        """Adopt the schedule the VPO cleared for ``day``."""
        self.schedule = schedule
        self.schedule_day = day
        self.fallback = fallback
        self.planned_cost_by_day_cny.append(float("nan") if fallback else float(schedule.cost_cny))

    # ------------------------------------------------------------------ real time
    def balance_inputs(self, t: int) -> BalanceInputs:
        """What the plan says for step ``t`` and what the members can do now."""
        m = self.model
        k = t - self.schedule_day * m.steps_per_day
        s = self.schedule
        assert s is not None and 0 <= k < m.steps_per_day, "balance_inputs() before a day-ahead commit"
        dt = m.step_h
        inputs = BalanceInputs(
            dt_h=dt,
            wind_available_kw=np.array([w.available_kw for w in self.winds]),
            pv_available_kw=np.array([p.available_kw for p in self.pvs]),
            wind_planned_curtail_kw=float(s.wind_curtail_kw[k]),
            pv_planned_curtail_kw=float(s.pv_curtail_kw[k]),
            mu_wind=self.spec.costs.mu1_wind_curtail_cny_per_kwh,
            mu_pv=self.spec.costs.mu2_pv_curtail_cny_per_kwh,
            demand_kw=np.array([ld.demand_kw for ld in self.loads]),
            battery_planned_kw=(s.discharge_kw[:, k] - s.charge_kw[:, k]) if len(self.batteries)
            else np.zeros(0),
            battery_min_kw=np.array([-b.max_charge_kw(dt) for b in self.batteries]),
            battery_max_kw=np.array([b.max_discharge_kw(dt) for b in self.batteries]),
            gen_planned_kw=s.gen_kw[:, k] if len(self.generators) else np.zeros(0),
            gen_limits_kw=np.array([g.limits_kw(dt) for g in self.generators]).reshape(-1, 2),
            gen_marginal_cny_per_kwh=np.array(
                [g.spec.cost_b_cny_per_kwh + 2 * g.spec.cost_c_cny_per_kw2h * g.last_p_kw
                 for g in self.generators]
            ),
            curtailable_kw=np.array(
                [cl.curtailable_kw(t) for cl in self.controllable_loads]
            ),
            load_curtail_planned_kw=s.load_curtail_kw[:, k] if len(self.controllable_loads)
            else np.zeros(0),
            curtail_cost_cny_per_kwh=np.array(
                [cl.curtail_cost_cny_per_kwh for cl in self.controllable_loads]
            ),
            net_buy_planned_kw=float(s.buy_kw[k] - s.sell_kw[k]),
            buy_max_kw=self.spec.exchange.buy_max_kw,
            sell_max_kw=self.spec.exchange.sell_max_kw,
            unmet_planned_kw=float(s.unmet_kw[k]),
            spill_planned_kw=float(s.spill_kw[k]),
            battery_cost_cny_per_kwh=(self.spec.costs.lam1_battery_cny_per_kwh
                                      + self.spec.costs.w_bat_battery_cny_per_kwh),
        )
        return inputs

    def apply_balance(self, t: int, inputs: BalanceInputs, out: BalanceOutcome) -> None:
        """Set the members to the allocator's outcome and record the step."""
        m = self.model
        k = t - self.schedule_day * m.steps_per_day
        s = self.schedule
        assert s is not None
        dt = m.step_h

        for w, p in zip(self.winds, out.wind_kw, strict=True):
            w.curtail_to(float(p))
        for pv, p in zip(self.pvs, out.pv_kw, strict=True):
            pv.curtail_to(float(p))
        for b, p in zip(self.batteries, out.battery_kw, strict=True):
            b.apply(max(-float(p), 0.0), max(float(p), 0.0), dt)
        for g, p in zip(self.generators, out.gen_kw, strict=True):
            g.set_output(float(p))
        for cl, c in zip(self.controllable_loads, out.load_curtail_kw, strict=True):
            cl.curtailed_kw = float(c)
        demand = inputs.demand_kw
        # unmet demand is shared in proportion to what is left after curtailment, so that no
        # load is served a negative amount
        servable = np.array([ld.demand_kw - ld.curtailed_kw for ld in self.loads])
        share = servable / servable.sum() if servable.sum() > 0 else np.zeros_like(servable)
        for ld, sh in zip(self.loads, share, strict=True):
            ld.unmet_kw = float(out.unmet_kw * sh)

        buy = max(out.net_buy_kw, 0.0)
        sell = max(-out.net_buy_kw, 0.0)
        supply = (
            out.wind_kw.sum() + out.pv_kw.sum() + out.battery_kw.sum() + out.gen_kw.sum()
            + out.net_buy_kw
        )
        served = demand.sum() - out.load_curtail_kw.sum() - out.unmet_kw
        self.record = {
            "committed_buy_kw": float(s.buy_kw[k]),
            "committed_sell_kw": float(s.sell_kw[k]),
            "buy_kw": buy,
            "sell_kw": sell,
            "imbalance_kw": out.net_buy_kw - inputs.net_buy_planned_kw,
            "load_kw": float(demand.sum()),
            "load_curtailed_kw": float(out.load_curtail_kw.sum()),
            "unmet_kw": float(out.unmet_kw),
            "spill_kw": float(out.spill_kw),
            "planned_unmet_kw": inputs.unmet_planned_kw,
            "planned_spill_kw": inputs.spill_planned_kw,
            "wind_forecast_kw": float(sum(w.forecast_kw[t] for w in self.winds)),
            "pv_forecast_kw": float(sum(p.forecast_kw[t] for p in self.pvs)),
            "wind_available_kw": float(inputs.wind_available_kw.sum()),
            "pv_available_kw": float(inputs.pv_available_kw.sum()),
            "wind_kw": float(out.wind_kw.sum()),
            "pv_kw": float(out.pv_kw.sum()),
            "curtailed_kw": float(inputs.wind_available_kw.sum() + inputs.pv_available_kw.sum()
                                  - out.wind_kw.sum() - out.pv_kw.sum()),
            "battery_kw": float(out.battery_kw.sum()),
            "charge_kw": float(np.maximum(-out.battery_kw, 0).sum()),
            "discharge_kw": float(np.maximum(out.battery_kw, 0).sum()),
            "gen_kw": float(out.gen_kw.sum()),
            "energy_balance_residual_kw": float(supply - served - out.spill_kw),
            "fallback": bool(self.fallback),
            **{f: float(out.info.get(f, np.nan)) for f in ALLOCATION_FIELDS},
        }

    def account(self, t: int, day_ahead_cny: float, imbalance_cny: float) -> None:
        """Add this step's costs (paper 004 eq. 4-6, realized) to ``record``, CNY."""
        m = self.model
        dt, k, r = m.step_h, self.spec.costs, self.record
        throughput = r["charge_kw"] + r["discharge_kw"]
        wind_cur = r["wind_available_kw"] - r["wind_kw"]
        pv_cur = r["pv_available_kw"] - r["pv_kw"]
        gen_cost = sum(g.cost_cny_per_h(g.p_kw) for g in self.generators)
        lc_cost = sum(cl.curtailed_kw * cl.curtail_cost_cny_per_kwh for cl in self.controllable_loads)
        voll = m.scenario.market.value_of_lost_load_cny_per_kwh
        terms = {
            "cost_curtailment_cny": dt * (k.mu1_wind_curtail_cny_per_kwh * wind_cur
                                          + k.mu2_pv_curtail_cny_per_kwh * pv_cur),
            "cost_battery_operation_cny": dt * k.lam1_battery_cny_per_kwh * throughput,
            "cost_renewable_operation_cny": dt * (k.lam2_wind_om_cny_per_kwh * r["wind_forecast_kw"]
                                                  + k.lam3_pv_om_cny_per_kwh * r["pv_forecast_kw"]),
            "cost_environmental_cny": dt * (k.w_b_purchase_cny_per_kwh * r["buy_kw"]
                                            + k.w_bat_battery_cny_per_kwh * throughput),
            "cost_generation_cny": dt * gen_cost,
            "cost_load_curtailment_cny": dt * lc_cost,
            "cost_lost_load_cny": dt * voll * (r["unmet_kw"] + r["spill_kw"]),
            "cost_day_ahead_trade_cny": day_ahead_cny,
            "cost_imbalance_cny": imbalance_cny,
        }
        r.update(terms)
        r["cost_cny"] = sum(terms.values())
