"""Scaling of the unit commitment (paper 003, Tables 7-9): exact MILP vs ELM-GA, 10 to 60 units.

    python benchmarks/uc_benchmark.py                       # paper's sizes, 5 seeds
    python benchmarks/uc_benchmark.py --sizes 10 20 60 --seeds 3 --budget 1000
    python benchmarks/uc_benchmark.py --quick                 # 10 units, 1 seed, budget 200

For every size (``--units N``: the shipped portfolio of ``scenarios/uc_ieee24.yaml`` replicated,
demand scaled) it solves the MILP with HiGHS to ``--gap`` (proven gap, wall time) and runs
ELM-GA with ``--seeds`` seeds: with the LP-relaxation starts (the default of ``vppsim uc``) and,
with ``--black-box-seeds`` seeds, from the price-based starts only. It prints one table with the
paper's figures beside ours (the paper's objective is in "million" of its currency, a different
portfolio; compare times, gaps and trends, not levels), checks every schedule with the
independent checker, and writes ``benchmarks/results/uc.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml
from _bench import add_quick, table_path, write_table

from vppsim.results.uc import violations
from vppsim.uc.heuristic import solve_uc_elm_ga
from vppsim.uc.portfolio import with_units
from vppsim.uc.solve import solve_uc
from vppsim.uc.spec import load_uc_case

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAPER_SIZES = (10, 12, 14, 16, 18, 20, 24, 28, 32, 36, 42, 50, 60)


def paper_table() -> dict[int, list]:
    """Paper 003's Tables 7-9: units -> [MILP s, ELM-GA s, MILP obj, ELM-GA obj, gap %]."""
    path = ROOT.parent / "shared" / "reference" / "paper_cases.yaml"
    if not path.is_file():  # outside this workspace the figures below are the paper's
        return {10: [0.129, 4.5, None, -1036, 45.1], 20: [0.42, 23, -2124.97, -2173, 2.3],
                42: [6, 840, -3227, -3886, 20.4], 50: [100, 3360, -4330, -4755, 10.3],
                60: [">172800", 10800, -5432, -5670, 4.4]}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {int(k): v for k, v in data["unit_commitment_003"]["scaling_tables_7_8_9"].items()}


def _gap_pct(milp: float, other: float) -> float:
    return 100.0 * (milp - other) / max(abs(milp), 1.0)


def run(sizes: list[int], seeds: int, black_box_seeds: int, budget: int, gap: float,
        time_limit: float) -> str:
    """Solve every size; return the Markdown table."""
    base = load_uc_case(ROOT / "scenarios" / "uc_ieee24.yaml")
    paper = paper_table()
    lines = [
        "# Unit commitment scaling: MILP vs ELM-GA (paper 003, Tables 7-9)", "",
        f"ELM-GA: {budget} evaluations per run, median over {seeds} seeds (LP-relaxation starts) "
        f"and {black_box_seeds} seed(s) as a black box (price-based starts only); gap = "
        "(MILP profit - ELM-GA profit) / |MILP profit|. Times on this machine (2 cores, one "
        "thread per solver). `checks` counts schedules failing the independent checker.", "",
        "| units | MILP s | MILP proven gap % | MILP profit CNY | ELM-GA s (median) | ELM-GA gap % "
        "(median, max) | start gap % | black-box gap % | black-box s | checks | paper MILP s | "
        "paper ELM-GA s | paper gap % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        case = with_units(base, n)
        milp = solve_uc(case, "vpp", time_limit, gap / 100.0)
        bad = int(bool(violations(milp)))
        gaps, times, starts = [], [], []
        for seed in range(seeds):
            t0 = time.perf_counter()
            h = solve_uc_elm_ga(case, "vpp", budget, seed)
            times.append(time.perf_counter() - t0)
            gaps.append(_gap_pct(milp.profit_cny, h.solution.profit_cny))
            starts.append(_gap_pct(milp.profit_cny, h.info["history_profit_cny"][0]))
            bad += int(bool(violations(h.solution)))
        bb_gaps, bb_times = [], []
        for seed in range(black_box_seeds):
            t0 = time.perf_counter()
            h = solve_uc_elm_ga(case, "vpp", budget, seed, starts="merit")
            bb_times.append(time.perf_counter() - t0)
            bb_gaps.append(_gap_pct(milp.profit_cny, h.solution.profit_cny))
            bad += int(bool(violations(h.solution)))
        p = paper.get(n, [None] * 5)
        bb = f"{np.median(bb_gaps):.3f}" if bb_gaps else "-"
        bbt = f"{np.median(bb_times):.1f}" if bb_times else "-"
        lines.append(
            f"| {n} | {milp.wall_s:.1f} | {100 * milp.gap:.3f} | {milp.profit_cny:,.0f} | "
            f"{np.median(times):.1f} | {np.median(gaps):.3f}, {np.max(gaps):.3f} | "
            f"{np.median(starts):.3f} | {bb} | {bbt} | {bad} | {p[0] if p[0] is not None else '-'} | "
            f"{p[1] if p[1] is not None else '-'} | {p[4] if p[4] is not None else '-'} |")
        print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the options, run, print and write ``benchmarks/results/uc.md``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(PAPER_SIZES))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--black-box-seeds", type=int, default=1)
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--gap", type=float, default=0.1, help="MILP relative gap, percent")
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--out", type=Path, default=None,
                    help="default: benchmarks/results/uc.md (with --quick: not written)")
    add_quick(ap, "10 units, 1 seed, 1 black-box seed, budget 200")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.seeds, args.black_box_seeds, args.budget = [10], 1, 1, 200
    table = run(args.sizes, args.seeds, args.black_box_seeds, args.budget, args.gap,
                args.time_limit)
    print(table)
    write_table(table, table_path(args.quick, "uc.md", args.out))


if __name__ == "__main__":
    main()
