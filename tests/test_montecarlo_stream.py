"""The Monte Carlo client in bounded memory (issue 17): tables streamed from the parts, exact
step quantiles from arrays, a bounded number of chunks in flight.

The reference of every table is the in-memory way earlier versions built it (and the way
``main`` at 2a54dbd still does): all parts concatenated in pandas, duplicates dropped, sorted,
and the step quantiles by ``groupby(["agent", "quantity", "step"])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import vppsim.montecarlo.stream as stream
from vppsim.montecarlo.parts import write_chunk
from vppsim.montecarlo.run import run_montecarlo
from vppsim.montecarlo.store import PARTS, read_parts, scan_parts
from vppsim.montecarlo.stream import QUANTILES, StepQuantiles, assign_samples, write_steps_and_stats
from vppsim.montecarlo.tables import STEPS_SCHEMA, kpi_schema
from vppsim.scenario.loader import load_scenario

VPPS = ("A", "B")
N_STEPS = 6
SERIES = [("A", "cost_cny"), ("A", "imbalance_kw"), ("B", "soc_pu"), ("net", "vm_min_pu")]



def step_quantiles(steps: pd.DataFrame) -> pd.DataFrame:
    """The reference: pandas' group-by mean and quantiles over the whole per-step table."""
    cols = ["agent", "quantity", "step"]
    if steps.empty:
        return pd.DataFrame(columns=cols + ["n", "mean", "p5", "p50", "p95"])
    g = steps.groupby(cols, sort=True)["value"]
    out = g.agg(n="count", mean="mean")
    for q in QUANTILES:
        out[f"p{round(q * 100)}"] = g.quantile(q)
    return out.reset_index()

def in_memory_reference(parts: Path, vpp_names: tuple[str, ...]) -> tuple[pd.DataFrame, ...]:
    """KPIs, steps and step quantiles as main's ``read_batch`` / ``finish_batch`` built them."""
    sample_parts, step_parts, _ = scan_parts(parts)
    kpis = read_parts(sample_parts, kpi_schema(vpp_names))
    kpis = (kpis.drop_duplicates("sample").sort_values("sample", kind="mergesort")
            .reset_index(drop=True))
    steps = read_parts(step_parts, STEPS_SCHEMA)
    steps = (steps[steps["sample"].isin(kpis["sample"])]
             .drop_duplicates(["sample", "agent", "quantity", "step"])
             .sort_values(["sample", "agent", "quantity", "step"]).reset_index(drop=True))
    return kpis, steps, step_quantiles(steps)


def synthetic_chunk(ids: list[int], rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """KPI rows and per-step rows of fake samples: NaNs, a sample without rows, shuffled rows."""
    k = pd.DataFrame({"sample": ids, "seed": [i * 7 for i in ids]})
    for c in kpi_schema(VPPS).names[2:-1]:
        k[c] = rng.normal(size=len(ids))
    k["error"] = [None] * len(ids)
    rows = [(i, a, q, t, float(rng.normal() * 10 + i % 3)) for i in ids for a, q in SERIES
            for t in range(N_STEPS)]
    s = pd.DataFrame(rows, columns=[f.name for f in STEPS_SCHEMA])
    s.loc[rng.random(len(s)) < 0.05, "value"] = np.nan
    s = s[~((s["sample"] == ids[0]) & (s["quantity"] == "soc_pu"))]  # a series a sample lacks
    if len(ids) > 2:
        k.loc[1, "error"] = "RuntimeError: failed"  # a sample that raised: no per-step rows
        s = s[s["sample"] != ids[1]]
    return k, s.sample(frac=1.0, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)


@pytest.fixture
def interleaved_parts(tmp_path: Path) -> Path:
    """Parts as a resumed batch leaves them: a chunk spanning a gap, another filling it, a
    sample written twice (a later part repeats it), unsorted rows."""
    rng = np.random.default_rng(3)
    parts = tmp_path / PARTS
    parts.mkdir()
    for ids in ([0, 1, 2, 3, 10, 11, 12], [4, 5, 6, 7, 8, 9], [13, 14, 15, 16], [16, 17, 18, 19]):
        k, s = synthetic_chunk(ids, rng)
        write_chunk(parts, ids[0], ids[-1], k, s, kpi_schema(VPPS))
    return parts


def test_step_quantiles_from_arrays_equal_pandas_groupby() -> None:
    """Count, mean and the 5/50/95 % quantiles per (agent, quantity, step) equal pandas'
    ``groupby(...).agg(count, mean)`` and ``.quantile`` (linear) on the same rows: NaNs, series
    missing in some samples, rows in any order, fed in several windows."""
    rng = np.random.default_rng(11)
    frames = [synthetic_chunk(list(range(i, i + 9)), rng)[1] for i in range(0, 90, 9)]
    steps = (pd.concat(frames, ignore_index=True)
             .sort_values(["sample", "agent", "quantity", "step"]).reset_index(drop=True))
    expected = step_quantiles(steps)
    sq = StepQuantiles(np.arange(90), N_STEPS)
    for window in np.array_split(steps.sample(frac=1.0, random_state=2), 4):
        sq.add(pa.Table.from_pandas(window, schema=STEPS_SCHEMA, preserve_index=False))
    got = sq.table()
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, atol=0.0)
    assert (got["n"] < 90).any() and got["n"].min() > 0  # the NaNs and missing rows were seen


