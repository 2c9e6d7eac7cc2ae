"""Settlement between VPPs, the VPO and the grid, one step at a time (CNY)."""

from __future__ import annotations

from dataclasses import dataclass


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
    day_ahead = (c_sell * committed_buy_kw - c_buy * committed_sell_kw) * dt_h
    if imbalance_kw >= 0.0:
        imbalance = c_sell * (1.0 + penalty) * imbalance_kw * dt_h
    else:
        imbalance = c_buy * (1.0 - penalty) * imbalance_kw * dt_h
    return VppSettlement(day_ahead, imbalance)


def settle_grid(
    net_export_kw: float, pi_imp: float, pi_exp: float, dt_h: float
) -> tuple[float, float, float]:
    """The VPO's grid trade for a net position ``x - m`` (kW): returns ``(x, m, revenue_cny)``.

    Paper 004 eq. 9-10 with docs/design.md signs: the VPO exports ``x`` at ``pi_exp`` and imports
    ``m`` at ``pi_imp``; with ``pi_exp <= pi_imp`` it never does both.
    """
    x = max(net_export_kw, 0.0)
    m = max(-net_export_kw, 0.0)
    return x, m, (pi_exp * x - pi_imp * m) * dt_h
