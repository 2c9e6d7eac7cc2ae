"""The bi-level game: price box, exact lower level, centralized bound, certificate, CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from market_cases import COSTS, PI_EXP, PI_IMP

from vppsim.cli import main
from vppsim.market import game as game_module
from vppsim.market.certificate import certify
from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import GameProblem, solve_game
from vppsim.market.lower_level import VppDayAheadData, solve_vpp_day_ahead
from vppsim.market.mpec import solve_vpo_profit_mpec
from vppsim.market.outcome import outcome_at, vpo_profit_cny
from vppsim.market.reference import ExactReference, centralized_bound, exact_reference
from vppsim.market.solvers import GAME_SOLVERS
from vppsim.model import VPPModel
from vppsim.optimizers.algorithms import ALGORITHMS
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import BatteryParams


def _vpp(name: str, wind, load, battery: bool = False) -> VppDayAheadData:
    bats = ()
    if battery:
        from vppsim.market.lower_level import BatteryData

        bats = (BatteryData(BatteryParams(capacity_kwh=50, soc0=0.5, soc_min=0.1, soc_max=0.9,
                                          p_max_kw=20), 25.0),)
    return VppDayAheadData(
        name=name, dt_h=1.0, wind_fc_kw=np.asarray(wind, float), pv_fc_kw=np.zeros(len(load)),
        load_kw=np.asarray(load, float), costs=COSTS, buy_max_kw=500.0, sell_max_kw=500.0,
        voll_cny_per_kwh=10.0, batteries=bats,
    )


@pytest.fixture(scope="module")
def default_game() -> DayAheadMarket:
    model = VPPModel(load_scenario(default_scenario_path()))
    vpps = [v.day_ahead_data(0) for v in model.vpps]
    return DayAheadMarket(vpps, model.tariff.import_cny_per_kwh[:24],
                          model.tariff.export_cny_per_kwh[:24])


def test_decode_never_leaves_the_price_box(default_game):
    pi_imp, pi_exp = default_game.pi_imp, default_game.pi_exp
    p = GameProblem(default_game)
    rng = np.random.default_rng(3)
    u = np.concatenate([rng.random((500, 48)), rng.normal(0.5, 2.0, (500, 48))])  # also outside
    c_sell, c_buy = p.decode(u)
    assert np.all(pi_exp <= c_buy + 1e-15) and np.all(c_buy <= c_sell + 1e-15)
    assert np.all(c_sell <= pi_imp + 1e-15)
    # encode is the inverse of decode inside the box
    cs, cb = p.decode(rng.random(48))
    np.testing.assert_allclose(p.decode(p.encode(cs, cb)), (cs, cb), atol=1e-12)


@pytest.mark.parametrize("solver", ["pso-rl", "pso", "ga"])
def test_game_prices_in_box_and_exact_best_responses(default_game, solver):
    pi_imp, pi_exp = default_game.pi_imp, default_game.pi_exp
    res = solve_game(default_game, solver=solver, budget=300, seed=1)
    o = res.outcome
    assert np.all(pi_exp <= o.c_buy_cny_per_kwh) and np.all(o.c_buy_cny_per_kwh <= o.c_sell_cny_per_kwh)
    assert np.all(o.c_sell_cny_per_kwh <= pi_imp)
    assert max(res.certificate.vpp_regret_rel.values()) <= 1e-6
    # the warm-started batch evaluation equals fresh solves at the same prices
    p = GameProblem(default_game)
    ev = p.lower_level(o.c_sell_cny_per_kwh, o.c_buy_cny_per_kwh)
    np.testing.assert_allclose(ev.vpp_cost_cny[0], list(o.vpp_cost_cny.values()), rtol=1e-9)
    # no price pair beats the centralized bound
    assert o.system_cost_cny >= res.reference.value_cny - 1e-6


def test_batch_evaluation_matches_fresh_solves_for_random_prices(default_game):
    vpps = default_game.vpps
    p = GameProblem(default_game)
    u = np.random.default_rng(7).random((6, 48))
    c_sell, c_buy = p.decode(u)
    ev = p.lower_level(c_sell, c_buy)
    for k in range(len(u)):
        fresh = [solve_vpp_day_ahead(d, c_sell[k], c_buy[k]).cost_cny for d in vpps]
        np.testing.assert_allclose(ev.vpp_cost_cny[k], fresh, rtol=1e-9, atol=1e-7)
    assert p.evaluate(u) == pytest.approx(ev.system_cost_cny)


def test_centralized_bound_of_one_vpp_is_its_passthrough_cost():
    """One VPP: the VPO nets nothing, so the bound is the VPP's own cost at the tariff."""
    d = _vpp("A", wind=[50, 120, 30], load=[80, 100, 90], battery=True)
    cb = centralized_bound(DayAheadMarket([d], PI_IMP, PI_EXP))
    own = solve_vpp_day_ahead(d, PI_IMP, PI_EXP).cost_cny
    assert cb.system_cost_cny == pytest.approx(own, abs=1e-7)


