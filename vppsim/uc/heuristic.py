"""ELM-GA for the unit commitment (paper 003): the GA chooses the commitment, HiGHS the dispatch.

:class:`CommitmentProblem` is the problem object the metaheuristic sees (it knows nothing of
power systems beyond it): one 0/1 variable per diesel/hydro unit and hour. ``repair`` makes a
candidate respect the initial state and the minimum up and down times (a forward scan: a unit
that switches keeps its new state for its minimum time); ``evaluate`` fixes the commitment in
the MILP of :mod:`vppsim.uc.milp` and solves what is left, the dispatch, with one persistent
HiGHS model, returning minus the profit. By default (``relax_dispatch``) the dispatch's own
binaries (wind/solar on/off, storage and pump modes) are relaxed there, so that each candidate
is one LP warm-started from the last one's basis (milliseconds, against 0.1-0.2 s for the small
MILP): a slightly optimistic score. The best commitment's dispatch is then solved with every
binary exact, and that schedule is what is reported. A commitment with no feasible dispatch (a
hydro unit on for more hours than its water allows at minimum output) scores +inf. Its starting
points (``initial_points``) are the all-on commitment, each unit's "on when the sell price
covers its marginal cost" commitment and, with ``starts="relaxation"`` (the default), the
MILP's LP relaxation rounded at a few thresholds, a classic unit-commitment heuristic: the
search then starts near the optimum and its own share of the result is what it adds to its best
start (``Result.history[0]``). ``starts="merit"`` runs it without the relaxation, as a black
box would.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

from vppsim.optimizers.algorithms import get_algorithm
from vppsim.optimizers.highs import new_highs, pass_model
from vppsim.uc.milp import build_uc_milp, periods
from vppsim.uc.portfolio import UcCase
from vppsim.uc.solve import UcSolution, solve_uc

#: where a unit's commitment may start the search from: "merit" (all on, and on when the price
#: covers the marginal cost) or "relaxation" (also the MILP's LP relaxation, rounded)
STARTS = ("relaxation", "merit")
#: thresholds at which the relaxed commitment is rounded up to "on"
RELAXATION_THRESHOLDS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


class CommitmentProblem:
    """Minimize minus the VPP's profit over the on/off states of its diesel/hydro units."""

    def __init__(self, case: UcCase, mode: str = "vpp", relax_dispatch: bool = True,
                 starts: str = "relaxation") -> None:
        if starts not in STARTS:
            raise ValueError(f"starts must be one of {STARTS}, got {starts!r}")
        self.case, self.mode, self.starts = case, mode, starts
        self.shape = (case.n_units, case.n_hours)
        self.n_var = case.n_units * case.n_hours
        self.xl, self.xu = np.zeros(self.n_var), np.ones(self.n_var)
        self.binary = np.ones(self.n_var, bool)
        lp, idx = build_uc_milp(case, mode)
        if relax_dispatch:  # the dispatch's own binaries relaxed: one warm-started LP each
            lp = dataclasses.replace(lp, integer=np.zeros_like(lp.integer))
        self._u = idx.u.ravel().astype(np.int32)
        self._offset = lp.offset
        self._h = new_highs(1)
        pass_model(self._h, lp)
        self._relaxed_u: np.ndarray | None = None
        if starts == "relaxation":  # u still free in [0, 1]: the LP relaxation of the MILP
            relaxed = dataclasses.replace(lp, integer=np.zeros_like(lp.integer))
            h = new_highs(1)
            pass_model(h, relaxed)
            h.run()
            if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                self._relaxed_u = np.asarray(h.getSolution().col_value)[self._u]
        dt = case.dt_h
        self._up = np.array([periods(u.min_up_h, dt) for u in case.thermal])
        self._down = np.array([periods(u.min_down_h, dt) for u in case.thermal])
        self._on0 = np.array([int(u.initially_on) for u in case.thermal])
        self._held0 = np.array([periods(u.initial_hours_in_state, dt) for u in case.thermal])
        self.evaluations = 0

    @property
    def initial_points(self) -> np.ndarray:
        """Starting commitments offered to the search (rows, repaired).

        Always: every unit on, and each unit on in the hours the sell price covers its
        marginal cost. With ``starts="relaxation"`` also the MILP's LP relaxation rounded up
        from ``RELAXATION_THRESHOLDS`` (a unit on where its relaxed ``u`` exceeds it).
        """
        rows = [np.ones(self.n_var)]
        mc = np.array([u.marginal_cost_cny_per_kwh + u.maintenance_cost_cny_per_kwh
                       for u in self.case.thermal])
        rows.append((self.case.sell_price_cny_per_kwh[None, :] >= mc[:, None]).ravel())
        if self._relaxed_u is not None:
            rows += [(self._relaxed_u > th).astype(float) for th in RELAXATION_THRESHOLDS]
        return self.repair(np.stack(rows).astype(float))

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Round to 0/1 and enforce the initial state and the minimum up/down times."""
        x = np.atleast_2d(np.asarray(x, float))
        out = np.round(x).reshape(-1, *self.shape)
        T = self.shape[1]
        for k in range(self.shape[0]):
            state = np.full(out.shape[0], self._on0[k])
            need = np.where(state == 1, self._up[k], self._down[k]) - self._held0[k]
            locked = np.maximum(need, 0)
            for t in range(T):
                want = out[:, k, t].astype(int)
                keep = locked > 0
                want = np.where(keep, state, want)
                switched = want != state
                locked = np.where(switched, np.where(want == 1, self._up[k], self._down[k]),
                                  locked) - 1
                state = want
                out[:, k, t] = want
        return out.reshape(x.shape[0], -1)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Minus the profit of the best dispatch of each commitment (rows of ``x``), CNY."""
        x = np.atleast_2d(x)
        f = np.empty(x.shape[0])
        h = self._h
        for i, row in enumerate(np.round(x)):
            h.changeColsBounds(len(self._u), self._u, row, row)
            h.run()
            self.evaluations += 1
            ok = h.getInfo().primal_solution_status == 2 and h.getModelStatus() in (
                highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInterrupt)
            f[i] = float(h.getInfo().objective_function_value) + self._offset if ok else np.inf
        return f


