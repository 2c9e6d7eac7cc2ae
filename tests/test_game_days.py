"""Multi-day games (vppsim.market.horizon, ``vppsim game --days N``): state carried across days.

Real HiGHS throughout. The 3-VPP day is edited so that a day ends elsewhere than it started
(VPP1 may end below its initial SoC) and the VPO has a battery; the 6-VPP day has generators
with ramp limits that end the day above their initial output.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from vppsim.cli.main import main
from vppsim.market.horizon import ROUNDOFF_TOL, HorizonDay, carry_state, day_seed, solve_game_days
from vppsim.market.reference import centralized_bound
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario

SIX_VPP = default_scenario_path().parent / "liu2025_6vpp.yaml"
TOL = 1e-6


@pytest.fixture(scope="module")
def carried_3vpp_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default day with a VPO battery and VPP1 free to end below its initial SoC."""
    raw = yaml.safe_load(default_scenario_path().read_text(encoding="utf-8"))
    raw["vpo"]["battery"] = {"capacity_kwh": 200, "soc0": 0.5, "soc_min": 0.1, "soc_max": 0.9,
                             "p_max_kw": 50}
    raw["vpps"][0]["end_soc_at_least_initial"] = False
    folder = tmp_path_factory.mktemp("carried")
    shutil.copy(default_scenario_path().parent / raw["profiles"], folder / raw["profiles"])
    path = folder / "carried.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _horizon(path: Path, n_days: int, **kwargs: Any) -> tuple[VPPModel, list[HorizonDay]]:
    model = VPPModel(load_scenario(path), days=n_days)
    kwargs = {"objective": "system_cost", "solver": "exact", "ties": False, **kwargs}
    return model, solve_game_days(model.day_ahead_market, n_days, **kwargs)


@pytest.fixture(scope="module")
def horizon_3vpp(carried_3vpp_path: Path) -> tuple[VPPModel, list[HorizonDay]]:
    return _horizon(carried_3vpp_path, 3)


@pytest.fixture(scope="module")
def horizon_6vpp() -> tuple[VPPModel, list[HorizonDay]]:
    return _horizon(SIX_VPP, 2)


@pytest.fixture(params=["3vpp", "6vpp"])
def horizon(request: pytest.FixtureRequest) -> list[HorizonDay]:
    return request.getfixturevalue(f"horizon_{request.param}")[1]


def test_each_day_starts_where_the_day_before_ended_and_stays_within_bounds(
        horizon: list[HorizonDay]) -> None:
    for prev, h in zip(horizon, horizon[1:], strict=False):
        before, now = prev.result.outcome, h.result.outcome
        for d, s0, s1 in zip(h.market.vpps, before.schedules, now.schedules, strict=True):
            assert s0.name == s1.name == d.name
            starts = [b.soc_start_kwh for b in d.batteries]
            np.testing.assert_allclose(starts, s0.soc_kwh[:, -1], rtol=0, atol=ROUNDOFF_TOL)
            np.testing.assert_array_equal(s1.soc_kwh[:, 0], starts)  # the LP started there
            np.testing.assert_allclose([g.p_start_kw for g in d.generators], s0.gen_kw[:, -1],
                                       rtol=0, atol=ROUNDOFF_TOL)
        if h.market.storage is not None:
            assert h.market.storage.soc_start_kwh == pytest.approx(before.storage.soc_kwh[-1],
                                                                   abs=ROUNDOFF_TOL)
            assert now.storage.soc_kwh[0] == h.market.storage.soc_start_kwh
    for h in horizon:  # invariants: SoC windows, and the ramp from the carried output
        o = h.result.outcome
        for d, s in zip(h.market.vpps, o.schedules, strict=True):
            for k, b in enumerate(d.batteries):
                p = b.params
                assert s.soc_kwh[k].min() >= p.soc_min * p.capacity_kwh - TOL
                assert s.soc_kwh[k].max() <= p.soc_max * p.capacity_kwh + TOL
            for j, g in enumerate(d.generators):
                if g.ramp_kw_per_h is not None:
                    assert abs(s.gen_kw[j, 0] - g.p_start_kw) <= g.ramp_kw_per_h * d.dt_h + TOL
        if h.market.storage is not None:
            p = h.market.storage.params
            assert o.storage.soc_kwh.min() >= p.soc_min * p.capacity_kwh - TOL
            assert o.storage.soc_kwh.max() <= p.soc_max * p.capacity_kwh + TOL


