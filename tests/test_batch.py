"""Monte Carlo on Dask (`vppsim.batch`, `vppsim montecarlo`): identity across workers, resume, errors.

Every batch here runs on real Dask clusters: ``LocalCluster`` made by ``run_montecarlo``
(``workers=1`` / ``workers=2``) and one module-wide 2-worker cluster reached by address
(the ``--scheduler`` path), which keeps its warm workers between tests.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import vppsim.montecarlo.run as batch
from vppsim.agents.vpo import ClearedDay
from vppsim.cli import main
from vppsim.montecarlo.chunk import run_sample
from vppsim.montecarlo.run import clear_day_ahead, run_montecarlo, sample_seeds
from vppsim.montecarlo.store import ManifestMismatchError
from vppsim.montecarlo.tables import kpi_columns
from vppsim.scenario.loader import load_scenario

N = 10
VPPS = ["VPP1", "VPP2", "VPP3"]


@pytest.fixture(scope="module")
def loaded(passthrough_day_path: Path) -> Any:
    return load_scenario(passthrough_day_path)


@pytest.fixture(scope="module")
def reference(loaded: Any, tmp_path_factory: pytest.TempPathFactory) -> batch.MonteCarloResult:
    """An uninterrupted batch of N samples on a fresh 2-worker LocalCluster."""
    out = tmp_path_factory.mktemp("mc") / "ref"
    return run_montecarlo(loaded, N, out, seed=7, workers=2, progress=False)


def test_reference_batch_is_complete_and_sane(reference: batch.MonteCarloResult) -> None:
    k = reference.kpis
    assert reference.complete and reference.computed_samples == list(range(N))
    assert list(k.columns) == kpi_columns(VPPS)
    assert k["sample"].tolist() == list(range(N))
    assert k["seed"].tolist() == sample_seeds(7, N)
    assert k["error"].isna().all()
    # the samples differ (own forecast errors), the KPIs are finite and consistent
    assert k["system_cost_cny"].nunique() == N
    np.testing.assert_allclose(k["total_vpp_cost_cny"], k[[f"cost_cny__{v}" for v in VPPS]].sum(1))
    np.testing.assert_allclose(k["system_cost_cny"], k["total_vpp_cost_cny"] - k["vpo_profit_cny"])
    assert (k["min_voltage_pu"] < k["max_voltage_pu"]).all()
    assert k["max_line_loading_pct"].isna().all()  # case33bw has no line ratings
    # per-step table: 24 steps for every (sample, series); shared day-ahead prices
    s = reference.steps
    assert set(s["sample"]) == set(range(N))
    assert (s.groupby(["sample", "agent", "quantity"]).size() == 24).all()
    price = s[s["quantity"] == "c_sell_cny_per_kwh"].pivot(index="step", columns="sample",
                                                           values="value")
    assert (price.nunique(axis=1) == 1).all()
    q = pd.read_parquet(reference.out / "step_quantiles.parquet")
    assert {"p5", "p50", "p95", "mean"} <= set(q.columns)
    assert (q["p5"] <= q["p50"]).all() and (q["p50"] <= q["p95"]).all()


@pytest.mark.extended
def test_same_table_on_one_worker_other_chunks_and_a_cluster(
    loaded: Any, reference: batch.MonteCarloResult, cluster: Any, tmp_path: Path
) -> None:
    one = run_montecarlo(loaded, N, tmp_path / "w1", seed=7, workers=1, chunk_size=3,
                         progress=False)
    pd.testing.assert_frame_equal(one.kpis, reference.kpis, check_exact=True)
    pd.testing.assert_frame_equal(one.steps, reference.steps, check_exact=True)
    on_cluster = run_montecarlo(loaded, N, tmp_path / "c", seed=7, scheduler=cluster.scheduler_address,
                                chunk_size=1, progress=False)
    pd.testing.assert_frame_equal(on_cluster.kpis, reference.kpis, check_exact=True)
    pd.testing.assert_frame_equal(on_cluster.steps, reference.steps, check_exact=True)
    # and what was written is what was returned
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "c" / "kpis.parquet"),
                                  reference.kpis, check_exact=True)


def test_interrupted_batch_resumes_with_only_the_missing_samples(
    loaded: Any, reference: batch.MonteCarloResult, cluster: Any, tmp_path: Path
) -> None:
    out = tmp_path / "mc"
    first = run_montecarlo(loaded, N, out, seed=7, scheduler=cluster.scheduler_address,
                           chunk_size=2, max_samples=4, progress=False)
    assert not first.complete
    assert first.computed_samples == [0, 1, 2, 3]
    assert first.kpis["sample"].tolist() == [0, 1, 2, 3]
    assert sorted(p.name for p in (out / "parts").glob("samples-*")) == [
        "samples-000000-000001.parquet", "samples-000002-000003.parquet"]
    assert not (out / "kpis.parquet").exists()
    # a chunk killed between its two writes leaves an orphan step part: dropped on resume
    (out / "parts" / "steps-000004-000005.parquet").write_bytes(b"half-written")
    (out / "parts" / "samples-000004-000005.parquet.tmp").write_bytes(b"half-written")

    second = run_montecarlo(loaded, N, out, seed=7, scheduler=cluster.scheduler_address,
                            chunk_size=4, progress=False)
    assert second.complete
    assert second.computed_samples == [4, 5, 6, 7, 8, 9]
    assert second.summary["computed_this_run"] == 6 and second.summary["resumed"]
    pd.testing.assert_frame_equal(second.kpis, reference.kpis, check_exact=True)
    pd.testing.assert_frame_equal(second.steps, reference.steps, check_exact=True)
    assert not list((out / "parts").glob("*.tmp"))

    # a finished batch re-run computes nothing and rewrites the same table
    third = run_montecarlo(loaded, N, out, seed=7, scheduler=cluster.scheduler_address,
                           progress=False)
    assert third.computed_samples == []
    pd.testing.assert_frame_equal(third.kpis, reference.kpis, check_exact=True)


def test_a_different_batch_in_the_same_folder_is_refused(
    loaded: Any, reference: batch.MonteCarloResult, passthrough_day_path: Path, tmp_path: Path
) -> None:
    before = sorted(p.name for p in (reference.out / "parts").iterdir())
    with pytest.raises(ManifestMismatchError, match="seed"):
        run_montecarlo(loaded, N, reference.out, seed=8, workers=1, progress=False)
    with pytest.raises(ManifestMismatchError, match="n_samples"):
        run_montecarlo(loaded, N + 1, reference.out, seed=7, workers=1, progress=False)
    with pytest.raises(ManifestMismatchError, match="power_flow_backend"):
        run_montecarlo(loaded, N, reference.out, seed=7, workers=1, progress=False,
                       power_flow_backend="pandapower")
    assert sorted(p.name for p in (reference.out / "parts").iterdir()) == before
    # the CLI says so with exit code 2; bad options too
    base = ["montecarlo", str(passthrough_day_path), "--quiet"]
    assert main(base + ["--samples", str(N), "--seed", "8", "--out", str(reference.out)]) == 2
    assert main(base + ["--samples", "0", "--out", str(tmp_path / "x")]) == 2
    assert main(base + ["--samples", "3", "--workers", "0", "--out", str(tmp_path / "x")]) == 2
    assert main(base + ["--samples", "3", "--workers", "1", "--scheduler", "tcp://h:1",
                        "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
    # a folder that is not a Monte Carlo folder is not taken over
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "summary.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ManifestMismatchError, match="not a Monte Carlo folder"):
        run_montecarlo(loaded, 2, tmp_path / "other", workers=1, progress=False)


def test_a_sample_that_raises_is_recorded_in_process(loaded: Any) -> None:
    cleared = clear_day_ahead(loaded, 7)
    broken = {0: ClearedDay(**{**cleared[0].__dict__,
                                     "schedules": {"VPP1": cleared[0].schedules["VPP1"]}})}
    row, steps = run_sample(loaded, broken, 3, 12345)
    assert row["sample"] == 3 and row["seed"] == 12345
    assert row["error"].startswith("KeyError") and "VPP2" in row["error"]
    assert all(math.isnan(row[c]) for c in kpi_columns(VPPS)[2:-1])
    assert steps.empty
    ok, ok_steps = run_sample(loaded, cleared, 3, 12345)
    assert ok["error"] is None and len(ok_steps) > 0


def test_a_sample_that_raises_on_a_worker_does_not_stop_the_batch(
    loaded: Any, reference: batch.MonteCarloResult, cluster: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = batch.sample_seeds

    def one_bad_seed(seed: int, n: int) -> list[int]:
        seeds = real(seed, n)
        seeds[2] = -1  # numpy refuses a negative seed: VPPModel raises inside the worker
        return seeds

    monkeypatch.setattr(batch, "sample_seeds", one_bad_seed)
    res = run_montecarlo(loaded, 5, tmp_path / "mc", seed=7, scheduler=cluster.scheduler_address,
                         chunk_size=5, progress=False)
    assert res.complete and res.n_errors == 1
    bad = res.kpis.iloc[2]
    assert bad["seed"] == -1 and bad["error"].startswith("ValueError")
    assert res.kpis.drop(columns="error").iloc[2, 2:].isna().all()
    # the other samples of the same chunk ran, identical to the reference batch's (same seeds)
    good = res.kpis.drop(index=2)
    pd.testing.assert_frame_equal(good, reference.kpis.iloc[[0, 1, 3, 4]], check_exact=True)
    summary = json.loads((tmp_path / "mc" / "summary.json").read_text(encoding="utf-8"))
    assert summary["n_errors"] == 1 and summary["n_ok"] == 4
    assert summary["kpis"]["system_cost_cny"]["n"] == 4
    assert summary["errors"][0]["sample"] == 2
    assert "| 2 | -1 | ValueError" in (tmp_path / "mc" / "report.md").read_text(encoding="utf-8")


def test_cli_end_to_end(passthrough_day_path: Path, reference: batch.MonteCarloResult, cluster: Any,
                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mc"
    code = main(["montecarlo", str(passthrough_day_path), "--samples", "6", "--seed", "7",
                 "--scheduler", cluster.scheduler_address, "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr()
    assert "6 samples, seed 7, 0 raised" in printed.out
    assert re.search(r"6/6 \[[^\]]*(sample/s|s/sample)\]", printed.err), printed.err  # tqdm
    for name in ("manifest.json", "kpis.parquet", "steps.parquet", "step_quantiles.parquet",
                 "summary.json", "report.md"):
        assert (out / name).is_file(), name
    kpis = pd.read_parquet(out / "kpis.parquet")
    pd.testing.assert_frame_equal(kpis, reference.kpis.iloc[:6], check_exact=True)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["n_samples"] == 6 and summary["seed"] == 7
    assert set(summary["wall_time_s"]) >= {"day_ahead", "samples", "writing", "total"}
    st = summary["kpis"]["system_cost_cny"]
    assert st["p5"] <= st["p50"] <= st["p95"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| system_cost_cny | CNY |" in report
    figures = {p.stem for p in (out / "figures").glob("*.png")}
    assert {"kpi_histograms", "kpi_boxplots", "fan_price", "fan_soc", "fan_voltage"} <= figures
    for stem in figures:
        assert f"figures/{stem}.png" in report
        assert (out / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same command again resumes: nothing left to compute
    assert main(["montecarlo", str(passthrough_day_path), "--samples", "6", "--seed", "7",
                 "--scheduler", cluster.scheduler_address, "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["computed_this_run"] == 0


@pytest.mark.extended
def test_a_killed_cli_run_resumes(passthrough_day_path: Path, reference: batch.MonteCarloResult,
                                  loaded: Any, cluster: Any, tmp_path: Path) -> None:
    """SIGKILL the whole `vppsim montecarlo` process group mid-batch, then re-run."""
    n = 40
    out = tmp_path / "mc"
    cmd = [sys.executable, "-m", "vppsim.cli", "montecarlo", str(passthrough_day_path), "--samples",
           str(n), "--seed", "7", "--workers", "1", "--chunk-size", "1", "--out", str(out),
           "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while len(list((out / "parts").glob("samples-*.parquet"))) < 3:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no samples written in 90 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its scheduler and its worker at once
        proc.wait(timeout=30)
    _, _, done = batch.scan_parts(out / "parts")
    assert 3 <= len(done) < n
    assert not (out / "kpis.parquet").exists()

    resumed = run_montecarlo(loaded, n, out, seed=7, scheduler=cluster.scheduler_address,
                             progress=False)
    assert resumed.complete
    assert resumed.computed_samples == sorted(set(range(n)) - done)
    uninterrupted = run_montecarlo(loaded, n, tmp_path / "whole", seed=7,
                                   scheduler=cluster.scheduler_address, progress=False)
    pd.testing.assert_frame_equal(resumed.kpis, uninterrupted.kpis, check_exact=True)
    pd.testing.assert_frame_equal(resumed.steps, uninterrupted.steps, check_exact=True)
    # sample i does not depend on the batch size: the first N rows are the reference batch
    pd.testing.assert_frame_equal(resumed.kpis.iloc[:N], reference.kpis, check_exact=True)
