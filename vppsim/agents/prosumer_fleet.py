"""A VPP of self-scheduling prosumers (paper 002 inside the co-simulation).

The VPP's dispatch strategy (:class:`ProsumerFleetDispatch`) holds one
:class:`~vppsim.agents.prosumer.FleetProsumer` agent per prosumer, each with its own
:class:`~vppsim.agents.battery.Battery` agent when it has one, and keeps the fleet as arrays
(:class:`~vppsim.prosumers.problem.ProsumerFleet`) for the optimizer:

- **day ahead**: every prosumer answers the VPO's internal prices (it buys at ``c_sell``
  and sells at ``c_buy``) with its own least-cost schedule by the fleet's optimizer (``sa``,
  ``milp`` or ``lp``, :func:`vppsim.prosumers.schedule.schedule_fleet`); the VPP commits the
  sums: ``buy`` = the acquisitions, ``sell`` = the paid dispatch of all its prosumers (gross:
  in one period some prosumers buy while others sell, and each is billed on its own);
- **real time**: the prosumers realize generation and load (forecast times ``1 + eps``, the
  scenario's error model). Without rolling horizon each keeps its planned battery power as
  far as its SoC, power and grid limits allow; with ``rolling_horizon`` the fleet is
  re-optimized from the present step over the rest of the day (this step's realized values,
  later steps' forecasts, the batteries' present SoC) and each prosumer applies the first
  step of its new plan. Its grid exchange follows from its energy balance
  ``gen + acquire + discharge = load - unmet + paid + spill + charge``: a deficit is
  acquired (up to the import limit; beyond it the demand is unmet), a surplus is sold up to
  the export limit and the rest of the generation is curtailed (``spill``; never exported);
- the VPP's imbalance is its realized net purchase minus the committed one, settled by the
  VPO as for any VPP.

The member kind ``prosumer_fleet`` (:mod:`vppsim.agents.registry`) is self-scheduling: its
VPP holds nothing else and has no day-ahead LP, so only the ``passthrough`` price policy
applies.

Forecast errors: every prosumer has a PV and a load row in the model's error sample (the
scenario's ``forecast_error``; as for other members, errors of one quantity are shared by
the members of one VPP).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from vppsim.agents.battery import Battery
from vppsim.agents.prosumer import FleetProsumer
from vppsim.allocation.realtime import ALLOCATION_FIELDS
from vppsim.market.lower_level import VppSchedule
from vppsim.market.pricing import InternalPrices
from vppsim.market.tariff import Tariff
from vppsim.prosumers.anneal import SASettings, anneal_fleet, warm_settings
from vppsim.prosumers.cluster import ClusterError, ProsumerCluster
from vppsim.prosumers.problem import (
    SYNTHETIC_SOC_BOUNDS,
    FleetSchedule,
    ProsumerFleet,
    schedule_from_stored,
    stored_of_schedule,
    stored_to_power,
    synthetic_fleet,
)
from vppsim.prosumers.schedule import schedule_fleet
from vppsim.scenario.schema import BatteryParams, ProsumerFleetSpec, Scenario, ScenarioError

if TYPE_CHECKING:
    from vppsim.agents.vpp import VPP

#: per-prosumer quantities recorded every step (``prosumers.parquet``)
PROSUMER_FIELDS = ("gen_forecast_kw", "load_forecast_kw", "gen_kw", "load_kw", "charge_kw",
                   "discharge_kw", "soc_kwh", "acquire_kw", "paid_kw", "spill_kw", "unmet_kw",
                   "cost_cny")


@dataclass
class FleetVppSchedule(VppSchedule):
    """A prosumer-fleet VPP's committed schedule, with the prosumers' own plans behind it.

    The base fields are the VPP's sums (``buy_kw``: acquisitions, ``sell_kw``: paid
    dispatch, ``pv_curtail_kw``: spill, batteries: the prosumers' batteries in order);
    ``plan`` holds every prosumer's schedule for ``day``.
    """

    plan: FleetSchedule | None = None
    day: int = -1


@dataclass
class FleetStep:
    """The fleet's realized quantities of the present step, one entry per prosumer (kW, kWh, CNY)."""

    gen_forecast_kw: np.ndarray
    load_forecast_kw: np.ndarray
    gen_kw: np.ndarray
    load_kw: np.ndarray
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray
    acquire_kw: np.ndarray
    paid_kw: np.ndarray
    spill_kw: np.ndarray
    unmet_kw: np.ndarray
    cost_cny: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> FleetStep:
        """All zero."""
        return cls(**{f.name: np.zeros(n) for f in fields(cls)})


