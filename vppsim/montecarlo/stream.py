"""The final tables of a Monte Carlo batch from its Parquet parts, in bounded memory.

A batch of 100,000 samples has about 40 million per-step rows (16 series x 24 steps per
sample on the default day): as a pandas DataFrame that is several GB. The client therefore
never holds all samples' per-step series at once:

- ``steps.parquet`` is written window by window: the samples in sorted order, a window of
  samples at a time, each window read from the parts that hold its samples (an Arrow filter
  on ``sample``), sorted by ``(sample, agent, quantity, step)`` and appended as a row group.
  The rows and their order are those of sorting the whole table at once.
- the step quantiles are exact (numpy over every sample, not a sketch): each per-step series
  is a float64 array samples x steps (100,000 x 24 x 8 B = 19 MB per series, 300 MB for the
  default day's 16 series), filled as the windows pass; when the arrays of all series would
  exceed :data:`QUANTILE_BUDGET_BYTES` the series are done in groups, one more pass over the
  parts per group.
- a multi-day batch's ``day_kpis.parquet`` is computed per window (a sample's days are in one
  window) and concatenated.

A sample belongs to the first samples part (in file-name order) that holds it, as the
in-memory ``drop_duplicates`` of earlier versions kept it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vppsim.montecarlo.tables import STEPS_SCHEMA

#: quantiles of the step-quantile table (numpy / pandas ``linear`` interpolation)
QUANTILES = (0.05, 0.5, 0.95)

#: largest size of the per-series sample arrays held at once for the step quantiles
QUANTILE_BUDGET_BYTES = 1 << 30

#: about this many per-step rows are read, sorted and written at a time
WINDOW_ROWS = 2_000_000

STEP_KEYS = ["sample", "agent", "quantity", "step"]


@dataclass(frozen=True)
class Part:
    """One chunk's two parts and the samples taken from it (sorted, unique to this part)."""

    samples_path: Path
    steps_path: Path
    ids: np.ndarray


def assign_samples(sample_parts: list[Path], schema: pa.Schema) -> tuple[list[Part], pd.DataFrame]:
    """Every samples part with the samples it owns, and the KPI table sorted by sample.

    A sample in two parts (never written so by a batch, but tolerated) is owned by the first.
    """
    parts: list[Part] = []
    frames: list[pa.Table] = []
    seen: np.ndarray = np.empty(0, dtype=np.int64)
    for path in sorted(sample_parts):
        table = pq.read_table(path, schema=schema)
        ids = table.column("sample").to_numpy()
        keep = ~np.isin(ids, seen) & _first_occurrence(ids)
        if not keep.all():
            table = table.filter(pa.array(keep))
            ids = ids[keep]
        seen = np.union1d(seen, ids)
        frames.append(table)
        parts.append(Part(path, path.with_name(path.name.replace("samples-", "steps-", 1)),
                          np.sort(ids)))
    if not frames:
        return parts, schema.empty_table().to_pandas()
    kpis = pa.concat_tables(frames).to_pandas()
    kpis = kpis.sort_values("sample", kind="mergesort").reset_index(drop=True)
    return parts, kpis


def _first_occurrence(ids: np.ndarray) -> np.ndarray:
    mask = np.zeros(ids.size, dtype=bool)
    mask[np.unique(ids, return_index=True)[1]] = True
    return mask


