"""Monte Carlo over forecast uncertainty on Dask (DESIGN.md "Monte Carlo").

One batch is ``n_samples`` realizations of one scenario day:

1. the day-ahead market (prices, committed schedules, VPO storage plan) is cleared **once**,
   in the client, from the forecasts (:class:`vppsim.agents.vpo.ClearedDay`);
2. every sample ``i`` is a fresh :class:`vppsim.model.VPPModel` seeded with
   ``SeedSequence(seed).spawn(n_samples)[i]`` that adopts that cleared day and runs real-time
   balancing, settlement and power flow under its own forecast-error draws;
3. samples run in chunks on Dask workers (a ``distributed.LocalCluster`` with one
   single-threaded process per core by default, or an existing scheduler); the client writes
   each finished chunk at once as Parquet parts, so an interrupted batch resumes where it
   stopped and computes only the missing samples.

A sample's result depends only on the scenario, the cleared day and its own seed, never on
the chunking, the worker count or the order of completion, and the tables are sorted by
sample: the KPI table is bit-for-bit the same on one worker, two workers or a cluster.

Output folder (``out``)::

    manifest.json           what the batch is (scenario hash, seed, n_samples, backend); a
                            re-run with a different batch in the same folder is refused
    parts/samples-<first>-<last>.parquet   KPI rows of one finished chunk
    parts/steps-<first>-<last>.parquet     per-step series of the same chunk
    kpis.parquet            one row per sample, sorted by sample (see KPI_COLUMNS)
    steps.parquet           tidy (sample, agent, quantity, step, value)
    step_quantiles.parquet  per (agent, quantity, step): mean and 5/50/95 % quantiles
    summary.json            n, errors, seed, wall time split, mean/std/5/50/95 % per KPI
    report.md, figures/*.png

KPI table layout (wide, one row per sample): ``sample``, ``seed`` (the integer given to the
sample's model), ``cost_cny__<VPP>`` for every VPP of the scenario (realized cost incl.
imbalance settlement), then the scalar KPIs of :data:`KPI_SCALARS` (the names and units of
``summary.json``, DESIGN.md "Results"), then ``error``: ``None``, or ``"<Type>: <message>"``
for a sample that raised, whose KPIs are then NaN.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vppsim import __version__
from vppsim.scenario import LoadedScenario

#: scalar KPIs of one sample, taken from :func:`vppsim.results.summarize` (same names, units)
KPI_SCALARS: tuple[str, ...] = (
    "total_vpp_cost_cny",
    "vpo_profit_cny",
    "system_cost_cny",
    "imbalance_kwh",
    "curtailment_kwh",
    "network_losses_kwh",
    "min_voltage_pu",
    "max_voltage_pu",
    "max_line_loading_pct",
    "renewable_utilization",
    "unmet_energy_kwh",
    "spilled_energy_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "peak_grid_import_kw",
    "power_flow_nonconverged_steps",
    "allocation_deviation_rate",
    "allocation_stability_index",
    "allocation_gap_max",
)

#: per-step series kept for the fan charts: time-series ``kind`` -> columns
STEP_SERIES: dict[str, tuple[str, ...]] = {
    "vpo": ("c_sell_cny_per_kwh", "c_buy_cny_per_kwh", "grid_import_kw", "grid_export_kw"),
    "network": ("vm_min_pu", "vm_max_pu", "losses_kw"),
    "battery": ("soc_pu",),
    "vpp": ("imbalance_kw", "cost_cny"),
}

QUANTILES = (0.05, 0.5, 0.95)
MANIFEST = "manifest.json"
PARTS = "parts"
#: manifest fields that must match for a re-run to resume a folder
GUARDED = ("scenario_sha256", "seed", "n_samples", "power_flow_backend", "days")

STEPS_SCHEMA = pa.schema([
    ("sample", pa.int64()),
    ("agent", pa.string()),
    ("quantity", pa.string()),
    ("step", pa.int64()),
    ("value", pa.float64()),
])

log = logging.getLogger(__name__)


class ManifestMismatchError(ValueError):
    """The output folder holds a different batch (scenario, seed, size or backend)."""


@dataclass(frozen=True)
class SampleContext:
    """What every sample needs, shipped once to every worker (``client.scatter``)."""

    loaded: LoadedScenario
    cleared: dict[int, Any]
    vpp_names: tuple[str, ...]


@dataclass
class MonteCarloResult:
    """The outcome of :func:`run_montecarlo`.

    ``kpis`` / ``steps`` hold every sample written so far (all ``n_samples`` when
    ``complete``), sorted by sample; ``computed_samples`` are the samples this call computed
    (a resumed batch computes only the missing ones); ``paths`` name the files written.
    """

    out: Path
    kpis: pd.DataFrame
    steps: pd.DataFrame
    n_samples: int
    computed_samples: list[int]
    complete: bool
    summary: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def n_errors(self) -> int:
        """Samples that raised (their ``error`` column is set)."""
        return int(self.kpis["error"].notna().sum()) if len(self.kpis) else 0


# ---------------------------------------------------------------- seeds and columns


def sample_seeds(seed: int, n_samples: int) -> list[int]:
    """The model seed of every sample: ``SeedSequence(seed).spawn(n)[i].generate_state(1)[0]``.

    Child ``i`` depends only on ``seed`` and ``i``, so sample ``i`` is the same in a batch of
    any size, on any worker.
    """
    children = np.random.SeedSequence(seed).spawn(n_samples)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def kpi_columns(vpp_names: Sequence[str]) -> list[str]:
    """Column order of the KPI table for a scenario with these VPPs."""
    return (["sample", "seed"] + [f"cost_cny__{v}" for v in vpp_names] + list(KPI_SCALARS)
            + ["error"])


def _kpi_schema(vpp_names: Sequence[str]) -> pa.Schema:
    fields = [("sample", pa.int64()), ("seed", pa.int64())]
    fields += [(c, pa.float64()) for c in kpi_columns(vpp_names)[2:-1]]
    fields.append(("error", pa.string()))
    return pa.schema(fields)


def _num(x: Any) -> float:
    if x is None:
        return math.nan
    if isinstance(x, list | tuple):  # power_flow_nonconverged_steps: a list of steps
        return float(len(x))
    return float(x)


# ---------------------------------------------------------------- the worker side


def run_sample(loaded: LoadedScenario, cleared: dict[int, Any], sample: int, seed: int,
               vpp_names: Sequence[str] | None = None, power_flow: Any = None,
               ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run one sample alone; return its KPI row and its per-step series (tidy).

    The same as one sample of :func:`run_chunk` (which steps a chunk's samples in lockstep).
    ``power_flow`` is a :class:`vppsim.grids.PowerFlow` of the feeder to reuse; the result
    does not depend on it. A sample that raises is not an error of the batch: its row carries
    ``error`` (the exception type and message), NaN KPIs and no per-step series.
    """
    ctx = SampleContext(loaded, cleared, tuple(vpp_names) if vpp_names is not None
                        else tuple(v.name for v in loaded.scenario.vpps))
    kpis, steps, _, _ = run_chunk(ctx, [(sample, seed)], power_flow=power_flow)
    row = kpis.iloc[0].to_dict()
    row["sample"], row["seed"] = int(row["sample"]), int(row["seed"])
    row["error"] = None if pd.isna(row["error"]) else row["error"]
    return row, steps


