"""The bi-level VPO-VPP game of paper 004 as a problem object, with its exact lower bound.

Upper level (the VPO): internal prices ``c_sell[t]``, ``c_buy[t]`` inside the box
``pi_exp <= c_buy <= c_sell <= pi_imp`` (DESIGN.md signs). Lower level: each VPP's least-cost
LP (paper 004 eq. 1-6) at those prices, solved exactly by HiGHS.

Objectives (``objective``):

- ``system_cost`` (paper 004 section 4.3.4's fitness): ``sum_i F_i - Pi``. Internal payments
  cancel in this sum, so :func:`centralized_bound` (all VPPs and the VPO against the grid in
  one LP) is a lower bound no price pair can beat.
- ``vpo_profit`` (Stackelberg leader): maximize ``Pi``; the problem minimizes ``-Pi``.

``Pi = dt * sum_t [c_sell*G - c_buy*E + pi_exp*x - pi_imp*m]`` with ``G = sum g_i``,
``E = sum e_i`` and the VPO's net grid position ``x - m = E - G`` (paper 004 eq. 9-10).

Decision vector: ``u`` in ``[0, 1]^(2T)``; ``c_sell = pi_exp + u[:T]*(pi_imp - pi_exp)`` and
``c_buy = pi_exp + u[T:]*(c_sell - pi_exp)``, so every candidate lies inside the price box by
construction, whatever the algorithm does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from vppsim.market.lower_level import VppDayAheadData, build_vpp_lp
from vppsim.market.outcome import GameOutcome, outcome_at, vpo_profit_cny
from vppsim.market.vpo_storage import (
    VpoStorageData,
    add_storage_block,
    build_vpo_storage_lp,
)
from vppsim.optimizers.highs import INF, LinearProgram, new_highs, pass_model, solve_lp

OBJECTIVES = ("system_cost", "vpo_profit")




class _WarmLp:
    """One VPP's LP kept in a HiGHS instance; only the trade costs change between solves.

    A re-solve after a cost change starts from the previous optimal basis (still primal
    feasible), so a swarm's evaluations cost a few simplex pivots each, and stay exact.
    """

    def __init__(self, d: VppDayAheadData) -> None:
        T = d.n_periods
        self.data = d
        self.lp = build_vpp_lp(d, np.zeros(T), np.zeros(T))
        self.g = self.lp.names["g"]
        self.e = self.lp.names["e"]
        self.trade_cols = np.concatenate([self.g, self.e]).astype(np.int32)
        self.base_cost = self.lp.c[self.trade_cols].copy()
        self.h = new_highs()
        self.restarts = 0
        pass_model(self.h, self.lp)

    def solve(self, c_sell: np.ndarray, c_buy: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Optimal cost and the exchange (g, e) at the given prices."""
        dt = self.data.dt_h
        cost = self.base_cost + np.concatenate([c_sell * dt, -c_buy * dt])
        h = self.h
        h.changeColsCost(len(self.trade_cols), self.trade_cols, cost)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            # a warm start can stall numerically (HiGHS reports "Unknown"): solve from scratch
            self.restarts += 1
            h.clearSolver()
            h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"{self.data.name}: lower-level LP not optimal "
                               f"({h.modelStatusToString(h.getModelStatus())})")
        col = np.asarray(h.getSolution().col_value)
        obj = float(h.getInfo().objective_function_value)
        return obj, np.maximum(col[self.g], 0.0), np.maximum(col[self.e], 0.0)


class _WarmStorage:
    """The VPO's storage LP in one HiGHS instance; only the net position (row bounds) changes."""

    def __init__(self, st: VpoStorageData, pi_imp: np.ndarray, pi_exp: np.ndarray,
                 dt: float) -> None:
        self.T = len(pi_imp)
        lp = build_vpo_storage_lp(st, np.zeros(self.T), pi_imp, pi_exp, dt)
        self.h = new_highs()
        pass_model(self.h, lp)
        n_rows = lp.a.shape[0]
        self.rows = np.arange(n_rows - self.T, n_rows, dtype=np.int32)  # the balance rows

    def value(self, net_export_kw: np.ndarray) -> float:
        """``dt*sum[pi_exp*x - pi_imp*m - lam_o*(ch + dis)]`` at the VPO's best storage."""
        h = self.h
        net = np.asarray(net_export_kw, float)
        h.changeRowsBounds(self.T, self.rows, net, net)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            h.clearSolver()
            h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError("VPO storage LP not optimal")
        return -float(h.getInfo().objective_function_value)


