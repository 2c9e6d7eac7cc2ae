"""The array path of a Monte Carlo chunk: its samples advance together as numpy arrays.

The object path (:func:`vppsim.montecarlo.chunk.run_chunk` with ``path="objects"``) builds one
Mesa :class:`~vppsim.model.VPPModel` per sample and steps them in lockstep; it stays the
reference. Here one *template* model of the chunk supplies what every sample shares (member
forecasts and parameters, the cleared day ahead, the tariff, the feeder) and the samples'
state is held as arrays (samples x members): forecast errors, realization, the balancing
problems, the allocator's outcomes, settlement, accounting, power flows, and the KPI row and
per-step series straight from the arrays.

The same floats as the object path: each sample draws its forecast errors from its own
generator seeded like its model (``numpy.random.default_rng(seed)``, the same shapes in the
same order); the agents' formulas are called over arrays (``agents.renewables``,
``agents.loads``, ``agents.battery``, ``market.settlement``), the balancing steps of the
balanced allocators are those of :mod:`vppsim.allocation.arrays`, and the allocator gets the
same batched :class:`~vppsim.allocation.problem.AllocationProblem` with the same per-problem
seeds (:meth:`VPPModel.allocation_key`). The power flow of every sample and step is the same
call of the same backend in the same order. Sums follow the pandas reductions of
:func:`vppsim.results.summarize` (pairwise ``numpy`` sums, Kahan-compensated group sums).

Supported (:func:`unsupported_reason`; anything else runs on the object path): one day; VPPs
of wind, PV (``pv``, ``pv_profile``), battery and inflexible-load members under the allocator
dispatch; no VPO battery; no SimBench background profiles; the balanced allocators (``ga-aco``,
``exact``, ``exact-fast``, ``proportional``); the ``lightsim2grid`` backend; any price policy
(the day ahead is cleared once for the batch).
"""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vppsim.agents.battery import max_charge_kw, max_discharge_kw, soc_after_kwh
from vppsim.agents.loads import realized_demand_kw
from vppsim.agents.renewables import realized_available_kw
from vppsim.allocation.arrays import BalanceArrays, finish_arrays, need_arrays
from vppsim.allocation.problem import AllocationProblem
from vppsim.allocation.realtime import BalancedAllocator
from vppsim.forecast.uncertainty import sample_relative_errors
from vppsim.grids.batch import batch_power_flows
from vppsim.market.settlement import grid_trade, vpp_payments_cny
from vppsim.model import VPPModel
from vppsim.montecarlo.tables import STEP_SERIES, kpi_columns
from vppsim.optimizers.rng import mix_seed
from vppsim.scenario.loader import LoadedScenario

#: member kinds the array path steps (the others run on the object path)
ARRAY_MEMBER_KINDS = frozenset({"wind", "pv", "pv_profile", "battery", "load"})
#: allocators the array path hands arrays to
ARRAY_ALLOCATORS = frozenset({"ga-aco", "exact", "exact-fast", "proportional"})
_SOC_TOL_KWH = 1e-7  # vppsim.agents.battery.SOC_TOL_KWH


def unsupported_reason(loaded: LoadedScenario, cleared: dict[int, Any]) -> str | None:
    """Why the array path cannot run this scenario (None: it can)."""
    s = loaded.scenario
    if s.n_steps != s.steps_per_day:
        return f"{s.days} days (the array path steps one day)"
    if 0 not in cleared:
        return "no day-ahead clearing shared with the samples"
    if s.feeder.power_flow_backend != "lightsim2grid":
        return f"power-flow backend {s.feeder.power_flow_backend!r} (the array path: lightsim2grid)"
    if loaded.simbench is not None:
        return "SimBench background profiles"
    if s.vpo.battery is not None:
        return "a VPO battery"
    if s.balancing.allocator not in ARRAY_ALLOCATORS:
        return f"allocator {s.balancing.allocator!r} (the array path: {sorted(ARRAY_ALLOCATORS)})"
    for v in s.vpps:
        for m in v.members:
            if m.kind not in ARRAY_MEMBER_KINDS:
                return f"member kind {m.kind!r} in {v.name} (the array path: {sorted(ARRAY_MEMBER_KINDS)})"
    return None


