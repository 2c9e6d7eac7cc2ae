"""Monte Carlo over several days (`vppsim montecarlo` of a multi-day scenario).

A sample is the scenario's whole horizon: day 0's day-ahead clearing is shared, every later
day is cleared by the sample itself from its own state, as `vppsim run` does. Checked against
independent single runs (`VPPModel(seed).run()`, which clears every day itself), across worker
counts, and the per-day KPIs against the horizon's.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vppsim.cli import main
from vppsim.model import VPPModel
from vppsim.montecarlo.chunk import SampleContext, _kpi_row, run_chunk
from vppsim.montecarlo.run import batch_scenario, clear_day_ahead, sample_seeds
from vppsim.scenario.loader import load_scenario

N = 3
DAYS = 2
VPPS = ("VPP1", "VPP2", "VPP3")


@pytest.fixture(scope="module")
def loaded(passthrough_day_path: Path) -> Any:
    return load_scenario(passthrough_day_path).with_overrides(days=DAYS)


@pytest.fixture(scope="module")
def two_workers(passthrough_day_path: Path, cluster: Any,
                tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """`vppsim montecarlo --days 2`, one sample per chunk, spread over the two worker processes."""
    out = tmp_path_factory.mktemp("mcdays") / "w2"
    assert main(["montecarlo", str(passthrough_day_path), "--samples", str(N), "--days", str(DAYS),
                 "--seed", "7", "--chunk-size", "1", "--scheduler", cluster.scheduler_address,
                 "--out", str(out), "--quiet"]) == 0
    return SimpleNamespace(out=out, kpis=pd.read_parquet(out / "kpis.parquet"),
                           steps=pd.read_parquet(out / "steps.parquet"))


def test_a_multi_day_sample_is_the_single_run_with_its_seed(loaded: Any, two_workers: Any) -> None:
    """Every sample equals `VPPModel(loaded, seed=its seed).run()` (the same realized errors; the
    single run clears every day's market itself, the passthrough day 0 gives the same prices)."""
    k = two_workers.kpis
    assert len(k) == N and k["error"].isna().all()
    assert k["seed"].tolist() == sample_seeds(7, N)
    run_loaded = batch_scenario(loaded)  # the batch's power-flow backend and allocation LP
    for i, seed in enumerate(k["seed"]):
        m = VPPModel(run_loaded, seed=int(seed))
        m.run()
        ref = pd.DataFrame([_kpi_row(m, i, int(seed), VPPS)], columns=k.columns)
        pd.testing.assert_frame_equal(k.iloc[[i]].reset_index(drop=True), ref, check_exact=True)
        # the per-step series cover the whole horizon and are the run's
        s = two_workers.steps
        soc = s[(s["sample"] == i) & (s["quantity"] == "soc_pu") & (s["agent"] == "VPO-BAT")]
        ts = m.timeseries()
        np.testing.assert_array_equal(soc["value"].to_numpy(),
                                      ts.loc[ts["agent"] == "VPO-BAT", "soc_pu"].to_numpy(float))
    assert (two_workers.steps.groupby(["sample", "agent", "quantity"]).size() == 24 * DAYS).all()
    assert k["system_cost_cny"].nunique() == N


def test_one_and_two_workers_give_the_same_tables(loaded: Any, two_workers: Any) -> None:
    """The two-worker batch (one sample per chunk) == one process stepping all samples in one
    chunk in lockstep (what a single worker with the default chunk size does)."""
    run_loaded = batch_scenario(loaded)
    ctx = SampleContext(run_loaded, clear_day_ahead(run_loaded, 7), VPPS)
    kpis, steps, _, _ = run_chunk(ctx, list(enumerate(sample_seeds(7, N))))
    kpis["error"] = kpis["error"].astype(object)
    pd.testing.assert_frame_equal(kpis, two_workers.kpis, check_exact=True, check_dtype=False)
    steps = steps.sort_values(["sample", "agent", "quantity", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(steps, two_workers.steps, check_exact=True, check_dtype=False)


def test_day_kpis_add_up_to_the_horizon(two_workers: Any) -> None:
    days = pd.read_parquet(two_workers.out / "day_kpis.parquet")
    assert len(days) == N * DAYS and sorted(set(days["day"])) == list(range(DAYS))
    by = days.groupby("sample")
    k = two_workers.kpis.set_index("sample")
    for col in ("total_vpp_cost_cny", "imbalance_kwh", "network_losses_kwh", "grid_import_kwh"):
        np.testing.assert_allclose(by[col].sum(), k[col], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(by["min_voltage_pu"].min(), k["min_voltage_pu"])
    assert "2 days" in (two_workers.out / "report.md").read_text(encoding="utf-8")
    assert (two_workers.out / "figures" / "fan_soc.png").is_file()


def test_cli_refuses_bad_days(passthrough_day_path: Path, tmp_path: Path) -> None:
    assert main(["montecarlo", str(passthrough_day_path), "--samples", "1", "--days", "0",
                 "--out", str(tmp_path / "x"), "--quiet"]) == 2
