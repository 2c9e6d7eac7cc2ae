"""Wall time of a whole ``vppsim run`` command (issue 17: the default day), and where it goes.

Each repeat starts a fresh interpreter, as a user's command does, and the variants are
interleaved (repeat 1 of every variant, then repeat 2, ...), so a machine that slows down
for a while slows every variant alike. Rows:

- ``imports``: the interpreter importing what ``vppsim run`` imports, and nothing else
  (tuned as the console script does it, :mod:`vppsim.startup`);
- ``run --no-figures --no-baseline``: the coordinated run and its tables;
- ``run --no-figures``: plus the uncoordinated baseline (a forked process on Linux);
- ``run``: the whole command, figures included (two forked drawing processes on Linux).

Wall and CPU time (user + system of the command and of the child processes it waited for,
from ``os.wait4``) are min / median / max over the repeats; the phase columns are the
medians of ``summary.json``'s ``wall_time_s`` (seconds inside the command, after its imports).

    python benchmarks/run_benchmark.py              # 5 repeats of the default scenario
    python benchmarks/run_benchmark.py --quick      # 1 repeat, printed only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import add_quick, progress, table_path, write_table

#: the imports of ``vppsim run`` (its module and the model), in a fresh interpreter tuned as
#: the console script tunes it (vppsim.startup: one BLAS thread, no garbage collector passes)
IMPORTS = """
import gc
from vppsim.startup import imports_without_gc, single_threaded_blas
single_threaded_blas()
with imports_without_gc():
    import vppsim.cli.main, vppsim.cli.impl.run, vppsim.model
gc.freeze()
"""

#: the variants: a label and the ``vppsim run`` options (None: imports only)
VARIANTS: tuple[tuple[str, list[str] | None], ...] = (
    ("imports", None),
    ("run --no-figures --no-baseline", ["--no-figures", "--no-baseline"]),
    ("run --no-figures", ["--no-figures"]),
    ("run", []),
)

#: the phases of ``summary.json`` shown, in order
PHASES = ("load_scenario", "run", "game", "realtime", "baseline", "writing")


def _timed(args: list[str]) -> tuple[float, float]:
    """Run ``args``; its wall time and CPU time (itself and the children it waited for)."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: nothing to fill while waiting
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        code = proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
        if code != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(args)} failed (exit {code}):\n"
                             f"{err.read().decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(scenario: str | None, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Per variant: ``wall``, ``cpu`` and each phase over the repeats."""
    got: dict[str, dict[str, list[float]]] = {label: {} for label, _ in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="vppsim-run-bench-") as tmp:
        runs = [(i, label, opts) for i in range(repeats) for label, opts in VARIANTS]
        for i, label, opts in progress(runs, "runs"):
            if opts is None:
                args = [sys.executable, "-c", IMPORTS]
            else:
                out = Path(tmp) / f"{i}-{len(opts)}"
                args = [sys.executable, "-m", "vppsim", "run", *([scenario] if scenario
                                                                else []),
                        *opts, "--quiet", "--out", str(out)]  # the console script's entry
            wall, cpu = _timed(args)
            row = got[label]
            row.setdefault("wall", []).append(wall)
            row.setdefault("cpu", []).append(cpu)
            if opts is not None:
                phases = json.loads((out / "summary.json").read_text(encoding="utf-8"))
                for key in PHASES:
                    if key in phases["wall_time_s"]:
                        row.setdefault(key, []).append(phases["wall_time_s"][key])
    return got


def _spread(values: list[float]) -> str:
    return (f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"
            if len(values) > 1 else f"{values[0]:.2f}")


def calibration_s() -> float:
    """Seconds of a fixed pure-Python loop (the sum of 10**7 squares), best of 3.

    The machine's speed drifts: this loop took 0.47-0.72 s in its fast phases and 1.0-1.16 s
    in its slow ones (2026-12-07), and the whole command's time moved with it. Printed beside
    the table so that two tables can be compared.
    """
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sum(i * i for i in range(10**7))
        best = min(best, time.perf_counter() - t0)
    return best


def table(got: dict[str, dict[str, list[float]]], scenario: str | None, repeats: int,
          load: float, calibration: tuple[float, float]) -> str:
    """The Markdown table of :func:`measure`; ``calibration``: :func:`calibration_s` before, after."""
    lines = [
        f"<!-- python benchmarks/run_benchmark.py{' --scenario ' + scenario if scenario else ''}"
        f" --repeats {repeats} ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, load "
        f"average {load:.2f} at the start) -->",
        f"# `vppsim run` of {scenario or 'the default scenario'}: whole command",
        "",
        f"{repeats} repeat(s) per row, interleaved; wall and CPU: min / median / max in s; "
        "phases: medians of summary.json `wall_time_s` in s (inside the command, after the "
        "imports; `baseline` is the baseline's own time, in its forked process on Linux). "
        f"Machine speed: a pure-Python loop of 10**7 squares took {calibration[0]:.2f} s before "
        f"and {calibration[1]:.2f} s after the runs (0.47-0.72 s in this machine's fast phases, "
        "1.0-1.16 s in its slow ones).",
        "",
        "| variant | wall s | CPU s | " + " | ".join(PHASES) + " |",
        "|---|---:|---:|" + "---:|" * len(PHASES),
    ]
    for label, _ in VARIANTS:
        row = got[label]
        phases = [f"{statistics.median(row[k]):.3f}" if k in row else "-" for k in PHASES]
        lines.append(f"| {label} | {_spread(row['wall'])} | {_spread(row['cpu'])} | "
                     + " | ".join(phases) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default=None, help="a scenario file (default: the default day)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=None,
                   help="default: benchmarks/results/run.md (with --quick: not written)")
    add_quick(p, "1 repeat of every variant")
    a = p.parse_args()
    if a.repeats < 1:
        p.error("--repeats: expected an integer >= 1")
    repeats = 1 if a.quick else a.repeats
    load = os.getloadavg()[0]
    before = calibration_s()
    got = measure(a.scenario, repeats)
    text = table(got, a.scenario, repeats, load, (before, calibration_s()))
    print(text)
    write_table(text, table_path(a.quick or a.scenario is not None, "run.md", a.out))


if __name__ == "__main__":
    main()
