"""Result folder of ``vppsim game``: prices, schedules, certificate, convergence, figures.

Files (written to ``DIR.incomplete`` and renamed when complete, like a run's folder):
``summary.json``, ``prices.csv``, ``schedules.parquet`` (one row per VPP and period),
``convergence.csv``, ``report.md`` and ``figures/*.png`` (paper 004 Fig. 4, 5, 6 and 9 styles);
with ``--compare``, ``comparison.md``: Model 1 vs Model 2 in the style of paper 004 Table 4.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim import __version__
from vppsim.market.game import GameResult
from vppsim.market.incentive import EpsilonIncentive
from vppsim.market.outcome import GameOutcome
from vppsim.market.ties import TieEnds
from vppsim.results.folders import ResultFolder, output_path, result_folder
from vppsim.results.format import json_ready, number
from vppsim.results.plotting import pyplot, tariff_and_prices

TABLE4_MODEL1 = {"VPP1": 4681.06, "VPP2": 4035.85, "VPP3": 4571.28, "total": 13288.20}
TABLE4_MODEL2 = {"VPP1": 4892.83, "VPP2": 4251.40, "VPP3": 4435.56, "total": 13579.79,
                 "vpo_benefit": 1300.84}


def _curtailment_kwh(o: GameOutcome, dt_h: float) -> float:
    return float(sum((s.wind_curtail_kw.sum() + s.pv_curtail_kw.sum()) for s in o.schedules)) * dt_h


def schedules_table(o: GameOutcome, dt_h: float) -> pd.DataFrame:
    """One tidy row per (VPP, period) of the outcome's day-ahead schedules."""
    rows = []
    for s in o.schedules:
        for t in range(len(s.buy_kw)):
            rows.append({
                "vpp": s.name, "step": t, "time_h": t * dt_h,
                "buy_kw": s.buy_kw[t], "sell_kw": s.sell_kw[t],
                "charge_kw": float(s.charge_kw[:, t].sum()),
                "discharge_kw": float(s.discharge_kw[:, t].sum()),
                "soc_kwh": float(s.soc_kwh[:, t + 1].sum()),
                "wind_curtail_kw": s.wind_curtail_kw[t], "pv_curtail_kw": s.pv_curtail_kw[t],
                "gen_kw": float(s.gen_kw[:, t].sum()), "unmet_kw": s.unmet_kw[t],
            })
    return pd.DataFrame(rows)


def vpo_profit_per_step(o: GameOutcome, pi_imp: np.ndarray, pi_exp: np.ndarray,
                        dt_h: float) -> np.ndarray:
    """VPO profit in each period (paper 004 Fig. 6), CNY."""
    g = np.sum([s.buy_kw for s in o.schedules], axis=0)
    e = np.sum([s.sell_kw for s in o.schedules], axis=0)
    net = e - g
    x, m = np.maximum(net, 0), np.maximum(-net, 0)
    return dt_h * (o.c_sell_cny_per_kwh * g - o.c_buy_cny_per_kwh * e + pi_exp * x - pi_imp * m)


def game_summary(res: GameResult, scenario_name: str, pi_imp: np.ndarray, pi_exp: np.ndarray,
                 dt_h: float) -> dict[str, Any]:
    """``summary.json`` of a game: outcome, Model 1, certificate, reference, solver figures."""
    def block(o: GameOutcome) -> dict[str, Any]:
        return {
            "vpp_cost_cny": o.vpp_cost_cny,
            "total_vpp_cost_cny": o.total_vpp_cost_cny,
            "vpo_profit_cny": o.vpo_profit_cny,
            "system_cost_cny": o.system_cost_cny,
            "curtailment_kwh": _curtailment_kwh(o, dt_h),
            "vpo_buys_from_vpps_kwh": float(sum(s.sell_kw.sum() for s in o.schedules)) * dt_h,
            "vpo_sells_to_vpps_kwh": float(sum(s.buy_kw.sum() for s in o.schedules)) * dt_h,
        }

    conv = res.convergence
    return json_ready({
        "scenario": scenario_name,
        "vppsim_version": __version__,
        "seed": res.seed,
        "objective": res.objective,
        "solver": res.solver,
        "selected_from": res.selected_from,
        "selection_rule": res.selection,
        "model2": {**block(res.outcome), **tie_block(res.ties)},
        "model1": {**block(res.model1), **tie_block(res.model1_ties)},
        "epsilon_incentive": res.incentive.to_dict() if res.incentive is not None else None,
        "c_sell_cny_per_kwh": res.outcome.c_sell_cny_per_kwh.tolist(),
        "c_buy_cny_per_kwh": res.outcome.c_buy_cny_per_kwh.tolist(),
        "equilibrium_certificate": res.certificate.to_dict(),
        "reference": ({k: v for k, v in res.reference.to_dict().items()
                       if k not in ("c_sell", "c_buy", "dual_price_cny_per_kwh")}
                      if res.reference is not None else {}),
        "iterations": conv.iterations if conv is not None else None,
        "evaluations": conv.evaluations if conv is not None else None,
        "stop": res.stop,
        "iterations_to_0.1pct": conv.iterations_to_within(1e-3) if conv is not None else None,
        "lower_level_solves": res.lower_level_solves,
        "wall_time_s": res.wall_s,
    })


