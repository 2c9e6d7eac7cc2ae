"""The exact references of the game: the centralized LP (``system_cost``) and the MPEC (``vpo_profit``).

``system_cost`` (paper 004 section 4.3.4's fitness): ``sum_i F_i - Pi``. Internal payments
cancel in this sum, so :func:`centralized_bound` (all VPPs and the VPO against the grid in one
LP) is a lower bound no price pair can beat; its coupling rows' duals are the marginal value
of coalition energy, prices that decentralize its optimum.

``vpo_profit`` (Stackelberg leader): the exact optimum is the MPEC of the VPPs' KKT conditions
(:func:`vppsim.market.mpec.solve_vpo_profit_mpec`, a HiGHS MILP).

:func:`exact_reference` returns either as an :class:`ExactReference`, the value the game's
certificate measures the achieved outcome against.

Both rest on the VPPs' problems being LPs. A market with MILP followers (VPPs with committed
units or reservoirs, ``DayAheadMarket.milp_followers``) has neither: the centralized LP would be
a relaxation, the KKT conditions do not describe a MILP's optimum. :func:`exact_reference`
then returns a reference with status :data:`NOT_APPLICABLE` and no value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.lower_level import build_vpp_lp
from vppsim.market.mpec import solve_vpo_profit_mpec
from vppsim.market.vpo_storage import add_storage_block
from vppsim.optimizers.highs import INF, LinearProgram, LpBuilder, solve_lp

#: status of the exact reference of a market with MILP followers
NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class CentralizedBound:
    """The centralized LP: every VPP and the VPO against the grid, internal prices cancelled."""

    system_cost_cny: float
    status: str
    dual_price_cny_per_kwh: np.ndarray  # marginal value of coalition energy per period
    buy_kw: np.ndarray  # [I, T]
    sell_kw: np.ndarray  # [I, T]
    grid_import_kw: np.ndarray
    grid_export_kw: np.ndarray


def build_centralized_lp(
    market: DayAheadMarket,
) -> tuple[LinearProgram, list[np.ndarray], np.ndarray, np.ndarray]:
    """Stack the VPP LPs (zero internal prices) and add the VPO's grid exchange.

    Returns the LP, the column offset of each VPP block, and the columns of ``x`` and ``m``.
    The coupling row of period ``t`` is ``sum_i (e_i - g_i) - x + m = 0`` (paper 004 eq. 10;
    with VPO storage ``+ dis_o - ch_o``).
    """
    vpps, storage = market.vpps, market.storage
    pi_imp, pi_exp = market.pi_imp, market.pi_exp
    T, dt = market.n_periods, market.dt_h
    blocks = [build_vpp_lp(d, np.zeros(T), np.zeros(T)) for d in vpps]
    offsets = np.cumsum([0] + [b.a.shape[1] for b in blocks])
    n_cols = int(offsets[-1]) + 2 * T
    x_cols = np.arange(offsets[-1], offsets[-1] + T)
    m_cols = np.arange(offsets[-1] + T, offsets[-1] + 2 * T)
    rows, cols, vals = [], [], []
    for i, b in enumerate(blocks):
        for t in range(T):
            rows += [t, t]
            cols += [int(offsets[i] + b.names["e"][t]), int(offsets[i] + b.names["g"][t])]
            vals += [1.0, -1.0]
    for t in range(T):
        rows += [t, t]
        cols += [int(x_cols[t]), int(m_cols[t])]
        vals += [-1.0, 1.0]
    parts = list(blocks)
    if storage is not None:  # the VPO's battery: + dis - ch in every coupling row
        sb = LpBuilder()
        ch, dis, _ = add_storage_block(sb, storage, T, dt)
        st = sb.build()
        first = n_cols
        n_cols += st.a.shape[1]
        for t in range(T):
            rows += [t, t]
            cols += [first + int(dis[t]), first + int(ch[t])]
            vals += [1.0, -1.0]
    coupling = sp.csr_matrix((vals, (rows, cols)), shape=(T, n_cols))
    mats = [b.a for b in blocks] + [sp.csr_matrix((0, 2 * T))]
    if storage is not None:
        mats.append(st.a)
        parts.append(st)
    diag = sp.block_diag(mats, format="csr")
    a = sp.vstack([diag, coupling]).tocsc()
    st_parts = [st] if storage is not None else []
    lp = LinearProgram(
        c=np.concatenate([b.c for b in blocks] + [-pi_exp * dt, pi_imp * dt]
                         + [p.c for p in st_parts]),
        a=a,
        row_lo=np.concatenate([b.row_lo for b in blocks] + [p.row_lo for p in st_parts]
                              + [np.zeros(T)]),
        row_hi=np.concatenate([b.row_hi for b in blocks] + [p.row_hi for p in st_parts]
                              + [np.zeros(T)]),
        col_lo=np.concatenate([b.col_lo for b in blocks] + [np.zeros(2 * T)]
                              + [p.col_lo for p in st_parts]),
        col_hi=np.concatenate([b.col_hi for b in blocks] + [np.full(2 * T, INF)]
                              + [p.col_hi for p in st_parts]),
        integer=np.zeros(n_cols, bool),
        offset=float(sum(b.offset for b in blocks)),
    )
    return lp, [offsets[i] + 0 for i in range(len(blocks))], x_cols, m_cols


def centralized_bound(market: DayAheadMarket) -> CentralizedBound:
    """Solve the centralized LP: the exact lower bound of the ``system_cost`` objective."""
    lp, offsets, x_cols, m_cols = build_centralized_lp(market)
    sol = solve_lp(lp)
    if not sol.optimal or sol.x is None or sol.row_dual is None:
        raise RuntimeError(f"centralized LP not solved ({sol.status})")
    T, dt = market.n_periods, market.dt_h
    blocks = [build_vpp_lp(d, np.zeros(T), np.zeros(T)) for d in market.vpps]
    g = np.array([sol.x[offsets[i] + b.names["g"]] for i, b in enumerate(blocks)])
    e = np.array([sol.x[offsets[i] + b.names["e"]] for i, b in enumerate(blocks)])
    # dual of "sum(e - g) - x + m = 0" per kWh: the marginal value of coalition energy
    dual = np.asarray(sol.row_dual[-T:]) / dt
    return CentralizedBound(
        system_cost_cny=sol.objective,
        status=sol.status,
        dual_price_cny_per_kwh=dual,
        buy_kw=g,
        sell_kw=e,
        grid_import_kw=sol.x[m_cols],
        grid_export_kw=sol.x[x_cols],
    )


#: ``ExactReference`` attribute -> key of :meth:`ExactReference.to_dict`, in the dict's order.
_REFERENCE_KEYS = (
    ("name", "name"),
    ("value_cny", "value"),
    ("incumbent_cny", "incumbent"),
    ("status", "status"),
    ("proven_optimal", "proven_optimal"),
    ("mip_gap", "mip_gap"),
    ("dual_price_cny_per_kwh", "dual_price_cny_per_kwh"),
    ("c_sell_cny_per_kwh", "c_sell"),
    ("c_buy_cny_per_kwh", "c_buy"),
    ("wall_s", "wall_s"),
)


@dataclass(frozen=True, eq=False)
class ExactReference:
    """The exact reference of an objective, in the objective's own terms (cost or profit).

    ``value_cny``: for ``system_cost`` the centralized LP's optimum (a lower bound of the
    system cost); for ``vpo_profit`` the best proven bound on the leader's profit ``Pi``
    (the MILP's dual bound, or its incumbent if the bound is not finite). The optional fields
    are None where the reference has no such figure: ``dual_price_cny_per_kwh`` (centralized
    LP only: the coupling rows' duals per kWh); ``incumbent_cny``, ``mip_gap`` and the prices
    ``c_sell_cny_per_kwh``/``c_buy_cny_per_kwh`` (MPEC only: its best price pair and ``Pi``
    there). ``wall_s`` is the time taken to compute it, s.
    """

    name: str
    value_cny: float
    status: str
    proven_optimal: bool
    wall_s: float
    incumbent_cny: float | None = None
    mip_gap: float | None = None
    dual_price_cny_per_kwh: np.ndarray | None = None
    c_sell_cny_per_kwh: np.ndarray | None = None
    c_buy_cny_per_kwh: np.ndarray | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain-dict form for JSON: the keys and order of the former dict, None fields left out.

        ``name, value, [incumbent], status, proven_optimal, [mip_gap],
        [dual_price_cny_per_kwh], [c_sell, c_buy], wall_s``; arrays become lists.
        """
        out: dict[str, object] = {}
        for attr, key in _REFERENCE_KEYS:
            v = getattr(self, attr)
            if v is not None:
                out[key] = v.tolist() if isinstance(v, np.ndarray) else v
        return out


def exact_reference(
    market: DayAheadMarket,
    objective: str,
    time_limit_s: float = 120.0,
) -> ExactReference:
    """The exact reference of ``objective``.

    ``system_cost``: the centralized LP (a lower bound no price pair can beat).
    ``vpo_profit``: the MPEC of the VPPs' KKT conditions (HiGHS MILP); ``value_cny`` is the
    best proven bound on the leader's profit, ``incumbent_cny`` the profit of the best price
    pair found (``c_sell_cny_per_kwh``, ``c_buy_cny_per_kwh``). ``time_limit_s`` limits the MILP.
    With MILP followers: status :data:`NOT_APPLICABLE`, ``value_cny`` NaN.
    """
    start = time.perf_counter()
    if market.milp_followers:
        return ExactReference(
            name=f"none: MILP followers ({', '.join(market.milp_followers)})",
            value_cny=float("nan"), status=NOT_APPLICABLE, proven_optimal=False,
            wall_s=time.perf_counter() - start)
    if objective == "system_cost":
        cb = centralized_bound(market)
        return ExactReference(
            name="centralized LP (lower bound)", value_cny=cb.system_cost_cny, status=cb.status,
            proven_optimal=True, dual_price_cny_per_kwh=cb.dual_price_cny_per_kwh,
            wall_s=time.perf_counter() - start)
    res = solve_vpo_profit_mpec(market, time_limit_s=time_limit_s)
    bound = res.best_bound_cny if np.isfinite(res.best_bound_cny) else res.objective_cny
    return ExactReference(
        name="MPEC (KKT, big-M, HiGHS)", value_cny=float(bound),
        incumbent_cny=float(res.objective_cny), status=res.status,
        proven_optimal=bool(res.proven_optimal), mip_gap=float(res.mip_gap),
        c_sell_cny_per_kwh=np.asarray(res.c_sell, float),
        c_buy_cny_per_kwh=np.asarray(res.c_buy, float),
        wall_s=time.perf_counter() - start)
