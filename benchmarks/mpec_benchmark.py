"""Benchmark of the exact ``vpo_profit`` MPEC (``vppsim.market.mpec``) on the shipped days.

    python benchmarks/mpec_benchmark.py                # both scenarios, 3 repeats per variant
    python benchmarks/mpec_benchmark.py --repeats 1 --scenarios liu2025_3vpp.yaml
    python benchmarks/mpec_benchmark.py --quick        # 3-VPP day, default variant, 1 repeat

For every scenario and variant (the default; the auxiliary bound LPs in 2 threads; without the
warm start from the tariff passed through; the tighter big-Ms from the follower's McCormick
relaxation instead of its value at the extreme prices; and with the McCormick envelope rows in
the MILP as well, the default until 2026-12-07) it solves the MPEC ``--repeats`` times and
prints the binaries, the big-M source,
the time to the proven optimum (auxiliary bound LPs + branch and cut; wall and CPU, min /
median / max over the repeats), the proven gap, the objective, the leader's profit with ties
broken for it at the MPEC's prices (``optimistic_profit``, independent of the KKT
formulation), and the reference value of issue 12 (a separately written MPEC). The machine may
be shared: CPU time is less sensitive to other load than wall time. The table is also written
to ``benchmarks/results/mpec.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _bench import add_quick, table_path, write_table

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.mpec import solve_vpo_profit_mpec
from vppsim.model import VPPModel
from vppsim.paths import data_dir
from vppsim.scenario.loader import load_scenario

HERE = Path(__file__).resolve().parent

#: The leader's optimum from a separately written MPEC (issue 12), CNY.
REFERENCE_CNY = {"liu2025_3vpp": 256.4900, "liu2025_6vpp": 274.1929}

#: label -> keyword arguments of solve_vpo_profit_mpec
VARIANTS: dict[str, dict] = {
    "default (warm start)": {},
    "bound LPs in 2 threads": {"bound_lp_threads": 2},
    "no warm start": {"start_prices": ()},
    "McCormick value bound": {"value_bound": "mccormick"},
    "McCormick value bound and envelope rows": {"value_bound": "mccormick",
                                                "envelope_rows": True},
}
#: the ``value_bound`` of a variant -> the big-M source printed in the table
BIG_M_SOURCES = {"extreme-prices": "auxiliary LPs, value at extreme prices",
                 "mccormick": "auxiliary LPs, McCormick value bound"}


def _market(scenario: str) -> tuple[str, DayAheadMarket]:
    loaded = load_scenario(data_dir("scenarios") / scenario)
    return loaded.scenario.name, VPPModel(loaded).day_ahead_market(0)


def _spread(values: list[float]) -> str:
    v = np.asarray(values)
    return f"{np.min(v):.2f} / {np.median(v):.2f} / {np.max(v):.2f}"


def run(scenarios: list[str], variants: list[str], repeats: int,
        time_limit_s: float) -> str:
    """Solve every scenario with every variant ``repeats`` times; return the markdown report."""
    lines = [
        "# MPEC benchmark (`vpo_profit`, exact)",
        "",
        f"{repeats} repeat(s) per row; times are min / median / max over the repeats, in s, "
        "from the start of the auxiliary bound LPs to HiGHS' proven optimum (the branch and cut "
        "in one thread; the bound LPs too, unless the variant says otherwise). "
        "`optimistic` is the leader's profit with the followers' ties broken for it at the "
        "MPEC's prices (an LP over the VPPs' optimal faces, independent of the KKT "
        "formulation); `reference` is the separately written MPEC of issue 12. Other load "
        "on the machine shows as wall time above CPU time.",
        "",
        "| scenario | variant | binaries | big-M source | wall s | CPU s | bound LPs s | "
        "MILP s | proven | gap | objective | optimistic | reference |",
        "|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        name, market = _market(scenario)
        for label in variants:
            kwargs = VARIANTS[label]
            source = BIG_M_SOURCES[kwargs.get("value_bound", "extreme-prices")]
            wall, cpu, bounds, milp, last = [], [], [], [], None
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                last = solve_vpo_profit_mpec(market, time_limit_s=time_limit_s, **kwargs)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                bounds.append(last.bounds_time_s)
                milp.append(last.solve_time_s)
            assert last is not None
            row = (f"| {name} | {label} | {last.n_binaries} | {source} | {_spread(wall)} | "
                   f"{_spread(cpu)} | {_spread(bounds)} | {_spread(milp)} | "
                   f"{last.proven_optimal} | {last.mip_gap:.1e} | {last.objective_cny:.4f} | "
                   f"{last.objective_optimistic_cny:.4f} | "
                   f"{REFERENCE_CNY.get(name, float('nan')):.4f} |")
            print(row, flush=True)
            lines.append(row)
    return "\n".join(lines)


def main() -> None:
    """Command-line entry."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scenarios", default="liu2025_3vpp.yaml,liu2025_6vpp.yaml")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--time-limit", type=float, default=600.0)
    p.add_argument("--out", type=Path, default=None,
                   help="default: benchmarks/results/mpec.md (with --quick: not written)")
    add_quick(p, "the 3-VPP day, the default variant, 1 repeat")
    a = p.parse_args()
    if a.quick:
        a.repeats, a.scenarios, a.variants = 1, "liu2025_3vpp.yaml", next(iter(VARIANTS))
    report = run(a.scenarios.split(","), a.variants.split(","), a.repeats, a.time_limit)
    write_table(report + "\n", table_path(a.quick, "mpec.md", a.out))


if __name__ == "__main__":
    main()
