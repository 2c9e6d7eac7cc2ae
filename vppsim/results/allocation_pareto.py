"""The call-cost / balance front of ``vppsim allocate --pareto``: table, report lines, figure.

``pareto.parquet`` has one row per point: the exact front (``method = "exact"``, non-dominated,
sorted by call cost; ``source`` says which LP found it) and GA-ACO at every sweep weight
(``method = "ga-aco"``), with the weight, ``call_cost_<unit>``, ``balance`` (dimensionless for
``capacity_exponent = 1``), the normalized weighted objective, the GA-ACO gaps and the
allocation per resource (``<resource>_<unit>``). ``pareto.png`` draws the front.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vppsim.allocation.pareto import FrontPoints, ParetoFront
from vppsim.results.plotting import pyplot


def _rows(f: ParetoFront, pts: FrontPoints, method: str) -> list[dict]:
    u = f.case.unit.lower()
    rows = []
    for i in range(len(pts)):
        row = {"demand_" + u: f.demand, "method": method, "source": pts.source[i],
               "weight": float(pts.weight[i]), f"call_cost_{u}": float(pts.call_cost[i]),
               "balance": float(pts.balance[i])}
        row.update({f"{name}_{u}": float(pts.allocation[i, k]) for k, name in enumerate(f.case.names)})
        rows.append(row)
    return rows


def pareto_table(f: ParetoFront) -> pd.DataFrame:
    """``pareto.parquet``: the exact front, then GA-ACO per sweep weight."""
    n = f.normalization
    exact = pd.DataFrame(_rows(f, f.front, "exact"))
    w = exact["weight"].to_numpy()
    cn = (f.front.call_cost - n.cost_ideal) / n.cost_range
    bn = (f.front.balance - n.balance_ideal) / n.balance_range
    exact["objective_normalized"] = np.where(np.isnan(w), np.nan, w * cn + (1 - w) * bn)
    exact["exact_objective_normalized"] = exact["objective_normalized"]
    exact["gap_pct"] = np.nan
    exact["gap_range_pct"] = np.nan
    exact["front_distance_pct"] = 0.0
    g = f.gaaco
    ga = pd.DataFrame(_rows(f, g.points, "ga-aco"))
    ga["objective_normalized"] = g.objective
    ga["exact_objective_normalized"] = g.exact_objective
    ga["gap_pct"] = g.gap_pct
    ga["gap_range_pct"] = g.gap_range_pct
    ga["front_distance_pct"] = g.front_distance_pct
    return pd.concat([exact, ga], ignore_index=True)


def _paper_lines(f: ParetoFront) -> list[str]:
    p, u = f.paper, f.case.unit
    if p is None:
        return ["- the case has no published split for this demand"]
    split = " / ".join(f"{v:g}" for v in p.allocation)
    near = " / ".join(f"{v:.2f}" for v in p.nearest_weight_allocation)
    lo, hi = p.nearest_weights
    w_text = f"w={lo:g}" if lo == hi else f"w={lo:g}..{hi:g} (one optimum for all of them)"
    verdict = (f"weight {w_text} reproduces it" if p.reproduced else
               f"no weight reproduces it; nearest is {w_text}, distance "
               f"{p.nearest_weight_distance:.2f} {u} (Euclidean, allocation; {near} {u})")
    return [
        f"- paper's split {split} {u}: call cost {p.call_cost:.4f}, balance {p.balance:.4f}; "
        + ("dominated" if p.dominated else "not dominated")
        + f" (the front reaches balance {p.front_balance_at_cost:.4f} at its call cost and call cost "
        f"{p.front_cost_at_balance:.4f} at its balance)",
        f"- {verdict}; nearest point of the whole front {p.nearest_front_distance:.2f} {u} away "
        f"(weights scanned: 201 evenly in [0, 1])",
    ]


def render_pareto(f: ParetoFront) -> str:
    """Report lines (Markdown) of the front; also the console summary."""
    u, n = f.case.unit, f.normalization
    lines = [f"## {f.case.name}: call cost vs balance at {f.demand:g} {u} (paper 001's two objectives)", "",
             f"- call cost C = sum_k c_k P_k ({u} x relative coefficient); balance B = sum_k |f_k - mean f| "
             f"(f_k = c_k P_k / cap_k ** {f.problem.fitness_form.capacity_exponent:g})",
             f"- weighted objective J_w = w (C - {n.cost_ideal:.4f}) / {n.cost_range:.4f} + (1 - w) "
             f"(B - {n.balance_ideal:.3g}) / {n.balance_range:.4f} (ideal-nadir normalization)",
             f"- balance threshold {f.threshold:.4f} {u}: "
             + ("below it, the most balanced allocation is the closed form (B = 0)"
                if f.demand <= f.threshold else "above it, the least balance is > 0"),
             f"- exact front: {len(f.front)} non-dominated points ({len(f.weights)} weights, "
             f"lexicographic ends, epsilon-constraint fill), LPs {f.lp_time_ms:.0f} ms"]
    g = f.gaaco
    finite = g.gap_pct[np.isfinite(g.gap_pct)]
    worst_rel = f"{np.max(finite):.2e} %" if len(finite) else "-"
    lines.append(f"- GA-ACO at the {len(f.weights)} weights: worst gap {worst_rel} of the weighted "
                 f"objective, {np.max(g.gap_range_pct):.2e} % of its normalized range; largest "
                 f"distance from the exact front {np.nanmax(g.front_distance_pct):.2e} % of the range "
                 f"(inner weights); "
                 f"{g.time_ms:.1f} ms per point (one batched call)")
    lines += _paper_lines(f)
    lines += ["", "| source | weight | call cost | balance | " + " | ".join(f.case.names) + " |",
              "|---|---:|---:|---:|" + "---:|" * len(f.case.names)]
    for i in range(len(f.front)):
        w = f.front.weight[i]
        lines.append(f"| {f.front.source[i]} | {'-' if np.isnan(w) else f'{w:g}'} | "
                     f"{f.front.call_cost[i]:.4f} | {f.front.balance[i]:.4f} | "
                     + " | ".join(f"{v:.3f}" for v in f.front.allocation[i]) + " |")
    lines += ["", "| weight | exact J_w | GA-ACO J_w | gap (% of J_w) | gap (% of range) | "
              "distance from the front (% of range) |", "|---:|---:|---:|---:|---:|---:|"]
    for i, w in enumerate(f.weights):
        row = (f"| {w:g} | {g.exact_objective[i]:.6f} | {g.objective[i]:.6f} | {g.gap_pct[i]:.2e} | "
               f"{g.gap_range_pct[i]:.2e} | {g.front_distance_pct[i]:.2e} |")
        lines.append(row.replace("nan", "-"))
    return "\n".join(lines)


def pareto_figure(f: ParetoFront, path: Path) -> Path:
    """``pareto.png``: the exact front, its single-objective ends, GA-ACO and the paper's split."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(f.front.call_cost, f.front.balance, "-o", color="C0", ms=4, label="exact front (LP)")
    for i, (label, marker) in enumerate((("least call cost", "s"), ("least balance", "D"))):
        src = ("least cost", "least balance")[i]
        end = f.sweep.source.index(src)
        ax.plot(f.sweep.call_cost[end], f.sweep.balance[end], marker, color="C3", ms=9, mfc="none",
                label=label)
    ax.plot(f.gaaco.points.call_cost, f.gaaco.points.balance, "x", color="C1", ms=8,
            label="GA-ACO at the sweep weights")
    if f.paper is not None:
        ax.plot(f.paper.call_cost, f.paper.balance, "*", color="C2", ms=12, label="paper's split")
    u = f.case.unit
    ax.set(xlabel=f"call cost sum c_k P_k ({u} x coefficient)", ylabel="balance sum |f_k - mean f|",
           title=f"{f.case.name}: {f.demand:g} {u}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_pareto(f: ParetoFront, folder: Path, figures: bool = True) -> list[str]:
    """Write ``pareto.parquet`` (and ``pareto.png``) into ``folder``; returns the file names."""
    pareto_table(f).to_parquet(folder / "pareto.parquet", index=False)
    files = ["pareto.parquet"]
    if figures:
        pareto_figure(f, folder / "pareto.png")
        files.append("pareto.png")
    return files
