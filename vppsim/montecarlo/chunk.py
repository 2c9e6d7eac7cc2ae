"""The worker side of a Monte Carlo batch: a chunk of samples stepped in lockstep."""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vppsim.model import VPPModel, allocate_batch
from vppsim.montecarlo.arrays import run_arrays, unsupported_reason
from vppsim.montecarlo.tables import KPI_SCALARS, STEP_SERIES, STEPS_SCHEMA, kpi_columns
from vppsim.results.run import summarize
from vppsim.scenario.loader import LoadedScenario


@dataclass(frozen=True)
class SampleContext:
    """What every sample needs, shipped once to every worker (``client.scatter``)."""

    loaded: LoadedScenario
    cleared: dict[int, Any]
    vpp_names: tuple[str, ...]
    #: ``auto`` (the array path where supported, else the objects), ``arrays`` or ``objects``
    path: str = "auto"


log = logging.getLogger(__name__)
#: the values of :attr:`SampleContext.path` and of ``run_chunk(path=...)``
CHUNK_PATHS = ("auto", "arrays", "objects")


def _num(x: Any) -> float:
    if x is None:
        return math.nan
    if isinstance(x, list | tuple):  # power_flow_nonconverged_steps: a list of steps
        return float(len(x))
    return float(x)


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


def _end_of_day(models: dict[int, Any], days: dict[int, list[dict[str, pd.DataFrame]]]) -> None:
    """Take the day's tables of every multi-day model that just finished a day."""
    for sample, m in models.items():
        if (m.n_steps > m.steps_per_day and m.t % m.steps_per_day == 0
                and m.datacollector.rows):
            days.setdefault(sample, []).append(
                m.datacollector.take_frames(m.steps_per_day, m.step_h))


def _adopt_days(model: Any, days: list[dict[str, pd.DataFrame]]) -> None:
    """Give ``model`` its whole horizon's tables back from the days taken (if any)."""
    if days:
        model.datacollector.adopt({
            table: pd.concat([d[table] for d in days], ignore_index=True) if len(days) > 1
            else days[0][table] for table in days[0]})


def run_chunk(ctx: SampleContext, chunk: Sequence[tuple[int, int]], power_flow: Any = None,
              path: str | None = None,
              ) -> tuple[pd.DataFrame, pd.DataFrame, float, dict[str, float]]:
    """Run a chunk of ``(sample, seed)`` pairs on a worker; the client writes the results.

    ``path`` (default ``ctx.path``): ``auto`` steps the chunk as arrays
    (:mod:`vppsim.montecarlo.arrays`) when the scenario is supported and as Mesa models (the
    reference, :func:`run_objects`) otherwise, the reason in the debug log; ``arrays`` insists
    (``ValueError`` naming the reason when unsupported); ``objects`` forces the models. Both
    paths give the same tables (``tests/test_montecarlo_arrays.py``). A chunk whose arrays meet
    what the object path reports per sample (an error) is run again on the object path.
    """
    start = time.perf_counter()
    path = ctx.path if path is None else path
    if path not in CHUNK_PATHS:
        raise ValueError(f"path: expected one of {CHUNK_PATHS}, got {path!r}")
    reason = unsupported_reason(ctx.loaded, ctx.cleared) if path != "objects" else "path=objects"
    if reason is not None and path == "arrays":
        raise ValueError(f"path='arrays': the array path does not support {reason}")
    if reason is None and chunk:
        if power_flow is None:
            power_flow = VPPModel.build_power_flow(ctx.loaded)
        try:
            kpis, steps, phase, _ = run_arrays(ctx, chunk, power_flow)
        except Exception as exc:  # noqa: BLE001 - the object path reports it per sample
            log.debug("array path failed (%s: %s); the chunk's samples one by one",
                      type(exc).__name__, exc)
            kpis, steps, phase = _one_by_one(ctx, chunk, power_flow)
        return kpis, steps, time.perf_counter() - start, phase
    elif reason is not None:
        log.debug("object path: %s", reason)
    return run_objects(ctx, chunk, power_flow)


def _one_by_one(ctx: SampleContext, chunk: Sequence[tuple[int, int]], power_flow: Any,
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Each sample of a chunk alone on the array path, or on the object path if it raises there.

    Alone, a sample's arrays give what they give in any chunk; the object path reports the
    error of a sample that raises in its row.
    """
    kpis, steps = [], []
    phase: dict[str, float] = defaultdict(float)
    for pair in chunk:
        try:
            k, st, ph, _ = run_arrays(ctx, [pair], power_flow)
        except Exception:  # noqa: BLE001
            k, st, _, ph = run_objects(ctx, [pair], power_flow)
        kpis.append(k)
        steps.append(st)
        for name, v in ph.items():
            phase[name] += v
    return (pd.concat(kpis, ignore_index=True), pd.concat(steps, ignore_index=True),
            dict(phase))


def run_objects(ctx: SampleContext, chunk: Sequence[tuple[int, int]], power_flow: Any = None,
                ) -> tuple[pd.DataFrame, pd.DataFrame, float, dict[str, float]]:
    """The object path of :func:`run_chunk`: one Mesa model per sample, stepped in lockstep.

    The chunk's models are stepped in lockstep (:meth:`VPPModel.begin_step` /
    :meth:`VPPModel.finish_step`) so that the real-time allocation of every VPP of every sample
    in the chunk is one batched allocator call per step (GA-ACO over problems x population x
    resources). Each problem is seeded by its own model's :meth:`VPPModel.allocation_key`, so a
    sample's result is the same in any chunk. One :class:`vppsim.grids.PowerFlow` serves the
    whole chunk (every model sets all injections before its solve). Returns the KPI rows, the
    per-step series, the compute time and the time per phase summed over the chunk's samples
    (``build``, the model's phases, ``allocation``, ``kpis``).
    """
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
    built = list(models.values())  # released at the end (mesa keeps every model otherwise)
    phase["build"] += time.perf_counter() - t0
    seed_of = dict(chunk)
    allocator = next(iter(models.values())).allocator if models else None

    # a sample of several days: its collected rows become DataFrames at the end of each day
    # (dicts per (step, agent) would grow with the horizon times the chunk's samples)
    days: dict[int, list[dict[str, pd.DataFrame]]] = {}

    def fail(sample: int, exc: BaseException) -> None:
        rows[sample] = _error_row(sample, seed_of[sample], names, exc)
        del models[sample]
        days.pop(sample, None)

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
        _end_of_day(models, days)
    steps = []
    t0 = time.perf_counter()
    for sample, m in models.items():
        try:
            _adopt_days(m, days.pop(sample, []))
            rows[sample] = _kpi_row(m, sample, seed_of[sample], names)
            steps.append(_step_series(m.timeseries(), int(sample)))
        except Exception as exc:  # noqa: BLE001
            rows[sample] = _error_row(sample, seed_of[sample], names, exc)
        for k, v in m.phase_s.items():
            phase[k] += v
    phase["kpis"] += time.perf_counter() - t0
    for m in built:
        m.release()
    if not steps:
        steps.append(pd.DataFrame({f.name: pd.Series(dtype=f.type.to_pandas_dtype())
                                   for f in STEPS_SCHEMA}))
    kpis = pd.DataFrame([rows[s] for s, _ in chunk], columns=kpi_columns(names))
    return kpis, pd.concat(steps, ignore_index=True), time.perf_counter() - start, dict(phase)