def tie_block(ends: TieEnds | None) -> dict[str, Any]:
    """Both ends of the VPPs' ties as summary keys (empty if they were not computed)."""
    if ends is None:
        return {}
    return {"vpo_profit_optimistic_cny": ends.vpo_profit_optimistic_cny,
            "vpo_profit_pessimistic_cny": ends.vpo_profit_pessimistic_cny,
            "system_cost_optimistic_cny": ends.system_cost_optimistic_cny,
            "system_cost_pessimistic_cny": ends.system_cost_pessimistic_cny,
            **({"tie_storage_rule": ends.storage_rule} if ends.storage_rule else {})}


def tie_lines(res: GameResult) -> list[str]:
    """Markdown: the selection rule and both ends of the ties for Model 2 and Model 1."""
    lines = [f"Selection among equal-objective outcomes: {res.selection}.", ""]
    rows = [(label, e) for label, e in (("Model 2", res.ties), ("Model 1", res.model1_ties))
            if e is not None]
    if not rows:
        return [*lines, "Tie ends not computed.", ""]
    lines += ["| prices | VPO profit, optimistic | VPO profit, pessimistic | system cost, "
              "optimistic | system cost, pessimistic |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {label} | {e.vpo_profit_optimistic_cny:,.2f} | "
              f"{e.vpo_profit_pessimistic_cny:,.2f} | {e.system_cost_optimistic_cny:,.2f} | "
              f"{e.system_cost_pessimistic_cny:,.2f} |" for label, e in rows]
    lines += ["", "Optimistic: every VPP breaks its ties (equal-cost schedules) in the VPO's "
              "favour; pessimistic: against it (docs/design.md)."]
    rule = next((e.storage_rule for _, e in rows if e.storage_rule), None)
    if rule:
        lines.append(f"Pessimistic end: {rule}.")
    return [*lines, "", *incentive_lines(res.incentive)]


def incentive_lines(inc: EpsilonIncentive | None) -> list[str]:
    """Markdown: the epsilon-incentive at the outcome's prices (empty if not computed)."""
    if inc is None:
        return []
    state = ("removes the tie gap" if inc.closed
             else f"leaves a tie gap of {inc.tie_gap_cny:,.2f} CNY that no share on the grid closes")
    return [
        "Epsilon-incentive (docs/design.md): the VPO gives the VPPs a share "
        f"epsilon = {inc.epsilon:.3g} of its margin (prices move by at most "
        f"{inc.max_price_shift_cny_per_kwh:.3g} CNY/kWh), which {state}.", "",
        "| VPO profit | CNY |", "|---|---:|",
        f"| intended (optimistic end) | {inc.vpo_profit_intended_cny:,.2f} |",
        f"| pessimistic end, unchanged prices | {inc.vpo_profit_pessimistic_cny:,.2f} |",
        f"| guaranteed with the incentive (robust) | {inc.vpo_profit_robust_cny:,.2f} |",
        f"| cost of the incentive (intended - robust) | {inc.cost_cny:,.2f} |", "",
    ]


def certificate_lines(c: dict[str, Any]) -> list[str]:
    """An equilibrium certificate (``Certificate.to_dict()``) as Markdown: regrets and epsilon."""
    sci = functools.partial(number, spec=".3e")
    lines = ["| player | regret (CNY) | relative |", "|---|---:|---:|"]
    lines += [f"| {k} | {sci(v)} | {sci(c['vpp_regret_rel'].get(k))} |"
              for k, v in c["vpp_regret_cny"].items()]
    if c.get("reference_status") == "not applicable":
        lines.append(f"| VPO | not applicable ({c['reference']}: the LP-based exact references "
                     "do not hold) | n/a |")
    elif c.get("vpo_regret_cny") is None:
        lines.append("| VPO | n/a (no exact reference computed) | n/a |")
    else:
        lines.append(f"| VPO vs {c['reference']} | {sci(c['vpo_regret_cny'])} | "
                     f"{sci(c['vpo_regret_rel'])} |")
    ref = c.get("reference_objective_cny")
    lines += ["", f"epsilon = {sci(c['epsilon_cny'])} CNY ({sci(c['epsilon_rel'])} relative), "
              "the largest regret"
              + (f"; reference {c['reference']} = {number(ref)} CNY." if ref is not None else ".")]
    return lines