def _error_row(sample: int, seed: int, names: Sequence[str], exc: BaseException) -> dict[str, Any]:
    row: dict[str, Any] = {"sample": int(sample), "seed": int(seed)}
    for c in kpi_columns(names)[2:-1]:
        row[c] = math.nan
    row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def _kpi_row(model: Any, sample: int, seed: int, names: Sequence[str]) -> dict[str, Any]:
    from vppsim.results import summarize

    s = summarize(model, {})
    row: dict[str, Any] = {"sample": int(sample), "seed": int(seed)}
    for v in names:
        row[f"cost_cny__{v}"] = _num(s["vpp_cost_cny"].get(v))
    for k in KPI_SCALARS:
        row[k] = _num(s[k])
    row["error"] = None
    return row


def _step_series(ts: pd.DataFrame, sample: int) -> pd.DataFrame:
    kind = ts["kind"].to_numpy()
    agents, quantities, steps, values = [], [], [], []
    for k, cols in STEP_SERIES.items():
        mask = kind == k
        n = int(mask.sum())
        agent = ts["agent"].to_numpy()[mask].astype(str)
        step = ts["step"].to_numpy()[mask].astype(np.int64)
        for col in cols:
            if col not in ts.columns:  # e.g. no battery rows (prosumer fleets keep their own)
                continue
            agents.append(agent)
            quantities.append(np.full(n, col, dtype=object))
            steps.append(step)
            values.append(pd.to_numeric(ts[col].to_numpy()[mask], errors="coerce").astype(float))
    return pd.DataFrame({
        "sample": np.full(sum(len(a) for a in agents), sample, dtype=np.int64),
        "agent": np.concatenate(agents).astype(object),
        "quantity": np.concatenate(quantities),
        "step": np.concatenate(steps),
        "value": np.concatenate(values),
    })


