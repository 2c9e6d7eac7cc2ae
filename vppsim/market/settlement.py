"""Settlement between VPPs, the VPO and the grid, one step at a time (CNY)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class VppSettlement:
    """What one VPP pays the VPO in one step (negative = receives), CNY."""

    day_ahead_cny: float
    imbalance_cny: float

    @property
    def total_cny(self) -> float:
        """Day-ahead plus imbalance payment."""
        return self.day_ahead_cny + self.imbalance_cny


def settle_vpp(
    committed_buy_kw: float,
    committed_sell_kw: float,
    imbalance_kw: float,
    c_sell: float,
    c_buy: float,
    penalty: float,
    dt_h: float,
) -> VppSettlement:
    """Settle a VPP's step: committed trade at internal prices, deviation at imbalance prices.

    Day-ahead: ``(c_sell*g - c_buy*e) * dt`` (sign convention of docs/design.md). A short position
    (``imbalance_kw > 0``: bought more or sold less than committed) pays
    ``c_sell * (1 + penalty)``; a long one is paid ``c_buy * (1 - penalty)``.
    """
    day_ahead, imbalance = vpp_payments_cny(committed_buy_kw, committed_sell_kw, imbalance_kw,
                                            c_sell, c_buy, penalty, dt_h)
    return VppSettlement(float(day_ahead), float(imbalance))


def vpp_payments_cny(committed_buy_kw: Any, committed_sell_kw: Any, imbalance_kw: Any,
                     c_sell: Any, c_buy: Any, penalty: float, dt_h: float) -> tuple[Any, Any]:
    """:func:`settle_vpp`'s day-ahead and imbalance payments over arrays (or floats), CNY.

    The one place of the formulas (the Monte Carlo array path calls it with arrays).
    """
    day_ahead = (c_sell * committed_buy_kw - c_buy * committed_sell_kw) * dt_h
    imbalance = np.where(imbalance_kw >= 0.0, c_sell * (1.0 + penalty) * imbalance_kw * dt_h,
                         c_buy * (1.0 - penalty) * imbalance_kw * dt_h)
    return day_ahead, imbalance


def settle_grid(
    net_export_kw: float, pi_imp: float, pi_exp: float, dt_h: float
) -> tuple[float, float, float]:
    """The VPO's grid trade for a net position ``x - m`` (kW): returns ``(x, m, revenue_cny)``.

    Paper 004 eq. 9-10 with docs/design.md signs: the VPO exports ``x`` at ``pi_exp`` and imports
    ``m`` at ``pi_imp``; with ``pi_exp <= pi_imp`` it never does both.
    """
    x, m, revenue = grid_trade(net_export_kw, pi_imp, pi_exp, dt_h)
    return float(x), float(m), float(revenue)


def grid_trade(net_export_kw: Any, pi_imp: Any, pi_exp: Any, dt_h: float) -> tuple[Any, Any, Any]:
    """:func:`settle_grid` over arrays (or floats): ``(x, m, revenue_cny)``."""
    x = np.maximum(net_export_kw, 0.0)
    m = np.maximum(-net_export_kw, 0.0)
    return x, m, (pi_exp * x - pi_imp * m) * dt_h
