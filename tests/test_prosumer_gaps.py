"""Issue 18: flexibility value captured, the export-incentive stress case, SA reproducibility.

- ``flexibility_captured`` against a hand-computed one-battery case (optimum and idle bill
  worked out by hand, the MILP agreeing), 1 for the exact schedule and 0 for the idle one;
- ``scenarios/prosumers_stress.yaml`` validates and its binaries bind (LP relaxation below
  the MILP) for most prosumers; SA schedules pass the independent checker; bad
  ``export_incentive`` use gives exit 2 naming the file and the field;
- the SA's accept/reject path is independent of numpy's SIMD code paths (a subprocess with
  NumPy's CPU dispatch limited gives bit-identical schedules), of the worker count and of
  the chunking.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

from vppsim.agents.prosumer_fleet import tariff_fleet
from vppsim.cli import main
from vppsim.model import VPPModel
from vppsim.paths import data_dir
from vppsim.prosumers.anneal import SASettings, anneal_fleet
from vppsim.prosumers.exact import solve_exact
from vppsim.prosumers.gaps import battery_owners, flexibility_captured, idle_cost
from vppsim.prosumers.problem import ProsumerFleet, check_schedules, schedule_from_stored, synthetic_fleet
from vppsim.scenario.loader import load_scenario

STRESS = data_dir("scenarios") / "prosumers_stress.yaml"
STRESS_RAW = yaml.safe_load(STRESS.read_text(encoding="utf-8"))


def _hand_fleet() -> ProsumerFleet:
    """Three 4-period prosumers, 1 h periods: a lossless 2 kW / 4 kWh battery, the same without
    battery, and a battery with nothing to gain (no PV, flat price: degenerate)."""
    return ProsumerFleet(
        dt_h=1.0,
        gen_kw=np.array([[3.0, 0.0, 1.0, 0.0], [3.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]),
        load_kw=np.array([[1.0, 2.0, 1.0, 3.0], [1.0, 2.0, 1.0, 3.0], [1.0, 2.0, 1.0, 3.0]]),
        price_buy_per_kwh=np.array([[0.3, 1.0, 0.3, 1.2], [0.3, 1.0, 0.3, 1.2], [1.0, 1.0, 1.0, 1.0]]),
        price_sell_per_kwh=np.array([[0.1, 0.4, 0.1, 0.4], [0.1, 0.4, 0.1, 0.4], [0.1, 0.1, 0.1, 0.1]]),
        acquire_max_kw=[10.0, 10.0, 10.0], dispatch_max_kw=[1.0, 1.0, 1.0],
        charge_max_kw=[2.0, 0.0, 2.0], discharge_max_kw=[2.0, 0.0, 2.0],
        soc_min_kwh=[0.0, 0.0, 0.0], soc_max_kwh=[4.0, 0.0, 4.0], soc_init_kwh=[1.0, 0.0, 1.0],
        soc_end_min_kwh=[1.0, 0.0, 1.0], eta_charge=[1.0, 1.0, 1.0], eta_discharge=[1.0, 1.0, 1.0],
        battery_cost_per_kwh=[0.01, 0.01, 0.01], fixed_cost=[0.5, 0.5, 0.5],
    )


def test_flexibility_captured_hand_computed() -> None:
    f = _hand_fleet()
    # idle: sell 1 kWh at 0.1 (1 spilled), buy 2 at 1.0 and 3 at 1.2, fixed 0.5
    idle = -0.1 + 2.0 + 3.6 + 0.5
    # optimum: charge the 2 kWh surplus (-0.1 sale), discharge 2 at 1.0, charge 2 from the grid at
    # 0.3, discharge 2 at 1.2; 8 kWh of throughput at 0.01; the initial 1 kWh stays (end floor)
    optimum = idle + 0.1 - 2.0 + 0.6 - 2.4 + 8 * 0.01
    np.testing.assert_allclose(idle_cost(f), [idle, idle, 7.0 + 0.5], atol=1e-12)
    milp = solve_exact(f, integer=True)
    assert milp.cost[0] == pytest.approx(optimum, abs=1e-9)
    assert milp.cost[2] == pytest.approx(7.5, abs=1e-9)  # the degenerate battery stays idle
    # a schedule doing only the first cycle: charge in period 0, discharge in period 1
    half = schedule_from_stored(f, np.array([[2.0, -2.0, 0.0, 0.0], [0.0] * 4, [0.0] * 4]))
    assert half.cost[0] == pytest.approx(idle + 0.1 - 2.0 + 4 * 0.01, abs=1e-12)
    r = flexibility_captured(f, half.cost, milp.cost)
    expected = (idle - half.cost[0]) / (idle - optimum)
    assert r.table["captured"][0] == pytest.approx(expected, rel=1e-9)
    assert r.table["counted"].tolist() == [True, False, False]
    assert r.summary["battery_owners"] == 2 and r.summary["counted"] == 1
    assert r.summary["degenerate"] == 1
    assert r.summary["fleet_share"] == pytest.approx(expected, rel=1e-9)
    assert r.summary["worst"] == r.summary["q50"] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="shape"):
        flexibility_captured(f, half.cost[:2], milp.cost)


def test_flexibility_captured_exact_is_one_idle_is_zero() -> None:
    f = synthetic_fleet(16, 3, periods=48, dt_h=0.5)
    milp = solve_exact(f, integer=True)
    exact = flexibility_captured(f, milp.cost, milp.cost)
    idle = flexibility_captured(f, idle_cost(f), milp.cost)
    counted = exact.table["counted"]
    assert counted.sum() == battery_owners(f).sum() > 0
    np.testing.assert_allclose(exact.table["captured"][counted], 1.0, atol=1e-12)
    np.testing.assert_allclose(idle.table["captured"][counted], 0.0, atol=1e-12)
    assert exact.summary["fleet_share"] == pytest.approx(1.0)
    assert idle.summary["fleet_share"] == pytest.approx(0.0, abs=1e-12)
    assert exact.summary["gap_to_bill"] == 0.0
    sa = anneal_fleet(f, SASettings(iterations=1500), seed=2)
    share = flexibility_captured(f, sa.cost, milp.cost).summary
    assert 0.9 < share["fleet_share"] <= 1.0 + 1e-12
    assert share["worst"] <= share["q05"] <= share["q50"] <= share["q95"] <= 1.0 + 1e-12


# ---------------------------------------------------------------------------- stress scenario


def test_tariff_fleet_is_what_the_model_schedules() -> None:
    """``tariff_fleet`` (no model) equals the fleets' day-0 problems built by the model."""
    loaded = load_scenario(STRESS)
    model = VPPModel(loaded)
    m = model.tariff
    parts = [d.fleet_for_day(0, m.import_cny_per_kwh[:96], m.export_cny_per_kwh[:96])
             for d in model.prosumer_fleets]
    mine = tariff_fleet(loaded.scenario)
    assert mine.n == sum(p.n for p in parts) == 256
    for name in ("gen_kw", "load_kw", "price_buy_per_kwh", "price_sell_per_kwh", "soc_min_kwh",
                 "soc_max_kwh", "soc_init_kwh", "soc_end_min_kwh", "charge_max_kw", "dispatch_max_kw"):
        np.testing.assert_allclose(getattr(mine, name), np.concatenate([getattr(p, name) for p in parts]),
                                   rtol=1e-12, atol=1e-12, err_msg=name)
    assert (mine.price_sell_per_kwh > mine.price_buy_per_kwh).any(axis=1).all()