def test_streamed_tables_equal_the_in_memory_ones(interleaved_parts: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """KPIs and steps equal main's in-memory tables bit for bit, and the quantiles to 1e-12,
    with windows of 3 samples (parts read many times) and the series done two at a time (the
    quantile arrays over budget)."""
    kpis_ref, steps_ref, quant_ref = in_memory_reference(interleaved_parts, VPPS)
    sample_parts, _, _ = scan_parts(interleaved_parts)
    parts, kpis = assign_samples(sample_parts, kpi_schema(VPPS))
    pd.testing.assert_frame_equal(kpis, kpis_ref, check_exact=True)
    monkeypatch.setattr(stream, "WINDOW_ROWS", 3 * len(SERIES) * N_STEPS)
    n_windows = len(list(stream.step_windows(parts)))
    assert n_windows == 7  # 20 samples in windows of 3
    out = tmp_path / "steps.parquet"
    quant = write_steps_and_stats(parts, out, N_STEPS, budget_bytes=2 * 20 * N_STEPS * 8)
    pd.testing.assert_frame_equal(pd.read_parquet(out), steps_ref, check_exact=True)
    pd.testing.assert_frame_equal(quant, quant_ref, check_exact=False, rtol=1e-12, atol=0.0)
    assert len(quant_ref) == len(SERIES) * N_STEPS


class InFlight:
    """A scheduler plugin counting chunk tasks: submitted and not finished (``running``), and
    all the scheduler holds (``held``: also finished ones the client has not yet written and
    released)."""

    name = "vppsim-in-flight"
    UNFINISHED = frozenset({"released", "waiting", "queued", "processing", "no-worker"})

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.held: set[str] = set()
        self.most_running = 0
        self.most_held = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kw: Any) -> None:
        k = str(key)
        if not k.startswith("run_chunk-"):
            return
        (self.running.add if finish in self.UNFINISHED else self.running.discard)(k)
        (self.held.discard if finish == "forgotten" else self.held.add)(k)
        self.most_running = max(self.most_running, len(self.running))
        self.most_held = max(self.most_held, len(self.held))


def test_chunks_in_flight_never_exceed_the_window(passthrough_day_path: Path, cluster: Any,
                                                  tmp_path: Path) -> None:
    """9 one-sample chunks with a window of 2: never more than 2 chunk tasks unfinished on the
    scheduler, and never more than 4 held (the next chunk is submitted before the finished one
    is written and released, and the scheduler forgets a released chunk when the client's
    release message reaches it, which may come after one more submit when chunks are fast);
    all 9 were submitted at once before. The batch is complete."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    plugin = type("InFlightPlugin", (InFlight, SchedulerPlugin), {})()
    cluster.scheduler.add_plugin(plugin)
    try:
        res = run_montecarlo(load_scenario(passthrough_day_path), 9, tmp_path / "mc", seed=5,
                             scheduler=cluster.scheduler_address, chunk_size=1,
                             max_in_flight=2, progress=False)
    finally:
        cluster.scheduler.remove_plugin(name=plugin.name)
    assert res.complete and res.kpis["sample"].tolist() == list(range(9))
    assert res.summary["max_chunks_in_flight"] == 2
    assert plugin.most_running == 2
    assert plugin.most_held <= 4
    kpis_ref, steps_ref, quant_ref = in_memory_reference(tmp_path / "mc" / PARTS,
                                                         ("VPP1", "VPP2", "VPP3"))
    pd.testing.assert_frame_equal(res.kpis, kpis_ref, check_exact=True)
    pd.testing.assert_frame_equal(res.steps, steps_ref, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(res.paths["step_quantiles"]), quant_ref,
                                  check_exact=False, rtol=1e-12, atol=0.0)
    assert sorted(p.name for p in res.paths["figures"].iterdir()) == [
        "fan_grid.png", "fan_price.png", "fan_soc.png", "fan_voltage.png", "kpi_boxplots.png",
        "kpi_histograms.png"]