def run_chunk(ctx: SampleContext, chunk: Sequence[tuple[int, int]], power_flow: Any = None,
              ) -> tuple[pd.DataFrame, pd.DataFrame, float, dict[str, float]]:
    """Run a chunk of ``(sample, seed)`` pairs on a worker; the client writes the results.

    The chunk's models are stepped in lockstep (:meth:`VPPModel.begin_step` /
    :meth:`VPPModel.finish_step`) so that the real-time allocation of every VPP of every sample
    in the chunk is one batched allocator call per step (GA-ACO over problems x population x
    resources). Each problem is seeded by its own model's :meth:`VPPModel.allocation_key`, so a
    sample's result is the same in any chunk. One :class:`vppsim.grids.PowerFlow` serves the
    whole chunk (every model sets all injections before its solve). Returns the KPI rows, the
    per-step series, the compute time and the time per phase summed over the chunk's samples
    (``build``, the model's phases, ``allocation``, ``kpis``).
    """
    from vppsim.model import VPPModel, allocate_batch

    start = time.perf_counter()
    names = ctx.vpp_names
    phase: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()
    if power_flow is None:
        power_flow = VPPModel.build_power_flow(ctx.loaded)
    rows: dict[int, dict[str, Any]] = {}
    models: dict[int, Any] = {}
    for sample, seed in chunk:
        try:
            models[sample] = VPPModel(ctx.loaded, seed=seed, shared_day_ahead=ctx.cleared,
                                      power_flow=power_flow)
        except Exception as exc:  # noqa: BLE001 - a failed sample is a result, the batch goes on
            rows[sample] = _error_row(sample, seed, names, exc)
    phase["build"] += time.perf_counter() - t0
    seed_of = dict(chunk)
    allocator = next(iter(models.values())).allocator if models else None

    def fail(sample: int, exc: BaseException) -> None:
        rows[sample] = _error_row(sample, seed_of[sample], names, exc)
        del models[sample]

    while any(m.t < m.n_steps for m in models.values()):
        problems: dict[int, list[Any]] = {}
        for sample, m in list(models.items()):
            try:
                problems[sample] = m.begin_step()
            except Exception as exc:  # noqa: BLE001
                fail(sample, exc)
        t0 = time.perf_counter()
        # one batched allocator call for every VPP of every sample (model.allocate_batch)
        outcomes: dict[int, list[Any]] = {}
        try:
            res = allocate_batch(allocator, [(models[s], p) for s, p in problems.items()])
            outcomes = dict(zip(problems, res, strict=True))
        except Exception:  # noqa: BLE001 - find the sample(s) that raise, one by one
            for sample, p in problems.items():
                try:
                    outcomes[sample] = allocate_batch(allocator, [(models[sample], p)])[0]
                except Exception as exc:  # noqa: BLE001
                    fail(sample, exc)
        phase["allocation"] += time.perf_counter() - t0
        for sample, outs in outcomes.items():
            try:
                models[sample].finish_step(problems[sample], outs)
            except Exception as exc:  # noqa: BLE001
                fail(sample, exc)
    steps = []
    t0 = time.perf_counter()
    for sample, m in models.items():
        try:
            rows[sample] = _kpi_row(m, sample, seed_of[sample], names)
            steps.append(_step_series(m.timeseries(), int(sample)))
        except Exception as exc:  # noqa: BLE001
            rows[sample] = _error_row(sample, seed_of[sample], names, exc)
        for k, v in m.phase_s.items():
            phase[k] += v
    phase["kpis"] += time.perf_counter() - t0
    if not steps:
        steps.append(pd.DataFrame({f.name: pd.Series(dtype=f.type.to_pandas_dtype())
                                   for f in STEPS_SCHEMA}))
    kpis = pd.DataFrame([rows[s] for s, _ in chunk], columns=kpi_columns(names))
    return kpis, pd.concat(steps, ignore_index=True), time.perf_counter() - start, dict(phase)


# ---------------------------------------------------------------- the folder


