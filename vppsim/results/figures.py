"""Figures of one run, drawn from the tidy time series (matplotlib, no display needed).

:class:`FigureDrawing` draws them in a child process forked before the run (Linux), which
imports matplotlib while the parent imports and runs, and draws, in two processes, while it
writes the tables.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim.forked import ForkedCall, can_fork, end_child, fork_child
from vppsim.results.plotting import pyplot, tariff_and_prices


def _bars(ax: Any, x: np.ndarray, height: np.ndarray, bottom: np.ndarray | float, step_h: float,
          **kw: Any) -> None:
    """Bars of ``height`` from ``bottom`` at the step starts ``x``, drawn as one filled step outline.

    Edge-aligned bars one step wide without edges look the same as the area between two
    ``step="post"`` lines; one artist per series instead of a patch per step (a day of
    stacked dispatch bars is hundreds of patches; a year of hourly bars, minutes of matplotlib).
    """
    base = np.broadcast_to(np.asarray(bottom, dtype=float), np.shape(height))
    top = base + height
    ax.fill_between(np.append(x, x[-1] + step_h), np.append(base, base[-1]),
                    np.append(top, top[-1]), step="post", lw=0, **kw)


def _save(fig: Any, folder: Path, name: str, out: list[str]) -> None:
    plt = pyplot()
    path = folder / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out.append(str(path))


def _exchange_figure(vpp: pd.DataFrame, title: str, folder: Path, name: str,
                     out: list[str]) -> None:
    """Realized vs committed net purchase from the VPO, one colour per VPP."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (vpp_name, g) in enumerate(vpp.groupby("agent", sort=False)):
        ax.plot(g["time_h"], g["buy_kw"] - g["sell_kw"], color=f"C{i}",
                label=f"{vpp_name} realized")
        ax.plot(g["time_h"], g["committed_buy_kw"] - g["committed_sell_kw"], color=f"C{i}",
                ls="--", alpha=0.7, label=f"{vpp_name} committed")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="time (h)", ylabel="net purchase from VPO (kW)", title=title)
    ax.legend(fontsize=7, ncol=2)
    _save(fig, folder, name, out)


def _prices_figure(ts: pd.DataFrame, folder: Path, step_h: float, out: list[str]) -> None:
    plt = pyplot()
    vpo = ts[ts.kind == "vpo"]
    fig, ax = plt.subplots(figsize=(8, 4))
    t = np.append(vpo["time_h"].to_numpy(), vpo["time_h"].iloc[-1] + step_h)

    def _ext(col: str) -> np.ndarray:
        v = vpo[col].to_numpy()
        return np.append(v, v[-1])

    tariff_and_prices(ax, t, _ext("pi_imp_cny_per_kwh"), _ext("pi_exp_cny_per_kwh"),
                      _ext("c_sell_cny_per_kwh"), _ext("c_buy_cny_per_kwh"))
    ax.set(xlabel="time (h)", ylabel="price (CNY/kWh)", title="Internal prices and grid tariff")
    ax.legend(fontsize=8)
    _save(fig, folder, "prices", out)


def _vpo_profit_figure(ts: pd.DataFrame, folder: Path, step_h: float, out: list[str]) -> None:
    plt = pyplot()
    vpo = ts[ts.kind == "vpo"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    profit = vpo["profit_cny"].to_numpy()
    x_vpo = vpo["time_h"].to_numpy()
    _bars(ax, x_vpo, np.maximum(profit, 0.0), 0.0, step_h, color="C2")
    _bars(ax, x_vpo, np.minimum(profit, 0.0), 0.0, step_h, color="C3")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="time (h)", ylabel="CNY per step", title="VPO profit per step")
    _save(fig, folder, "vpo_profit", out)


def _exchange_run_figure(ts: pd.DataFrame, folder: Path, step_h: float, out: list[str]) -> None:
    _exchange_figure(ts[ts.kind == "vpp"], "Exchange per VPP (positive: buys from the VPO)",
                     folder, "exchange", out)


