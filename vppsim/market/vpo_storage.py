"""The VPO's own storage: data and its best response to a net position (paper 004 eq. 10).

With storage, the VPO's balance is ``E - G + dis_o - ch_o = x - m`` and its profit gains the
term ``-lam_o * (ch_o + dis_o) * dt``. Given the VPPs' trades, the VPO schedules its storage to
maximize ``dt * sum_t [pi_exp*x - pi_imp*m - lam_o*(ch_o + dis_o)]`` (an LP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vppsim.optimizers.highs import INF, LinearProgram, LpBuilder, solve_lp
from vppsim.scenario.schema import BatteryParams


@dataclass(frozen=True)
class VpoStorageData:
    """The VPO's battery as the day-ahead problems see it."""

    params: BatteryParams
    soc_start_kwh: float
    cost_cny_per_kwh: float  # lam_o: operating cost per kWh charged or discharged
    end_soc_at_least_initial: bool = True


def add_storage_block(b: LpBuilder, s: VpoStorageData, T: int, dt: float,
                      prefix: str = "vpo_") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the VPO battery's columns and dynamics rows to ``b``; returns (ch, dis, soc)."""
    p = s.params
    cost = s.cost_cny_per_kwh * dt
    ch = b.add_var(f"{prefix}ch", T, 0.0, p.p_max_kw, cost)
    dis = b.add_var(f"{prefix}dis", T, 0.0, p.p_max_kw, cost)
    soc = b.add_var(f"{prefix}soc", T, p.soc_min * p.capacity_kwh, p.soc_max * p.capacity_kwh)
    for t in range(T):
        cols = [soc[t], ch[t], dis[t]]
        vals = [1.0, -p.eta_charge * dt, dt / p.eta_discharge]
        rhs = s.soc_start_kwh if t == 0 else 0.0
        if t > 0:
            cols.append(soc[t - 1])
            vals.append(-1.0)
        b.add_row(cols, vals, rhs, rhs)
    if s.end_soc_at_least_initial:
        b.add_row([soc[T - 1]], [1.0], s.soc_start_kwh, INF)
    return ch, dis, soc


def build_vpo_storage_lp(
    s: VpoStorageData, net_export_kw: np.ndarray, pi_imp: np.ndarray, pi_exp: np.ndarray,
    dt: float,
) -> LinearProgram:
    """The VPO's storage LP for a given VPP net position ``E - G`` (kW per period).

    Minimizes ``dt * sum_t [pi_imp*m - pi_exp*x + lam_o*(ch + dis)]`` subject to the battery
    dynamics and ``x - m - dis + ch = E - G``: those balance rows are the LP's last ``T`` rows.
    """
    T = len(net_export_kw)
    b = LpBuilder()
    x = b.add_var("x", T, 0.0, INF, -np.asarray(pi_exp, float) * dt)
    m = b.add_var("m", T, 0.0, INF, np.asarray(pi_imp, float) * dt)
    ch, dis, _ = add_storage_block(b, s, T, dt, prefix="")
    for t in range(T):
        b.add_row([x[t], m[t], dis[t], ch[t]], [1.0, -1.0, -1.0, 1.0],
                  float(net_export_kw[t]), float(net_export_kw[t]))
    return b.build()


@dataclass(frozen=True)
class StorageResponse:
    """The VPO's optimal storage for a net position, and the value of its grid trade."""

    grid_value_cny: float  # dt*sum[pi_exp*x - pi_imp*m - lam_o*(ch + dis)] at the optimum
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray  # [T + 1], index 0 = start
    grid_import_kw: np.ndarray
    grid_export_kw: np.ndarray


def storage_response(
    s: VpoStorageData, net_export_kw: np.ndarray, pi_imp: np.ndarray, pi_exp: np.ndarray,
    dt: float,
) -> StorageResponse:
    """Solve :func:`build_vpo_storage_lp` (HiGHS) and return the VPO's storage schedule."""
    lp = build_vpo_storage_lp(s, net_export_kw, pi_imp, pi_exp, dt)
    sol = solve_lp(lp)
    if not sol.optimal or sol.x is None:
        raise RuntimeError(f"VPO storage LP not solved ({sol.status})")
    n = lp.names
    ch, dis = sol.x[n["ch"]], sol.x[n["dis"]]
    both = np.minimum(ch, dis)  # a simultaneous charge/discharge only wastes energy: net it
    if both.max(initial=0.0) > 1e-6:  # pragma: no cover - costs make it non-optimal
        raise RuntimeError("VPO storage LP charges and discharges at once")
    return StorageResponse(
        grid_value_cny=-sol.objective,
        charge_kw=np.where(ch < 1e-9, 0.0, ch),
        discharge_kw=np.where(dis < 1e-9, 0.0, dis),
        soc_kwh=np.concatenate([[s.soc_start_kwh], sol.x[n["soc"]]]),
        grid_import_kw=sol.x[n["m"]],
        grid_export_kw=sol.x[n["x"]],
    )
