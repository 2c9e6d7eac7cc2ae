"""vppsim/DayAheadPricing-v0: the VPO's day-ahead pricing as a Gymnasium environment (issue 12).

Checked against figures the environment does not compute itself: Model 1 of the game
(``solve_game(...).model1``), the separately written centralized LP (12,660.2763 CNY on the
3-VPP day) and the VPO's Model 1 profit (256.4900 CNY on the 3-VPP day, 271.88 on the 6-VPP day,
NOTES.md / benchmarks/results/game.md), the netting identity of the passthrough tariff, each
VPP's own LP optimum at the prices (a best response) and paper 004 eq. 9-10 from the totals.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vppsim.envs
from vppsim.envs import DAY_AHEAD_PRICING_ID, DayAheadPricingEnv
from vppsim.market.game import solve_game
from vppsim.market.lower_level import solve_vpp_day_ahead
from vppsim.market.reference import centralized_bound
from vppsim.paths import default_scenario_path
from vppsim.scenario.schema import ScenarioError

SIX_VPP = default_scenario_path().parent / "liu2025_6vpp.yaml"


@pytest.fixture(scope="module")
def env3() -> DayAheadPricingEnv:
    """The default 3-VPP day, no forecast noise."""
    return DayAheadPricingEnv(objective="vpo_profit")


def _model1(market, objective: str):
    # Model 1 as the game reports it (exact solver: the centralized LP only, no search)
    return solve_game(market, objective="system_cost", solver="exact").model1


def _netting_profit(info: dict, market) -> float:
    """VPO profit with the tariff passed through and no VPO battery: it nets G against E."""
    g, e = info["buy_total_kw"], info["sell_total_kw"]
    return float(market.dt_h * np.sum((market.pi_imp - market.pi_exp) * np.minimum(g, e)))


@pytest.mark.parametrize("episode", ["day", "period"])
def test_check_env_passes_without_a_warning(episode: str) -> None:
    assert vppsim.envs.DayAheadPricingEnv is DayAheadPricingEnv
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # check_env's remarks are warnings: none allowed
        env = gym.make(DAY_AHEAD_PRICING_ID, episode=episode, forecast_noise=0.1)
        check_env(env.unwrapped)
    assert env.spec is not None and env.spec.id == DAY_AHEAD_PRICING_ID
    n_act = 48 if episode == "day" else 2
    assert env.action_space.shape == (n_act,)
    assert env.observation_space["load_kw"].shape == (3, 24)


def test_three_random_action_episodes_are_exact_best_responses() -> None:
    env = gym.make(DAY_AHEAD_PRICING_ID, forecast_noise=0.1)
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    for _ in range(3):
        assert env.observation_space.contains(obs)
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert terminated and not truncated
        market = env.unwrapped.market
        c_sell, c_buy = info["c_sell_cny_per_kwh"], info["c_buy_cny_per_kwh"]
        tol = 1e-12
        assert np.all(market.pi_exp - tol <= c_buy) and np.all(c_buy <= c_sell + tol)
        assert np.all(c_sell <= market.pi_imp + tol)
        # paper 004 eq. 9-10 from the VPPs' totals (no VPO battery): the reward is Pi
        g, e = info["buy_total_kw"], info["sell_total_kw"]
        net = e - g
        pi = market.dt_h * np.sum(c_sell * g - c_buy * e + market.pi_exp * np.maximum(net, 0)
                                  - market.pi_imp * np.maximum(-net, 0))
        assert reward == pytest.approx(pi, abs=1e-6)
        # every VPP's cost is its own LP optimum at these prices (a best response)
        for d in market.vpps:
            own = solve_vpp_day_ahead(d, c_sell, c_buy).cost_cny
            assert info["vpp_cost_cny"][d.name] == pytest.approx(own, abs=1e-5)
        assert info["system_cost_cny"] == pytest.approx(
            sum(info["vpp_cost_cny"].values()) - reward, abs=1e-9)
        obs, info = env.reset()


def test_passthrough_reward_is_model1_vpo_profit(env3: DayAheadPricingEnv) -> None:
    env3.reset(seed=0)
    _, reward, terminated, _, info = env3.step(env3.passthrough_action())
    assert terminated
    np.testing.assert_array_equal(info["c_sell_cny_per_kwh"], env3.market.pi_imp)
    np.testing.assert_array_equal(info["c_buy_cny_per_kwh"], env3.market.pi_exp)
    model1 = _model1(env3.market, "vpo_profit")
    assert abs(reward - model1.vpo_profit_cny) <= 1e-6
    assert reward == pytest.approx(_netting_profit(info, env3.market), abs=1e-6)
    assert reward == pytest.approx(256.4900, abs=1e-4)  # the separately written MPEC/LP figure


def test_passthrough_on_a_perturbed_day_and_on_the_six_vpp_day() -> None:
    env = DayAheadPricingEnv(forecast_noise=0.2, objective="system_cost")
    env.reset(seed=5)
    _, reward, _, _, info = env.step(env.passthrough_action())
    model1 = _model1(env.market, "system_cost")
    assert abs(reward + model1.system_cost_cny) <= 1e-6
    assert abs(info["vpo_profit_cny"] - model1.vpo_profit_cny) <= 1e-6
    assert abs(reward + 12_660.2763) > 1.0  # the noise did move the day
    six = DayAheadPricingEnv(scenario=SIX_VPP)
    six.reset(seed=0)
    _, reward6, _, _, info6 = six.step(six.passthrough_action())
    assert abs(reward6 - _model1(six.market, "vpo_profit").vpo_profit_cny) <= 1e-6
    assert reward6 == pytest.approx(_netting_profit(info6, six.market), abs=1e-6)
    assert reward6 == pytest.approx(271.88, abs=5e-3)  # benchmarks/results/game.md


def test_system_cost_reward_of_the_centralized_dual_prices_is_the_bound() -> None:
    env = DayAheadPricingEnv(objective="system_cost")
    env.reset(seed=0)
    bound = centralized_bound(env.market)
    assert bound.system_cost_cny == pytest.approx(12_660.2763, abs=1e-4)
    lam = np.clip(bound.dual_price_cny_per_kwh, env.market.pi_exp, env.market.pi_imp)
    action = env.action_for(lam, lam)
    c_sell, c_buy = env.prices(action)
    np.testing.assert_allclose(c_sell, lam, atol=1e-12)
    np.testing.assert_allclose(c_buy, lam, atol=1e-12)
    _, reward, _, _, _ = env.step(action)
    # the tie-breaking LP lets each VPP's cost exceed its optimum by 1e-6 CNY (3 VPPs)
    assert -reward == pytest.approx(bound.system_cost_cny, abs=1e-5)


def test_period_episodes_end_with_the_day_episode_reward(env3: DayAheadPricingEnv) -> None:
    rng = np.random.default_rng(3)
    action = rng.uniform(-1.0, 1.0, 48)
    env3.reset(seed=0)
    _, day_reward, _, _, _ = env3.step(action)
    per = DayAheadPricingEnv(episode="period")
    obs, _ = per.reset(seed=0)
    rewards = []
    for t in range(24):
        assert obs["period"] == t and not np.any(obs["c_sell_cny_per_kwh"][t:])
        obs, r, terminated, truncated, _ = per.step(action[[t, 24 + t]])
        rewards.append(r)
        assert terminated == (t == 23) and not truncated
    assert rewards[:-1] == [0.0] * 23
    assert rewards[-1] == pytest.approx(day_reward, abs=1e-9)
    np.testing.assert_allclose(obs["c_sell_cny_per_kwh"], env3.prices(action)[0], atol=1e-12)


def _episodes(env: gym.Env, seed: int) -> tuple[list[dict], list[float]]:
    env.action_space.seed(seed)
    observations, rewards = [], []
    for k in range(3):
        obs, _ = env.reset(seed=seed if k == 0 else None)
        observations.append(obs)
        _, reward, _, _, _ = env.step(env.action_space.sample())
        rewards.append(reward)
    return observations, rewards


def test_same_seed_same_observations_and_rewards() -> None:
    make = lambda: gym.make(DAY_AHEAD_PRICING_ID, forecast_noise=0.1)  # noqa: E731
    obs_a, rew_a = _episodes(make(), seed=11)
    obs_b, rew_b = _episodes(make(), seed=11)
    obs_c, rew_c = _episodes(make(), seed=12)
    assert rew_a == rew_b
    for a, b in zip(obs_a, obs_b, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    # a different seed draws other forecasts (so the comparison above can fail)
    assert not np.array_equal(obs_a[0]["load_kw"], obs_c[0]["load_kw"])
    assert rew_a != rew_c
    # the episodes of one seed differ from each other: reset draws new noise each time
    assert not np.array_equal(obs_a[0]["wind_fc_kw"], obs_a[1]["wind_fc_kw"])


def test_reset_draws_from_every_day_of_a_multi_day_scenario(
        default_scenario_raw: dict, write_scenario_copy) -> None:
    raw = default_scenario_raw
    raw["days"] = 2
    env = DayAheadPricingEnv(scenario=write_scenario_copy(raw, "two_days"))
    assert len(env.markets) == 2
    drawn = {env.reset(seed=s)[1]["day"] for s in range(8)}
    assert drawn == {0, 1}
    assert env.reset(options={"day": 1})[1]["day"] == 1
    with pytest.raises(ValueError, match=r"options\['day'\]: expected 0..1"):
        env.reset(options={"day": 2})


def test_bad_arguments_get_one_clear_error(env3: DayAheadPricingEnv, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="objective: expected one of"):
        DayAheadPricingEnv(objective="profit")
    with pytest.raises(ValueError, match=r"forecast_noise: expected a number in \[0, 1\)"):
        DayAheadPricingEnv(forecast_noise=1.5)
    with pytest.raises(ValueError, match="episode: expected one of"):
        DayAheadPricingEnv(episode="hour")
    with pytest.raises(ValueError, match="days: expected a non-empty list of days in 0..0"):
        DayAheadPricingEnv(days=[3])
    with pytest.raises(ScenarioError, match="missing.yaml"):
        DayAheadPricingEnv(scenario=tmp_path / "missing.yaml")
    env3.reset(seed=0)
    with pytest.raises(ValueError, match="action: expected 48 finite numbers"):
        env3.step(np.zeros(47))
    with pytest.raises(ValueError, match="action: expected 48 finite numbers"):
        env3.step(np.full(48, np.nan))
    env3.step(np.zeros(48))
    with pytest.raises(RuntimeError, match="call reset"):
        env3.step(np.zeros(48))