def test_centralized_bound_matches_closed_form_without_storage():
    """No batteries: each period is independent and the bound has a closed form."""
    a = _vpp("A", wind=[50, 120, 30], load=[80, 100, 90])
    b = _vpp("B", wind=[100, 20, 95], load=[60, 70, 40])
    market = DayAheadMarket([a, b], PI_IMP, PI_EXP)
    cb = centralized_bound(market)
    expected = 0.0
    for t in range(3):
        deficits = [d.load_kw[t] - d.wind_fc_kw[t] for d in (a, b)]
        expected += sum(COSTS.lam2_wind_om_cny_per_kwh * d.wind_fc_kw[t] for d in (a, b))
        expected += COSTS.w_b_purchase_cny_per_kwh * sum(max(x, 0.0) for x in deficits)
        net = sum(deficits)
        expected += PI_IMP[t] * max(net, 0.0) - PI_EXP[t] * max(-net, 0.0)
    assert cb.system_cost_cny == pytest.approx(expected, abs=1e-7)
    # and the game's best price pair cannot beat it, while passthrough loses the netting
    o = outcome_at(market, PI_IMP, PI_EXP)
    assert o.system_cost_cny >= cb.system_cost_cny - 1e-9


def test_vpo_profit_formula_by_hand():
    # t0: VPPs buy 10, sell 4 -> VPO imports 6; t1: buy 2, sell 5 -> VPO exports 3
    profit = vpo_profit_cny(np.array([1.0, 1.2]), np.array([0.6, 0.8]), np.array([10.0, 2.0]),
                            np.array([4.0, 5.0]), np.array([1.1, 1.3]), np.array([0.5, 0.7]), 0.5)
    by_hand = 0.5 * ((1.0 * 10 - 0.6 * 4 - 1.1 * 6) + (1.2 * 2 - 0.8 * 5 + 0.7 * 3))
    assert profit == pytest.approx(by_hand)


def test_certificate_by_hand():
    """A schedule that buys and sells 10 kW more than its best response has a known regret."""
    d = _vpp("A", wind=[50, 120, 30], load=[80, 100, 90])
    best = solve_vpp_day_ahead(d, PI_IMP, PI_EXP)
    cert = certify([d], [best], PI_IMP, PI_EXP, "system_cost", 100.0, "by hand", 90.0)
    assert cert.vpp_regret_cny["A"] == pytest.approx(0.0, abs=1e-9)
    assert cert.vpo_regret_cny == pytest.approx(10.0) and cert.epsilon_cny == pytest.approx(10.0)
    assert cert.vpo_regret_rel == pytest.approx(10.0 / 90.0)
    worse = dataclasses.replace(best, buy_kw=best.buy_kw + 10.0, sell_kw=best.sell_kw + 10.0)
    cert = certify([d], [worse], PI_IMP, PI_EXP, "vpo_profit", 5.0, "by hand", 5.0)
    extra = 10.0 * float(np.sum(PI_IMP + COSTS.w_b_purchase_cny_per_kwh - PI_EXP))
    assert cert.vpp_regret_cny["A"] == pytest.approx(extra, rel=1e-9)
    assert cert.vpo_regret_cny == pytest.approx(0.0) and cert.epsilon_cny == pytest.approx(extra)


def test_same_seed_same_game_different_seed_different_search(default_game):
    # the search itself (the stop at the bound would end every seed at the tariff passed through)
    a = solve_game(default_game, budget=300, seed=4, reference=False, stop_at_bound=False)
    b = solve_game(default_game, budget=300, seed=4, reference=False, stop_at_bound=False)
    c = solve_game(default_game, budget=300, seed=5, reference=False, stop_at_bound=False)
    np.testing.assert_array_equal(a.outcome.c_sell_cny_per_kwh, b.outcome.c_sell_cny_per_kwh)
    np.testing.assert_array_equal(a.convergence.history, b.convergence.history)
    assert not np.array_equal(a.convergence.history, c.convergence.history)