def test_stress_scenario_binaries_bind_and_sa_feasible(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(STRESS)]) == 0
    fleet = tariff_fleet(load_scenario(STRESS).scenario).take(slice(0, 8))
    milp = solve_exact(fleet, integer=True)
    lp = solve_exact(fleet, integer=False)
    assert check_schedules(fleet, milp).ok.all()
    bind = lp.cost < milp.cost - 1e-6
    assert bind.mean() > 0.5  # most prosumers: the relaxation buys and sells at once
    assert not lp.info["binaries_slack"][bind].any()
    assert not check_schedules(fleet, lp).ok[bind].any()  # the relaxation breaks exclusivity
    sa = anneal_fleet(fleet, SASettings(iterations=1500), seed=0)
    assert check_schedules(fleet, sa).ok.all()
    assert np.all(sa.cost >= milp.cost - 1e-6)
    assert flexibility_captured(fleet, sa.cost, milp.cost).summary["fleet_share"] > 0.95


def _write(raw: dict[str, Any], folder: Path) -> Path:
    (folder / raw["profiles"]).write_bytes((STRESS.parent / raw["profiles"]).read_bytes())
    path = folder / "stress.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_bad_export_incentive_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     default_scenario_raw: dict[str, Any],
                                     write_scenario_copy: Any) -> None:
    raw = copy.deepcopy(STRESS_RAW)
    del raw["tariff"]["periods"][3]["export_incentive"]
    path = _write(raw, tmp_path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if ": tariff.periods[3]" in ln)
    assert str(path) in line and "export_incentive: true" in line and "1.6 > 1.4" in line
    # an ordinary VPP (an LP) cannot face export above import
    raw = default_scenario_raw
    raw["market"]["price_policy"] = "passthrough"
    period = raw["tariff"]["periods"][0]
    period.update(export_cny_per_kwh=period["import_cny_per_kwh"] + 0.1, export_incentive=True)
    path = write_scenario_copy(raw)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if ": tariff.periods[0].export_incentive: " in ln)
    assert str(path) in line and "VPP1" in line


