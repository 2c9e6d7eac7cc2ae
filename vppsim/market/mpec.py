"""Exact Stackelberg prices for the ``vpo_profit`` objective: the bi-level game as one MILP (MPEC).

The game (docs/design.md, "The bi-level game (paper 004)", ``market.objective: vpo_profit``)
---------------------------------------------------------------------------
The VPO (leader) chooses internal prices ``p = (c_sell, c_buy)`` in the box
``pi_exp[t] <= c_buy[t] <= c_sell[t] <= pi_imp[t]`` and maximizes its profit::

    Pi = dt * sum_t [ c_sell[t]*G[t] - c_buy[t]*E[t] + pi_exp[t]*x[t] - pi_imp[t]*m[t] ]
    G = sum_i g_i,  E = sum_i e_i,  E - G = x - m,  x, m >= 0      (no VPO storage)

while every VPP ``i`` (follower) answers with an optimal solution of its day-ahead LP
(:func:`vppsim.market.lower_level.build_vpp_lp`), written in HiGHS' general form::

    min  c_i(p) @ x_i + offset_i   s.t.  row_lo <= A_i x_i <= row_hi,  col_lo <= x_i <= col_hi.

The prices enter only the cost vector: ``c_i(p) = c0_i + P_i p`` with ``c0_i`` the cost vector at
zero prices and ``P_i`` putting ``dt*c_sell[t]`` on column ``g[t]`` and ``-dt*c_buy[t]`` on
column ``e[t]`` (checked numerically against ``build_vpp_lp`` when the model is built). Ties in
the lower level are broken in the leader's favour (optimistic bilevel): the MILP may pick any
optimal schedule of each VPP.

Optionally the VPO owns a battery (:class:`vppsim.market.vpo_storage.VpoStorageData`): its
charge ``ch_o``, discharge ``dis_o`` and energy ``soc_o`` are further *leader* decisions, the
balance becomes ``E - G + dis_o - ch_o = x - m`` and ``Pi`` gains
``- dt * lam_o * sum_t (ch_o[t] + dis_o[t])``. The battery touches neither the VPPs' problems
nor the prices, so it needs no KKT conditions: its columns and dynamics rows
(:func:`vppsim.market.vpo_storage.add_storage_block`) simply join the MILP below, and all
bounds derived for the followers stay valid.

KKT reformulation of each follower (general form)
-------------------------------------------------
Lagrangian duals, all on the *non-fixed, finite* bounds only::

    dual      constraint                 sign    complementarity
    y_r       equality row  a_r x = b    free    none
    alpha_r   a_r x >= row_lo            >= 0    alpha_r * (a_r x - row_lo) = 0
    beta_r    a_r x <= row_hi            >= 0    beta_r * (row_hi - a_r x) = 0
    zl_j      x_j >= col_lo              >= 0    zl_j * (x_j - col_lo) = 0
    zu_j      x_j <= col_hi              >= 0    zu_j * (col_hi - x_j) = 0
    zf_j      fixed x_j = col_lo         free    none

A ranged row ``lo < a x < hi`` with both bounds finite gets both ``alpha`` and ``beta``; an
infinite bound gets no dual (its dual is 0). Dual feasibility (stationarity of the
Lagrangian) per column ``j``::

    sum_r A[r, j] * (y_r + alpha_r - beta_r) + zl_j - zu_j + zf_j = c0_j + (P p)_j     (linear in p)

and the dual objective, linear in the duals because ``p`` appears only in ``c``::

    D_i = sum_eq b_r y_r + sum row_lo alpha - sum row_hi beta + sum col_lo zl - sum col_hi zu
          + sum_fixed col_lo zf.

Primal feasibility + dual feasibility + complementarity is necessary and sufficient for
optimality of an LP, so the KKT set of VPP ``i`` at prices ``p`` is exactly its optimal set (times
its optimal dual set). Each complementarity pair ``(s, d)`` (primal slack, dual) gets one binary
``u`` and two big-M rows: ``d <= M_d * u`` and ``s <= M_s * (1 - u)``. A column (row) with two
finite bounds cannot be at both, so its two binaries also satisfy ``u_lo + u_hi <= 1``.

Linearizing the leader's bilinear terms (strong duality)
---------------------------------------------------------
At a KKT point, strong duality holds: ``c_i(p) @ x_i = D_i``. Since
``c_i(p) @ x_i = c0_i @ x_i + dt * (c_sell @ g_i - c_buy @ e_i)``::

    dt * (c_sell @ g_i - c_buy @ e_i) = D_i - c0_i @ x_i              (linear!)

so the leader's objective is the linear function
``Pi = sum_i (D_i - c0_i @ x_i) + dt * sum_t (pi_exp*x - pi_imp*m)`` (with storage, minus
``dt * lam_o * sum_t (ch_o + dis_o)``, linear too). The VPP's cost at the MPEC
point is ``F_i = D_i + offset_i``; both identities are re-checked after the solve, by evaluating
the bilinear terms directly (:func:`vpo_profit`) and by re-solving every VPP at the returned
prices. The net position needs no binary: with ``pi_exp <= pi_imp`` the maximization itself
never imports and exports in the same period (if the two are equal it does not matter).

Optionally (``envelope_rows=True``) the relaxation is tightened with the McCormick
envelopes of ``w = c_sell[t]*g[t]`` and ``v = c_buy[t]*e[t]`` over the price box and the column
bounds, tied to the linear identity ``sum_t dt*(w - v) = D_i - c0_i @ x_i``. These rows are valid
at every KKT point (``w, v`` take the exact products there), so they only cut LP-relaxation
points. They are off by default: HiGHS' own cuts close the gap faster without them
(``MILP_OPTIONS``' comment has the figures).

Big-M values, and why they are valid
------------------------------------
*Primal slacks.* A column slack is at most its bound width ``col_hi - col_lo``. A column with an
infinite upper bound (``spill``: output nothing can absorb) gets an *implied* bound from an
equality row in which every other column is bounded: solving the balance row for ``spill`` gives
``spill[t] <= wind[t] + pv[t] + g_max + sum(battery p_max) + sum(generator output) +
sum(curtailable load)`` (``unmet <= load`` cancels the load), which every feasible point
satisfies. It is added as a column bound of the MILP (it does not change the follower's
feasible set, so it needs no dual). Row slacks are bounded by interval arithmetic on these column
bounds.

*Duals.* For every price ``p`` in the box, every optimal dual of VPP ``i`` lies in the polyhedron::

    R_i = { (p, duals) : p in box, stationarity holds, duals have their signs,
            D_i(duals) >= L_i(p) },

where ``L_i(p) <= v_i(p)`` is a lower bound on the follower's optimal value (without offset) for
every price of the box: an optimal dual has ``D_i = v_i(p)``. Two choices of ``L_i``:

- (``value_bound="extreme-prices"``, the default) ``v_i(c_sell = pi_exp, c_buy = pi_imp)``, a
  constant: ``v_i`` is nondecreasing in ``c_sell`` and nonincreasing in ``c_buy`` (``g, e >=
  0``), so this (outside the box, where buying low and selling high is allowed) is below ``v_i``
  on the whole box;
- (``value_bound="mccormick"``, tighter; its auxiliary LPs are larger: 4.1-4.8 s against 2.7 s
  on the 6-VPP day) the McCormick
  relaxation of the follower at ``p``: ``L_i(p) = min over
  feasible x and w, v above/below their McCormick envelopes`` of ``c0 @ x + dt*sum(w - v)``.
  The true products satisfy the envelopes, so ``L_i(p) <= v_i(p)``; the set
  ``{(p, D) : D >= L_i(p)}`` is a polyhedron (add ``x, w, v`` as variables of the auxiliary LP).

The big-M of each dual is then the maximum over ``R_i`` of the *difference* the dual takes in a
complementary solution: for column ``j`` an optimal dual never has ``zl_j > 0`` and ``zu_j > 0``
together (subtracting ``min(zl_j, zu_j)`` from both keeps stationarity and raises ``D_i`` by
``(col_hi - col_lo) * min > 0``), so ``zl_j = max(0, r_j)`` and ``zu_j = max(0, -r_j)`` with
``r_j = zl_j - zu_j``, and ``M(zl_j) = max_R r_j``, ``M(zu_j) = max_R (-r_j)``; the same for
ranged rows with ``alpha_r - beta_r``. Two auxiliary LPs per column (maximize and minimize
``r_j``), solved one after the other in one HiGHS instance (only the costs change, so primal
simplex starts from the previous optimal basis; every maximum first, then every minimum), give
all bounds; they also prove columns to be at a bound
(``min_R r_j > 0``: every optimum has ``x_j = col_lo``; ``max_R r_j < 0``: ``x_j = col_hi``),
which are then fixed with no binary, and duals that are always 0 (no binary either).
``R_i`` is bounded when the follower's feasible set has a point strictly inside every non-fixed
inequality (a generalized Slater condition; true for the shipped VPPs: ``unmet`` and ``spill``
give every balance row slack, batteries start strictly inside their energy window). If an
auxiliary LP is unbounded anyway, a fallback ``M`` is used and ``dual_bounds_certified`` is False.

Every bound is checked at the answer: ``MpecResult.max_dual_over_m`` (largest dual divided by its
big-M over all pairs with a binary; each ``M`` is a proven bound plus a margin of
``M_REL_MARGIN``/``M_ABS_MARGIN``, so the ratio stays below 1, and a value near
``1/(1 + M_REL_MARGIN)`` only says that the bound is attained, at a price of the box) and
``max_slack_over_m`` (the same for primal slacks; a column at its opposite bound legitimately
reaches 1 since its width is exact). ``dual_m_scale > 1`` re-solves with looser dual big-Ms as
a further check.

The MILP
--------
Columns: ``c_sell, c_buy`` (``2T``, in the box), grid export/import ``x, m`` (``2T``, ``>= 0``),
with VPO storage its ``ch_o, dis_o, soc_o`` (``3T``, in their bounds);
per VPP its primal ``x_i`` (the LP's bounds, the implied ``spill`` bound, columns proven at a
bound fixed), its duals ``[y, alpha, beta, zl, zu, zf]`` (sign-constrained duals bounded by their
big-M, 0 when proven 0), one binary per complementarity pair that is not settled by the
auxiliary LPs, and with ``envelope_rows`` the ``2T`` product variables ``w, v``. Rows:
``c_buy <= c_sell`` and ``E - G + dis_o - ch_o - x + m = 0`` (``T`` each; the storage
terms only with storage), the storage dynamics (``T`` rows, and ``soc_o[T-1] >= soc_start``
when asked); per VPP its primal rows, one stationarity row per column, two big-M rows per
binary, ``u_lo + u_hi <= 1`` per column or row with two binaries, and with ``envelope_rows``
``8T`` envelope rows and the strong-duality identity.
Objective: ``min -Pi`` as above (with the storage's operating cost). HiGHS' branch and cut
solves it with ``MILP_OPTIONS`` (no presolve, no restarts).

Redundant rows and the warm start
---------------------------------
Before the KKT system is written, every inequality side of the follower's LP that its own
column bounds already imply is removed (e.g. ``sum(segments) >= p_min`` with ``p_min = 0``, or a
ramp limit as wide as the unit): the feasible set, hence the optimal set at every price, is
unchanged, and the removed duals and binaries were only extra degeneracy.

HiGHS starts from a feasible MILP point (``start_prices``; default the tariff passed through):
at each starting price pair every follower's LP is solved alone, its optimal dual fixes the
binaries (``u = 1`` where the dual is positive, so its slack must be 0; any optimal dual is
complementary to every optimal primal, so the VPPs' own answers satisfy them), and the MILP
with prices and binaries fixed is solved as an LP, which breaks the ties for the leader within
those faces. The best such point is given to HiGHS (``setSolution``) as its first incumbent.
It prunes, it does not change the optimum.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import (
    VppDayAheadData,
    VppSchedule,
    build_vpp_lp,
    solve_vpp_day_ahead,
)
from vppsim.market.outcome import optimistic_profit
from vppsim.market.vpo_storage import VpoStorageData, add_storage_block, build_vpo_storage_lp
from vppsim.optimizers.highs import (
    INF,
    LinearProgram,
    LpBuilder,
    new_highs,
    pass_model,
    solve_lp,
)

#: A reduced cost whose sign is proven by the auxiliary LPs beyond this margin fixes the column.
PROOF_TOL = 1e-6
#: Relative and absolute safety margins added to every dual big-M from the auxiliary LPs.
M_REL_MARGIN = 1e-4
M_ABS_MARGIN = 1e-4
#: Dual big-M used when an auxiliary LP is unbounded (reported: ``dual_bounds_certified=False``).
FALLBACK_DUAL_M_FACTOR = 100.0
#: A follower's dual above this fixes its binary to 1 in a warm start (its slack must be 0).
WARM_DUAL_TOL = 1e-9
#: HiGHS options of the MPEC's branch and cut (besides time limit, gap and threads). Measured on
#: the shipped days (MILP alone, warm start, idle machine): HiGHS' defaults 49.7 s (6-VPP) and
#: 12.3 s (wide-spread 3-VPP); without restarts and presolve 24.5 s and 6.2 s; the 3-VPP day
#: 0.1 s either way. Restarts re-presolve the model after fixing columns at the root, three to
#: four times here, each time rebuilding the cut pool (those figures were taken with the envelope
#: rows of ``envelope_rows=True``, the default then). Without the envelope rows (the default,
#: ``envelope_rows=False``) the 6-VPP MILP takes 3.0-5.1 s over five HiGHS seeds instead of
#: 19-24 s: its LP bound is weaker (307.2 against 302.9 CNY) but one round of cuts takes it to
#: 274.40 (optimum 274.19) in about 4 s, while with the rows HiGHS' path-aggregation separator
#: spends about 5 s per round (84 % of the MILP's time, by a native profile) for less.
MILP_OPTIONS: dict[str, float | int | str | bool] = {"mip_allow_restart": False, "presolve": "off"}
#: The lower bounds ``L_i(p)`` the auxiliary bound LPs can use (module docstring, "Big-M values").
VALUE_BOUNDS = ("extreme-prices", "mccormick")
#: HiGHS options of the auxiliary bound LPs. Consecutive LPs differ only in their costs, so the
#: previous optimal basis stays primal feasible: primal simplex (strategy 4) solves the 4,524
#: LPs of the 6-VPP day in 3.3 s against 4.8 s with HiGHS' default (dual) simplex, and 2.7 s
#: with ``_DualRange``'s order (every maximum before every minimum) and sparse cost changes; the
#: same big-Ms to 1e-12 relative.
AUX_LP_OPTIONS: dict[str, float | int | str | bool] = {"simplex_strategy": 4}
#: Relative tolerance of the redundant-row test (a side implied by the column bounds).
REDUNDANT_ROW_TOL = 1e-12


@dataclass(frozen=True)
class MpecResult:
    """The exact leader optimum of the ``vpo_profit`` game (see the module docstring).

    Money in CNY, power in kW. ``objective_cny`` is ``Pi`` evaluated with :func:`vpo_profit` at
    the MILP's prices and schedules (the MILP's own linearized value is ``milp_objective_cny``).
    ``objective_resolved_cny`` is ``Pi`` with each VPP's schedule re-solved independently at the
    returned prices by :func:`solve_vpp_day_ahead`; it can only differ by the lower level's ties.
    ``vpp_regret_cny[i]`` is the MPEC schedule's cost minus the re-solved optimum (~0).
    ``objective_optimistic_cny`` is :func:`optimistic_profit` at the returned prices: ties broken
    for the leader by an LP over the VPPs' optimal faces; it equals ``objective_cny`` up to
    tolerances when the MILP is right.

    With VPO storage, ``vpo_charge_kw``, ``vpo_discharge_kw`` and ``vpo_soc_kwh`` (end of each
    period, length ``T``) are the MILP's storage schedule (None without storage); ``Pi``
    includes the storage's operating cost, ``objective_resolved_cny`` re-optimizes the storage
    for the re-solved VPPs' net position (:func:`vppsim.market.vpo_storage.build_vpo_storage_lp`)
    and ``objective_optimistic_cny`` optimizes it jointly with the ties.
    """

    status: str
    proven_optimal: bool
    objective_cny: float
    milp_objective_cny: float
    best_bound_cny: float
    mip_gap: float
    c_sell: np.ndarray
    c_buy: np.ndarray
    buy_kw: tuple[np.ndarray, ...]
    sell_kw: tuple[np.ndarray, ...]
    x: tuple[np.ndarray, ...]
    grid_import_kw: np.ndarray
    grid_export_kw: np.ndarray
    vpp_cost_cny: tuple[float, ...]
    vpp_cost_resolved_cny: tuple[float, ...]
    vpp_regret_cny: tuple[float, ...]
    objective_resolved_cny: float
    objective_optimistic_cny: float
    solve_time_s: float
    bounds_time_s: float
    n_binaries: int
    n_rows: int
    n_cols: int
    n_fixed_at_bound: int
    dual_bounds_certified: bool
    max_dual_over_m: float
    max_slack_over_m: float
    max_dual_m: float
    vpo_charge_kw: np.ndarray | None = None
    vpo_discharge_kw: np.ndarray | None = None
    vpo_soc_kwh: np.ndarray | None = None


def vpo_profit(
    c_sell: np.ndarray,
    c_buy: np.ndarray,
    g_list: Sequence[np.ndarray],
    e_list: Sequence[np.ndarray],
    pi_imp: np.ndarray,
    pi_exp: np.ndarray,
    dt: float,
    ch_o: np.ndarray | None = None,
    dis_o: np.ndarray | None = None,
    lam_o: float = 0.0,
) -> float:
    """The VPO's profit for given prices, VPP trades and (optionally) VPO storage, CNY.

    Parameters
    ----------
    c_sell, c_buy : np.ndarray
        Internal prices per period, CNY/kWh (VPPs buy at ``c_sell``, sell at ``c_buy``).
    g_list, e_list : sequence of np.ndarray
        Each VPP's purchases from / sales to the VPO per period, kW.
    pi_imp, pi_exp : np.ndarray
        Grid import / export prices per period, CNY/kWh.
    dt : float
        Period length, h.
    ch_o, dis_o : np.ndarray, optional
        The VPO battery's charge / discharge per period, kW (None: no storage, zeros).
    lam_o : float
        The VPO battery's operating cost per kWh charged or discharged, CNY/kWh.

    Returns
    -------
    float
        ``dt * sum_t [c_sell*G - c_buy*E + pi_exp*x - pi_imp*m - lam_o*(ch_o + dis_o)]`` with
        ``G = sum g``, ``E = sum e``, net position ``n = E - G + dis_o - ch_o``, export
        ``x = max(n, 0)`` and import ``m = max(-n, 0)``.
    """
    big_g = np.sum(np.asarray(g_list, float), axis=0)
    big_e = np.sum(np.asarray(e_list, float), axis=0)
    ch = np.zeros_like(big_g) if ch_o is None else np.asarray(ch_o, float)
    dis = np.zeros_like(big_g) if dis_o is None else np.asarray(dis_o, float)
    net = big_e - big_g + dis - ch
    x, m = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    return float(dt * np.sum(c_sell * big_g - c_buy * big_e + pi_exp * x - pi_imp * m
                             - lam_o * (ch + dis)))


def _storage_grid_value(storage: VpoStorageData, net_export_kw: np.ndarray, pi_imp: np.ndarray,
                        pi_exp: np.ndarray, dt: float) -> float:
    """``max dt*sum[pi_exp*x - pi_imp*m - lam_o*(ch + dis)]`` over the storage, CNY."""
    sol = solve_lp(build_vpo_storage_lp(storage, net_export_kw, pi_imp, pi_exp, dt))
    if not sol.optimal:
        raise RuntimeError(f"VPO storage LP not solved ({sol.status})")
    return -sol.objective


# ------------------------------------------------------------------------------- one follower's KKT


@dataclass
class _Follower:
    """One VPP's LP at zero prices with the index sets and bounds its KKT system needs."""

    data: VppDayAheadData
    lp: LinearProgram
    c0: np.ndarray
    price_map: sp.csr_matrix  # n x 2T: c(p) = c0 + price_map @ [c_sell, c_buy]
    col_hi: np.ndarray  # finite implied upper bounds (for big-Ms and the MILP's column bounds)
    col_lo: np.ndarray
    fixed: np.ndarray  # col_lo == col_hi in the LP
    has_lo: np.ndarray  # finite, non-fixed lower bound (a dual zl)
    has_hi: np.ndarray  # finite, non-fixed upper bound in the LP (a dual zu)
    eq_rows: np.ndarray
    lo_rows: np.ndarray  # finite lower bound of a non-equality row (a dual alpha)
    hi_rows: np.ndarray
    act_min: np.ndarray
    act_max: np.ndarray
    # filled by _dual_bounds
    m_zl: np.ndarray | None = None
    m_zu: np.ndarray | None = None
    m_al: np.ndarray | None = None
    m_be: np.ndarray | None = None
    at_lo: np.ndarray | None = None  # proven: every optimum has x_j = col_lo
    at_hi: np.ndarray | None = None
    certified: bool = True

    @property
    def n(self) -> int:
        return self.lp.a.shape[1]

    @property
    def m(self) -> int:
        return self.lp.a.shape[0]


def _price_map(d: VppDayAheadData, lp: LinearProgram) -> sp.csr_matrix:
    T, dt = d.n_periods, d.dt_h
    g, e = lp.names["g"], lp.names["e"]
    rows = np.concatenate([g, e])
    cols = np.concatenate([np.arange(T), T + np.arange(T)])
    vals = np.concatenate([np.full(T, dt), np.full(T, -dt)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(lp.a.shape[1], 2 * T))


def _implied_upper_bounds(lp: LinearProgram) -> np.ndarray:
    """Finite upper bounds for columns whose LP bound is infinite, from equality rows.

    For an equality row ``sum_k a_k x_k = b`` in which column ``j`` is the only unbounded one,
    ``a_j x_j = b - sum_{k != j} a_k x_k`` is bounded by interval arithmetic; every feasible
    point satisfies it.
    """
    a = lp.a.tocsr()
    lo, hi = lp.col_lo.copy(), lp.col_hi.copy()
    for _ in range(3):
        changed = False
        for r in np.flatnonzero(lp.row_lo == lp.row_hi):
            idx = a.indices[a.indptr[r]:a.indptr[r + 1]]
            val = a.data[a.indptr[r]:a.indptr[r + 1]]
            for pos, j in enumerate(idx):
                if np.isfinite(hi[j]):
                    continue
                others = np.arange(len(idx)) != pos
                oi, ov = idx[others], val[others]
                # max of (b - sum a_k x_k) / a_j
                if val[pos] > 0:
                    terms = np.where(ov > 0, -ov * lo[oi], -ov * hi[oi])
                    bound = (lp.row_lo[r] + terms.sum()) / val[pos]
                else:
                    terms = np.where(ov > 0, ov * hi[oi], ov * lo[oi])
                    bound = (terms.sum() - lp.row_lo[r]) / -val[pos]
                if np.isfinite(bound):
                    hi[j] = bound
                    changed = True
        if not changed:
            break
    if not np.all(np.isfinite(hi)):
        raise ValueError("a column of the VPP LP has no finite (implied) upper bound")
    if not np.all(np.isfinite(lo)):
        raise ValueError("a column of the VPP LP has no finite lower bound")
    return hi


def _drop_redundant_rows(lp: LinearProgram) -> LinearProgram:
    """The LP without the inequality sides its column bounds already imply (same feasible set).

    A side ``a x >= lo`` with ``min over the column box of a x >= lo`` (or ``a x <= hi`` with the
    maximum ``<= hi``) can never bind: it is made infinite, and a row left with two infinite
    sides is dropped. Equality rows stay. Only the LP's own (finite or infinite) column bounds
    are used, so the implied ``spill`` bounds, which come from rows, play no part.
    """
    a = lp.a.tocsr()
    pos, neg = a.maximum(0), a.minimum(0)
    with np.errstate(invalid="ignore"):
        act_min = np.asarray(pos @ lp.col_lo + neg @ lp.col_hi).ravel()
        act_max = np.asarray(pos @ lp.col_hi + neg @ lp.col_lo).ravel()
    tol = REDUNDANT_ROW_TOL * (1.0 + np.abs(lp.row_lo))
    ineq = lp.row_lo < lp.row_hi
    row_lo = np.where(ineq & (act_min >= lp.row_lo - tol), -INF, lp.row_lo)
    tol = REDUNDANT_ROW_TOL * (1.0 + np.abs(lp.row_hi))
    row_hi = np.where(ineq & (act_max <= lp.row_hi + tol), INF, lp.row_hi)
    keep = np.isfinite(row_lo) | np.isfinite(row_hi)
    return dataclasses.replace(lp, a=sp.csc_matrix(a[keep]), row_lo=row_lo[keep],
                               row_hi=row_hi[keep])


def _follower(d: VppDayAheadData) -> _Follower:
    T = d.n_periods
    lp = _drop_redundant_rows(build_vpp_lp(d, np.zeros(T), np.zeros(T)))
    pm = _price_map(d, lp)
    rng = np.random.default_rng(0)
    probe = rng.uniform(0.1, 2.0, 2 * T)
    c_probe = build_vpp_lp(d, probe[:T], probe[T:]).c
    if not np.allclose(c_probe, lp.c + pm @ probe, rtol=0, atol=1e-12):
        raise AssertionError("prices enter build_vpp_lp's costs other than on g and e")
    col_hi = _implied_upper_bounds(lp)
    fixed = lp.col_lo == lp.col_hi
    has_lo = ~fixed & np.isfinite(lp.col_lo)
    has_hi = ~fixed & np.isfinite(lp.col_hi)
    eq_rows = lp.row_lo == lp.row_hi
    lo_rows = ~eq_rows & np.isfinite(lp.row_lo)
    hi_rows = ~eq_rows & np.isfinite(lp.row_hi)
    a = lp.a.tocsr()
    pos, neg = a.maximum(0), a.minimum(0)
    act_max = pos @ col_hi + neg @ lp.col_lo
    act_min = pos @ lp.col_lo + neg @ col_hi
    return _Follower(d, lp, lp.c.copy(), pm, col_hi, lp.col_lo.copy(), fixed, has_lo, has_hi,
                     eq_rows, lo_rows, hi_rows, np.asarray(act_min).ravel(),
                     np.asarray(act_max).ravel())


@dataclass
class _DualLayout:
    """Column offsets of a follower's duals inside a vector ``[y, alpha, beta, zl, zu, zf]``."""

    eq: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    cl: np.ndarray
    cu: np.ndarray
    cf: np.ndarray
    size: int
    stationarity: sp.csc_matrix  # n x size
    dual_obj: np.ndarray  # size
    lower: np.ndarray
    upper: np.ndarray


def _dual_layout(f: _Follower) -> _DualLayout:
    lp = f.lp
    eq, lo, hi = (np.flatnonzero(f.eq_rows), np.flatnonzero(f.lo_rows), np.flatnonzero(f.hi_rows))
    cl, cu, cf = np.flatnonzero(f.has_lo), np.flatnonzero(f.has_hi), np.flatnonzero(f.fixed)
    at = lp.a.tocsc()
    blocks = [
        at[eq].T, at[lo].T, -at[hi].T,
        sp.identity(f.n, format="csc")[:, cl], -sp.identity(f.n, format="csc")[:, cu],
        sp.identity(f.n, format="csc")[:, cf],
    ]
    dual_obj = np.concatenate([lp.row_lo[eq], lp.row_lo[lo], -lp.row_hi[hi], lp.col_lo[cl],
                               -lp.col_hi[cu], lp.col_lo[cf]])
    sizes = np.cumsum([0, len(eq), len(lo), len(hi), len(cl), len(cu), len(cf)])
    free = np.concatenate([np.full(len(eq), -INF), np.zeros(sizes[5] - sizes[1]),
                           np.full(len(cf), -INF)])
    return _DualLayout(
        eq=np.arange(sizes[0], sizes[1]), lo=np.arange(sizes[1], sizes[2]),
        hi=np.arange(sizes[2], sizes[3]), cl=np.arange(sizes[3], sizes[4]),
        cu=np.arange(sizes[4], sizes[5]), cf=np.arange(sizes[5], sizes[6]), size=int(sizes[6]),
        stationarity=sp.hstack(blocks, format="csc"), dual_obj=dual_obj, lower=free,
        upper=np.full(int(sizes[6]), INF),
    )


def _mccormick_rows(b: LpBuilder, price: int, qty: int, w: int, p_lo: float, p_hi: float,
                    q_lo: float, q_hi: float) -> None:
    """Rows of the McCormick envelope of ``w = price * qty`` over the box."""
    # w >= p_lo q + p q_lo - p_lo q_lo ; w >= p_hi q + p q_hi - p_hi q_hi
    b.add_row([w, qty, price], [1.0, -p_lo, -q_lo], -p_lo * q_lo, INF)
    b.add_row([w, qty, price], [1.0, -p_hi, -q_hi], -p_hi * q_hi, INF)
    # w <= p_hi q + p q_lo - p_hi q_lo ; w <= p_lo q + p q_hi - p_lo q_hi
    b.add_row([w, qty, price], [1.0, -p_hi, -q_lo], -INF, -p_hi * q_lo)
    b.add_row([w, qty, price], [1.0, -p_lo, -q_hi], -INF, -p_lo * q_hi)


def _add_stationarity_rows(b: LpBuilder, f: _Follower, lay: _DualLayout, lam: np.ndarray,
                           p_idx: np.ndarray) -> None:
    """Dual feasibility ``A^T(y + alpha - beta) + zl - zu + zf - P p = c0``, one row per column."""
    st = lay.stationarity.tocsr()
    pm = f.price_map.tocsr()
    for j in range(f.n):
        cols = np.concatenate([lam[st.indices[st.indptr[j]:st.indptr[j + 1]]],
                               p_idx[pm.indices[pm.indptr[j]:pm.indptr[j + 1]]]])
        vals = np.concatenate([st.data[st.indptr[j]:st.indptr[j + 1]],
                               -pm.data[pm.indptr[j]:pm.indptr[j + 1]]])
        b.add_row(cols, vals, f.c0[j], f.c0[j])


def _aux_dual_lp(f: _Follower, lay: _DualLayout, pi_imp: np.ndarray, pi_exp: np.ndarray,
                 value_bound: str) -> tuple[LinearProgram, np.ndarray]:
    """The auxiliary LP over ``R_i`` (module docstring) and the columns of the duals in it.

    Columns: the duals ``[y, alpha, beta, zl, zu, zf]`` with their signs, the prices in the box;
    rows: stationarity, ``c_buy <= c_sell`` and ``D_i >= L_i(p)`` (the McCormick relaxation of
    the follower with ``value_bound="mccormick"``, else its value at the extreme prices).
    """
    lp, T, dt = f.lp, f.data.n_periods, f.data.dt_h
    b = LpBuilder()
    lam = b.add_var("lam", lay.size, lay.lower, lay.upper)
    cs = b.add_var("c_sell", T, pi_exp, pi_imp)
    cb = b.add_var("c_buy", T, pi_exp, pi_imp)
    p_idx = np.concatenate([cs, cb])
    _add_stationarity_rows(b, f, lay, lam, p_idx)
    for t in range(T):
        b.add_row([cb[t], cs[t]], [1.0, -1.0], -INF, 0.0)
    nz = np.flatnonzero(lay.dual_obj)
    if value_bound == "mccormick":
        # D >= c0 @ x + dt * sum(w - v), x feasible, w/v within the McCormick envelopes.
        x = b.add_var("x", f.n, f.col_lo, f.col_hi)
        b.add_rows_from(lp, x)
        w = b.add_var("w", T, -INF, INF)
        v = b.add_var("v", T, -INF, INF)
        g, e = lp.names["g"], lp.names["e"]
        for t in range(T):
            _mccormick_rows(b, cs[t], x[g[t]], w[t], pi_exp[t], pi_imp[t], f.col_lo[g[t]],
                            f.col_hi[g[t]])
            _mccormick_rows(b, cb[t], x[e[t]], v[t], pi_exp[t], pi_imp[t], f.col_lo[e[t]],
                            f.col_hi[e[t]])
        b.add_row(np.concatenate([lam[nz], x, w, v]),
                  np.concatenate([lay.dual_obj[nz], -f.c0, -dt * np.ones(T), dt * np.ones(T)]),
                  0.0, INF)
    else:
        v_min = _value_at_extreme_prices(f.data, pi_imp, pi_exp)
        b.add_row(lam[nz], lay.dual_obj[nz], v_min - 1e-6 * (1.0 + abs(v_min)), INF)
    return b.build(), lam


def _value_at_extreme_prices(d: VppDayAheadData, pi_imp: np.ndarray, pi_exp: np.ndarray) -> float:
    """``v_i(c_sell = pi_exp, c_buy = pi_imp)`` without offset: below ``v_i`` on the whole box."""
    low = build_vpp_lp(d, pi_exp, pi_imp)
    h = new_highs()
    pass_model(h, low)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"{d.name}: LP at the extreme prices not solved")
    return h.getInfo().objective_function_value - low.offset