def _dispatch_figure(ts: pd.DataFrame, folder: Path, step_h: float, out: list[str]) -> None:
    plt = pyplot()
    vpp = ts[ts.kind == "vpp"]
    names = list(dict.fromkeys(vpp["agent"]))
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 2.6 * len(names)), sharex=True,
                             squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        g = vpp[vpp.agent == name]
        x = g["time_h"].to_numpy()
        pos = {"wind": g["wind_kw"], "PV": g["pv_kw"], "battery discharge": g["discharge_kw"],
               "generators": g["gen_kw"], "purchase": g["buy_kw"]}
        neg = {"battery charge": g["charge_kw"], "sale": g["sell_kw"]}
        bottom = np.zeros(len(x))
        for label, v in pos.items():
            v = v.to_numpy()
            if np.any(v > 0):
                _bars(ax, x, v, bottom.copy(), step_h, label=label)
                bottom += v
        bottom = np.zeros(len(x))
        for label, v in neg.items():
            v = v.to_numpy()
            if np.any(v > 0):
                _bars(ax, x, -v, bottom.copy(), step_h, label=label)
                bottom -= v
        served = g["load_kw"] - g["load_curtailed_kw"] - g["unmet_kw"]
        ax.step(np.append(x, x[-1] + step_h), np.append(served, served.iloc[-1]), where="post",
                color="k", label="load served")
        ax.set(ylabel="kW", title=f"{name} dispatch")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("time (h)")
    _save(fig, folder, "dispatch", out)


def _soc_figure(ts: pd.DataFrame, folder: Path, step_h: float, out: list[str]) -> None:
    bat = ts[ts.kind == "battery"]
    if not len(bat):
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (name, g) in enumerate(bat.groupby("agent", sort=False)):
        ax.plot(g["time_h"] + step_h, g["soc_pu"], color=f"C{i}", label=name)
        ax.axhline(g["soc_min_pu"].iloc[0], color=f"C{i}", ls=":", lw=0.8)
        ax.axhline(g["soc_max_pu"].iloc[0], color=f"C{i}", ls=":", lw=0.8)
    ax.set(xlabel="time (h)", ylabel="state of charge (pu)",
           title="Battery state of charge (dotted: bounds)")
    ax.legend(fontsize=8)
    _save(fig, folder, "soc", out)