def test_carrying_changes_the_next_day_when_a_day_ends_elsewhere(
        horizon_3vpp: tuple[VPPModel, list[HorizonDay]]) -> None:
    model, days = horizon_3vpp
    day0, day1 = days[0], days[1]
    end0 = day0.result.outcome.schedules[0].soc_kwh[0, -1]
    uncarried = model.day_ahead_market(1)
    start_initial = uncarried.vpps[0].batteries[0].soc_start_kwh
    assert end0 < start_initial - 1.0  # VPP1 ends day 0 below where it started
    assert day1.market.vpps[0].batteries[0].soc_start_kwh == pytest.approx(end0, abs=1e-9)
    assert day1.result.outcome.schedules[0].soc_kwh[0, 0] == pytest.approx(end0, abs=1e-9)
    # the exact solver reaches the centralized LP's optimum of the carried day (an independent
    # LP over all VPPs and the VPO), which differs from the uncarried day's
    carried_bound = centralized_bound(day1.market).system_cost_cny
    uncarried_bound = centralized_bound(uncarried).system_cost_cny
    assert day1.result.outcome.system_cost_cny == pytest.approx(carried_bound, abs=1e-6)
    assert abs(carried_bound - uncarried_bound) > 1.0
    # daily profiles repeat: the uncarried day 1 is day 0 again
    assert uncarried_bound == pytest.approx(day0.result.outcome.system_cost_cny, abs=1e-6)


def test_energy_balance_of_every_vpp_and_the_vpo_in_every_period(
        horizon: list[HorizonDay]) -> None:
    for h in horizon:
        o = h.result.outcome
        for d, s in zip(h.market.vpps, o.schedules, strict=True):
            # lower_level.py: wind - w_cur + pv - pv_cur + sum(dis - ch) + sum(gen) + g - e
            #                 + lc + unmet - spill = load
            supply = (d.wind_fc_kw - s.wind_curtail_kw + d.pv_fc_kw - s.pv_curtail_kw
                      + (s.discharge_kw - s.charge_kw).sum(axis=0) + s.gen_kw.sum(axis=0)
                      + s.buy_kw - s.sell_kw + s.load_curtail_kw.sum(axis=0) + s.unmet_kw
                      - s.spill_kw)
            np.testing.assert_allclose(supply, d.load_kw, rtol=0, atol=TOL)
        if o.storage is not None:  # the VPO: E - G + dis_o - ch_o = x - m
            net = (np.sum([s.sell_kw - s.buy_kw for s in o.schedules], axis=0)
                   + o.storage.discharge_kw - o.storage.charge_kw)
            np.testing.assert_allclose(net, o.storage.grid_export_kw - o.storage.grid_import_kw,
                                       rtol=0, atol=TOL)


def test_carry_state_rejects_days_that_do_not_match_and_clips_only_round_off(
        horizon_3vpp: tuple[VPPModel, list[HorizonDay]]) -> None:
    model, days = horizon_3vpp
    outcome = days[0].result.outcome
    nxt = model.day_ahead_market(1)
    renamed = dataclasses.replace(outcome, schedules=[dataclasses.replace(outcome.schedules[0],
                                                                          name="VPPX"),
                                                      *outcome.schedules[1:]])
    with pytest.raises(ValueError, match="VPPX"):
        carry_state(nxt, renamed)
    no_storage = dataclasses.replace(outcome, storage=None)
    with pytest.raises(ValueError, match="storage"):
        carry_state(nxt, no_storage)
    p = nxt.vpps[0].batteries[0].params
    lo = p.soc_min * p.capacity_kwh

    def ending_at(soc_end: float) -> Any:
        s = dataclasses.replace(outcome.schedules[0], soc_kwh=outcome.schedules[0].soc_kwh.copy())
        s.soc_kwh[0, -1] = soc_end
        return dataclasses.replace(outcome, schedules=[s, *outcome.schedules[1:]])

    assert carry_state(nxt, ending_at(lo - 1e-9)).vpps[0].batteries[0].soc_start_kwh == lo
    with pytest.raises(ValueError, match="VPP1 battery 0"):
        carry_state(nxt, ending_at(lo - 1e-3))


