"""VPP agent: members by role, a dispatch strategy, the committed schedule and the accounts.

A VPP holds its members (agents that play roles, :mod:`vppsim.agents.base`) and a *dispatch
strategy* that plans its day ahead and dispatches it in real time:

- :class:`AllocatorDispatch` (the default): the day-ahead schedule is the VPP's least-cost LP
  over its members (paper 004 eq. 1-6, HiGHS); in real time the power the plan no longer covers
  is re-allocated across the members' headroom by the scenario's allocator
  (:mod:`vppsim.allocation.realtime`);
- a self-scheduling member kind brings its own strategy (a prosumer fleet:
  :class:`vppsim.agents.prosumer_fleet.ProsumerFleetDispatch`): its prosumers answer the prices
  themselves and dispatch themselves.

The VPO and the model talk to the VPP only (``plan_day``, ``commit``, ``balance_inputs``,
``apply_balance``, ``account``); the VPP passes these on to its strategy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np

from vppsim.agents.base import ROLES, BusAgent
from vppsim.allocation.realtime import ALLOCATION_FIELDS, BalanceInputs, BalanceOutcome
from vppsim.market.commitment import MemberSchedule
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
    from vppsim.agents.registry import MemberKind
    from vppsim.model import VPPModel

TIE_TOL_CNY = 1e-5  # a suggested schedule this close to the VPP's own optimum is a tie


class Dispatch(Protocol):
    """How a VPP plans its day and dispatches its portfolio (see the module docstring)."""

    def day_ahead_data(self, day: int) -> VppDayAheadData | None:
        """The VPP's day-ahead LP data, or None if it has no LP (the game then cannot run)."""
        ...

    def plan_day(self, prices: InternalPrices, day: int) -> VppSchedule:
        """The VPP's answer to the VPO's prices for ``day``."""
        ...

    def fallback_schedule(self, day: int) -> VppSchedule:
        """What the VPP commits to when its answer did not reach the VPO in time."""
        ...

    def on_commit(self, schedule: VppSchedule, day: int, fallback: bool) -> None:
        """React to the schedule the VPO cleared for ``day``."""
        ...

    def realize(self, t: int) -> None:
        """Realize what the strategy itself holds (its members realize on their own)."""
        ...

    def balance_inputs(self, t: int) -> BalanceInputs | None:
        """The real-time allocation problem of step ``t``, or None if it dispatches itself."""
        ...

    def apply_balance(self, t: int, inputs: BalanceInputs | None,
                      outcome: BalanceOutcome | None) -> None:
        """Dispatch step ``t`` (the allocator's outcome, if any) and fill ``vpp.record``."""
        ...

    def account(self, t: int, day_ahead_cny: float, imbalance_cny: float) -> None:
        """Add step ``t``'s costs to ``vpp.record``, CNY."""
        ...

    def injections(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(buses, p_kw, q_kvar)`` of what it dispatches as arrays (None: its members report)."""
        ...

    def error_rows(self) -> list[tuple[str, str]]:
        """``(quantity, name)`` of the rows it needs in the model's forecast-error sample."""
        ...

    def set_errors(self, eps: np.ndarray) -> None:
        """Take its rows of the error sample (``error_rows`` order)."""
        ...


class VPP(BusAgent):
    """A virtual power plant: members, committed schedule, real-time balancing, accounts."""

    def __init__(self, model: VPPModel, spec: VppSpec) -> None:
        super().__init__(model)
        self.spec = spec
        self.name = spec.name
        self.place(spec.bus)
        #: member agents in scenario order (a prosumer's PV and battery after it)
        self.members: list[mesa.Agent] = []
        self.by_role: dict[str, list[Any]] = {role: [] for role in ROLES}
        self.schedule: VppSchedule | None = None  # committed for the current day
        self.schedule_day = -1
        self.fallback = False
        self.planned_cost_by_day_cny: list[float] = []  # NaN for a day on a fallback schedule
        self.last_prices: InternalPrices | None = None
        self.record: dict[str, Any] = {}
        self.dispatch: Dispatch = AllocatorDispatch(self)

    # ------------------------------------------------------------------ membership
    def build_members(self, kinds: Mapping[str, MemberKind]) -> None:
        """Build the agents of every member spec by its kind (the member registry).

        A self-scheduling kind (a prosumer fleet) replaces the dispatch strategy instead.
        """
        for spec in self.spec.members:
            kind = kinds[spec.kind]
            if kind.dispatch is not None:
                self.dispatch = kind.dispatch(self, spec)
                continue
            for agent in kind.agent.from_spec(self.model, spec, self):
                self.add_member(agent)

    def add_member(self, agent: mesa.Agent) -> None:
        """Hold ``agent`` in every role it declares (``agent.roles``)."""
        roles = getattr(agent, "roles", frozenset())
        unknown = sorted(set(roles) - set(ROLES))
        if not roles or unknown:
            raise TypeError(f"{self.name}: member {getattr(agent, 'name', agent)!r} declares roles "
                            f"{sorted(roles)}; expected some of {list(ROLES)}")
        for role in ROLES:
            if role in roles:
                self.by_role[role].append(agent)
        self.members.append(agent)
        agent.vpp_name = self.name

    @property
    def winds(self) -> list[Any]:
        """Members in role ``wind``."""
        return self.by_role["wind"]

    @property
    def pvs(self) -> list[Any]:
        """Members in role ``pv``."""
        return self.by_role["pv"]

    @property
    def loads(self) -> list[Any]:
        """Members in role ``load`` (controllable loads and prosumers included)."""
        return self.by_role["load"]

    @property
    def controllable_loads(self) -> list[Any]:
        """Members whose demand may be curtailed (role ``curtailable_load``)."""
        return self.by_role["curtailable_load"]

    @property
    def batteries(self) -> list[Any]:
        """Members in role ``storage``."""
        return self.by_role["storage"]

    @property
    def generators(self) -> list[Any]:
        """Members in role ``generator``."""
        return self.by_role["generator"]

    @property
    def units(self) -> list[Any]:
        """Committed diesel/hydro units (role ``unit``)."""
        return self.by_role["unit"]

    @property
    def evs(self) -> list[Any]:
        """EVs (role ``ev``)."""
        return self.by_role["ev"]

    @property
    def reservoirs(self) -> list[Any]:
        """Water reservoirs with pumps and turbines (role ``reservoir``)."""
        return self.by_role["reservoir"]

    # ------------------------------------------------------------------ the strategy's steps
    def day_ahead_data(self, day: int) -> VppDayAheadData | None:
        """The VPP's day-ahead problem (None for a self-scheduling VPP)."""
        return self.dispatch.day_ahead_data(day)

    def plan_day(self, prices: InternalPrices, day: int) -> VppSchedule:
        """Best response to the VPO's prices for ``day``."""
        self.last_prices = prices
        return self.dispatch.plan_day(prices, day)

    def fallback_schedule(self, day: int) -> VppSchedule:
        """What the VPP commits to when its schedule did not reach the VPO in time."""
        return self.dispatch.fallback_schedule(day)

    def commit(self, schedule: VppSchedule, day: int, fallback: bool) -> None:
        """Adopt the schedule the VPO cleared for ``day``."""
        self.schedule = schedule
        self.schedule_day = day
        self.fallback = fallback
        self.planned_cost_by_day_cny.append(float("nan") if fallback else float(schedule.cost_cny))
        self.dispatch.on_commit(schedule, day, fallback)

    def realize(self, t: int) -> None:
        """Realize what the strategy holds as arrays (a fleet's prosumers) at step ``t``."""
        self.dispatch.realize(t)

    def balance_inputs(self, t: int) -> BalanceInputs | None:
        """The real-time allocation problem of step ``t`` (None: the VPP dispatches itself)."""
        return self.dispatch.balance_inputs(t)

    def apply_balance(self, t: int, inputs: BalanceInputs | None,
                      out: BalanceOutcome | None) -> None:
        """Dispatch step ``t`` and record it."""
        self.dispatch.apply_balance(t, inputs, out)

    def account(self, t: int, day_ahead_cny: float, imbalance_cny: float) -> None:
        """Add this step's costs to ``record``, CNY."""
        self.dispatch.account(t, day_ahead_cny, imbalance_cny)

    def report(self, t: int) -> dict[str, Any]:
        """The VPP's row of step ``t``: exchange, imbalance, energy, costs (units in names)."""
        return {"kind": "vpp", "vpp": self.name, "bus": self.bus, **self.record}


class AllocatorDispatch:
    """A VPP whose members are scheduled by its LP and re-allocated by the scenario's allocator."""

    def __init__(self, vpp: VPP) -> None:
        self.vpp = vpp

    def day_ahead_data(self, day: int) -> VppDayAheadData:
        """The VPP's day-ahead problem from its members' forecasts and present state."""
        vpp = self.vpp
        m = vpp.model
        sl = slice(day * m.steps_per_day, (day + 1) * m.steps_per_day)
        zeros = np.zeros(m.steps_per_day)
        wind = sum((w.forecast_kw[sl] for w in vpp.winds), zeros)
        pv = sum((p.forecast_kw[sl] for p in vpp.pvs), zeros)
        load = sum((ld.forecast_kw[sl] for ld in vpp.loads), zeros)
        gens = []
        for g in vpp.generators:
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
            for cl in vpp.controllable_loads
        )
        return VppDayAheadData(
            name=vpp.name,
            dt_h=m.step_h,
            wind_fc_kw=np.asarray(wind, float),
            pv_fc_kw=np.asarray(pv, float),
            load_kw=np.asarray(load, float),
            costs=vpp.spec.costs,
            buy_max_kw=vpp.spec.exchange.buy_max_kw,
            sell_max_kw=vpp.spec.exchange.sell_max_kw,
            voll_cny_per_kwh=m.scenario.market.value_of_lost_load_cny_per_kwh,
            batteries=tuple(BatteryData(b.params, b.soc_kwh) for b in vpp.batteries),
            generators=tuple(gens),
            controllable_loads=cls,
            end_soc_at_least_initial=vpp.spec.end_soc_at_least_initial,
            units=tuple(u.unit_data() for u in vpp.units),
            evs=tuple(ev.ev_data(day) for ev in vpp.evs),
            reservoirs=tuple(r.reservoir_data(day) for r in vpp.reservoirs),
        )

    def plan_day(self, prices: InternalPrices, day: int) -> VppSchedule:
        """Best response to the VPO's prices: the least-cost schedule (HiGHS LP).

        Under a dispatching VPO (``info["dispatched_schedules"]``) its part of the dispatch.
        """
        vpp = self.vpp
        # a dispatching VPO (the loss_aware policy): the VPP commits to its part of the dispatch
        dispatched = prices.info.get("dispatched_schedules", {}).get(vpp.name)
        if dispatched is not None:
            return dispatched
        data = self.day_ahead_data(day)
        own = solve_vpp_day_ahead(data, prices.c_sell_cny_per_kwh, prices.c_buy_cny_per_kwh)
        # optimistic bilevel: among equally cheap schedules, take the one the VPO suggests
        suggested = prices.info.get("suggested_schedules", {}).get(vpp.name)
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
        vpp = self.vpp
        if vpp.schedule is not None:
            return vpp.schedule
        d = self.day_ahead_data(day)
        T, nb = d.n_periods, len(d.batteries)
        z = np.zeros(T)
        return VppSchedule(
            name=vpp.name, status="fallback", buy_kw=z.copy(), sell_kw=z.copy(),
            wind_curtail_kw=z.copy(), pv_curtail_kw=z.copy(), charge_kw=np.zeros((nb, T)),
            discharge_kw=np.zeros((nb, T)),
            soc_kwh=np.repeat([[b.soc_start_kwh] for b in d.batteries], T + 1, axis=1)
            if nb else np.zeros((0, T + 1)),
            gen_kw=np.array([np.full(T, g.p_start_kw) for g in d.generators]).reshape(-1, T),
            load_curtail_kw=np.zeros((len(d.controllable_loads), T)), unmet_kw=z.copy(),
            spill_kw=z.copy(), cost_cny=float("nan"),
            members=_idle_members(d.units, d.evs, d.reservoirs, T) if d.has_members else None,
        )

    def balance_inputs(self, t: int) -> BalanceInputs:
        """What the plan says for step ``t`` and what the members can do now."""
        vpp = self.vpp
        m = vpp.model
        k = t - vpp.schedule_day * m.steps_per_day
        s = vpp.schedule
        assert s is not None and 0 <= k < m.steps_per_day, "balance_inputs() before a day-ahead commit"
        dt = m.step_h
        mem = self._member_ranges(t, k)
        inputs = BalanceInputs(
            dt_h=dt,
            wind_available_kw=np.array([w.available_kw for w in vpp.winds]),
            pv_available_kw=np.array([p.available_kw for p in vpp.pvs]),
            wind_planned_curtail_kw=float(s.wind_curtail_kw[k]),
            pv_planned_curtail_kw=float(s.pv_curtail_kw[k]),
            mu_wind=vpp.spec.costs.mu1_wind_curtail_cny_per_kwh,
            mu_pv=vpp.spec.costs.mu2_pv_curtail_cny_per_kwh,
            demand_kw=np.array([ld.demand_kw for ld in vpp.loads]),
            battery_planned_kw=np.concatenate([
                (s.discharge_kw[:, k] - s.charge_kw[:, k]) if len(vpp.batteries)
                else np.zeros(0), mem["storage_planned"]]),
            battery_min_kw=np.concatenate([
                [-b.max_charge_kw(dt) for b in vpp.batteries], mem["storage_min"]]),
            battery_max_kw=np.concatenate([
                [b.max_discharge_kw(dt) for b in vpp.batteries], mem["storage_max"]]),
            gen_planned_kw=np.concatenate([
                s.gen_kw[:, k] if len(vpp.generators) else np.zeros(0), mem["unit_planned"]]),
            gen_limits_kw=np.concatenate([
                np.array([g.limits_kw(dt) for g in vpp.generators]).reshape(-1, 2),
                mem["unit_limits"]]),
            gen_marginal_cny_per_kwh=np.concatenate([np.array(
                [g.spec.cost_b_cny_per_kwh + 2 * g.spec.cost_c_cny_per_kw2h * g.last_p_kw
                 for g in vpp.generators]), mem["unit_marginal"]]),
            curtailable_kw=np.array(
                [cl.curtailable_kw(t) for cl in vpp.controllable_loads]
            ),
            load_curtail_planned_kw=s.load_curtail_kw[:, k] if len(vpp.controllable_loads)
            else np.zeros(0),
            curtail_cost_cny_per_kwh=np.array(
                [cl.curtail_cost_cny_per_kwh for cl in vpp.controllable_loads]
            ),
            net_buy_planned_kw=float(s.buy_kw[k] - s.sell_kw[k]),
            buy_max_kw=vpp.spec.exchange.buy_max_kw,
            sell_max_kw=vpp.spec.exchange.sell_max_kw,
            unmet_planned_kw=float(s.unmet_kw[k]),
            spill_planned_kw=float(s.spill_kw[k]),
            battery_cost_cny_per_kwh=(vpp.spec.costs.lam1_battery_cny_per_kwh
                                      + vpp.spec.costs.w_bat_battery_cny_per_kwh),
        )
        return inputs

    def _member_ranges(self, t: int, k: int) -> dict[str, np.ndarray]:
        """Plan and range of the units, EVs and reservoirs at step ``t`` (period ``k``).

        Units count as generators, EVs and reservoirs as storage (discharge positive). Units
        keep the committed on/off state; EVs move only when plugged; a reservoir keeps the
        day-ahead mode (pumping or not) and always serves its water demand.
        """
        vpp = self.vpp
        dt = vpp.model.step_h
        mem = self.vpp.schedule.members if self.vpp.schedule is not None else None
        T = vpp.model.steps_per_day
        if mem is None:
            return {"storage_planned": np.zeros(0), "storage_min": np.zeros(0),
                    "storage_max": np.zeros(0), "unit_planned": np.zeros(0),
                    "unit_limits": np.zeros((0, 2)), "unit_marginal": np.zeros(0)}
        limits = [u.limits_kw(dt, bool(mem.unit_on[j, k]),
                              k + 1 < T and bool(mem.unit_on[j, k]) and not mem.unit_on[j, k + 1])
                  for j, u in enumerate(vpp.units)]
        ranges = [ev.range_kw(t, dt) for ev in vpp.evs] + [
            r.range_kw(t, dt, bool(mem.pump_kw[i, k] > 1e-6)) for i, r in enumerate(vpp.reservoirs)]
        return {
            "storage_planned": np.concatenate([mem.ev_discharge_kw[:, k] - mem.ev_charge_kw[:, k],
                                               mem.turbine_kw[:, k] - mem.pump_kw[:, k]]),
            "storage_min": np.array([lo for lo, _ in ranges]),
            "storage_max": np.array([hi for _, hi in ranges]),
            "unit_planned": mem.unit_kw[:, k],
            "unit_limits": np.array(limits).reshape(-1, 2),
            "unit_marginal": np.array([u.energy_cost_cny_per_kwh for u in vpp.units]),
        }

    def _apply_members(self, t: int, k: int, out: BalanceOutcome) -> dict[str, float]:
        """Set the units, EVs and reservoirs to the allocator's outcome; their record columns."""
        vpp = self.vpp
        dt = vpp.model.step_h
        ng, nb, ne = len(vpp.generators), len(vpp.batteries), len(vpp.evs)
        mem = vpp.schedule.members if vpp.schedule is not None else None
        if mem is None:
            return {}
        for j, (u, p) in enumerate(zip(vpp.units, out.gen_kw[ng:], strict=True)):
            u.set_output(float(p), bool(mem.unit_on[j, k]), dt)
        for ev, p in zip(vpp.evs, out.battery_kw[nb:nb + ne], strict=True):
            ev.apply(max(-float(p), 0.0), max(float(p), 0.0), dt, t)
        for r, p in zip(vpp.reservoirs, out.battery_kw[nb + ne:], strict=True):
            r.apply(max(-float(p), 0.0), max(float(p), 0.0), dt, t)
        return {"unit_kw": float(sum(u.p_kw for u in vpp.units)),
                "ev_kw": float(sum(ev.p_kw for ev in vpp.evs)),
                "water_storage_kw": float(sum(r.p_kw for r in vpp.reservoirs))}

    def apply_balance(self, t: int, inputs: BalanceInputs, out: BalanceOutcome) -> None:
        """Set the members to the allocator's outcome and record the step."""
        vpp = self.vpp
        m = vpp.model
        k = t - vpp.schedule_day * m.steps_per_day
        s = vpp.schedule
        assert s is not None
        dt = m.step_h

        for w, p in zip(vpp.winds, out.wind_kw, strict=True):
            w.curtail_to(float(p))
        for pv, p in zip(vpp.pvs, out.pv_kw, strict=True):
            pv.curtail_to(float(p))
        nb, ng = len(vpp.batteries), len(vpp.generators)
        for b, p in zip(vpp.batteries, out.battery_kw[:nb], strict=True):
            b.apply(max(-float(p), 0.0), max(float(p), 0.0), dt)
        for g, p in zip(vpp.generators, out.gen_kw[:ng], strict=True):
            g.set_output(float(p))
        member_cols = self._apply_members(t, k, out)
        for cl, c in zip(vpp.controllable_loads, out.load_curtail_kw, strict=True):
            cl.curtailed_kw = float(c)
        demand = inputs.demand_kw
        # unmet demand is shared in proportion to what is left after curtailment, so that no
        # load is served a negative amount
        servable = np.array([ld.demand_kw - ld.curtailed_kw for ld in vpp.loads])
        share = servable / servable.sum() if servable.sum() > 0 else np.zeros_like(servable)
        for ld, sh in zip(vpp.loads, share, strict=True):
            ld.unmet_kw = float(out.unmet_kw * sh)

        buy = max(out.net_buy_kw, 0.0)
        sell = max(-out.net_buy_kw, 0.0)
        supply = (
            out.wind_kw.sum() + out.pv_kw.sum() + out.battery_kw.sum() + out.gen_kw.sum()
            + out.net_buy_kw
        )
        served = demand.sum() - out.load_curtail_kw.sum() - out.unmet_kw
        bat, gen = out.battery_kw[:nb], out.gen_kw[:ng]
        vpp.record = {
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
            "wind_forecast_kw": float(sum(w.forecast_kw[t] for w in vpp.winds)),
            "pv_forecast_kw": float(sum(p.forecast_kw[t] for p in vpp.pvs)),
            "wind_available_kw": float(inputs.wind_available_kw.sum()),
            "pv_available_kw": float(inputs.pv_available_kw.sum()),
            "wind_kw": float(out.wind_kw.sum()),
            "pv_kw": float(out.pv_kw.sum()),
            "curtailed_kw": float(inputs.wind_available_kw.sum() + inputs.pv_available_kw.sum()
                                  - out.wind_kw.sum() - out.pv_kw.sum()),
            "battery_kw": float(bat.sum()),
            "charge_kw": float(np.maximum(-bat, 0).sum()),
            "discharge_kw": float(np.maximum(bat, 0).sum()),
            "gen_kw": float(gen.sum()),
            **member_cols,
            "energy_balance_residual_kw": float(supply - served - out.spill_kw),
            "fallback": bool(vpp.fallback),
            **{f: float(out.info.get(f, np.nan)) for f in ALLOCATION_FIELDS},
        }

    def account(self, t: int, day_ahead_cny: float, imbalance_cny: float) -> None:
        """Add this step's costs (paper 004 eq. 4-6, realized) to ``record``, CNY."""
        vpp = self.vpp
        m = vpp.model
        dt, k, r = m.step_h, vpp.spec.costs, vpp.record
        throughput = r["charge_kw"] + r["discharge_kw"]
        wind_cur = r["wind_available_kw"] - r["wind_kw"]
        pv_cur = r["pv_available_kw"] - r["pv_kw"]
        gen_cost = sum(g.cost_cny_per_h(g.p_kw) for g in vpp.generators)
        lc_cost = sum(cl.curtailed_kw * cl.curtail_cost_cny_per_kwh for cl in vpp.controllable_loads)
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
        if vpp.units or vpp.evs or vpp.reservoirs:
            terms["cost_units_cny"] = sum(u.cost_cny(dt) for u in vpp.units)
            terms["cost_ev_degradation_cny"] = dt * sum(
                ev.spec.degradation_cost_cny_per_kwh * (ev.charge_kw + ev.discharge_kw)
                for ev in vpp.evs)
            terms["cost_water_storage_cny"] = sum(
                dt * (r.spec.pump_cost_cny_per_kwh * r.pump_kw
                      + r.spec.turbine_cost_cny_per_kwh * r.turbine_kw)
                + voll * r.water_short_kwh for r in vpp.reservoirs)
        r.update(terms)
        r["cost_cny"] = sum(terms.values())

    def on_commit(self, schedule: VppSchedule, day: int, fallback: bool) -> None:
        """Nothing to prepare: real time starts from the committed schedule."""

    def realize(self, t: int) -> None:
        """Nothing to realize: the members realize themselves."""

    def injections(self) -> None:
        """None: every member reports its own injection."""
        return None

    def error_rows(self) -> list[tuple[str, str]]:
        """None of its own: every erring member has its own row."""
        return []

    def set_errors(self, eps: np.ndarray) -> None:
        """Nothing to take."""


def _idle_members(units: tuple[Any, ...], evs: tuple[Any, ...], reservoirs: tuple[Any, ...],
                  T: int) -> MemberSchedule:
    """A first-day fallback for the members: units hold their state and output.

    EVs and reservoirs idle (real time then pumps what the water demand needs).
    """
    return MemberSchedule(
        unit_on=np.array([np.full(T, float(u.initially_on)) for u in units]).reshape(-1, T),
        unit_kw=np.array([np.full(T, u.p_start_kw if u.initially_on else 0.0)
                          for u in units]).reshape(-1, T),
        ev_charge_kw=np.zeros((len(evs), T)), ev_discharge_kw=np.zeros((len(evs), T)),
        ev_soc_kwh=np.array([np.full(T + 1, e.soc_start_kwh) for e in evs]).reshape(-1, T + 1),
        pump_kw=np.zeros((len(reservoirs), T)), turbine_kw=np.zeros((len(reservoirs), T)),
        level_kwh=np.array([np.full(T + 1, r.level_start_kwh)
                            for r in reservoirs]).reshape(-1, T + 1),
        water_short_kwh=np.zeros((len(reservoirs), T)),
    )