def tariff_fleet(scenario: Scenario, day: int = 0, count: int | None = None) -> ProsumerFleet:
    """The prosumers of every fleet VPP of ``scenario`` (in VPP order) at the tariff of ``day``.

    What the fleets schedule on ``day`` under ``passthrough`` prices (buy at the import price,
    sell at the export price), from their initial state, with the end floor of
    :meth:`ProsumerFleetDispatch.fleet_for_day`, without building the model (benchmarks,
    tests). ``count`` replaces every fleet's size (same synthetic seeds).
    """
    spd = scenario.steps_per_day
    tariff = Tariff.from_spec(scenario.tariff, scenario.n_steps, scenario.step_h)
    sl = slice(day * spd, (day + 1) * spd)
    parts = []
    for vpp in scenario.vpps:
        fs = vpp.prosumer_fleet
        if fs is None:
            continue
        f = synthetic_fleet(count or fs.count, fs.synthetic.seed, periods=spd, dt_h=scenario.step_h)
        end = f.soc_init_kwh if vpp.end_soc_at_least_initial else f.soc_min_kwh
        parts.append(f.replace(price_buy_per_kwh=tariff.import_cny_per_kwh[sl],
                               price_sell_per_kwh=tariff.export_cny_per_kwh[sl],
                               soc_end_min_kwh=np.minimum(end, f.soc_max_kwh)))
    if not parts:
        raise ValueError(f"scenario {scenario.name!r} has no prosumer-fleet VPP")
    kw = {fld.name: getattr(parts[0], fld.name) for fld in fields(parts[0])}
    for name in kw:
        if name != "dt_h":
            kw[name] = np.concatenate([getattr(p, name) for p in parts])
    return ProsumerFleet(**kw)


