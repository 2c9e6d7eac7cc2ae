"""Prosumer self-scheduling (paper 002): parallel SA vs the exact MILP and its LP relaxation.

    python benchmarks/prosumer_benchmark.py            # full run (tens of minutes)
    python benchmarks/prosumer_benchmark.py --no-big   # without the 10,000-prosumer rows
    python benchmarks/prosumer_benchmark.py --quick    # 128 prosumers, 2 seeds, 8 stressed
    python benchmarks/prosumer_benchmark.py --rolling  # only the rolling-horizon table

Three tables, written to ``benchmarks/results/prosumers.md``:

1. **Flexibility value captured** (the lead): the share of the batteries' optimal value the
   SA captures (:func:`vppsim.prosumers.gaps.flexibility_captured`, battery owners only), for
   1,024 and 10,000 prosumers on the synthetic fleet (``synthetic_fleet(n, 7)``, its own
   time-of-use prices) and on ``scenarios/prosumers_1024.yaml``'s prices (its four fleets,
   ``tariff_fleet``; 10,000: 2,500 per VPP): fleet share (median over SA seeds, worst seed),
   per-prosumer quantiles of the median seed, the gap to the total bill, SA wall and CPU time
   with 2 workers, the exact MILP's time (one process).
2. **Stress** (``scenarios/prosumers_stress.yaml``, an evening export incentive): MILP vs LP
   relaxation vs SA: cost, share of prosumers whose binaries bind (LP optimum below the
   MILP's), flexibility captured, ``check_schedules``.
3. **Scaling**: SA wall time with 1 and 2 workers for 32 .. 10,000 prosumers (speedup,
   Amdahl projection).

4. **Rolling horizon** (``--rolling``, written to ``benchmarks/results/prosumers_rolling.md``):
   ``rolling_schedule`` over one day (96 windows) for 256 prosumers at
   ``prosumers_1024.yaml``'s prices with realized generation and load (PV +-30 % uniform,
   load 5 % normal, per prosumer and period, seed 3): the exact rolling LP (binaries slack),
   the warm-started SA (the default) and the cold-start SA (each window from the
   self-consumption rule, iterations scaled to its length, as the fleet VPP did before issue 18):
   realized cost, share of the rolling LP's battery value captured, time, ``check_schedules``.

At 10,000 prosumers the MILP runs on 512 evenly spaced prosumers (time scaled to the fleet,
marked ~) and the reference is the LP relaxation, which equals the MILP for every prosumer
whose binaries are slack in it (checked: all of them, else the run stops).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
from _bench import add_quick, table_path, write_table

from vppsim.agents.prosumer_fleet import tariff_fleet
from vppsim.prosumers.anneal import SASettings, anneal_fleet
from vppsim.prosumers.exact import solve_exact
from vppsim.prosumers.gaps import flexibility_captured, idle_cost
from vppsim.prosumers.problem import ProsumerFleet, check_schedules, synthetic_fleet
from vppsim.prosumers.schedule import rolling_schedule
from vppsim.scenario.loader import load_scenario

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE.parent / "scenarios"
SIZES = [32, 128, 256, 512, 1024]
LEAD = [1024]
BIG = 10_000
MILP_SAMPLE = 512
#: the machine's load when the benchmark started (times from a shared machine are not comparable)
LOAD_AT_START = f"load average {os.getloadavg()[0]:.2f} at the start"


def cpu_s() -> float:
    """User + system CPU seconds of this process and its finished children."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    """``fn()``, its wall-clock and CPU seconds."""
    w, c = time.perf_counter(), cpu_s()
    out = fn()
    return out, time.perf_counter() - w, cpu_s() - c


def scenario_fleet(n: int, name: str = "prosumers_1024.yaml") -> ProsumerFleet:
    """The fleets of a shipped prosumer scenario at its tariff, ``n`` prosumers over its VPPs."""
    sc = load_scenario(SCENARIOS / name).scenario
    per = -(-n // len(sc.vpps))
    return tariff_fleet(sc, count=per).take(slice(0, n))


def reference(fleet: ProsumerFleet) -> tuple[np.ndarray, float, str, int]:
    """Optimal costs, the MILP's time (s, one process), its note (~: sampled) and the LP-slack count."""
    n = fleet.n
    if n < BIG:
        milp = solve_exact(fleet, integer=True)
        return milp.cost, milp.info["wall_s"], "", int(milp.info["binaries_slack"].sum())
    lp = solve_exact(fleet, integer=False)
    slack = lp.info["binaries_slack"]
    if not slack.all():
        raise SystemExit(f"{n - slack.sum()} prosumers have binding binaries: LP is no reference")
    sample = np.linspace(0, n - 1, MILP_SAMPLE).round().astype(int)
    milp = solve_exact(fleet.take(sample), integer=True)
    worst = float(np.max(np.abs(milp.cost - lp.cost[sample])))
    if worst > 1e-6:
        raise SystemExit(f"MILP and LP differ by {worst} on the sample")
    return lp.cost, milp.info["wall_s"] * n / MILP_SAMPLE, "~", int(slack.sum())


