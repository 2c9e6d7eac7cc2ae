"""Result folder of ``vppsim game --days N`` (N > 1): a horizon of day-ahead games in a row.

Each day's game starts where the previous day's outcome ended (:mod:`vppsim.market.horizon`).
Files (staged in ``DIR.incomplete`` and renamed when complete, like the one-day folder):
``summary.json``; ``days.csv`` (one row per day: objective, VPO profit, every VPP's cost,
system cost, Model 1's values at the same starting state, tie ends if computed, start and end
of every battery's and the VPO storage's SoC and of every generator's output); ``prices.csv``
(one row per day and period); ``soc.csv`` (one row per storage unit, day and period boundary);
``report.md``; ``figures/soc.png`` and ``figures/prices.png`` across the whole horizon, day
boundaries marked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim import __version__
from vppsim.market.horizon import HorizonDay
from vppsim.results.folders import ResultFolder, output_path, result_folder
from vppsim.results.format import json_ready
from vppsim.results.game import tie_block
from vppsim.results.plotting import pyplot

#: What a horizon carries from one day to the next, in words (summary.json and report.md).
CARRIED = ("every VPP battery's state of charge, every generator's output (its ramp limit's "
           "starting point) and the VPO storage's state of charge")
#: What it does not do, in words.
MYOPIC = ("each day is solved on its own (no look-ahead across days); the "
          "end_soc_at_least_initial rule applies to each day's own start")


def storage_units(h: HorizonDay) -> Iterator[tuple[str, np.ndarray, float, float]]:
    """Every storage unit of a day: ``(unit, soc_kwh [T+1], soc_min_kwh, soc_max_kwh)``.

    Units are named ``<VPP>/battery<k>`` (k counts from 0 in the VPP's order) and ``VPO/storage``.
    """
    o = h.result.outcome
    for d, s in zip(h.market.vpps, o.schedules, strict=True):
        for k, b in enumerate(d.batteries):
            p = b.params
            yield (f"{d.name}/battery{k}", s.soc_kwh[k], p.soc_min * p.capacity_kwh,
                   p.soc_max * p.capacity_kwh)
    st = h.market.storage
    if st is not None and o.storage is not None:
        p = st.params
        yield "VPO/storage", o.storage.soc_kwh, p.soc_min * p.capacity_kwh, p.soc_max * p.capacity_kwh


def day_row(h: HorizonDay) -> dict[str, Any]:
    """One row of ``days.csv``: the day's outcome, Model 1 at the same start, tie ends, states."""
    r = h.result
    o, m1 = r.outcome, r.model1
    row: dict[str, Any] = {"day": h.day, "seed": h.seed,
                           "objective_value_cny": o.objective_value(r.objective),
                           "vpo_profit_cny": o.vpo_profit_cny,
                           "total_vpp_cost_cny": o.total_vpp_cost_cny,
                           "system_cost_cny": o.system_cost_cny}
    row |= {f"vpp_cost_cny_{k}": v for k, v in o.vpp_cost_cny.items()}
    row |= {"model1_vpo_profit_cny": m1.vpo_profit_cny,
            "model1_total_vpp_cost_cny": m1.total_vpp_cost_cny,
            "model1_system_cost_cny": m1.system_cost_cny}
    row |= {f"model1_vpp_cost_cny_{k}": v for k, v in m1.vpp_cost_cny.items()}
    ties = tie_block(r.ties)
    row |= {k: v for k, v in ties.items() if k != "tie_storage_rule"}
    row |= {f"model1_{k}": v for k, v in tie_block(r.model1_ties).items()
            if k != "tie_storage_rule"}
    row["epsilon_cny"] = r.certificate.epsilon_cny
    row["reference_cny"] = r.reference.value_cny if r.reference is not None else None
    for unit, soc, _, _ in storage_units(h):
        row[f"soc_start_kwh_{unit}"], row[f"soc_end_kwh_{unit}"] = float(soc[0]), float(soc[-1])
    for d, s in zip(h.market.vpps, o.schedules, strict=True):
        for j, g in enumerate(d.generators):
            row[f"p_start_kw_{d.name}/generator{j}"] = g.p_start_kw
            row[f"p_end_kw_{d.name}/generator{j}"] = float(s.gen_kw[j, -1])
    return row


def days_table(days: list[HorizonDay]) -> pd.DataFrame:
    """``days.csv``: one row per day (:func:`day_row`)."""
    return pd.DataFrame([day_row(h) for h in days])


def prices_table(days: list[HorizonDay]) -> pd.DataFrame:
    """``prices.csv``: one row per (day, period), horizon time in hours from the first day."""
    frames = []
    for h in days:
        T, dt = h.market.n_periods, h.market.dt_h
        o = h.result.outcome
        frames.append(pd.DataFrame({
            "day": h.day, "step": np.arange(T), "time_h": (h.day * T + np.arange(T)) * dt,
            "c_sell_cny_per_kwh": o.c_sell_cny_per_kwh, "c_buy_cny_per_kwh": o.c_buy_cny_per_kwh,
            "pi_imp_cny_per_kwh": h.market.pi_imp, "pi_exp_cny_per_kwh": h.market.pi_exp}))
    return pd.concat(frames, ignore_index=True)


def soc_table(days: list[HorizonDay]) -> pd.DataFrame:
    """``soc.csv``: one row per (storage unit, day, period boundary 0..T), kWh."""
    rows = []
    for h in days:
        T, dt = h.market.n_periods, h.market.dt_h
        for unit, soc, lo, hi in storage_units(h):
            rows += [{"unit": unit, "day": h.day, "boundary": t, "time_h": (h.day * T + t) * dt,
                      "soc_kwh": float(soc[t]), "soc_min_kwh": lo, "soc_max_kwh": hi}
                     for t in range(T + 1)]
    return pd.DataFrame(rows, columns=["unit", "day", "boundary", "time_h", "soc_kwh",
                                       "soc_min_kwh", "soc_max_kwh"])


def _mark_days(ax: Any, days: list[HorizonDay]) -> None:
    """Dotted vertical lines at the day boundaries."""
    h0 = days[0].market
    for d in range(1, len(days)):
        ax.axvline(d * h0.n_periods * h0.dt_h, color="0.5", ls=":", lw=0.8)



def _finish(plt: Any, fig: Any, ax: Any, path: Path) -> None:
    """Legend, layout, save as PNG and close."""
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

def horizon_figures(days: list[HorizonDay], folder: Path) -> list[str]:
    """``soc.png`` and ``prices.png`` across the horizon; returns the file names."""
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    soc = soc_table(days)
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, (unit, g) in enumerate(soc.groupby("unit", sort=False)):
        ax.plot(g["time_h"], g["soc_kwh"], color=f"C{i}", label=unit)
        ax.axhline(g["soc_min_kwh"].iloc[0], color=f"C{i}", ls="--", lw=0.5)
    _mark_days(ax, days)
    ax.set(xlabel="time (h)", ylabel="kWh", title="State of charge across the horizon "
           "(dotted: day boundaries, dashed: soc_min)")
    _finish(plt, fig, ax, folder / "soc.png")

    prices = prices_table(days)
    dt = days[0].market.dt_h
    t = np.append(prices["time_h"].to_numpy(), prices["time_h"].iloc[-1] + dt)
    fig, ax = plt.subplots(figsize=(10, 4))
    for col, style in (("pi_imp_cny_per_kwh", dict(color="0.3", lw=3, alpha=0.35, label="grid import")),
                       ("pi_exp_cny_per_kwh", dict(color="0.6", lw=3, alpha=0.35, label="grid export")),
                       ("c_sell_cny_per_kwh", dict(color="C3", label="VPO sells (c_sell)")),
                       ("c_buy_cny_per_kwh", dict(color="C0", label="VPO buys (c_buy)"))):
        v = prices[col].to_numpy()
        ax.step(t, np.append(v, v[-1]), where="post", **style)
    _mark_days(ax, days)
    ax.set(xlabel="time (h)", ylabel="CNY/kWh", title="Internal prices and grid tariff across "
           "the horizon (dotted: day boundaries)")
    _finish(plt, fig, ax, folder / "prices.png")
    return ["soc.png", "prices.png"]


def horizon_totals(days: list[HorizonDay]) -> dict[str, Any]:
    """Sums over the horizon of the outcome's and Model 1's figures, CNY."""
    def total(get: Any) -> float:
        return float(sum(get(h) for h in days))

    names = list(days[0].result.outcome.vpp_cost_cny)
    return {
        "vpo_profit_cny": total(lambda h: h.result.outcome.vpo_profit_cny),
        "system_cost_cny": total(lambda h: h.result.outcome.system_cost_cny),
        "vpp_cost_cny": {n: total(lambda h, n=n: h.result.outcome.vpp_cost_cny[n]) for n in names},
        "model1_vpo_profit_cny": total(lambda h: h.result.model1.vpo_profit_cny),
        "model1_system_cost_cny": total(lambda h: h.result.model1.system_cost_cny),
    }


def horizon_summary(days: list[HorizonDay], scenario_name: str, seed: int | None) -> dict[str, Any]:
    """``summary.json`` of a horizon: settings, totals and each day's figures."""
    r0 = days[0].result
    return json_ready({
        "scenario": scenario_name, "vppsim_version": __version__, "seed": seed,
        "objective": r0.objective, "solver": r0.solver, "days": len(days),
        "carried": CARRIED, "not_carried": MYOPIC,
        "totals": horizon_totals(days),
        "per_day": [{**day_row(h), "selection_rule": h.result.selection,
                     "reference": h.result.reference.name if h.result.reference else None,
                     "wall_time_s": h.result.wall_s} for h in days],
        "wall_time_s": float(sum(h.result.wall_s["total"] for h in days)),
    })


def _report(days: list[HorizonDay], scenario_name: str, figures: list[str]) -> str:
    """``report.md``: settings, the per-day table with a total row, the figures."""
    r0 = days[0].result
    names = list(r0.outcome.vpp_cost_cny)
    head = ["day", "VPO profit", *names, "system cost", "Model 1 VPO profit",
            "Model 1 system cost"]
    has_ties = all(h.result.ties is not None for h in days)
    if has_ties:
        head += ["VPO profit, pessimistic"]
    lines = [f"# {scenario_name}: day-ahead bi-level game over {len(days)} days", "",
             f"Solver `{r0.solver}`, objective `{r0.objective}`; day d's seed is in days.csv. "
             f"Carried from one day to the next: {CARRIED}. Not done: {MYOPIC}. Model 1 is the "
             "tariff passed through on the same day with the same starting state. CNY.", "",
             "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]

    def cells(o_profit: float, costs: list[float], sys_cost: float, m1p: float, m1s: float,
              pess: float | None) -> str:
        vals = [o_profit, *costs, sys_cost, m1p, m1s] + ([pess] if has_ties else [])
        return " | ".join(f"{v:,.2f}" for v in vals)

    for h in days:
        o, m1, t = h.result.outcome, h.result.model1, h.result.ties
        lines.append(f"| {h.day} | " + cells(
            o.vpo_profit_cny, [o.vpp_cost_cny[n] for n in names], o.system_cost_cny,
            m1.vpo_profit_cny, m1.system_cost_cny,
            t.vpo_profit_pessimistic_cny if t is not None else None) + " |")
    tot = horizon_totals(days)
    pess = (sum(h.result.ties.vpo_profit_pessimistic_cny for h in days if h.result.ties)
            if has_ties else None)
    lines.append("| total | " + cells(
        tot["vpo_profit_cny"], [tot["vpp_cost_cny"][n] for n in names], tot["system_cost_cny"],
        tot["model1_vpo_profit_cny"], tot["model1_system_cost_cny"], pess) + " |")
    soc = soc_table(days)
    if len(soc):
        lines += ["", "## State of charge at each day's start and end (kWh)", "",
                  "| unit | day | start | end |", "|---|---:|---:|---:|"]
        ends = soc.groupby(["unit", "day"], sort=False)["soc_kwh"].agg(["first", "last"])
        lines += [f"| {u} | {d} | {v['first']:,.2f} | {v['last']:,.2f} |"
                  for (u, d), v in ends.iterrows()]
    lines += ["", "## Figures", "", *[f"![{Path(f).stem}](figures/{f})" for f in figures], ""]
    return "\n".join(lines)


def write_game_days_results(days: list[HorizonDay], out: Path | ResultFolder,
                            scenario_name: str, seed: int | None) -> Path:
    """Write the horizon's result folder (see the module docstring) and return its path."""
    if not days:
        raise ValueError("write_game_days_results: expected at least one solved day")
    with result_folder(out) as work:
        summary = horizon_summary(days, scenario_name, seed)
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        days_table(days).to_csv(work / "days.csv", index=False)
        prices_table(days).to_csv(work / "prices.csv", index=False)
        soc_table(days).to_csv(work / "soc.csv", index=False)
        figures = horizon_figures(days, work / "figures")
        (work / "report.md").write_text(_report(days, scenario_name, figures), encoding="utf-8")
    return output_path(out)