def _scenario_hash(loaded: LoadedScenario) -> str:
    """SHA-256 of the validated scenario (catalogs resolved, overrides applied) and its profiles."""
    h = hashlib.sha256()
    h.update(loaded.scenario.model_dump_json().encode())
    h.update(loaded.profiles.to_csv(index=False).encode())
    return h.hexdigest()


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _check_manifest(out: Path, manifest: dict[str, Any]) -> None:
    path = out / MANIFEST
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        diffs = [f"{k}: folder has {old.get(k)!r}, this run {manifest[k]!r}"
                 for k in GUARDED if old.get(k) != manifest[k]]
        if diffs:
            raise ManifestMismatchError(
                f"{out} holds a different Monte Carlo batch ({'; '.join(diffs)}); "
                "choose another --out or remove the folder")
        return
    if out.exists() and any(out.iterdir()):
        raise ManifestMismatchError(
            f"{out} exists and is not a Monte Carlo folder (no {MANIFEST}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    _write_text(path, json.dumps(manifest, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_parquet(df: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    """Write atomically: a killed run leaves either the whole file or none."""
    tmp = path.with_name(path.name + ".tmp")
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _part_name(kind: str, first: int, last: int) -> str:
    return f"{kind}-{first:06d}-{last:06d}.parquet"


def _scan_parts(parts: Path) -> tuple[list[Path], list[Path], set[int]]:
    """Existing (sample parts, step parts, done samples); removes leftovers of a killed write."""
    for tmp in parts.glob("*.tmp"):
        tmp.unlink()
    sample_parts = sorted(parts.glob("samples-*.parquet"))
    step_parts = []
    for p in sorted(parts.glob("steps-*.parquet")):
        if (parts / p.name.replace("steps-", "samples-", 1)).exists():
            step_parts.append(p)
        else:  # its chunk was killed between the two writes: recomputed below
            p.unlink()
    done: set[int] = set()
    for p in sample_parts:
        done.update(int(s) for s in pq.read_table(p, columns=["sample"]).column(0).to_pylist())
    return sample_parts, step_parts, done


def _chunks(items: list[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# ---------------------------------------------------------------- the client side


def clear_day_ahead(loaded: LoadedScenario, seed: int) -> dict[int, Any]:
    """Clear the day-ahead market of day 0 once, from the forecasts: ``{0: ClearedDay}``."""
    from vppsim.model import VPPModel

    model = VPPModel(loaded, seed=seed)
    model.step()  # the first step clears the day (DESIGN.md "The co-simulation loop", step 2)
    return dict(model.vpo.cleared)


def batch_scenario(loaded: LoadedScenario, backend: str | None = "lightsim2grid",
                   allocation_gap: bool | None = False) -> LoadedScenario:
    """The scenario as a batch runs it: power-flow backend and per-step exact allocation LP.

    ``allocation_gap``: whether the balanced allocators solve every step's exact LP; ``None``
    (for either argument) keeps the scenario's own setting.
    """
    s = loaded.scenario
    changes: dict[str, Any] = {}
    if backend is not None and backend != s.feeder.power_flow_backend:
        changes["feeder"] = {**s.feeder.model_dump(), "power_flow_backend": backend}
    if allocation_gap is not None and allocation_gap != s.balancing.exact_reference:
        changes["balancing"] = {**s.balancing.model_dump(), "exact_reference": allocation_gap}
    return loaded.with_overrides(**changes) if changes else loaded


def run_montecarlo(
    loaded: LoadedScenario,
    n_samples: int,
    out: str | Path,
    seed: int | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    chunk_size: int | None = None,
    max_samples: int | None = None,
    progress: bool = True,
    power_flow_backend: str | None = "lightsim2grid",
    allocation_gap: bool | None = False,
) -> MonteCarloResult:
    """Run (or resume) a Monte Carlo batch of one scenario day and write its result folder.

    Parameters
    ----------
    loaded:
        A validated one-day scenario (:func:`vppsim.scenario.load_scenario`).
    n_samples:
        Number of forecast-error samples (>= 1).
    out:
        Result folder; if it already holds this batch (same manifest) the batch resumes and
        only the missing samples are computed.
    seed:
        Base seed of ``SeedSequence(seed).spawn(n_samples)``; default: the scenario's seed.
        It also seeds the day-ahead clearing.
    workers:
        Worker processes of the ``LocalCluster`` (default: ``os.cpu_count()``).
    scheduler:
        Address of an existing Dask scheduler (or a ``distributed.Client``) to use instead of a
        ``LocalCluster``; not together with ``workers``.
    chunk_size:
        Samples per Dask task (default: about two tasks per worker, at most 100 samples).
        Results do not depend on it.
    max_samples:
        Stop after computing this many new samples (the batch stays incomplete; a re-run
        resumes it). Meant for tests and for doing a long batch in slices.
    progress:
        A tqdm bar on stderr: samples done, rate and ETA.
    power_flow_backend:
        Power-flow backend of the samples (default ``lightsim2grid``, DESIGN.md "Grids");
        ``None`` keeps the scenario's ``feeder.power_flow_backend``.
    allocation_gap:
        Whether the balanced allocators also solve every step's exact LP to report their gap
        (``allocation_gap_max`` in the KPI table); default off for speed (it about doubles the
        allocation time); ``None`` keeps the scenario's ``balancing.exact_reference``.

    Raises
    ------
    ValueError
        Bad arguments, or a scenario of more than one day.
    ManifestMismatchError
        ``out`` holds a different batch.
    """
    t_start = time.perf_counter()
    if n_samples < 1:
        raise ValueError(f"n_samples: expected an integer >= 1, got {n_samples}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers: expected an integer >= 1, got {workers}")
    if workers is not None and scheduler is not None:
        raise ValueError("expected either workers (a LocalCluster) or scheduler, not both")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size: expected an integer >= 1, got {chunk_size}")
    if max_samples is not None and max_samples < 0:
        raise ValueError(f"max_samples: expected an integer >= 0, got {max_samples}")
    if loaded.scenario.days != 1:
        raise ValueError(
            f"Monte Carlo runs one scenario day; {loaded.path} has days: {loaded.scenario.days} "
            "(set days: 1)")
    loaded = batch_scenario(loaded, power_flow_backend, allocation_gap)
    base_seed = loaded.scenario.seed if seed is None else int(seed)
    out = Path(out)
    vpp_names = tuple(v.name for v in loaded.scenario.vpps)
    manifest = {
        "kind": "vppsim-montecarlo",
        "scenario": loaded.scenario.name,
        "scenario_file": str(loaded.path),
        "scenario_file_sha256": _file_hash(loaded.path),
        "scenario_sha256": _scenario_hash(loaded),
        "seed": base_seed,
        "n_samples": int(n_samples),
        "days": loaded.scenario.days,
        "power_flow_backend": loaded.scenario.feeder.power_flow_backend,
        "seeds": "SeedSequence(seed).spawn(n_samples)[i].generate_state(1)[0]",
        "vppsim_version": __version__,
    }
    _check_manifest(out, manifest)
    parts = out / PARTS
    parts.mkdir(exist_ok=True)
    _, _, done = _scan_parts(parts)
    seeds = sample_seeds(base_seed, n_samples)
    missing = [(i, seeds[i]) for i in range(n_samples) if i not in done]
    if max_samples is not None:
        missing = missing[:max_samples]

    wall = {"day_ahead": 0.0, "cluster_start": 0.0, "samples": 0.0, "writing": 0.0}
    computed: list[int] = []
    failed_chunks: list[str] = []
    worker_compute_s = 0.0
    worker_phase_s: dict[str, float] = {}
    if missing:
        t0 = time.perf_counter()
        cleared = clear_day_ahead(loaded, base_seed)
        wall["day_ahead"] = time.perf_counter() - t0
        ctx = SampleContext(loaded=loaded, cleared=cleared, vpp_names=vpp_names)
        computed, failed_chunks, worker_compute_s = _compute(
            ctx, missing, parts, workers, scheduler, chunk_size, progress, len(done), n_samples,
            loaded.scenario.name, wall, worker_phase_s)

    t0 = time.perf_counter()
    sample_parts, step_parts, done = _scan_parts(parts)
    kpis = _read_parts(sample_parts, _kpi_schema(vpp_names))
    kpis = (kpis.drop_duplicates("sample").sort_values("sample", kind="mergesort")
            .reset_index(drop=True))
    steps = _read_parts(step_parts, STEPS_SCHEMA)
    steps = (steps[steps["sample"].isin(kpis["sample"])]
             .drop_duplicates(["sample", "agent", "quantity", "step"])
             .sort_values(["sample", "agent", "quantity", "step"]).reset_index(drop=True))
    complete = len(kpis) == n_samples
    result = MonteCarloResult(out=out, kpis=kpis, steps=steps, n_samples=n_samples,
                              computed_samples=sorted(computed), complete=complete)
    wall["writing"] += time.perf_counter() - t0
    if complete:
        _finish(result, loaded, manifest, wall, worker_compute_s, failed_chunks, t_start,
                worker_phase_s)
    else:
        result.summary = {"n_samples": n_samples, "n_done": len(kpis),
                          "computed_samples": len(computed), "failed_chunks": failed_chunks,
                          "wall_time_s": wall}
    return result


def _read_parts(paths: list[Path], schema: pa.Schema) -> pd.DataFrame:
    if not paths:
        return schema.empty_table().to_pandas()
    return pa.concat_tables([pq.read_table(p, schema=schema) for p in paths]).to_pandas()


def _open_client(workers: int | None, scheduler: Any) -> tuple[Any, Any, bool]:
    """(client, cluster or None, whether we own the client)."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler, None, False
    if scheduler is not None:
        return Client(scheduler), None, True
    # no dashboard; the scheduler's small HTTP server (health, metrics) on a free port
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"},
                           silence_logs=logging.ERROR)
    try:
        return Client(cluster), cluster, True
    except BaseException:
        cluster.close()
        raise


