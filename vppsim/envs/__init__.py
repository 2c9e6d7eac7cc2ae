"""Gymnasium environments of vppsim (optional extra ``[rl]``: ``pip install 'vppsim[rl]'``).

Importing this package registers ``vppsim/DayAheadPricing-v0``
(:class:`vppsim.envs.day_ahead.DayAheadPricingEnv`)::

    import gymnasium as gym
    import vppsim.envs

    env = gym.make("vppsim/DayAheadPricing-v0", objective="vpo_profit")
"""

from __future__ import annotations

try:
    import gymnasium
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("vppsim.envs needs gymnasium (>= 1.0): pip install 'vppsim[rl]'") from exc

from vppsim.envs.day_ahead import DayAheadPricingEnv

#: the registered id of :class:`DayAheadPricingEnv`
DAY_AHEAD_PRICING_ID = "vppsim/DayAheadPricing-v0"

if DAY_AHEAD_PRICING_ID not in gymnasium.registry:
    gymnasium.register(id=DAY_AHEAD_PRICING_ID,
                       entry_point="vppsim.envs.day_ahead:DayAheadPricingEnv")

__all__ = ["DAY_AHEAD_PRICING_ID", "DayAheadPricingEnv"]
