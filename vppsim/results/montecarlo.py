"""report.md and figures of a Monte Carlo batch."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim.results.format import decimals_for, number, unit_of
from vppsim.results.plotting import pyplot


def render_report(summary: dict[str, Any], figure_files: list[str]) -> str:
    """``report.md`` of a Monte Carlo batch: the KPI quantile table, errors, timings, figures."""
    s = summary
    w = s["wall_time_s"]
    days = int(s.get("days", 1))
    lines = [
        f"# {s['scenario']}: Monte Carlo report",
        "",
        f"vppsim {s['vppsim_version']}: {s['n_samples']} samples of "
        + ("one day" if days == 1 else f"{days} days")
        + f" ({s['step_h']} h steps), base seed {s['seed']}, power flow "
        f"`{s['power_flow_backend']}`, price policy `{s['price_policy']}`. {s['n_ok']} samples "
        f"ran, {s['n_errors']} raised.",
        "",
        "The day-ahead market (internal prices, committed schedules) is cleared once from the "
        "forecasts and shared by every sample; each sample draws its own wind, PV and load "
        f"forecast errors (model seed `{s['seeds']}`) and runs real-time balancing, "
        "imbalance settlement and the AC power flow. The day-ahead prices are therefore the "
        "same in every sample (a zero-width band in the price fan chart); the spread is in "
        "the real-time quantities." if days == 1 else
        "The day-ahead market of the first day is cleared once from the forecasts and shared "
        "by every sample; on every later day each sample clears its own day-ahead market from "
        "its own state (battery charge after its realized previous day), as `vppsim run` does. "
        f"Each sample draws its own wind, PV and load forecast errors (model seed "
        f"`{s['seeds']}`) for every step of the horizon and runs real-time balancing, imbalance "
        "settlement and the AC power flow. KPIs are over the whole horizon; `day_kpis.parquet` "
        "has them per sample and day.",
        "",
        "## KPIs over the samples",
        "",
        "| KPI | unit | mean | std | 5 % | 50 % | 95 % | n |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for col, st in s["kpis"].items():
        cells = [number(st[k], decimals_for(col)) for k in ("mean", "std", "p5", "p50", "p95")]
        lines.append(f"| {col} | {unit_of(col)} | " + " | ".join(cells) + f" | {st['n']} |")
    lines += [
        "",
        "`cost_cny__<VPP>`: a VPP's realized cost (paper 004 eq. 4-6 on the realized schedule plus "
        "imbalance settlement); system cost = total VPP cost - VPO profit; n/a: the quantity is "
        "not defined on this feeder (e.g. line loading without line ratings). Quantiles are "
        "numpy's linear interpolation over the samples that ran.",
        "",
        "## Errors",
        "",
    ]
    if s["n_errors"]:
        lines += ["| sample | seed | error |", "|---:|---:|---|"]
        lines += [f"| {e['sample']} | {e['seed']} | {e['error']} |" for e in s["errors"]]
        if s["n_errors"] > len(s["errors"]):
            lines.append(f"\n... {s['n_errors'] - len(s['errors'])} more in kpis.parquet")
    else:
        lines.append("No sample raised.")
    if s["failed_chunks"]:
        lines += ["", "Chunks lost to the cluster in this run (recomputed by a re-run):"]
        lines += [f"- {c}" for c in s["failed_chunks"]]
    lines += [
        "",
        "## Wall time (this invocation)",
        "",
        "| phase | s |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in w.items()]
    lines += [
        "",
        f"{s['computed_this_run']} samples computed in this invocation"
        + (f" ({s['samples_per_s']:.1f} samples/s)" if s["samples_per_s"] else "")
        + ("; the others came from an earlier, interrupted run." if s["resumed"] else "."),
        "",
    ]
    if figure_files:
        lines += ["## Figures", ""]
        lines += [f"![{Path(f).stem}](figures/{Path(f).name})" for f in figure_files]
        lines.append("")
    return "\n".join(lines)


#: the figures of a Monte Carlo batch, in report order: two from the KPI table, then the fan
#: charts from the step quantiles
KPI_FIGURES = ("kpi_histograms", "kpi_boxplots")
FAN_FIGURES = ("fan_price", "fan_soc", "fan_voltage", "fan_grid")


def make_figures(kpis: pd.DataFrame, quant: pd.DataFrame, folder: Path, step_h: float
                 ) -> list[str]:
    """KPI histograms and box plots, fan charts of price, SoC and voltage; returns the paths."""
    return write_pngs(figure_pngs(kpis, quant, step_h), folder)


def write_pngs(pngs: dict[str, bytes], folder: Path) -> list[str]:
    """Write ``{name: PNG bytes}`` as ``folder/<name>.png`` in report order; the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name in KPI_FIGURES + FAN_FIGURES:
        if name in pngs:
            path = folder / f"{name}.png"
            path.write_bytes(pngs[name])
            files.append(str(path))
    return files


def _png(fig: Any, tight: bool = True) -> bytes:
    """The figure laid out (``tight``: by ``tight_layout``) and rendered as PNG bytes (100 dpi)."""
    buf = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buf, dpi=100, format="png")
    return buf.getvalue()