class _DualRange:
    """Maxima of linear functions of one follower's duals over ``R_i`` (one hot-started HiGHS).

    An unbounded maximum returns ``fallback`` and clears ``certified``.
    """

    def __init__(self, name: str, aux: LinearProgram, lam: np.ndarray, fallback: float) -> None:
        self.name = name
        self.lam = lam
        self.fallback = fallback
        self.certified = True
        self.h = new_highs()
        for key, value in AUX_LP_OPTIONS.items():
            self.h.setOptionValue(key, value)
        pass_model(self.h, aux)
        self.costed = np.zeros(0, dtype=np.int32)  # the columns with a nonzero cost now

    def maximize(self, cols: list[int], vals: list[float]) -> float:
        """``max sum(vals * z[cols])`` over ``R_i`` (``cols``: columns of the auxiliary LP)."""
        h = self.h
        new = np.asarray(cols, dtype=np.int32)
        touched = np.union1d(self.costed, new).astype(np.int32)
        cost = np.zeros(len(touched))
        cost[np.searchsorted(touched, new)] = -np.asarray(vals, float)
        h.changeColsCost(len(touched), touched, cost)
        self.costed = new
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return -float(h.getInfo().objective_function_value)
        if status in (highspy.HighsModelStatus.kUnbounded,
                      highspy.HighsModelStatus.kUnboundedOrInfeasible):
            self.certified = False
            return self.fallback
        raise RuntimeError(f"{self.name}: auxiliary dual-bound LP: {h.modelStatusToString(status)}")

    def difference_ranges(self, pairs: Sequence[tuple[int | None, int | None]],
                          need_up: np.ndarray | None = None, need_down: np.ndarray | None = None,
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Max of ``r = lo - hi`` and of ``-r`` for each pair of dual positions (None: absent).

        Each is taken only where ``need_up`` / ``need_down`` (default: everywhere; elsewhere
        ``-inf``). All maxima of ``r`` come first, then those of ``-r``: consecutive LPs then
        differ in which dual they push, not in the direction, so each starts near its optimum.
        """
        return self._maxima(pairs, 1.0, need_up), self._maxima(pairs, -1.0, need_down)

    def _maxima(self, pairs: Sequence[tuple[int | None, int | None]], sign: float,
                need: np.ndarray | None) -> np.ndarray:
        """``max sign * (lo - hi)`` for each pair where ``need`` (elsewhere ``-inf``)."""
        out = np.full(len(pairs), -INF)
        for k, (lo_pos, hi_pos) in enumerate(pairs):
            if need is not None and not need[k]:
                continue
            cols, vals = [], []
            if lo_pos is not None:
                cols.append(int(self.lam[lo_pos]))
                vals.append(sign)
            if hi_pos is not None:
                cols.append(int(self.lam[hi_pos]))
                vals.append(-sign)
            out[k] = self.maximize(cols, vals)
        return out


def _column_dual_bounds(
    f: _Follower, lay: _DualLayout, dual_range: _DualRange,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bounds of ``zl``, ``zu`` per column, and the columns proven at their lower / upper bound.

    With ``r_j = zl_j - zu_j``: ``max r_j`` bounds ``zl_j``, ``max(-r_j)`` bounds ``zu_j``;
    ``max(-r_j) < 0`` (every optimal reduced cost positive) proves ``x_j = col_lo`` at every
    optimum, ``max r_j < 0`` proves ``x_j = col_hi``.
    """
    m_zl, m_zu = np.zeros(f.n), np.zeros(f.n)
    at_lo, at_hi = np.zeros(f.n, bool), np.zeros(f.n, bool)
    cl_pos = dict(zip(np.flatnonzero(f.has_lo), lay.cl, strict=True))
    cu_pos = dict(zip(np.flatnonzero(f.has_hi), lay.cu, strict=True))
    cols = np.flatnonzero(f.has_lo | f.has_hi)
    up, down = dual_range.difference_ranges([(cl_pos.get(j), cu_pos.get(j)) for j in cols])
    at_lo[cols] = down < -PROOF_TOL
    at_hi[cols] = ~at_lo[cols] & (up < -PROOF_TOL)
    m_zl[cols] = np.where(f.has_lo[cols], np.maximum(up, 0.0), 0.0)
    m_zu[cols] = np.where(f.has_hi[cols], np.maximum(down, 0.0), 0.0)
    return m_zl, m_zu, at_lo, at_hi


def _row_dual_bounds(f: _Follower, lay: _DualLayout,
                     dual_range: _DualRange) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``alpha``, ``beta`` per row (the maxima of ``alpha - beta`` and its negative)."""
    m_al, m_be = np.zeros(f.m), np.zeros(f.m)
    lo_pos_r = dict(zip(np.flatnonzero(f.lo_rows), lay.lo, strict=True))
    hi_pos_r = dict(zip(np.flatnonzero(f.hi_rows), lay.hi, strict=True))
    rows = np.flatnonzero(f.lo_rows | f.hi_rows)
    up, down = dual_range.difference_ranges([(lo_pos_r.get(r), hi_pos_r.get(r)) for r in rows],
                                            f.lo_rows[rows], f.hi_rows[rows])
    m_al[rows] = np.where(f.lo_rows[rows], np.maximum(up, 0.0), 0.0)
    m_be[rows] = np.where(f.hi_rows[rows], np.maximum(down, 0.0), 0.0)
    return m_al, m_be


def _with_margin(m: np.ndarray) -> np.ndarray:
    """A proven bound plus the safety margins; 0 where the dual is proven 0."""
    return np.where(m > PROOF_TOL, m * (1.0 + M_REL_MARGIN) + M_ABS_MARGIN, 0.0)


def _dual_bounds(f: _Follower, pi_imp: np.ndarray, pi_exp: np.ndarray, value_bound: str) -> None:
    """Big-Ms of every sign-constrained dual from auxiliary LPs over ``R_i`` (module docstring).

    Fills ``f.m_zl``, ``f.m_zu``, ``f.m_al``, ``f.m_be`` (with margins), ``f.at_lo``,
    ``f.at_hi`` and ``f.certified``.
    """
    d, dt = f.data, f.data.dt_h
    lay = _dual_layout(f)
    aux, lam = _aux_dual_lp(f, lay, pi_imp, pi_exp, value_bound)
    fallback = FALLBACK_DUAL_M_FACTOR * (d.voll_cny_per_kwh * dt + float(np.max(np.abs(f.c0)))
                                         + float(np.max(pi_imp)) * dt)
    dual_range = _DualRange(d.name, aux, lam, fallback)
    m_zl, m_zu, at_lo, at_hi = _column_dual_bounds(f, lay, dual_range)
    m_al, m_be = _row_dual_bounds(f, lay, dual_range)
    f.m_zl, f.m_zu = _with_margin(m_zl), _with_margin(m_zu)
    f.m_al, f.m_be = _with_margin(m_al), _with_margin(m_be)
    f.at_lo, f.at_hi = at_lo, at_hi
    if not dual_range.certified:
        f.certified = False


# ------------------------------------------------------------------------------------------ the MILP


@dataclass
class _Blocks:
    """MILP column indices of one follower."""

    x: np.ndarray
    lam: np.ndarray
    lay: _DualLayout
    pairs: list[tuple[int, int, float, float, int]]  # (dual col, binary col, M_d, M_s, slack id)
    slack_rows: list[tuple[np.ndarray, np.ndarray, float]]  # slack = vals @ sol[cols] + const


def _add_follower(b: LpBuilder, i: int, f: _Follower, p_idx: np.ndarray, pi_imp: np.ndarray,
                  pi_exp: np.ndarray, envelope_rows: bool) -> _Blocks:
    lp, T, dt = f.lp, f.data.n_periods, f.data.dt_h
    lay = _dual_layout(f)
    x_lo, x_hi = f.col_lo.copy(), f.col_hi.copy()
    x_hi[f.at_lo] = x_lo[f.at_lo]
    x_lo[f.at_hi] = x_hi[f.at_hi]
    # Objective: minimize -Pi = -(D - c0 @ x) - ...
    x = b.add_var(f"x{i}", f.n, x_lo, x_hi, f.c0)
    lam_lo, lam_hi = lay.lower.copy(), lay.upper.copy()
    lam_hi[lay.cl] = f.m_zl[f.has_lo]
    lam_hi[lay.cu] = f.m_zu[f.has_hi]
    lam_hi[lay.lo] = f.m_al[f.lo_rows]
    lam_hi[lay.hi] = f.m_be[f.hi_rows]
    lam = b.add_var(f"lam{i}", lay.size, lam_lo, lam_hi, -lay.dual_obj)
    b.add_rows_from(lp, x)
    a = lp.a.tocsr()  # the complementarity rows below read the row slacks from it
    _add_stationarity_rows(b, f, lay, lam, p_idx)
    pairs: list[tuple[int, int, float, float, int]] = []
    slack_rows: list[tuple[np.ndarray, np.ndarray, float]] = []

    def pair(dual_col: int, m_d: float, s_cols: np.ndarray, s_vals: np.ndarray, s_const: float,
             m_s: float, name: str) -> int | None:
        """Complementarity of a dual (bounded by m_d) and a slack (bounded by m_s)."""
        if m_d <= 0.0 or m_s <= PROOF_TOL:
            return None  # dual fixed at 0 by its bound, or slack always 0: nothing to enforce
        u = int(b.add_var(f"u{i}_{name}", 1, 0.0, 1.0, 0.0, integer=True)[0])
        b.add_row([dual_col, u], [1.0, -m_d], -INF, 0.0)
        # slack <= m_s (1 - u):  s_vals @ x + s_const + m_s u <= m_s
        b.add_row(np.append(s_cols, u), np.append(s_vals, m_s), -INF, m_s - s_const)
        slack_rows.append((s_cols, s_vals, s_const))
        pairs.append((dual_col, u, m_d, m_s, len(slack_rows) - 1))
        return u

    for k, j in enumerate(np.flatnonzero(f.has_lo)):
        if f.at_lo[j]:
            continue  # x_j fixed at col_lo: complementarity holds
        ul = pair(lam[lay.cl[k]], f.m_zl[j], np.array([x[j]]), np.array([1.0]), -f.col_lo[j],
                  x_hi[j] - x_lo[j], f"zl{j}")
        if f.has_hi[j] and not f.at_hi[j]:
            ku = int(np.searchsorted(np.flatnonzero(f.has_hi), j))
            uu = pair(lam[lay.cu[ku]], f.m_zu[j], np.array([x[j]]), np.array([-1.0]), f.col_hi[j],
                      x_hi[j] - x_lo[j], f"zu{j}")
            if ul is not None and uu is not None:
                b.add_row([ul, uu], [1.0, 1.0], -INF, 1.0)
    for k, j in enumerate(np.flatnonzero(f.has_hi)):
        if f.has_lo[j] or f.at_lo[j] or f.at_hi[j]:
            continue
        pair(lam[lay.cu[k]], f.m_zu[j], np.array([x[j]]), np.array([-1.0]), f.col_hi[j],
             x_hi[j] - x_lo[j], f"zu{j}")
    hi_list = np.flatnonzero(f.hi_rows)
    for k, r in enumerate(np.flatnonzero(f.lo_rows)):
        cols = x[a.indices[a.indptr[r]:a.indptr[r + 1]]]
        vals = a.data[a.indptr[r]:a.indptr[r + 1]]
        ul = pair(lam[lay.lo[k]], f.m_al[r], cols, vals, -lp.row_lo[r],
                  f.act_max[r] - lp.row_lo[r], f"al{r}")
        if f.hi_rows[r]:
            ku = int(np.searchsorted(hi_list, r))
            uu = pair(lam[lay.hi[ku]], f.m_be[r], cols, -vals, lp.row_hi[r],
                      lp.row_hi[r] - f.act_min[r], f"be{r}")
            if ul is not None and uu is not None:
                b.add_row([ul, uu], [1.0, 1.0], -INF, 1.0)
    for k, r in enumerate(hi_list):
        if f.lo_rows[r]:
            continue
        cols = x[a.indices[a.indptr[r]:a.indptr[r + 1]]]
        vals = a.data[a.indptr[r]:a.indptr[r + 1]]
        pair(lam[lay.hi[k]], f.m_be[r], cols, -vals, lp.row_hi[r],
             lp.row_hi[r] - f.act_min[r], f"be{r}")
    if envelope_rows:
        g, e = lp.names["g"], lp.names["e"]
        w = b.add_var(f"w{i}", T, -INF, INF)
        v = b.add_var(f"v{i}", T, -INF, INF)
        for t in range(T):
            _mccormick_rows(b, p_idx[t], x[g[t]], w[t], pi_exp[t], pi_imp[t], x_lo[g[t]], x_hi[g[t]])
            _mccormick_rows(b, p_idx[T + t], x[e[t]], v[t], pi_exp[t], pi_imp[t], x_lo[e[t]],
                            x_hi[e[t]])
        nz = np.flatnonzero(lay.dual_obj)
        # D - c0 @ x - dt * sum(w - v) = 0
        b.add_row(np.concatenate([lam[nz], x, w, v]),
                  np.concatenate([lay.dual_obj[nz], -f.c0, -dt * np.ones(T), dt * np.ones(T)]),
                  0.0, 0.0)
    return _Blocks(x, lam, lay, pairs, slack_rows)


@dataclass(frozen=True)
class _MilpColumns:
    """MILP column indices of the leader's decisions and of every follower."""

    c_sell: np.ndarray
    c_buy: np.ndarray
    blocks: list[_Blocks]
    export: np.ndarray
    imports: np.ndarray
    storage: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # (ch_o, dis_o, soc_o)


@dataclass(frozen=True)
class _MilpAnswer:
    """What HiGHS returned for the MILP (objective and bound as the leader's profit, CNY)."""

    status: str
    proven_optimal: bool
    sol: np.ndarray
    milp_objective_cny: float
    best_bound_cny: float
    mip_gap: float
    solve_time_s: float


def _bounded_followers(market: DayAheadMarket, value_bound: str,
                       dual_m_scale: float, threads: int = 1) -> list[_Follower]:
    """Every VPP's KKT data with its dual big-Ms (scaled by ``dual_m_scale``).

    With ``threads > 1`` the VPPs' auxiliary LPs run in that many threads (HiGHS releases the
    GIL while it solves); each VPP's bounds depend on its own data only, so the result is the
    same.
    """
    followers = [_follower(d) for d in market.vpps]

    def bound(f: _Follower) -> None:
        _dual_bounds(f, market.pi_imp, market.pi_exp, value_bound)

    if threads > 1 and len(followers) > 1:
        with ThreadPoolExecutor(min(threads, len(followers))) as pool:
            list(pool.map(bound, followers))
    else:
        for f in followers:
            bound(f)
    for f in followers:
        f.m_zl, f.m_zu = f.m_zl * dual_m_scale, f.m_zu * dual_m_scale
        f.m_al, f.m_be = f.m_al * dual_m_scale, f.m_be * dual_m_scale
    return followers


def _build_milp(market: DayAheadMarket, followers: Sequence[_Follower],
                envelope_rows: bool) -> tuple[LinearProgram, _MilpColumns]:
    """The MPEC as one MILP (module docstring, "The MILP"); objective ``min -Pi``."""
    T, dt = market.n_periods, market.dt_h
    pi_imp, pi_exp, storage = market.pi_imp, market.pi_exp, market.storage
    b = LpBuilder()
    cs = b.add_var("c_sell", T, pi_exp, pi_imp)
    cb = b.add_var("c_buy", T, pi_exp, pi_imp)
    p_idx = np.concatenate([cs, cb])
    for t in range(T):
        b.add_row([cb[t], cs[t]], [1.0, -1.0], -INF, 0.0)
    blocks = [_add_follower(b, i, f, p_idx, pi_imp, pi_exp, envelope_rows)
              for i, f in enumerate(followers)]
    xg = b.add_var("export", T, 0.0, INF, -dt * pi_exp)
    mg = b.add_var("import", T, 0.0, INF, dt * pi_imp)
    st_cols = add_storage_block(b, storage, T, dt) if storage is not None else None
    for t in range(T):
        cols, vals = [int(xg[t]), int(mg[t])], [-1.0, 1.0]
        for f, blk in zip(followers, blocks, strict=True):
            cols += [int(blk.x[f.lp.names["e"][t]]), int(blk.x[f.lp.names["g"][t]])]
            vals += [1.0, -1.0]
        if st_cols is not None:
            ch_o, dis_o, _ = st_cols
            cols += [int(dis_o[t]), int(ch_o[t])]
            vals += [1.0, -1.0]
        b.add_row(cols, vals, 0.0, 0.0)  # E - G + dis_o - ch_o - x + m = 0
    return b.build(), _MilpColumns(cs, cb, blocks, xg, mg, st_cols)


def _solve_milp(milp: LinearProgram, time_limit_s: float, mip_rel_gap: float,
                threads: int, start: np.ndarray | None = None) -> _MilpAnswer:
    """Run HiGHS' branch and cut on the MILP from ``start`` (if given).

    Raises if HiGHS found no feasible point.
    """
    h = new_highs(threads)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    for key, value in MILP_OPTIONS.items():
        h.setOptionValue(key, value)
    pass_model(h, milp)
    if start is not None:
        warm = highspy.HighsSolution()
        warm.col_value = list(start)
        warm.value_valid = True
        h.setSolution(warm)
    t1 = time.perf_counter()
    h.run()
    solve_time = time.perf_counter() - t1
    status = h.getModelStatus()
    text = h.modelStatusToString(status)
    info = h.getInfo()
    if info.primal_solution_status != 2:  # no feasible point
        raise RuntimeError(f"MPEC: no feasible solution found ({text})")
    return _MilpAnswer(
        status=text,
        proven_optimal=status == highspy.HighsModelStatus.kOptimal,
        sol=np.asarray(h.getSolution().col_value),
        milp_objective_cny=-float(info.objective_function_value),
        best_bound_cny=-float(info.mip_dual_bound),
        mip_gap=float(info.mip_gap),
        solve_time_s=solve_time,
    )


def _follower_duals(f: _Follower, lay: _DualLayout, c_sell: np.ndarray,
                    c_buy: np.ndarray) -> np.ndarray | None:
    """One optimal dual ``[y, alpha, beta, zl, zu, zf]`` of the follower's LP at given prices.

    HiGHS' row duals ``y`` and reduced costs ``z = c - A^T y`` (minimization) split by sign into
    the layout's duals; None if HiGHS does not solve the LP.
    """
    lp = f.lp
    c = f.c0 + f.price_map @ np.concatenate([c_sell, c_buy])
    h = new_highs()
    pass_model(h, dataclasses.replace(lp, c=c))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    y, z = np.asarray(sol.row_dual), np.asarray(sol.col_dual)
    lam = np.zeros(lay.size)
    lam[lay.eq] = y[f.eq_rows]
    lam[lay.lo] = np.maximum(y[f.lo_rows], 0.0)
    lam[lay.hi] = np.maximum(-y[f.hi_rows], 0.0)
    lam[lay.cl] = np.maximum(z[f.has_lo], 0.0)
    lam[lay.cu] = np.maximum(-z[f.has_hi], 0.0)
    lam[lay.cf] = z[f.fixed]
    return lam


def _warm_point(milp: LinearProgram, cols: _MilpColumns, followers: Sequence[_Follower],
                c_sell: np.ndarray, c_buy: np.ndarray) -> tuple[float, np.ndarray] | None:
    """A feasible MILP point at the given prices, or None (module docstring, "the warm start").

    Every follower's optimal dual at these prices fixes the binaries (``u = 1`` where the dual
    is positive: its slack must be 0); the MILP with the prices and binaries fixed is then an LP
    whose optimum breaks the followers' ties for the leader within those faces.
    """
    lo, hi = milp.col_lo.copy(), milp.col_hi.copy()
    lo[cols.c_sell] = hi[cols.c_sell] = c_sell
    lo[cols.c_buy] = hi[cols.c_buy] = c_buy
    for f, blk in zip(followers, cols.blocks, strict=True):
        lam = _follower_duals(f, blk.lay, c_sell, c_buy)
        if lam is None:
            return None
        for dual_col, u, _m_d, _m_s, _k in blk.pairs:
            pos = int(np.searchsorted(blk.lam, dual_col))
            lo[u] = hi[u] = 1.0 if lam[pos] > WARM_DUAL_TOL else 0.0
    lp = dataclasses.replace(milp, col_lo=lo, col_hi=hi, integer=np.zeros_like(milp.integer))
    h = new_highs()
    pass_model(h, lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return -float(h.getInfo().objective_function_value), np.asarray(h.getSolution().col_value)


def _warm_start(milp: LinearProgram, cols: _MilpColumns, followers: Sequence[_Follower],
                start_prices: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """The best feasible MILP point over the starting price pairs (None if none is feasible)."""
    best: tuple[float, np.ndarray] | None = None
    for c_sell, c_buy in start_prices:
        point = _warm_point(milp, cols, followers, np.asarray(c_sell, float),
                            np.asarray(c_buy, float))
        if point is not None and (best is None or point[0] > best[0]):
            best = point
    return None if best is None else best[1]


def _resolved_profit(market: DayAheadMarket, c_sell: np.ndarray, c_buy: np.ndarray,
                     resolved: Sequence[VppSchedule]) -> float:
    """``Pi`` with every VPP re-solved alone; the leader re-optimizes its storage, if any."""
    pi_imp, pi_exp, dt, storage = market.pi_imp, market.pi_exp, market.dt_h, market.storage
    g_res, e_res = [s.buy_kw for s in resolved], [s.sell_kw for s in resolved]
    if storage is None:
        return vpo_profit(c_sell, c_buy, g_res, e_res, pi_imp, pi_exp, dt)
    big_g, big_e = np.sum(g_res, axis=0), np.sum(e_res, axis=0)
    return (float(dt * np.sum(c_sell * big_g - c_buy * big_e))
            + _storage_grid_value(storage, big_e - big_g, pi_imp, pi_exp, dt))


def _big_m_ratios(blocks: Sequence[_Blocks], sol: np.ndarray) -> tuple[float, float, float]:
    """Largest dual / its big-M, largest primal slack / its big-M, and the largest dual big-M."""
    dual_ratio, slack_ratio, max_m = 0.0, 0.0, 0.0
    for blk in blocks:
        for dual_col, _u, m_d, m_s, k in blk.pairs:
            cols, vals, const = blk.slack_rows[k]
            dual_ratio = max(dual_ratio, sol[dual_col] / m_d)
            slack_ratio = max(slack_ratio, float(vals @ sol[cols] + const) / m_s)
            max_m = max(max_m, m_d)
    return float(dual_ratio), float(slack_ratio), float(max_m)


def _mpec_result(market: DayAheadMarket, followers: Sequence[_Follower], milp: LinearProgram,
                 cols: _MilpColumns, ans: _MilpAnswer, bounds_time_s: float) -> MpecResult:
    """Read the MILP's point and re-check it: bilinear profit, re-solved VPPs, optimistic ties."""
    sol, dt = ans.sol, market.dt_h
    c_sell, c_buy = sol[cols.c_sell], sol[cols.c_buy]
    xs = tuple(sol[blk.x] for blk in cols.blocks)
    gs = tuple(x[f.lp.names["g"]] for f, x in zip(followers, xs, strict=True))
    es = tuple(x[f.lp.names["e"]] for f, x in zip(followers, xs, strict=True))
    if cols.storage is not None and market.storage is not None:
        ch, dis, soc = (sol[c] for c in cols.storage)
        lam_o = market.storage.cost_cny_per_kwh
    else:
        ch = dis = soc = None
        lam_o = 0.0
    objective = vpo_profit(c_sell, c_buy, gs, es, market.pi_imp, market.pi_exp, dt, ch, dis,
                           lam_o)
    vpp_cost = tuple(float(sol[blk.lam] @ blk.lay.dual_obj + f.lp.offset)
                     for f, blk in zip(followers, cols.blocks, strict=True))
    resolved = [solve_vpp_day_ahead(f.data, c_sell, c_buy) for f in followers]
    own_cost = [float((f.c0 + f.price_map @ np.concatenate([c_sell, c_buy])) @ x + f.lp.offset)
                for f, x in zip(followers, xs, strict=True)]
    regret = tuple(oc - s.cost_cny for oc, s in zip(own_cost, resolved, strict=True))
    obj_resolved = _resolved_profit(market, c_sell, c_buy, resolved)
    dual_ratio, slack_ratio, max_m = _big_m_ratios(cols.blocks, sol)
    return MpecResult(
        status=ans.status,
        proven_optimal=ans.proven_optimal,
        objective_cny=objective,
        milp_objective_cny=ans.milp_objective_cny,
        best_bound_cny=ans.best_bound_cny,
        mip_gap=ans.mip_gap,
        c_sell=c_sell,
        c_buy=c_buy,
        buy_kw=gs,
        sell_kw=es,
        x=xs,
        grid_import_kw=sol[cols.imports],
        grid_export_kw=sol[cols.export],
        vpp_cost_cny=vpp_cost,
        vpp_cost_resolved_cny=tuple(s.cost_cny for s in resolved),
        vpp_regret_cny=regret,
        objective_resolved_cny=obj_resolved,
        objective_optimistic_cny=optimistic_profit(market, c_sell, c_buy),
        solve_time_s=ans.solve_time_s,
        bounds_time_s=bounds_time_s,
        n_binaries=int(milp.integer.sum()),
        n_rows=int(milp.a.shape[0]),
        n_cols=int(milp.a.shape[1]),
        n_fixed_at_bound=int(sum(int(f.at_lo.sum() + f.at_hi.sum()) for f in followers)),
        dual_bounds_certified=all(f.certified for f in followers),
        max_dual_over_m=dual_ratio,
        max_slack_over_m=slack_ratio,
        max_dual_m=max_m,
        vpo_charge_kw=ch,
        vpo_discharge_kw=dis,
        vpo_soc_kwh=soc,
    )


def solve_vpo_profit_mpec(
    market: DayAheadMarket,
    time_limit_s: float = 120.0,
    mip_rel_gap: float = 1e-6,
    value_bound: str = "extreme-prices",
    envelope_rows: bool = False,
    threads: int = 1,
    dual_m_scale: float = 1.0,
    start_prices: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    bound_lp_threads: int = 1,
) -> MpecResult:
    """Solve the leader's ``vpo_profit`` problem exactly as an MPEC (MILP) with HiGHS.

    The formulation, the linearization of the bilinear trade terms by strong duality and the
    validity of every big-M are derived in the module docstring.

    Parameters
    ----------
    market : DayAheadMarket
        The followers (VPPs), the grid tariff (CNY/kWh, ``pi_exp <= pi_imp``) and the VPO's
        own battery, if any (leader decisions; module docstring).
    time_limit_s : float
        HiGHS time limit for the MILP (the auxiliary bound LPs come on top), s.
    mip_rel_gap : float
        Relative MIP gap at which HiGHS stops.
    value_bound : {"extreme-prices", "mccormick"}
        The lower bound ``L_i(p)`` on each follower's optimal value that the auxiliary bound LPs
        use (module docstring, "Big-M values"): the follower's value at the extreme prices (the
        default: smaller auxiliary LPs, 2.7 s on the 6-VPP day) or its McCormick relaxation at
        ``p`` (tighter big-Ms, a few more columns fixed; 4.1-4.8 s). Both are valid.
    envelope_rows : bool
        Add the McCormick envelope rows of the trade products to the MILP (module docstring).
        They tighten its LP relaxation but slow HiGHS' root cut loop on the shipped days
        (``MILP_OPTIONS``' comment has the figures); the optimum is the same.
    threads : int
        HiGHS threads of the branch and cut (HiGHS fixes its thread pool at the first solve of
        a process: keep one value per process).
    bound_lp_threads : int
        Python threads for the VPPs' auxiliary bound LPs (one VPP per thread, each a
        single-threaded HiGHS solve; the bounds do not depend on it).
    dual_m_scale : float
        Multiplies every dual big-M (a check: values above 1 must not change the optimum).
    start_prices : sequence of (c_sell, c_buy), optional
        Price pairs (CNY/kWh, in the box) whose outcome seeds HiGHS with a first incumbent
        (module docstring, "Redundant rows and the warm start"); None: the tariff passed
        through; empty: no warm start.

    Returns
    -------
    MpecResult
        Prices, schedules, the solver's status and bound, and the verification figures.

    Raises
    ------
    ValueError
        On a VPP LP with a column that has no finite implied bound.
    RuntimeError
        If HiGHS finds no feasible point of the MILP within the time limit.
    """
    t0 = time.perf_counter()
    if value_bound not in VALUE_BOUNDS:
        raise ValueError(f"value_bound must be one of {VALUE_BOUNDS}, not {value_bound!r}")
    followers = _bounded_followers(market, value_bound, dual_m_scale, bound_lp_threads)
    bounds_time = time.perf_counter() - t0
    milp, cols = _build_milp(market, followers, envelope_rows)
    if start_prices is None:
        start_prices = [(market.pi_imp, market.pi_exp)]
    start = _warm_start(milp, cols, followers, start_prices)
    ans = _solve_milp(milp, time_limit_s, mip_rel_gap, threads, start)
    return _mpec_result(market, followers, milp, cols, ans, bounds_time)