def measure(label: str, fleet: ProsumerFleet, seeds: int, one_worker: bool) -> dict:
    """SA over ``seeds`` seeds (2 workers) against the exact optimum; captured share and times."""
    settings = SASettings()
    opt, milp_s, note, slack = reference(fleet)
    row: dict = {"fleet": label, "n": fleet.n, "milp": milp_s, "milp_note": note, "slack": slack}
    if one_worker:
        sa1, row["sa_1w"], _ = timed(lambda: anneal_fleet(fleet, settings, seed=0, workers=1))
    runs, walls, cpus = [], [], []
    for s in range(seeds):
        sa, w, c = timed(lambda s=s: anneal_fleet(fleet, settings, seed=s, workers=2))
        runs.append(sa)
        walls.append(w)
        cpus.append(c)
    row["sa_2w"], row["sa_cpu"] = float(np.median(walls)), float(np.median(cpus))
    if one_worker:
        row["identical"] = bool(np.array_equal(sa1.soc_kwh, runs[0].soc_kwh))
    row["feasible"] = all(bool(check_schedules(fleet, sa).ok.all()) for sa in runs)
    caps = [flexibility_captured(fleet, sa.cost, opt).summary for sa in runs]
    shares = [c["fleet_share"] for c in caps]
    mid = caps[int(np.argsort(shares)[len(shares) // 2])]
    row.update(share=float(np.median(shares)), share_worst=float(np.min(shares)), seeds=seeds,
               q05=mid["q05"], q50=mid["q50"], worst=mid["worst"], counted=mid["counted"],
               degenerate=mid["degenerate"], owners=mid["battery_owners"],
               gap_bill=float(np.median([c["gap_to_bill"] for c in caps])), opt_total=float(opt.sum()))
    return row


def lead_table(rows: list[dict]) -> list[str]:
    """The flexibility-captured table."""
    out = ["| fleet | prosumers | batteries counted (degenerate) | captured, median of seeds (%) "
           "| worst seed (%) | per prosumer: 5 % / median / worst (%) | gap to total bill (%) "
           "| SA 2 workers wall (s) | SA CPU (s) | exact MILP (s) |", "|" + "---|" * 10]
    for r in rows:
        out.append(
            f"| {r['fleet']} | {r['n']:,} | {r['counted']:,} ({r['degenerate']}) | {100 * r['share']:.2f} "
            f"| {100 * r['share_worst']:.2f} | {100 * r['q05']:.2f} / {100 * r['q50']:.2f} / "
            f"{100 * r['worst']:.2f} | {100 * r['gap_bill']:.3f} | {r['sa_2w']:.2f} | {r['sa_cpu']:.2f} "
            f"| {r['milp_note']}{r['milp']:.1f} |")
    return out


def stress_table(n: int | None) -> tuple[list[str], dict]:
    """MILP vs LP relaxation vs SA on ``prosumers_stress.yaml`` (its first ``n`` prosumers)."""
    sc = load_scenario(SCENARIOS / "prosumers_stress.yaml").scenario
    fleet = tariff_fleet(sc)
    if n is not None:
        fleet = fleet.take(slice(0, n))
    milp, milp_w, milp_c = timed(lambda: solve_exact(fleet, integer=True, workers=2))
    lp, lp_w, lp_c = timed(lambda: solve_exact(fleet, integer=False))
    sa, sa_w, sa_c = timed(lambda: anneal_fleet(fleet, SASettings(), seed=0, workers=2))
    bind = lp.cost < milp.cost - 1e-6
    not_slack = float((~lp.info["binaries_slack"]).mean())
    stats = {"n": fleet.n, "bind": float(bind.mean()), "not_slack": not_slack}
    out = ["| method | total cost (CNY) | binaries bind (share of prosumers) | captured, fleet (%) "
           "| per prosumer: 5 % / median / worst (%) | passes check_schedules | wall (s) | CPU (s) |",
           "|" + "---|" * 8]
    for name, s, w, c in (("MILP (HiGHS, 2 workers)", milp, milp_w, milp_c),
                          ("LP relaxation", lp, lp_w, lp_c), ("SA (2 workers)", sa, sa_w, sa_c)):
        cap = flexibility_captured(fleet, s.cost, milp.cost).summary
        ok = check_schedules(fleet, s).ok
        bind_txt = f"{bind.mean():.1%} (LP below MILP)" if s is lp else "-"
        out.append(f"| {name} | {s.total_cost:,.2f} | {bind_txt} | {100 * cap['fleet_share']:.2f} "
                   f"| {100 * cap['q05']:.2f} / {100 * cap['q50']:.2f} / {100 * cap['worst']:.2f} "
                   f"| {int(ok.sum())}/{fleet.n} | {w:.1f} | {c:.1f} |")
    return out, stats


def scaling_lines(rows: list[dict]) -> list[str]:
    """Speedup of 2 workers and Amdahl's law fitted to the 1- and 2-worker times, to 4..32 cores.

    With serial fraction ``s`` (process start-up, pickling the chunks, the parent's work),
    ``T(p) = T(1) * (s + (1 - s) / p)``; two measurements give ``s = 2 * T(2) / T(1) - 1``.
    """
    out = ["| prosumers | SA 1 worker (s) | SA 2 workers (s) | speedup | serial fraction | 4 cores "
           "| 8 cores | 16 cores | 32 cores | 1 and 2 workers identical |", "|" + "---|" * 10]
    for r in rows:
        sp = r["sa_1w"] / r["sa_2w"]
        frac = min(max(2.0 * r["sa_2w"] / r["sa_1w"] - 1.0, 0.0), 1.0)
        proj = [1.0 / (frac + (1.0 - frac) / p) for p in (4, 8, 16, 32)]
        out.append(f"| {r['n']:,} | {r['sa_1w']:.2f} | {r['sa_2w']:.2f} | {sp:.2f} | {frac:.3f} | "
                   + " | ".join(f"{x:.1f}x" for x in proj) + f" | {r['identical']} |")
    return out


def rolling_table(n: int) -> list[str]:
    """Rolling LP vs warm-started SA vs cold-start SA on ``n`` prosumers (one day)."""
    fleet = scenario_fleet(n)
    rng = np.random.default_rng(3)
    gen = np.maximum(0.0, fleet.gen_kw * (1.0 + rng.uniform(-0.3, 0.3, fleet.gen_kw.shape)))
    load = np.maximum(0.0, fleet.load_kw * (1.0 + rng.normal(0.0, 0.05, fleet.load_kw.shape)))
    runs = {
        "rolling LP (exact per window)": lambda: rolling_schedule(fleet, (gen, load), "lp"),
        "rolling SA, warm start (default)": lambda: rolling_schedule(fleet, (gen, load), "sa", seed=1),
        "rolling SA, cold start per window": lambda: rolling_schedule(fleet, (gen, load), "sa", seed=1,
                                                                      warm=False),
    }
    done = {name: timed(fn) for name, fn in runs.items()}
    lp = done["rolling LP (exact per window)"][0]
    idle = float(idle_cost(lp.info["fleet"]).sum())
    out = ["| method | realized cost (CNY) | battery value captured vs rolling LP (%) | passes "
           "check_schedules | wall (s) | CPU (s) |", "|" + "---|" * 6]
    for name, (sched, w, c) in done.items():
        share = (idle - sched.total_cost) / (idle - lp.total_cost)
        ok = check_schedules(sched.info["fleet"], sched).ok
        out.append(f"| {name} | {sched.total_cost:,.2f} | {100 * share:.2f} | {int(ok.sum())}/{n} "
                   f"| {w:.1f} | {c:.1f} |")
        print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-big", action="store_true", help="skip the 10,000-prosumer rows")
    ap.add_argument("--seeds", type=int, default=5, help="SA seeds per row (3 at 10,000)")
    ap.add_argument("--lead-sizes", type=int, nargs="+", default=None,
                    help="fleet sizes of the flexibility table (default 1,024 and 10,000)")
    ap.add_argument("--no-stress", action="store_true", help="skip the stress table")
    ap.add_argument("--no-scaling", action="store_true", help="skip the 32 .. 512 scaling rows")
    ap.add_argument("--out", type=Path, default=None, help="write the table here instead")
    add_quick(ap, "128 prosumers, 2 seeds, 8 stressed prosumers, no 10,000 rows")
    ap.add_argument("--rolling", action="store_true",
                    help="only the rolling-horizon table (256 prosumers; --quick: 32)")
    args = ap.parse_args()
    if args.rolling:
        n = 32 if args.quick else 256
        text = "\n".join([
            "# Prosumer rolling horizon: warm-started SA vs exact rolling LP (paper 002, 3.1)", "",
            "Generated by `python benchmarks/prosumer_benchmark.py --rolling`. Machine: "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
            f"({LOAD_AT_START}). {n} prosumers at `prosumers_1024.yaml`'s prices, one day of 96 quarter-hour "
            "windows, one process; realized PV +-30 % uniform and load 5 % normal per prosumer and "
            "period (seed 3). Captured: (idle-battery cost - cost) / (idle-battery cost - rolling LP "
            "cost), realized data.", "", *rolling_table(n), ""])
        write_table(text, table_path(args.quick, "prosumers_rolling.md", args.out))
        return
    lead = [128] if args.quick else LEAD + ([] if args.no_big else [BIG])
    lead = args.lead_sizes or lead
    seeds = 2 if args.quick else args.seeds
    lead_rows = []
    for n in lead:
        for label, make in (("synthetic", lambda n=n: synthetic_fleet(n, 7)),
                            ("prosumers_1024 prices", lambda n=n: scenario_fleet(n))):
            r = measure(label, make(), min(seeds, 3) if n >= BIG else seeds, label == "synthetic")
            lead_rows.append(r)
            print(f"{label} n={n:,}: captured {100 * r['share']:.2f} % "
                  f"(worst seed {100 * r['share_worst']:.2f}), "
                  f"SA {r['sa_2w']:.2f} s/2w, MILP {r['milp_note']}{r['milp']:.1f} s", flush=True)
    lead_txt = lead_table(lead_rows)
    print("\n".join(lead_txt))
    stress, stats = ([], {"n": 0, "bind": float("nan"), "not_slack": float("nan")}) if args.no_stress \
        else stress_table(8 if args.quick else None)
    print("\n".join(stress))
    small = [] if args.quick or args.no_scaling else [
        measure("synthetic", synthetic_fleet(n, 7), 1, True) for n in SIZES if n not in lead]
    scal = scaling_lines(small + [r for r in lead_rows if r["fleet"] == "synthetic"])
    print("\n".join(scal))
    checks = [f"- {r['fleet']}, n={r['n']:,}: SA schedules of every seed pass `check_schedules`: "
              f"{r['feasible']}; LP binaries slack for {r['slack']:,}/{r['n']:,}; optimum total "
              f"{r['opt_total']:,.2f} CNY; battery owners {r['owners']:,}; SA seeds {r['seeds']}"
              for r in lead_rows]
    text = "\n".join([
        "# Prosumer self-scheduling: parallel SA vs exact MILP (paper 002)", "",
        "Generated by `python benchmarks/prosumer_benchmark.py`. Machine: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores ({LOAD_AT_START}). "
        "96 periods of 0.25 h. SA settings: "
        f"{asdict(SASettings())}. Wall-clock and CPU seconds (this process and its workers) of one "
        "call, including the process pool's start-up for 2 workers; the MILP runs in one process.", "",
        "## Flexibility value captured", "", *lead_txt, "",
        "- captured: (idle-battery cost - SA cost) / (idle-battery cost - optimal cost) over battery "
        "owners (`vppsim.prosumers.gaps.flexibility_captured`); the fleet's share sums numerator and "
        "denominator; per-prosumer quantiles are of the seed with the median fleet share; batteries "
        "whose optimal value is below 0.1 % of the prosumer's reference bill are degenerate (counted, "
        "excluded);",
        "- gap to total bill: (sum of SA costs - sum of optimal costs) / |sum of optimal costs|, all "
        f"prosumers (median of seeds); `~`: MILP time on {MILP_SAMPLE} prosumers scaled to the fleet, "
        "the reference there is the LP relaxation (exact: binaries slack for every prosumer).", "",
        *([] if args.no_stress else [
            f"## Stress: export above import (`scenarios/prosumers_stress.yaml`, {stats['n']} "
            "prosumers)", "", *stress, "",
            f"The LP relaxation buys and sells at once in the incentive hours: its optimum is below "
            f"the MILP's for {stats['bind']:.1%} of the prosumers (its binaries are fractional for "
            f"{stats['not_slack']:.1%}); its schedules break the flip-flop exclusivity, so they fail "
            "the checker and its 'captured' share exceeds 100 %. The SA decides the battery's SoC "
            "changes only; charge or discharge and buy or sell follow from them exclusively (by "
            "construction).", ""]),
        "## Scaling (synthetic fleet)", "", *scal, "",
        "Amdahl's law fitted to the 1- and 2-worker times; a projection, this machine has 2 cores.", "",
        "Checks:", *checks, "",
    ])
    if (args.no_stress or args.no_scaling) and args.out is None:
        print("a partial run (--no-stress/--no-scaling): benchmarks/results/prosumers.md kept; "
              "--out FILE writes this one")
        return
    write_table(text, table_path(args.quick, "prosumers.md", args.out))


if __name__ == "__main__":
    main()
