"""Statistics and the summary of a finished Monte Carlo batch."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from vppsim import __version__
from vppsim.montecarlo.cluster import ChunkLog
from vppsim.montecarlo.store import write_frame, write_parquet, write_text
from vppsim.montecarlo.stream import QUANTILES, Part, step_windows, write_steps_and_stats
from vppsim.montecarlo.tables import KPI_SCALARS, STEPS_SCHEMA, kpi_columns, kpi_schema
from vppsim.results.montecarlo import FAN_FIGURES, KPI_FIGURES, figure_pngs, render_report, write_pngs
from vppsim.scenario.loader import LoadedScenario

log = logging.getLogger(__name__)

#: longest wait for a figure drawn on the cluster before drawing it here (s)
FIGURE_TIMEOUT_S = 300.0


@dataclass
class MonteCarloResult:
    """The outcome of :func:`run_montecarlo`.

    ``kpis`` holds every sample written so far (all ``n_samples`` when ``complete``), sorted
    by sample; ``steps`` their per-step series, read from the folder when asked for (a
    100,000-sample batch's series do not fit in memory: read ``steps.parquet`` in pieces
    instead); ``computed_samples`` are the samples this call computed (a resumed batch
    computes only the missing ones); ``paths`` name the files written.
    """

    out: Path
    kpis: pd.DataFrame
    n_samples: int
    computed_samples: list[int]
    complete: bool
    summary: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    parts: list[Part] = field(default_factory=list, repr=False)

    @property
    def n_errors(self) -> int:
        """Samples that raised (their ``error`` column is set)."""
        return int(self.kpis["error"].notna().sum()) if len(self.kpis) else 0

    @property
    def steps(self) -> pd.DataFrame:
        """Per-step series of the samples in ``kpis``, sorted by (sample, agent, quantity, step)."""
        if "steps" in self.paths and self.paths["steps"].exists():
            return pd.read_parquet(self.paths["steps"])
        windows = list(step_windows(self.parts))
        table = pa.concat_tables(windows) if windows else STEPS_SCHEMA.empty_table()
        return table.to_pandas()


def kpi_stats(values: pd.Series) -> dict[str, Any]:
    """n, mean, std (ddof 1), min, 5/50/95 % quantiles and max of the finite values."""
    v = values.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "p5": None, "p50": None,
                "p95": None, "max": None}
    q = np.quantile(v, QUANTILES)
    return {"n": int(v.size), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "min": float(v.min()),
            "p5": float(q[0]), "p50": float(q[1]), "p95": float(q[2]), "max": float(v.max())}


#: per-day KPIs of a multi-day batch (``day_kpis.parquet``): name -> (per-step series, how)
DAY_KPIS: dict[str, tuple[str, str]] = {
    "total_vpp_cost_cny": ("cost_cny", "sum"),
    "imbalance_kwh": ("imbalance_kw", "abs_energy"),
    "network_losses_kwh": ("losses_kw", "energy"),
    "grid_import_kwh": ("grid_import_kw", "energy"),
    "grid_export_kwh": ("grid_export_kw", "energy"),
    "min_voltage_pu": ("vm_min_pu", "min"),
    "max_voltage_pu": ("vm_max_pu", "max"),
}


def day_kpis(steps: pd.DataFrame, steps_per_day: int, step_h: float) -> pd.DataFrame:
    """Per sample and day: the :data:`DAY_KPIS` from the per-step series.

    Same definitions as the horizon's KPIs, so the days of a sample add up to its KPI row.
    """
    day = steps["step"] // steps_per_day
    frames = []
    for name, (quantity, how) in DAY_KPIS.items():
        sel = steps["quantity"] == quantity
        v = steps.loc[sel, "value"]
        if how == "abs_energy":
            v = v.abs()
        g = v.groupby([steps.loc[sel, "sample"], day[sel].rename("day")])
        if how in ("sum", "abs_energy", "energy"):
            r = g.sum(min_count=1) * (1.0 if how == "sum" else step_h)
        else:
            r = g.min() if how == "min" else g.max()
        frames.append(r.rename(name))
    return pd.concat(frames, axis=1).sort_index().reset_index()


class FigureJobs:
    """The batch's figures, drawn on the Dask workers (one task per figure).

    Without a client (or if a task fails) they are drawn in this process.
    """

    def __init__(self, client: Any, step_h: float) -> None:
        self.client = client
        self.step_h = step_h
        self.jobs: list[tuple[str, Any, pd.DataFrame | None, pd.DataFrame | None]] = []

    def submit(self, names: tuple[str, ...], kpis: pd.DataFrame | None,
               quant: pd.DataFrame | None) -> None:
        """Start drawing the figures ``names`` (one task each) from ``kpis`` or ``quant``."""
        shipped: tuple[Any, Any] = (kpis, quant)
        if self.client is not None:  # sent to the workers once, not within every task's graph
            shipped = tuple(None if x is None else self.client.scatter(x)
                            for x in (kpis, quant))  # type: ignore[assignment]
        for name in names:
            fut = None
            if self.client is not None:
                fut = self.client.submit(figure_pngs, *shipped, self.step_h, (name,), pure=False)
            self.jobs.append((name, fut, kpis, quant))

    def gather(self) -> dict[str, bytes]:
        """Every figure's PNG bytes by name (a figure with nothing to draw is absent)."""
        pngs: dict[str, bytes] = {}
        for name, fut, kpis, quant in self.jobs:
            try:
                pngs.update(fut.result(timeout=FIGURE_TIMEOUT_S) if fut is not None else
                            figure_pngs(kpis, quant, self.step_h, (name,)))
            except Exception as exc:  # noqa: BLE001 - a lost worker: draw it here instead
                if fut is None:
                    raise
                log.warning("figure %s on the cluster failed (%s); drawing it here", name, exc)
                pngs.update(figure_pngs(kpis, quant, self.step_h, (name,)))
        return pngs