@dataclass(frozen=True)
class Evaluation:
    """Lower-level answers for a batch of price vectors (leading axis = candidate)."""

    vpp_cost_cny: np.ndarray  # [n, I]
    buy_kw: np.ndarray  # [n, I, T]
    sell_kw: np.ndarray  # [n, I, T]
    vpo_profit_cny: np.ndarray  # [n]

    @property
    def system_cost_cny(self) -> np.ndarray:
        """Sum of VPP costs minus VPO profit, per candidate."""
        return self.vpp_cost_cny.sum(axis=1) - self.vpo_profit_cny


class GameProblem:
    """The upper-level problem on ``[0, 1]^(2T)``; ``evaluate`` solves every VPP's LP exactly."""

    def __init__(
        self,
        vpps: Sequence[VppDayAheadData],
        pi_imp: np.ndarray,
        pi_exp: np.ndarray,
        objective: str = "system_cost",
        storage: VpoStorageData | None = None,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
        if not vpps:
            raise ValueError("the game needs at least one VPP")
        self.vpps = tuple(vpps)
        self.pi_imp = np.asarray(pi_imp, float)
        self.pi_exp = np.asarray(pi_exp, float)
        if np.any(self.pi_exp > self.pi_imp):
            raise ValueError("the tariff must satisfy export <= import in every period")
        self.T = len(self.pi_imp)
        self.dt_h = self.vpps[0].dt_h
        self.objective = objective
        self.n_var = 2 * self.T
        self.xl = np.zeros(self.n_var)
        self.xu = np.ones(self.n_var)
        self._lps = [_WarmLp(d) for d in self.vpps]
        self.storage = storage
        self._storage = (_WarmStorage(storage, self.pi_imp, self.pi_exp, self.dt_h)
                         if storage is not None else None)
        self.lower_level_solves = 0
        # starting points for the search: Model 1 (the tariff passed through) and the
        # marginal prices of the centralized optimum (None: a plain black-box search)
        lam = np.clip(centralized_bound(self.vpps, self.pi_imp, self.pi_exp, storage)
                      .dual_price_cny_per_kwh, self.pi_exp, self.pi_imp)
        self.initial_points: np.ndarray | None = np.array(
            [self.encode(self.pi_imp, self.pi_exp), self.encode(lam, lam)])

    def decode(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prices ``(c_sell, c_buy)`` of decision vectors ``u`` (last axis ``2T``)."""
        u = np.clip(np.asarray(u, float), 0.0, 1.0)
        a, b = u[..., : self.T], u[..., self.T :]
        c_sell = self.pi_exp + a * (self.pi_imp - self.pi_exp)
        c_buy = self.pi_exp + b * (c_sell - self.pi_exp)
        return c_sell, c_buy

    def encode(self, c_sell: np.ndarray, c_buy: np.ndarray) -> np.ndarray:
        """Decision vector of prices inside the box (inverse of :meth:`decode`)."""
        spread = self.pi_imp - self.pi_exp
        a = np.divide(c_sell - self.pi_exp, spread, out=np.zeros(self.T), where=spread > 0)
        inner = c_sell - self.pi_exp
        b = np.divide(c_buy - self.pi_exp, inner, out=np.zeros(self.T), where=inner > 0)
        return np.clip(np.concatenate([a, b]), 0.0, 1.0)

    def lower_level(self, c_sell: np.ndarray, c_buy: np.ndarray) -> Evaluation:
        """Every VPP's best response to each price vector of the batch."""
        c_sell = np.atleast_2d(c_sell)
        c_buy = np.atleast_2d(c_buy)
        n, nv = len(c_sell), len(self._lps)
        cost = np.zeros((n, nv))
        g = np.zeros((n, nv, self.T))
        e = np.zeros((n, nv, self.T))
        for k in range(n):
            for i, lp in enumerate(self._lps):
                cost[k, i], g[k, i], e[k, i] = lp.solve(c_sell[k], c_buy[k])
        self.lower_level_solves += n * nv
        big_g, big_e = g.sum(axis=1), e.sum(axis=1)
        if self._storage is None:
            profit = vpo_profit_cny(c_sell, c_buy, big_g, big_e, self.pi_imp, self.pi_exp,
                                    self.dt_h)
        else:  # the VPO's storage is its own best response to the trades (an exact LP)
            trade = self.dt_h * (c_sell * big_g - c_buy * big_e).sum(axis=1)
            profit = trade + np.array([self._storage.value(big_e[k] - big_g[k])
                                       for k in range(n)])
        return Evaluation(cost, g, e, profit)

    def fitness(self, ev: Evaluation) -> np.ndarray:
        """The objective to minimize for each evaluated candidate."""
        if self.objective == "system_cost":
            return ev.system_cost_cny
        return -ev.vpo_profit_cny

    def evaluate(self, u: np.ndarray) -> np.ndarray:
        """Objective values (to minimize) of the rows of ``u``."""
        c_sell, c_buy = self.decode(np.atleast_2d(u))
        return self.fitness(self.lower_level(c_sell, c_buy))


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
    vpps: Sequence[VppDayAheadData], pi_imp: np.ndarray, pi_exp: np.ndarray,
    storage: VpoStorageData | None = None,
) -> tuple[LinearProgram, list[np.ndarray], np.ndarray, np.ndarray]:
    """Stack the VPP LPs (zero internal prices) and add the VPO's grid exchange.

    Returns the LP, the column offset of each VPP block, and the columns of ``x`` and ``m``.
    The coupling row of period ``t`` is ``sum_i (e_i - g_i) - x + m = 0``.
    """
    import scipy.sparse as sp

    T = len(pi_imp)
    blocks = [build_vpp_lp(d, np.zeros(T), np.zeros(T)) for d in vpps]
    offsets = np.cumsum([0] + [b.a.shape[1] for b in blocks])
    n_cols = int(offsets[-1]) + 2 * T
    dt = vpps[0].dt_h
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
        from vppsim.optimizers.highs import LpBuilder

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


def centralized_bound(
    vpps: Sequence[VppDayAheadData], pi_imp: np.ndarray, pi_exp: np.ndarray,
    storage: VpoStorageData | None = None,
) -> CentralizedBound:
    """Solve the centralized LP: the exact lower bound of the ``system_cost`` objective."""
    lp, offsets, x_cols, m_cols = build_centralized_lp(vpps, pi_imp, pi_exp, storage)
    sol = solve_lp(lp)
    if not sol.optimal or sol.x is None or sol.row_dual is None:
        raise RuntimeError(f"centralized LP not solved ({sol.status})")
    T = len(pi_imp)
    blocks = [build_vpp_lp(d, np.zeros(T), np.zeros(T)) for d in vpps]
    g = np.array([sol.x[offsets[i] + b.names["g"]] for i, b in enumerate(blocks)])
    e = np.array([sol.x[offsets[i] + b.names["e"]] for i, b in enumerate(blocks)])
    dt = vpps[0].dt_h
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


GAME_SOLVERS = ("pso-rl", "pso", "ga", "exact")










@dataclass
class GameResult:
    """A solved day-ahead game: outcome, Model 1 comparison, certificate, convergence."""

    objective: str
    solver: str
    outcome: GameOutcome
    model1: GameOutcome
    certificate: object
    convergence: object | None
    reference: dict
    wall_s: dict[str, float]
    lower_level_solves: int
    seed: int | None
    selected_from: str = "search"


def exact_reference(
    vpps: Sequence[VppDayAheadData],
    pi_imp: np.ndarray,
    pi_exp: np.ndarray,
    objective: str,
    time_limit_s: float = 120.0,
    storage: VpoStorageData | None = None,
) -> dict:
    """The exact reference of ``objective``.

    ``system_cost``: the centralized LP (a lower bound no price pair can beat).
    ``vpo_profit``: the MPEC of the VPPs' KKT conditions (HiGHS MILP); ``value`` is the best
    proven bound on the leader's profit, ``incumbent`` the best price pair found.
    """
    import time

    start = time.perf_counter()
    if objective == "system_cost":
        cb = centralized_bound(vpps, pi_imp, pi_exp, storage)
        return {"name": "centralized LP (lower bound)", "value": cb.system_cost_cny,
                "status": cb.status, "proven_optimal": True,
                "dual_price_cny_per_kwh": cb.dual_price_cny_per_kwh.tolist(),
                "wall_s": time.perf_counter() - start}
    from vppsim.market.mpec import solve_vpo_profit_mpec

    kw = {"storage": storage} if storage is not None else {}
    res = solve_vpo_profit_mpec(vpps, pi_imp, pi_exp, time_limit_s=time_limit_s, **kw)
    bound = res.best_bound_cny if np.isfinite(res.best_bound_cny) else res.objective_cny
    return {"name": "MPEC (KKT, big-M, HiGHS)", "value": float(bound),
            "incumbent": float(res.objective_cny), "status": res.status,
            "proven_optimal": bool(res.proven_optimal), "mip_gap": float(res.mip_gap),
            "c_sell": np.asarray(res.c_sell).tolist(), "c_buy": np.asarray(res.c_buy).tolist(),
            "wall_s": time.perf_counter() - start}


def solve_game(
    vpps: Sequence[VppDayAheadData],
    pi_imp: np.ndarray,
    pi_exp: np.ndarray,
    objective: str = "system_cost",
    solver: str = "pso-rl",
    budget: int = 1500,
    seed: int | None = 0,
    reference: bool = True,
    reference_time_limit_s: float = 120.0,
    algorithm_options: dict | None = None,
    polish: bool = True,
    precomputed_reference: dict | None = None,
    storage: VpoStorageData | None = None,
) -> GameResult:
    """Solve the day-ahead game and certify the outcome.

    ``solver``: a metaheuristic (``pso-rl``, ``pso``, ``ga``) searching the price box with
    exact lower-level answers, or ``exact`` (the MPEC for ``vpo_profit``; for ``system_cost``
    the centralized LP's dual prices, which decentralize its optimum).

    The search scores candidates with each VPP's own LP answer; the outcome at the final
    prices breaks the VPPs' ties in the VPO's favour (optimistic bilevel, as the exact
    references do), so achieved and reference values are comparable. With ``polish`` the
    search's starting points (passthrough, centralized dual prices) are scored the same way
    and kept if better; ``GameResult.selected_from`` says which won.
    """
    import time

    from vppsim.market.certificate import certify

    if solver not in GAME_SOLVERS:
        raise ValueError(f"unknown game solver {solver!r}; expected one of {GAME_SOLVERS}")
    wall: dict[str, float] = {}
    start = time.perf_counter()
    problem = GameProblem(vpps, pi_imp, pi_exp, objective, storage)
    if not polish:  # no domain starting points either: a plain black-box search
        problem.initial_points = None
    if precomputed_reference is not None:
        ref = precomputed_reference
    elif reference or solver == "exact":
        ref = exact_reference(vpps, pi_imp, pi_exp, objective, reference_time_limit_s, storage)
    else:
        ref = None
    wall["reference"] = time.perf_counter() - start
    t1 = time.perf_counter()
    convergence = None
    if solver == "exact":
        if objective == "vpo_profit":
            assert ref is not None
            c_sell, c_buy = np.asarray(ref["c_sell"]), np.asarray(ref["c_buy"])
        else:
            # the centralized LP's duals decentralize its optimum (each VPP's part of it is a
            # best response at those prices); optimistic ties then reach the bound
            lam = np.clip(np.asarray(ref["dual_price_cny_per_kwh"]), pi_exp, pi_imp)
            c_sell, c_buy = lam, lam
    else:
        from vppsim.optimizers.algorithms import get_algorithm

        algorithm = get_algorithm(solver, **(algorithm_options or {}))
        convergence = algorithm.minimize(problem, budget, seed)
        c_sell, c_buy = problem.decode(convergence.x)
    wall["search"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    model1 = outcome_at(vpps, pi_imp, pi_exp, pi_imp, pi_exp, storage=storage)
    outcome = outcome_at(vpps, c_sell, c_buy, pi_imp, pi_exp, storage=storage)
    selected = "search" if solver != "exact" else "exact"
    if polish and solver != "exact":
        # the search scores each VPP's own answer; the outcome breaks ties for the VPO, so the
        # starting points are re-scored the same way and the best of them is kept
        starts = {"passthrough (Model 1)": model1}
        cs, cb = problem.decode(problem.initial_points[1])
        starts["centralized dual prices"] = outcome_at(vpps, cs, cb, pi_imp, pi_exp,
                                                       storage=storage)
        sign = 1.0 if objective == "system_cost" else -1.0
        for name, o in starts.items():
            if sign * o.objective_value(objective) < sign * outcome.objective_value(objective) - 1e-9:
                outcome, selected = o, name
        c_sell, c_buy = outcome.c_sell_cny_per_kwh, outcome.c_buy_cny_per_kwh
    cert = certify(vpps, outcome.schedules, c_sell, c_buy, objective,
                   outcome.objective_value(objective), ref["name"] if ref else "none",
                   ref["value"] if ref else None)
    wall["certificate"] = time.perf_counter() - t2
    wall["total"] = time.perf_counter() - start
    return GameResult(objective, solver, outcome, model1, cert, convergence, ref or {}, wall,
                      problem.lower_level_solves, seed if isinstance(seed, int) else None,
                      selected)
