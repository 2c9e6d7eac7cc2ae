"""``vppsim equilibria --sweep``: tariff spread scaling, the sweep's points, folder and errors.

Independent checks: the scaled tariff against Table 3's prices worked by hand; every point's
system cost, recomputed from its written prices, against the centralized LP bound (and the
bound at scale 1 against 12,660.2763 CNY, the figure a separately written LP reproduces,
issue 12); the point at scale 1 against ``vppsim game``'s own market and solve; the tables on
a 2-worker Dask cluster against the same points solved in-process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vppsim.cli.main import main
from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import solve_game
from vppsim.market.outcome import outcome_at
from vppsim.market.reference import centralized_bound
from vppsim.market.sweep import SWEEP_FIELDS, parse_sweep
from vppsim.model import VPPModel
from vppsim.montecarlo.equilibria import SweepSettings, day_market, point_scenarios, run_sweep
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
BUDGET = 40
VALUES = [0.8, 1.0]
#: the centralized LP of the default day (issue 12: reproduced by a separately written LP)
BOUND_3VPP_CNY = 12660.2763


@pytest.fixture(scope="module")
def loaded():
    return load_scenario(default_scenario_path())


@pytest.fixture(scope="module")
def cli_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``vppsim equilibria`` on the default day, 2 points, small budget, 2 Dask workers."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    code = main(["equilibria", "--sweep", "tariff.spread_scale=" + ",".join(map(str, VALUES)),
                 "--budget", str(BUDGET), "--workers", "2", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_spread_scale_scales_each_period_around_its_midpoint(loaded) -> None:
    s = loaded.scenario
    tariff = s.tariff.model_copy(update={"spread_scale": 2.0})
    wide = VPPModel(loaded.with_overrides(tariff=tariff.model_dump())).tariff
    base = VPPModel(loaded).tariff
    # Table 3 by hand: valley 0.40-0.53, flat 0.72-0.79, peak 1.04-1.40 CNY/kWh
    for hour, (exp, imp) in {3: (0.335, 0.595), 9: (0.685, 0.825), 12: (0.86, 1.58)}.items():
        assert wide.export_cny_per_kwh[hour] == pytest.approx(exp, abs=1e-12)
        assert wide.import_cny_per_kwh[hour] == pytest.approx(imp, abs=1e-12)
    assert base.import_cny_per_kwh[12] == 1.40 and base.export_cny_per_kwh[12] == 1.04  # exact
    with pytest.raises(ScenarioError, match="spread_scale"):  # valley export would be < 0
        loaded.with_overrides(tariff=s.tariff.model_copy(update={"spread_scale": 8.0}).model_dump())


def test_sweep_table_figures_and_exact_bound_per_point(cli_sweep: Path, loaded) -> None:
    points = pd.read_parquet(cli_sweep / "equilibria.parquet")
    prices = pd.read_parquet(cli_sweep / "prices.parquet")
    assert points["value"].tolist() == VALUES
    assert pd.read_csv(cli_sweep / "equilibria.csv").shape == points.shape
    assert "| tariff.spread_scale |" in (cli_sweep / "equilibria.md").read_text(encoding="utf-8")
    for fig in ("prices.png", "profits.png"):
        assert (cli_sweep / "figures" / fig).stat().st_size > 10_000
    scenarios = point_scenarios(loaded, SWEEP_FIELDS["tariff.spread_scale"], VALUES)
    for (_, row), sc in zip(points.iterrows(), scenarios, strict=True):
        market = day_market(sc, sc.scenario.seed, 0)
        p = prices[prices["point"] == row["point"]].sort_values("step")
        c_sell, c_buy = p["c_sell_cny_per_kwh"].to_numpy(), p["c_buy_cny_per_kwh"].to_numpy()
        assert np.all(market.pi_exp - 1e-12 <= c_buy) and np.all(c_buy <= c_sell + 1e-12)
        assert np.all(c_sell <= market.pi_imp + 1e-12)
        # the outcome recomputed from the written prices cannot beat the centralized LP
        again = outcome_at(market, c_sell, c_buy)
        assert again.system_cost_cny == pytest.approx(row["system_cost_cny"], abs=1e-6)
        assert again.system_cost_cny >= row["bound_system_cost_cny"] - 1e-6
        assert row["bound_system_cost_cny"] == pytest.approx(
            centralized_bound(market).system_cost_cny, abs=1e-9)
        assert row["model1_system_cost_cny"] >= row["bound_system_cost_cny"] - 1e-6
        assert row["max_vpp_regret_cny"] <= 1e-4
    at_one = points[points["value"] == 1.0].iloc[0]
    assert at_one["bound_system_cost_cny"] == pytest.approx(BOUND_3VPP_CNY, abs=1e-3)
    # the scaled spread moves the bound: a narrower spread makes the grid cheaper to use here
    assert points["bound_system_cost_cny"].iloc[0] < at_one["bound_system_cost_cny"] - 1.0


def test_results_do_not_depend_on_the_worker_count(cli_sweep: Path, loaded) -> None:
    field = SWEEP_FIELDS["tariff.spread_scale"]
    settings = SweepSettings("system_cost", loaded.scenario.market.game.solver, BUDGET,
                             loaded.scenario.seed)
    here = run_sweep(point_scenarios(loaded, field, VALUES), field, VALUES, settings, workers=0)
    pd.testing.assert_frame_equal(here.points, pd.read_parquet(cli_sweep / "equilibria.parquet"))
    pd.testing.assert_frame_equal(here.prices, pd.read_parquet(cli_sweep / "prices.parquet"))


def test_spread_scale_one_reproduces_the_unswept_game(cli_sweep: Path, loaded) -> None:
    s = loaded.scenario
    model = VPPModel(loaded, seed=s.seed)  # the market exactly as `vppsim game` builds it
    T = s.steps_per_day
    market = DayAheadMarket([v.day_ahead_data(0) for v in model.vpps], model.tariff.import_cny_per_kwh[:T],
                            model.tariff.export_cny_per_kwh[:T], model.vpo.storage_data())
    res = solve_game(market, "system_cost", s.market.game.solver, BUDGET, s.seed)
    row = pd.read_parquet(cli_sweep / "equilibria.parquet").set_index("value").loc[1.0]
    prices = pd.read_parquet(cli_sweep / "prices.parquet")
    p = prices[prices["value"] == 1.0].sort_values("step")
    np.testing.assert_array_equal(p["c_sell_cny_per_kwh"].to_numpy(), res.outcome.c_sell_cny_per_kwh)
    np.testing.assert_array_equal(p["c_buy_cny_per_kwh"].to_numpy(), res.outcome.c_buy_cny_per_kwh)
    assert row["vpo_profit_cny"] == res.outcome.vpo_profit_cny
    assert row["system_cost_cny"] == res.outcome.system_cost_cny


@pytest.mark.parametrize("sweep, expected", [
    ("tariff.spread=1,2", "expected FIELD=v1,v2,... with FIELD one of"),
    ("tariff.spread_scale", "expected FIELD=v1,v2,..."),
    ("tariff.spread_scale=1,wide", "'wide'"),
    ("tariff.spread_scale=1,1", "repeated"),
    ("tariff.spread_scale=-0.5", "finite numbers >= 0"),
    ("tariff.spread_scale=nan", "finite numbers"),
    ("tariff.spread_scale=50", "gives an invalid scenario"),
    ("vpps.count=1.5", "integers >= 1"),
    ("vpps.count=4", "expected a number of VPPs 1..3"),
    ("vpo.battery.capacity_kwh=100", "has no battery"),
])
def test_bad_sweep_exits_2_naming_the_option(sweep: str, expected: str, tmp_path: Path,
                                             in_tmp: Path, capsys: pytest.CaptureFixture[str],
                                             assert_nothing_written: Callable[[Path, Path], None],
                                             ) -> None:
    out = tmp_path / "out"
    assert main(["equilibria", "--sweep", sweep, "--out", str(out), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "--sweep" in err and expected in err and "Traceback" not in err
    assert_nothing_written(out, in_tmp)


def test_other_fields_change_the_points(loaded) -> None:
    count, values = parse_sweep("vpps.count=1,2", loaded.path)
    assert [len(sc.scenario.vpps) for sc in point_scenarios(loaded, count, values)] == [1, 2]
    limit = SWEEP_FIELDS["vpps.exchange_max_kw"]
    (sc,) = point_scenarios(loaded, limit, [150.0])
    assert {v.exchange.buy_max_kw for v in sc.scenario.vpps} == {150.0}
    assert {v.exchange.sell_max_kw for v in sc.scenario.vpps} == {150.0}
    scale = SWEEP_FIELDS["renewables.scale"]
    base = day_market(loaded, loaded.scenario.seed, 0)
    assert scale.market is not None
    half = scale.market(base, 0.5)
    for a, b in zip(base.vpps, half.vpps, strict=True):
        np.testing.assert_allclose(b.wind_fc_kw, 0.5 * a.wind_fc_kw)
        np.testing.assert_allclose(b.pv_fc_kw, 0.5 * a.pv_fc_kw)
        np.testing.assert_array_equal(b.load_kw, a.load_kw)


def test_wide_spread_scenario_model2_differs_from_model1() -> None:
    """The shipped example: the centralized LP and the game are clearly below Model 1."""
    loaded = load_scenario(SCENARIOS / "liu2025_3vpp_wide_spread.yaml")
    market = day_market(loaded, loaded.scenario.seed, 0)
    model1 = outcome_at(market, market.pi_imp, market.pi_exp)
    bound = centralized_bound(market).system_cost_cny
    assert model1.system_cost_cny - bound > 50.0  # about 73 CNY
    res = solve_game(market, "system_cost", "pso-rl", BUDGET, loaded.scenario.seed)
    assert res.outcome.system_cost_cny <= model1.system_cost_cny - 50.0
    assert res.outcome.system_cost_cny >= bound - 1e-6