def _compute(ctx: SampleContext, missing: list[tuple[int, int]], parts: Path,
             workers: int | None, scheduler: Any, chunk_size: int | None, progress: bool,
             n_done: int, n_samples: int, name: str, wall: dict[str, float],
             worker_phase_s: dict[str, float]) -> tuple[list[int], list[str], float]:
    """Submit the missing samples in chunks; write every chunk as it completes."""
    from distributed import as_completed
    from tqdm import tqdm

    t0 = time.perf_counter()
    client, cluster, owned = _open_client(workers, scheduler)
    wall["cluster_start"] = time.perf_counter() - t0
    computed: list[int] = []
    failed: list[str] = []
    compute_s = 0.0
    kpi_schema = _kpi_schema(ctx.vpp_names)
    bar = tqdm(total=n_samples, initial=n_done, unit="sample", desc=f"{name} Monte Carlo",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        n_workers = max(1, sum(client.nthreads().values()))
        # big chunks: a chunk's samples are stepped in lockstep and their VPPs allocated in one
        # batched call per step, so the allocator's per-call overhead is shared by more samples
        size = chunk_size or max(1, min(100, math.ceil(len(missing) / (2 * n_workers))))
        t1 = time.perf_counter()
        ctx_future = client.scatter(ctx, broadcast=True)
        chunk_of: dict[Any, list[tuple[int, int]]] = {}
        futures = []
        for chunk in _chunks(missing, size):
            f = client.submit(run_chunk, ctx_future, chunk, pure=False)
            chunk_of[f.key] = chunk
            futures.append(f)
        pending = as_completed(futures)
        futures.clear()  # as_completed holds them until yielded; a written chunk is freed
        for fut in pending:
            chunk = chunk_of[fut.key]
            first, last = chunk[0][0], chunk[-1][0]
            try:
                kpis, steps, seconds, phases = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost chunk stays missing, resumable
                failed.append(f"samples {first}-{last}: {type(exc).__name__}: {exc}")
                log.warning("chunk %s-%s failed: %s", first, last, exc)
                continue
            tw = time.perf_counter()
            _write_parquet(steps, parts / _part_name("steps", first, last), STEPS_SCHEMA)
            _write_parquet(kpis, parts / _part_name("samples", first, last), kpi_schema)
            wall["writing"] += time.perf_counter() - tw
            compute_s += seconds
            for k, v in phases.items():
                worker_phase_s[k] = worker_phase_s.get(k, 0.0) + v
            computed.extend(int(s) for s in kpis["sample"])
            bar.update(len(kpis))
        wall["samples"] = time.perf_counter() - t1 - wall["writing"]
    finally:
        bar.close()
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()
    return computed, failed, compute_s


# ---------------------------------------------------------------- summary, report, figures


def _stats(values: pd.Series) -> dict[str, Any]:
    v = values.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "p5": None, "p50": None,
                "p95": None, "max": None}
    q = np.quantile(v, QUANTILES)
    return {"n": int(v.size), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "min": float(v.min()),
            "p5": float(q[0]), "p50": float(q[1]), "p95": float(q[2]), "max": float(v.max())}


def step_quantiles(steps: pd.DataFrame) -> pd.DataFrame:
    """Per (agent, quantity, step): mean and the 5/50/95 % quantiles over the samples."""
    cols = ["agent", "quantity", "step"]
    if steps.empty:
        return pd.DataFrame(columns=cols + ["n", "mean", "p5", "p50", "p95"])
    g = steps.groupby(cols, sort=True)["value"]
    out = g.agg(n="count", mean="mean")
    for q in QUANTILES:
        out[f"p{round(q * 100)}"] = g.quantile(q)
    return out.reset_index()


def _unit(col: str) -> str:
    for suffix, unit in (("_cny", "CNY"), ("_kwh", "kWh"), ("_kw", "kW"), ("_pu", "pu"),
                         ("_pct", "%"), ("_steps", "steps")):
        if col.endswith(suffix) or f"{suffix}__" in col:
            return unit
    return "share" if col == "renewable_utilization" else ""


def _finish(result: MonteCarloResult, loaded: LoadedScenario, manifest: dict[str, Any],
            wall: dict[str, float], worker_compute_s: float, failed_chunks: list[str],
            t_start: float, worker_phase_s: dict[str, float] | None = None) -> None:
    t0 = time.perf_counter()
    out = result.out
    kpis, steps = result.kpis, result.steps
    vpp_names = [v.name for v in loaded.scenario.vpps]
    paths = {"kpis": out / "kpis.parquet", "steps": out / "steps.parquet",
             "step_quantiles": out / "step_quantiles.parquet", "summary": out / "summary.json",
             "report": out / "report.md", "figures": out / "figures"}
    _write_parquet(kpis, paths["kpis"], _kpi_schema(vpp_names))
    _write_parquet(steps, paths["steps"], STEPS_SCHEMA)
    quant = step_quantiles(steps)
    tmp = paths["step_quantiles"].with_name("step_quantiles.parquet.tmp")
    quant.to_parquet(tmp, index=False)
    os.replace(tmp, paths["step_quantiles"])
    ok = kpis[kpis["error"].isna()]
    errors = kpis[kpis["error"].notna()]
    figure_files = make_figures(ok, quant, paths["figures"], loaded.scenario.step_h)
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
        "failed_chunks": failed_chunks,
        "wall_time_s": dict(wall),
        "samples_per_s": (n_computed / (wall["samples"] + wall["writing"])
                          if n_computed and wall["samples"] + wall["writing"] > 0 else None),
        "worker_s_per_sample": worker_compute_s / n_computed if n_computed else None,
        # worker time per sample by phase (build, realize, realtime = the VPPs' inputs and
        # outcomes, allocation = the batched allocator, settlement, power_flow, accounting,
        # kpis = summary and per-step series); wall-clock, not part of the reproducible tables
        "worker_phase_ms_per_sample": ({k: v * 1e3 / n_computed
                                        for k, v in (worker_phase_s or {}).items()}
                                       if n_computed else None),
        "kpis": {c: _stats(ok[c]) for c in kpi_columns(vpp_names)[2:-1]},
        "kpi_table_layout": "one row per sample: sample, seed, cost_cny__<VPP>, "
                            + ", ".join(KPI_SCALARS) + ", error",
        "figures": [Path(f).name for f in figure_files],
    }
    _write_text(paths["summary"], json.dumps(summary, indent=2) + "\n")
    _write_text(paths["report"], render_report(summary, figure_files))
    result.summary = summary
    result.paths = paths


