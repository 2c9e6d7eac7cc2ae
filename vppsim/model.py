"""VPPModel: a Mesa 3 model that wires agents, market, SimPy messaging and the power flow.

One Mesa step is one period of ``step_h`` hours. The step sequence (DESIGN.md):
realize forecast error, day-ahead clearing (first step of each day), real-time balancing,
settlement, power flow, accounting and data collection. The model coordinates; the
physics lives in the agents, the prices in ``vppsim.market``, the solvers in
``vppsim.optimizers`` and the feeder in ``vppsim.grids``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import mesa
import numpy as np
import pandas as pd
import simpy

from vppsim.agents.battery import Battery
from vppsim.agents.generator import DispatchableGenerator
from vppsim.agents.loads import ControllableLoad, Load
from vppsim.agents.network import DistributionNetwork
from vppsim.agents.prosumer import Prosumer
from vppsim.agents.prosumer_fleet import ProsumerFleetVPP
from vppsim.agents.renewables import PVPlant, WindTurbine
from vppsim.agents.vpo import VPO
from vppsim.agents.vpp import VPP
from vppsim.allocation.realtime import BalanceInputs, BalanceOutcome
from vppsim.cosim import MessageBus
from vppsim.grids import PowerFlow, load_feeder
from vppsim.market.tariff import Tariff
from vppsim.optimizers.rng import mix_seed as _mix64
from vppsim.scenario.loader import LoadedScenario
from vppsim.scenario.schema import (
    BatterySpec,
    ControllableLoadSpec,
    GeneratorSpec,
    LoadSpec,
    ProsumerSpec,
    PVPlantSpec,
    WindTurbineSpec,
)

PHASES = ("realize", "day_ahead", "realtime", "settlement", "power_flow", "accounting")


def allocate_batch(allocator: Any, jobs: list[tuple[VPPModel, list[BalanceInputs | None]]]
                   ) -> list[list[BalanceOutcome | None]]:
    """Allocate the balancing problems of several models at their present step in one call.

    ``jobs`` pairs each model with its :meth:`VPPModel.begin_step` problems; every problem is
    seeded by its own model's :meth:`VPPModel.allocation_key`, so a problem's outcome does not
    depend on the batch. ``None`` (a prosumer-fleet VPP, which dispatches itself) stays
    ``None``. Returns the outcomes per job, in the order of its problems.
    """
    flat, keys, where = [], [], []
    for j, (model, inputs) in enumerate(jobs):
        for i, x in enumerate(inputs):
            if x is not None:
                flat.append(x)
                keys.append(model.allocation_key(model.t, i))
                where.append((j, i))
    out: list[list[BalanceOutcome | None]] = [[None] * len(inputs) for _, inputs in jobs]
    for (j, i), o in zip(where, allocator(flat, keys) if flat else [], strict=True):
        out[j][i] = o
    return out


class VPPModel(mesa.Model):
    """A scenario as a Mesa model; ``run()`` steps through the horizon.

    Parameters
    ----------
    loaded:
        A validated scenario (:func:`vppsim.scenario.loader.load_scenario`).
    seed:
        Overrides the scenario's seed; every random draw comes from ``self.rng``.
    days:
        Overrides the scenario's number of days (daily profiles repeat).
    shared_day_ahead:
        Cleared day-ahead markets by day (``model.vpo.cleared`` of another run of the same
        scenario) to adopt instead of clearing again, as Monte Carlo samples do.
    power_flow:
        A :class:`vppsim.grids.PowerFlow` of this scenario's feeder to reuse (built by
        :meth:`build_power_flow`), as the Monte Carlo samples of one chunk do; every step sets
        all its injections before solving, so runs sharing it one after another do not
        interact. Default: build one.
    """

    def __init__(self, loaded: LoadedScenario, seed: int | None = None, days: int | None = None,
                 shared_day_ahead: dict[int, Any] | None = None,
                 power_flow: PowerFlow | None = None):
        if days is not None and days != loaded.scenario.days:
            loaded = loaded.with_overrides(days=days)
        scenario = loaded.scenario
        self.seed_used = scenario.seed if seed is None else int(seed)
        super().__init__(rng=self.seed_used)
        self.loaded = loaded
        self.scenario = scenario
        self.step_h = scenario.step_h
        self.steps_per_day = scenario.steps_per_day
        self.n_steps = scenario.n_steps
        self.t = 0
        # cleared day-ahead markets to adopt instead of clearing again (vppsim.agents.vpo.ClearedDay)
        self.shared_day_ahead = shared_day_ahead or {}
        self.phase_s: dict[str, float] = defaultdict(float)
        self.rows: list[dict[str, Any]] = []
        self._timeseries: tuple[int, pd.DataFrame] | None = None
        self.bus_rows: list[dict[str, Any]] = []
        self.message_counts = {"sent": 0, "lost": 0, "late": 0, "fallbacks": 0}

        self.tariff = Tariff.from_spec(scenario.tariff, self.n_steps, self.step_h)
        self.env = simpy.Environment()
        # message loss draws from a stream of its own, so a lossy link leaves the weather alone
        self.message_bus = MessageBus(self.env, scenario.communication, self.rng.spawn(1)[0])
        col = scenario.feeder.background_load_profile
        self.background_factor = loaded.profile(col) if col else np.ones(self.n_steps)
        self.network = DistributionNetwork(
            self, power_flow if power_flow is not None else self.build_power_flow(loaded))
        vpo_battery = None
        if scenario.vpo.battery is not None:
            bus = scenario.vpo.battery_bus
            if bus is None:  # the feeder's slack bus
                bus = int(self.network.power_flow.net.ext_grid.bus.iloc[0])
            vpo_battery = Battery(self, f"{scenario.vpo.name}-BAT", scenario.vpo.battery, bus,
                                  scenario.vpo.name)
        self.vpo = VPO(self, scenario.vpo.name, vpo_battery,
                       scenario.vpo.battery_cost_cny_per_kwh)
        self.vpps: list[VPP] = []
        self.physical_agents: list[mesa.Agent] = []
        self.vpp_of: dict[str, str] = {}  # member agent name -> its VPP (prosumers own PV/BAT)
        # VPPs of self-scheduling prosumers: their prosumers and batteries are agents too, but
        # the VPP handles them as arrays (dispatch, power-flow injections, prosumers.parquet)
        self.prosumer_fleets: list[ProsumerFleetVPP] = []
        for i, spec in enumerate(scenario.vpps):
            if spec.prosumer_fleet is not None:
                fleet_vpp = ProsumerFleetVPP(self, spec, i)
                self.vpps.append(fleet_vpp)
                self.prosumer_fleets.append(fleet_vpp)
                continue
            vpp = VPP(self, spec)
            self.vpps.append(vpp)
            for member in spec.members:
                for agent in self._build_member(member, vpp):
                    vpp.add_member(agent)
                    self.vpp_of[agent.name] = vpp.name
                    self.physical_agents.append(agent)
        if vpo_battery is not None:
            self.physical_agents.append(vpo_battery)
        self.realizers = self.agents.select(lambda a: hasattr(a, "realize"))
        from vppsim.allocation.realtime import get_allocator

        # the real-time allocator of every VPP (one batched call per step)
        self.allocator = get_allocator(scenario.balancing.allocator,
                                       exact_reference=scenario.balancing.exact_reference)
        # forecast errors: one full sample (every erring agent x every period) drawn here from
        # self.rng by the scenario's uncertainty model; realize(t) reads the agent's row
        from vppsim.forecast.uncertainty import ErrorLayout, sample_relative_errors

        vpp_index = {v.name: i for i, v in enumerate(self.vpps)}
        erring = [a for a in self.realizers if isinstance(a, WindTurbine | PVPlant | Load)]
        quantities = ["load" if isinstance(a, Load) else a.tech for a in erring]
        vpp_rows = [vpp_index[self.vpp_of[a.name]] for a in erring]
        names = [a.name for a in erring]
        # after the other agents' rows: a PV and a load row per prosumer of every fleet (the
        # draws depend on the number of VPPs only, so the other agents' errors do not change)
        for f in self.prosumer_fleets:
            quantities += ["pv"] * f.n + ["load"] * f.n
            vpp_rows += [vpp_index[f.name]] * (2 * f.n)
            names += [f"{p}-PV" for p in f.prosumer_names] + [f"{p}-LOAD" for p in f.prosumer_names]
        self.error_layout = ErrorLayout(quantities=tuple(quantities), vpps=tuple(vpp_rows),
                                        names=tuple(names))
        eps = sample_relative_errors(scenario.forecast_error, self.error_layout, self.n_steps,
                                     self.rng)
        for agent, row in zip(erring, eps[:len(erring)], strict=True):
            agent.forecast_error = row
        pos = len(erring)
        for f in self.prosumer_fleets:
            f.gen_error = eps[pos:pos + f.n]
            f.load_error = eps[pos + f.n:pos + 2 * f.n]
            pos += 2 * f.n

    # ------------------------------------------------------------------ construction
    @staticmethod
    def build_power_flow(loaded: LoadedScenario) -> PowerFlow:
        """The scenario's feeder as a :class:`PowerFlow` (the model's default)."""
        feeder = loaded.scenario.feeder
        net = load_feeder(feeder.name, base_dir=loaded.path.parent)
        # cold start every step: losses then equal a plain pandapower.runpp of the step's
        # injections (a warm start stops elsewhere within the solver tolerance)
        return PowerFlow(net, background_load_scale=feeder.background_load_scale,
                         backend=feeder.power_flow_backend, warm_start=False)

    def _build_member(self, spec: Any, vpp: VPP) -> list[mesa.Agent]:
        bus = spec.bus if spec.bus is not None else vpp.bus
        prof = self.loaded.profile
        if isinstance(spec, WindTurbineSpec):
            return [WindTurbine(self, spec, bus, vpp.name, prof(spec.wind_speed))]
        if isinstance(spec, PVPlantSpec):
            return [PVPlant(self, spec.name, spec, bus, vpp.name, prof(spec.irradiance),
                            prof(spec.temperature))]
        if isinstance(spec, BatterySpec):
            return [Battery(self, spec.name, spec, bus, vpp.name)]
        if isinstance(spec, ControllableLoadSpec):
            return [ControllableLoad(self, spec.name, bus, vpp.name, prof(spec.profile),
                                     spec.power_factor, spec.reserve_ratio, spec.participation,
                                     spec.curtail_cost_cny_per_kwh)]
        if isinstance(spec, LoadSpec):
            return [Load(self, spec.name, bus, vpp.name, prof(spec.profile), spec.power_factor)]
        if isinstance(spec, GeneratorSpec):
            return [DispatchableGenerator(self, spec, bus, vpp.name)]
        if isinstance(spec, ProsumerSpec):
            pv = (PVPlant(self, f"{spec.name}-PV", spec.pv, bus, spec.name,
                          prof(spec.pv.irradiance), prof(spec.pv.temperature))
                  if spec.pv else None)
            bat = (Battery(self, f"{spec.name}-BAT", spec.battery, bus, spec.name)
                   if spec.battery else None)
            prosumer = Prosumer(self, spec.name, bus, vpp.name, prof(spec.profile),
                                spec.power_factor, pv=pv, battery=bat)
            return [a for a in (prosumer, pv, bat) if a is not None]
        raise TypeError(f"unknown member spec {type(spec).__name__}")

    # ------------------------------------------------------------------ stepping
    def _timed(self, phase: str, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args)
        self.phase_s[phase] += time.perf_counter() - start
        return out

    def step(self) -> None:
        """Advance one period through the DESIGN.md step sequence."""
        t = self.t
        if t >= self.n_steps:
            self.running = False
            return
        step_start_s = t * self.step_h * 3600.0
        if self.env.now < step_start_s:
            self.env.run(until=step_start_s)
        inputs = self.begin_step()
        start = time.perf_counter()
        outcomes = allocate_batch(self.allocator, [(self, inputs)])[0]
        self.phase_s["realtime"] += time.perf_counter() - start
        self.finish_step(inputs, outcomes)

    # The step in two halves, so that a Monte Carlo chunk can step many models in lockstep and
    # balance all their VPPs with one batched allocator call (vppsim.montecarlo.chunk.run_chunk).
    def begin_step(self) -> list[BalanceInputs | None]:
        """Realize, clear the day ahead (first step of a day); return the balancing problems.

        One :class:`BalanceInputs` per VPP, in ``self.vpps`` order; ``None`` for a VPP of
        self-scheduling prosumers (no allocator problem: it dispatches itself in
        :meth:`finish_step`).
        """
        t = self.t
        step_start_s = t * self.step_h * 3600.0
        if self.env.now < step_start_s:
            self.env.run(until=step_start_s)
        # AgentSets keep creation order, so the draws from self.rng are reproducible
        self._timed("realize", self.realizers.do, "realize", t)
        if t % self.steps_per_day == 0:
            self._timed("day_ahead", self._day_ahead, t // self.steps_per_day)
        start = time.perf_counter()
        inputs = [v.balance_inputs(t) for v in self.vpps]
        self.phase_s["realtime"] += time.perf_counter() - start
        return inputs

    def finish_step(self, inputs: list[BalanceInputs | None],
                    outcomes: list[BalanceOutcome | None]) -> None:
        """Apply the allocations, settle, run the power flow, account; advance the clock.

        ``None`` inputs and outcomes belong to prosumer-fleet VPPs, which dispatch their
        prosumers here.
        """
        t = self.t
        start = time.perf_counter()
        for v, x, out in zip(self.vpps, inputs, outcomes, strict=True):
            v.apply_balance(t, x, out)
        self.phase_s["realtime"] += time.perf_counter() - start
        self._timed("settlement", self.vpo.settle, t, self.vpps)
        self._timed("power_flow", self.network.step_power_flow, t)
        self._timed("accounting", self._account, t)
        self.t += 1
        if self.t >= self.n_steps:
            self.running = False

    def allocation_key(self, t: int, vpp_index: int) -> int:
        """Seed of the real-time allocation of VPP ``vpp_index`` at step ``t``.

        A function of the model's seed, the step and the VPP only, so a stochastic allocator
        (GA-ACO) gives the same outcome alone or batched with other VPPs and Monte Carlo samples.
        """
        return _mix64(_mix64(_mix64(self.seed_used) ^ t) ^ vpp_index)

    def _day_ahead(self, day: int) -> None:
        self.vpo.day_ahead(day, self.vpps)
        assert self.vpo.round is not None
        log = self.vpo.round.log
        self.message_counts["sent"] += len(log)
        self.message_counts["lost"] += sum(e.lost for e in log)
        self.message_counts["late"] += sum(e.late for e in log)
        self.message_counts["fallbacks"] += len(self.vpo.round.missing)

    def _account(self, t: int) -> None:
        base = {
            "step": t,
            "day": t // self.steps_per_day,
            "time_h": t * self.step_h,
            "hour_of_day": (t * self.step_h) % 24,
        }
        for v in self.vpps:
            st = self.vpo.settlements[v.name]
            v.account(t, st["day_ahead_cny"], st["imbalance_cny"])
            self.rows.append({**base, "agent": v.name, "kind": "vpp", "vpp": v.name,
                              "bus": v.bus, **v.record})
        self.rows.append({**base, "agent": self.vpo.name, "kind": "vpo", **self.vpo.record})
        self.rows.append({**base, "agent": "network", "kind": "network", **self.network.record})
        for a in self.physical_agents:
            row = {**base, "agent": a.name, "vpp": self.vpp_of.get(a.name), "bus": a.bus}
            if isinstance(a, WindTurbine | PVPlant):
                row.update(kind=a.tech, p_forecast_kw=float(a.forecast_kw[t]),
                           p_available_kw=a.available_kw, p_kw=a.p_kw, curtailed_kw=a.curtailed_kw)
            elif isinstance(a, Battery):
                row.update(kind="battery", charge_kw=a.charge_kw, discharge_kw=a.discharge_kw,
                           p_kw=a.p_kw, soc_kwh=a.soc_kwh, soc_pu=a.soc_pu,
                           soc_min_pu=a.params.soc_min, soc_max_pu=a.params.soc_max)
            elif isinstance(a, Load):
                kind = ("prosumer" if isinstance(a, Prosumer) else
                        "controllable_load" if isinstance(a, ControllableLoad) else "load")
                row.update(kind=kind, p_forecast_kw=float(a.forecast_kw[t]), load_kw=a.demand_kw,
                           load_curtailed_kw=a.curtailed_kw, unmet_kw=a.unmet_kw,
                           p_kw=-a.served_kw)
            elif isinstance(a, DispatchableGenerator):
                row.update(kind="generator", p_kw=a.p_kw,
                           cost_generation_cny=a.cost_cny_per_h(a.p_kw) * self.step_h)
            self.rows.append(row)
        for bus, p in self.network.injections_kw.items():
            self.bus_rows.append({**base, "bus": bus, "p_injection_kw": p})

    def run(self, progress: bool = False) -> None:
        """Step through the whole horizon (optionally with a progress bar)."""
        steps = range(self.t, self.n_steps)
        if progress:
            from tqdm import tqdm

            steps = tqdm(steps, desc=self.scenario.name, unit="step", leave=False)
        for _ in steps:
            self.step()

    # ------------------------------------------------------------------ results
    def prosumer_frame(self) -> pd.DataFrame:
        """One tidy row per (step, prosumer) of every prosumer-fleet VPP (``prosumers.parquet``).

        Columns: ``step, time_h, vpp, prosumer, bus, capacity_kwh`` and per step
        ``gen_forecast_kw, load_forecast_kw, gen_kw, load_kw, charge_kw, discharge_kw,
        soc_kwh`` (end of step), ``acquire_kw, paid_kw, spill_kw`` (curtailed generation),
        ``unmet_kw, cost_cny`` (bill at the internal prices, wear, fixed-cost share, lost load)
        and ``exchange_kw`` (net purchase, ``acquire - paid``). Empty without fleets.
        """
        parts = [pd.DataFrame(f.prosumer_table()) for f in self.prosumer_fleets]
        if not parts:
            return pd.DataFrame()
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame.sort_values(["step", "vpp"], kind="stable", ignore_index=True)

    def timeseries(self) -> pd.DataFrame:
        """One tidy row per (step, agent); units in column names.

        Built once per number of rows (the summary and the Monte Carlo step series share it);
        treat the frame as read-only.
        """
        if self._timeseries is None or self._timeseries[0] != len(self.rows):
            self._timeseries = (len(self.rows), pd.DataFrame(self.rows))
        return self._timeseries[1]
