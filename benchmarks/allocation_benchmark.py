"""GA-ACO balanced allocation (paper 001) against the exact LP: quality, time per run, batched throughput.

Run from the repository root: ``python benchmarks/allocation_benchmark.py``. Prints a Markdown
report and writes ``benchmarks/results/allocation.md``; ``--quick``: 3 runs per row, the front
at 6 weights over 2 seeds, B = 1 and 100 only (a few seconds; printed only).

- Paper case (``scenarios/allocation_ieee12.yaml``) at 55 and 258 MW: 14 runs (seeds 0-13),
  each solved alone; objective, gap to the LP optimum, time per run. The 55 MW optimum is 0
  (every fitness can be equal), so gaps are normalized by the total fitness at the optimum
  (``sum_k f_k``), not by the optimum itself.
- The same 55 MW runs with the plain Euclidean projection as repair (``repair_metric=
  "euclidean"``) instead of the default fitness-metric projection, to show what the repair
  contributes.
- Call cost vs balance (issue 14): the exact front at 55 MW (21 weights) and GA-ACO at the same
  weights over 14 seeds; gap per weight in % of the exact weighted objective and time.
- Batched throughput: ``B`` = 1, 100, 1000 random problems of 3-8 resources (padded to 8)
  in one call; problems per second and the gap distribution against the LP.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from _bench import add_quick, progress, table_path, write_table

from vppsim.allocation import AllocationProblem, solve_ga_aco
from vppsim.allocation.exact import solve_exact
from vppsim.allocation.pareto import gaaco_points, pareto_front
from vppsim.allocation.scenario import load_allocation_case
from vppsim.optimizers.gaaco import GaAcoSettings
from vppsim.paths import data_dir

RUNS = 14


def paper_runs(demand: float, metric: str = "fitness", runs: int = RUNS) -> dict:
    case = load_allocation_case(data_dir("scenarios") / "allocation_ieee12.yaml")
    base = case.problem([demand])
    problem = AllocationProblem(base.cap, base.cost, base.demand, base.fitness_form, metric)
    exact = solve_exact(problem)
    lp = float(exact.objective[0])
    norm = max(abs(lp), float(problem.total_fitness(exact.allocation)[0]))
    objs, times, allocs = [], [], []
    for seed in range(runs):
        t0 = time.perf_counter()
        res = solve_ga_aco(problem, seed)
        times.append(time.perf_counter() - t0)
        objs.append(float(res.objective[0]))
        allocs.append(res.allocation[0])
    objs_a, times_a = np.array(objs), np.array(times)
    gaps = (objs_a - lp) / norm
    return {
        "demand": demand, "metric": metric, "lp": lp, "norm": norm, "objs": objs_a, "gaps": gaps,
        "times": times_a, "median_alloc": np.median(np.array(allocs), axis=0),
        "lp_alloc": exact.allocation[0],
        "names": case.names, "paper": case.paper(demand),
        "balance": float(np.max(np.abs(np.array(allocs).sum(axis=1) - problem.target[0]))),
    }


def random_problems(n: int, seed: int) -> AllocationProblem:
    rng = np.random.default_rng(seed)
    cap = np.zeros((n, 8))
    cost = np.ones((n, 8))
    for b in range(n):
        k = int(rng.integers(3, 9))
        cap[b, :k] = rng.uniform(10.0, 500.0, k)
        cost[b, :k] = rng.uniform(0.5, 2.0, k)
    demand = cap.sum(axis=1) * rng.uniform(0.05, 0.95, n)
    return AllocationProblem(cap, cost, demand)


def throughput(n: int) -> dict:
    problem = random_problems(n, seed=100 + n)
    solve_ga_aco(problem.subset(0), 0)  # warm-up
    t0 = time.perf_counter()
    res = solve_ga_aco(problem, np.arange(n))
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    exact = solve_exact(problem)
    lp_wall = time.perf_counter() - t1
    norm = np.maximum(exact.objective, problem.total_fitness(exact.allocation))
    gaps = (res.objective - exact.objective) / norm
    return {"n": n, "wall": wall, "rate": n / wall, "lp_wall": lp_wall, "gaps": gaps,
            "iters": float(np.mean(res.iterations)), "below": float(np.min(res.objective - exact.objective))}


def _worst(values: np.ndarray) -> str:
    return "-" if np.all(np.isnan(values)) else f"{np.nanmax(values):.2e}"


def front_table(points: int = 21, seeds: int = 14) -> list[str]:
    """The 55 MW front: exact weighted sum per weight, GA-ACO's gap over ``seeds`` seeds, time."""
    case = load_allocation_case(data_dir("scenarios") / "allocation_ieee12.yaml")
    t0 = time.perf_counter()
    f = pareto_front(case, 55.0, points=points, seed=0)
    total_s = time.perf_counter() - t0
    runs = [f.gaaco] + [gaaco_points(f.problem, f.sweep, f.normalization, 1000 * s,
                                          front=f.front) for s in range(1, seeds)]
    rel = np.array([g.gap_pct for g in runs])
    rng_ = np.array([g.gap_range_pct for g in runs])
    dist = np.array([g.front_distance_pct for g in runs])
    lines = ["## Call cost vs balance at 55 MW (exact front vs GA-ACO, issue 14)", "",
             f"Exact front: {len(f.front)} non-dominated points from {points} weights (LPs "
             f"{f.lp_time_ms:.0f} ms in all; whole front with GA-ACO and the paper's split "
             f"{total_s:.1f} s). GA-ACO: {seeds} seeds, one batched call of {points} weights each "
             f"(median {np.median([g.time_ms for g in runs]):.1f} ms per point).", "",
             "| weight | exact call cost | exact balance | exact J_w | GA-ACO gap median (% of J_w) | "
             "worst (% of J_w) | worst (% of range) | worst distance from the front (% of range) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    misses = off_front = 0
    for i, w in enumerate(f.weights):
        med = np.median(rel[:, i])
        lines.append(f"| {w:g} | {f.sweep.call_cost[i]:.4f} | {f.sweep.balance[i]:.4f} | "
                     f"{f.gaaco.exact_objective[i]:.4f} | {med:.2e} | {np.max(rel[:, i]):.2e} | "
                     f"{np.max(rng_[:, i]):.2e} | {_worst(dist[:, i])} |")
        misses += int(np.sum((rng_[:, i] > 0.1) | (rel[:, i] > 0.1)))
        # interior weights: distance from the front; end weights: the weighted-sum gap
        off_front += int(np.sum(dist[:, i] > 0.1) if 0.0 < w < 1.0 else np.sum(rng_[:, i] > 0.1))
    lines += ["", f"GA-ACO points more than 0.1 % from the exact weighted-sum optimum at their weight: "
              f"{misses} of {rel.size}; more than 0.1 % of the range from the exact front (at "
              f"the end weights, from the optimum at their weight): {off_front} of {rel.size}."]
    p = f.paper
    lines += ["", f"Paper's split (10 / 25 / 2 / 8 / 5 / 5 MW): call cost {p.call_cost:.2f}, balance "
              f"{p.balance:.4f}, {'dominated' if p.dominated else 'not dominated'}; nearest weighted-sum "
              f"optimum w={p.nearest_weights[0]:g}..{p.nearest_weights[1]:g}, "
              f"{p.nearest_weight_distance:.2f} MW away; nearest front point "
              f"{p.nearest_front_distance:.2f} MW.", ""]
    return lines


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick(ap, "3 runs per row, the front at 6 weights x 2 seeds, B = 1 and 100")
    args = ap.parse_args()
    runs_n = 3 if args.quick else RUNS
    s = GaAcoSettings()
    lines = ["# GA-ACO balanced allocation vs exact LP (paper 001)", ""]
    lines.append(f"Machine: {platform.machine()}, {platform.python_version()}, numpy {np.__version__}; "
                 "2 cores shared with other work, so times are indicative.")
    lines.append(f"Settings: population {s.population}, generations <= {s.generations} (patience "
                 f"{s.ga_patience}), ants {s.ants}, ACO iterations <= {s.iterations}, archive {s.archive}, "
                 f"q0 {s.q0}, local evaporation {s.local_evaporation}, reinforcement {s.reinforcement}.")
    lines.append("Gap = (GA-ACO objective - LP objective) / max(LP objective, total fitness at the LP "
                 "optimum); the 55 MW LP optimum is 0 (absolute gap, normalized).")
    lines.append("")
    lines.append(f"## Paper case, {runs_n} runs each (one problem per call)")
    lines.append("")
    lines.append("| demand (MW) | repair | LP objective | gap median | gap worst | time median (ms) | "
                 "time max (ms) | balance error (MW) |")
    lines.append("|---:|---|---:|---:|---:|---:|---:|---:|")
    cases = ((55.0, "fitness"), (258.0, "fitness"), (55.0, "euclidean"))
    runs = [paper_runs(d, m, runs_n) for d, m in progress(cases, "paper case rows")]
    for r in runs:
        lines.append(f"| {r['demand']:g} | {r['metric']} | {r['lp']:.4g} | {np.median(r['gaps']):.2e} | "
                     f"{np.max(r['gaps']):.2e} | {np.median(r['times']) * 1e3:.1f} | "
                     f"{np.max(r['times']) * 1e3:.1f} | {r['balance']:.1e} |")
    r55 = runs[0]
    lines.append("")
    lines.append("### 55 MW split (MW)")
    lines.append("")
    lines.append("| resource | GA-ACO median | exact LP | paper Table 3 |")
    lines.append("|---|---:|---:|---:|")
    for k, name in enumerate(r55["names"]):
        lines.append(f"| {name} | {r55['median_alloc'][k]:.3f} | {r55['lp_alloc'][k]:.3f} | "
                     f"{r55['paper'][k]:g} |")
    lines.append("")
    lines += front_table(6, 2) if args.quick else front_table()
    lines.append("## Batched throughput (random problems, 3-8 resources, one call)")
    lines.append("")
    lines.append("| B | GA-ACO wall (s) | problems / s | mean iterations | gap median | gap p90 | gap max | "
                 "LP wall (s, HiGHS one by one) |")
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in progress((1, 100) if args.quick else (1, 100, 1000), "batched throughput"):
        t = throughput(n)
        lines.append(f"| {n} | {t['wall']:.3f} | {t['rate']:.0f} | {t['iters']:.0f} | "
                     f"{np.median(t['gaps']):.1e} | {np.quantile(t['gaps'], 0.9):.1e} | "
                     f"{np.max(t['gaps']):.1e} | "
                     f"{t['lp_wall']:.3f} |")
        assert t["below"] >= -1e-9
    text = "\n".join(lines) + "\n"
    write_table(text, table_path(args.quick, "allocation.md"))
    return text


if __name__ == "__main__":
    print(main())
