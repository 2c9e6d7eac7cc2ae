"""Data collection: Mesa's DataCollector, plus one tidy row per (step, agent) from each agent.

:class:`StepCollector` is a :class:`mesa.DataCollector`:

- its **model reporters** give the per-step model table (:data:`MODEL_REPORTERS`: one row
  per step of system-level quantities: prices, trades, grid exchange, losses, voltages,
  costs), ``get_model_vars_dataframe()``;
- its **table** ``bus_injections`` holds the net injection at every bus with an agent, per step;
- :meth:`StepCollector.bus_voltages` gives every bus's voltage magnitude per step (kept as one
  array per step: a power flow solves every bus, too many rows for Mesa's row-wise tables);
- on top, each agent reports its own row (``agent.report(t)``: units in the column names)
  into :attr:`StepCollector.rows`, the tidy time series of a run (``timeseries.parquet``).
  Mesa's agent reporters collect one fixed tuple of attributes per agent, while the agents
  of a VPP model report different quantities by kind; the rows keep every agent's own
  columns, and pandas joins them into one table with NaN where a kind has no such column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from vppsim.model import VPPModel

#: the columns that locate a row in time (first in every row and table)
STEP_COLUMNS = ("step", "day", "time_h", "hour_of_day")


#: VPP columns the model table sums over the VPPs (summed once per step by the collector)
VPP_TOTALS = ("cost_cny", "imbalance_kw", "wind_available_kw", "pv_available_kw", "wind_kw",
              "pv_kw", "unmet_kw")


def _vpp_sum(model: VPPModel, column: str) -> float:
    return model.datacollector.vpp_totals[column]


def _total_vpp_cost(m: VPPModel) -> float:
    return _vpp_sum(m, "cost_cny")


def _imbalance(m: VPPModel) -> float:
    return _vpp_sum(m, "imbalance_kw")


def _renewable_available(m: VPPModel) -> float:
    return _vpp_sum(m, "wind_available_kw") + _vpp_sum(m, "pv_available_kw")


def _renewable_used(m: VPPModel) -> float:
    return _vpp_sum(m, "wind_kw") + _vpp_sum(m, "pv_kw")


def _unmet(m: VPPModel) -> float:
    return _vpp_sum(m, "unmet_kw")


def _vpo(column: str) -> Any:
    def report(m: VPPModel) -> float:
        return float(m.vpo.record[column])
    report.__name__ = f"vpo_{column}"
    return report


def _network(column: str) -> Any:
    def report(m: VPPModel) -> Any:
        return m.network.record[column]
    report.__name__ = f"network_{column}"
    return report


#: the per-step model table: name -> reporter (a function of the model, Mesa's convention)
MODEL_REPORTERS: dict[str, Any] = {
    "step": lambda m: m.t,
    "time_h": lambda m: m.t * m.step_h,
    "c_sell_cny_per_kwh": _vpo("c_sell_cny_per_kwh"),
    "c_buy_cny_per_kwh": _vpo("c_buy_cny_per_kwh"),
    "vpp_purchases_kw": _vpo("sell_kw"),
    "vpp_sales_kw": _vpo("buy_kw"),
    "grid_import_kw": _vpo("grid_import_kw"),
    "grid_export_kw": _vpo("grid_export_kw"),
    "vpo_profit_cny": _vpo("profit_cny"),
    "total_vpp_cost_cny": _total_vpp_cost,
    "imbalance_kw": _imbalance,
    "renewable_available_kw": _renewable_available,
    "renewable_used_kw": _renewable_used,
    "unmet_kw": _unmet,
    "losses_kw": _network("losses_kw"),
    "vm_min_pu": _network("vm_min_pu"),
    "vm_max_pu": _network("vm_max_pu"),
    "power_flow_converged": _network("converged"),
}

BUS_INJECTION_COLUMNS = (*STEP_COLUMNS, "bus", "p_injection_kw")
BUS_VOLTAGE_COLUMNS = (*STEP_COLUMNS, "bus", "vm_pu")
#: the tables a long run streams to Parquet by day (:meth:`StepCollector.take_frames`)
STREAMED_TABLES = ("timeseries", "model", "bus_injections", "bus_voltages")


class StepCollector(mesa.DataCollector):
    """The model table, the bus-injection table and every agent's row, step by step."""

    def __init__(self) -> None:
        super().__init__(model_reporters=dict(MODEL_REPORTERS),
                         tables={"bus_injections": list(BUS_INJECTION_COLUMNS)})
        #: one dict per (step, agent): the step columns, ``agent``, then the agent's report
        self.rows: list[dict[str, Any]] = []
        #: this step's :data:`VPP_TOTALS` over the VPPs (what the model reporters read)
        self.vpp_totals: dict[str, float] = {}
        #: the feeder's buses and, per collected step, their voltage magnitudes (pu, NaN where
        #: the power flow did not converge)
        self.voltage_buses: list[int] = []
        self.bus_vm_pu: list[tuple[int, np.ndarray]] = []
        self._frame: tuple[int, pd.DataFrame] | None = None
        #: the whole run's tables when they were streamed to disk and read back (:meth:`adopt`)
        self.streamed: dict[str, pd.DataFrame] | None = None

    def collect(self, model: VPPModel) -> None:
        """Collect the present step (``model.t``) of ``model``."""
        records = [v.record for v in model.vpps]
        self.vpp_totals = {c: float(sum(r[c] for r in records)) for c in VPP_TOTALS}
        super().collect(model)
        t = model.t
        base = {"step": t, "day": t // model.steps_per_day, "time_h": t * model.step_h,
                "hour_of_day": (t * model.step_h) % 24}
        for agent in model.reporting_agents():
            self.rows.append({**base, "agent": agent.name, **agent.report(t)})
        for bus, p in model.network.injections_kw.items():
            self.add_table_row("bus_injections", {**base, "bus": bus, "p_injection_kw": p})
        vm = model.network.vm_pu_by_bus
        if vm:
            self.voltage_buses = list(vm)
            self.bus_vm_pu.append((t, np.fromiter(vm.values(), dtype=float, count=len(vm))))

    def take_frames(self, steps_per_day: int, step_h: float) -> dict[str, pd.DataFrame]:
        """The tables collected so far (:data:`STREAMED_TABLES`), which are then forgotten.

        A long run writes them to Parquet after each day, so memory does not grow with the
        horizon (:func:`vppsim.results.horizon.run_by_day`).
        """
        frames = {"timeseries": pd.DataFrame(self.rows), "model": self.model_table(),
                  "bus_injections": self.bus_injections(),
                  "bus_voltages": self.bus_voltages(steps_per_day, step_h)}
        self.rows = []
        self._frame = None
        self.bus_vm_pu = []
        for values in (*self.model_vars.values(), *self.tables["bus_injections"].values()):
            values.clear()
        return frames

    def adopt(self, frames: dict[str, pd.DataFrame]) -> None:
        """Take the whole run's streamed tables as this collector's tables (read back from disk)."""
        self.streamed = frames

    def timeseries(self) -> pd.DataFrame:
        """One tidy row per (step, agent), built once per number of rows (treat as read-only)."""
        if self.streamed is not None:
            return self.streamed["timeseries"]
        if self._frame is None or self._frame[0] != len(self.rows):
            self._frame = (len(self.rows), pd.DataFrame(self.rows))
        return self._frame[1]

    def model_table(self) -> pd.DataFrame:
        """The per-step model table (Mesa's model variables), one row per step."""
        if self.streamed is not None:
            return self.streamed["model"]
        return self.get_model_vars_dataframe()

    def bus_injections(self) -> pd.DataFrame:
        """Net injection per bus with an agent and step, kW (generation positive)."""
        if self.streamed is not None:
            return self.streamed["bus_injections"]
        return self.get_table_dataframe("bus_injections")

    def bus_voltages(self, steps_per_day: int, step_h: float) -> pd.DataFrame:
        """Voltage magnitude per bus and step, pu (NaN in a step whose power flow failed)."""
        if self.streamed is not None:
            return self.streamed["bus_voltages"]
        n_bus = len(self.voltage_buses)
        steps = np.repeat(np.array([t for t, _ in self.bus_vm_pu], dtype=np.int64), n_bus)
        vm = (np.concatenate([v for _, v in self.bus_vm_pu]) if self.bus_vm_pu
              else np.empty(0))
        time_h = steps * step_h
        return pd.DataFrame({
            "step": steps, "day": steps // steps_per_day, "time_h": time_h,
            "hour_of_day": time_h % 24,
            "bus": np.tile(np.array(self.voltage_buses, dtype=np.int64), len(self.bus_vm_pu)),
            "vm_pu": vm,
        }, columns=list(BUS_VOLTAGE_COLUMNS))
