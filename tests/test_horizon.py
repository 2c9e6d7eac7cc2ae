"""Long runs (issue 15): tables streamed by day, resume after a kill, refusal of another run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vppsim.cli.main import main
from vppsim.model import VPPModel
from vppsim.results.folders import HORIZON_DIR, INCOMPLETE_SUFFIX
from vppsim.results.horizon import CHECKPOINT, load_model, run_identity, start_store
from vppsim.scenario.loader import load_scenario

TABLES = ("timeseries", "model", "bus_injections", "bus_voltages")
#: wall-clock columns: the only ones that differ between two runs of the same scenario
WALL_CLOCK = ("allocation_solve_ms",)


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for t in TABLES:
        frame = pd.read_parquet(folder / f"{t}.parquet")
        out[t] = frame.drop(columns=[c for c in WALL_CLOCK if c in frame.columns])
    return out


def _assert_same_run(a: Path, b: Path) -> None:
    """The four tables equal bit for bit (no tolerance), and the summaries' figures too."""
    ta, tb = _tables(a), _tables(b)
    for t in TABLES:
        pd.testing.assert_frame_equal(ta[t], tb[t], check_exact=True, obj=t)
    sa, sb = (json.loads((f / "summary.json").read_text(encoding="utf-8")) for f in (a, b))
    for s in (sa, sb):
        for key in ("wall_time_s", "allocation_solve_ms_mean", "scenario_file"):
            s.pop(key, None)
    assert sa == sb
    pd.testing.assert_frame_equal(pd.read_csv(a / "kpis.csv"), pd.read_csv(b / "kpis.csv"),
                                  check_exact=True)


def test_streamed_run_equals_the_in_memory_run_and_quiet_prints_nothing(
        passthrough_day_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two days with the baseline: streamed by day vs --no-stream, the same tables bit for bit."""
    common = ["run", str(passthrough_day_path), "--days", "2", "--no-figures", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "streamed")]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ""  # --quiet: no progress bar, no summary
    assert main([*common, "--out", str(tmp_path / "memory"), "--no-stream"]) == 0
    streamed = tmp_path / "streamed"
    assert not (streamed / HORIZON_DIR).exists()  # the stream is removed once written
    assert len(pd.read_parquet(streamed / "model.parquet")) == 48
    _assert_same_run(streamed, tmp_path / "memory")


def test_killed_run_resumes_from_its_last_day_and_equals_an_uninterrupted_run(
        passthrough_day_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL a 4-day run after its first finished day, re-run the same command."""
    out = tmp_path / "run"
    args = ["run", str(passthrough_day_path), "--days", "4", "--no-baseline", "--no-figures",
            "--out", str(out)]
    work = out.with_name(out.name + INCOMPLETE_SUFFIX)
    ckpt = work / HORIZON_DIR / "main" / CHECKPOINT
    proc = subprocess.Popen([sys.executable, "-m", "vppsim.cli", *args, "--quiet"],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not ckpt.is_file():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no day finished in 120 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not out.exists()
    done_steps = load_model(ckpt.read_bytes()).t
    assert done_steps % 24 == 0 and 24 <= done_steps < 96

    steps = []
    step = VPPModel.step
    monkeypatch.setattr(VPPModel, "step", lambda m: (steps.append(m.t), step(m))[1])
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"{done_steps // 24}/4" in err  # the progress bar by day starts at the resumed day
    assert steps == list(range(done_steps, 96))  # only the days not finished were stepped
    monkeypatch.setattr(VPPModel, "step", step)
    assert main([*args[:-1], str(tmp_path / "whole"), "--no-stream", "--quiet"]) == 0
    _assert_same_run(out, tmp_path / "whole")


def test_a_kept_run_of_another_scenario_or_seed_is_not_resumed(
        passthrough_day_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2 with one message naming --out and what differs; the kept folder is left as it was."""
    out = tmp_path / "run"
    work = out.with_name(out.name + INCOMPLETE_SUFFIX)
    loaded = load_scenario(passthrough_day_path).with_overrides(days=3)
    start_store(work, run_identity(loaded, 5, baseline=False))
    before = (work / HORIZON_DIR / "run.json").read_text(encoding="utf-8")
    args = ["run", str(passthrough_day_path), "--days", "3", "--no-baseline", "--out", str(out),
            "--quiet"]
    assert main([*args, "--seed", "6"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "seed (folder: 5, now: 6)" in err and "Traceback" not in err
    raw = yaml.safe_load(passthrough_day_path.read_text(encoding="utf-8"))
    raw["vpo"]["name"] = "another-vpo"
    other = passthrough_day_path.with_name("other.yaml")
    other.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    assert main(["run", str(other), *args[2:], "--seed", "5"]) == 2
    assert "scenario_sha256" in capsys.readouterr().err
    assert (work / HORIZON_DIR / "run.json").read_text(encoding="utf-8") == before
    assert not (work / "error.txt").exists() and not out.exists()
