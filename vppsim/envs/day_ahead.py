"""``vppsim/DayAheadPricing-v0``: the VPO's day-ahead pricing as a Gymnasium environment.

The agent is the VPO (paper 004's leader); the environment holds the followers. An episode is
one day: :meth:`DayAheadPricingEnv.reset` draws a day (uniformly from the environment's days,
with seeded forecast noise if ``forecast_noise > 0``), the agent sets the internal prices
``c_sell``/``c_buy`` of every period inside the price box ``pi_exp <= c_buy <= c_sell <=
pi_imp``, and the reward is the VPO's profit (``objective="vpo_profit"``) or minus the system
cost (``"system_cost"``) of the exact outcome at those prices: every VPP's least-cost LP
answer, ties broken for the VPO (:func:`vppsim.market.outcome.outcome_at`, the game's outcome).

Two episode shapes (``episode``):

- ``"day"`` (default, a contextual bandit): one step; the action sets every period's prices.
- ``"period"``: ``T`` steps; step ``t`` sets period ``t``'s prices, the followers answer the
  whole day's prices after the last step (a day-ahead market has one clearing), so the reward
  is 0 until then and the day's value at the last step.

Action: normalized, ``[-1, 1]`` per entry (``u = (a + 1) / 2``), mapped into the box as the
game's own encoding (:meth:`vppsim.market.game.GameProblem.decode`)::

    c_sell = (1 - u_sell) * pi_exp + u_sell * pi_imp
    c_buy  = (1 - u_buy) * pi_exp + u_buy * c_sell

so every action is a valid price pair; actions outside ``[-1, 1]`` are clipped. ``"day"``: a
vector of ``2T``, ``[a_sell[0..T-1], a_buy[0..T-1]]``; ``"period"``: ``[a_sell, a_buy]``. The
tariff passed through (Model 1) is ``a_sell = +1, a_buy = -1``
(:meth:`DayAheadPricingEnv.passthrough_action`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vppsim.envs.markets import perturbed_market, scenario_markets
from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.outcome import GameOutcome, outcome_at
from vppsim.market.solvers import OBJECTIVES

#: the episode shapes of :class:`DayAheadPricingEnv`
EPISODES = ("day", "period")

#: the forecast keys of the observation (each ``[n_vpps, T]``, kW)
FORECAST_KEYS = ("wind_fc_kw", "pv_fc_kw", "load_kw")


def _check_markets(markets: Sequence[DayAheadMarket]) -> list[DayAheadMarket]:
    """The markets as a list; all must have the same periods, period length and VPP names."""
    out = list(markets)
    if not out or not all(isinstance(m, DayAheadMarket) for m in out):
        raise ValueError("DayAheadPricingEnv markets: expected a non-empty sequence of "
                         "vppsim.market.day_ahead.DayAheadMarket")
    first = out[0]
    names = [d.name for d in first.vpps]
    for k, m in enumerate(out[1:], start=1):
        if (m.n_periods, m.dt_h, [d.name for d in m.vpps]) != (first.n_periods, first.dt_h, names):
            raise ValueError(f"DayAheadPricingEnv markets[{k}]: expected {first.n_periods} periods "
                             f"of {first.dt_h} h and the VPPs {names} (as markets[0])")
    return out


class DayAheadPricingEnv(gym.Env[dict[str, Any], np.ndarray]):
    """The VPO sets a day's internal prices; the VPPs answer with their exact LP schedules.

    Parameters
    ----------
    scenario : str or Path, optional
        Scenario YAML whose days the environment draws from (default: the shipped default
        scenario, paper 004's three VPPs). Ignored if ``markets`` is given.
    objective : str
        ``"vpo_profit"`` (reward = VPO profit, CNY) or ``"system_cost"`` (reward = minus the
        VPPs' costs plus the VPO's profit, CNY).
    days : sequence of int, optional
        Days of the scenario's horizon to draw from (default: all).
    forecast_noise : float
        Half-width of the uniform multiplicative noise on every forecast value drawn at each
        reset, in ``[0, 1)`` (0: the days as they are).
    episode : str
        ``"day"`` (one step) or ``"period"`` (one step per period); see the module docstring.
    markets : sequence of DayAheadMarket, optional
        The days themselves instead of a scenario (same periods and VPPs in all).
    render_mode : None
        No rendering; only None is accepted.

    Observation (``spaces.Dict``, float64): ``wind_fc_kw``, ``pv_fc_kw``, ``load_kw`` (each VPP's
    forecast per period, ``[n_vpps, T]``, kW), ``pi_imp_cny_per_kwh``, ``pi_exp_cny_per_kwh``
    (the grid tariff, ``[T]``, CNY/kWh), ``hour_of_day`` (start of each period, ``[T]``, h);
    ``"period"`` episodes add ``period`` (the period the next action prices, ``T`` when the day is
    complete) and ``c_sell_cny_per_kwh``/``c_buy_cny_per_kwh`` (the prices set so far, 0 for
    periods not yet priced). ``gymnasium.wrappers.FlattenObservation`` gives a flat vector.

    The info of the step that ends the day holds the prices, ``vpo_profit_cny``,
    ``system_cost_cny``, ``vpp_cost_cny`` (per VPP), ``buy_total_kw``/``sell_total_kw`` (the
    VPPs' summed purchases from / sales to the VPO, ``[T]``); :attr:`last_outcome` the full
    :class:`vppsim.market.outcome.GameOutcome` (schedules).
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario: str | Path | None = None, objective: str = "vpo_profit",
                 days: Sequence[int] | None = None, forecast_noise: float = 0.0,
                 episode: str = "day", markets: Sequence[DayAheadMarket] | None = None,
                 render_mode: str | None = None) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"DayAheadPricingEnv objective: expected one of {list(OBJECTIVES)}, "
                             f"got {objective!r}")
        if episode not in EPISODES:
            raise ValueError(f"DayAheadPricingEnv episode: expected one of {list(EPISODES)}, "
                             f"got {episode!r}")
        noise = float(forecast_noise)
        if not (math.isfinite(noise) and 0.0 <= noise < 1.0):
            raise ValueError(f"DayAheadPricingEnv forecast_noise: expected a number in [0, 1), "
                             f"got {forecast_noise!r}")
        if render_mode is not None:
            raise ValueError(f"DayAheadPricingEnv render_mode: expected None (no rendering), "
                             f"got {render_mode!r}")
        if markets is not None and (scenario is not None or days is not None):
            raise ValueError("DayAheadPricingEnv: expected either markets or scenario/days, "
                             "not both")
        self.markets = _check_markets(markets if markets is not None
                                      else scenario_markets(scenario, days))
        self.objective = objective
        self.forecast_noise = noise
        self.episode = episode
        self.render_mode = render_mode
        first = self.markets[0]
        self.n_periods = first.n_periods
        self.vpp_names = tuple(d.name for d in first.vpps)
        self.observation_space = self._observation_space()
        n_act = 2 * self.n_periods if episode == "day" else 2
        self.action_space = spaces.Box(-1.0, 1.0, shape=(n_act,), dtype=np.float64)
        self._market: DayAheadMarket | None = None
        self._day = -1
        self._period = 0
        self._u = np.zeros((2, self.n_periods))
        self._done = True
        self.last_outcome: GameOutcome | None = None

    # ------------------------------------------------------------------ spaces
    def _observation_space(self) -> spaces.Dict:
        """Bounds: forecasts in ``[0, (1 + noise) * largest value]``, tariff in its range."""
        T, n = self.n_periods, len(self.vpp_names)
        grow = (1.0 + self.forecast_noise) * (1.0 + 1e-9)
        box: dict[str, spaces.Space[Any]] = {}
        for key in FORECAST_KEYS:
            top = max(float(getattr(d, key).max(initial=0.0)) for m in self.markets for d in m.vpps)
            box[key] = spaces.Box(0.0, max(1.0, grow * top), shape=(n, T), dtype=np.float64)
        lo = min(float(m.pi_exp.min()) for m in self.markets)
        hi = max(float(m.pi_imp.max()) for m in self.markets)
        for key in ("pi_imp_cny_per_kwh", "pi_exp_cny_per_kwh"):
            box[key] = spaces.Box(lo, hi, shape=(T,), dtype=np.float64)
        box["hour_of_day"] = spaces.Box(0.0, 24.0, shape=(T,), dtype=np.float64)
        if self.episode == "period":
            box["period"] = spaces.Discrete(T + 1)
            for key in ("c_sell_cny_per_kwh", "c_buy_cny_per_kwh"):
                box[key] = spaces.Box(min(lo, 0.0), max(hi, 0.0), shape=(T,), dtype=np.float64)
        return spaces.Dict(box)

    def _observation(self) -> dict[str, Any]:
        """The current day's observation (new arrays on every call)."""
        m = self.market
        obs: dict[str, Any] = {key: np.array([getattr(d, key) for d in m.vpps], dtype=np.float64)
                               for key in FORECAST_KEYS}
        obs["pi_imp_cny_per_kwh"] = np.array(m.pi_imp, dtype=np.float64)
        obs["pi_exp_cny_per_kwh"] = np.array(m.pi_exp, dtype=np.float64)
        obs["hour_of_day"] = (np.arange(self.n_periods) * m.dt_h) % 24.0
        if self.episode == "period":
            obs["period"] = int(self._period)
            c_sell, c_buy = self._prices_of_u(self._u)
            priced = np.arange(self.n_periods) < self._period
            obs["c_sell_cny_per_kwh"] = np.where(priced, c_sell, 0.0)
            obs["c_buy_cny_per_kwh"] = np.where(priced, c_buy, 0.0)
        return obs

    # ------------------------------------------------------------------ prices
    @property
    def market(self) -> DayAheadMarket:
        """The current episode's day (after :meth:`reset`)."""
        if self._market is None:
            raise RuntimeError("DayAheadPricingEnv: call reset() first")
        return self._market

    def _prices_of_u(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(c_sell, c_buy)``, CNY/kWh, of box coordinates ``u`` (``[2, T]`` in ``[0, 1]``)."""
        pi_imp, pi_exp = self.market.pi_imp, self.market.pi_exp
        c_sell = (1.0 - u[0]) * pi_exp + u[0] * pi_imp
        c_buy = (1.0 - u[1]) * pi_exp + u[1] * c_sell
        return c_sell, c_buy

    def prices(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The current day's ``(c_sell, c_buy)``, CNY/kWh, of a whole-day action (``2T``)."""
        a = self._checked(action, 2 * self.n_periods)
        return self._prices_of_u(((a + 1.0) / 2.0).reshape(2, self.n_periods))

    def action_for(self, c_sell: np.ndarray, c_buy: np.ndarray) -> np.ndarray:
        """The whole-day action (``2T``) of prices inside the current day's box.

        The inverse of :meth:`prices`; a ``"period"`` episode's step ``t`` takes entries ``t``
        and ``T + t``.
        """
        pi_imp, pi_exp = self.market.pi_imp, self.market.pi_exp
        c_sell, c_buy = np.asarray(c_sell, float), np.asarray(c_buy, float)
        spread, inner = pi_imp - pi_exp, c_sell - pi_exp
        u_sell = np.divide(inner, spread, out=np.zeros(self.n_periods), where=spread > 0)
        u_buy = np.divide(c_buy - pi_exp, inner, out=np.zeros(self.n_periods), where=inner > 0)
        return np.clip(np.concatenate([u_sell, u_buy]) * 2.0 - 1.0, -1.0, 1.0)

    def passthrough_action(self) -> np.ndarray:
        """The action passing the tariff through (Model 1): ``c_sell = pi_imp, c_buy = pi_exp``."""
        T = self.n_periods
        if self.episode == "period":
            return np.array([1.0, -1.0])
        return np.concatenate([np.ones(T), -np.ones(T)])

    def _checked(self, action: np.ndarray, n: int) -> np.ndarray:
        """The action as ``n`` finite floats clipped to ``[-1, 1]``."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (n,) or not np.all(np.isfinite(a)):
            raise ValueError(f"DayAheadPricingEnv action: expected {n} finite numbers in "
                             f"[-1, 1] ({self.episode!r} episodes), got shape "
                             f"{np.shape(action)}")
        return np.clip(a, -1.0, 1.0)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Draw a day (``options={"day": k}`` picks ``markets[k]``) and its forecast noise."""
        super().reset(seed=seed)
        options = options or {}
        if "day" in options:
            day = int(options["day"])
            if not 0 <= day < len(self.markets):
                raise ValueError(f"DayAheadPricingEnv reset options['day']: expected "
                                 f"0..{len(self.markets) - 1}, got {options['day']!r}")
        else:
            day = int(self.np_random.integers(len(self.markets)))
        self._day = day
        self._market = perturbed_market(self.markets[day], self.forecast_noise, self.np_random)
        self._period = 0
        self._u = np.zeros((2, self.n_periods))
        self._done = False
        self.last_outcome = None
        return self._observation(), {"day": day}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Set prices (all periods, or the next one); the day's reward once every period is set."""
        if self._done:
            raise RuntimeError("DayAheadPricingEnv: the episode has ended (or not begun); "
                               "call reset() first")
        if self.episode == "day":
            self._u = ((self._checked(action, 2 * self.n_periods) + 1.0) / 2.0).reshape(2, -1)
            self._period = self.n_periods
        else:
            self._u[:, self._period] = (self._checked(action, 2) + 1.0) / 2.0
            self._period += 1
        if self._period < self.n_periods:
            return self._observation(), 0.0, False, False, {"day": self._day,
                                                            "period": self._period}
        self._done = True
        c_sell, c_buy = self._prices_of_u(self._u)
        out = outcome_at(self.market, c_sell, c_buy)
        self.last_outcome = out
        reward = out.vpo_profit_cny if self.objective == "vpo_profit" else -out.system_cost_cny
        info = {
            "day": self._day,
            "c_sell_cny_per_kwh": c_sell.copy(),
            "c_buy_cny_per_kwh": c_buy.copy(),
            "vpo_profit_cny": float(out.vpo_profit_cny),
            "system_cost_cny": float(out.system_cost_cny),
            "vpp_cost_cny": dict(out.vpp_cost_cny),
            "buy_total_kw": np.sum([s.buy_kw for s in out.schedules], axis=0),
            "sell_total_kw": np.sum([s.sell_kw for s in out.schedules], axis=0),
        }
        return self._observation(), float(reward), True, False, info
