"""The dashboard's plots, drawn from the model's DataCollector as matplotlib figures.

Each function takes a :class:`vppsim.dashboard.model.DashboardModel` and returns a new
:class:`matplotlib.figure.Figure` (no pyplot, no global figure state): prices, VPP
exchanges, battery state of charge, feeder losses, and the feeder drawn from the model's
network space with the last step's bus voltages coloured and the VPPs marked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from vppsim.dashboard.model import DashboardModel

#: size of one plot, inches (at 100 dpi: about one of the page's grid cells)
FIGSIZE_IN = (6.4, 4.6)


def _figure(model: DashboardModel, title: str, ylabel: str) -> tuple[Figure, object]:
    """A figure with one axes over the whole horizon (hours), titled and labelled."""
    fig = Figure(figsize=FIGSIZE_IN, dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("time (h)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0.0, model.n_steps * model.step_h)
    ax.grid(alpha=0.3)
    return fig, ax


def _agent_rows(model: DashboardModel, kind: str) -> list[tuple[str, pd.DataFrame]]:
    """Each agent of ``kind`` with its time-series rows so far (none before step 1)."""
    ts = model.datacollector.timeseries()
    if ts.empty:
        return []
    return list(ts[ts["kind"] == kind].groupby("agent", sort=False))


def _steps(ax: object, model: DashboardModel, time_h: pd.Series, y: pd.Series, **kw: object) -> None:
    """``y`` held over each step (the last step drawn to its end, not just its start)."""
    t = np.append(np.asarray(time_h, dtype=float), float(time_h.iloc[-1]) + model.step_h)
    ax.step(t, np.append(np.asarray(y, dtype=float), float(y.iloc[-1])), where="post", **kw)


def _legend(ax: object) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", ncol=2)


def prices_figure(model: DashboardModel) -> Figure:
    """The VPO's internal prices per step over the grid tariff (drawn under them, dashed)."""
    fig, ax = _figure(model, "Prices", "CNY/kWh")
    hours = pd.Series(np.arange(model.n_steps) * model.step_h)
    _steps(ax, model, hours, pd.Series(model.tariff.import_cny_per_kwh), color="0.55", ls="--",
           lw=1, label="tariff import", zorder=1)
    _steps(ax, model, hours, pd.Series(model.tariff.export_cny_per_kwh), color="0.75", ls="--",
           lw=1, label="tariff export", zorder=1)
    table = model.datacollector.model_table()
    if not table.empty:
        _steps(ax, model, table["time_h"], table["c_sell_cny_per_kwh"], lw=2,
               label="VPO sells to VPPs", zorder=3)
        _steps(ax, model, table["time_h"], table["c_buy_cny_per_kwh"], lw=2,
               label="VPO buys from VPPs", zorder=3)
    _legend(ax)
    return fig


def exchanges_figure(model: DashboardModel) -> Figure:
    """Each VPP's net exchange with the VPO per step (purchases positive) and the grid's."""
    fig, ax = _figure(model, "VPP exchanges with the VPO (purchase > 0)", "kW")
    for name, g in _agent_rows(model, "vpp"):
        _steps(ax, model, g["time_h"], g["buy_kw"] - g["sell_kw"], label=name)
    table = model.datacollector.model_table()
    if not table.empty:
        _steps(ax, model, table["time_h"], table["grid_import_kw"] - table["grid_export_kw"],
               color="k", ls=":", label="VPO grid import")
    ax.axhline(0.0, color="0.5", lw=0.8)
    _legend(ax)
    return fig


def soc_figure(model: DashboardModel) -> Figure:
    """Every battery's state of charge at the end of each step (per unit of capacity)."""
    fig, ax = _figure(model, "Battery state of charge", "SoC (pu)")
    ax.set_ylim(0.0, 1.05)
    for name, g in _agent_rows(model, "battery"):
        ax.plot(g["time_h"] + model.step_h, g["soc_pu"], marker=".", label=name)
    _legend(ax)
    return fig


def losses_figure(model: DashboardModel) -> Figure:
    """The feeder's losses per step and, on a second axis, the lowest bus voltage."""
    fig, ax = _figure(model, "Feeder losses and lowest voltage", "losses (kW)")
    table = model.datacollector.model_table()
    ax2 = ax.twinx()
    ax2.set_ylabel("min voltage (pu)")
    band = model.scenario.feeder.voltage_band
    ax2.axhline(band.min_pu, color="tab:red", ls="--", lw=0.8)
    if not table.empty:
        ax.bar(table["time_h"], table["losses_kw"], width=0.8 * model.step_h, align="edge",
               color="tab:orange", label="losses")
        ax2.plot(table["time_h"] + 0.5 * model.step_h, table["vm_min_pu"], color="tab:blue",
                 marker=".", label="min voltage")
    lowest = float(table["vm_min_pu"].min()) if not table.empty else np.nan
    ax2.set_ylim(band.min_pu - 0.02 if not lowest < band.min_pu - 0.02 else lowest - 0.01, 1.01)
    handles = [h for a in (ax, ax2) for h in a.get_legend_handles_labels()[0]]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    return fig


def feeder_figure(model: DashboardModel) -> Figure:
    """The feeder (the model's network space): bus voltages coloured, VPPs and the VPO marked."""
    fig = Figure(figsize=FIGSIZE_IN, dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    xy = model.feeder_xy
    for u, v in model.space.G.edges():
        ax.plot([xy[u][0], xy[v][0]], [xy[u][1], xy[v][1]], color="0.6", lw=1, zorder=1)
    buses = list(xy)
    vm = model.last_voltages()
    band = model.scenario.feeder.voltage_band
    norm = Normalize(vmin=band.min_pu, vmax=band.max_pu)
    if vm:
        colours = [vm.get(b, np.nan) for b in buses]
        ax.scatter([xy[b][0] for b in buses], [xy[b][1] for b in buses], c=colours,
                   cmap="RdYlGn", norm=norm, s=40, zorder=2, edgecolors="k", linewidths=0.4)
        title = f"Feeder {model.scenario.feeder.name}: bus voltages after step {model.t}"
    else:
        ax.scatter([xy[b][0] for b in buses], [xy[b][1] for b in buses], color="0.85", s=40,
                   zorder=2, edgecolors="k", linewidths=0.4)
        title = f"Feeder {model.scenario.feeder.name} (voltages after the first step)"
    fig.colorbar(ScalarMappable(norm=norm, cmap="RdYlGn"), ax=ax, label="vm (pu)", shrink=0.8)
    for v in model.vpps:
        x, y = xy[v.bus]
        ax.scatter([x], [y], marker="*", s=260, color="tab:blue", edgecolors="k", zorder=3)
        ax.annotate(f"{v.name} (bus {v.bus})", (x, y), xytext=(6, 6), textcoords="offset points",
                    fontsize=8, zorder=4)
    x, y = xy[model.vpo.bus]
    ax.scatter([x], [y], marker="s", s=110, color="k", zorder=3)
    ax.annotate(f"{model.vpo.name} / grid (bus {model.vpo.bus})", (x, y), xytext=(6, -12),
                textcoords="offset points", fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig
