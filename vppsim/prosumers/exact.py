"""Exact prosumer scheduling with HiGHS: the MILP of paper 002 (3.5.1) and its LP relaxation.

One model per prosumer (prosumers are independent given prices), all of the same shape:
columns ``acquire, paid, spill, charge, discharge, soc`` (``T`` each, continuous) and the
flip-flop indicators ``u`` (1: acquiring, 0: dispatching) and ``v`` (1: charging, 0:
discharging) of 3.4.2; rows

- balance (3.4.4): ``acquire - paid - spill - charge + discharge = load - gen``;
- dynamics (3.3.5): ``soc[t] - soc[t-1] - eta_c*dt*charge + dt/eta_d*discharge = 0``
  (``soc[-1] = soc_init``);
- links (3.4.2-3.4.3): ``acquire <= A*u``, ``paid <= D*(1-u)``, ``spill <= gen*(1-u)``,
  ``charge <= Pc*v``, ``discharge <= Pd*(1-v)``;

with bounds ``soc_min <= soc <= soc_max`` and ``soc[T-1] >= soc_end_min``. The LP
relaxation lets ``u, v`` take any value in ``[0, 1]``. The sparsity pattern is computed once;
each prosumer only fills in its values and is passed to the same ``Highs`` instance.
"""

from __future__ import annotations

import time
from typing import Any

import highspy
import numpy as np

from vppsim.optimizers.highs import INF, new_highs
from vppsim.prosumers.parallel import ChunkRunner, map_chunks
from vppsim.prosumers.problem import FleetSchedule, ProsumerFleet, flows_cost

_N_BLOCKS = 8  # acquire, paid, spill, charge, discharge, soc, u, v
_ACQ, _PAID, _SPILL, _CH, _DIS, _SOC, _U, _V = range(_N_BLOCKS)


class _Template:
    """Sparsity pattern of the per-prosumer model for ``T`` periods (COO order -> CSC order)."""

    def __init__(self, t: int) -> None:
        self.t = t
        tt = np.arange(t)

        def col(block: int, idx: np.ndarray = tt) -> np.ndarray:
            return block * t + idx

        rows, cols, self.kinds = [], [], []

        def add(row_block: int, c: np.ndarray, kind: str, r_idx: np.ndarray = tt) -> None:
            rows.append(row_block * t + r_idx)
            cols.append(c)
            self.kinds.append((kind, len(r_idx)))

        # balance rows (block 0)
        add(0, col(_ACQ), "+1")
        add(0, col(_PAID), "-1")
        add(0, col(_SPILL), "-1")
        add(0, col(_CH), "-1")
        add(0, col(_DIS), "+1")
        # dynamics rows (block 1)
        add(1, col(_SOC), "+1")
        add(1, col(_SOC, tt[:-1]), "-1", tt[1:])
        add(1, col(_CH), "-eta_c_dt")
        add(1, col(_DIS), "dt_over_eta_d")
        # links (blocks 2..6)
        add(2, col(_ACQ), "+1")
        add(2, col(_U), "-A")
        add(3, col(_PAID), "+1")
        add(3, col(_U), "+D")
        add(4, col(_SPILL), "+1")
        add(4, col(_U), "+gen")
        add(5, col(_CH), "+1")
        add(5, col(_V), "-Pc")
        add(6, col(_DIS), "+1")
        add(6, col(_V), "+Pd")
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        self.n_col = _N_BLOCKS * t
        self.n_row = 7 * t
        order = np.lexsort((r, c))  # column-major
        self.order = order
        self.index = r[order].astype(np.int32)
        counts = np.bincount(c, minlength=self.n_col)
        self.start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)

    def values(self, p: dict[str, Any]) -> np.ndarray:
        """Matrix values for one prosumer's parameters ``p``, in CSC order."""
        parts = []
        for kind, m in self.kinds:
            if kind == "+1":
                parts.append(np.ones(m))
            elif kind == "-1":
                parts.append(-np.ones(m))
            elif kind == "+gen":
                parts.append(np.asarray(p["gen"], float))
            else:
                sign = -1.0 if kind.startswith("-") else 1.0
                parts.append(np.full(m, sign * p[kind.lstrip("+-")]))
        return np.concatenate(parts)[self.order]


def _prosumer_params(fleet: ProsumerFleet, i: int) -> dict[str, Any]:
    dt = fleet.dt_h
    return {
        "gen": fleet.gen_kw[i],
        "A": fleet.acquire_max_kw[i],
        "D": fleet.dispatch_max_kw[i],
        "Pc": fleet.charge_max_kw[i],
        "Pd": fleet.discharge_max_kw[i],
        "eta_c_dt": fleet.eta_charge[i] * dt,
        "dt_over_eta_d": dt / fleet.eta_discharge[i],
    }


def _model(fleet: ProsumerFleet, i: int, tpl: _Template) -> highspy.HighsLp:
    """The HiGHS model of prosumer ``i``, binaries relaxed to ``[0, 1]``."""
    t, dt = tpl.t, fleet.dt_h
    z = np.zeros(t)
    ones = np.ones(t)
    gen, load = fleet.gen_kw[i], fleet.load_kw[i]
    wear = fleet.battery_cost_per_kwh[i] * dt
    cost = np.concatenate([fleet.price_buy_per_kwh[i] * dt, -fleet.price_sell_per_kwh[i] * dt, z,
                           wear * ones, wear * ones, z, z, z])
    soc_lo = np.full(t, fleet.soc_min_kwh[i])
    soc_lo[-1] = max(soc_lo[-1], fleet.soc_end_min_kwh[i])
    col_lo = np.concatenate([z, z, z, z, z, soc_lo, z, z])
    col_hi = np.concatenate([fleet.acquire_max_kw[i] * ones, fleet.dispatch_max_kw[i] * ones, gen,
                             fleet.charge_max_kw[i] * ones, fleet.discharge_max_kw[i] * ones,
                             np.full(t, fleet.soc_max_kwh[i]), ones, ones])
    dyn = z.copy()
    dyn[0] = fleet.soc_init_kwh[i]
    ninf = np.full(t, -INF)
    row_lo = np.concatenate([load - gen, dyn, ninf, ninf, ninf, ninf, ninf])
    row_hi = np.concatenate([load - gen, dyn, z, fleet.dispatch_max_kw[i] * ones, gen, z,
                             fleet.discharge_max_kw[i] * ones])
    lp = highspy.HighsLp()
    lp.num_col_ = tpl.n_col
    lp.num_row_ = tpl.n_row
    lp.col_cost_ = cost
    lp.col_lower_ = col_lo
    lp.col_upper_ = col_hi
    lp.row_lower_ = row_lo
    lp.row_upper_ = row_hi
    lp.offset_ = float(fleet.fixed_cost[i])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = tpl.start
    lp.a_matrix_.index_ = tpl.index
    lp.a_matrix_.value_ = tpl.values(_prosumer_params(fleet, i))
    return lp


