"""Result folders as a hostile user meets them: races, killed runs, unwritable places, bad names.

Every run claims its ``--out`` before computing (a lock beside it, a private staging folder)
and publishes it with one rename, so two runs never mix their files and a folder that cannot
be written fails at once with exit code 2 (``vppsim.results.folders``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vppsim.results.folders as folders
from vppsim.cli.main import build_parser, main
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.folders import (
    INCOMPLETE_SUFFIX,
    ORPHAN_WAIT_S,
    FolderLock,
    OutputFolderError,
    ResultFolder,
    rename_noreplace,
    safe_name,
)
from vppsim.scenario.loader import load_scenario

ALLOCATION_CASE = Path(__file__).resolve().parents[1] / "scenarios" / "allocation_ieee12.yaml"


@pytest.fixture
def fast_scenario(tmp_path: Path) -> Path:
    """The default day with the cheap choices (passthrough prices, proportional allocation)."""
    base = default_scenario_path()
    path = tmp_path / "fast.yaml"
    path.write_text(
        f"extends: {base}\nname: fast\nprofiles: {base.parent / 'liu2025_3vpp_profiles.csv'}\n"
        "market: {price_policy: passthrough}\nbalancing: {allocator: proportional}\n"
        "feeder: {power_flow_backend: lightsim2grid}\n", encoding="utf-8")
    return path


def _run_in_child(argv: list[str], delay_s: float) -> None:
    time.sleep(delay_s)
    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((INCOMPLETE_SUFFIX, ".lock")))


def test_two_runs_racing_into_one_out_publish_one_consistent_folder(
        tmp_path: Path, fast_scenario: Path) -> None:
    """Ten races of two processes into the same --out: one publishes, the other exits 2."""
    ctx = mp.get_context("fork")
    rng = np.random.default_rng(11)
    for race in range(10):
        out = tmp_path / f"race{race}"
        seeds = (100 + race, 200 + race)
        procs = [ctx.Process(target=_run_in_child, args=(
            ["run", str(fast_scenario), "--out", str(out), "--seed", str(seed), "--quiet",
             "--no-figures"], float(delay)))
            for seed, delay in zip(seeds, rng.uniform(0.0, 0.3, size=2), strict=True)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        codes = [p.exitcode for p in procs]
        assert sorted(codes) == [0, 2], f"race {race}: exit codes {codes}"
        winner = seeds[codes.index(0)]
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert summary["seed"] == winner
        # every file of the folder is the winner's: the step table adds up to the summary
        steps = pd.read_parquet(out / "model.parquet")
        assert steps["losses_kw"].sum() * 1.0 == pytest.approx(summary["network_losses_kwh"],
                                                              rel=1e-9)
        voltages = pd.read_parquet(out / "bus_voltages.parquet")
        assert voltages["vm_pu"].min() == pytest.approx(summary["min_voltage_pu"], rel=1e-12)
        files = {p.name for p in out.iterdir()}
        assert {"bus_injections.parquet", "model.parquet", "report.md", "summary.json",
                "timeseries.parquet"} <= files and "error.txt" not in files
        assert _leftovers(tmp_path) == []


def test_a_busy_folder_is_refused_at_once(tmp_path: Path, fast_scenario: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "busy"
    lock = FolderLock(tmp_path / ".busy.lock")
    assert lock.acquire()
    try:
        t0 = time.perf_counter()
        assert main(["run", str(fast_scenario), "--out", str(out), "--quiet"]) == 2
        assert time.perf_counter() - t0 < 3.0
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert f"another vppsim run (pid {os.getpid()}) is writing {out}" in err
    assert not out.exists() and not out.with_name("busy" + INCOMPLETE_SUFFIX).exists()
    assert main(["run", str(fast_scenario), "--out", str(out), "--quiet", "--no-figures"]) == 0


def test_a_killed_run_does_not_block_the_next(tmp_path: Path, fast_scenario: Path) -> None:
    """SIGKILL while staging: the kernel drops the lock; the next run replaces the staging folder."""
    out = tmp_path / "killed"
    work = out.with_name(out.name + INCOMPLETE_SUFFIX)
    child = mp.get_context("fork").Process(target=_run_in_child, args=(
        ["run", str(fast_scenario), "--days", "30", "--out", str(out), "--quiet", "--no-stream"],
        0.0))  # in memory: a streamed run's folder would be kept for resuming (test_horizon.py)
    child.start()
    deadline = time.monotonic() + 60
    while not work.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert work.is_dir()
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert (tmp_path / ".killed.lock").exists()  # left behind, but nobody holds it
    assert main(["run", str(fast_scenario), "--out", str(out), "--quiet", "--no-figures"]) == 0
    assert (out / "summary.json").is_file() and not work.exists()
    assert _leftovers(tmp_path) == []


def _as_nobody_in_child(argv: list[str]) -> None:
    """Run ``main(argv)`` as user ``nobody`` (root ignores file modes).

    An explicit ``--out`` is claimed before the scenario is read, so nothing else needs to be
    readable by ``nobody``.
    """
    os.setegid(65534)
    os.seteuid(65534)
    _run_in_child(argv, 0.0)


def _exit_code(argv: list[str], as_nobody: bool) -> int:
    if not as_nobody:
        return main(argv)
    child = mp.get_context("fork").Process(target=_as_nobody_in_child, args=(argv,))
    child.start()
    child.join(timeout=60)
    return child.exitcode


@pytest.mark.parametrize("where", ["under-a-file", "an-existing-file", "read-only-folder"])
@pytest.mark.parametrize("command", ["run", "game", "allocate"])
def test_an_unwritable_out_fails_before_computing(
        tmp_path: Path, fast_scenario: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str], request: pytest.FixtureRequest, where: str,
        command: str) -> None:
    """Exit 2 in well under 3 s with one message; nothing computed, nothing written.

    The read-only folder is a real ``chmod 555``; as root (who ignores it) the command runs
    in a forked child that has dropped to user ``nobody``.
    """
    if where == "read-only-folder":  # in a folder other users can reach (pytest's is 0700)
        tmp_path = Path(tempfile.mkdtemp(prefix="vppsim-ro-"))
        tmp_path.chmod(0o755)
        request.addfinalizer(lambda: shutil.rmtree(tmp_path, ignore_errors=True))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    ro = tmp_path / "ro"
    ro.mkdir()
    out = {"under-a-file": blocker / "out", "an-existing-file": blocker,
           "read-only-folder": ro / "out"}[where]

    def must_not_compute(*args: object, **kwargs: object) -> None:
        raise AssertionError("computed before checking --out")

    monkeypatch.setattr(VPPModel, "__init__", must_not_compute)
    monkeypatch.setattr("vppsim.cli.impl.allocate.compare", must_not_compute)
    case = ALLOCATION_CASE if command == "allocate" else fast_scenario
    argv = [command, str(case), "--out", str(out), "--quiet"] + (
        ["--runs", "1"] if command == "allocate" else [])
    ro.chmod(0o555)
    try:
        t0 = time.perf_counter()
        code = _exit_code(argv, as_nobody=where == "read-only-folder" and os.geteuid() == 0)
        assert time.perf_counter() - t0 < 3.0
    finally:
        ro.chmod(0o755)
    err = capfd.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("vppsim: --out: expected "), err
    assert "Traceback" not in err
    assert blocker.read_text(encoding="utf-8") == "not a folder"
    assert list(ro.iterdir()) == []


def test_publish_refuses_a_destination_that_appeared(tmp_path: Path) -> None:
    """Something that does not take the lock creates OUT meanwhile: it is kept, so are our results."""
    out = tmp_path / "out"
    folder = ResultFolder.claim(out)
    (folder.work / "summary.json").write_text("{}", encoding="utf-8")
    out.mkdir()
    (out / "theirs.txt").write_text("theirs", encoding="utf-8")
    with pytest.raises(OutputFolderError, match="appeared while this run was computing"):
        folder.publish()
    assert (out / "theirs.txt").read_text(encoding="utf-8") == "theirs"
    assert (folder.work / "summary.json").is_file()
    assert not (tmp_path / ".out.lock").exists()


def test_default_folder_names_never_collide(tmp_path: Path) -> None:
    """Two runs started in the same second get ``NAME`` and ``NAME-2``."""
    first = ResultFolder.claim_new(tmp_path / "results" / "x-20260101-000000")
    second = ResultFolder.claim_new(tmp_path / "results" / "x-20260101-000000")
    assert first.out.name == "x-20260101-000000" and second.out.name == "x-20260101-000000-2"
    assert first.publish().is_dir() and second.publish().is_dir()


@pytest.mark.parametrize(("name", "expected"), [
    ("../../evil/x", "evil_x"), ("/etc/passwd", "etc_passwd"), ("..", "scenario"),
    ("a b:c*d", "a_b_c_d"), ("liu2025_3vpp", "liu2025_3vpp"), ("x" * 300, "x" * 100)])
def test_safe_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_a_scenario_name_cannot_put_results_outside_results(
        tmp_path: Path, fast_scenario: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / "work" / "evil.yaml"
    evil.parent.mkdir()
    evil.write_text(fast_scenario.read_text(encoding="utf-8").replace(
        "name: fast", "name: ../../evil/x"), encoding="utf-8")
    monkeypatch.chdir(tmp_path / "work")
    assert main(["run", str(evil), "--quiet", "--no-figures"]) == 0
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("summary.json"))
    assert len(made) == 1 and made[0].parts[:2] == ("work", "results")
    assert made[0].parts[2].startswith("evil_x-")


def test_sigterm_exits_143_and_keeps_the_steps_done(tmp_path: Path, fast_scenario: Path) -> None:
    """SIGTERM once steps are being computed (the progress bar moves): exit 143, steps kept."""
    out = tmp_path / "term"
    work = out.with_name(out.name + INCOMPLETE_SUFFIX)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vppsim.cli", "run", str(fast_scenario), "--days", "60",
         "--out", str(out), "--no-figures"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = b""
    deadline = time.monotonic() + 90
    while not re.search(rb"\b([1-9]\d*)/\d+ ", err) and time.monotonic() < deadline:
        chunk = os.read(proc.stderr.fileno(), 4096)  # the progress bar: "3/1440 [..."
        if not chunk:
            break
        err += chunk
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    err = (err + rest).decode(errors="replace")
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert not out.exists()
    assert "Terminated" in (work / "error.txt").read_text(encoding="utf-8")
    assert (work / "timeseries.parquet").is_file()


@pytest.mark.parametrize("argv", [
    ["run", "--seed", "-1"], ["run", "--seed", str(2**63)], ["run", "--seed", "1.5"],
    ["game", "--seed", "-1"], ["montecarlo", "--samples", "2", "--seed", "-1"],
    ["allocate", str(ALLOCATION_CASE), "--seed", "-1"],
    ["allocate", str(ALLOCATION_CASE), "--demand", "-5"],
    ["allocate", str(ALLOCATION_CASE), "--demand", "nan"],
    ["allocate", str(ALLOCATION_CASE), "--demand", "0"],
])
def test_bad_options_exit_2_naming_the_option(
        argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    option = argv[-2]
    assert f"argument {option}: expected " in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_option_after_a_subcommand_shows_that_subcommands_usage(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["game", "--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: vppsim game ") and "unrecognized arguments: --bogus" in err


def test_every_option_and_argument_has_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {action.dest}" for name, sub in subparsers.choices.items()
               for action in sub._actions if not action.help]
    assert missing == []


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_the_model_rejects_a_seed_numpy_cannot_take(seed: int) -> None:
    loaded = load_scenario(default_scenario_path())
    with pytest.raises(ValueError, match=r"seed: expected an integer 0\.\.2\*\*63-1"):
        VPPModel(loaded, seed=seed)


def test_allocate_rejects_a_demand_beyond_the_case_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["allocate", str(ALLOCATION_CASE), "--demand", "1e9"]) == 2
    assert "--demand: expected a number <= 1e+07 MW, got 1e+09" in capsys.readouterr().err
    negative = tmp_path / "negative.yaml"
    negative.write_text(ALLOCATION_CASE.read_text(encoding="utf-8").replace(
        "demands: [258, 55]", "demands: [258, -5]"), encoding="utf-8")
    assert main(["allocate", str(negative)]) == 2
    assert "demands[1]: Input should be greater than 0 (got -5)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["negative.yaml"]


#: a process that takes the lock, forks a child that keeps the lock's file (as vppsim run's
#: baseline and drawing processes do) for ``argv[2]`` s, and ends at once
_HOLDER_DIES = """
import os, sys, time
from vppsim.results.folders import FolderLock
lock = FolderLock(sys.argv[1])
assert lock.acquire()
if os.fork() == 0:
    os.close(1)  # the caller's pipes: it returns when the holder has ended
    os.close(2)
    time.sleep(float(sys.argv[2]))
    os._exit(0)
