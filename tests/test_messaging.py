"""SimPy messaging between the VPO and the VPPs: loss, latency, gate closure and fallbacks."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy
import yaml

from vppsim.cosim import MessageBus, day_ahead_round
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.run import summarize
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import CommunicationSpec, LinkSpec

GATE_S = 900.0  # the default scenario's gate closure


def _passthrough(raw: dict[str, Any]) -> dict[str, Any]:
    """The scenario with the tariff passed through: what crosses the links does not depend on
    how the VPO set its prices, and a run takes about 1 s instead of 5 (no game)."""
    raw["market"]["price_policy"] = "passthrough"
    return raw


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> VPPModel:
    src = default_scenario_path()
    raw = _passthrough(yaml.safe_load(src.read_text(encoding="utf-8")))
    folder = tmp_path_factory.mktemp("baseline")
    shutil.copy(src.parent / raw["profiles"], folder / raw["profiles"])
    path = folder / "baseline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    model = VPPModel(load_scenario(path))
    model.run()
    return model


def _run(raw: dict[str, Any], write: Callable[..., Path], name: str, **kw: Any) -> VPPModel:
    model = VPPModel(load_scenario(write(_passthrough(raw), name)), **kw)
    model.run()
    return model


def _vpp_rows(model: VPPModel, name: str) -> pd.DataFrame:
    ts = model.timeseries()
    return ts[(ts.kind == "vpp") & (ts.agent == name)].set_index("step").sort_index()


#: wall-clock columns, the only ones that differ between two identical runs
WALL_CLOCK = ["allocation_solve_ms"]


def _rows_of(model: VPPModel, vpp: str) -> pd.DataFrame:
    """Every row of a VPP and of its members (the VPP row has vpp == its own name)."""
    ts = model.timeseries().drop(columns=WALL_CLOCK)
    keep = (ts.agent == vpp) | (ts.vpp == vpp)
    return ts[keep].reset_index(drop=True)


def _assert_balanced(model: VPPModel) -> None:
    ts = model.timeseries()
    assert len(ts[ts.kind == "vpp"]) == model.n_steps * len(model.vpps)
    assert ts.loc[ts.kind == "vpp", "energy_balance_residual_kw"].abs().max() < 1e-6


# ---------------------------------------------------------------------------- message loss


def test_lost_link_falls_back_to_zero_exchange_on_day_one(
    baseline: VPPModel, default_scenario_raw: dict[str, Any], write_scenario_copy: Callable[..., Path]
) -> None:
    raw = default_scenario_raw
    raw["communication"]["links"] = {"VPP2": {"loss_probability": 1.0}}
    model = _run(raw, write_scenario_copy, "lossy")
    _assert_balanced(model)

    vpp2 = _vpp_rows(model, "VPP2")
    assert vpp2.fallback.all()
    assert (vpp2.committed_buy_kw == 0.0).all() and (vpp2.committed_sell_kw == 0.0).all()
    # all of VPP2's exchange is imbalance, settled at imbalance prices
    np.testing.assert_allclose(vpp2.imbalance_kw, vpp2.buy_kw - vpp2.sell_kw, atol=1e-12)
    assert (vpp2.cost_day_ahead_trade_cny == 0.0).all()
    assert (vpp2.buy_kw + vpp2.sell_kw > 1.0).any()  # the VPP does trade, as imbalance
    for other in ("VPP1", "VPP3"):
        rows = _vpp_rows(model, other)
        assert not rows.fallback.any()
        np.testing.assert_array_equal(rows.committed_buy_kw, _vpp_rows(baseline, other).committed_buy_kw)
    assert model.vpps[1].schedule.status == "fallback"

    # the prices to VPP2 were lost, so VPP2 never answered: 3 price + 2 schedule messages
    counts = summarize(model, {})["messaging"]
    assert counts == {"sent": 5, "lost": 1, "late": 0, "fallbacks": 1}
    lost = [e for e in model.message_bus.log if e.lost]
    assert [(e.receiver, e.kind) for e in lost] == [("VPP2", "prices")]


def test_second_day_falls_back_to_the_first_days_fallback(
    default_scenario_raw: dict[str, Any], write_scenario_copy: Callable[..., Path]
) -> None:
    raw = default_scenario_raw
    raw["communication"]["links"] = {"VPP2": {"loss_probability": 1.0}}
    model = _run(raw, write_scenario_copy, "lossy2", days=2)
    _assert_balanced(model)
    vpp2 = _vpp_rows(model, "VPP2")
    assert vpp2.fallback.all()
    day1, day2 = vpp2[vpp2.day == 0], vpp2[vpp2.day == 1]
    np.testing.assert_array_equal(day2.committed_buy_kw, day1.committed_buy_kw)
    np.testing.assert_array_equal(day2.committed_sell_kw, day1.committed_sell_kw)
    assert (day2.committed_buy_kw == 0).all() and (day2.committed_sell_kw == 0).all()
    assert model.vpps[1].schedule.status == "fallback"
    assert model.vpps[1].schedule_day == 1
    assert summarize(model, {})["messaging"] == {"sent": 10, "lost": 2, "late": 0, "fallbacks": 2}
    for other in ("VPP1", "VPP3"):
        assert not _vpp_rows(model, other).fallback.any()


def _seed_with_day1_received_day2_lost(loss: float) -> int:
    """A seed whose generator delivers VPP2's two messages on day 1 and loses its prices on day 2.

    Loss draws come from a stream spawned from the model's generator (``rng.spawn(1)[0]``);
    those of the lossy link come in this order: day 1 prices, day 1 schedule, day 2 prices.
    """
    for seed in range(1000):
        u = np.random.default_rng(seed).spawn(1)[0].random(3)
        if u[0] >= loss and u[1] >= loss and u[2] < loss:
            return seed
    raise AssertionError("no seed found")


def test_second_day_falls_back_to_the_first_days_committed_schedule(
    default_scenario_raw: dict[str, Any], write_scenario_copy: Callable[..., Path]
) -> None:
    raw = default_scenario_raw
    raw["forecast_error"] = {k: {"kind": "none"} for k in ("wind", "pv", "load")}
    raw["communication"]["links"] = {"VPP2": {"loss_probability": 0.5}}
    seed = _seed_with_day1_received_day2_lost(0.5)
    model = _run(raw, write_scenario_copy, "lossy_day2", days=2, seed=seed)
    _assert_balanced(model)
    vpp2 = _vpp_rows(model, "VPP2")
    day1, day2 = vpp2[vpp2.day == 0], vpp2[vpp2.day == 1]
    assert not day1.fallback.any() and day2.fallback.all()
    # day 1's schedule is a real one (it trades) and day 2 commits to exactly the same
    assert (day1.committed_buy_kw + day1.committed_sell_kw > 1.0).any()
    np.testing.assert_array_equal(day2.committed_buy_kw.to_numpy(), day1.committed_buy_kw.to_numpy())
    np.testing.assert_array_equal(day2.committed_sell_kw.to_numpy(),
                                  day1.committed_sell_kw.to_numpy())
    assert model.vpps[1].schedule.status != "fallback"  # yesterday's optimal schedule, reused
    assert summarize(model, {})["messaging"] == {"sent": 11, "lost": 1, "late": 0, "fallbacks": 1}


# ---------------------------------------------------------------------------- latency and gate closure


def test_round_trip_beyond_gate_closure_is_late_and_falls_back(
    baseline: VPPModel, default_scenario_raw: dict[str, Any], write_scenario_copy: Callable[..., Path]
) -> None:
    raw = default_scenario_raw
    assert raw["communication"]["gate_closure_s"] == GATE_S
    raw["communication"]["links"] = {"VPP3": {"latency_s": GATE_S / 2 + 0.5}}
    model = _run(raw, write_scenario_copy, "slow")
    _assert_balanced(model)
    vpp3 = _vpp_rows(model, "VPP3")
    assert vpp3.fallback.all()
    assert (vpp3.committed_buy_kw == 0).all() and (vpp3.committed_sell_kw == 0).all()
    assert summarize(model, {})["messaging"] == {"sent": 6, "lost": 0, "late": 1, "fallbacks": 1}
    late = [e for e in model.message_bus.log if e.late]
    assert [(e.sender, e.kind) for e in late] == [("VPP3", "schedule")]
    # nothing random was consumed by the slow link: the other VPPs are exactly as in the default
    for other in ("VPP1", "VPP2"):
        pd.testing.assert_frame_equal(_rows_of(model, other), _rows_of(baseline, other))


@pytest.mark.parametrize("latency_s", [0.0, 100.0, GATE_S / 2], ids=["zero", "100s", "half-gate"])
def test_latency_within_the_gate_changes_nothing(
    latency_s: float, baseline: VPPModel, default_scenario_raw: dict[str, Any],
    write_scenario_copy: Callable[..., Path]
) -> None:
    raw = default_scenario_raw
    raw["communication"]["default_link"] = {"latency_s": latency_s, "loss_probability": 0.0}
    raw["communication"]["links"] = {"VPP2": {"latency_s": latency_s / 2, "loss_probability": 0.0}}
    model = _run(raw, write_scenario_copy, "fast")
    pd.testing.assert_frame_equal(model.timeseries().drop(columns=WALL_CLOCK),
                                  baseline.timeseries().drop(columns=WALL_CLOCK))
    assert summarize(model, {})["messaging"] == {"sent": 6, "lost": 0, "late": 0, "fallbacks": 0}
    delivered = [e.delivered_s for e in model.message_bus.log if e.kind == "schedule"]
    assert max(delivered) == pytest.approx(2 * latency_s)


# ---------------------------------------------------------------------------- day_ahead_round itself


def _round(start_s: float, gate_s: float, links: dict[str, LinkSpec]) -> tuple[Any, list[str], float]:
    env = simpy.Environment()
    if start_s > 0:
        env.run(until=start_s)
    spec = CommunicationSpec(gate_closure_s=gate_s, links=links)
    bus = MessageBus(env, spec, np.random.default_rng(0))
    answered: list[str] = []

    def respond(name: str, prices: Any) -> dict[str, Any]:
        answered.append(name)
        return {"from": name, "prices": prices}

    out = day_ahead_round(bus, 7, "VPO", list(links), "p", respond)
    return out, answered, env.now


@pytest.mark.parametrize("start_s", [0.0, 86400.0, 18000.0, 1234.567])
@pytest.mark.parametrize("gate_s", [900.0, 0.3, 0.7, 100.1])
def test_gate_closure_boundary(start_s: float, gate_s: float) -> None:
    half = gate_s / 2
    links = {
        "exact": LinkSpec(latency_s=half),  # schedule arrives exactly at gate closure: in time
        "just_late": LinkSpec(latency_s=half + 1e-7),  # arrives 2e-7 s after the gate
        "late": LinkSpec(latency_s=0.75 * gate_s),  # still in flight at gate closure
        "deaf": LinkSpec(latency_s=2 * gate_s),  # the prices arrive after gate closure
        "lost": LinkSpec(loss_probability=1.0),
    }
    out, answered, now = _round(start_s, gate_s, links)
    gate = start_s + gate_s
    assert out.gate_closure_s == gate
    assert now >= gate
    assert out.received == {"exact": {"from": "exact", "prices": "p"}}
    assert out.missing == ["just_late", "late", "deaf", "lost"]
    assert sorted(answered) == ["exact", "just_late", "late"]  # those the prices reached
    by = {(e.sender, e.receiver, e.kind): e for e in out.log}
    assert len(by) == len(out.log) == 5 + 3
    exact = by["exact", "VPO", "schedule"]
    assert not exact.late and exact.delivered_s == pytest.approx(gate, abs=1e-9)
    just_late = by["just_late", "VPO", "schedule"]
    assert just_late.late and just_late.delivered_s == pytest.approx(gate + 2e-7, abs=1e-9)
    late = by["late", "VPO", "schedule"]
    assert late.late and late.delivered_s is None
    deaf = by["VPO", "deaf", "prices"]
    assert deaf.delivered_s is None and not deaf.lost
    assert [(e.receiver, e.kind) for e in out.log if e.lost] == [("lost", "prices")]
    assert all(not e.late for e in out.log if e.kind == "prices")
