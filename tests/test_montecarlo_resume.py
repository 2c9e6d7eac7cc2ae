"""Monte Carlo folders that survive damage and concurrency (`vppsim montecarlo --out`).

A damaged part is found on resume (chunk records with SHA-256, or readability for folders
without records), moved aside and computed again, and the KPI table ends bit-for-bit as an
uninterrupted batch's; a folder a live run is writing is refused with that run's pid; an
unwritable ``--out`` and a bad seed are refused before anything is computed or written.

The batches run on one module-wide 1-worker ``LocalCluster`` reached by its address (as in
tests/test_batch.py), so a resume costs only its few samples.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

import vppsim.montecarlo.run as batch
from vppsim.cli import main
from vppsim.montecarlo.run import run_montecarlo
from vppsim.montecarlo.sensitivity import run_grid
from vppsim.montecarlo.store import FolderLockedError, FolderNotWritableError, ManifestMismatchError
from vppsim.paths import data_dir, default_scenario_path
from vppsim.scenario.loader import load_scenario

N = 6
CHUNK = 2
SENSITIVITY_YAML = data_dir("scenarios") / "sensitivity_001.yaml"
SEED = 7


@pytest.fixture(scope="module")
def loaded(passthrough_day_path: Path) -> Any:
    return load_scenario(passthrough_day_path)


@pytest.fixture(scope="module")
def address() -> Any:
    """The address of a 1-worker LocalCluster, like `--scheduler ADDRESS`."""
    from distributed import LocalCluster

    c = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                     scheduler_kwargs={"dashboard_address": ":0"})
    yield c.scheduler_address
    c.close()


@pytest.fixture(scope="module")
def reference(loaded: Any, address: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An uninterrupted batch of N samples in chunks of CHUNK: parts 0-1, 2-3, 4-5."""
    out = tmp_path_factory.mktemp("mc") / "ref"
    return run_montecarlo(loaded, N, out, seed=SEED, scheduler=address, chunk_size=CHUNK,
                          progress=False)


def _copy_parts(reference: Any, out: Path) -> Path:
    """A copy of the reference folder's manifest and parts (a batch to resume)."""
    out.mkdir()
    shutil.copy(reference.out / "manifest.json", out / "manifest.json")
    shutil.copytree(reference.out / "parts", out / "parts")
    return out / "parts"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a parquet file\n" * 20)


def _altered(path: Path) -> None:
    """A readable part whose values changed (only the checksum can tell)."""
    table = pq.read_table(path)
    df = table.to_pandas()
    value = "system_cost_cny" if "system_cost_cny" in df.columns else "value"
    df[value] = df[value] + 1.0
    pq.write_table(table.from_pandas(df, schema=table.schema, preserve_index=False), path)


DAMAGE = {"truncated": _truncate, "garbage": _garbage, "altered": _altered}


@pytest.mark.parametrize(("kind", "damage"), [
    ("samples", "truncated"), ("steps", "truncated"), ("samples", "garbage"),
    ("steps", "altered"),
])
def test_a_damaged_part_is_recomputed_alone_and_the_table_is_unchanged(
    loaded: Any, reference: Any, address: str, tmp_path: Path, kind: str, damage: str,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = _copy_parts(reference, tmp_path / "mc")
    DAMAGE[damage](parts / f"{kind}-000002-000003.parquet")
    # a logging.config.dictConfig elsewhere in the session (import-linter's) disables the
    # loggers that exist by then; vppsim's own runs do not
    monkeypatch.setattr(logging.getLogger("vppsim.montecarlo.run"), "disabled", False)
    with caplog.at_level(logging.WARNING, logger="vppsim.montecarlo"):
        res = run_montecarlo(loaded, N, tmp_path / "mc", seed=SEED, scheduler=address,
                             chunk_size=CHUNK, progress=False)
    assert res.complete
    assert res.computed_samples == [2, 3]  # that chunk only
    assert res.summary["recomputed_damaged_parts"] == 1
    assert res.summary["damaged_parts"][0].startswith("samples 2-3: ")
    assert any("samples 2-3" in r.getMessage() and "damaged" in r.getMessage()
               for r in caplog.records), caplog.text
    pd.testing.assert_frame_equal(res.kpis, reference.kpis, check_exact=True)
    pd.testing.assert_frame_equal(res.steps, reference.steps, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "mc" / "kpis.parquet"),
                                  reference.kpis, check_exact=True)
    summary = json.loads((tmp_path / "mc" / "summary.json").read_text(encoding="utf-8"))
    assert summary["recomputed_damaged_parts"] == 1 and summary["computed_this_run"] == 2
    # the damaged file is kept aside, the chunk is written anew with its record
    assert (parts / "damaged" / f"{kind}-000002-000003.parquet").is_file()
    assert sorted(p.name for p in parts.glob("chunk-*.json")) == [
        "chunk-000000-000001.json", "chunk-000002-000003.json", "chunk-000004-000005.json"]