print(os.getpid(), flush=True)
os._exit(0)
"""


def test_a_lock_held_only_by_a_dead_holders_child_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / ".out.lock"
    done = subprocess.run([sys.executable, "-c", _HOLDER_DIES, str(path), "1.0"],
                          capture_output=True, text=True, timeout=60, check=True)
    holder = done.stdout.strip()
    lock = FolderLock(path)
    assert lock.holder() == holder  # the dead process's pid, while its child holds the lock
    t0 = time.monotonic()
    assert lock.acquire()  # waited for the child (the holder is gone)
    assert 0.3 < time.monotonic() - t0 < ORPHAN_WAIT_S
    assert lock.holder() == str(os.getpid())
    lock.release()
    # a child that outlives the wait: the lock stays busy, and the answer comes after the wait
    subprocess.run([sys.executable, "-c", _HOLDER_DIES, str(path), str(ORPHAN_WAIT_S + 3)],
                   capture_output=True, text=True, timeout=60, check=True)
    t0 = time.monotonic()
    assert not FolderLock(path).acquire()
    assert time.monotonic() - t0 >= ORPHAN_WAIT_S


@pytest.mark.parametrize("with_renameat2", [True, False])
def test_publishing_never_replaces_an_empty_folder(tmp_path: Path, with_renameat2: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain rename replaces an empty destination folder; the publish rename refuses it in
    the same step (renameat2 RENAME_NOREPLACE on Linux, else a check just before)."""
    if not with_renameat2:
        monkeypatch.setattr(folders, "_libc", lambda: None)
    src, dst = tmp_path / "work", tmp_path / "out"
    src.mkdir()
    (src / "kpis.csv").write_text("x\n", encoding="utf-8")
    dst.mkdir()  # created by something that does not take the lock
    with pytest.raises(FileExistsError):
        rename_noreplace(src, dst)
    assert (src / "kpis.csv").is_file() and list(dst.iterdir()) == []
    dst.rmdir()
    rename_noreplace(src, dst)
    assert (dst / "kpis.csv").read_text(encoding="utf-8") == "x\n" and not src.exists()


def test_a_folder_appearing_before_publish_is_left_untouched(tmp_path: Path) -> None:
    folder = ResultFolder.claim(tmp_path / "out")
    (folder.work / "kpis.csv").write_text("x\n", encoding="utf-8")
    (tmp_path / "out").mkdir()  # empty: a plain rename would replace it
    with pytest.raises(OutputFolderError, match="appeared while this run was computing"):
        folder.publish()
    assert list((tmp_path / "out").iterdir()) == []
    assert (folder.work / "kpis.csv").is_file()
