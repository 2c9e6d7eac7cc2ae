"""Benchmark of long runs (issue 15): a year at hourly steps of the default feeder, streamed by day.

    python benchmarks/horizon_benchmark.py                          # 365 days, merit-order
    python benchmarks/horizon_benchmark.py --allocators ga-aco merit-order --days 365
    python benchmarks/horizon_benchmark.py --quick                  # 3 days, printed only

The default 3-VPP scenario with the tariff passed through (``market.price_policy:
passthrough``) and lightsim2grid power flows, one variant per real-time allocator, each run
as ``vppsim run SCEN --days N --no-figures --quiet`` under ``/usr/bin/time -v`` (wall clock,
peak resident memory): streamed by day (the default beyond one day) and, with
``--in-memory``, also with ``--no-stream``. Then the kill-and-resume check on the first
allocator: the streamed run is SIGKILLed after a third of its days and re-run with the same
command; its tables must equal the uninterrupted run's bit for bit (the wall-clock column
``allocation_solve_ms`` aside). Writes ``benchmarks/results/horizon.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from _bench import add_quick, progress, table_path, write_table

from vppsim.paths import default_scenario_path
from vppsim.results.folders import HORIZON_DIR, INCOMPLETE_SUFFIX
from vppsim.results.horizon import CHECKPOINT, load_model

TABLES = ("timeseries", "model", "bus_injections", "bus_voltages")


def variant(folder: Path, allocator: str) -> Path:
    """The default scenario, passthrough, lightsim2grid, with ``allocator``, written to ``folder``."""
    src = default_scenario_path()
    raw = yaml.safe_load(src.read_text(encoding="utf-8"))
    raw["market"]["price_policy"] = "passthrough"
    raw["feeder"]["power_flow_backend"] = "lightsim2grid"
    raw["balancing"]["allocator"] = allocator
    shutil.copy(src.parent / raw["profiles"], folder / raw["profiles"])
    path = folder / f"year_{allocator}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def timed_run(args: list[str]) -> tuple[float, float, int]:
    """``vppsim run ARGS`` under ``/usr/bin/time -v``: (wall s, peak RSS MiB, exit code)."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "vppsim.cli", "run", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    assert wall and rss, proc.stderr[-2000:]
    h, m, s = wall.groups()
    return int(h or 0) * 3600 + int(m) * 60 + float(s), int(rss.group(1)) / 1024, proc.returncode


def kill_and_resume(scen: Path, days: int, out: Path, whole: Path) -> str:
    """SIGKILL the streamed run after a third of its days, re-run it, compare with ``whole``."""
    args = [str(scen), "--days", str(days), "--no-figures", "--quiet", "--out", str(out)]
    ckpt = out.with_name(out.name + INCOMPLETE_SUFFIX) / HORIZON_DIR / "main" / CHECKPOINT
    proc = subprocess.Popen([sys.executable, "-m", "vppsim.cli", "run", *args],
                            start_new_session=True)
    target = max(1, days // 3)
    while proc.poll() is None:
        if ckpt.is_file():
            try:
                if load_model(ckpt.read_bytes()).t >= target * 24:
                    break
            except Exception:  # noqa: BLE001 - caught mid-replace: look again
                pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_days = load_model(ckpt.read_bytes()).t // 24
    wall, rss, code = timed_run(args)
    assert code == 0
    for t in TABLES:
        a, b = pd.read_parquet(out / f"{t}.parquet"), pd.read_parquet(whole / f"{t}.parquet")
        drop = [c for c in ("allocation_solve_ms",) if c in a.columns]
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop), check_exact=True)
    return (f"killed (SIGKILL) after day {done_days} of {days}; the same command resumed from "
            f"day {done_days} in {wall:.1f} s (peak {rss:.0f} MiB) and its four tables equal the "
            "uninterrupted run's bit for bit")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--allocators", nargs="+", default=["merit-order"])
    p.add_argument("--in-memory", action="store_true", help="also run each with --no-stream")
    p.add_argument("--no-resume-check", action="store_true")
    add_quick(p, "--days 3, kill and resume after day 1")
    a = p.parse_args()
    if a.quick:
        a.days = 3
    rows, lines = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for alloc in progress(a.allocators, "allocators"):
            scen = variant(tmp_path, alloc)
            modes = [("streamed", [])] + ([("in memory", ["--no-stream"])] if a.in_memory else [])
            for mode, extra in modes:
                out = tmp_path / f"{alloc}-{mode.replace(' ', '_')}"
                wall, rss, code = timed_run([str(scen), "--days", str(a.days), "--no-figures",
                                             "--quiet", "--out", str(out), *extra])
                rows.append(f"| {alloc} | {mode} | {wall:.1f} | {rss:.0f} | {code} |")
                print(rows[-1], flush=True)
        if not a.no_resume_check:
            alloc = a.allocators[0]
            lines.append(kill_and_resume(variant(tmp_path, alloc), a.days,
                                         tmp_path / "resumed", tmp_path / f"{alloc}-streamed"))
            print(lines[-1])
    text = "\n".join([
        "# Long runs: a year of the default feeder (issue 15)", "",
        f"`vppsim run` of the default 3-VPP scenario, `market.price_policy: passthrough`, "
        f"lightsim2grid, `--days {a.days}` at hourly steps, with its baseline run "
        "(no coordination), `--no-figures --quiet`, under `/usr/bin/time -v`; "
        f"`python benchmarks/horizon_benchmark.py {' '.join(sys.argv[1:])}`. "
        "The machine is shared (2 cores): wall times vary.", "",
        "| allocator | tables | wall s | peak RSS MiB | exit |", "|---|---|---|---|---|",
        *rows, "", *lines, ""])
    print(text)
    write_table(text, table_path(a.quick, "horizon.md"))


if __name__ == "__main__":
    main()
