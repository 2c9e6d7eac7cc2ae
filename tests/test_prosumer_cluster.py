"""Prosumer scheduling on a Dask cluster (issue 18): the same schedules as in this process.

One real ``distributed`` LocalCluster of 2 single-threaded worker processes serves the
module (:class:`vppsim.prosumers.cluster.ProsumerCluster`, kept open across calls). The
reference for every cluster result is the in-process run (one chunk, no pool): SA and LP
schedules must equal it bit for bit for several chunkings and both scatter modes; a slice
scheduled in-process with its global offset equals its rows of the whole fleet. The fleet VPP
with ``scheduler:`` (the module cluster's address) gives the same prosumer table as without.
Bad and unreachable addresses fail with one clear error (exit 2 from the CLI, file and field
named).
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from vppsim.cli import main
from vppsim.model import VPPModel
from vppsim.paths import data_dir
from vppsim.prosumers import cluster as cluster_mod
from vppsim.prosumers.anneal import SASettings, anneal_fleet
from vppsim.prosumers.cluster import ClusterError, ProsumerCluster
from vppsim.prosumers.gaps import idle_cost
from vppsim.prosumers.problem import FleetSchedule, synthetic_fleet
from vppsim.prosumers.schedule import schedule_fleet
from vppsim.scenario.loader import load_scenario

SCENARIO = data_dir("scenarios") / "prosumers_1024.yaml"
SETTINGS = SASettings(iterations=300, stages=15)
FIELDS = ("acquire_kw", "paid_kw", "spill_kw", "charge_kw", "discharge_kw", "soc_kwh", "cost")


@pytest.fixture(scope="module")
def pc() -> Iterator[ProsumerCluster]:
    with ProsumerCluster("local", workers=2) as c:
        yield c


def _same(a: FleetSchedule, b: FleetSchedule) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True) for f in FIELDS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sa_on_the_cluster_equals_in_process_for_any_chunking(pc: ProsumerCluster) -> None:
    fleet = synthetic_fleet(60, 11)
    ref = schedule_fleet(fleet, "sa", seed=3, settings=SETTINGS)
    # the comparison is not vacuous: the SA moved the batteries, and another seed differs
    assert ref.total_cost < float(np.sum(idle_cost(fleet))) - 1.0
    assert not _same(ref, schedule_fleet(fleet, "sa", seed=4, settings=SETTINGS))
    for scatter, chunks in (("chunks", None), ("chunks", 1), ("chunks", 7), ("broadcast", 5)):
        pc.scatter = scatter
        try:
            got = schedule_fleet(fleet, "sa", seed=3, settings=SETTINGS, chunks=chunks, scheduler=pc)
        finally:
            pc.scatter = "chunks"
        assert _same(got, ref), (scatter, chunks)
    # a slice keeps its prosumers' global indices, so their random streams
    part = schedule_fleet(fleet.take(slice(21, 47)), "sa", seed=3, settings=SETTINGS, first_index=21)
    assert all(np.array_equal(getattr(part, f), getattr(ref, f)[21:47]) for f in FIELDS)


def test_warm_started_sa_on_the_cluster_equals_in_process(pc: ProsumerCluster) -> None:
    # a warm start given for the whole fleet is cut per chunk by its offset, also for a slice
    fleet = synthetic_fleet(30, 13)
    e_start = np.diff(schedule_fleet(fleet, "lp").soc_kwh, axis=1,
                      prepend=fleet.soc_init_kwh[:, None])
    ref = anneal_fleet(fleet, SETTINGS, seed=2, e_start=e_start)
    assert not _same(ref, anneal_fleet(fleet, SETTINGS, seed=2))  # the start matters
    assert _same(anneal_fleet(fleet, SETTINGS, seed=2, e_start=e_start, cluster=pc, chunks=4), ref)
    part = anneal_fleet(fleet.take(slice(9, 25)), SETTINGS, seed=2, e_start=e_start[9:25],
                        cluster=pc, chunks=3, first_index=9)
    assert all(np.array_equal(getattr(part, f), getattr(ref, f)[9:25]) for f in FIELDS)


def _worker_env(name: str) -> str | None:
    return os.environ.get(name)


def test_local_workers_keep_glibc_malloc_defaults(pc: ProsumerCluster) -> None:
    # Dask's MALLOC_TRIM_THRESHOLD_ made the annealer spend 40 % of its time in the kernel
    # (vppsim.localcluster); the other pre-spawn variables (one BLAS thread) stay
    expected = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    assert set(pc.client.run(_worker_env, "MALLOC_TRIM_THRESHOLD_").values()) == {expected}
    assert set(pc.client.run(_worker_env, "OMP_NUM_THREADS").values()) == {"1"}


def test_lp_on_the_cluster_equals_in_process(pc: ProsumerCluster) -> None:
    fleet = synthetic_fleet(20, 5)
    ref = schedule_fleet(fleet, "lp")
    assert np.isfinite(ref.cost).all()
    for chunks in (3, 20):
        assert _same(schedule_fleet(fleet, "lp", chunks=chunks, scheduler=pc), ref), chunks
    # a distributed.Client passed as the scheduler: used for the call and left open
    assert _same(schedule_fleet(fleet, "lp", scheduler=pc.client), ref)
    assert pc.client.status == "running"


def test_the_fleet_is_scattered_once_per_call(pc: ProsumerCluster) -> None:
    fleet = synthetic_fleet(40, 2)
    start_s, before = pc.start_s, pc.scatters
    schedule_fleet(fleet, "sa", seed=1, settings=SETTINGS, chunks=6, scheduler=pc)
    # one slice per chunk, each held by one worker (not a copy per task or per worker)
    assert pc.last["scattered"] == 6 and pc.last["replicas"] == 6
    assert pc.scatters == before + 6
    pc.scatter = "broadcast"
    try:
        schedule_fleet(fleet, "sa", seed=1, settings=SETTINGS, chunks=6, scheduler=pc)
    finally:
        pc.scatter = "chunks"
    # the whole fleet once, a copy on each of the 2 workers; the 6 tasks cut their slices there
    assert pc.last["scattered"] == 1 and pc.last["replicas"] == 2
    assert pc.start_s == start_s  # the same cluster served every call


def test_bad_and_unreachable_schedulers_are_clear_errors() -> None:
    with pytest.raises(ClusterError, match="expected 'local', a Dask scheduler address"):
        ProsumerCluster("not an address")
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at '{address}'"):
        ProsumerCluster(address, timeout_s=1.0)


def _write(raw: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCENARIO.parent / raw["profiles"], folder / raw["profiles"])
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _small(scheduler: str | None, count: int = 24) -> dict[str, Any]:
    raw = copy.deepcopy(yaml.safe_load(SCENARIO.read_text(encoding="utf-8")))
    raw["vpps"] = raw["vpps"][:2]
    for v in raw["vpps"]:
        v["members"][0].update(count=count, sa_iterations=300)
        if scheduler is not None:
            v["members"][0]["scheduler"] = scheduler
    return raw


@pytest.mark.parametrize(("value", "expected"), [
    ("no-port-here", "expected 'local' or a Dask scheduler address"),
    ("tcp://host:port", "expected 'local' or a Dask scheduler address"),
    ("tcp://127.0.0.1:99999", "port 0-65535"),
])
def test_bad_scheduler_field_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str,
                                     expected: str) -> None:
    path = _write(_small(value), tmp_path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    line = next((ln for ln in err.splitlines() if ": vpps[0].members[0].scheduler: " in ln), None)
    assert line is not None, err
    assert str(path) in line and expected in line


def test_unreachable_scheduler_field_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    path = _write(_small(address, count=4), tmp_path)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: vpps[0].members[0].scheduler: expected a reachable Dask scheduler" in err
    assert address in err and "Traceback" not in err


def test_scheduler_field_with_montecarlo_exits_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # the batch's samples run on its own workers: a cluster per worker is refused up front
    path = _write(_small("local", count=4), tmp_path)
    out = tmp_path / "mc"
    assert main(["montecarlo", str(path), "--samples", "2", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: vpps[0].members[0].scheduler: expected no scheduler with vppsim montecarlo" in err
    assert not out.exists() and "Traceback" not in err


def test_fleet_vpp_on_the_cluster_equals_in_process(tmp_path: Path, pc: ProsumerCluster) -> None:
    address = pc.client.scheduler_info()["address"]
    models = [VPPModel(load_scenario(_write(_small(s), tmp_path / str(k))), seed=5)
              for k, s in enumerate((None, address))]
    for m in models:
        m.run()
    local, remote = (m.prosumer_frame() for m in models)
    assert len(local) == 2 * 24 * models[0].n_steps
    assert local.equals(remote)
    # the cluster did the work: the two fleet VPPs share one connection, which scattered
    first, second = models[1].prosumer_fleets
    assert first.cluster is not None and first.cluster is second.cluster
    assert first.cluster.scatters >= 4  # 2 VPPs x 2 chunks (one per worker) for the day ahead
    assert all(f.cluster is None for f in models[0].prosumer_fleets)
    first.cluster.close()