def step_windows(parts: list[Part], rows_per_sample: int | None = None) -> Iterator[pa.Table]:
    """The per-step rows of all owned samples, sorted, one window of samples at a time."""
    if not parts:
        return
    all_ids = np.sort(np.concatenate([p.ids for p in parts]))
    if rows_per_sample is None:
        rows_per_sample = _rows_per_sample(parts)
    size = max(1, WINDOW_ROWS // max(1, rows_per_sample))
    lo_hi = [(int(p.ids[0]), int(p.ids[-1])) if p.ids.size else (0, -1) for p in parts]
    for start in range(0, all_ids.size, size):
        lo, hi = int(all_ids[start]), int(all_ids[min(start + size, all_ids.size) - 1])
        tables = []
        for part, (first, last) in zip(parts, lo_hi, strict=True):
            if first > hi or last < lo:
                continue
            t = pq.read_table(part.steps_path, schema=STEPS_SCHEMA,
                              filters=[("sample", ">=", lo), ("sample", "<=", hi)])
            own = part.ids[(part.ids >= lo) & (part.ids <= hi)]
            t = t.filter(pc.is_in(t.column("sample"), value_set=pa.array(own, pa.int64())))
            tables.append(t)
        if tables:
            yield pa.concat_tables(tables).sort_by([(k, "ascending") for k in STEP_KEYS])


def _rows_per_sample(parts: list[Part]) -> int:
    for p in parts:
        if p.ids.size:
            n = pq.ParquetFile(p.steps_path).metadata.num_rows
            return max(1, n // p.ids.size)
    return 1


class StepQuantiles:
    """Exact per (agent, quantity, step) statistics over the samples, from sorted windows.

    ``add`` takes a window of tidy per-step rows; series are numbered as met; the first
    ``max_series`` met (or those in ``only``) are kept as float64 arrays samples x steps (NaN
    where a sample has no row). ``table`` gives pandas' ``groupby(...).agg(count, mean)`` and
    ``quantile`` (linear interpolation) of the kept series: the same numbers to 1e-12.
    """

    def __init__(self, sample_ids: np.ndarray, n_steps: int, max_series: int | None = None,
                 only: list[tuple[str, str]] | None = None) -> None:
        self.sample_ids = np.asarray(sample_ids, dtype=np.int64)
        self.n_steps = n_steps
        self.max_series = max_series
        self.only = None if only is None else set(only)
        self.seen: dict[tuple[str, str], int] = {}
        self.values: dict[tuple[str, str], np.ndarray] = {}
        self.present: dict[tuple[str, str], np.ndarray] = {}

    def _keep(self, key: tuple[str, str]) -> bool:
        if self.only is not None:
            return key in self.only
        return self.max_series is None or self.seen[key] < self.max_series

    def add(self, window: pa.Table) -> None:
        """Put one window's rows (any order) into the arrays of the kept series."""
        if window.num_rows == 0:
            return
        agent = pc.dictionary_encode(window.column("agent").combine_chunks())
        quantity = pc.dictionary_encode(window.column("quantity").combine_chunks())
        ai = agent.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        qi = quantity.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        nq = len(quantity.dictionary)
        pair = ai * nq + qi
        rows = np.searchsorted(self.sample_ids, window.column("sample").to_numpy())
        step = window.column("step").to_numpy()
        value = window.column("value").to_numpy(zero_copy_only=False)
        order = np.argsort(pair, kind="stable")
        bounds = np.flatnonzero(np.diff(pair[order])) + 1
        for idx in np.split(order, bounds):
            p = int(pair[idx[0]])
            key = (str(agent.dictionary[p // nq]), str(quantity.dictionary[p % nq]))
            self.seen.setdefault(key, len(self.seen))
            if not self._keep(key):
                continue
            if key not in self.values:
                self.values[key] = np.full((self.sample_ids.size, self.n_steps), np.nan)
                self.present[key] = np.zeros(self.n_steps, dtype=bool)
            self.values[key][rows[idx], step[idx]] = value[idx]
            self.present[key][step[idx]] = True

    def table(self) -> pd.DataFrame:
        """``agent, quantity, step, n, mean, p5, p50, p95`` sorted by the first three."""
        frames = [self._series_table(k) for k in sorted(self.values)]
        if not frames:
            return pd.DataFrame(columns=["agent", "quantity", "step", "n", "mean", "p5", "p50",
                                         "p95"])
        return pd.concat(frames, ignore_index=True)

    def _series_table(self, key: tuple[str, str]) -> pd.DataFrame:
        v = self.values.pop(key)
        steps = np.flatnonzero(self.present.pop(key))
        v = v[:, steps]
        n, mean, q = exact_stats(v)
        out = pd.DataFrame({"agent": key[0], "quantity": key[1], "step": steps.astype(np.int64),
                            "n": n, "mean": mean})
        for k, qq in enumerate(QUANTILES):
            out[f"p{round(qq * 100)}"] = q[k]
        return out


def exact_stats(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``v`` (samples x columns, NaN = no value): count, mean, :data:`QUANTILES`.

    Quantiles: linear interpolation between order statistics, NaN skipped (numpy's and
    pandas' default).
    """
    ok = ~np.isnan(v)
    n = ok.sum(axis=0)
    # pandas' grouped mean (compensated summation in row order, NaN skipped): the same bits
    # as ``groupby(["agent", "quantity", "step"]).mean()`` on the tidy rows sorted by sample
    mean = (pd.DataFrame(v).groupby(np.zeros(v.shape[0], dtype=np.int64)).mean()
            .to_numpy().reshape(-1) if v.shape[0] else np.full(v.shape[1], np.nan))
    s = np.sort(v, axis=0)  # NaN last: the first n rows of a column are its sorted values
    q = np.full((len(QUANTILES), v.shape[1]), np.nan)
    has = n > 0
    cols = np.flatnonzero(has)
    for k, qq in enumerate(QUANTILES):
        pos = qq * (n[has] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n[has] - 1)
        frac = pos - lo
        a, b = s[lo, cols], s[hi, cols]
        q[k, cols] = a + (b - a) * frac
    return n.astype(np.int64), mean, q


def write_steps_and_stats(parts: list[Part], steps_path: Path | None, n_steps: int,
                          on_window: Callable[[pa.Table], None] | None = None,
                          budget_bytes: int = QUANTILE_BUDGET_BYTES) -> pd.DataFrame:
    """Write ``steps.parquet`` (unless ``steps_path`` is None) and return the step quantiles.

    ``on_window`` sees every sorted window (e.g. for the per-day KPIs). Passes over the parts:
    one, plus one per further group of series when the quantile arrays exceed the budget.
    """
    ids = np.sort(np.concatenate([p.ids for p in parts])) if parts else np.empty(0, np.int64)
    per_series = max(1, ids.size * n_steps * 8)
    max_series = max(1, budget_bytes // per_series)
    stats = StepQuantiles(ids, n_steps, max_series=max_series)
    writer = None
    tmp = None if steps_path is None else steps_path.with_name(steps_path.name + ".tmp")
    try:
        for window in step_windows(parts):
            if tmp is not None:
                if writer is None:
                    writer = pq.ParquetWriter(tmp, STEPS_SCHEMA)
                writer.write_table(window)
            stats.add(window)
            if on_window is not None:
                on_window(window)
    finally:
        if writer is not None:
            writer.close()
    if tmp is not None and steps_path is not None:
        if writer is None:
            pq.write_table(STEPS_SCHEMA.empty_table(), tmp)
        os.replace(tmp, steps_path)
    frames = [stats.table()]
    rest = sorted(stats.seen, key=stats.seen.__getitem__)[max_series:]
    for g in range(0, len(rest), max_series):
        more = StepQuantiles(ids, n_steps, only=rest[g:g + max_series])
        for window in step_windows(parts):
            more.add(window)
        frames.append(more.table())
    quant = pd.concat(frames, ignore_index=True)
    return quant.sort_values(["agent", "quantity", "step"], kind="mergesort").reset_index(drop=True)
