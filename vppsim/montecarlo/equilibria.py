"""The points of an equilibrium sweep (``vppsim equilibria``), in parallel on Dask.

Each point is the scenario with one field changed (:mod:`vppsim.market.sweep`), its day's
market built as ``vppsim game`` builds it, and the game solved with the same seed at every
point (common random numbers: points differ only by the field). A point is a pure function of
its inputs, so the tables do not depend on the number of workers (``workers=0``: no cluster,
the points run one after the other in this process).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm import tqdm

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.sweep import (
    SweepField,
    SweepTables,
    apply_to_market,
    apply_to_scenario,
    point_tables,
    solve_point,
)
from vppsim.model import VPPModel
from vppsim.montecarlo.cluster import open_client
from vppsim.scenario.loader import LoadedScenario
from vppsim.scenario.schema import ScenarioError


@dataclass(frozen=True)
class SweepSettings:
    """How every point is solved (the same for all points)."""

    objective: str
    solver: str
    budget: int
    seed: int
    day: int = 0
    mpec: bool = False
    mpec_time_limit_s: float = 120.0
    robust: bool = False  # the epsilon-incentive at every point


def point_scenarios(loaded: LoadedScenario, sweep: SweepField,
                    values: list[float]) -> list[LoadedScenario]:
    """The scenario of every point, validated (before anything is computed).

    Raises
    ------
    ScenarioError
        Naming ``--sweep``, the field and value, and what the scenario check said.
    """
    data = loaded.scenario.model_dump()
    out = []
    for v in values:
        changed = apply_to_scenario(sweep, data, v, loaded.path)
        top = {k: changed[k] for k in ("tariff", "vpps", "vpo")}
        try:
            out.append(loaded.with_overrides(**top))
        except ScenarioError as exc:
            what = "; ".join(f"{f}: {w}" for f, w in exc.problems)
            raise ScenarioError(loaded.path, [("--sweep", f"{sweep.name}={v:g} gives an invalid "
                                               f"scenario ({what})")]) from None
    return out


def day_market(loaded: LoadedScenario, seed: int, day: int) -> DayAheadMarket:
    """The day's market of the scenario, as ``vppsim game`` builds it.

    Raises
    ------
    ScenarioError
        A VPP without a day-ahead LP (a prosumer fleet): the game is not available.
    """
    return VPPModel(loaded, seed=seed).day_ahead_market(day)


def run_point(loaded: LoadedScenario, sweep: SweepField, value: float, index: int,
              settings: SweepSettings) -> tuple[dict[str, Any], list[dict], list[dict], float]:
    """Solve one point; its tidy rows and its wall time, s (runs on a Dask worker)."""
    t0 = time.perf_counter()
    market = apply_to_market(sweep, day_market(loaded, settings.seed, settings.day), value)
    point = solve_point(market, value, settings.objective, settings.solver, settings.budget,
                        settings.seed, settings.mpec, settings.mpec_time_limit_s,
                        settings.robust)
    row, prices, vpps = point_tables(point, index, sweep.name, market.dt_h)
    return row, prices, vpps, time.perf_counter() - t0


def run_sweep(scenarios: list[LoadedScenario], sweep: SweepField, values: list[float],
              settings: SweepSettings, workers: int | None = None,
              scheduler: Any = None, progress: bool = False) -> SweepTables:
    """Solve every point (on a Dask LocalCluster of ``workers`` processes, or ``scheduler``).

    ``workers=0`` solves the points here, one after the other; the tables are the same.
    ``progress``: a tqdm bar of the points done on stderr.
    """
    t0 = time.perf_counter()
    args = [(sc, sweep, v, i, settings) for i, (sc, v) in enumerate(zip(scenarios, values,
                                                                        strict=True))]
    wall: dict[str, float] = {}
    bar = tqdm(total=len(args), desc=f"sweep of {sweep.name}", unit="point",
               disable=not progress, leave=False)
    if workers == 0 and scheduler is None:
        results = []
        for a in args:
            results.append(run_point(*a))
            bar.update()
        bar.close()
    else:
        n = min(len(args), workers or os.cpu_count() or 1)
        client, cluster, owned = open_client(n, scheduler)
        wall["cluster_start"] = time.perf_counter() - t0
        try:
            futures = [client.submit(run_point, *a, pure=False) for a in args]
            for future in futures:  # the callback runs in a thread of the client
                future.add_done_callback(lambda _: bar.update())
            results = client.gather(futures)
        finally:
            bar.close()
            if owned:
                client.close()
            if cluster is not None:
                cluster.close()
    rows = [r[0] for r in results]
    prices = [p for r in results for p in r[1]]
    vpps = [p for r in results for p in r[2]]
    wall["points_sum"] = float(sum(r[3] for r in results))
    wall["total"] = time.perf_counter() - t0
    return SweepTables(pd.DataFrame(rows), pd.DataFrame(prices), pd.DataFrame(vpps), wall)
