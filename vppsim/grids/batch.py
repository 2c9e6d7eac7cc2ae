"""Many AC power flows of one feeder at once: lightsim2grid's ``TimeSeriesCPP`` over set-points.

:meth:`vppsim.grids.PowerFlow.solve` solves one set of per-bus injections at a time (a fresh
copy of the converted grid, the set-points written one by one, ``ac_pf``, the results read):
about 0.2 ms of CPU per 33-bus solve, of which the Newton-Raphson itself is 0.03 ms. The Monte
Carlo array path (:mod:`vppsim.montecarlo.arrays`) solves the same step of every sample of a
chunk; :func:`batch_power_flows` hands a sample's steps to lightsim2grid's batch solver as
arrays (one row per step) and reads losses and voltages from its arrays (0.03 ms per solve).

The same Newton-Raphson (same start, iteration limit and tolerance) on the same grid, but not
the same floats as :meth:`PowerFlow.solve`: the batch solver's iterations differ in the last
bits, and the injection's reactive power rides on the bus's own load (``TimeSeriesCPP`` has
no sgen ``q``), so losses and voltages agree to about 1e-10 relative (the solver tolerance),
not bit for bit. Where it does not apply (a warm start, a net solved through the switch
conversion, lines with a current rating, reactive injection at a bus without a load, another
backend) it returns None and the caller solves one by one.
"""

from __future__ import annotations

import numpy as np
from lightsim2grid.lightsim2grid_cpp import TimeSeriesCPP

from vppsim.grids.light import TablePowerFlow
from vppsim.grids.powerflow import KW_PER_MW, PowerFlow


def batch_power_flows(flow: PowerFlow | TablePowerFlow, p_kw: np.ndarray, q_kvar: np.ndarray,
                      background_factor: np.ndarray) -> dict[str, np.ndarray] | None:
    """Solve every row of ``p_kw``/``q_kvar`` (per bus in ``flow.bus_ids`` order, kW, kvar).

    ``background_factor`` holds each row's factor on the feeder's own loads. A row's result
    may depend on the rows before it in the batch (the solver keeps state between rows), so
    a caller that needs results independent of how rows are grouped passes a fixed group
    (the Monte Carlo array path: one sample's steps).

    Returns arrays per row: ``converged``, ``losses_kw``, ``vm_min_pu``, ``vm_max_pu``,
    ``max_line_loading_pct`` (NaN: no rated line), or None where the batch does not apply
    (see the module docstring).
    """
    layout = flow.setpoint_layout()
    if layout is None or not layout.batchable:
        return None
    n = p_kw.shape[0]
    scaling = ((layout.base_load_scaling * flow.background_load_scale)[None, :]
               * np.asarray(background_factor, dtype=float)[:, None])
    load_p = layout.load_p_mw[None, :] * scaling
    load_q = layout.load_q_mvar[None, :] * scaling
    sg_scale = layout.sgen_scaling
    sgen_p = np.tile(layout.sgen_p_mw, (n, 1))
    positions = layout.sgen_positions
    sgen_p[:, positions] = p_kw / KW_PER_MW * sg_scale[positions]
    load_bus = layout.load_bus
    for k, bus in enumerate(flow.bus_ids):
        q = q_kvar[:, k] / KW_PER_MW * sg_scale[positions[k]]
        if not q.any():
            continue
        at = np.flatnonzero(load_bus == bus)
        if not len(at):
            return None
        load_q[:, at[0]] -= q
    ts = TimeSeriesCPP(layout.pristine.copy())
    ts.modify_load_p(np.ascontiguousarray(load_p))
    ts.modify_load_q(np.ascontiguousarray(load_q))
    ts.modify_sgen_p(np.ascontiguousarray(sgen_p))
    ts.compute(layout.v_init, layout.max_iter, layout.tol_pu)
    v = np.asarray(ts.get_voltages())
    converged = np.all(np.isfinite(v), axis=1) & (np.abs(v).max(axis=1) > 0)
    branches = np.asarray(ts.compute_branch_results())
    losses = (branches[:, :, 0].sum(axis=1) + branches[:, :, 2].sum(axis=1)) * KW_PER_MW
    vm = np.where(layout.bus_in_service[None, :], np.abs(v), np.nan)
    nan = np.full(n, np.nan)
    return {
        "converged": converged.astype(float),
        "losses_kw": np.where(converged, losses, nan),
        "vm_min_pu": np.where(converged, np.nanmin(vm, axis=1), nan),
        "vm_max_pu": np.where(converged, np.nanmax(vm, axis=1), nan),
        "max_line_loading_pct": nan,
    }