# ---------------------------------------------------------------------------- reproducibility

_CHILD = """
import hashlib, json, sys
import numpy as np
from vppsim.prosumers.anneal import SASettings, anneal_fleet
from vppsim.prosumers.problem import synthetic_fleet
f = synthetic_fleet(48, 7)
s = anneal_fleet(f, SASettings(iterations=400), seed=5)
x = np.linspace(-30.0, 0.0, 100001)
data = f.gen_kw.tobytes() + f.load_kw.tobytes() + f.reference_bill().tobytes()
print(json.dumps({"fleet": hashlib.sha256(data).hexdigest(),
                  "sa": hashlib.sha256(s.soc_kwh.tobytes() + s.cost.tobytes()).hexdigest(),
                  "exp": hashlib.sha256(np.exp(x).tobytes()).hexdigest()}))
"""
def _child(env_extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _dispatchable() -> list[str]:
    """NumPy's dispatch targets above its baseline that this CPU has (numpy 2.x names)."""
    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]


def test_sa_bit_identical_with_numpy_cpu_dispatch_limited() -> None:
    if not _dispatchable():
        pytest.skip("this CPU runs numpy's baseline loops only: nothing to limit")
    full = _child({})
    limited = _child({"NPY_DISABLE_CPU_FEATURES": " ".join(_dispatchable())})
    assert full["exp"] != limited["exp"] or "X86_V4" not in _dispatchable(), \
        "the limit did not change numpy's exp: the test would not see a SIMD dependence"
    assert full["fleet"] == limited["fleet"]  # synthetic_fleet's profiles
    assert full["sa"] == limited["sa"]  # the SA's schedules and costs


def test_sa_same_result_for_workers_and_chunkings() -> None:
    f = synthetic_fleet(24, 8)
    settings = SASettings(iterations=200)
    ref = anneal_fleet(f, settings, seed=4)
    digest = hashlib.sha256(ref.soc_kwh.tobytes()).hexdigest()
    for kw in ({"chunks": 3}, {"chunks": 12}, {"workers": 2, "chunks": 7}):
        other = anneal_fleet(f, settings, seed=4, **kw)
        assert hashlib.sha256(other.soc_kwh.tobytes()).hexdigest() == digest, kw
        np.testing.assert_array_equal(other.cost, ref.cost)
