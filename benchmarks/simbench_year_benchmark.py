"""Benchmark of the shipped MV year (issue 15, acceptance 3): speed, memory, kill and resume.

    python benchmarks/simbench_year_benchmark.py             # the whole year, then kill/resume
    python benchmarks/simbench_year_benchmark.py --days 14   # a short check
    python benchmarks/simbench_year_benchmark.py --quick     # 2 days, no kill/resume

Runs ``vppsim run scenarios/simbench_mv_year.yaml --out DIR`` (figures and all, as a user would;
the scenario skips the baseline run) under ``/usr/bin/time -v``: wall clock, user+sys CPU time
and peak resident memory.
Then the same command into a second folder is SIGKILLed once a third of the days are finished
(counted by the day parts it streamed) and run again: it resumes from the last finished day and
its four tables must equal the uninterrupted run's bit for bit (the wall-clock column
``allocation_solve_ms`` aside). Prints the figures and "tables equal: True"; writes
``benchmarks/results/simbench_year.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _bench import add_quick, table_path, write_table

from vppsim.results.folders import HORIZON_DIR, INCOMPLETE_SUFFIX

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "simbench_mv_year.yaml"
TABLES = ("timeseries", "model", "bus_injections", "bus_voltages")


def timed_run(args: list[str]) -> dict[str, float]:
    """``vppsim run ARGS`` under ``/usr/bin/time -v``: wall s, cpu s (user+sys), peak MiB, exit."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "vppsim.cli", "run", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    err = proc.stderr
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", err)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    user = re.search(r"User time \(seconds\): ([\d.]+)", err)
    system = re.search(r"System time \(seconds\): ([\d.]+)", err)
    assert wall and rss and user and system, err[-2000:]
    h, m, s = wall.groups()
    return {"wall_s": int(h or 0) * 3600 + int(m) * 60 + float(s),
            "cpu_s": float(user.group(1)) + float(system.group(1)),
            "peak_mib": int(rss.group(1)) / 1024, "exit": proc.returncode}


def finished_days(out: Path) -> int:
    """Days the coordinated run of ``out`` (still staging) has streamed to its parts."""
    parts = out.with_name(out.name + INCOMPLETE_SUFFIX) / HORIZON_DIR / "main" / "parts"
    return len(list((parts / "timeseries").glob("day-*.parquet")))


def tables_equal(a: Path, b: Path) -> bool:
    """The four tables of two result folders are equal bit for bit (solve times aside)."""
    for t in TABLES:
        x, y = pd.read_parquet(a / f"{t}.parquet"), pd.read_parquet(b / f"{t}.parquet")
        drop = [c for c in ("allocation_solve_ms",) if c in x.columns]
        pd.testing.assert_frame_equal(x.drop(columns=drop), y.drop(columns=drop),
                                      check_exact=True)
    return True


def kill_and_resume(args: list[str], out: Path, target: int) -> tuple[int, dict[str, float]]:
    """Start ``vppsim run ARGS --out OUT``, SIGKILL it after ``target`` days, run it again."""
    cmd = [sys.executable, "-m", "vppsim.cli", "run", *args, "--out", str(out)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and finished_days(out) < target:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = finished_days(out)
    return done, timed_run([*args, "--out", str(out)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=None, help="override the scenario's 366 days")
    p.add_argument("--no-resume-check", action="store_true")
    add_quick(p, "--days 2, no kill-and-resume check: that takes three runs, about 40 s")
    a = p.parse_args()
    if a.quick:
        a.days, a.no_resume_check = 2, True
    args = [str(SCENARIO), "--quiet"] + (["--days", str(a.days)] if a.days else [])
    days = a.days or 366
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "whole"
        print(f"vppsim run of {days} day(s) ...", file=sys.stderr, flush=True)
        run = timed_run([*args, "--out", str(whole)])
        lines.append(f"uninterrupted: wall {run['wall_s']:.1f} s, user+sys {run['cpu_s']:.1f} s, "
                     f"peak RSS {run['peak_mib']:.0f} MiB, exit {run['exit']}")
        print(lines[-1], flush=True)
        if not a.no_resume_check:
            print("kill and resume ...", file=sys.stderr, flush=True)
            done, again = kill_and_resume(args, Path(tmp) / "resumed", max(1, days // 3))
            equal = again["exit"] == 0 and tables_equal(Path(tmp) / "resumed", whole)
            lines.append(f"killed (SIGKILL) after day {done} of {days}; the same command resumed "
                         f"from day {done}: wall {again['wall_s']:.1f} s, user+sys "
                         f"{again['cpu_s']:.1f} s, peak RSS {again['peak_mib']:.0f} MiB, exit "
                         f"{again['exit']}")
            print(lines[-1])
            lines.append(f"tables equal: {equal}")
            print(lines[-1])
    text = "\n".join([
        "# The shipped MV year: speed, memory, kill and resume (issue 15)", "",
        f"`/usr/bin/time -v vppsim run scenarios/simbench_mv_year.yaml --quiet --out DIR"
        f"{' --days ' + str(a.days) if a.days else ''}` (SimBench 1-MV-rural--0-sw, 4 VPPs, "
        f"{days} days at hourly steps, lightsim2grid, merit-order, tariff passed through, "
        "figures, no baseline run: the scenario's `baseline: false`); "
        "`python benchmarks/simbench_year_benchmark.py "
        f"{' '.join(sys.argv[1:])}`. The machine is shared (2 cores): wall times vary, user+sys "
        "is the run's own CPU time.", "", *[f"- {line}" for line in lines], ""])
    write_table(text, table_path(a.quick, "simbench_year.md"))


if __name__ == "__main__":
    main()
