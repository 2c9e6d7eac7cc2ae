"""VPPModel: a Mesa 3 model that wires agents, market, SimPy messaging and the power flow.

One Mesa step is one period of ``step_h`` hours. The step sequence (``docs/design.md``):
realize forecast error, day-ahead clearing (first step of each day), real-time balancing,
settlement, power flow, accounting and data collection. The model coordinates; the
physics lives in the agents, the prices in ``vppsim.market``, the solvers in
``vppsim.optimizers`` and ``vppsim.allocation``, the feeder in ``vppsim.grids``.

Mesa for real: agents by type (``model.agents_by_type``), the feeder as a Mesa network space
(``model.space``: one cell per bus, every agent in the cell of its bus), members built from
the member registry (:mod:`vppsim.agents.registry`), and a DataCollector
(:class:`vppsim.collector.StepCollector`) for the per-step tables.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import mesa
import numpy as np
import pandas as pd
import simpy
from mesa.discrete_space import Network
from tqdm import tqdm

from vppsim.agents.battery import Battery
from vppsim.agents.network import DistributionNetwork
from vppsim.agents.prosumer_fleet import ProsumerFleetDispatch
from vppsim.agents.vpo import VPO
from vppsim.agents.vpp import VPP
from vppsim.allocation.realtime import BalanceInputs, BalanceOutcome, get_allocator
from vppsim.collector import StepCollector
from vppsim.cosim import MessageBus
from vppsim.forecast.uncertainty import ErrorLayout, sample_relative_errors
from vppsim.grids import PowerFlow, load_feeder
from vppsim.grids.light import TablePowerFlow, table_power_flow
from vppsim.grids.losses import FeederLossModel
from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.loss_aware import DispatchGrid
from vppsim.market.tariff import Tariff
from vppsim.optimizers.rng import mix_seed
from vppsim.scenario.loader import LoadedScenario
from vppsim.scenario.schema import ScenarioError

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
        A validated scenario (:func:`vppsim.scenario.loader.load_scenario`); its member
        registry (``loaded.member_kinds``) says how each member is built.
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

    Attributes
    ----------
    space:
        The feeder as a :class:`mesa.discrete_space.Network` (one cell per bus, the graph of
        :func:`vppsim.grids.feeder_graph`); every VPP, member, prosumer, the VPO and the
        network agent sit in the cell of their bus.
    datacollector:
        The :class:`vppsim.collector.StepCollector`: per-step model table, bus injections and
        one row per (step, agent).
    """

    def __init__(self, loaded: LoadedScenario, seed: int | None = None, days: int | None = None,
                 shared_day_ahead: dict[int, Any] | None = None,
                 power_flow: PowerFlow | TablePowerFlow | None = None):
        if days is not None and days != loaded.scenario.days:
            loaded = loaded.with_overrides(days=days)
        scenario = loaded.scenario
        self.seed_used = scenario.seed if seed is None else int(seed)
        if not 0 <= self.seed_used < 2**63:
            raise ValueError(f"seed: expected an integer 0..2**63-1, got {self.seed_used}")
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
        self.message_counts = {"sent": 0, "lost": 0, "late": 0, "fallbacks": 0}

        self.tariff = Tariff.from_spec(scenario.tariff, self.n_steps, self.step_h)
        self.env = simpy.Environment()
        # message loss draws from a stream of its own, so a lossy link leaves the weather alone
        self.message_bus = MessageBus(self.env, scenario.communication, self.rng.spawn(1)[0])
        col = scenario.feeder.background_load_profile
        self.background_factor = loaded.profile(col) if col else np.ones(self.n_steps)
        power_flow = power_flow if power_flow is not None else self.build_power_flow(loaded)
        # SimBench profiles: the feeder's own loads and sgens not taken by a member, per step and
        # bus (kW, kvar; generation positive); None: the feeder's loads times background_factor
        self.background_kw: tuple[np.ndarray, np.ndarray] | None = None
        if loaded.simbench is not None:
            scale = power_flow.background_load_scale * self.background_factor
            self.background_kw = loaded.simbench.background_by_bus(
                set(loaded.taken_elements), power_flow.bus_ids, scale)
        self.space = Network(power_flow.graph, random=self.random)
        self.network = DistributionNetwork(self, power_flow)
        self._build_vpo(power_flow.slack_bus)
        for spec in scenario.vpps:
            VPP(self, spec).build_members(loaded.member_kinds)
        # AgentSets keep creation order, so every pass over them is reproducible
        self.realizers = self.agents.select(lambda a: hasattr(a, "realize"))
        # the real-time allocator of every VPP (one batched call per step)
        self.allocator = get_allocator(scenario.balancing.allocator,
                                       exact_reference=scenario.balancing.exact_reference)
        self._sample_forecast_errors()
        self.datacollector = StepCollector()

    # ------------------------------------------------------------------ construction
    @staticmethod
    def build_power_flow(loaded: LoadedScenario) -> PowerFlow | TablePowerFlow:
        """The scenario's feeder as a :class:`PowerFlow` (the model's default).

        A built-in feeder shipped as tables on lightsim2grid is a :class:`TablePowerFlow`
        (the same solves, without building the pandapower net).
        """
        feeder = loaded.scenario.feeder
        if loaded.simbench is None:
            light = table_power_flow(feeder.name, feeder.power_flow_backend,
                                     feeder.background_load_scale, warm_start=False)
            if light is not None:
                return light
        net = load_feeder(feeder.name, base_dir=loaded.path.parent)
        if loaded.simbench is not None:
            # the feeder's own loads and sgens follow their SimBench profiles: the network agent
            # adds them to the bus injections step by step (background_kw), so here they are 0;
            # its storage elements are idle (a battery member may stand in for one: NOTES.md)
            for table in (net.load, net.sgen, net.storage):
                table[["p_mw", "q_mvar"]] = 0.0
        # cold start every step: losses then equal a plain pandapower.runpp of the step's
        # injections (a warm start stops elsewhere within the solver tolerance)
        return PowerFlow(net, background_load_scale=feeder.background_load_scale,
                         backend=feeder.power_flow_backend, warm_start=False)

    def _build_vpo(self, slack_bus: int) -> None:
        """The VPO at the slack bus, with its battery (default: at the slack bus too) if any."""
        spec = self.scenario.vpo
        battery = None
        if spec.battery is not None:
            bus = spec.battery_bus if spec.battery_bus is not None else slack_bus
            battery = Battery(self, f"{spec.name}-BAT", spec.battery, bus, spec.name)
        self.vpo = VPO(self, spec.name, slack_bus, battery, spec.battery_cost_cny_per_kwh)

    def _sample_forecast_errors(self) -> None:
        """Draw one full forecast-error sample (every erring agent x every period) from ``rng``.

        Rows: every member that realizes with error (``error_quantity``), in creation order;
        then the rows each VPP's dispatch strategy asks for (a fleet: a PV and a load row per
        prosumer), so the members' draws do not depend on the fleets.
        """
        vpp_index = {v.name: i for i, v in enumerate(self.vpps)}
        erring = [a for a in self.realizers if getattr(a, "error_quantity", None)]
        quantities = [a.error_quantity for a in erring]
        vpp_rows = [vpp_index[a.vpp_name] for a in erring]
        names = [a.name for a in erring]
        extra = [(v, v.dispatch.error_rows()) for v in self.vpps]
        for v, rows in extra:
            quantities += [q for q, _ in rows]
            vpp_rows += [vpp_index[v.name]] * len(rows)
            names += [name for _, name in rows]
        self.error_layout = ErrorLayout(quantities=tuple(quantities), vpps=tuple(vpp_rows),
                                        names=tuple(names))
        eps = sample_relative_errors(self.scenario.forecast_error, self.error_layout,
                                     self.n_steps, self.rng)
        for agent, row in zip(erring, eps[:len(erring)], strict=True):
            agent.forecast_error = row
        pos = len(erring)
        for v, rows in extra:
            v.dispatch.set_errors(eps[pos:pos + len(rows)])
            pos += len(rows)

    # ------------------------------------------------------------------ agents
    @property
    def vpps(self) -> mesa.agent.AgentSet:
        """The VPPs in scenario order."""
        return self.agents_by_type[VPP]

    @property
    def prosumer_fleets(self) -> list[ProsumerFleetDispatch]:
        """The dispatch strategies of the self-scheduling prosumer-fleet VPPs."""
        return [v.dispatch for v in self.vpps if isinstance(v.dispatch, ProsumerFleetDispatch)]

    def day_ahead_market(self, day: int) -> DayAheadMarket:
        """Day ``day``'s bi-level game as the VPPs pose it now: their LPs, the tariff, VPO storage.

        Built before the model runs, every battery starts the day at its initial state of
        charge. Used by ``vppsim game``, ``vppsim equilibria`` and the Gymnasium environment.

        Raises
        ------
        ScenarioError
            A VPP without a day-ahead LP (a self-scheduling member such as a prosumer fleet):
            the game's lower level needs one.
        """
        problems = []
        for i, v in enumerate(self.vpps):
            data = v.day_ahead_data(day)
            if data is None:
                raise ScenarioError(self.loaded.path, [(
                    f"vpps[{i}].members[0]",
                    "expected members the VPP's day-ahead LP can schedule: the bi-level game is "
                    "not available for a VPP holding a self-scheduling member "
                    f"({v.spec.members[0].kind}); use market.price_policy: passthrough")])
            problems.append(data)
        n = self.loaded.scenario.steps_per_day
        sl = slice(day * n, (day + 1) * n)
        return DayAheadMarket(problems, self.tariff.import_cny_per_kwh[sl],
                              self.tariff.export_cny_per_kwh[sl], self.vpo.storage_data())

    def dispatch_grid(self, day: int = 0) -> DispatchGrid:
        """The feeder as the loss-aware dispatch of ``day`` sees it (``market.loss_aware``).

        VPP buses, reactive loads and background factors; used by ``vppsim pareto`` and the
        ``loss_aware`` price policy.

        Raises :class:`ScenarioError` for a member at another bus than its VPP's (the dispatch
        places each VPP's net injection at the VPP's bus) or a VPO battery off the slack bus.
        """
        s, path = self.scenario, self.loaded.path
        if self.loaded.simbench is not None:
            raise ScenarioError(path, [("profiles.simbench", "expected a CSV of profiles for the "
                                        "loss-aware dispatch (its grid model scales the feeder's "
                                        "loads by one factor, not by SimBench's element profiles)")])
        n = s.steps_per_day
        sl = slice(day * n, (day + 1) * n)
        q = np.zeros((len(self.vpps), n))
        vpp_load_kw = 0.0
        for i, v in enumerate(self.vpps):
            for m in v.members:
                if getattr(m, "bus", v.bus) != v.bus:
                    raise ScenarioError(path, [(f"vpps[{i}].members", "expected every member at the "
                                                f"VPP's bus {v.bus} for the loss-aware dispatch, "
                                                f"got {m.name} at bus {m.bus}")])
                if hasattr(m, "tan_phi") and hasattr(m, "forecast_kw"):
                    q[i] -= m.forecast_kw[sl] * m.tan_phi
                    vpp_load_kw += float(m.forecast_kw[sl].sum())
        flow = self.network.power_flow
        if self.vpo.battery is not None and self.vpo.battery.bus != flow.slack_bus:
            raise ScenarioError(path, [("vpo.battery_bus", "expected the slack bus for the "
                                        "loss-aware dispatch (its losses are not modelled elsewhere)")])
        net = load_feeder(s.feeder.name, base_dir=path.parent)
        factor = np.asarray(self.background_factor[sl], dtype=float)
        base_kw = float((net.load["p_mw"] * net.load["scaling"]).sum()) * 1000.0
        background_kwh = base_kw * flow.background_load_scale * float(factor.sum()) * s.step_h
        losses = FeederLossModel(net, flow.background_load_scale)
        return DispatchGrid(losses, tuple(int(v.bus) for v in self.vpps), q, factor,
                            background_kwh + vpp_load_kw * s.step_h)

    def grid_members(self) -> Iterator[Any]:
        """Agents that inject at their bus one by one: every VPP's members, then the VPO battery."""
        for v in self.vpps:
            yield from v.members
        if self.vpo.battery is not None:
            yield self.vpo.battery

    def reporting_agents(self) -> list[Any]:
        """The agents with a row per step, in the order of ``timeseries.parquet``."""
        return [*self.vpps, self.vpo, self.network, *self.grid_members()]

    def agents_at(self, bus: int) -> list[mesa.Agent]:
        """The agents in the cell of ``bus``."""
        return self.space[bus].agents

    # ------------------------------------------------------------------ stepping
    def _timed(self, phase: str, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args)
        self.phase_s[phase] += time.perf_counter() - start
        return out

    def step(self) -> None:
        """Advance one period through the docs/design.md step sequence."""
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
        return mix_seed(mix_seed(mix_seed(self.seed_used) ^ t) ^ vpp_index)

    def _day_ahead(self, day: int) -> None:
        self.vpo.day_ahead(day, self.vpps)
        assert self.vpo.round is not None
        log = self.vpo.round.log
        self.message_counts["sent"] += len(log)
        self.message_counts["lost"] += sum(e.lost for e in log)
        self.message_counts["late"] += sum(e.late for e in log)
        self.message_counts["fallbacks"] += len(self.vpo.round.missing)

    def _account(self, t: int) -> None:
        """Settle every VPP's costs of step ``t`` and collect the step (rows and tables)."""
        for v in self.vpps:
            st = self.vpo.settlements[v.name]
            v.account(t, st["day_ahead_cny"], st["imbalance_cny"])
        self.datacollector.collect(self)

    def release(self) -> None:
        """Let this model be garbage-collected once its caller drops it.

        mesa 3.3's ``Agent._ids`` (a class-level dict keyed by model, for agents' unique ids)
        holds every model ever given an agent, so a process that builds many models (a Monte
        Carlo worker) grows by about 0.8 MB per sample (mesa issue #3179, fixed upstream after
        3.3 by mesa PR #3180). Drop this model's entry; the model must not create agents after.
        """
        ids = getattr(mesa.Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)

    def run(self, progress: bool = False) -> None:
        """Step through the whole horizon (optionally with a progress bar)."""
        steps = range(self.t, self.n_steps)
        if progress:
            steps = tqdm(steps, desc=self.scenario.name, unit="step", leave=False)
        for _ in steps:
            self.step()

    # ------------------------------------------------------------------ results
    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per (step, agent) so far (the data collector's rows)."""
        return self.datacollector.rows

    def timeseries(self) -> pd.DataFrame:
        """One tidy row per (step, agent); units in column names (treat as read-only)."""
        return self.datacollector.timeseries()

    def model_table(self) -> pd.DataFrame:
        """The per-step model table of the Mesa DataCollector (system-level quantities)."""
        return self.datacollector.model_table()

    def bus_injections(self) -> pd.DataFrame:
        """Net injection per bus and step, kW (the DataCollector's ``bus_injections`` table)."""
        return self.datacollector.bus_injections()

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