def _fmt(x: Any, col: str = "") -> str:
    if x is None:
        return "n/a"
    if col.endswith("_pu") or col == "renewable_utilization":
        return f"{x:.4f}"
    return f"{x:,.2f}"


def render_report(summary: dict[str, Any], figure_files: list[str]) -> str:
    """``report.md`` of a Monte Carlo batch: the KPI quantile table, errors, timings, figures."""
    s = summary
    w = s["wall_time_s"]
    lines = [
        f"# {s['scenario']}: Monte Carlo report",
        "",
        f"vppsim {s['vppsim_version']}: {s['n_samples']} samples of one day "
        f"({s['step_h']} h steps), base seed {s['seed']}, power flow `{s['power_flow_backend']}`, "
        f"price policy `{s['price_policy']}`. {s['n_ok']} samples ran, {s['n_errors']} raised.",
        "",
        "The day-ahead market (internal prices, committed schedules) is cleared once from the "
        "forecasts and shared by every sample; each sample draws its own wind, PV and load "
        f"forecast errors (model seed `{s['seeds']}`) and runs real-time balancing, "
        "imbalance settlement and the AC power flow. The day-ahead prices are therefore the "
        "same in every sample (a zero-width band in the price fan chart); the spread is in "
        "the real-time quantities.",
        "",
        "## KPIs over the samples",
        "",
        "| KPI | unit | mean | std | 5 % | 50 % | 95 % | n |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for col, st in s["kpis"].items():
        lines.append(f"| {col} | {_unit(col)} | {_fmt(st['mean'], col)} | {_fmt(st['std'], col)} "
                     f"| {_fmt(st['p5'], col)} | {_fmt(st['p50'], col)} | "
                     f"{_fmt(st['p95'], col)} | {st['n']} |")
    lines += [
        "",
        "`cost_cny__<VPP>`: a VPP's realized cost (paper 004 eq. 4-6 on the realized schedule plus "
        "imbalance settlement); system cost = total VPP cost - VPO profit; n/a: the quantity is "
        "not defined on this feeder (e.g. line loading without line ratings). Quantiles are "
        "numpy's linear interpolation over the samples that ran.",
        "",
        "## Errors",
        "",
    ]
    if s["n_errors"]:
        lines += ["| sample | seed | error |", "|---:|---:|---|"]
        lines += [f"| {e['sample']} | {e['seed']} | {e['error']} |" for e in s["errors"]]
        if s["n_errors"] > len(s["errors"]):
            lines.append(f"\n... {s['n_errors'] - len(s['errors'])} more in kpis.parquet")
    else:
        lines.append("No sample raised.")
    if s["failed_chunks"]:
        lines += ["", "Chunks lost to the cluster in this run (recomputed by a re-run):"]
        lines += [f"- {c}" for c in s["failed_chunks"]]
    lines += [
        "",
        "## Wall time (this invocation)",
        "",
        "| phase | s |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in w.items()]
    lines += [
        "",
        f"{s['computed_this_run']} samples computed in this invocation"
        + (f" ({s['samples_per_s']:.1f} samples/s)" if s["samples_per_s"] else "")
        + ("; the others came from an earlier, interrupted run." if s["resumed"] else "."),
        "",
    ]
    if figure_files:
        lines += ["## Figures", ""]
        lines += [f"![{Path(f).stem}](figures/{Path(f).name})" for f in figure_files]
        lines.append("")
    return "\n".join(lines)


def make_figures(kpis: pd.DataFrame, quant: pd.DataFrame, folder: Path, step_h: float
                 ) -> list[str]:
    """KPI histograms and box plots, fan charts of price, SoC and voltage; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    files: list[str] = []

    def save(fig: Any, name: str) -> None:
        path = folder / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        files.append(str(path))

    cols = [c for c in kpis.columns[2:-1] if np.isfinite(kpis[c].to_numpy(dtype=float)).any()]
    if cols:
        ncol = 4
        nrow = math.ceil(len(cols) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False)
        for ax, c in zip(axes.flat, cols, strict=False):
            v = kpis[c].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            ax.hist(v, bins=min(30, max(5, int(np.sqrt(v.size)))), color="tab:blue", alpha=0.8)
            ax.axvline(float(np.median(v)), color="k", lw=1)
            ax.set_title(c, fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(cols):]:
            ax.axis("off")
        save(fig, "kpi_histograms")

        # one axis per scale: the VPP costs side by side, then one KPI per axis
        cost_cols = [c for c in cols if c.startswith("cost_cny__")]
        box_groups = [("VPP cost (CNY)", cost_cols)] if cost_cols else []
        box_groups += [(c, [c]) for c in ("vpo_profit_cny", "system_cost_cny", "imbalance_kwh",
                                          "network_losses_kwh", "min_voltage_pu") if c in cols]
        widths = [max(1.0, 0.7 * len(cs)) for _, cs in box_groups]
        fig, axes = plt.subplots(1, len(box_groups), figsize=(1.9 * sum(widths) + 1, 3.4),
                                 squeeze=False, gridspec_kw={"width_ratios": widths})
        for ax, (title, cs) in zip(axes.flat, box_groups, strict=True):
            data = [kpis[c].dropna().to_numpy(dtype=float) for c in cs]
            ax.boxplot(data, whis=(5, 95), showfliers=True, flierprops={"markersize": 2})
            ax.set_xticks(range(1, len(cs) + 1),
                          [c.replace("cost_cny__", "") if len(cs) > 1 else "" for c in cs],
                          fontsize=7)
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=7)
        fig.suptitle("KPI box plots (box: quartiles, whiskers: 5-95 %)", fontsize=9)
        save(fig, "kpi_boxplots")

    def fan(ax: Any, q: pd.DataFrame, label: str, color: str) -> None:
        q = q.sort_values("step")
        t = np.append(q["step"].to_numpy(), q["step"].iloc[-1] + 1) * step_h

        def ext(col: str) -> np.ndarray:
            v = q[col].to_numpy(dtype=float)
            return np.append(v, v[-1])

        ax.fill_between(t, ext("p5"), ext("p95"), color=color, alpha=0.25, step="post",
                        label=f"{label} 5-95 %")
        ax.step(t, ext("p50"), where="post", color=color, lw=1.5, label=f"{label} median")

    def panel(name: str, series: list[tuple[str, str, str]], ylabel: str,
              separate: bool = False) -> None:
        present = [(a, qn, lbl) for a, qn, lbl in series
                   if ((quant["agent"] == a) & (quant["quantity"] == qn)).any()]
        if not present:
            return
        n_ax = len(present) if separate else 1
        fig, axes = plt.subplots(n_ax, 1, figsize=(8, 2.6 * n_ax + 1.0), squeeze=False,
                                 sharex=True)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, (a, qn, lbl) in enumerate(present):
            ax = axes[k, 0] if separate else axes[0, 0]
            fan(ax, quant[(quant["agent"] == a) & (quant["quantity"] == qn)], lbl,
                colors[k % len(colors)])
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=7, ncol=2)
        axes[-1, 0].set_xlabel("hour")
        save(fig, name)

    if not quant.empty:
        vpo = quant.loc[quant["quantity"] == "c_sell_cny_per_kwh", "agent"]
        vpo_name = str(vpo.iloc[0]) if len(vpo) else "VPO"
        panel("fan_price", [(vpo_name, "c_sell_cny_per_kwh", "c_sell"),
                            (vpo_name, "c_buy_cny_per_kwh", "c_buy")], "CNY/kWh")
        bats = sorted(quant.loc[quant["quantity"] == "soc_pu", "agent"].unique())
        panel("fan_soc", [(b, "soc_pu", b) for b in bats], "SoC (pu)", separate=True)
        panel("fan_voltage", [("network", "vm_min_pu", "min bus voltage"),
                              ("network", "vm_max_pu", "max bus voltage")], "pu")
        panel("fan_grid", [(vpo_name, "grid_import_kw", "grid import"),
                           (vpo_name, "grid_export_kw", "grid export")], "kW")
    return files