class ProsumerFleetDispatch:
    """The dispatch strategy of a VPP whose only member is a fleet of self-scheduling prosumers.

    See the module docstring. It builds one :class:`FleetProsumer` agent per prosumer (and a
    :class:`Battery` agent per prosumer battery) at the fleet's buses.
    """

    def __init__(self, vpp: VPP, fs: ProsumerFleetSpec) -> None:
        model, spec = vpp.model, vpp.spec
        self.vpp = vpp
        self.fleet_spec = fs
        self.index = [v.name for v in model.scenario.vpps].index(vpp.name)  # in the scenario
        spd, dt = model.steps_per_day, model.step_h
        base = synthetic_fleet(fs.count, fs.synthetic.seed, periods=spd, dt_h=dt)
        n = base.n
        buses = fs.buses or [spec.bus if fs.bus is None else fs.bus]
        self.prosumer_buses = np.array([buses[i % len(buses)] for i in range(n)], dtype=int)
        self.prosumer_names = [f"{fs.name}-{i:04d}" for i in range(n)]
        self.tan_phi = float(np.sqrt(1.0 / fs.power_factor**2 - 1.0))
        self.now = FleetStep.zeros(n)
        # one Battery agent per prosumer with storage: the agent is the authority on the SoC
        cap = base.soc_max_kwh / SYNTHETIC_SOC_BOUNDS[1]
        self.fleet_batteries: list[Battery] = []
        self.battery_index = np.flatnonzero(cap > 0)
        self.prosumers: list[FleetProsumer] = []
        by_index: dict[int, Battery] = {}
        for i in self.battery_index:
            params = BatteryParams(
                capacity_kwh=float(cap[i]), soc0=float(base.soc_init_kwh[i] / cap[i]),
                soc_min=SYNTHETIC_SOC_BOUNDS[0], soc_max=SYNTHETIC_SOC_BOUNDS[1],
                p_max_kw=float(max(base.charge_max_kw[i], base.discharge_max_kw[i])),
                eta_charge=float(base.eta_charge[i]), eta_discharge=float(base.eta_discharge[i]),
            )
            by_index[int(i)] = Battery(model, f"{self.prosumer_names[i]}-BAT", params,
                                       int(self.prosumer_buses[i]), self.prosumer_names[i])
        for i in range(n):
            self.prosumers.append(FleetProsumer(model, self.prosumer_names[i], int(self.prosumer_buses[i]),
                                                self, i, fs.power_factor, by_index.get(i)))
        self.fleet_batteries = [by_index[int(i)] for i in self.battery_index]
        soc_min, soc_max = np.zeros(n), np.zeros(n)
        soc_min[self.battery_index] = [b.soc_min_kwh for b in self.fleet_batteries]
        soc_max[self.battery_index] = [b.soc_max_kwh for b in self.fleet_batteries]
        self.capacity_kwh = np.where(cap > 0, cap, 0.0)
        self.now.soc_kwh[self.battery_index] = [b.soc_kwh for b in self.fleet_batteries]
        #: the fleet template of one day: limits and battery bounds; its prices (the synthetic ToU)
        #: are never used: each day-ahead replaces them by the VPO's internal prices (fleet_for_day)
        self.base = base.replace(soc_min_kwh=soc_min, soc_max_kwh=soc_max,
                                 soc_init_kwh=self.now.soc_kwh.copy(),
                                 soc_end_min_kwh=self.now.soc_kwh.copy())
        self.gen_forecast_kw = np.tile(base.gen_kw, (1, model.scenario.days))[:, :model.n_steps]
        self.load_forecast_kw = np.tile(base.load_kw, (1, model.scenario.days))[:, :model.n_steps]
        self.gen_error = np.zeros_like(self.gen_forecast_kw)  # set by the model (error sample)
        self.load_error = np.zeros_like(self.load_forecast_kw)
        self.history = {f: np.zeros((model.n_steps, n)) for f in PROSUMER_FIELDS}
        self.own_plan: tuple[int, FleetSchedule] | None = None  # the day's plan it computed
        self.rt_plan: FleetSchedule | None = None  # the plan real time follows
        self.rt_fleet: ProsumerFleet | None = None  # the day's fleet at the committed prices
        self.rolling_e: np.ndarray | None = None  # the last rolling SA plan's SoC changes (warm start)
        self.solve_s = {"day_ahead": 0.0, "rolling": 0.0}
        self.solves = 0
        #: the fleet's Dask cluster (``scheduler``), opened here (an unreachable scheduler is bad
        #: input, reported before the run starts) and kept for the run
        self.cluster: ProsumerCluster | None = None
        self._cluster()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a model checkpoint) without the Dask client; the next solve reconnects."""
        return {**self.__dict__, "cluster": None}

    def _cluster(self) -> ProsumerCluster | None:
        """The cluster of the fleet's ``scheduler`` (None: in this process); ScenarioError if unreachable.

        Fleet VPPs of one model with the same ``scheduler`` and ``workers`` share one cluster.
        """
        fs = self.fleet_spec
        if fs.scheduler is None or self.cluster is not None:
            return self.cluster
        for v in self.vpp.model.vpps:  # the fleets built so far
            other = getattr(v, "dispatch", None)
            if isinstance(other, ProsumerFleetDispatch) and other.cluster is not None and (
                    other.fleet_spec.scheduler, other.fleet_spec.workers) == (fs.scheduler, fs.workers):
                self.cluster = other.cluster
                return self.cluster
        try:
            self.cluster = ProsumerCluster(fs.scheduler, workers=fs.workers)
        except ClusterError as exc:
            raise ScenarioError(self.vpp.model.loaded.path, [
                (f"vpps[{self.index}].members[0].scheduler", f"expected a reachable Dask scheduler: {exc}")
            ]) from exc
        weakref.finalize(self, self.cluster.close)
        return self.cluster

    @property
    def n(self) -> int:
        """Number of prosumers."""
        return len(self.prosumers)

    @property
    def name(self) -> str:
        """The VPP's name."""
        return self.vpp.name

    @property
    def planned_cost_by_day_cny(self) -> list[float]:
        """The prosumers' planned bills per day (the VPP's day-ahead cost), CNY."""
        return self.vpp.planned_cost_by_day_cny

    # ------------------------------------------------------------------ day-ahead
    def day_ahead_data(self, day: int) -> None:
        """None: the game's lower level is an LP of a VPP's members, not of a fleet."""
        return None

    def fleet_for_day(self, day: int, c_sell: np.ndarray, c_buy: np.ndarray) -> ProsumerFleet:
        """The fleet's problem for ``day``: forecasts, prices seen by the prosumers, present SoC.

        A prosumer buys at the VPO's selling price ``c_sell`` and sells at its buying price
        ``c_buy``. End-of-day floor: the present SoC if ``end_soc_at_least_initial``, else
        ``soc_min``.
        """
        m = self.vpp.model
        sl = slice(day * m.steps_per_day, (day + 1) * m.steps_per_day)
        soc = self.now.soc_kwh.copy()
        end = soc if self.vpp.spec.end_soc_at_least_initial else self.base.soc_min_kwh
        return self.base.replace(
            gen_kw=self.gen_forecast_kw[:, sl], load_kw=self.load_forecast_kw[:, sl],
            price_buy_per_kwh=np.asarray(c_sell, float), price_sell_per_kwh=np.asarray(c_buy, float),
            soc_init_kwh=soc, soc_end_min_kwh=np.minimum(end, self.base.soc_max_kwh),
        )

    def _seed(self, *parts: int) -> int:
        return int(np.random.SeedSequence([self.vpp.model.seed_used, self.index, *parts])
                   .generate_state(1)[0])

    def _optimize(self, fleet: ProsumerFleet, seed: int) -> FleetSchedule:
        """The fleet's optimizer; a prosumer without an answer (exact: infeasible) stays idle.

        The annealing (the day's plan; rolling windows anneal in :meth:`_warm_sa`) gets
        ``sa_iterations`` moves.
        """
        fs = self.fleet_spec
        settings = SASettings(iterations=fs.sa_iterations) if fs.optimizer == "sa" else None
        plan = schedule_fleet(fleet, fs.optimizer, seed=seed, workers=fs.workers, settings=settings,
                              scheduler=self._cluster())
        self.solves += 1
        bad = ~np.isfinite(plan.soc_kwh).all(axis=1)
        if bad.any():
            idle = schedule_from_stored(fleet, np.zeros((fleet.n, fleet.periods)))
            parts = {}
            for f in ("acquire_kw", "paid_kw", "spill_kw", "charge_kw", "discharge_kw", "soc_kwh"):
                parts[f] = np.where(bad[:, None], getattr(idle, f), getattr(plan, f))
            cost = np.where(bad, idle.cost, plan.cost)
            plan = FleetSchedule(**parts, cost=cost, method=plan.method,
                                 info={**plan.info, "idle_fallback": np.flatnonzero(bad)})
        return plan

    def plan_day(self, prices: InternalPrices, day: int) -> VppSchedule:
        """Every prosumer's best response to the VPO's prices; the VPP commits the sums."""
        fleet = self.fleet_for_day(day, prices.c_sell_cny_per_kwh, prices.c_buy_cny_per_kwh)
        start = time.perf_counter()
        plan = self._optimize(fleet, self._seed(day))
        self.solve_s["day_ahead"] += time.perf_counter() - start
        self.own_plan = (day, plan)
        return self._vpp_schedule(fleet, plan, day, status=self.fleet_spec.optimizer)

    def _vpp_schedule(self, fleet: ProsumerFleet, plan: FleetSchedule, day: int,
                      status: str) -> FleetVppSchedule:
        T = fleet.periods
        bi = self.battery_index
        z = np.zeros(T)
        return FleetVppSchedule(
            name=self.name, status=status, buy_kw=plan.acquire_kw.sum(axis=0),
            sell_kw=plan.paid_kw.sum(axis=0), wind_curtail_kw=z.copy(),
            pv_curtail_kw=plan.spill_kw.sum(axis=0), charge_kw=plan.charge_kw[bi],
            discharge_kw=plan.discharge_kw[bi],
            soc_kwh=np.concatenate([fleet.soc_init_kwh[bi, None], plan.soc_kwh[bi]], axis=1),
            gen_kw=np.zeros((0, T)), load_curtail_kw=np.zeros((0, T)), unmet_kw=z.copy(),
            spill_kw=z.copy(), cost_cny=plan.total_cost if status != "fallback" else float("nan"),
            plan=plan, day=day,
        )

    def _idle_plan(self, day: int) -> tuple[ProsumerFleet, FleetSchedule]:
        m = self.vpp.model
        sl = slice(day * m.steps_per_day, (day + 1) * m.steps_per_day)
        fleet = self.fleet_for_day(day, m.tariff.import_cny_per_kwh[sl], m.tariff.export_cny_per_kwh[sl])
        return fleet, schedule_from_stored(fleet, np.zeros((fleet.n, fleet.periods)), method="idle")

    def fallback_schedule(self, day: int) -> VppSchedule:
        """Yesterday's committed sums, or on the first day no exchange with idle batteries."""
        if self.vpp.schedule is not None:
            return self.vpp.schedule
        fleet, plan = self._idle_plan(day)
        return self._vpp_schedule(fleet, plan, day, status="fallback")

    def on_commit(self, schedule: VppSchedule, day: int, fallback: bool) -> None:
        """Adopt the cleared sums; the prosumers follow their own plan for ``day``.

        That is the plan the VPO received (also when adopted from a shared clearing), else
        the plan they made if their answer was lost or late, else (the prices never arrived)
        idle batteries.
        """
        prices = self.vpp.model.vpo.prices
        assert prices is not None
        self.rt_fleet = self.fleet_for_day(day, prices.c_sell_cny_per_kwh, prices.c_buy_cny_per_kwh)
        if not fallback and isinstance(schedule, FleetVppSchedule) and schedule.day == day:
            self.rt_plan = schedule.plan
        elif self.own_plan is not None and self.own_plan[0] == day:
            self.rt_plan = self.own_plan[1]
        else:
            self.rt_plan = schedule_from_stored(self.rt_fleet, np.zeros((self.n, self.rt_fleet.periods)),
                                                method="idle")

    # ------------------------------------------------------------------ real time
    def realize(self, t: int) -> None:
        """Realized generation and load of every prosumer at step ``t`` (forecast times ``1 + eps``)."""
        now = self.now
        now.gen_forecast_kw = self.gen_forecast_kw[:, t]
        now.load_forecast_kw = self.load_forecast_kw[:, t]
        now.gen_kw = np.maximum(0.0, now.gen_forecast_kw * (1.0 + self.gen_error[:, t]))
        now.load_kw = np.maximum(0.0, now.load_forecast_kw * (1.0 + self.load_error[:, t]))

    def balance_inputs(self, t: int) -> None:
        """None: the prosumers dispatch themselves (:meth:`realtime`), not the allocator."""
        return None

    def apply_balance(self, t: int, inputs: Any, out: Any) -> None:
        """The model calls this with ``None`` for a prosumer-fleet VPP: dispatch the step."""
        self.realtime(t)

    def _rolling_battery_kw(self, k: int) -> np.ndarray:
        """Battery power (charge > 0) of step ``k`` of the day from a re-optimization over ``k..``."""
        fleet = self.rt_fleet
        assert fleet is not None
        gen = fleet.gen_kw[:, k:].copy()
        load = fleet.load_kw[:, k:].copy()
        gen[:, 0] = self.now.gen_kw
        load[:, 0] = self.now.load_kw
        window = fleet.window(k, soc_init_kwh=self.now.soc_kwh.copy()).replace(gen_kw=gen, load_kw=load)
        start = time.perf_counter()
        seed = self._seed(self.vpp.schedule_day, k + 1)
        if self.fleet_spec.optimizer == "sa":
            plan = self._warm_sa(window, k, seed)
        else:
            plan = self._optimize(window, seed)
        self.solve_s["rolling"] += time.perf_counter() - start
        e0 = plan.soc_kwh[:, 0] - window.soc_init_kwh
        return stored_to_power(window, e0[:, None])[:, 0]

    def _warm_sa(self, window: ProsumerFleet, k: int, seed: int) -> FleetSchedule:
        """The annealing of rolling step ``k``, warm-started and short (in this process).

        It starts from the plan followed so far: at step 0 the day's plan, later the previous
        step's plan shifted by one step (repaired to the present SoC and this step's realized
        generation and load); :func:`vppsim.prosumers.anneal.warm_settings` sets its length.
        """
        prev = self.rolling_e
        if k > 0 and prev is not None and prev.shape == (window.n, window.periods + 1):
            e_start = prev[:, 1:]
        else:  # the day's plan from step k on
            plan, fleet = self.rt_plan, self.rt_fleet
            assert plan is not None and fleet is not None
            e_start = stored_of_schedule(fleet, plan)[:, k:]
        plan = anneal_fleet(window, warm_settings(window.periods), seed=seed, e_start=e_start)
        self.solves += 1
        self.rolling_e = stored_of_schedule(window, plan)
        return plan

    def realtime(self, t: int) -> None:
        """Dispatch step ``t``: battery set-points, grid exchange from each energy balance."""
        m = self.vpp.model
        dt = m.step_h
        k = t - self.vpp.schedule_day * m.steps_per_day
        s, plan = self.vpp.schedule, self.rt_plan
        assert s is not None and plan is not None and 0 <= k < m.steps_per_day, "realtime() before commit"
        if self.fleet_spec.rolling_horizon:
            b_plan = self._rolling_battery_kw(k)
        else:
            b_plan = plan.charge_kw[:, k] - plan.discharge_kw[:, k]
        f, now = self.base, self.now
        soc = now.soc_kwh
        gen, load = now.gen_kw, now.load_kw
        # what the battery can do now (Battery.max_charge_kw / max_discharge_kw, vectorized)
        hi_soc = np.minimum(f.charge_max_kw, np.maximum(0.0, f.soc_max_kwh - soc) / (f.eta_charge * dt))
        lo_soc = -np.minimum(f.discharge_max_kw, np.maximum(0.0, soc - f.soc_min_kwh) * f.eta_discharge / dt)
        # and what the grid limits allow: import at most acquire_max, export at most dispatch_max
        # plus curtailing the generation (discharging into curtailed PV is pointless)
        lo = np.maximum(lo_soc, -f.dispatch_max_kw - load)
        hi = np.minimum(hi_soc, f.acquire_max_kw - load + gen)
        b = np.maximum(np.minimum(b_plan, hi), lo)
        ch = np.maximum(b, 0.0)
        dis = np.maximum(-b, 0.0)
        r = load - gen + b
        acq = np.clip(r, 0.0, f.acquire_max_kw)
        unmet = np.maximum(r - f.acquire_max_kw, 0.0)
        surplus = np.maximum(-r, 0.0)
        paid = np.minimum(surplus, f.dispatch_max_kw)
        spill = surplus - paid
        for i, bat in zip(self.battery_index, self.fleet_batteries, strict=True):
            bat.apply(float(ch[i]), float(dis[i]), dt)
        new_soc = soc.copy()
        new_soc[self.battery_index] = [bat.soc_kwh for bat in self.fleet_batteries]
        now.charge_kw, now.discharge_kw, now.soc_kwh = ch, dis, new_soc
        now.acquire_kw, now.paid_kw, now.spill_kw, now.unmet_kw = acq, paid, spill, unmet

        buy, sell = float(acq.sum()), float(paid.sum())
        pv_used = float((gen - spill).sum())
        served = float((load - unmet).sum())
        self.vpp.record = {
            "committed_buy_kw": float(s.buy_kw[k]),
            "committed_sell_kw": float(s.sell_kw[k]),
            "buy_kw": buy,
            "sell_kw": sell,
            "imbalance_kw": (buy - sell) - float(s.buy_kw[k] - s.sell_kw[k]),
            "load_kw": float(load.sum()),
            "load_curtailed_kw": 0.0,
            "unmet_kw": float(unmet.sum()),
            "spill_kw": 0.0,  # a prosumer's spill is curtailed generation, see curtailed_kw
            "planned_unmet_kw": 0.0,
            "planned_spill_kw": 0.0,
            "wind_forecast_kw": 0.0,
            "pv_forecast_kw": float(now.gen_forecast_kw.sum()),
            "wind_available_kw": 0.0,
            "pv_available_kw": float(gen.sum()),
            "wind_kw": 0.0,
            "pv_kw": pv_used,
            "curtailed_kw": float(spill.sum()),
            "battery_kw": float((dis - ch).sum()),
            "charge_kw": float(ch.sum()),
            "discharge_kw": float(dis.sum()),
            "gen_kw": 0.0,
            "energy_balance_residual_kw": pv_used + float(dis.sum()) - float(ch.sum()) + buy - sell
            - served,
            "fallback": bool(self.vpp.fallback),
            "prosumers": self.n,
            "prosumer_soc_kwh": float(new_soc.sum()),
            **{fld: np.nan for fld in ALLOCATION_FIELDS},
        }

    def account(self, t: int, day_ahead_cny: float, imbalance_cny: float) -> None:
        """Add the step's costs to ``record`` (CNY) and record every prosumer's step.

        The VPP's cost: the trade with the VPO (committed and imbalance), the prosumers'
        battery wear, a share ``1/steps_per_day`` of their fixed daily cost and lost load at
        the value of lost load. A prosumer's ``cost_cny``: its bill at the internal prices
        (paper 002's objective 3.3.1, realized), plus lost load.
        """
        m = self.vpp.model
        dt, now, f = m.step_h, self.now, self.base
        k = t - self.vpp.schedule_day * m.steps_per_day
        prices = m.vpo.prices
        assert prices is not None
        c_sell = float(prices.c_sell_cny_per_kwh[k])
        c_buy = float(prices.c_buy_cny_per_kwh[k])
        voll = m.scenario.market.value_of_lost_load_cny_per_kwh
        wear = dt * f.battery_cost_per_kwh * (now.charge_kw + now.discharge_kw)
        fixed = f.fixed_cost / m.steps_per_day
        lost = dt * voll * now.unmet_kw
        now.cost_cny = dt * (c_sell * now.acquire_kw - c_buy * now.paid_kw) + wear + fixed + lost
        terms = {
            "cost_curtailment_cny": 0.0,
            "cost_battery_operation_cny": float(wear.sum()),
            "cost_renewable_operation_cny": 0.0,
            "cost_environmental_cny": 0.0,
            "cost_generation_cny": 0.0,
            "cost_load_curtailment_cny": 0.0,
            "cost_lost_load_cny": float(lost.sum()),
            "cost_fixed_cny": float(fixed.sum()),
            "cost_day_ahead_trade_cny": day_ahead_cny,
            "cost_imbalance_cny": imbalance_cny,
        }
        self.vpp.record.update(terms)
        self.vpp.record["cost_cny"] = sum(terms.values())
        for fld in PROSUMER_FIELDS:
            self.history[fld][t] = getattr(now, fld)

    # ------------------------------------------------------------------ outputs
    def error_rows(self) -> list[tuple[str, str]]:
        """``(quantity, name)`` of its rows in the model's error sample: every PV, then every load."""
        return ([("pv", f"{p}-PV") for p in self.prosumer_names]
                + [("load", f"{p}-LOAD") for p in self.prosumer_names])

    def set_errors(self, eps: np.ndarray) -> None:
        """Take its rows of the model's error sample (in :meth:`error_rows` order)."""
        self.gen_error = eps[:self.n]
        self.load_error = eps[self.n:2 * self.n]

    def injections(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(buses, p_kw, q_kvar)`` of the present step per prosumer (generation positive).

        Active: curtailed generation and served load net of the battery,
        ``paid - acquire``; reactive: the served load at the fleet's power factor.
        """
        now = self.now
        p = now.paid_kw - now.acquire_kw
        q = -(now.load_kw - now.unmet_kw) * self.tan_phi
        return self.prosumer_buses, p, q

    def prosumer_table(self, steps: int | None = None) -> dict[str, np.ndarray]:
        """Columns of ``prosumers.parquet`` for this VPP: one row per (step, prosumer)."""
        m = self.vpp.model
        n_steps = m.t if steps is None else steps
        n = self.n
        step = np.repeat(np.arange(n_steps), n)
        out: dict[str, Any] = {
            "step": step,
            "time_h": step * m.step_h,
            "vpp": np.full(n_steps * n, self.name, dtype=object),
            "prosumer": np.tile(np.asarray(self.prosumer_names, dtype=object), n_steps),
            "bus": np.tile(self.prosumer_buses, n_steps),
            "capacity_kwh": np.tile(self.capacity_kwh, n_steps),
        }
        for fld in PROSUMER_FIELDS:
            out[fld] = self.history[fld][:n_steps].ravel()
        out["exchange_kw"] = out["acquire_kw"] - out["paid_kw"]
        return out
