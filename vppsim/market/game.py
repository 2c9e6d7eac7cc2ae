"""The bi-level VPO-VPP game of paper 004 as a problem object, solved and certified.

Upper level (the VPO): internal prices ``c_sell[t]``, ``c_buy[t]`` inside the box
``pi_exp <= c_buy <= c_sell <= pi_imp`` (docs/design.md signs). Lower level: each VPP's least-cost
LP (paper 004 eq. 1-6) at those prices, solved exactly by HiGHS.

Objectives (``objective``, :data:`vppsim.market.solvers.OBJECTIVES`):

- ``system_cost`` (paper 004 section 4.3.4's fitness): ``sum_i F_i - Pi``. Internal payments
  cancel in this sum, so :func:`vppsim.market.reference.centralized_bound` (all VPPs and the VPO
  against the grid in one LP) is a lower bound no price pair can beat.
- ``vpo_profit`` (Stackelberg leader): maximize ``Pi``; the problem minimizes ``-Pi``.

``Pi = dt * sum_t [c_sell*G - c_buy*E + pi_exp*x - pi_imp*m]`` with ``G = sum g_i``,
``E = sum e_i`` and the VPO's net grid position ``x - m = E - G`` (paper 004 eq. 9-10).

Decision vector: ``u`` in ``[0, 1]^(2T)``; ``c_sell = pi_exp + u[:T]*(pi_imp - pi_exp)`` and
``c_buy = pi_exp + u[T:]*(c_sell - pi_exp)``, so every candidate lies inside the price box by
construction, whatever the algorithm does.

:func:`solve_game` searches the box with a metaheuristic (or takes the exact reference's prices,
solver ``exact``; the names are :data:`vppsim.market.solvers.GAME_SOLVERS`), evaluates the
outcome with the VPPs' ties broken for the VPO (:mod:`vppsim.market.outcome`) and certifies it
(:mod:`vppsim.market.certificate`) against the exact reference (:mod:`vppsim.market.reference`).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import highspy
import numpy as np

from vppsim.market.certificate import Certificate, certify
from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.incentive import EpsilonIncentive, epsilon_incentive
from vppsim.market.lower_level import VppDayAheadData, build_vpp_lp
from vppsim.market.outcome import (
    GameOutcome,
    grid_price_by_side,
    optimistic_lp,
    outcome_at,
    vpo_profit_cny,
)
from vppsim.market.reference import (
    NOT_APPLICABLE,
    ExactReference,
    centralized_bound,
    exact_reference,
)
from vppsim.market.selection import SYSTEM_COST_RULE, VPO_PROFIT_RULE, select_system_optimal
from vppsim.market.solvers import EXACT_SOLVER, GAME_SOLVERS, OBJECTIVES
from vppsim.market.ties import TieEnds, tie_ends
from vppsim.market.vpo_storage import build_vpo_storage_lp
from vppsim.optimizers.algorithms import get_algorithm
from vppsim.optimizers.base import Result
from vppsim.optimizers.highs import new_highs, pass_model, solve_lp


class _WarmLp:
    """One VPP's LP kept in a HiGHS instance; only the trade costs change between solves.

    A re-solve after a cost change starts from the previous optimal basis (still primal
    feasible), so a swarm's evaluations cost a few simplex pivots each, and stay exact.
    """

    def __init__(self, d: VppDayAheadData) -> None:
        T = d.n_periods
        self.data = d
        # a MILP follower keeps its flip-flop binaries (no LP answer to repair afterwards)
        self.lp = build_vpp_lp(d, np.zeros(T), np.zeros(T), binaries=d.has_binaries)
        self.g = self.lp.names["g"]
        self.e = self.lp.names["e"]
        self.trade_cols = np.concatenate([self.g, self.e]).astype(np.int32)
        self.base_cost = self.lp.c[self.trade_cols].copy()
        self.h = new_highs()
        self.restarts = 0
        self.energy_value = np.zeros(T)
        pass_model(self.h, self.lp)

    def solve(self, c_sell: np.ndarray, c_buy: np.ndarray,
              tilt: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
        """Optimal cost and the exchange (g, e) at the given prices.

        ``tilt`` (length ``2T``, CNY per kW of ``g`` then ``e``) is added to the trade costs
        and taken out of the returned cost again: a tie-breaking perturbation.
        """
        dt = self.data.dt_h
        cost = self.base_cost + np.concatenate([c_sell * dt, -c_buy * dt])
        if tilt is not None:
            cost = cost + tilt
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
        sol = h.getSolution()
        col = np.asarray(sol.col_value)
        # marginal value of energy to the VPP per period (its balance rows come first), CNY/kWh;
        # a MILP has no duals: the last value is kept
        if not self.lp.is_mip:
            self.energy_value = np.asarray(sol.row_dual[: self.data.n_periods]) / self.data.dt_h
        obj = float(h.getInfo().objective_function_value)
        if tilt is not None:
            obj -= float(tilt @ col[self.trade_cols])
        return obj, np.maximum(col[self.g], 0.0), np.maximum(col[self.e], 0.0)


class _WarmStorage:
    """The VPO's storage LP in one HiGHS instance; only the net position (row bounds) changes."""

    def __init__(self, market: DayAheadMarket) -> None:
        assert market.storage is not None
        self.T = market.n_periods
        lp = build_vpo_storage_lp(market.storage, np.zeros(self.T), market.pi_imp, market.pi_exp,
                                  market.dt_h)
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