def _solve_chunk(fleet: ProsumerFleet, start: int, integer: bool,
                 time_limit_s: float | None) -> dict[str, Any]:
    """Solve every prosumer of ``fleet`` in one reused ``Highs`` instance."""
    del start  # exact solutions do not depend on the chunking
    n, t = fleet.n, fleet.periods
    tpl = _Template(t)
    h = new_highs()
    if integer:
        h.setOptionValue("mip_rel_gap", 1e-7)
        h.setOptionValue("mip_abs_gap", 1e-7)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    x = np.full((n, _N_BLOCKS * t), np.nan)
    obj = np.full(n, np.nan)
    status = []
    lp_obj = np.full(n, np.nan)
    bin_cols = np.arange(_U * t, _N_BLOCKS * t, dtype=np.int32)
    for i in range(n):
        h.passModel(_model(fleet, i, tpl))
        h.run()
        st = h.getModelStatus()
        if integer and st == highspy.HighsModelStatus.kOptimal:
            # MIP start: the relaxation's solution with u, v rounded to its flows' directions
            # (feasible, and then optimal, where the binaries are slack).
            xs = np.asarray(h.getSolution().col_value)
            lp_obj[i] = h.getInfo().objective_function_value
            xs[_U * t:_V * t] = xs[_ACQ * t:_PAID * t] > xs[_PAID * t:_CH * t].reshape(2, t).sum(0)
            xs[_V * t:] = xs[_CH * t:_DIS * t] > xs[_DIS * t:_SOC * t]
            h.changeColsIntegrality(len(bin_cols), bin_cols, np.ones(len(bin_cols), dtype=np.uint8))
            start_sol = highspy.HighsSolution()
            start_sol.col_value = xs.tolist()
            start_sol.value_valid = True
            h.setSolution(start_sol)
            h.run()
            st = h.getModelStatus()
        status.append(h.modelStatusToString(st))
        if st == highspy.HighsModelStatus.kOptimal:
            x[i] = np.asarray(h.getSolution().col_value)
            obj[i] = h.getInfo().objective_function_value
        h.clearModel()
    return {"x": x, "objective": obj, "status": status, "lp_objective": lp_obj}


def binaries_slack(sched: FleetSchedule, tol: float = 1e-6) -> np.ndarray:
    """Per prosumer: no period both acquires and dispatches, or both charges and discharges.

    Where this holds for the LP relaxation's solution, that solution is feasible for the
    MILP, so the two optima are equal.
    """
    grid = np.minimum(sched.acquire_kw, sched.paid_kw + sched.spill_kw).max(axis=1)
    batt = np.minimum(sched.charge_kw, sched.discharge_kw).max(axis=1)
    return (grid <= tol) & (batt <= tol)


def solve_exact(fleet: ProsumerFleet, integer: bool = True, workers: int = 1,
                chunks: int | None = None, executor: Any = None,
                time_limit_s: float | None = None, cluster: ChunkRunner | None = None) -> FleetSchedule:
    """Optimal schedules: the MILP (``integer=True``) or its LP relaxation, per prosumer.

    Prosumers without an optimal answer (infeasible, time limit) have NaN flows and cost and
    their HiGHS status in ``info["status"]``. ``info["objective"]`` is HiGHS' objective,
    ``info["binaries_slack"]`` the test of :func:`binaries_slack` on the returned flows.
    The MILP is solved after its relaxation, whose solution (binaries rounded to the
    directions of its flows) is passed to HiGHS as a start; ``info["lp_objective"]`` keeps
    the relaxation's objective. Where the binaries are slack the start is optimal and HiGHS
    only proves it, about 5 times faster than a cold MIP solve. ``cluster``: run the chunks
    on a :class:`~vppsim.prosumers.cluster.ProsumerCluster` instead.
    """
    t0 = time.perf_counter()
    parts = map_chunks(_solve_chunk, fleet, integer, time_limit_s, workers=workers, chunks=chunks,
                       executor=executor, cluster=cluster)
    x = np.concatenate([p["x"] for p in parts])
    obj = np.concatenate([p["objective"] for p in parts])
    status = [s for p in parts for s in p["status"]]
    lp_obj = np.concatenate([p["lp_objective"] for p in parts])
    t = fleet.periods
    blk = [x[:, k * t:(k + 1) * t] for k in range(_N_BLOCKS)]
    acq, paid, spill, ch, dis = (np.maximum(b, 0.0) for b in blk[:_SOC])  # drop -1e-12 noise
    soc = blk[_SOC]
    cost = flows_cost(fleet, acq, paid, ch, dis)
    info = {"wall_s": time.perf_counter() - t0, "status": status, "objective": obj,
            "integer": integer, "workers": workers}
    if integer:
        info["lp_objective"] = lp_obj
    sched = FleetSchedule(acq, paid, spill, ch, dis, soc, cost, "milp" if integer else "lp", info)
    info["binaries_slack"] = binaries_slack(sched)
    return sched
