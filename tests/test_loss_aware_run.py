"""The ``loss_aware`` price policy inside the co-simulation (``vppsim run``).

The VPO dispatches the day ahead by the loss-aware SLP (``market.loss_aware``); each VPP commits
its part; real time, settlement and the power flow are unchanged. Checked against: the SLP's
own schedules and AC losses (lightsim2grid) against the run's exchanges and its pandapower
power flows, the centralized LP optimum (HiGHS) for the loss-blind dispatch, and energy balance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from vppsim.cli.main import main
from vppsim.market.reference import centralized_bound
from vppsim.model import VPPModel
from vppsim.scenario.loader import LoadedScenario, load_scenario
from vppsim.scenario.schema import ScenarioError

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DEFAULT = SCENARIOS / "liu2025_3vpp.yaml"
SHIPPED = SCENARIOS / "liu2025_3vpp_loss_aware.yaml"


def _no_error_day(w_losses: float) -> LoadedScenario:
    """The default day, loss-aware at ``w_losses`` CNY/kWh, without forecast error."""
    base = load_scenario(DEFAULT)
    market = base.scenario.market.model_dump()
    market.update(price_policy="loss_aware",
                  loss_aware={"w_losses_cny_per_kwh": w_losses, "w_utilization_cny": 0.0})
    return base.with_overrides(market=market, forecast_error={})


def _run(w_losses: float) -> tuple[VPPModel, float]:
    """Run the day; return the model and its feeder losses (kWh) from the run's power flows."""
    model = VPPModel(_no_error_day(w_losses))
    model.run()
    ts = model.timeseries()
    net = ts[ts.kind == "network"]
    assert net["converged"].all()
    for kind in ("vpp", "vpo"):
        assert np.abs(ts[ts.kind == kind]["energy_balance_residual_kw"]).max() < 1e-6
    return model, float(net["losses_kw"].sum()) * model.step_h


@pytest.fixture(scope="module")
def runs() -> dict[float, tuple[VPPModel, float]]:
    return {w: _run(w) for w in (0.0, 50.0)}


def test_loss_aware_policy_commits_the_slp_schedules(runs) -> None:
    model, losses_kwh = runs[50.0]
    info = model.vpo.prices.info
    dispatch = info["loss_aware"]
    assert model.vpo.prices.policy == "loss_aware" and dispatch.converged
    ts = model.timeseries()
    vpp = ts[ts.kind == "vpp"]
    for i, v in enumerate(model.vpps):
        rows = vpp[vpp.agent == v.name].sort_values("step")
        exchange_kw = (rows["sell_kw"] - rows["buy_kw"]).to_numpy()
        committed_kw = (rows["committed_sell_kw"] - rows["committed_buy_kw"]).to_numpy()
        np.testing.assert_allclose(exchange_kw, dispatch.injections_kw[i], atol=1e-6, rtol=0)
        np.testing.assert_allclose(committed_kw, dispatch.injections_kw[i], atol=1e-6, rtol=0)
        assert np.abs(rows["imbalance_kw"]).max() < 1e-6
    # the tariff is passed through
    vpo = ts[ts.kind == "vpo"].sort_values("step")
    np.testing.assert_array_equal(vpo["c_sell_cny_per_kwh"], vpo["pi_imp_cny_per_kwh"])
    np.testing.assert_array_equal(vpo["c_buy_cny_per_kwh"], vpo["pi_exp_cny_per_kwh"])
    # the run's pandapower losses are the SLP's lightsim2grid losses of the same dispatch
    assert losses_kwh == pytest.approx(dispatch.losses_kwh, rel=1e-6)


def test_loss_aware_run_loses_less_than_the_loss_blind_dispatch(runs) -> None:
    blind, blind_kwh = runs[0.0]
    aware, aware_kwh = runs[50.0]
    # w_losses = 0 is the centralized LP optimum (HiGHS), an independent solve
    bound = centralized_bound(blind.day_ahead_market(0))
    assert blind.vpo.prices.info["loss_aware"].system_cost_cny == pytest.approx(
        bound.system_cost_cny, abs=1e-6)
    # losses priced: at least 5 kWh fewer (10.3 on this day), at a cost no lower than the optimum
    assert aware_kwh < blind_kwh - 5.0
    assert aware.vpo.prices.info["loss_aware"].system_cost_cny >= bound.system_cost_cny - 1e-6


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"profiles": str(SCENARIOS / "liu2025_3vpp_profiles.csv"),
                                    **data}), encoding="utf-8")
    return path


@pytest.mark.parametrize("loss_aware, field", [
    ({"w_losses_cny_per_kwh": -1.0}, "market.loss_aware.w_losses_cny_per_kwh"),
    ({"w_losses_cny_per_kwh": float("inf")}, "market.loss_aware.w_losses_cny_per_kwh"),
    ({"w_utilization_cny": "much"}, "market.loss_aware.w_utilization_cny"),
    ({"w_loss": 3.0}, "market.loss_aware.w_loss"),
])
def test_bad_loss_aware_options_exit_2(loss_aware: dict, field: str, tmp_path, capsys) -> None:
    path = _write(tmp_path, {"extends": str(DEFAULT),
                             "market": {"price_policy": "loss_aware", "loss_aware": loss_aware}})
    with pytest.raises(ScenarioError):
        load_scenario(path)
    assert _exit_code(["run", str(path), "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: {field}:" in err and "Traceback" not in err
    assert not (tmp_path / "never").exists()


def test_loss_aware_needs_members_at_the_vpp_bus(tmp_path, capsys) -> None:
    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    data["market"]["price_policy"] = "loss_aware"
    data["vpps"][0]["members"][0]["bus"] = 5
    path = _write(tmp_path, data)
    assert _exit_code(["run", str(path), "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert "vpps[0].members[0].bus: expected the VPP's bus 17" in err and "Traceback" not in err


def test_loss_aware_needs_lp_followers(tmp_path) -> None:
    base = SCENARIOS / "uc_vpp_members.yaml"
    profiles = yaml.safe_load(base.read_text(encoding="utf-8")).get("profiles")
    data = {"extends": str(base), "market": {"price_policy": "loss_aware"}}
    if profiles:  # relative paths resolve against the extending file
        data["profiles"] = str(SCENARIOS / profiles)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"market\.price_policy: expected VPPs whose day-ahead"):
        load_scenario(path)


def test_shipped_loss_aware_scenario_is_the_default_day_with_the_policy() -> None:
    shipped = load_scenario(SHIPPED).scenario
    default = load_scenario(DEFAULT).scenario
    assert shipped.market.price_policy == "loss_aware"
    assert shipped.market.loss_aware.w_losses_cny_per_kwh == 50.0
    assert shipped.model_dump(exclude={"name", "description", "market"}) == default.model_dump(
        exclude={"name", "description", "market"})
    VPPModel(load_scenario(SHIPPED))  # builds (the loss-aware checks pass)