#: How :class:`GameProblem` scores a candidate: each VPP's own LP vertex (``plain``), the
#: better of that and a tie-breaking re-solve (``tie-broken``), or that with the batch's best
#: candidate scored exactly as the outcome is (``optimistic-best``, the default).
SCORES: tuple[str, ...] = ("plain", "tie-broken", "optimistic-best")

#: Share of the ``hint`` moves on ``system_cost`` that jump to the clearing prices (the rest
#: take a random step towards the VPPs' mean marginal value of energy).
CLEARING_SHARE = 0.5

#: Size of the tie-breaking tilt relative to the VPO's marginal gain per kWh (small enough
#: that the re-solved schedule stays on each VPP's optimal face; checked after every solve).
TIE_TILT = 1e-5

#: A tilted answer counts as a best response if it costs at most this much more than the plain
#: optimum, CNY (inside the optimistic outcome's 1e-6 CNY face tolerance).
FACE_TOL_CNY = 5e-7


class GameProblem:
    """The upper-level problem on ``[0, 1]^(2T)``; ``evaluate`` solves every VPP's LP exactly.

    ``score="tie-broken"`` makes the search see what the optimistic outcome sees: besides each
    VPP's own LP answer, every candidate is re-solved with the trade costs tilted by
    ``TIE_TILT`` times the VPO's marginal gain from each kWh (``c_sell - p_t`` per kWh a VPP
    buys, ``p_t - c_buy`` per kWh it sells, ``p_t`` the tariff the VPO's plain net position
    faces: ``pi_imp`` if it imports, ``pi_exp`` otherwise). Among a VPP's equally cheap
    schedules the tilt picks one the VPO prefers; a re-solved schedule whose cost at the true
    prices exceeds the plain optimum by more than ``FACE_TOL_CNY`` is discarded. The score is the
    better of the two joint answers, each a genuine set of best responses, so it lies between
    the plain score and the optimistic outcome's value. ``"plain"`` is the old score.
    ``"optimistic-best"`` (the default) scores the best candidate of every batch with the exact
    optimistic outcome (:func:`vppsim.market.outcome.optimistic_lp`, one joint LP): optima that
    sit on ties (the centralized dual prices, the leader's optimum) then become visible to the
    search at the price of one joint LP per batch.

    ``propose(u, rng)`` is a move from the lower level's answers at already evaluated rows,
    which the learning PSO may use (``hint``): for ``vpo_profit`` a random step of the prices
    towards the leader's gradient at fixed responses (``c_sell`` up where the VPPs buy,
    ``c_buy`` down where they sell); for ``system_cost`` a random step towards the VPPs' mean
    marginal value of energy (the duals of their balance rows, free from HiGHS), the price
    that lets them trade as the centralized optimum would, or (a share ``CLEARING_SHARE``) a
    jump to the clearing prices ``c_sell = c_buy``: the export tariff where the VPPs' net
    position exports, the import tariff where it imports, the present ``c_sell`` where it is
    balanced (the centralized optimum's prices have this form).
    """

    def __init__(self, market: DayAheadMarket, objective: str = "system_cost",
                 score: str = "optimistic-best") -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
        if score not in SCORES:
            raise ValueError(f"unknown score {score!r}; expected one of {SCORES}")
        self.market = market
        self.vpps = market.vpps
        self.pi_imp = market.pi_imp
        self.pi_exp = market.pi_exp
        self.T = market.n_periods
        self.dt_h = market.dt_h
        self.objective = objective
        # with MILP followers there are no LP faces to break ties on: each VPP's own answer
        self.score = "plain" if market.milp_followers else score
        self.n_var = 2 * self.T
        self.xl = np.zeros(self.n_var)
        self.xu = np.ones(self.n_var)
        self._lps = [_WarmLp(d) for d in self.vpps]
        self.storage = market.storage
        self._storage = _WarmStorage(market) if market.storage is not None else None
        self.lower_level_solves = 0
        #: a proven bound on the objective at which the search may stop (None: never stop early;
        #: set by :func:`solve_game` with ``stop_at_bound``, see :func:`search_target`)
        self.target_f: float | None = None
        self._seen: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # starting points for the search: Model 1 (the tariff passed through) and the
        # marginal prices of the centralized optimum (None: a plain black-box search)
        central = centralized_bound(market)
        #: the centralized LP's optimum, a lower bound of the system cost at any prices, CNY
        self.bound_cny = float(central.system_cost_cny)
        lam = np.clip(central.dual_price_cny_per_kwh, self.pi_exp, self.pi_imp)
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

    def _profit(self, c_sell: np.ndarray, c_buy: np.ndarray, big_g: np.ndarray,
                big_e: np.ndarray) -> np.ndarray:
        """The VPO's profit per candidate from the VPPs' total purchases and sales."""
        if self._storage is None:
            return vpo_profit_cny(c_sell, c_buy, big_g, big_e, self.pi_imp, self.pi_exp,
                                  self.dt_h)
        # the VPO's storage is its own best response to the trades (an exact LP)
        trade = self.dt_h * (c_sell * big_g - c_buy * big_e).sum(axis=1)
        return trade + np.array([self._storage.value(big_e[k] - big_g[k])
                                 for k in range(len(big_g))])

    def lower_level(self, c_sell: np.ndarray, c_buy: np.ndarray,
                    tilts: np.ndarray | None = None) -> Evaluation:
        """Every VPP's best response to each price vector of the batch.

        ``tilts`` (shape ``(n, 2T)``, optional): tie-breaking perturbations of the trade costs
        (:meth:`_WarmLp.solve`); a VPP whose tilted answer costs more than its plain optimum
        would is not a best response, so callers compare with the plain answer.
        """
        c_sell = np.atleast_2d(c_sell)
        c_buy = np.atleast_2d(c_buy)
        n, nv = len(c_sell), len(self._lps)
        cost = np.zeros((n, nv))
        lam = np.zeros((n, nv, self.T))
        g = np.zeros((n, nv, self.T))
        e = np.zeros((n, nv, self.T))
        for k in range(n):
            tilt = None if tilts is None else tilts[k]
            for i, lp in enumerate(self._lps):
                cost[k, i], g[k, i], e[k, i] = lp.solve(c_sell[k], c_buy[k], tilt)
                lam[k, i] = lp.energy_value
        self.lower_level_solves += n * nv
        self._last_energy_value = lam.mean(axis=1)
        big_g, big_e = g.sum(axis=1), e.sum(axis=1)
        return Evaluation(cost, g, e, self._profit(c_sell, c_buy, big_g, big_e))

    def _tie_broken(self, c_sell: np.ndarray, c_buy: np.ndarray, plain: Evaluation) -> Evaluation:
        """Re-solve with the VPO-favouring tilt; per candidate the better joint answer."""
        net = plain.sell_kw.sum(axis=1) - plain.buy_kw.sum(axis=1)
        p_t = grid_price_by_side(net, self.pi_imp, self.pi_exp, self.pi_exp)
        tilts = -TIE_TILT * self.dt_h * np.concatenate([c_sell - p_t, p_t - c_buy], axis=1)
        tb = self.lower_level(c_sell, c_buy, tilts)
        # a tilted answer must still be a best response at the true prices
        off_face = tb.vpp_cost_cny > plain.vpp_cost_cny + FACE_TOL_CNY
        ok = ~off_face.any(axis=1) & (self.fitness(tb) < self.fitness(plain))
        pick = ok[:, None]
        return Evaluation(np.where(pick, tb.vpp_cost_cny, plain.vpp_cost_cny),
                          np.where(pick[..., None], tb.buy_kw, plain.buy_kw),
                          np.where(pick[..., None], tb.sell_kw, plain.sell_kw),
                          np.where(ok, tb.vpo_profit_cny, plain.vpo_profit_cny))

    def fitness(self, ev: Evaluation) -> np.ndarray:
        """The objective to minimize for each evaluated candidate."""
        if self.objective == "system_cost":
            return ev.system_cost_cny
        return -ev.vpo_profit_cny

    def evaluate(self, u: np.ndarray) -> np.ndarray:
        """Objective values (to minimize) of the rows of ``u`` (scored as ``score`` says)."""
        u = np.atleast_2d(u)
        c_sell, c_buy = self.decode(u)
        ev = self.lower_level(c_sell, c_buy)
        plain_cost = ev.vpp_cost_cny
        energy_value = self._last_energy_value
        if self.score != "plain":
            ev = self._tie_broken(c_sell, c_buy, ev)
        if len(self._seen) > 4 * len(u) + 64:  # keep the answers of the last few batches
            self._seen = dict(list(self._seen.items())[-2 * len(u):])
        for k in range(len(u)):
            self._seen[u[k].tobytes()] = (ev.buy_kw[k].sum(axis=0), ev.sell_kw[k].sum(axis=0),
                                          energy_value[k])
        f = self.fitness(ev)
        if self.score == "optimistic-best":
            k = int(np.argmin(f))
            f[k] = min(f[k], self._optimistic_fitness(c_sell[k], c_buy[k], plain_cost[k]))
        if self.target_f is not None and self.score != "plain":
            self._starts_at_target(u, f, c_sell, c_buy, plain_cost)
        return f

    def _starts_at_target(self, u: np.ndarray, f: np.ndarray, c_sell: np.ndarray,
                          c_buy: np.ndarray, plain_cost: np.ndarray) -> None:
        """Score the starting points among ``u`` exactly; keep a score only if it is at the target.

        A starting point (e.g. the tariff passed through) may reach the proven bound only with
        the VPPs' ties broken for the VPO; scored so, the search stops at once. A score short of
        the target is dropped, so that the search runs as it would without the stop.
        """
        if self.initial_points is None:
            return
        assert self.target_f is not None
        for k in range(len(u)):
            if not any(np.array_equal(u[k], p) for p in self.initial_points):
                continue
            exact = self._optimistic_fitness(c_sell[k], c_buy[k], plain_cost[k])
            if exact <= self.target_f:
                f[k] = min(f[k], exact)

    def _optimistic_fitness(self, c_sell: np.ndarray, c_buy: np.ndarray,
                            vpp_cost_cny: np.ndarray) -> float:
        """The objective to minimize at one price pair as the outcome scores it (ties for the VPO).

        ``vpp_cost_cny``: each VPP's optimal cost there (already known from the warm LPs).
        """
        lp, *_ = optimistic_lp(self.market, c_sell, c_buy, optimal_cost_cny=list(vpp_cost_cny))
        sol = solve_lp(lp)
        if not sol.optimal:
            return np.inf
        profit = -sol.objective
        if self.objective == "system_cost":
            return float(vpp_cost_cny.sum()) - profit
        return -profit

    def propose(self, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A move from each row of ``u`` along the lower level's answers there (see the class).

        Rows not evaluated recently are returned unchanged.
        """
        u = np.atleast_2d(np.asarray(u, float))
        out = u.copy()
        step = rng.random(len(u))
        jump = rng.random(len(u)) < CLEARING_SHARE
        T = self.T
        for k in range(len(u)):
            seen = self._seen.get(u[k].tobytes())
            if seen is None:
                continue
            big_g, big_e, lam = seen
            if self.objective == "vpo_profit":
                a, b = out[k, :T], out[k, T:]
                a += np.where(big_g > 1e-9, step[k] * (1.0 - a), 0.0)
                b -= np.where(big_e > 1e-9, step[k] * b, 0.0)
            elif jump[k]:
                c_sell, _ = self.decode(u[k])
                net = big_e - big_g
                clear = grid_price_by_side(net, self.pi_imp, self.pi_exp, c_sell, 1e-6)
                out[k] = self.encode(clear, clear)
            else:
                lam = np.clip(lam, self.pi_exp, self.pi_imp)
                out[k] += step[k] * (self.encode(lam, lam) - out[k])
        return np.clip(out, 0.0, 1.0)


@dataclass
class GameResult:
    """A solved day-ahead game: outcome, Model 1 comparison, certificate, convergence.

    ``reference`` is the exact reference the certificate used (None if none was computed);
    ``convergence`` the search's result (None for the ``exact`` solver). ``selection`` says
    which selection rule chose the outcome among equal-objective ones (or why none applied);
    ``ties``/``model1_ties`` are both ends of the VPPs' ties at the outcome's and Model 1's
    prices (None if not computed); ``incentive`` the epsilon-incentive at the outcome's prices
    (:mod:`vppsim.market.incentive`; None if not computed); ``stop`` why the search ended
    (``"budget"``, :data:`STOPPED_AT_BOUND`, an algorithm's own rule, or the solver's name for
    ``exact``).
    """

    objective: str
    solver: str
    outcome: GameOutcome
    model1: GameOutcome
    certificate: Certificate
    convergence: Result | None
    reference: ExactReference | None
    wall_s: dict[str, float]
    lower_level_solves: int
    seed: int | None
    selected_from: str = "search"
    selection: str = "none"
    ties: TieEnds | None = None
    model1_ties: TieEnds | None = None
    incentive: EpsilonIncentive | None = None
    stop: str = "budget"

#: Relative tolerance within which an outcome counts as reaching the objective's optimum.
OPTIMUM_REL_TOL = 1e-6

#: Relative tolerance within which a search's best value counts as reaching the proven bound
#: (``stop_at_bound``); far inside :data:`OPTIMUM_REL_TOL`, so a stopped search always gets the
#: selected outcome.
STOP_REL_TOL = 1e-9

#: What :attr:`GameResult.stop` says when the search stopped at the proven bound.
STOPPED_AT_BOUND = "stopped at the proven bound"


def search_target(problem: GameProblem, ref: ExactReference | None) -> float | None:
    """The objective value (to minimize) at which the search may stop, or None.

    ``system_cost``: the centralized LP's optimum (``problem.bound_cny``), a lower bound no
    price vector can beat; ``vpo_profit``: minus the MPEC's proven bound on the leader's profit
    (``ref.value_cny``; None without an MPEC reference). Both plus :data:`STOP_REL_TOL`
    relative. A candidate scored at the target reaches the objective's optimum, and
    :func:`select_outcome` picks the outcome by a rule that does not depend on which price
    vector got there: stopping changes the evaluations spent, not the outcome. None with MILP
    followers (no exact bound).
    """
    if problem.market.milp_followers:
        return None
    if problem.objective == "system_cost":
        bound = problem.bound_cny
    elif (ref is not None and ref.status != NOT_APPLICABLE and ref.c_sell_cny_per_kwh is not None
          and np.isfinite(ref.value_cny)):
        bound = -float(ref.value_cny)
    else:
        return None
    return bound + STOP_REL_TOL * max(abs(bound), 1.0)


def select_outcome(market: DayAheadMarket, objective: str, outcome: GameOutcome,
                   ref: ExactReference | None, bound_cny: float | None = None,
                   ) -> tuple[GameOutcome, str]:
    """Apply the selection rule among equal-objective outcomes (docs/design.md).

    ``bound_cny``: the centralized LP's optimum if the caller has it (else solved here).

    ``system_cost``: an outcome within :data:`OPTIMUM_REL_TOL` of the centralized bound is
    replaced by :func:`vppsim.market.selection.select_system_optimal` (the VPO's largest profit
    among prices supporting the centralized optimum, subject to IR). ``vpo_profit``: an
    outcome within the tolerance of the MPEC's incumbent is replaced by the outcome at the
    MPEC's prices (needs the reference). Otherwise the outcome is kept and the returned text
    says why. Every solver reaching the optimum thus reports the same split. With MILP
    followers there is no exact optimum to select at: the outcome is kept.
    """
    if market.milp_followers:
        return outcome, "none: MILP followers (no exact reference)"
    if objective == "system_cost":
        bound = (ref.value_cny if ref is not None else bound_cny if bound_cny is not None
                 else centralized_bound(market).system_cost_cny)
        if outcome.system_cost_cny <= bound + OPTIMUM_REL_TOL * max(abs(bound), 1.0):
            return select_system_optimal(market).outcome, SYSTEM_COST_RULE
        return outcome, (f"none: system cost {outcome.system_cost_cny:.6f} above the "
                         f"centralized bound {bound:.6f}")
    if ref is None or ref.c_sell_cny_per_kwh is None or ref.c_buy_cny_per_kwh is None:
        return outcome, "none: no MPEC reference computed"
    best = ref.incumbent_cny if ref.incumbent_cny is not None else ref.value_cny
    if outcome.vpo_profit_cny >= best - OPTIMUM_REL_TOL * max(abs(best), 1.0):
        return (outcome_at(market, ref.c_sell_cny_per_kwh, ref.c_buy_cny_per_kwh),
                VPO_PROFIT_RULE)
    return outcome, f"none: VPO profit {outcome.vpo_profit_cny:.6f} below the MPEC's {best:.6f}"


def _exact_prices(market: DayAheadMarket, objective: str,
                  ref: ExactReference) -> tuple[np.ndarray, np.ndarray]:
    """The exact reference's prices ``(c_sell, c_buy)``, CNY/kWh.

    ``vpo_profit``: the MPEC's price pair. ``system_cost``: the centralized LP's dual prices,
    which decentralize its optimum (each VPP's part of it is a best response at those prices);
    optimistic ties then reach the bound.
    """
    if objective == "vpo_profit":
        if ref.c_sell_cny_per_kwh is None or ref.c_buy_cny_per_kwh is None:
            raise ValueError(f"the reference {ref.name!r} has no prices for {objective!r}")
        return np.array(ref.c_sell_cny_per_kwh, float), np.array(ref.c_buy_cny_per_kwh, float)
    if ref.dual_price_cny_per_kwh is None:
        raise ValueError(f"the reference {ref.name!r} has no dual prices for {objective!r}")
    lam = np.clip(np.array(ref.dual_price_cny_per_kwh, float), market.pi_exp, market.pi_imp)
    return lam, lam


def _best_of_starts(problem: GameProblem, outcome: GameOutcome,
                    model1: GameOutcome) -> tuple[GameOutcome, str]:
    """The best of the search's outcome and its starting points' outcomes, and which it is.

    The search scores each VPP's own answer; the outcome breaks ties for the VPO, so the
    starting points (passthrough, centralized dual prices) are re-scored the same way.
    """
    assert problem.initial_points is not None
    objective = problem.objective
    starts = {"passthrough (Model 1)": model1}
    cs, cb = problem.decode(problem.initial_points[1])
    starts["centralized dual prices"] = outcome_at(problem.market, cs, cb)
    sign = 1.0 if objective == "system_cost" else -1.0
    selected = "search"
    for name, o in starts.items():
        if sign * o.objective_value(objective) < sign * outcome.objective_value(objective) - 1e-9:
            outcome, selected = o, name
    return outcome, selected


def solve_game(
    market: DayAheadMarket,
    objective: str = "system_cost",
    solver: str = "pso-rl",
    budget: int = 1500,
    seed: int | None = 0,
    reference: bool = True,
    reference_time_limit_s: float = 120.0,
    algorithm_options: dict | None = None,
    polish: bool = True,
    precomputed_reference: ExactReference | None = None,
    ties: bool = True,
    robust: bool = False,
    stop_at_bound: bool = True,
    background_ties: bool = False,
) -> GameResult:
    """Solve the day-ahead game and certify the outcome.

    ``solver`` (one of :data:`GAME_SOLVERS`): a metaheuristic (``pso-rl``, ``pso``, ``ga``)
    searching the price box with exact lower-level answers, or ``exact`` (the MPEC for
    ``vpo_profit``; for ``system_cost`` the centralized LP's dual prices, which decentralize
    its optimum).

    The search scores candidates with each VPP's own LP answer; the outcome at the final
    prices breaks the VPPs' ties in the VPO's favour (optimistic bilevel, as the exact
    references do), so achieved and reference values are comparable. With ``polish`` the
    search's starting points (passthrough, centralized dual prices) are scored the same way
    and kept if better; ``GameResult.selected_from`` says which won.

    The outcome then goes through :func:`select_outcome` (the same split for every solver that
    reaches the objective's optimum). With ``ties``, both ends of the VPPs' ties
    (:func:`vppsim.market.ties.tie_ends`) are computed at the outcome's and Model 1's prices;
    with ``robust`` (which implies ``ties``) also the epsilon-incentive at the outcome's prices
    (:func:`vppsim.market.incentive.epsilon_incentive`).

    With ``stop_at_bound`` a search stops once its best candidate reaches the proven bound
    (:func:`search_target`; ``GameResult.stop`` says so): the outcome is the full budget's, as
    the selection rule does not depend on the prices that reached the bound. With
    ``background_ties`` (and ``ties``, not ``robust``) the tie ends are solved in a worker
    thread while the caller goes on; reading ``GameResult.ties`` waits for them.

    ``reference``: compute the exact reference (always done for ``exact``) unless
    ``precomputed_reference`` is given, which is then used as it is.

    With MILP followers (``market.milp_followers``) the exact references do not apply: the
    reference has status ``not applicable``, the certificate holds the VPPs' regrets only, no
    tie ends or incentive are computed, and the ``exact`` solver is refused (``ValueError``).
    """
    if solver == EXACT_SOLVER and market.milp_followers:
        raise ValueError(f"the exact game solver needs LP followers; "
                         f"{', '.join(market.milp_followers)} have binaries (MILP): "
                         f"use a search solver, e.g. pso-rl")
    if solver not in GAME_SOLVERS:
        raise ValueError(f"unknown game solver {solver!r}; expected one of {GAME_SOLVERS}")
    wall: dict[str, float] = {}
    start = time.perf_counter()
    problem = GameProblem(market, objective)
    if not polish:  # no domain starting points either: a plain black-box search
        problem.initial_points = None
    ref = precomputed_reference
    if ref is None and (reference or solver == EXACT_SOLVER):
        ref = exact_reference(market, objective, reference_time_limit_s)
    wall["reference"] = time.perf_counter() - start
    t1 = time.perf_counter()
    convergence = None
    if solver == EXACT_SOLVER:
        assert ref is not None
        c_sell, c_buy = _exact_prices(market, objective, ref)
    else:
        algorithm = get_algorithm(solver, **(algorithm_options or {}))
        problem.target_f = search_target(problem, ref) if stop_at_bound else None
        convergence = algorithm.minimize(problem, budget, seed)
        c_sell, c_buy = problem.decode(convergence.x)
    wall["search"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    model1 = outcome_at(market, market.pi_imp, market.pi_exp)
    outcome = outcome_at(market, c_sell, c_buy)
    selected = "search" if solver != EXACT_SOLVER else "exact"
    if polish and solver != EXACT_SOLVER:
        outcome, selected = _best_of_starts(problem, outcome, model1)
    outcome, selection = select_outcome(market, objective, outcome, ref, problem.bound_cny)
    c_sell, c_buy = outcome.c_sell_cny_per_kwh, outcome.c_buy_cny_per_kwh
    cert = _certificate(market, outcome, objective, ref)
    ties = ties and not market.milp_followers
    robust = robust and not market.milp_followers
    wall["certificate"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    pending = _PendingTies(market, c_sell, c_buy) if ties and background_ties and not robust else None
    ends, ends1 = (both_tie_ends(market, c_sell, c_buy) if (ties or robust) and not pending
                   else (None, None))
    wall["ties"] = time.perf_counter() - t3
    t4 = time.perf_counter()
    incentive = epsilon_incentive(market, outcome, ends) if robust else None
    wall["incentive"] = time.perf_counter() - t4
    wall["total"] = time.perf_counter() - start
    args = (objective, solver, outcome, model1, cert, convergence, ref, wall,
            problem.lower_level_solves, seed if isinstance(seed, int) else None, selected,
            selection, ends, ends1, incentive, _stop_text(solver, convergence))
    return GameResult(*args) if pending is None else _PendingTiesResult(*args, pending=pending)


def _certificate(market: DayAheadMarket, outcome: GameOutcome, objective: str,
                 ref: ExactReference | None) -> Certificate:
    """The outcome's certificate against the exact reference (regrets only without one)."""
    applicable = ref is not None and ref.status != NOT_APPLICABLE
    return certify(market.vpps, outcome.schedules, outcome.c_sell_cny_per_kwh,
                   outcome.c_buy_cny_per_kwh, objective, outcome.objective_value(objective),
                   ref.name if ref else "none", ref.value_cny if applicable else None,
                   ref.status if ref else None)


def both_tie_ends(market: DayAheadMarket, c_sell: np.ndarray,
                  c_buy: np.ndarray) -> tuple[TieEnds, TieEnds]:
    """The tie ends at the prices and at Model 1's (the same if the prices pass the tariff)."""
    ends = tie_ends(market, c_sell, c_buy)
    passed = np.array_equal(c_sell, market.pi_imp) and np.array_equal(c_buy, market.pi_exp)
    return ends, ends if passed else tie_ends(market, market.pi_imp, market.pi_exp)


class _PendingTies:
    """:func:`both_tie_ends` computed in a worker thread (HiGHS releases the GIL while it solves).

    The thread's executor is shut down at once (it ends with its one task), so no thread
    outlives the computation.
    """

    def __init__(self, market: DayAheadMarket, c_sell: np.ndarray, c_buy: np.ndarray) -> None:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vppsim-ties")
        self.future: Future[tuple[tuple[TieEnds, TieEnds], float]] = executor.submit(
            self._timed, market, np.array(c_sell), np.array(c_buy))
        executor.shutdown(wait=False)

    @staticmethod
    def _timed(market: DayAheadMarket, c_sell: np.ndarray,
               c_buy: np.ndarray) -> tuple[tuple[TieEnds, TieEnds], float]:
        start = time.perf_counter()
        ends = both_tie_ends(market, c_sell, c_buy)
        return ends, time.perf_counter() - start


class _PendingTiesResult(GameResult):
    """A :class:`GameResult` whose tie ends are still being computed (``background_ties``).

    Reading ``ties`` or ``model1_ties`` (or pickling, copying, comparing) waits for them and
    raises what their computation raised; ``wall_s["ties"]`` then holds the worker's time.
    """

    def __init__(self, *args: object, pending: _PendingTies) -> None:
        self._pending: _PendingTies | None = pending
        super().__init__(*args)  # type: ignore[arg-type]

    def _resolve(self) -> None:
        if self._pending is not None:
            (ends, ends1), seconds = self._pending.future.result()
            self._pending = None
            self._ties, self._model1_ties = ends, ends1
            self.wall_s["ties"] = seconds

    @property  # type: ignore[override]
    def ties(self) -> TieEnds | None:
        """Both ends of the VPPs' ties at the outcome's prices (waits for the worker)."""
        self._resolve()
        return self._ties

    @ties.setter
    def ties(self, value: TieEnds | None) -> None:
        self._ties = value

    @property  # type: ignore[override]
    def model1_ties(self) -> TieEnds | None:
        """Both ends of the VPPs' ties at Model 1's prices (waits for the worker)."""
        self._resolve()
        return self._model1_ties

    @model1_ties.setter
    def model1_ties(self, value: TieEnds | None) -> None:
        self._model1_ties = value

    def __getstate__(self) -> dict[str, object]:
        self._resolve()
        return {**self.__dict__, "_pending": None}


def _stop_text(solver: str, convergence: Result | None) -> str:
    """Why the search ended, in words (``GameResult.stop``)."""
    if convergence is None:
        return solver
    reason = str(convergence.info.get("stop_reason", "budget"))
    return STOPPED_AT_BOUND if reason == "target" else reason