def _kahan_sum(values: np.ndarray) -> np.ndarray:
    """Sum over the last axis with Kahan compensation, as pandas' ``groupby().sum()`` does."""
    total = np.zeros(values.shape[:-1])
    comp = np.zeros(values.shape[:-1])
    for k in range(values.shape[-1]):
        y = values[..., k] - comp
        t = total + y
        comp = t - total - y
        total = t
    return total


@dataclass
class _Members:
    """One kind of member over the chunk: static data per member, state per sample."""

    agents: list[Any]
    vpp: np.ndarray  # VPP index per member
    rows: np.ndarray  # row in the error sample (-1: none)


@dataclass
class _Record:
    """Per-step arrays (samples x steps [x VPPs])."""

    vpp: dict[str, np.ndarray] = field(default_factory=dict)
    vpo: dict[str, np.ndarray] = field(default_factory=dict)
    net: dict[str, np.ndarray] = field(default_factory=dict)
    soc_pu: np.ndarray | None = None
    soc_kwh: np.ndarray | None = None


VPP_FIELDS = ("cost_cny", "imbalance_kw", "wind_available_kw", "pv_available_kw", "wind_kw",
              "pv_kw", "unmet_kw", "spill_kw", "planned_unmet_kw", "planned_spill_kw", "load_kw",
              "allocation_required_kw", "allocation_headroom_kw", "allocation_gap_cny_per_kwh",
              "energy_balance_residual_kw", "buy_kw", "sell_kw")
VPO_FIELDS = ("c_sell_cny_per_kwh", "c_buy_cny_per_kwh", "grid_import_kw", "grid_export_kw",
              "profit_cny")
NET_FIELDS = ("vm_min_pu", "vm_max_pu", "losses_kw", "max_line_loading_pct", "converged")


