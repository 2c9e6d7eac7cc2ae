"""Repeated lightsim2grid power flows of a built-in feeder from its tables, without pandapower.

:class:`TablePowerFlow` is :class:`vppsim.grids.PowerFlow` with the ``lightsim2grid`` backend
for a feeder shipped as tables (:mod:`vppsim.grids.tables`): the same interface (``solve``,
``bus_ids``, ``graph``, ``slack_bus``, ``background_load_scale``), the same ``LSGrid`` (one sgen
per bus after the feeder's loads), the same set-point writes, start and result figures, so both
give the same bits (``tests/test_feeder_tables.py``); it only skips building the pandapower net
(importing pandapower alone takes 1.5-3 s). :func:`table_power_flow` says which feeders it serves.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np

from vppsim.grids.powerflow import (
    KW_PER_MW,
    UNRATED_MAX_I_KA,
    LightSim2GridBackend,
    PowerFlow,
    PowerFlowResult,
    SetpointLayout,
    _nan_extreme,
    injection_setpoints,
    line_flows,
    write_setpoints,
)
from vppsim.grids.registry import load_feeder
from vppsim.grids.tables import FeederTables, feeder_tables

__all__ = ["TablePowerFlow", "table_power_flow"]


class TablePowerFlow:
    """AC power flows of a tabled feeder on lightsim2grid (as :class:`vppsim.grids.PowerFlow`).

    Parameters
    ----------
    tables
        The feeder (:func:`vppsim.grids.tables.feeder_tables`).
    background_load_scale
        Constant factor on the feeder's own loads (on top of their ``scaling``).
    warm_start
        Start each solve from the previous converged solution (else a fresh copy of the
        converted grid and a flat start every time, as :class:`LightSim2GridBackend`).
    """

    #: the backend this class stands in for
    backend_name = LightSim2GridBackend.name

    def __init__(self, tables: FeederTables, background_load_scale: float = 1.0, *,
                 warm_start: bool = True) -> None:
        if not math.isfinite(background_load_scale):
            raise ValueError(f"background_load_scale must be finite, got {background_load_scale}")
        self.tables = tables
        self.background_load_scale = float(background_load_scale)
        self.warm_start = warm_start
        self._bus_ids = tables.bus_ids
        self._bus_pos = {b: k for k, b in enumerate(self._bus_ids)}
        self._in_service = tables.column("bus", "in_service").astype(bool)
        load = tables.tables["load"]
        self._load_p_mw = load["p_mw"].astype(float)
        self._load_q_mvar = load["q_mvar"].astype(float)
        self._base_load_scaling = load["scaling"].astype(float)
        self._model = tables.lsgrid(self._bus_ids)
        n_bus = len(self._bus_ids)
        self._held = [self._load_p_mw * self._base_load_scaling,
                      self._load_q_mvar * self._base_load_scaling, np.zeros(n_bus),
                      np.zeros(n_bus)]
        self._pristine = self._model.copy()
        self._pristine_held = self._held
        line = tables.tables["line"]
        max_i_ka = line["max_i_ka"].astype(float)
        self._i_max_ka = max_i_ka * line["df"].astype(float) * line["parallel"].astype(float)
        self._rated = max_i_ka < UNRATED_MAX_I_KA
        self._v_init = self._flat_start()
        self._v_last: np.ndarray | None = None

    def _flat_start(self) -> np.ndarray:
        v_init = np.ones(len(self._bus_ids), dtype=complex)
        ext = self.tables.tables["ext_grid"]
        v_init[ext["bus"].astype(int)] = ext["vm_pu"].astype(float) * np.exp(
            1j * np.deg2rad(ext["va_degree"].astype(float)))
        return v_init

    @property
    def backend(self) -> TablePowerFlow:
        """Stands in for :attr:`PowerFlow.backend` (its ``name`` and ``warm_start``)."""
        return self

    @property
    def name(self) -> str:
        """The backend's name, ``lightsim2grid``."""
        return self.backend_name

    @property
    def bus_ids(self) -> list[int]:
        """Bus indices that can receive injections."""
        return list(self._bus_ids)

    @functools.cached_property
    def net(self) -> Any:
        """The feeder's pandapower net as :attr:`PowerFlow.net`, built on first use.

        For the dashboard's bus geodata; the solves never read it.
        """
        return PowerFlow(load_feeder(self.tables.name), self.background_load_scale).net

    @functools.cached_property
    def graph(self) -> nx.MultiGraph:
        """The feeder's topology (as :func:`vppsim.grids.topology.feeder_graph`), built once."""
        return self.tables.graph()

    @property
    def slack_bus(self) -> int:
        """The bus of the feeder's external grid."""
        return self.tables.slack_bus

    def _injection_arrays(self, p_kw_by_bus: Mapping[int, float],
                          q_kvar_by_bus: Mapping[int, float] | None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Per-bus injections (kW, kvar) -> sgen set-points (MW, Mvar), as ``PowerFlow``."""
        return injection_setpoints(p_kw_by_bus, q_kvar_by_bus, self._bus_pos, self._in_service)

    def solve(self, p_kw_by_bus: Mapping[int, float],
              q_kvar_by_bus: Mapping[int, float] | None = None,
              background_factor: float = 1.0) -> PowerFlowResult:
        """Set the per-bus injections and run one AC power flow (as :meth:`PowerFlow.solve`)."""
        if not math.isfinite(background_factor):
            raise ValueError(f"background_factor must be finite, got {background_factor}")
        p_mw, q_mvar = self._injection_arrays(p_kw_by_bus, q_kvar_by_bus)
        scaling = self._base_load_scaling * self.background_load_scale * float(background_factor)
        if not self.warm_start:
            self._model = self._pristine.copy()
            self._held = self._pristine_held
        self._write([self._load_p_mw * scaling, self._load_q_mvar * scaling, p_mw * 1.0,
                     q_mvar * 1.0])
        return self._solve()

    def setpoint_layout(self) -> SetpointLayout:
        """The set-points of :meth:`solve` as arrays (as :meth:`PowerFlow.setpoint_layout`)."""
        n_bus = len(self._bus_ids)
        load = self.tables.tables["load"]
        return SetpointLayout(
            sgen_positions=np.arange(n_bus), base_load_scaling=self._base_load_scaling.copy(),
            load_p_mw=self._load_p_mw.copy(), load_q_mvar=self._load_q_mvar.copy(),
            load_bus=load["bus"].astype(int), sgen_p_mw=np.zeros(n_bus),
            sgen_scaling=np.ones(n_bus), bus_in_service=self._in_service.copy(),
            batchable=not self.warm_start and not self._rated.any(),
            pristine=self._pristine, v_init=self._v_init,
            max_iter=LightSim2GridBackend.max_iter, tol_pu=LightSim2GridBackend.tol_pu)

    def run_setpoints(self, sgen_pos: np.ndarray, sgen_p_mw: np.ndarray, sgen_q_mvar: np.ndarray,
                      load_scaling: np.ndarray) -> PowerFlowResult:
        """Write set-points given as arrays and solve (as ``LightSim2GridBackend.run_setpoints``).

        ``sgen_pos`` indexes the injection sgens (:meth:`setpoint_layout`); ``load_scaling``
        replaces the loads' scaling. The same writes and solve as :meth:`solve`.
        """
        if not self.warm_start:
            self._model = self._pristine.copy()
            self._held = self._pristine_held
        p_mw = np.zeros(len(self._bus_ids))
        q_mvar = np.zeros(len(self._bus_ids))
        p_mw[sgen_pos] = sgen_p_mw * 1.0
        q_mvar[sgen_pos] = sgen_q_mvar * 1.0
        self._write([self._load_p_mw * load_scaling, self._load_q_mvar * load_scaling, p_mw,
                     q_mvar])
        return self._solve()

    def _write(self, values: list[np.ndarray]) -> None:
        self._held = write_setpoints(self._model, self._held, values)

    def _solve(self) -> PowerFlowResult:
        start = self._v_last if (self.warm_start and self._v_last is not None) else self._v_init
        v_solved = self._model.ac_pf(start.copy(), LightSim2GridBackend.max_iter,
                                     LightSim2GridBackend.tol_pu)
        if v_solved.shape[0] == 0 or not np.all(np.isfinite(v_solved)):
            self._v_last = None
            return PowerFlowResult.not_converged(self._bus_ids)
        self._v_last = np.asarray(v_solved, dtype=complex).copy()
        return self._read_results()

    def _read_results(self) -> PowerFlowResult:
        model = self._model
        line_mw = 0.0
        loading = np.empty(0)
        if len(self._i_max_ka):
            line_mw, loading = line_flows(model, self._i_max_ka, self._rated)
        vm = np.where(self._in_service, np.abs(model.get_V()), np.nan)
        p_slack_mw = float(np.sum(model.get_gen_res()[0]))
        return PowerFlowResult(
            converged=True,
            losses_kw=(line_mw + 0.0) * KW_PER_MW,
            line_losses_kw=line_mw * KW_PER_MW,
            trafo_losses_kw=0.0 * KW_PER_MW,
            vm_min_pu=_nan_extreme(vm, "min"),
            vm_max_pu=_nan_extreme(vm, "max"),
            max_line_loading_pct=_nan_extreme(loading, "max"),
            p_slack_kw=p_slack_mw * KW_PER_MW,
            vm_pu_by_bus=dict(zip(self._bus_ids, vm.tolist(), strict=True)),
        )

    @property
    def voltage_pu(self) -> np.ndarray | None:
        """Complex bus voltages (per unit) of the last converged solve, or None."""
        return None if self._v_last is None else self._v_last.copy()


def table_power_flow(name: str, backend: str, background_load_scale: float = 1.0, *,
                     warm_start: bool = True) -> TablePowerFlow | None:
    """A :class:`TablePowerFlow` of built-in feeder ``name``, or None where it does not serve.

    It serves the ``lightsim2grid`` backend on feeders shipped as tables (``ieee33``,
    ``ieee12``); every other case (pandapower, SimBench, CIGRE, files) is None: build a
    :class:`vppsim.grids.PowerFlow` of the pandapower net instead.
    """
    if backend != TablePowerFlow.backend_name:
        return None
    tables = feeder_tables(name)
    if tables is None:
        return None
    return TablePowerFlow(tables, background_load_scale, warm_start=warm_start)