def _write_steps(result: MonteCarloResult, loaded: LoadedScenario, paths: dict[str, Path]
                 ) -> pd.DataFrame:
    """Write ``steps.parquet`` (and a multi-day batch's ``day_kpis.parquet``); the quantiles."""
    s = loaded.scenario
    days: list[pd.DataFrame] = []

    def per_day(window: pa.Table) -> None:
        days.append(day_kpis(window.to_pandas(), s.steps_per_day, s.step_h))

    quant = write_steps_and_stats(result.parts, paths["steps"], s.steps_per_day * s.days,
                                  on_window=per_day if s.days > 1 else None)
    write_frame(quant, paths["step_quantiles"])
    if s.days > 1:
        paths["day_kpis"] = result.out / "day_kpis.parquet"
        write_frame(pd.concat(days, ignore_index=True) if days else
                    day_kpis(STEPS_SCHEMA.empty_table().to_pandas(), s.steps_per_day, s.step_h),
                    paths["day_kpis"])
    return quant


def finish_batch(result: MonteCarloResult, loaded: LoadedScenario, manifest: dict[str, Any],
                 record: ChunkLog, t_start: float, client: Any = None) -> None:
    """Write the batch's tables, ``summary.json``, ``report.md`` and figures into its folder.

    ``client``: a Dask client whose workers draw the figures while this process writes the
    tables (None: drawn here).
    """
    t0 = time.perf_counter()
    wall = record.wall
    split = record.writing
    out = result.out
    kpis = result.kpis
    s = loaded.scenario
    vpp_names = [v.name for v in s.vpps]
    paths = {"kpis": out / "kpis.parquet", "steps": out / "steps.parquet",
             "step_quantiles": out / "step_quantiles.parquet", "summary": out / "summary.json",
             "report": out / "report.md", "figures": out / "figures"}
    write_parquet(kpis, paths["kpis"], kpi_schema(vpp_names))
    split["kpis"] = time.perf_counter() - t0
    ok = kpis[kpis["error"].isna()]
    errors = kpis[kpis["error"].notna()]
    figures = FigureJobs(client, s.step_h)
    figures.submit(KPI_FIGURES, ok, None)  # drawn on the workers while the client writes
    t1 = time.perf_counter()
    quant = _write_steps(result, loaded, paths)
    split["steps_and_quantiles"] = time.perf_counter() - t1
    figures.submit(FAN_FIGURES, None, quant)
    t1 = time.perf_counter()
    figure_files = write_pngs(figures.gather(), paths["figures"])
    split["figures"] = time.perf_counter() - t1  # what remained of them after the tables
    n_computed = len(result.computed_samples)
    wall["writing"] += time.perf_counter() - t0
    wall["total"] = time.perf_counter() - t_start
    summary = {
        "kind": "vppsim-montecarlo",
        "scenario": loaded.scenario.name,
        "scenario_file": str(loaded.path),
        "vppsim_version": __version__,
        "seed": manifest["seed"],
        "seeds": manifest["seeds"],
        "n_samples": result.n_samples,
        "n_ok": len(ok),
        "n_errors": len(errors),
        "errors": [{"sample": int(r.sample), "seed": int(r.seed), "error": r.error}
                   for r in errors.head(50).itertuples()],
        "days": loaded.scenario.days,
        "step_h": loaded.scenario.step_h,
        "price_policy": loaded.scenario.market.price_policy,
        "power_flow_backend": manifest["power_flow_backend"],
        "computed_this_run": n_computed,
        "resumed": n_computed < result.n_samples,
        "failed_chunks": record.failed,
        "recomputed_damaged_parts": len(record.damaged),
        "damaged_parts": record.damaged,
        "wall_time_s": dict(wall),
        # the writing phase by part (s): parts (as chunks finish), kpis, steps_and_quantiles,
        # figures, report (summary.json itself not counted)
        "writing_split_s": dict(split),
        "samples_per_s": (n_computed / (wall["samples"] + wall["writing"])
                          if n_computed and wall["samples"] + wall["writing"] > 0 else None),
        "worker_s_per_sample": record.worker_compute_s / n_computed if n_computed else None,
        # worker time per sample by phase (build, realize, realtime = the VPPs' inputs and
        # outcomes, allocation = the batched allocator, settlement, power_flow, accounting,
        # kpis = summary and per-step series); wall-clock, not part of the reproducible tables
        "worker_phase_ms_per_sample": ({k: v * 1e3 / n_computed
                                        for k, v in record.worker_phase_s.items()}
                                       if n_computed else None),
        "kpis": {c: kpi_stats(ok[c]) for c in kpi_columns(vpp_names)[2:-1]},
        "kpi_table_layout": "one row per sample: sample, seed, cost_cny__<VPP>, "
                            + ", ".join(KPI_SCALARS) + ", error",
        "figures": [Path(f).name for f in figure_files],
        # when the client was up and the workers warmed, in s after the cluster's start began
        # (it overlaps the day-ahead clearing; wall_time_s.cluster_start is what remained)
        "cluster_start_s": dict(record.cluster),
        "max_chunks_in_flight": record.max_in_flight,
    }
    t1 = time.perf_counter()
    write_text(paths["report"], render_report(summary, figure_files))
    split["report"] = time.perf_counter() - t1
    summary["writing_split_s"] = dict(split)
    write_text(paths["summary"], json.dumps(summary, indent=2) + "\n")
    result.summary = summary
    result.paths = paths