class ChunkArrays:
    """The samples of one chunk as arrays; :meth:`run` steps the whole horizon.

    ``template`` is a model of the scenario (any sample's seed) built with the batch's cleared
    day ahead and the chunk's power flow; ``seeds`` are the samples' seeds in chunk order.
    ``batch_power_flow``: solve a sample's power flows (its steps) in one lightsim2grid batch
    (:func:`vppsim.grids.batch.batch_power_flows`: losses and voltages to about 1e-10
    relative of the one-by-one solves) where it applies; False: one by one, as the objects do
    (every column bit for bit).
    """

    def __init__(self, template: VPPModel, seeds: Sequence[int], cleared: dict[int, Any],
                 batch_power_flow: bool = True) -> None:
        m = self.m = template
        self.batch_power_flow = batch_power_flow
        self.seeds = [int(s) for s in seeds]
        self.n = len(self.seeds)
        self.dt = m.step_h
        self.vpps = list(m.vpps)
        self.day = cleared[0]
        erring = [a for a in m.realizers if getattr(a, "error_quantity", None)]
        row_of = {id(a): i for i, a in enumerate(erring)}
        self.kinds: dict[str, _Members] = {}
        for role in ("wind", "pv", "load", "storage"):
            agents = [a for v in self.vpps for a in v.by_role[role]]
            vpp = np.array([next(i for i, v in enumerate(self.vpps) if a.vpp_name == v.name)
                            for a in agents], dtype=int)
            self.kinds[role] = _Members(agents, vpp, np.array([row_of.get(id(a), -1) for a in agents],
                                                              dtype=int))
        for v in self.vpps:
            other = [r for r in ("curtailable_load", "generator", "unit", "ev", "reservoir")
                     if v.by_role[r]]
            if other or len(v.members) != sum(len(v.by_role[r]) for r in ("wind", "pv", "storage"))\
                    + len(v.by_role["load"]):
                raise ValueError(f"array path: {v.name} has members it does not step ({other})")
        self.allocator = m.allocator
        if not isinstance(self.allocator, BalancedAllocator):
            raise ValueError("array path: expected a balanced allocator")
        bats = self.kinds["storage"].agents
        self.bat_p = {k: np.array([getattr(b, k) for b in bats], dtype=float) for k in
                      ("soc_min_kwh", "soc_max_kwh", "capacity_kwh")}
        for k in ("p_max_kw", "eta_charge", "eta_discharge"):
            self.bat_p[k] = np.array([getattr(b.params, k) for b in bats], dtype=float)
        self.soc = np.tile(np.array([b.soc_kwh for b in bats], dtype=float), (self.n, 1))
        self.keys0 = [mix_seed(s) for s in self.seeds]
        flow = m.network.power_flow
        # injection sgens in bus_ids order, the loads' own scaling (PowerFlow.solve's arrays)
        layout = flow.setpoint_layout()
        if layout is None:
            raise ValueError("array path: expected a lightsim2grid power flow")
        self._flow_arrays = (layout.sgen_positions, layout.base_load_scaling)
        self.rec = _Record()
        self.phase: dict[str, float] = defaultdict(float)

    # ------------------------------------------------------------------ realization
    def draw_errors(self) -> None:
        """Each sample's forecast-error sample from its own generator (as its model draws it)."""
        spec = self.m.scenario.forecast_error
        layout = self.m.error_layout
        self.eps = np.stack([sample_relative_errors(spec, layout, self.m.n_steps,
                                                    np.random.default_rng(s)) for s in self.seeds])

    def _realize(self, t: int) -> dict[str, np.ndarray]:
        """Available wind/PV and realized demand ``(S, members)`` at step ``t``."""
        out = {}
        for role in ("wind", "pv", "load"):
            mem = self.kinds[role]
            if not mem.agents:
                out[role] = np.zeros((self.n, 0))
                continue
            eps = self.eps[:, mem.rows, t]
            if role == "load":
                profile = np.array([a.profile_kw[t] for a in mem.agents])
                out[role] = realized_demand_kw(profile[None, :], eps)
            else:
                fc = np.array([a.forecast_kw[t] for a in mem.agents])
                cap = np.array([a.cap_kw for a in mem.agents])
                out[role] = realized_available_kw(fc[None, :], eps, cap[None, :])
        return out

    # ------------------------------------------------------------------ balancing
    def _inputs(self, t: int, real: dict[str, np.ndarray]) -> list[BalanceArrays]:
        """Every VPP's balancing problem at step ``t`` over the samples."""
        b = self.bat_p
        lo = -max_charge_kw(self.soc, b["soc_max_kwh"], b["p_max_kw"], b["eta_charge"], self.dt)
        hi = max_discharge_kw(self.soc, b["soc_min_kwh"], b["p_max_kw"], b["eta_discharge"],
                              self.dt)
        out = []
        for i, v in enumerate(self.vpps):
            s = self.day.schedules[v.name]
            sel = {r: self.kinds[r].vpp == i for r in ("wind", "pv", "load", "storage")}
            costs = v.spec.costs
            out.append(BalanceArrays(
                wind_available_kw=real["wind"][:, sel["wind"]],
                pv_available_kw=real["pv"][:, sel["pv"]],
                wind_planned_curtail_kw=float(s.wind_curtail_kw[t]),
                pv_planned_curtail_kw=float(s.pv_curtail_kw[t]),
                mu_wind=costs.mu1_wind_curtail_cny_per_kwh, mu_pv=costs.mu2_pv_curtail_cny_per_kwh,
                demand_kw=real["load"][:, sel["load"]],
                battery_planned_kw=(s.discharge_kw[:, t] - s.charge_kw[:, t]) if s.charge_kw.shape[0]
                else np.zeros(0),
                battery_min_kw=lo[:, sel["storage"]], battery_max_kw=hi[:, sel["storage"]],
                net_buy_planned_kw=float(s.buy_kw[t] - s.sell_kw[t]),
                buy_max_kw=v.spec.exchange.buy_max_kw, sell_max_kw=v.spec.exchange.sell_max_kw,
                unmet_planned_kw=float(s.unmet_kw[t]), spill_planned_kw=float(s.spill_kw[t]),
                battery_cost_cny_per_kwh=(costs.lam1_battery_cny_per_kwh
                                          + costs.w_bat_battery_cny_per_kwh),
            ))
        return out

    def _allocate(self, t: int, inputs: list[BalanceArrays]) -> tuple[list[Any], dict[str, np.ndarray]]:
        """One batched allocator call for every VPP of every sample (sample-major, as the objects)."""
        needs = [need_arrays(x) for x in inputs]
        nv = len(needs)
        k_max = max(nd.cap_kw.shape[1] for nd in needs)
        cap = np.zeros((self.n, nv, k_max))
        cost = np.ones((self.n, nv, k_max))
        for i, nd in enumerate(needs):
            k = nd.cap_kw.shape[1]
            cap[:, i, :k] = nd.cap_kw
            cost[:, i, :k] = nd.cost_cny_per_kwh
        need = np.stack([nd.need_kw for nd in needs], axis=1)
        problem = AllocationProblem(cap.reshape(-1, k_max), cost.reshape(-1, k_max),
                                    need.reshape(-1))
        keys = [mix_seed(mix_seed(k0 ^ t) ^ i) for k0 in self.keys0 for i in range(nv)]
        t0 = time.perf_counter()
        alloc, objective, exact, _ = self.allocator.solve_problem(problem, keys)
        self.phase["allocation"] += time.perf_counter() - t0
        alloc = alloc.reshape(self.n, nv, k_max)
        rest = problem.unmet.reshape(self.n, nv)
        outs = [finish_arrays(x, nd, alloc[:, i, :nd.cap_kw.shape[1]], rest[:, i])
                for i, (x, nd) in enumerate(zip(inputs, needs, strict=True))]
        info = {
            "allocation_required_kw": np.stack([np.where(nd.deficit, 1.0, -1.0) * nd.need_kw
                                                for nd in needs], axis=1),
            "allocation_headroom_kw": np.stack([nd.cap_kw.sum(axis=1) for nd in needs], axis=1),
            "allocation_gap_cny_per_kwh": (objective - exact).reshape(self.n, nv),
        }
        return outs, info

    def _apply(self, t: int, inputs: list[BalanceArrays], outs: list[Any],
               info: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Set the members to the outcomes (battery SoC); the VPP records ``(S, V)``; injections."""
        nv = len(self.vpps)
        rec = {f: np.zeros((self.n, nv)) for f in VPP_FIELDS if not f.startswith("cost")}
        inj = {r: np.zeros((self.n, len(self.kinds[r].agents))) for r in ("wind", "pv", "load",
                                                                         "storage")}
        q_load = np.zeros_like(inj["load"])
        bat_all = np.zeros_like(self.soc)
        for i, (v, x, o) in enumerate(zip(self.vpps, inputs, outs, strict=True)):
            s = self.day.schedules[v.name]
            sel = {r: self.kinds[r].vpp == i for r in inj}
            inj["wind"][:, sel["wind"]] = np.minimum(np.maximum(o.wind_kw, 0.0), x.wind_available_kw)
            inj["pv"][:, sel["pv"]] = np.minimum(np.maximum(o.pv_kw, 0.0), x.pv_available_kw)
            bat_all[:, sel["storage"]] = o.battery_kw
            servable = x.demand_kw - 0.0
            total = servable.sum(axis=1)
            share = np.where((total > 0)[:, None], servable / np.where(total > 0, total, 1.0)[:, None],
                             0.0)
            served = x.demand_kw - 0.0 - o.unmet_kw[:, None] * share
            inj["load"][:, sel["load"]] = -served
            tan = np.array([a.tan_phi for a in self.kinds["load"].agents])[sel["load"]]
            q_load[:, sel["load"]] = -(served * tan)
            bat = o.battery_kw
            supply = (o.wind_kw.sum(axis=1) + o.pv_kw.sum(axis=1) + bat.sum(axis=1) + 0.0
                      + o.net_buy_kw)
            demand = x.demand_kw.sum(axis=1)
            r = {"buy_kw": np.maximum(o.net_buy_kw, 0.0), "sell_kw": np.maximum(-o.net_buy_kw, 0.0),
                 "imbalance_kw": o.net_buy_kw - x.net_buy_planned_kw, "load_kw": demand,
                 "unmet_kw": o.unmet_kw, "spill_kw": o.spill_kw,
                 "planned_unmet_kw": x.unmet_planned_kw, "planned_spill_kw": x.spill_planned_kw,
                 "wind_available_kw": x.wind_available_kw.sum(axis=1),
                 "pv_available_kw": x.pv_available_kw.sum(axis=1),
                 "wind_kw": o.wind_kw.sum(axis=1), "pv_kw": o.pv_kw.sum(axis=1),
                 "energy_balance_residual_kw": supply - (demand - 0.0 - o.unmet_kw) - o.spill_kw,
                 "charge_kw": np.maximum(-bat, 0).sum(axis=1),
                 "discharge_kw": np.maximum(bat, 0).sum(axis=1),
                 "committed_buy_kw": float(s.buy_kw[t]), "committed_sell_kw": float(s.sell_kw[t])}
            for f in info:
                rec[f][:, i] = info[f][:, i]
            for f, val in r.items():
                rec.setdefault(f, np.zeros((self.n, nv)))[:, i] = val
        self._step_batteries(bat_all)
        inj["storage"] = self.bat_kw
        return {"rec": rec, "inj": inj, "q_load": q_load}

    def _step_batteries(self, p_kw: np.ndarray) -> None:
        """:meth:`Battery.apply` for every battery of every sample (discharge-positive ``p_kw``)."""
        b = self.bat_p
        charge = np.maximum(-p_kw, 0.0)
        discharge = np.maximum(p_kw, 0.0)
        if np.any(np.maximum(charge, discharge) > b["p_max_kw"] + 1e-7):
            raise ValueError("array path: a battery set-point above p_max_kw")
        soc = soc_after_kwh(self.soc, charge, discharge, b["eta_charge"], b["eta_discharge"],
                            self.dt)
        if np.any((soc < b["soc_min_kwh"] - _SOC_TOL_KWH) | (soc > b["soc_max_kwh"] + _SOC_TOL_KWH)):
            raise ValueError("array path: a battery SoC outside its bounds")
        self.soc = np.minimum(np.maximum(soc, b["soc_min_kwh"]), b["soc_max_kwh"])
        self.bat_kw = np.maximum(discharge, 0.0) - np.maximum(charge, 0.0)

    # ------------------------------------------------------------------ settlement, grid, costs
    def _settle(self, t: int, rec: dict[str, np.ndarray]) -> dict[str, Any]:
        """:meth:`VPO.settle` over the samples (no VPO battery); each VPP's payments."""
        m = self.m
        c_sell = float(self.day.prices.c_sell_cny_per_kwh[t])
        c_buy = float(self.day.prices.c_buy_cny_per_kwh[t])
        income = np.zeros(self.n)
        bought = np.zeros(self.n)
        sold = np.zeros(self.n)
        pay = []
        for i in range(len(self.vpps)):
            da, imb = vpp_payments_cny(rec["committed_buy_kw"][:, i], rec["committed_sell_kw"][:, i],
                                       rec["imbalance_kw"][:, i], c_sell, c_buy,
                                       m.scenario.market.imbalance_penalty, self.dt)
            pay.append((da, imb))
            income = income + (da + imb)
            sold = sold + rec["buy_kw"][:, i]
            bought = bought + rec["sell_kw"][:, i]
        x, mm, revenue = grid_trade(bought - sold + 0.0, float(m.tariff.import_cny_per_kwh[t]),
                                    float(m.tariff.export_cny_per_kwh[t]), self.dt)
        vpo = {"c_sell_cny_per_kwh": np.full(self.n, c_sell),
               "c_buy_cny_per_kwh": np.full(self.n, c_buy),
               "grid_import_kw": mm, "grid_export_kw": x, "profit_cny": income + revenue - 0.0}
        return {"vpo": vpo, "pay": pay}

    def _grid_order(self) -> list[tuple[str, int, int]]:
        """``(role, member index, bus position)`` in :meth:`VPPModel.grid_members` order."""
        flow = self.m.network.power_flow
        pos = {b: k for k, b in enumerate(flow.bus_ids)}
        index = {id(a): (r, j) for r, mem in self.kinds.items() for j, a in enumerate(mem.agents)}
        return [(*index[id(a)], pos[a.bus]) for a in self.m.grid_members()]

    def _injections(self, inj: dict[str, np.ndarray], q_load: np.ndarray,
                    order: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Net injection per bus (kW, kvar) of every sample, summed in grid-member order."""
        nbus = len(self.m.network.power_flow.bus_ids)
        p_kw = np.zeros((self.n, nbus))
        q_kvar = np.zeros((self.n, nbus))
        for role, j, b in order:
            p_kw[:, b] += inj[role][:, j]
            q_kvar[:, b] += q_load[:, j] if role == "load" else 0.0
        return p_kw, q_kvar

    def _power_flows(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> None:
        """Every sample's AC power flow of every step (``p_kw``/``q_kvar``: samples x steps x buses).

        The power flow feeds nothing back into the day, so it runs after it: one lightsim2grid
        batch per sample (its steps as rows: the result depends on the sample alone, not on the
        chunk) where :func:`batch_power_flows` applies, else the backend's own call per sample
        and step in the objects' order (steps outer), bit for bit.
        """
        flow = self.m.network.power_flow
        n_t = p_kw.shape[1]
        factor = np.asarray(self.m.background_factor[:n_t], dtype=float)
        net = self.rec.net
        if self.batch_power_flow:
            for s in range(self.n):
                batch = batch_power_flows(flow, p_kw[s], q_kvar[s], factor)
                if batch is None:
                    break
                for f in NET_FIELDS:
                    net[f][s] = batch[f]
            else:
                return
        positions, base_scaling = self._flow_arrays
        p_mw, q_mvar = p_kw / 1000.0, q_kvar / 1000.0
        for t in range(n_t):
            scaling = base_scaling * flow.background_load_scale * float(factor[t])
            for s in range(self.n):
                res = flow.backend.run_setpoints(positions, p_mw[s, t], q_mvar[s, t], scaling)
                for f in NET_FIELDS:
                    net[f][s, t] = getattr(res, f)

    def _account(self, rec: dict[str, np.ndarray], pay: list[tuple[Any, Any]], t: int) -> np.ndarray:
        """:meth:`AllocatorDispatch.account` over the samples: each VPP's cost ``(S, V)``, CNY."""
        dt = self.dt
        voll = self.m.scenario.market.value_of_lost_load_cny_per_kwh
        cost = np.zeros((self.n, len(self.vpps)))
        for i, v in enumerate(self.vpps):
            k = v.spec.costs
            g = {f: rec[f][:, i] for f in ("charge_kw", "discharge_kw", "wind_available_kw",
                                           "wind_kw", "pv_available_kw", "pv_kw", "buy_kw",
                                           "unmet_kw", "spill_kw")}
            wind_fc = float(sum(w.forecast_kw[t] for w in v.winds))
            pv_fc = float(sum(p.forecast_kw[t] for p in v.pvs))
            throughput = g["charge_kw"] + g["discharge_kw"]
            terms = (
                dt * (k.mu1_wind_curtail_cny_per_kwh * (g["wind_available_kw"] - g["wind_kw"])
                      + k.mu2_pv_curtail_cny_per_kwh * (g["pv_available_kw"] - g["pv_kw"])),
                dt * k.lam1_battery_cny_per_kwh * throughput,
                dt * (k.lam2_wind_om_cny_per_kwh * wind_fc + k.lam3_pv_om_cny_per_kwh * pv_fc),
                dt * (k.w_b_purchase_cny_per_kwh * g["buy_kw"]
                      + k.w_bat_battery_cny_per_kwh * throughput),
                dt * 0, dt * 0,
                dt * voll * (g["unmet_kw"] + g["spill_kw"]),
                pay[i][0], pay[i][1],
            )
            total: Any = 0
            for term in terms:
                total = total + term
            cost[:, i] = total
        return cost

    # ------------------------------------------------------------------ the horizon
    def run(self) -> None:
        """Step every sample through the day, keeping the per-step arrays."""
        t0 = time.perf_counter()
        self.draw_errors()
        self.phase["realize"] += time.perf_counter() - t0
        n_t, nv = self.m.n_steps, len(self.vpps)
        rec = self.rec
        rec.vpp = {f: np.zeros((self.n, n_t, nv)) for f in VPP_FIELDS}
        rec.vpo = {f: np.zeros((self.n, n_t)) for f in VPO_FIELDS}
        rec.net = {f: np.zeros((self.n, n_t)) for f in NET_FIELDS}
        rec.soc_kwh = np.zeros((self.n, n_t, self.soc.shape[1]))
        order = self._grid_order()
        nbus = len(self.m.network.power_flow.bus_ids)
        p_kw, q_kvar = np.zeros((self.n, n_t, nbus)), np.zeros((self.n, n_t, nbus))
        for t in range(n_t):
            t0 = time.perf_counter()
            real = self._realize(t)
            t1 = time.perf_counter()
            inputs = self._inputs(t, real)
            outs, info = self._allocate(t, inputs)
            applied = self._apply(t, inputs, outs, info)
            t2 = time.perf_counter()
            settled = self._settle(t, applied["rec"])
            t3 = time.perf_counter()
            p_kw[:, t], q_kvar[:, t] = self._injections(applied["inj"], applied["q_load"], order)
            t4 = time.perf_counter()
            cost = self._account(applied["rec"], settled["pay"], t)
            for f in VPP_FIELDS:
                rec.vpp[f][:, t] = cost if f == "cost_cny" else applied["rec"][f]
            for f in VPO_FIELDS:
                rec.vpo[f][:, t] = settled["vpo"][f]
            rec.soc_kwh[:, t] = self.soc
            t5 = time.perf_counter()
            self.phase["realize"] += t1 - t0
            self.phase["realtime"] += t2 - t1
            self.phase["settlement"] += t3 - t2
            self.phase["power_flow"] += t4 - t3
            self.phase["accounting"] += t5 - t4
        self.phase["realtime"] -= self.phase["allocation"]  # allocation is its own phase
        t0 = time.perf_counter()
        self._power_flows(p_kw, q_kvar)
        self.phase["power_flow"] += time.perf_counter() - t0
        rec.soc_pu = rec.soc_kwh / self.bat_p["capacity_kwh"]



def _nan_reduce(values: np.ndarray, func: Any) -> np.ndarray:
    """A pandas-like NaN-skipping reduction over the last axis (NaN where all are NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return func(values, axis=-1)


def kpi_arrays(ch: ChunkArrays) -> dict[str, np.ndarray]:
    """The scalar KPIs of every sample (:func:`vppsim.results.summarize`'s, same reductions)."""
    dt = ch.dt
    n = ch.n
    v, vpo, net = ch.rec.vpp, ch.rec.vpo, ch.rec.net

    def flat(a: np.ndarray) -> np.ndarray:  # the VPP rows in time-series order (step, VPP)
        return np.ascontiguousarray(a.reshape(n, -1))

    per_vpp = _kahan_sum(np.ascontiguousarray(np.moveaxis(v["cost_cny"], 1, 2)))  # (S, V)
    total = per_vpp.sum(axis=1)
    profit = np.ascontiguousarray(vpo["profit_cny"]).sum(axis=1)
    available = flat(v["wind_available_kw"] + v["pv_available_kw"]).sum(axis=1) * dt
    used = flat(v["wind_kw"] + v["pv_kw"]).sum(axis=1) * dt
    losses = net["losses_kw"]
    ok = ~np.isnan(losses)
    extra_unmet = np.maximum(v["unmet_kw"] - v["planned_unmet_kw"], 0.0)
    extra_spill = np.maximum(v["spill_kw"] - v["planned_spill_kw"], 0.0)
    load = flat(v["load_kw"]).sum(axis=1)
    deviation = flat(np.abs(v["imbalance_kw"]) + extra_unmet + extra_spill).sum(axis=1)
    req = np.abs(flat(v["allocation_required_kw"]))
    head = flat(v["allocation_headroom_kw"])
    with np.errstate(divide="ignore", invalid="ignore"):
        use = np.where(req > 0, np.minimum(1.0, req / np.where(head > 0, head, 1.0)), 0.0)
        use = np.where((req > 0) & ~(head > 0), 1.0, use)
        gap = flat(v["allocation_gap_cny_per_kwh"])
        out = {
            "total_vpp_cost_cny": total,
            "vpo_profit_cny": profit,
            "system_cost_cny": total - profit,
            "imbalance_kwh": flat(np.abs(v["imbalance_kw"])).sum(axis=1) * dt,
            "curtailment_kwh": available - used,
            "network_losses_kwh": np.where(ok.any(axis=1), np.where(ok, losses, 0.0).sum(axis=1),
                                           np.nan) * dt,
            "min_voltage_pu": _nan_reduce(net["vm_min_pu"], np.nanmin),
            "max_voltage_pu": _nan_reduce(net["vm_max_pu"], np.nanmax),
            "max_line_loading_pct": _nan_reduce(net["max_line_loading_pct"], np.nanmax),
            "renewable_utilization": np.where(available > 0, used / np.where(available > 0,
                                                                             available, 1.0),
                                              np.nan),
            "unmet_energy_kwh": flat(v["unmet_kw"]).sum(axis=1) * dt,
            "spilled_energy_kwh": flat(v["spill_kw"]).sum(axis=1) * dt,
            "grid_import_kwh": np.ascontiguousarray(vpo["grid_import_kw"]).sum(axis=1) * dt,
            "grid_export_kwh": np.ascontiguousarray(vpo["grid_export_kw"]).sum(axis=1) * dt,
            "peak_grid_import_kw": vpo["grid_import_kw"].max(axis=1),
            "power_flow_nonconverged_steps": (~net["converged"].astype(bool)).sum(axis=1)
            .astype(float),
            "allocation_deviation_rate": np.where(load > 0, deviation / np.where(load > 0, load,
                                                                                 1.0), np.nan),
            "allocation_stability_index": np.where(np.isfinite(head).any(axis=1),
                                                   1.0 - _nan_reduce(use, np.nanmean), np.nan),
            "allocation_gap_max": np.where(np.isfinite(gap).all(axis=1),
                                           _nan_reduce(gap, np.max), np.nan),
        }
    for i, vp in enumerate(ch.vpps):
        out[f"cost_cny__{vp.name}"] = per_vpp[:, i]
    return out


def kpi_frame(ch: ChunkArrays, samples: Sequence[int], names: Sequence[str]) -> pd.DataFrame:
    """The KPI table of the chunk (:func:`vppsim.montecarlo.tables.kpi_columns`)."""
    k = kpi_arrays(ch)
    cols = kpi_columns(names)
    rows = []
    for j, (sample, seed) in enumerate(zip(samples, ch.seeds, strict=True)):
        row: dict[str, Any] = {"sample": int(sample), "seed": int(seed)}
        for c in cols[2:-1]:
            row[c] = float(k[c][j]) if c in k else float("nan")
        row["error"] = None
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def step_frame(ch: ChunkArrays, samples: Sequence[int]) -> pd.DataFrame:
    """The per-step series of the chunk in the object path's row order (tidy)."""
    n_t = ch.m.n_steps
    steps = np.arange(n_t, dtype=np.int64)
    bats = [b.name for b in ch.kinds["storage"].agents]
    vpps = [v.name for v in ch.vpps]
    blocks: list[tuple[np.ndarray, str, np.ndarray, np.ndarray]] = []  # agents, quantity, steps, values
    sources = {
        "vpo": ([ch.m.vpo.name], {c: ch.rec.vpo[c][:, :, None] for c in STEP_SERIES["vpo"]}),
        "network": ([ch.m.network.name], {c: ch.rec.net[c][:, :, None]
                                          for c in STEP_SERIES["network"]}),
        "battery": (bats, {"soc_pu": ch.rec.soc_pu}),
        "vpp": (vpps, {c: ch.rec.vpp[c] for c in STEP_SERIES["vpp"]}),
    }
    for kind, cols in STEP_SERIES.items():
        agents, values = sources[kind]
        if not agents:
            continue
        a = np.tile(np.asarray(agents, dtype=object), n_t)
        st = np.repeat(steps, len(agents))
        for c in cols:
            blocks.append((a, c, st, values[c].reshape(ch.n, -1)))
    per_sample = sum(len(b[0]) for b in blocks)
    return pd.DataFrame({
        "sample": np.repeat(np.asarray(samples, dtype=np.int64), per_sample),
        "agent": np.tile(np.concatenate([b[0] for b in blocks]), ch.n).astype(object),
        "quantity": np.tile(np.concatenate([np.full(len(b[0]), b[1], dtype=object)
                                            for b in blocks]), ch.n),
        "step": np.tile(np.concatenate([b[2] for b in blocks]), ch.n),
        "value": np.concatenate([b[3] for b in blocks], axis=1).reshape(-1).astype(float),
    })


def run_arrays(ctx: Any, chunk: Sequence[tuple[int, int]], power_flow: Any,
               batch_power_flow: bool = True,
               ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float], ChunkArrays]:
    """Run a chunk on the array path; returns KPI rows, per-step series, phases and the arrays.

    ``ctx`` is the chunk's :class:`vppsim.montecarlo.chunk.SampleContext`. Raises whatever the
    arrays meet that the object path would report per sample (the caller falls back to it).
    """
    t0 = time.perf_counter()
    template = VPPModel(ctx.loaded, seed=chunk[0][1], shared_day_ahead=ctx.cleared,
                        power_flow=power_flow)
    try:
        ch = ChunkArrays(template, [seed for _, seed in chunk], ctx.cleared, batch_power_flow)
        ch.phase["build"] += time.perf_counter() - t0
        ch.run()
    finally:
        template.release()  # a worker builds one per chunk (mesa keeps every model otherwise)
    t0 = time.perf_counter()
    samples = [s for s, _ in chunk]
    kpis = kpi_frame(ch, samples, ctx.vpp_names)
    steps = step_frame(ch, samples)
    ch.phase["kpis"] += time.perf_counter() - t0
    return kpis, steps, dict(ch.phase), ch
