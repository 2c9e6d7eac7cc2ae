"""Result folder of ``vppsim equilibria``: the sweep's tidy tables, figures and report.

Files (staged in ``DIR.incomplete`` and renamed when complete, like every result folder):
``equilibria.parquet``/``.csv``/``.md`` (one row per point), ``prices.parquet``/``.csv`` (one
row per point and period), ``vpp_costs.parquet``/``.csv`` (one row per point and VPP),
``summary.json``, ``report.md`` and ``figures/prices.png``, ``figures/profits.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim import __version__
from vppsim.market.sweep import SweepTables
from vppsim.results.folders import ResultFolder, output_path, result_folder
from vppsim.results.format import json_ready, number
from vppsim.results.plotting import pyplot

#: the columns of ``equilibria.md`` (the full table is in the Parquet/CSV files)
MARKDOWN_COLUMNS = (
    "value", "c_sell_mean_cny_per_kwh", "c_buy_mean_cny_per_kwh", "vpo_profit_cny",
    "vpo_profit_pessimistic_cny", "vpo_profit_robust_cny", "model1_vpo_profit_cny",
    "mpec_vpo_profit_cny", "total_vpp_cost_cny", "system_cost_cny",
    "model1_system_cost_cny", "bound_system_cost_cny", "epsilon_cny",
)


def points_markdown(points: pd.DataFrame, field: str) -> str:
    """The points table as Markdown (the main columns; n/a where a reference was not computed)."""
    cols = [c for c in MARKDOWN_COLUMNS if c in points.columns]
    head = [field if c == "value" else c for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(cols)]
    for _, r in points.iterrows():
        cells = [number(r[c], spec="g") if c == "value" else
                 number(r[c], 4 if "per_kwh" in c else 2, spec=".3g" if c == "epsilon_cny" else None)
                 for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _save(plt: Any, fig: Any, path: Path, out: list[str]) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out.append(path.name)


def _figures(t: SweepTables, field: str, folder: Path) -> list[str]:
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    p = t.points.sort_values("value")
    x = p["value"].to_numpy()
    out = []
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(x, p["pi_imp_mean_cny_per_kwh"], color="0.4", ls="--", label="grid import (mean)")
    ax.plot(x, p["pi_exp_mean_cny_per_kwh"], color="0.6", ls=":", label="grid export (mean)")
    ax.plot(x, p["c_sell_mean_cny_per_kwh"], "o-", color="tab:red", label="c_sell (mean)")
    ax.plot(x, p["c_buy_mean_cny_per_kwh"], "s-", color="tab:blue", label="c_buy (mean)")
    ax.set(xlabel=field, ylabel="CNY/kWh", title="Equilibrium prices, mean over the day")
    ax.legend(fontsize=8)
    cmap = plt.get_cmap("viridis")
    values = sorted(t.prices["value"].unique())
    for k, v in enumerate(values):
        d = t.prices[t.prices["value"] == v].sort_values("step")
        ax2.step(d["time_h"], d["c_sell_cny_per_kwh"], where="post",
                 color=cmap(k / max(len(values) - 1, 1)), label=f"{v:g}")
    ax2.set(xlabel="time of day, h", ylabel="c_sell, CNY/kWh", title="c_sell per period")
    ax2.legend(title=field, fontsize=7, ncol=2)
    _save(plt, fig, folder / "prices.png", out)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(x, p["vpo_profit_cny"], "o-", color="tab:red", label=f"Model 2 ({p['solver'].iat[0]})")
    if p["vpo_profit_pessimistic_cny"].notna().any():
        ax.fill_between(x, p["vpo_profit_pessimistic_cny"], p["vpo_profit_cny"], color="tab:red",
                        alpha=0.15, label="Model 2 tie range (pessimistic to optimistic)")
    if p["vpo_profit_robust_cny"].notna().any():
        ax.plot(x, p["vpo_profit_robust_cny"], "v-.", color="tab:purple",
                label="Model 2 with epsilon-incentive (guaranteed)")
    ax.plot(x, p["model1_vpo_profit_cny"], "s--", color="0.4", label="Model 1 (passthrough)")
    if p["mpec_vpo_profit_cny"].notna().any():
        ax.plot(x, p["mpec_vpo_profit_cny"], "^:", color="k", label="MPEC (leader's optimum)")
    ax.set(xlabel=field, ylabel="CNY", title="VPO profit")
    ax.legend(fontsize=8)
    ax2.plot(x, p["system_cost_cny"], "o-", color="tab:red", label="Model 2")
    ax2.plot(x, p["model1_system_cost_cny"], "s--", color="0.4", label="Model 1")
    ax2.plot(x, p["bound_system_cost_cny"], "^:", color="k", label="centralized LP (bound)")
    ax2.plot(x, p["total_vpp_cost_cny"], "d-", color="tab:green", label="VPP costs (Model 2)")
    ax2.set(xlabel=field, ylabel="CNY", title="System cost and VPP costs")
    ax2.legend(fontsize=8)
    _save(plt, fig, folder / "profits.png", out)
    return out


def write_equilibria_results(t: SweepTables, out: Path | ResultFolder, scenario_name: str,
                             field: str, meta: dict[str, Any]) -> Path:
    """Write the sweep's folder (tables, figures, ``summary.json``, ``report.md``); its path."""
    with result_folder(out) as work:
        for name, df in (("equilibria", t.points), ("prices", t.prices),
                         ("vpp_costs", t.vpp_costs)):
            df.to_parquet(work / f"{name}.parquet", index=False)
            df.to_csv(work / f"{name}.csv", index=False)
        table = points_markdown(t.points, field)
        (work / "equilibria.md").write_text(table, encoding="utf-8")
        summary = json_ready({"scenario": scenario_name, "vppsim_version": __version__,
                              "field": field, "values": t.points["value"].tolist(), **meta,
                              "wall_time_s": t.wall_s})
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        figures = _figures(t, field, work / "figures")
        gap = t.points["system_cost_gap_cny"].to_numpy()
        report = [
            f"# {scenario_name}: equilibria against {field}",
            "",
            f"Solver `{meta.get('solver')}`, objective `{meta.get('objective')}`, budget "
            f"{meta.get('budget')}, seed {meta.get('seed')} at every point; exact references: "
            "the centralized LP (system cost bound) at every point"
            + (", the MPEC (leader's optimum)" if t.points["mpec_vpo_profit_cny"].notna().any()
               else "") + ". Outcomes break the VPPs' ties for the VPO (optimistic); "
            "`vpo_profit_pessimistic_cny` is the other end of the ties and "
            "`vpo_profit_robust_cny` what the VPO is guaranteed after the epsilon-incentive "
            "(docs/design.md).",
            "",
            table,
            f"System cost above the centralized bound: largest {number(float(np.max(gap)))} CNY.",
            "",
            *[f"![{Path(f).stem}](figures/{f})" for f in figures],
            "",
        ]
        (work / "report.md").write_text("\n".join(report), encoding="utf-8")
    return output_path(out)