def _network_figure(ts: pd.DataFrame, folder: Path, step_h: float, out: list[str]) -> None:
    plt = pyplot()
    net = ts[ts.kind == "network"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    _bars(ax1, net["time_h"].to_numpy(), net["losses_kw"].to_numpy(), 0.0, step_h, color="C1")
    ax1.set(ylabel="losses (kW)", title="Network losses and bus voltages")
    ax2.plot(net["time_h"], net["vm_min_pu"], label="min")
    ax2.plot(net["time_h"], net["vm_max_pu"], label="max")
    bad = net[~net["converged"].astype(bool)]
    if len(bad):
        ax2.scatter(bad["time_h"], np.full(len(bad), 1.0), marker="x", color="r",
                    label="not converged")
    ax2.set(xlabel="time (h)", ylabel="voltage (pu)")
    ax2.legend(fontsize=8)
    _save(fig, folder, "network", out)


#: a run's standard figures in report order, by file name (``soc`` only with batteries)
RUN_FIGURES = {"prices": _prices_figure, "vpo_profit": _vpo_profit_figure,
               "exchange": _exchange_run_figure, "dispatch": _dispatch_figure,
               "soc": _soc_figure, "network": _network_figure}


def make_figures(ts: pd.DataFrame, folder: Path, step_h: float,
                 names: tuple[str, ...] | None = None) -> list[str]:
    """Draw the standard figures into ``folder``; returns the file paths.

    ``names``: only these of :data:`RUN_FIGURES` (default: all), in report order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    for name, draw in RUN_FIGURES.items():
        if names is None or name in names:
            draw(ts, folder, step_h, out)
    return out


def make_prosumer_figures(prosumers: pd.DataFrame, ts: pd.DataFrame, folder: Path,
                          step_h: float) -> list[str]:
    """Prosumer-fleet figures: SoC percentiles per VPP and each VPP's exchange vs commitment.

    ``prosumers`` is the tidy per-prosumer table (``prosumers.parquet``), ``ts`` the run's time
    series (its VPP rows give the committed exchange).
    """
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    names = list(dict.fromkeys(prosumers["vpp"]))
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.4 * len(names)), sharex=True,
                             squeeze=False)
    bat = prosumers[prosumers["capacity_kwh"] > 0]
    for ax, name in zip(axes[:, 0], names, strict=True):
        g = bat[bat["vpp"] == name]
        if len(g):
            pu = (g["soc_kwh"] / g["capacity_kwh"]).groupby(g["time_h"])
            q = pu.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
            x = q.index.to_numpy() + step_h  # SoC at the end of each step
            ax.fill_between(x, q[0.05], q[0.95], color="C0", alpha=0.2, label="5-95 %")
            ax.fill_between(x, q[0.25], q[0.75], color="C0", alpha=0.4, label="25-75 %")
            ax.plot(x, q[0.5], color="C0", label="median")
        ax.set(ylabel="SoC (pu)", ylim=(0, 1), title=f"{name}: battery SoC across prosumers")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("time (h)")
    _save(fig, folder, "prosumer_soc", out)

    vpp = ts[(ts.kind == "vpp") & ts["agent"].isin(names)]
    _exchange_figure(vpp, "Prosumer VPPs: sum of the prosumers' exchange vs the commitment",
                     folder, "prosumer_exchange", out)
    return out


#: a run's figures in two parts of about equal drawing time, for two processes (default day,
#: warm, one process: dispatch 0.32 s, network 0.15, soc 0.13, exchange 0.13, prices 0.12,
#: vpo_profit 0.08; both parts in two processes 0.58 s, median of 7, against 0.69 s with
#: vpo_profit in the first); ``prosumers``: the fleet figures (:func:`make_prosumer_figures`)
DRAWING_PARTS = (("dispatch", "prices"), ("network", "exchange", "soc", "vpo_profit", "prosumers"))

#: every figure file's name in report order
_FIGURE_ORDER = (*RUN_FIGURES, "prosumer_soc", "prosumer_exchange")


def draw_run_figures(ts: pd.DataFrame, folder: Path, step_h: float,
                     prosumers: pd.DataFrame | None = None, part: int | None = None) -> list[str]:
    """Every figure of a run (:func:`make_figures`, then the prosumer figures if any).

    ``part``: only the figures of ``DRAWING_PARTS[part]``.
    """
    names = None if part is None else DRAWING_PARTS[part]
    files = make_figures(ts, folder, step_h, names)
    if prosumers is not None and (names is None or "prosumers" in names):
        files += make_prosumer_figures(prosumers, ts, folder, step_h)
    return files


def draw_in_two(ts: pd.DataFrame, folder: Path, step_h: float,
                prosumers: pd.DataFrame | None = None) -> list[str]:
    """:func:`draw_run_figures` with the second part in a forked child, in report order.

    Where nothing may be forked (:func:`vppsim.forked.can_fork`) both parts are drawn here.
    """
    with ForkedCall(draw_run_figures, ts, folder, step_h, prosumers, 1) as second:
        files = draw_run_figures(ts, folder, step_h, prosumers, 0) + second.result()
    return sorted(files, key=lambda f: _FIGURE_ORDER.index(Path(f).stem))


def warm_up() -> None:
    """Draw a small figure into memory: loads the fonts and fills matplotlib's text caches.

    A drawing process does this while it waits for its data, so the first real figure does
    not pay for it.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0.0, 1.0], [0.0, 1.0], label="0123456789")
    ax.set(xlabel="time (h)", ylabel="kW", title="warm-up")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(io.BytesIO(), format="png", dpi=20)
    plt.close(fig)