def test_game_cli_writes_folder_with_comparison(tmp_path: Path):
    out = tmp_path / "game"
    assert main(["game", "--budget", "200", "--seed", "3", "--out", str(out), "--compare",
                 "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["solver"] == "pso-rl" and s["objective"] == "system_cost"
    cert = s["equilibrium_certificate"]
    assert cert["reference"].startswith("centralized LP") and cert["vpo_regret_cny"] >= -1e-6
    assert list(s["reference"]) == ["name", "value", "status", "proven_optimal", "wall_s"]
    assert max(cert["vpp_regret_rel"].values()) <= 1e-6
    assert set(s["other_solvers"]) == {"pso", "ga", "irla-paper", "elm-ga"}  # every other one
    for f in ("prices.csv", "schedules.parquet", "convergence.csv", "report.md", "comparison.md"):
        assert (out / f).is_file(), f
    for f in ("prices", "exchange", "vpo_profit", "convergence"):
        assert (out / "figures" / f"{f}.png").stat().st_size > 1000
    table = (out / "comparison.md").read_text(encoding="utf-8")
    assert "| Model 1 |" in table and "| Model 2 |" in table and "paper Model 2" in table


def test_game_cli_bad_budget_exit_2(tmp_path: Path):
    assert main(["game", "--budget", "3", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_cosimulation_commits_the_game_outcome(tmp_path: Path):
    """Under the game policy the VPPs commit the certified outcome (ties as the VPO suggests)."""
    loaded = load_scenario(default_scenario_path())
    model = VPPModel(loaded)
    model.run()
    game = model.vpo.game_results[0]
    for v, s in zip(model.vpps, game.outcome.schedules, strict=True):
        assert v.schedule is not None and v.schedule.name == s.name
        np.testing.assert_allclose(v.schedule.buy_kw, s.buy_kw, atol=1e-9)
        np.testing.assert_allclose(v.schedule.sell_kw, s.sell_kw, atol=1e-9)
    assert max(game.certificate.vpp_regret_rel.values()) <= 1e-6
    assert game.certificate.vpo_regret_cny is not None


def _vpo_storage(soc0: float = 0.5, eta: float = 1.0):
    from vppsim.market.vpo_storage import VpoStorageData

    params = BatteryParams(capacity_kwh=100, soc0=soc0, soc_min=0.1, soc_max=0.9, p_max_kw=50,
                           eta_charge=eta, eta_discharge=eta)
    return VpoStorageData(params, soc0 * 100, cost_cny_per_kwh=0.02)


def test_vpo_storage_arbitrage_by_hand():
    """Net position zero: fill the battery in the valley (40 kWh of room up to soc_max 0.9),
    sell that at the peak's export price, end where it started."""
    from vppsim.market.vpo_storage import storage_response

    r = storage_response(_vpo_storage(), np.zeros(2), np.array([0.5, 1.4]),
                         np.array([0.4, 1.04]), dt=1.0)
    assert r.grid_value_cny == pytest.approx(-0.5 * 40 + 1.04 * 40 - 0.02 * 80)
    np.testing.assert_allclose(r.charge_kw, [40, 0], atol=1e-9)
    np.testing.assert_allclose(r.discharge_kw, [0, 40], atol=1e-9)
    assert r.soc_kwh[-1] == pytest.approx(r.soc_kwh[0])


def test_storage_enters_game_bound_and_outcome(default_game):
    pi_imp, pi_exp = default_game.pi_imp, default_game.pi_exp
    market = dataclasses.replace(default_game, storage=_vpo_storage(eta=0.95))
    without = centralized_bound(default_game).system_cost_cny
    with_st = centralized_bound(market).system_cost_cny
    assert with_st < without - 1.0  # a battery can only help the coalition, here it does
    res = solve_game(market, budget=200, seed=0)
    assert res.outcome.storage is not None
    assert res.outcome.system_cost_cny >= with_st - 1e-6
    assert res.certificate.vpo_regret_cny == pytest.approx(
        res.outcome.system_cost_cny - with_st, abs=1e-9)
    # the batch evaluation (warm storage LP) equals the outcome's fresh storage LP
    p = GameProblem(market)
    o = outcome_at(market, pi_imp, pi_exp, optimistic=False)
    ev = p.lower_level(pi_imp, pi_exp)
    assert ev.vpo_profit_cny[0] == pytest.approx(o.vpo_profit_cny, abs=1e-6)


def test_cosimulation_with_vpo_storage(tmp_path: Path):
    import shutil

    import yaml

    raw = yaml.safe_load(default_scenario_path().read_text(encoding="utf-8"))
    raw["vpo"] = {"name": "VPO", "battery": {"capacity_kwh": 200, "soc0": 0.5, "soc_min": 0.1,
                                             "soc_max": 0.9, "p_max_kw": 50},
                  "battery_cost_cny_per_kwh": 0.02}
    raw["market"]["price_policy"] = "passthrough"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    shutil.copy(default_scenario_path().with_name(raw["profiles"]), tmp_path / raw["profiles"])
    model = VPPModel(load_scenario(tmp_path / "s.yaml"))
    model.run()
    ts = model.timeseries()
    vpo = ts[ts.kind == "vpo"]
    bat = ts[ts.agent == "VPO-BAT"]
    assert vpo["energy_balance_residual_kw"].abs().max() < 1e-9
    assert bat["charge_kw"].max() > 1.0 and bat["discharge_kw"].max() > 1.0
    assert (bat["soc_pu"] >= 0.1 - 1e-9).all() and (bat["soc_pu"] <= 0.9 + 1e-9).all()
    assert not ((bat["charge_kw"] > 1e-9) & (bat["discharge_kw"] > 1e-9)).any()
    # the battery's power reaches the power flow at the slack bus
    inj = model.bus_injections()
    assert inj[inj.bus == 0]["p_injection_kw"].abs().max() > 1.0


# ------------------------------------------------------------------ exact reference, solver names


def test_exact_reference_to_dict_keeps_the_former_keys_order_and_types():
    full = ExactReference(
        name="MPEC (KKT, big-M, HiGHS)", value_cny=12.5, status="Optimal", proven_optimal=True,
        wall_s=0.25, incumbent_cny=12.0, mip_gap=1e-7,
        c_sell_cny_per_kwh=np.array([1.0, 0.9]), c_buy_cny_per_kwh=np.array([0.5, 0.4]))
    d = full.to_dict()
    assert list(d) == ["name", "value", "incumbent", "status", "proven_optimal", "mip_gap",
                       "c_sell", "c_buy", "wall_s"]
    assert d == {"name": "MPEC (KKT, big-M, HiGHS)", "value": 12.5, "incumbent": 12.0,
                 "status": "Optimal", "proven_optimal": True, "mip_gap": 1e-7,
                 "c_sell": [1.0, 0.9], "c_buy": [0.5, 0.4], "wall_s": 0.25}
    assert type(d["c_sell"]) is list and type(d["c_sell"][0]) is float
    lp = ExactReference(name="centralized LP (lower bound)", value_cny=3.0, status="Optimal",
                        proven_optimal=True, wall_s=0.1, dual_price_cny_per_kwh=np.array([0.7]))
    assert list(lp.to_dict()) == ["name", "value", "status", "proven_optimal",
                                  "dual_price_cny_per_kwh", "wall_s"]
    json.dumps(full.to_dict()), json.dumps(lp.to_dict())  # plain JSON types


def test_exact_references_match_the_former_dicts():
    """What ``exact_reference`` returned as a dict before it returned an ExactReference."""
    a = _vpp("A", wind=[50, 120, 30], load=[80, 100, 90], battery=True)
    b = _vpp("B", wind=[100, 20, 95], load=[60, 70, 40])
    market = DayAheadMarket([a, b], PI_IMP, PI_EXP)
    ref = exact_reference(market, "system_cost")
    cb = centralized_bound(market)
    assert ref.to_dict() == {"name": "centralized LP (lower bound)", "value": cb.system_cost_cny,
                             "status": cb.status, "proven_optimal": True,
                             "dual_price_cny_per_kwh": cb.dual_price_cny_per_kwh.tolist(),
                             "wall_s": ref.wall_s}
    ref = exact_reference(market, "vpo_profit")
    res = solve_vpo_profit_mpec(market)
    bound = res.best_bound_cny if np.isfinite(res.best_bound_cny) else res.objective_cny
    old = {"name": "MPEC (KKT, big-M, HiGHS)", "value": float(bound),
           "incumbent": float(res.objective_cny), "status": res.status,
           "proven_optimal": bool(res.proven_optimal), "mip_gap": float(res.mip_gap),
           "c_sell": np.asarray(res.c_sell).tolist(), "c_buy": np.asarray(res.c_buy).tolist(),
           "wall_s": ref.wall_s}
    assert list(ref.to_dict()) == list(old)
    assert ref.to_dict() == old  # the same deterministic MILP (one thread, fixed seed)


def test_game_solver_names_come_from_the_algorithm_registry(default_game):
    assert GAME_SOLVERS == (*ALGORITHMS, "exact") == ("pso-rl", "pso", "ga", "irla-paper", "elm-ga",
                                                      "exact")
    assert game_module.GAME_SOLVERS is GAME_SOLVERS
    with pytest.raises(ValueError, match=r"unknown game solver 'sa'; expected one of "
                                         r"\('pso-rl', 'pso', 'ga', 'irla-paper', 'elm-ga', 'exact'\)"):
        solve_game(default_game, solver="sa", reference=False)
