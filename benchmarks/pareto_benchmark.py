"""Loss-aware dispatch fronts (paper 000): the SLP weighted-sum sweep against pymoo's NSGA-II.

Run from the repository root: ``python benchmarks/pareto_benchmark.py``. Prints a Markdown
table and writes ``benchmarks/results/pareto.md``: for the default scenario's day, the SLP
front (16 loss weights) and NSGA-II at three budgets (population x generations), each with its
wall time, its number of non-dominated points and NSGA-II's distance to the SLP front (mean
and max, in (losses, cost) normalized by the SLP front's ranges; 0 = on the front).
``--quick``: 4 loss weights and NSGA-II at 10 x 10 only (printed, not written).
"""

from __future__ import annotations

import argparse
import platform
import time

from _bench import add_quick, progress, table_path, write_table

from vppsim.market.pareto import front_distance, non_dominated, nsga2_front, weighted_sum_front
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario

BUDGETS = ((20, 20), (40, 60), (100, 200))


def main() -> None:
    """Run the comparison and print / write the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick(ap, "4 loss weights, NSGA-II at 10 x 10 only")
    args = ap.parse_args()
    weights, budgets = (4, ((10, 10),)) if args.quick else (16, BUDGETS)
    model = VPPModel(load_scenario(default_scenario_path()))
    market, grid = model.day_ahead_market(0), model.dispatch_grid()
    start = time.perf_counter()
    points, dispatches = weighted_sum_front(market, grid, weights)
    slp_s = time.perf_counter() - start
    front = non_dominated(points)
    blind = points[0]
    least = min(points, key=lambda p: (p.losses_kwh, p.system_cost_cny))
    cpu = platform.processor() or platform.machine()
    lines = [f"# Loss-aware dispatch front, {model.scenario.name} day 0 ({cpu})",
             "", "| method | budget | wall (s) | non-dominated points | distance mean | distance max "
             "| least losses (kWh) | least cost (CNY) |", "|---|---|---:|---:|---:|---:|---:|---:|",
             f"| SLP weighted sum | {weights} weights, {sum(d.iterations for d in dispatches)} LPs | "
             f"{slp_s:.1f} | {len(front)} | 0 | 0 | {least.losses_kwh:.2f} | "
             f"{min(p.system_cost_cny for p in points):,.2f} |"]
    for pop, gens in progress(budgets, "NSGA-II budgets"):
        nsga, wall = nsga2_front(market, grid, population=pop, generations=gens, seed=0)
        mean, worst = front_distance(nsga, front)
        lines.append(f"| NSGA-II | {pop} x {gens} | {wall:.1f} | {len(nsga)} | {mean:.3g} | "
                     f"{worst:.3g} | {min(p.losses_kwh for p in nsga):.2f} | "
                     f"{min(p.system_cost_cny for p in nsga):,.2f} |")
        print(lines[-1], flush=True)
    lines += ["", f"Loss-blind: {blind.losses_kwh:.2f} kWh ({blind.losses_pct:.3f} %), "
              f"{blind.system_cost_cny:,.2f} CNY; least losses: {least.losses_kwh:.2f} kWh "
              f"({least.losses_pct:.3f} %), {least.system_cost_cny:,.2f} CNY.", ""]
    text = "\n".join(lines)
    print(text)
    write_table(text, table_path(args.quick, "pareto.md"))


if __name__ == "__main__":
    main()