def _figures(res: GameResult, folder: Path, pi_imp: np.ndarray, pi_exp: np.ndarray, dt_h: float,
             others: dict[str, GameResult]) -> list[str]:
    plt = pyplot()

    folder.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    o = res.outcome
    T = len(pi_imp)
    t = np.arange(T + 1) * dt_h

    def ext(v: np.ndarray) -> np.ndarray:
        return np.append(v, v[-1])

    fig, ax = plt.subplots(figsize=(8, 4))
    tariff_and_prices(ax, t, ext(pi_imp), ext(pi_exp), ext(o.c_sell_cny_per_kwh),
                      ext(o.c_buy_cny_per_kwh))
    ax.set(xlabel="time (h)", ylabel="CNY/kWh", title=f"Internal prices ({res.solver}, "
           f"{res.objective}) and grid tariff")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "prices.png", dpi=110)
    plt.close(fig)
    out.append("prices.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    width = dt_h / (len(o.schedules) + 1)
    for i, s in enumerate(o.schedules):
        x = np.arange(T) * dt_h + i * width
        ax.bar(x, s.buy_kw, width=width, color=f"C{i}", label=f"{s.name} buys")
        ax.bar(x, -s.sell_kw, width=width, color=f"C{i}", alpha=0.5, label=f"{s.name} sells")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="time (h)", ylabel="kW", title="Purchases from (+) and sales to (-) the VPO")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(folder / "exchange.png", dpi=110)
    plt.close(fig)
    out.append("exchange.png")

    fig, ax = plt.subplots(figsize=(8, 3.5))
    p2 = vpo_profit_per_step(o, pi_imp, pi_exp, dt_h)
    p1 = vpo_profit_per_step(res.model1, pi_imp, pi_exp, dt_h)
    ax.bar(np.arange(T) * dt_h, p2, width=dt_h * 0.45, align="edge", color="C2", label="Model 2")
    ax.bar(np.arange(T) * dt_h + dt_h * 0.45, p1, width=dt_h * 0.45, align="edge", color="0.6",
           label="Model 1 (passthrough)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="time (h)", ylabel="CNY", title="VPO profit per hour")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "vpo_profit.png", dpi=110)
    plt.close(fig)
    out.append("vpo_profit.png")

    runs = {res.solver: res, **others}
    curves = {k: r.convergence for k, r in runs.items() if r.convergence is not None}
    if curves:
        fig, ax = plt.subplots(figsize=(8, 4))
        for k, c in curves.items():
            sign = 1.0 if res.objective == "system_cost" else -1.0
            ax.plot(np.arange(len(c.history)), sign * c.history, label=k)
        ref = res.reference
        if ref is not None:
            ax.axhline(ref.value_cny, color="k", ls="--", lw=0.8, label=ref.name)
        ax.set(xlabel="iteration", ylabel="system cost (CNY)" if res.objective == "system_cost"
               else "VPO profit (CNY)", title="Convergence (best so far)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "convergence.png", dpi=110)
        plt.close(fig)
        out.append("convergence.png")
    return out


def comparison_markdown(res: GameResult, dt_h: float) -> str:
    """Model 1 vs Model 2 in the style of paper 004 Table 4, beside the paper's numbers."""
    m1, m2 = res.model1, res.outcome
    names = list(m2.vpp_cost_cny)
    lines = [
        "# Model 1 (tariff passed through) vs Model 2 (bi-level game)",
        "",
        f"Solver `{res.solver}`, objective `{res.objective}`, seed {res.seed}. Costs in CNY for "
        "the day-ahead schedules (forecasts, no forecast error).",
        "",
        "| | " + " | ".join(names) + " | total | VPO benefit | system cost | curtailment (kWh) |",
        "|---|" + "---:|" * (len(names) + 4),
    ]
    for label, o in (("Model 1", m1), ("Model 2", m2)):
        lines.append(f"| {label} | " + " | ".join(f"{o.vpp_cost_cny[n]:,.2f}" for n in names)
                     + f" | {o.total_vpp_cost_cny:,.2f} | {o.vpo_profit_cny:,.2f} | "
                     f"{o.system_cost_cny:,.2f} | {_curtailment_kwh(o, dt_h):,.2f} |")
    if names == ["VPP1", "VPP2", "VPP3"]:
        p1, p2 = TABLE4_MODEL1, TABLE4_MODEL2
        lines.append("| paper Model 1 | " + " | ".join(f"{p1[n]:,.2f}" for n in names)
                     + f" | {p1['total']:,.2f} | n/a | n/a | n/a |")
        lines.append("| paper Model 2 | " + " | ".join(f"{p2[n]:,.2f}" for n in names)
                     + f" | {p2['total']:,.2f} | {p2['vpo_benefit']:,.2f} | "
                     f"{p2['total'] - p2['vpo_benefit']:,.2f} | n/a |")
    d_total = m2.total_vpp_cost_cny - m1.total_vpp_cost_cny
    d_curt = _curtailment_kwh(m2, dt_h) - _curtailment_kwh(m1, dt_h)
    d_sys = m2.system_cost_cny - m1.system_cost_cny
    holds = {
        "VPO benefit positive under Model 2 (paper: 1,300.84 CNY)":
            (m2.vpo_profit_cny > 0, f"{m2.vpo_profit_cny:,.2f} CNY"),
        "curtailment lower under Model 2 (paper section 4.3.1)":
            (d_curt < -1e-6, f"change {d_curt:+,.2f} kWh"),
        "total VPP cost higher under Model 2 (paper: +291.59 CNY)":
            (d_total > 0, f"change {d_total:+,.2f} CNY"),
        "fitness (system cost) lower under Model 2 (paper: 12,278.9 vs Model 1)":
            (d_sys < -1e-6, f"change {d_sys:+,.2f} CNY"),
    }
    lines += ["", "## Paper 004's qualitative findings, here", ""]
    for text, (ok, figure) in holds.items():
        lines.append(f"- {'holds' if ok else 'does not hold'}: {text}; here {figure}.")
    lines += [
        "",
        "The paper's absolute figures come from unpublished profiles and cost coefficients; this "
        "scenario's are synthesized and assumed (see the scenario file), so only the signs of "
        "the changes are comparable.",
        "",
    ]
    return "\n".join(lines)


def write_game_results(
    res: GameResult,
    out: Path | ResultFolder,
    scenario_name: str,
    pi_imp: np.ndarray,
    pi_exp: np.ndarray,
    dt_h: float,
    others: dict[str, GameResult] | None = None,
    compare: bool = False,
) -> Path:
    """Write the game's result folder and return its path."""
    others = others or {}
    with result_folder(out) as work:
        summary = game_summary(res, scenario_name, pi_imp, pi_exp, dt_h)
        if others:
            summary["other_solvers"] = {
                k: json_ready({"objective_value": r.outcome.objective_value(r.objective),
                           "vpo_profit_cny": r.outcome.vpo_profit_cny,
                           "vpp_cost_cny": r.outcome.vpp_cost_cny,
                           "selection_rule": r.selection, **tie_block(r.ties),
                           "iterations": r.convergence.iterations if r.convergence else None,
                           "wall_s": r.wall_s["search"]})
                for k, r in others.items()
            }
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        pd.DataFrame({
            "step": np.arange(len(pi_imp)), "time_h": np.arange(len(pi_imp)) * dt_h,
            "c_sell_cny_per_kwh": res.outcome.c_sell_cny_per_kwh,
            "c_buy_cny_per_kwh": res.outcome.c_buy_cny_per_kwh,
            "pi_imp_cny_per_kwh": pi_imp, "pi_exp_cny_per_kwh": pi_exp,
            "vpo_profit_cny": vpo_profit_per_step(res.outcome, pi_imp, pi_exp, dt_h),
        }).to_csv(work / "prices.csv", index=False)
        schedules_table(res.outcome, dt_h).to_parquet(work / "schedules.parquet", index=False)
        if res.convergence is not None:
            pd.DataFrame({"iteration": np.arange(len(res.convergence.history)),
                          "best_objective": res.convergence.history}).to_csv(
                work / "convergence.csv", index=False)
        figures = _figures(res, work / "figures", pi_imp, pi_exp, dt_h, others)
        comparison = comparison_markdown(res, dt_h)
        if compare:
            (work / "comparison.md").write_text(comparison, encoding="utf-8")
        report = [
            f"# {scenario_name}: day-ahead bi-level game",
            "",
            f"Solver `{res.solver}`, objective `{res.objective}`, seed {res.seed}, "
            f"{summary['lower_level_solves']} exact lower-level LP solves, "
            f"{res.wall_s['total']:.2f} s.",
            "",
            "## Outcome selection and tie ends",
            "",
            *tie_lines(res),
            "## Equilibrium certificate",
            "",
            *certificate_lines(summary["equilibrium_certificate"]),
            "",
            comparison.replace("# Model 1", "## Model 1", 1),
            "## Figures",
            "",
            *[f"![{Path(f).stem}](figures/{f})" for f in figures],
            "",
        ]
        (work / "report.md").write_text("\n".join(report), encoding="utf-8")
    return output_path(out)
