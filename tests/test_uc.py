"""Unit commitment (paper 003): the MILP against enumeration, the checker, the scenario, the CLI."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from vppsim.cli.main import main
from vppsim.scenario.schema import ScenarioError
from vppsim.uc.check import check_schedule
from vppsim.uc.heuristic import solve_uc_elm_ga
from vppsim.uc.portfolio import ThermalUnit, UcCase, with_units
from vppsim.uc.rolling import joined_tables, solve_rolling, tile_days
from vppsim.uc.solve import (
    cost_breakdown,
    market_table,
    reservoir_table,
    solve_uc,
    storage_table,
    unit_table,
)
from vppsim.uc.spec import load_uc_case

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "uc_ieee24.yaml"


def _unit(name: str, p_min: float, p_max: float, mc: float, up: int, down: int,
          start: float, no_load: float) -> ThermalUnit:
    return ThermalUnit(name=name, kind="diesel", p_min_kw=p_min, p_max_kw=p_max,
                       ramp_kw_per_h=None, min_up_h=up, min_down_h=down,
                       startup_cost_cny=start, shutdown_cost_cny=5.0,
                       no_load_cost_cny_per_h=no_load, marginal_cost_cny_per_kwh=mc,
                       maintenance_cost_cny_per_kwh=0.0, initially_on=False,
                       initial_hours_in_state=5)


def small_case() -> UcCase:
    """Three units, four hours, a market to sell to and buy from (no limits that bind)."""
    return UcCase(
        name="three-units", dt_h=1.0, demand_kw=np.array([60.0, 140.0, 190.0, 90.0]),
        sell_price_cny_per_kwh=np.array([0.3, 0.6, 1.1, 0.5]),
        buy_price_cny_per_kwh=np.array([0.5, 0.9, 1.6, 0.8]),
        export_max_kw=1e4, import_max_kw=1e4, voll_cny_per_kwh=20.0, spill_cost_cny_per_kwh=0.0,
        thermal=(_unit("a", 20, 100, 0.40, 2, 2, 30.0, 4.0),
                 _unit("b", 30, 80, 0.70, 2, 1, 12.0, 2.0),
                 _unit("c", 10, 60, 1.00, 1, 1, 2.0, 1.0)))


def _min_times_ok(on: tuple[int, ...], up: int, down: int, held0: int) -> bool:
    """Minimum up/down times of one unit, initially off for ``held0`` hours (own code)."""
    T, t = len(on), 0
    while t < T:
        s = t
        while t < T and on[t] == on[s]:
            t += 1
        length = t - s + (held0 if s == 0 and on[s] == 0 else 0)
        need = up if on[s] == 1 else down
        if t < T and length < need:
            return False
    return True


def _best_dispatch(case: UcCase, on: np.ndarray) -> float:
    """Profit of the best dispatch of a commitment, by merit order (no ramps, no limits).

    Each hour: every unit on starts at p_min; in rising marginal cost, a unit raises its output
    while what the next kWh earns (the buy price saved while short, then the sell price)
    exceeds its marginal cost. Exact for this separable problem with a concave market value.
    """
    profit = 0.0
    for t in range(case.n_hours):
        units = [u for k, u in enumerate(case.thermal) if on[k, t]]
        p = {u.name: u.p_min_kw for u in units}
        short = case.demand_kw[t] - sum(p.values())
        for u in sorted(units, key=lambda u: u.marginal_cost_cny_per_kwh):
            room = u.p_max_kw - p[u.name]
            if short > 0 and u.marginal_cost_cny_per_kwh < case.buy_price_cny_per_kwh[t]:
                add = min(room, short)
                p[u.name] += add
                short -= add
                room -= add
            if short <= 0 and u.marginal_cost_cny_per_kwh < case.sell_price_cny_per_kwh[t]:
                p[u.name] += room
                short -= room
        revenue = (case.sell_price_cny_per_kwh[t] * max(-short, 0.0)
                   - case.buy_price_cny_per_kwh[t] * max(short, 0.0))
        cost = sum(u.marginal_cost_cny_per_kwh * p[u.name] + u.no_load_cost_cny_per_h
                   for u in units)
        profit += revenue - cost
    for k, u in enumerate(case.thermal):
        prev = np.concatenate([[0], on[k, :-1]])
        profit -= u.startup_cost_cny * np.sum(on[k] > prev) + u.shutdown_cost_cny * np.sum(
            on[k] < prev)
    return profit


def test_milp_matches_enumeration_of_every_commitment() -> None:
    case = small_case()
    best = -np.inf
    for bits in itertools.product((0, 1), repeat=case.n_units * case.n_hours):
        on = np.array(bits).reshape(case.n_units, case.n_hours)
        if all(_min_times_ok(tuple(on[k]), u.min_up_h, u.min_down_h, u.initial_hours_in_state)
               for k, u in enumerate(case.thermal)):
            best = max(best, _best_dispatch(case, on))
    sol = solve_uc(case, mip_rel_gap=1e-9)
    assert sol.proven_optimal
    assert sol.profit_cny == pytest.approx(best, abs=1e-6)
    assert _best_dispatch(case, sol.commitment) == pytest.approx(best, abs=1e-6)


def test_fixed_commitment_is_the_dispatch_of_that_commitment() -> None:
    case = small_case()
    on = np.array([[1, 1, 1, 1], [0, 1, 1, 0], [0, 0, 1, 0]])
    sol = solve_uc(case, commitment=on)
    assert np.array_equal(sol.commitment, on)
    assert sol.profit_cny == pytest.approx(_best_dispatch(case, on), abs=1e-6)


def _tables(sol):  # noqa: ANN001, ANN202
    return unit_table(sol), storage_table(sol), reservoir_table(sol), market_table(sol)


@pytest.fixture(scope="module")
def shipped() -> UcCase:
    return load_uc_case(SCENARIO)


@pytest.fixture(scope="module")
def shipped_solutions(shipped: UcCase) -> dict:
    return {(mode, dsm): solve_uc(shipped if dsm else shipped.without_dsm(), mode)
            for mode in ("vpp", "traditional") for dsm in (True, False)}


def test_every_variant_passes_the_checker_and_balances(shipped_solutions: dict) -> None:
    for (mode, dsm), sol in shipped_solutions.items():
        assert sol.proven_optimal, (mode, dsm)
        assert check_schedule(sol.case, *_tables(sol)) == [], (mode, dsm)
        costs = cost_breakdown(sol)
        assert costs["profit_cny"] == pytest.approx(sol.profit_cny, rel=1e-9, abs=1e-6)
        st = storage_table(sol)
        ev = st[st["kind"] == "ev"]
        assert not ((ev["charge_kw"] > 1e-9) & ~ev["plugged"]).any()


def test_paper_003_findings_hold_on_the_shipped_day(shipped_solutions: dict) -> None:
    s = shipped_solutions
    # the VPP beats the traditional grid, with and without DSM
    assert s[("vpp", True)].profit_cny > s[("traditional", True)].profit_cny
    assert s[("vpp", False)].profit_cny > s[("traditional", False)].profit_cny
    # DSM (the pumps' energy) raises the operating cost, and smooths production
    with_dsm, without = cost_breakdown(s[("vpp", True)]), cost_breakdown(s[("vpp", False)])
    assert with_dsm["operating_cost_cny"] > without["operating_cost_cny"]

    def spread(sol) -> float:  # noqa: ANN001
        return float(unit_table(sol).groupby("hour")["p_kw"].sum().std())

    assert spread(s[("vpp", True)]) < spread(s[("vpp", False)])


def test_checker_finds_broken_rules(shipped_solutions: dict) -> None:
    sol = shipped_solutions[("vpp", True)]
    units, storage, reservoirs, market = _tables(sol)
    on_rows = units[(units["kind"] == "hydro") & (units["on"] == 1)]
    hurt = units.copy()
    hurt.loc[on_rows.index[0], "p_kw"] += 25.0
    found = check_schedule(sol.case, hurt, storage, reservoirs, market)
    assert any("energy balance" in f for f in found)
    flip = units.copy()
    unit = on_rows.iloc[0]["unit"]
    rows = flip.index[flip["unit"] == unit]
    on = flip.loc[rows, "on"].to_numpy()
    t = int(np.flatnonzero(on)[len(np.flatnonzero(on)) // 2])
    flip.loc[rows[t], ["on", "p_kw"]] = [0, 0.0]  # a one-hour stop inside a run
    flip.loc[flip.index[(flip["unit"] == unit) & (flip["hour"] == t)], "p_kw"] = 0.0
    found = check_schedule(sol.case, flip, storage, reservoirs, market)
    assert any("down for 1" in f or "up for" in f for f in found), found
    dry = reservoirs.copy()
    dry.loc[dry.index[0], "pump_kw"] += 100.0
    assert any("level does not follow" in f
               for f in check_schedule(sol.case, units, storage, dry, market))


def test_replicated_portfolio_scales(shipped: UcCase) -> None:
    big = with_units(shipped, 12)
    assert big.n_units == 12
    assert len({u.name for u in big.thermal}) == 12
    assert big.demand_kw == pytest.approx(shipped.demand_kw * 12 / 5)
    with pytest.raises(ValueError, match="at least 1"):
        with_units(shipped, 0)


def test_bad_scenario_fields_are_named(tmp_path: Path) -> None:
    text = SCENARIO.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("p_min_kw: 600, p_max_kw: 2000", "p_min_kw: 600, p_max_kw: .nan"),
                   encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"thermal\.0\.p_max_kw|thermal\[0\]\.p_max_kw"):
        load_uc_case(bad)
    short = tmp_path / "short.yaml"
    short.write_text(text.replace("demand_kw: [8790, 8450,", "demand_kw: [8450,"),
                     encoding="utf-8")
    with pytest.raises(ScenarioError, match="demand_kw: expected 24 values"):
        load_uc_case(short)
    far = tmp_path / "far.yaml"
    far.write_text(text.replace("kind: diesel, bus: 7,", "kind: diesel, bus: 99,"),
                   encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"thermal\[0\]\.bus: expected a bus of feeder 'ieee24'"):
        load_uc_case(far)


def test_cli_writes_the_folder_and_rejects_bad_input(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "uc"
    assert main(["uc", str(SCENARIO), "--no-dsm", "--out", str(out), "--quiet",
                 "--no-figures"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["solver"] == "milp" and summary["dsm"] is False
    assert summary["violations"] == []
    assert summary["gap_pct"] <= 0.1
    for name in ("commitment.csv", "units.csv", "market.csv", "report.md"):
        assert (out / name).is_file()
    with pytest.raises(SystemExit) as exc:  # argparse's own check
        main(["uc", str(SCENARIO), "--units", "0", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert main(["uc", str(SCENARIO), "--units", "99999", "--out", str(tmp_path / "x")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhours: 24\n", encoding="utf-8")
    assert main(["uc", str(bad), "--out", str(tmp_path / "y")]) == 2
    assert "demand_kw" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_traditional_grid_has_no_exchange_limits(shipped: UcCase) -> None:
    tight = dataclasses.replace(shipped.without_dsm(), import_max_kw=100.0)
    sol = solve_uc(tight, "traditional")
    assert market_table(sol)["unmet_kw"].max() == pytest.approx(0.0, abs=1e-6)


def _two_unit_day(peak_hours: range, min_up_peaker: int) -> UcCase:
    """A base unit that never stops and a peaker the evening price pays for."""
    sell = np.full(24, 0.5)
    sell[list(peak_hours)] = 1.4
    base = _unit("base", 50, 200, 0.2, 4, 4, 5000.0, 1.0)
    base = dataclasses.replace(base, initially_on=True, initial_p_kw=100.0,
                               ramp_kw_per_h=120.0)
    peaker = _unit("peaker", 40, 120, 0.9, min_up_peaker, 6, 30.0, 2.0)
    return UcCase(name="two-units", dt_h=1.0, demand_kw=np.full(24, 150.0),
                  sell_price_cny_per_kwh=sell, buy_price_cny_per_kwh=sell + 0.3,
                  export_max_kw=1e4, import_max_kw=1e4, voll_cny_per_kwh=20.0,
                  spill_cost_cny_per_kwh=0.0, thermal=(base, peaker))


def test_three_day_roll_equals_one_72_hour_milp_when_the_cut_is_harmless() -> None:
    case = tile_days(_two_unit_day(range(17, 21), 3), 3)
    parts = solve_rolling(case, 24, mip_rel_gap=1e-9)
    whole = solve_uc(case, mip_rel_gap=1e-9)
    assert whole.proven_optimal and all(p.proven_optimal for p in parts)
    assert sum(p.profit_cny for p in parts) == pytest.approx(whole.profit_cny, abs=1e-6)
    rolled = np.concatenate([p.commitment for p in parts], axis=1)
    assert np.array_equal(rolled, whole.commitment)
    t = joined_tables(parts)
    assert check_schedule(case, t["units"], t["storage"], t["reservoirs"], t["market"]) == []


def test_a_minimum_up_time_started_yesterday_binds_this_morning() -> None:
    case = tile_days(_two_unit_day(range(22, 24), 5), 2)
    parts = solve_rolling(case, 24, mip_rel_gap=1e-9)
    assert parts[0].commitment[1, 22] == 1  # the peaker starts for the late peak
    assert parts[1].case.thermal[1].initially_on
    assert parts[1].case.thermal[1].initial_hours_in_state == 2
    assert parts[1].commitment[1, :3].tolist() == [1, 1, 1]  # 2 + 3 = its 5-hour minimum
    t = joined_tables(parts)
    assert check_schedule(case, t["units"], t["storage"], t["reservoirs"], t["market"]) == []
    assert parts[1].case.thermal[0].initial_p_kw == pytest.approx(
        float(unit_table(parts[0]).query("unit == 'base' and hour == 23")["p_kw"].iloc[0]))


def test_elm_ga_commitment_passes_the_checker_and_is_reproducible(shipped: UcCase) -> None:
    runs = [solve_uc_elm_ga(shipped, budget=400, seed=s, starts="merit") for s in (3, 3, 4)]
    milp = solve_uc(shipped, mip_rel_gap=1e-6)
    for r in runs:
        assert check_schedule(r.solution.case, *_tables(r.solution)) == []
        assert r.solution.profit_cny <= milp.bound_cny + 1e-6  # never above the proven bound
        assert r.info["evaluations"] == 400
    assert runs[0].solution.profit_cny == runs[1].solution.profit_cny
    assert runs[0].info["history_profit_cny"] != runs[2].info["history_profit_cny"]
    # the search improves on its best start
    hist = runs[0].info["history_profit_cny"]
    assert hist[-1] > hist[0] and hist == sorted(hist)