class FigureDrawing:
    """A run's figures (:func:`draw_run_figures`) drawn by a forked child process.

    On Linux the child is forked at construction, which may come long before the run
    (``vppsim run`` forks it before importing the model): it imports matplotlib and draws a
    small figure into memory (:func:`warm_up`) while the parent goes on, then waits.
    :meth:`draw` hands it the folder and the finished run's time series (pickled through a
    pipe) and returns at once; the child draws while the parent writes the tables, half of the
    figures in a second child of its own (:func:`draw_in_two`), and sends back the files or
    its error through a second pipe. :meth:`files` waits for that and returns the files, or
    raises ``RuntimeError`` with the child's error. The child touches nothing but matplotlib,
    its copy of the data and the figure files. It is forked by
    :func:`vppsim.forked.fork_child` (never returns into the parent's code, ended by
    SIGINT/SIGTERM, dies with the parent) where :func:`vppsim.forked.can_fork`; elsewhere
    nothing is forked and :meth:`files` draws in this process. Use as a context manager:
    :meth:`close` ends an unfinished child (the parent failed first, or drew nothing), so no
    process is left behind.
    """

    def __init__(self) -> None:
        self._data: tuple[Path, pd.DataFrame, float, pd.DataFrame | None] | None = None
        self._pid: int | None = None
        self._to_child: int | None = None  # the data pipe's end, until the data is sent
        self._from_child: int | None = None  # the report pipe's end, until it is read
        if can_fork():
            data_read, data_write = os.pipe()
            report_read, report_write = os.pipe()

            def body() -> None:
                os.close(data_write)
                os.close(report_read)
                self._child(data_read, report_write)

            self._pid = fork_child(body)
            os.close(data_read)
            os.close(report_write)
            self._to_child, self._from_child = data_write, report_read

    @staticmethod
    def _child(data_fd: int, report_fd: int) -> None:
        """Import matplotlib, warm up, wait for the data, draw, send the report."""
        try:
            warm_up()
            with os.fdopen(data_fd, "rb") as pipe:
                folder, ts, step_h, prosumers = pickle.load(pipe)
            report: dict[str, Any] = {"files": draw_in_two(ts, folder, step_h, prosumers)}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
            report = {"error": f"{type(exc).__name__}: {exc}"}
        with os.fdopen(report_fd, "w", encoding="utf-8") as pipe:
            pipe.write(json.dumps(report))

    def draw(self, folder: Path, ts: pd.DataFrame, step_h: float,
             prosumers: pd.DataFrame | None = None) -> None:
        """Draw the figures of this time series into ``folder`` (in the child, if there is one)."""
        self._data = (Path(folder), ts, step_h, prosumers)
        if self._to_child is not None:
            fd, self._to_child = self._to_child, None
            try:
                with os.fdopen(fd, "wb") as pipe:
                    pickle.dump(self._data, pipe, protocol=pickle.HIGHEST_PROTOCOL)
            except BrokenPipeError:
                pass  # the child has ended: files() reports why

    def files(self) -> list[str]:
        """The figure files, once drawn (waits for the child). Raises ``RuntimeError``."""
        if self._data is None:
            self.close()
            raise RuntimeError("FigureDrawing.files: nothing to draw (draw() was not called)")
        if self._pid is None:
            folder, ts, step_h, prosumers = self._data
            return draw_run_figures(ts, folder, step_h, prosumers)
        assert self._from_child is not None
        fd, self._from_child = self._from_child, None
        with os.fdopen(fd, encoding="utf-8") as pipe:
            text = pipe.read()  # until the child (and its own child) have ended
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        code = os.waitstatus_to_exitcode(status)
        try:
            report = json.loads(text)
        except ValueError:
            report = {}
        if code != 0 or "files" not in report:
            raise RuntimeError(f"drawing the figures failed (child process exit {code}): "
                               f"{report.get('error', 'no report')}")
        return [str(f) for f in report["files"]]

    def close(self) -> None:
        """End the child if it is still there (the parent failed before :meth:`files`)."""
        for fd in (self._to_child, self._from_child):
            if fd is not None:
                os.close(fd)  # the child reads an end of file and leaves
        self._to_child = self._from_child = None
        if self._pid is not None:
            end_child(self._pid)
            self._pid = None

    def __enter__(self) -> FigureDrawing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
