"""Memory of `vppsim montecarlo` on a LocalCluster: wall time and peak RSS of the client and workers.

    python benchmarks/montecarlo_memory_benchmark.py --samples 2000            # real samples
    python benchmarks/montecarlo_memory_benchmark.py --finish-only --samples 100000
    python benchmarks/montecarlo_memory_benchmark.py --quick                   # 40 real, 2,000 finish-only

Each case runs ``/usr/bin/time -v vppsim montecarlo <default scenario> --samples N --workers W``
as a subprocess and samples the resident memory of the client process and of every worker
process (psutil, every 0.2 s). It prints the wall time, ``/usr/bin/time``'s maximum resident
set size (the largest single process), and the peaks of the client, of the workers together
and of their sum (the sum's peak is the budget of issue 17: under 4 GiB at 100,000 samples).

``--finish-only``: the samples are not computed. A real batch of N samples is started with
``--max-samples 40`` (its manifest, 40 real samples in 4 chunks), then its parts are copied
to fill all N samples (chunks of 100, sample ids renumbered, each with its chunk record), and
the measured run is the re-run that finds every sample done and writes the batch's tables:
``kpis.parquet``, ``steps.parquet``, the step quantiles, figures and report. This is the
client's memory at the end of a 100,000-sample batch without computing it (2.5 h at 90 ms a
sample); the streaming part (chunks written as they finish, at most two per worker in flight)
is measured by the real runs, whose peak does not depend on N.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
from _bench import add_quick

from vppsim.montecarlo.parts import write_chunk
from vppsim.montecarlo.store import PARTS, scan_parts
from vppsim.montecarlo.tables import STEPS_SCHEMA, kpi_schema
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario

MIB = 1024 * 1024


def vppsim_command() -> list[str]:
    """The ``vppsim`` script beside this Python, else ``python -m vppsim.cli``."""
    script = Path(sys.executable).with_name("vppsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vppsim.cli"]


def sample_memory(proc: psutil.Process, peaks: dict[str, float], stop: threading.Event) -> None:
    """Peaks of the client's RSS, the workers' summed RSS and their sum until ``stop``."""
    while not stop.is_set():
        try:
            children = proc.children(recursive=True)
            client = next((p for p in children if "vppsim" in " ".join(p.cmdline())), None)
            if client is not None:
                rss_client = client.memory_info().rss
                rss_workers = sum(p.memory_info().rss for p in client.children(recursive=True))
                peaks["client"] = max(peaks["client"], rss_client)
                peaks["workers"] = max(peaks["workers"], rss_workers)
                peaks["sum"] = max(peaks["sum"], rss_client + rss_workers)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        stop.wait(0.2)


def measured(args: list[str]) -> dict[str, float]:
    """Run ``/usr/bin/time -v vppsim ARGS``; wall s, time's max RSS and the sampled peaks (MiB)."""
    cmd = ["/usr/bin/time", "-v", *vppsim_command(), *args]
    peaks = {"client": 0.0, "workers": 0.0, "sum": 0.0}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(psutil.Process(proc.pid), peaks, stop))
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}\n{err[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    return {"wall_s": wall, "time_max_rss": int(m[1]) / 1024 if m else float("nan"),
            **{k: v / MIB for k, v in peaks.items()}}


def fill_parts(out: Path, n_samples: int, vpp_names: tuple[str, ...]) -> None:
    """Copy the folder's real samples into chunks of 100 until it holds ``n_samples``."""
    parts = out / PARTS
    sample_parts, step_parts, done = scan_parts(parts)
    kpis = pd.concat([pd.read_parquet(p) for p in sample_parts], ignore_index=True)
    steps = pd.concat([pd.read_parquet(p) for p in step_parts], ignore_index=True)
    n_real = len(kpis)
    by_sample = {s: g.reset_index(drop=True) for s, g in steps.groupby("sample")}
    template_k = pd.concat([kpis] * (100 // n_real + 1), ignore_index=True).iloc[:100]
    template_s = [by_sample[int(s)] for s in template_k["sample"]]
    schema = kpi_schema(vpp_names)
    for first in range(max(done) + 1, n_samples, 100):
        ids = list(range(first, min(first + 100, n_samples)))
        k = template_k.iloc[:len(ids)].copy()
        k["sample"] = ids
        s = pd.concat([t.assign(sample=i) for t, i in zip(template_s, ids, strict=False)],
                      ignore_index=True)
        write_chunk(parts, ids[0], ids[-1], k, s[[f.name for f in STEPS_SCHEMA]], schema)


def finish_only(n: int, workers: int, folder: Path) -> dict[str, float]:
    """A batch of ``n`` samples with 40 real and the rest copied; the finishing run measured."""
    scenario = str(default_scenario_path())
    base = ["montecarlo", scenario, "--samples", str(n), "--workers", str(workers),
            "--out", str(folder), "--quiet"]
    subprocess.run([*vppsim_command(), *base, "--max-samples", "40", "--chunk-size", "10"],
                   check=True)
    loaded = load_scenario(default_scenario_path())
    t0 = time.perf_counter()
    fill_parts(folder, n, tuple(v.name for v in loaded.scenario.vpps))
    print(f"  (copied parts up to {n} samples in {time.perf_counter() - t0:.1f} s)")
    return measured(base)


def real(n: int, workers: int, folder: Path) -> dict[str, float]:
    """A real batch of ``n`` samples, measured."""
    return measured(["montecarlo", str(default_scenario_path()), "--samples", str(n),
                     "--workers", str(workers), "--out", str(folder), "--quiet"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, nargs="+", default=[2000])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--finish-only", action="store_true",
                   help="copy 40 real samples' parts to N and measure the finishing run only")
    add_quick(p, "40 real samples, then 2,000 finish-only")
    args = p.parse_args()
    cases = ([("real", 40), ("finish-only", 2000)] if args.quick else
             [("finish-only" if args.finish_only else "real", n) for n in args.samples])
    print(f"{'case':12s} {'samples':>8s} {'wall s':>8s} {'time -v max RSS MiB':>20s} "
          f"{'client MiB':>11s} {'workers MiB':>12s} {'sum MiB':>9s}")
    for kind, n in cases:
        folder = Path(tempfile.mkdtemp(prefix="mcmem-"))
        try:
            r = (finish_only if kind == "finish-only" else real)(n, args.workers, folder / "mc")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        print(f"{kind:12s} {n:8d} {r['wall_s']:8.1f} {r['time_max_rss']:20.0f} "
              f"{r['client']:11.0f} {r['workers']:12.0f} {r['sum']:9.0f}", flush=True)
    print(f"(cpu count {os.cpu_count()}; sampled every 0.2 s with psutil)")


if __name__ == "__main__":
    main()