@dataclass(frozen=True)
class HeuristicResult:
    """ELM-GA's schedule (re-solved dispatch of its best commitment) and its run figures."""

    solution: UcSolution
    info: dict[str, Any] = field(default_factory=dict)


def solve_uc_elm_ga(case: UcCase, mode: str = "vpp", budget: int = 2000, seed: int = 0,
                    starts: str = "relaxation", **hyper: Any) -> HeuristicResult:
    """Run ELM-GA on the commitment (``budget`` dispatch solves), seeded.

    The best commitment's dispatch is solved again by :func:`vppsim.uc.solve.solve_uc` so the
    schedule and its tables come from one place; ``info`` holds the algorithm's figures
    (evaluations, iterations, wall time, history, surrogate statistics).
    """
    problem = CommitmentProblem(case, mode, starts=starts)
    algo = get_algorithm("elm-ga", **hyper)
    res = algo.minimize(problem, budget, seed)
    commitment = problem.repair(res.x[None, :])[0].reshape(problem.shape)
    sol = solve_uc(case, mode, commitment=commitment)
    info = {"algorithm": res.algorithm, "starts": starts, "evaluations": res.evaluations,
            "iterations": res.iterations, "search_wall_s": res.wall_s,
            "best_objective_cny": -res.f, "history_profit_cny": (-res.history).tolist(),
            **{k: v for k, v in res.info.items() if np.isscalar(v)}}
    return HeuristicResult(solution=dataclasses.replace(sol, wall_s=res.wall_s + sol.wall_s),
                           info=info)