def test_a_folder_without_chunk_records_is_read_if_readable(
    loaded: Any, reference: Any, address: str, tmp_path: Path,
) -> None:
    """Parts of an older folder (no records) are checked by reading them, then get records."""
    parts = _copy_parts(reference, tmp_path / "mc")
    for record in parts.glob("chunk-*.json"):
        record.unlink()
    _truncate(parts / "steps-000004-000005.parquet")
    res = run_montecarlo(loaded, N, tmp_path / "mc", seed=SEED, scheduler=address,
                         chunk_size=CHUNK, progress=False)
    assert res.computed_samples == [4, 5]
    assert res.summary["recomputed_damaged_parts"] == 1
    assert "unreadable part" in res.summary["damaged_parts"][0]
    pd.testing.assert_frame_equal(res.kpis, reference.kpis, check_exact=True)
    pd.testing.assert_frame_equal(res.steps, reference.steps, check_exact=True)
    records = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in parts.glob("chunk-*")}
    assert sorted(records) == ["chunk-000000-000001.json", "chunk-000002-000003.json",
                               "chunk-000004-000005.json"]
    assert records["chunk-000000-000001.json"]["samples"] == [0, 1]
    # the adopted records hold: a second resume finds nothing damaged and computes nothing
    again = run_montecarlo(loaded, N, tmp_path / "mc", seed=SEED, scheduler=address,
                           progress=False)
    assert again.computed_samples == [] and again.summary["recomputed_damaged_parts"] == 0
    pd.testing.assert_frame_equal(again.kpis, reference.kpis, check_exact=True)


def test_a_damaged_manifest_is_a_clear_error(loaded: Any, reference: Any, passthrough_day_path: Path,
                                             address: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mc"
    _copy_parts(reference, out)
    (out / "manifest.json").write_text('{"kind": "vppsim-mon', encoding="utf-8")
    with pytest.raises(ManifestMismatchError, match="manifest.json is not readable JSON"):
        run_montecarlo(loaded, N, out, seed=SEED, scheduler=address, progress=False)
    assert main(["montecarlo", str(passthrough_day_path), "--samples", str(N), "--seed", str(SEED),
                 "--scheduler", address, "--out", str(out), "--quiet"]) == 2
    assert "--out: " in capsys.readouterr().err


def test_a_second_run_into_a_live_runs_folder_is_refused_with_its_pid(
    loaded: Any, passthrough_day_path: Path, address: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    n = 40
    out = tmp_path / "mc"
    args = ["montecarlo", str(passthrough_day_path), "--samples", str(n), "--seed", str(SEED),
            "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "vppsim.cli", *args, "--workers", "1",
                             "--chunk-size", "1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (out / "manifest.json").exists():  # the lock is taken before the manifest
            assert proc.poll() is None, "the first run ended early"
            assert time.monotonic() < deadline, "no manifest in 60 s"
            time.sleep(0.02)
        assert main([*args, "--scheduler", address]) == 2
        err = capsys.readouterr().err
        assert f"another run (pid {proc.pid}) is writing {out}" in err, err
        with pytest.raises(FolderLockedError, match=f"pid {proc.pid}"):
            run_montecarlo(loaded, n, out, seed=SEED, scheduler=address, progress=False)
        assert proc.poll() is None, "the first run must still be live for this test to mean much"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its scheduler and its worker at once
        proc.wait(timeout=30)
    # the kernel released the lock with the process: the folder resumes as before
    res = run_montecarlo(loaded, n, out, seed=SEED, scheduler=address, max_samples=0,
                         progress=False)
    assert not res.complete and res.computed_samples == []


def _no_computing(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the day-ahead market was cleared: computing started")


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_out_that_cannot_be_written_fails_before_computing(
    loaded: Any, passthrough_day_path: Path, address: str, tmp_path: Path, where: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(batch, "clear_day_ahead", _no_computing)
    (tmp_path / "file").write_text("not a folder\n", encoding="utf-8")
    out = tmp_path / "file" if where == "a file" else tmp_path / "file" / "mc"
    with pytest.raises(FolderNotWritableError, match="expected a( writable)? folder"):
        run_montecarlo(loaded, 2, out, seed=SEED, scheduler=address, progress=False)
    assert main(["montecarlo", str(passthrough_day_path), "--samples", "2", "--scheduler", address,
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vppsim: --out: {out}") and "Traceback" not in err, err
    assert (tmp_path / "file").read_text(encoding="utf-8") == "not a folder\n"


def test_a_grid_out_that_is_a_file_fails_before_the_cluster_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "grid"
    out.write_text("not a folder\n", encoding="utf-8")
    with pytest.raises(FolderNotWritableError, match="is a file; expected a folder"):
        run_grid(load_scenario(SENSITIVITY_YAML), 2, out, workers=1, progress=False)
    assert main(["montecarlo", str(SENSITIVITY_YAML), "--grid", "--samples", "2",
                 "--workers", "1", "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(f"vppsim: --out: {out} is a file")


def test_an_out_in_a_read_only_folder_fails_with_exit_2(tmp_path: Path) -> None:
    """A read-only parent. Root may write anywhere: as root the CLI runs without that power
    (``setpriv`` drops CAP_DAC_OVERRIDE), so the folder's permissions apply to it too."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and no setpriv to drop CAP_DAC_OVERRIDE")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    parent = tmp_path / "read-only"
    parent.mkdir()
    out = parent / "mc"
    cmd = [*prefix, sys.executable, "-m", "vppsim.cli", "montecarlo",
           str(default_scenario_path()), "--samples", "2", "--workers", "1", "--out", str(out),
           "--quiet"]
    parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        parent.chmod(stat.S_IRWXU)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"vppsim: --out: {out}: cannot write there"), res.stderr
    assert "expected a writable folder" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_a_seed_out_of_range_is_refused_before_anything_is_written(
    loaded: Any, address: str, tmp_path: Path, seed: int,
) -> None:
    with pytest.raises(ValueError, match=r"seed: expected an integer 0 <= seed < 2\*\*63"):
        run_montecarlo(loaded, 2, tmp_path / "mc", seed=seed, scheduler=address, progress=False)
    assert not (tmp_path / "mc").exists()