def test_same_seed_same_horizon(carried_3vpp_path: Path) -> None:
    kw = {"solver": "pso-rl", "budget": 60, "reference": False}
    _, a = _horizon(carried_3vpp_path, 2, seed=7, **kw)
    _, b = _horizon(carried_3vpp_path, 2, seed=7, **kw)
    for x, y in zip(a, b, strict=True):
        assert x.seed == y.seed
        np.testing.assert_array_equal(x.result.outcome.c_sell_cny_per_kwh,
                                      y.result.outcome.c_sell_cny_per_kwh)
        np.testing.assert_array_equal(x.result.convergence.history, y.result.convergence.history)
        assert x.result.outcome.vpp_cost_cny == y.result.outcome.vpp_cost_cny
    assert [h.seed for h in a] == [7, day_seed(7, 1)] and day_seed(7, 1) != 7
    assert day_seed(8, 1) != day_seed(7, 1) and day_seed(None, 3) is None
    assert 0 <= day_seed(2**63 - 1, 5) < 2**63


def test_cli_days_writes_the_horizon_folder(
        carried_3vpp_path: Path, tmp_path: Path,
        horizon_3vpp: tuple[VPPModel, list[HorizonDay]],
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "days"
    assert main(["game", str(carried_3vpp_path), "--days", "2", "--solver", "exact",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "day 0:" in printed and "day 1:" in printed and "total over 2 days" in printed
    for f in ("summary.json", "days.csv", "prices.csv", "soc.csv", "report.md"):
        assert (out / f).is_file(), f
    for f in ("soc", "prices"):
        assert (out / "figures" / f"{f}.png").stat().st_size > 1000
    table = pd.read_csv(out / "days.csv")
    assert table["day"].tolist() == [0, 1]
    lib = horizon_3vpp[1]  # the same days solved by the library (exact: seed-independent)
    np.testing.assert_allclose(table["system_cost_cny"],
                               [h.result.outcome.system_cost_cny for h in lib[:2]], atol=1e-6)
    for unit in ("VPP1/battery0", "VPO/storage"):
        assert table[f"soc_start_kwh_{unit}"][1] == table[f"soc_end_kwh_{unit}"][0]
    assert table["vpo_profit_pessimistic_cny"].notna().all()  # tie ends computed by default
    assert len(pd.read_csv(out / "prices.csv")) == 2 * 24
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["days"] == 2 and len(summary["per_day"]) == 2
    assert summary["totals"]["system_cost_cny"] == pytest.approx(table["system_cost_cny"].sum())
    assert "| total |" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("extra, message", [
    (["--days", "0"], "argument --days: expected an integer >= 1, got 0"),
    (["--days", "two"], "argument --days: expected an integer >= 1, got 'two'"),
    (["--days", "2", "--day", "1"], "argument --day: not allowed with argument --days"),
    (["--days", "2", "--compare"], "--compare: expected a one-day game"),
])
def test_cli_bad_days_exit_2_with_one_message_and_nothing_written(
        extra: list[str], message: str, in_tmp: Path,
        assert_nothing_written: Callable[[Path, Path], None],
        capsys: pytest.CaptureFixture[str]) -> None:
    out = in_tmp / "out"
    argv = ["game", "--solver", "exact", "--out", str(out), *extra]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.count("vppsim") <= 2  # one message (argparse adds its usage line)
    assert_nothing_written(out, in_tmp)