def _kpi_histograms(plt: Any, kpis: pd.DataFrame, cols: list[str]) -> Any:
    """One histogram per KPI column (median marked), four to a row, laid out with fixed margins."""
    ncol = 4
    nrow = math.ceil(len(cols) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False)
    for ax, c in zip(axes.flat, cols, strict=False):
        v = kpis[c].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=min(30, max(5, int(np.sqrt(v.size)))), color="tab:blue", alpha=0.8,
                histtype="stepfilled")  # one polygon per axis, not a patch per bin
        ax.axvline(float(np.median(v)), color="k", lw=1)
        ax.set_title(c, fontsize=8)
        ax.set_ylabel("samples", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    # fixed margins in inches: tight_layout over this grid took about half a second
    height = 2.4 * nrow
    fig.subplots_adjust(left=0.55 / (3.2 * ncol), right=1 - 0.15 / (3.2 * ncol),
                        bottom=0.3 / height, top=1 - 0.25 / height, wspace=0.32, hspace=0.45)
    return fig


def figure_pngs(kpis: pd.DataFrame | None, quant: pd.DataFrame | None, step_h: float,
                only: tuple[str, ...] | None = None) -> dict[str, bytes]:
    """The figures as PNG bytes by name; ``only``: just these (a Dask worker draws a few).

    :data:`KPI_FIGURES` are drawn from ``kpis``, :data:`FAN_FIGURES` from ``quant`` (either
    may be None when only the others are wanted).
    """
    plt = pyplot()
    pngs: dict[str, bytes] = {}
    quant = quant if quant is not None else pd.DataFrame(columns=["agent", "quantity", "step"])

    def want(name: str) -> bool:
        return only is None or name in only

    def save(fig: Any, name: str, tight: bool = True) -> None:
        pngs[name] = _png(fig, tight)

    cols = [] if kpis is None else [
        c for c in kpis.columns[2:-1] if np.isfinite(kpis[c].to_numpy(dtype=float)).any()]
    if cols and want("kpi_histograms"):
        save(_kpi_histograms(plt, kpis, cols), "kpi_histograms", tight=False)
    if cols and want("kpi_boxplots"):
        # one axis per scale: the VPP costs side by side, then one KPI per axis
        cost_cols = [c for c in cols if c.startswith("cost_cny__")]
        box_groups = [("VPP cost (CNY)", cost_cols)] if cost_cols else []
        box_groups += [(c, [c]) for c in ("vpo_profit_cny", "system_cost_cny", "imbalance_kwh",
                                          "network_losses_kwh", "min_voltage_pu") if c in cols]
        widths = [max(1.0, 0.7 * len(cs)) for _, cs in box_groups]
        fig, axes = plt.subplots(1, len(box_groups), figsize=(1.9 * sum(widths) + 1, 3.4),
                                 squeeze=False, gridspec_kw={"width_ratios": widths})
        for ax, (title, cs) in zip(axes.flat, box_groups, strict=True):
            data = [kpis[c].dropna().to_numpy(dtype=float) for c in cs]
            ax.boxplot(data, whis=(5, 95), showfliers=True, flierprops={"markersize": 2})
            ax.set_xticks(range(1, len(cs) + 1),
                          [c.replace("cost_cny__", "") if len(cs) > 1 else "" for c in cs],
                          fontsize=7)
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=7)
        fig.suptitle("KPI box plots (box: quartiles, whiskers: 5-95 %)", fontsize=9)
        save(fig, "kpi_boxplots")

    def fan(ax: Any, q: pd.DataFrame, label: str, color: str) -> None:
        q = q.sort_values("step")
        t = np.append(q["step"].to_numpy(), q["step"].iloc[-1] + 1) * step_h

        def ext(col: str) -> np.ndarray:
            v = q[col].to_numpy(dtype=float)
            return np.append(v, v[-1])

        ax.fill_between(t, ext("p5"), ext("p95"), color=color, alpha=0.25, step="post",
                        label=f"{label} 5-95 %")
        ax.step(t, ext("p50"), where="post", color=color, lw=1.5, label=f"{label} median")

    def panel(name: str, series: list[tuple[str, str, str]], ylabel: str,
              separate: bool = False) -> None:
        if not want(name):
            return
        present = [(a, qn, lbl) for a, qn, lbl in series
                   if ((quant["agent"] == a) & (quant["quantity"] == qn)).any()]
        if not present:
            return
        n_ax = len(present) if separate else 1
        fig, axes = plt.subplots(n_ax, 1, figsize=(8, 2.6 * n_ax + 1.0), squeeze=False,
                                 sharex=True)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, (a, qn, lbl) in enumerate(present):
            ax = axes[k, 0] if separate else axes[0, 0]
            fan(ax, quant[(quant["agent"] == a) & (quant["quantity"] == qn)], lbl,
                colors[k % len(colors)])
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=7, ncol=2)
        axes[-1, 0].set_xlabel("hour")
        save(fig, name)

    if not quant.empty:
        vpo = quant.loc[quant["quantity"] == "c_sell_cny_per_kwh", "agent"]
        vpo_name = str(vpo.iloc[0]) if len(vpo) else "VPO"
        panel("fan_price", [(vpo_name, "c_sell_cny_per_kwh", "c_sell"),
                            (vpo_name, "c_buy_cny_per_kwh", "c_buy")], "CNY/kWh")
        bats = sorted(quant.loc[quant["quantity"] == "soc_pu", "agent"].unique())
        panel("fan_soc", [(b, "soc_pu", b) for b in bats], "SoC (pu)", separate=True)
        panel("fan_voltage", [("network", "vm_min_pu", "min bus voltage"),
                              ("network", "vm_max_pu", "max bus voltage")], "pu")
        panel("fan_grid", [(vpo_name, "grid_import_kw", "grid import"),
                           (vpo_name, "grid_export_kw", "grid export")], "kW")
    return pngs
