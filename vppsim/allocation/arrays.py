"""The balanced allocators' real-time balancing over arrays: one VPP at one step, many samples.

:class:`vppsim.allocation.realtime.BalancedAllocator` balances one :class:`BalanceInputs` at a
time (the plan clipped to what is possible now, the power still required, the members'
headroom, then the outcome). The Monte Carlo array path (:mod:`vppsim.montecarlo.arrays`)
holds the same quantities for all samples of a chunk as arrays; :func:`need_arrays` and
:func:`finish_arrays` are the same steps element by element, operation for operation, so the
two paths give the same floats (``tests/test_montecarlo_arrays.py`` checks it). They cover
the members the array path supports: wind, PV, batteries and inflexible loads (no generators,
no curtailable loads, no units, EVs or reservoirs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vppsim.allocation.realtime import MIN_CALL_COST_CNY_PER_KWH


@dataclass(frozen=True)
class BalanceArrays:
    """:class:`BalanceInputs` of one VPP at one step for ``S`` samples.

    Per-sample quantities are arrays ``(S,)`` or ``(S, n)`` (members last); what the plan
    says is the same for every sample (the day ahead is cleared once for the batch).
    """

    wind_available_kw: np.ndarray  # (S, n_wind)
    pv_available_kw: np.ndarray  # (S, n_pv)
    wind_planned_curtail_kw: float
    pv_planned_curtail_kw: float
    mu_wind: float
    mu_pv: float
    demand_kw: np.ndarray  # (S, n_load)
    battery_planned_kw: np.ndarray  # (n_bat,)
    battery_min_kw: np.ndarray  # (S, n_bat)
    battery_max_kw: np.ndarray  # (S, n_bat)
    net_buy_planned_kw: float
    buy_max_kw: float
    sell_max_kw: float
    unmet_planned_kw: float
    spill_planned_kw: float
    battery_cost_cny_per_kwh: float


@dataclass
class NeedArrays:
    """The plan clipped to what is possible now, the direction, headroom and need per sample."""

    wind_sum: np.ndarray
    pv_sum: np.ndarray
    w_cur: np.ndarray
    p_cur: np.ndarray
    bat: np.ndarray  # (S, n_bat)
    net: float
    unmet: np.ndarray
    spill: np.ndarray
    deficit: np.ndarray  # (S,) bool
    cap_kw: np.ndarray  # (S, K): [wind, pv, batteries...]
    cost_cny_per_kwh: np.ndarray  # (K,)
    need_kw: np.ndarray  # (S,)


@dataclass(frozen=True)
class OutcomeArrays:
    """:class:`BalanceOutcome` of one VPP at one step for ``S`` samples."""

    wind_kw: np.ndarray
    pv_kw: np.ndarray
    battery_kw: np.ndarray
    net_buy_kw: np.ndarray
    unmet_kw: np.ndarray
    spill_kw: np.ndarray


def need_arrays(x: BalanceArrays) -> NeedArrays:
    """``realtime._need`` (``_start`` and ``_headroom``) for every sample at once."""
    wind_sum = x.wind_available_kw.sum(axis=1)
    pv_sum = x.pv_available_kw.sum(axis=1)
    w_cur = np.minimum(x.wind_planned_curtail_kw, wind_sum)
    p_cur = np.minimum(x.pv_planned_curtail_kw, pv_sum)
    planned = np.where(np.abs(x.battery_planned_kw) < 1e-6, 0.0, x.battery_planned_kw)
    bat = np.clip(planned[None, :], x.battery_min_kw, x.battery_max_kw)
    net = float(np.clip(x.net_buy_planned_kw, -x.sell_max_kw, x.buy_max_kw))
    demand = x.demand_kw.sum(axis=1)
    unmet = np.minimum(max(x.unmet_planned_kw, 0.0), demand)
    spill = np.full(len(demand), max(x.spill_planned_kw, 0.0))
    supply = (wind_sum - w_cur + pv_sum - p_cur + bat.sum(axis=1) + 0.0 + net + 0.0 + unmet
              - spill)
    residual = demand - supply
    deficit = residual > 0.0
    d_def = np.minimum(residual, spill)
    d_sur = np.minimum(-residual, unmet)
    spill = np.where(deficit, spill - d_def, spill)
    unmet = np.where(deficit, unmet, unmet - d_sur)
    need = np.where(deficit, residual - d_def, -residual - d_sur)
    up = np.concatenate([w_cur[:, None], p_cur[:, None], x.battery_max_kw - bat], axis=1)
    down = np.concatenate([(wind_sum - w_cur)[:, None], (pv_sum - p_cur)[:, None],
                           bat - x.battery_min_kw], axis=1)
    cap = np.maximum(np.where(deficit[:, None], up, down), 0.0)
    cost = np.concatenate([[x.mu_wind, x.mu_pv],
                           np.full(bat.shape[1], x.battery_cost_cny_per_kwh)])
    return NeedArrays(wind_sum, pv_sum, w_cur, p_cur, bat, net, unmet, spill, deficit, cap,
                      np.maximum(cost, MIN_CALL_COST_CNY_PER_KWH), need)


def _scale_curtailment(avail: np.ndarray, total: np.ndarray, curtail_kw: np.ndarray) -> np.ndarray:
    """``realtime._scale_curtailment`` per sample (rows of ``avail``)."""
    pos = total > 0.0
    safe = np.where(pos, total, 1.0)
    share = 1.0 - np.minimum(np.maximum(curtail_kw, 0.0), total) / safe
    return np.where(pos[:, None], avail * share[:, None], 0.0)


def finish_arrays(x: BalanceArrays, nd: NeedArrays, moved: np.ndarray,
                  rest: np.ndarray) -> OutcomeArrays:
    """``realtime._finish`` for every sample at once (``moved`` ``(S, K)``, ``rest`` ``(S,)``)."""
    sign = np.where(nd.deficit, 1.0, -1.0)
    w_cur = nd.w_cur - sign * moved[:, 0]
    p_cur = nd.p_cur - sign * moved[:, 1]
    nbat = nd.bat.shape[1]
    bat = nd.bat + sign[:, None] * moved[:, 2:2 + nbat]
    net = nd.net
    d_def = np.minimum(rest, x.buy_max_kw - net)
    d_sur = np.minimum(rest, net + x.sell_max_kw)
    net_buy = np.where(nd.deficit, net + d_def, net - d_sur)
    unmet = np.where(nd.deficit, nd.unmet + np.maximum(rest - d_def, 0.0), nd.unmet)
    spill = np.where(nd.deficit, nd.spill, nd.spill + np.maximum(rest - d_sur, 0.0))
    return OutcomeArrays(
        wind_kw=_scale_curtailment(x.wind_available_kw, nd.wind_sum, w_cur),
        pv_kw=_scale_curtailment(x.pv_available_kw, nd.pv_sum, p_cur),
        battery_kw=np.clip(bat, x.battery_min_kw, x.battery_max_kw),
        net_buy_kw=net_buy, unmet_kw=unmet, spill_kw=spill,
    )
