"""Feeder losses per period and their sensitivities to bus injections (loss-aware dispatch).

:class:`FeederLossModel` solves the feeder's AC power flow with lightsim2grid (the same
:class:`vppsim.grids.PowerFlow` as the co-simulation, cold start, so a solve depends on its
input only) and differentiates the total active loss with respect to the active injection of
every bus from the power-flow Jacobian at the solved point:

    L = P_slack + sum_k P_k                (energy balance: losses = everything injected)
    J^T lambda = d P_slack / d x           (x = voltage angles of pv/pq buses, magnitudes of pq)
    dL/dP_k = 1 + lambda_k                 (lambda_k = d P_slack / d P_k at fixed Q injections)

``J`` and ``dP_slack/dx`` come from the derivatives of ``S = V conj(Y V)`` on the feeder's bus
admittance matrix (read once from a ``pandapower.runpp`` of the same net; dense, as feeders are
small). The figures are checked against finite differences of ``pandapower.runpp`` in
tests/test_loss_aware.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from vppsim.grids.powerflow import LightSim2GridBackend, PowerFlow

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

__all__ = ["FeederLossModel", "LossPoint"]


def _ds_dv(ybus: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dS/d|V|`` and ``dS/dtheta`` of the bus injections ``S = V conj(Y V)``, dense.

    The formulas of pandapower's ``dSbus_dV``; feeders have tens to hundreds of buses.
    """
    i_bus = ybus @ v
    v_norm = v / np.abs(v)
    ds_dvm = v[:, None] * np.conj(ybus * v_norm[None, :]) + np.diag(np.conj(i_bus) * v_norm)
    ds_dva = 1j * v[:, None] * np.conj(np.diag(i_bus) - ybus * v[None, :])
    return ds_dvm, ds_dva


@dataclass(frozen=True)
class LossPoint:
    """One period's AC power flow: total losses, slack import and loss sensitivities.

    ``dloss_dp`` maps each requested bus to ``dL/dP`` (kW of losses per kW injected; negative
    where injecting there lowers the losses; 0 at the slack bus). NaN figures if the power flow
    did not converge.
    """

    converged: bool
    losses_kw: float
    p_slack_kw: float
    dloss_dp: dict[int, float]


class FeederLossModel:
    """AC losses of a feeder for given per-bus injections, with Jacobian loss sensitivities.

    Parameters
    ----------
    net
        The feeder (deep-copied; its own loads stay as background load).
    background_load_scale
        Constant factor on the feeder's own loads (as :class:`vppsim.grids.PowerFlow`).
    """

    def __init__(self, net: pandapowerNet, background_load_scale: float = 1.0) -> None:
        import pandapower as pp  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import

        self.flow = PowerFlow(net, background_load_scale, backend="lightsim2grid",
                              warm_start=False)
        probe = copy.deepcopy(self.flow.net)
        pp.runpp(probe, numba=False)
        internal = probe._ppc["internal"]
        self._ybus = sp.csr_matrix(internal["Ybus"]).toarray()
        self._ref = np.asarray(internal["ref"], dtype=int)
        self._pvpq = np.concatenate([internal["pv"], internal["pq"]]).astype(int)
        self._pq = np.asarray(internal["pq"], dtype=int)
        self._lookup = np.asarray(probe._pd2ppc_lookups["bus"], dtype=int)
        self.slack_bus = self.flow.slack_bus

    def solve(self, p_kw_by_bus: Mapping[int, float], q_kvar_by_bus: Mapping[int, float],
              background_factor: float, buses: list[int]) -> LossPoint:
        """Run the power flow and return the losses and ``dL/dP`` at each of ``buses``."""
        res = self.flow.solve(p_kw_by_bus, q_kvar_by_bus, background_factor=background_factor)
        backend = self.flow.backend
        v_pd = backend.voltage_pu if isinstance(backend, LightSim2GridBackend) else None
        if not res.converged or v_pd is None:
            return LossPoint(False, float("nan"), float("nan"), {b: float("nan") for b in buses})
        if not buses:
            return LossPoint(True, res.losses_kw, res.p_slack_kw, {})
        sens = self.sensitivities(v_pd)
        out = {int(b): float(sens[self._lookup[int(b)]]) for b in buses}
        return LossPoint(True, res.losses_kw, res.p_slack_kw, out)

    def sensitivities(self, v_by_bus: np.ndarray) -> np.ndarray:
        """``dL/dP`` per internal bus at the complex voltages ``v_by_bus`` (bus index order)."""
        n = self._ybus.shape[0]
        v = np.zeros(n, dtype=complex)
        v[self._lookup[: len(v_by_bus)]] = v_by_bus
        ds_dvm, ds_dva = _ds_dv(self._ybus, v)
        pvpq, pq, ref = self._pvpq, self._pq, self._ref
        jac = np.block([
            [ds_dva[np.ix_(pvpq, pvpq)].real, ds_dvm[np.ix_(pvpq, pq)].real],
            [ds_dva[np.ix_(pq, pvpq)].imag, ds_dvm[np.ix_(pq, pq)].imag],
        ])
        grad = np.concatenate([ds_dva[np.ix_(ref, pvpq)].real.sum(axis=0),
                               ds_dvm[np.ix_(ref, pq)].real.sum(axis=0)])
        lam = np.linalg.solve(jac.T, grad)
        sens = np.zeros(n)
        sens[pvpq] = 1.0 + lam[: len(pvpq)]
        return sens
