"""Learning PSO ("pso-rl"): a particle swarm whose update operator is chosen by a bandit.

Paper 004's IRLA (:mod:`vppsim.optimizers.irla`, registry name ``irla-paper``) picks a
particle's move with a fixed rule on its adjustment factor; nothing in it learns which move
pays. Here every particle, every iteration, draws one operator from a softmax over learned
values ``Q[state, operator]`` and the values are updated with the reward the move earned
(a contextual bandit: Q-learning with discount 0). The operators are paper 004's moves and
two exploitation moves:

- ``search``: the PSO step of eq. 16 (inertia ``w``, ``c1``, ``c2``);
- ``feedback``: eq. 16 followed by eq. 20's population feedback on the velocity;
- ``transfer``: eq. 18-19's non-uniform mutation of the whole position;
- ``mutation``: eq. 18-19's non-uniform mutation of a few coordinates of the global best
  (``local_rate`` of them), a local search around the incumbent;
- ``hint``: the problem's own move, if it offers ``propose(x, rng) -> x_new`` (domain
  knowledge, e.g. the game's move along the lower level's answers); absent otherwise.

State: the tercile of the particle's personal-best rank in the swarm (0 best). Reward of a
move: 0 if the particle's personal best did not improve, else
``0.5 + 0.5 * min(1, gain / spread)`` (spread = max - min of the personal bests), plus
``gbest_bonus`` if it improved the global best. Values start at ``q_init`` and move by
``learning_rate`` towards the mean reward of the iteration's picks; selection probabilities
are ``softmax(Q[state] / (temperature * max Q[state]))`` mixed with a uniform floor ``min_share`` (every
operator keeps being tried). Everything is vectorized across particles and every draw comes
from the run's one generator, so a seed gives one result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vppsim.optimizers.base import DEFAULT_POP_SIZE, Algorithm, Run
from vppsim.optimizers.irla import _fitness_scale, _scaled_diff, non_uniform_mutation
from vppsim.optimizers.swarm import Swarm, random_subset

#: Operators in the order of the Q-table's columns (``hint`` only if the problem proposes).
OPERATORS: tuple[str, ...] = ("search", "feedback", "transfer", "mutation", "hint")
N_STATES = 3


def softmax_choice(q: np.ndarray, temperature: float, min_share: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One operator per row of ``q`` (shape ``(m, n_ops)``) and the probabilities used.

    ``p = (1 - n_ops * min_share) * softmax(q / (temperature * max(q))) + min_share``: the
    temperature is relative to the row's best value, so the choice depends on how the values
    compare, not on their size (late in a run every move succeeds rarely and all values are
    small). One uniform draw per row picks the operator by inverse CDF.
    """
    top = q.max(axis=1, keepdims=True)
    z = (q - top) / (temperature * np.maximum(top, 1e-12))
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n_ops = q.shape[1]
    p = (1.0 - n_ops * min_share) * p + min_share
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(q))[:, None] * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(axis=1), n_ops - 1), p


def bandit_update(q: np.ndarray, state: np.ndarray, op: np.ndarray, reward: np.ndarray,
                  learning_rate: float) -> None:
    """Move ``q[s, a]`` towards the mean reward of this iteration's picks of ``(s, a)``, in place."""
    n_s, n_a = q.shape
    cell = state * n_a + op
    count = np.bincount(cell, minlength=n_s * n_a)
    total = np.bincount(cell, weights=reward, minlength=n_s * n_a)
    hit = count > 0
    flat = q.reshape(-1)
    flat[hit] += learning_rate * (total[hit] / count[hit] - flat[hit])


@dataclass(eq=False)
class _LearnState:
    """The swarm, the Q-table and the selection counts per operator."""

    swarm: Swarm
    q: np.ndarray  # (N_STATES, n_ops)
    ops: tuple[str, ...]
    counts: np.ndarray  # picks per operator
    wins: np.ndarray  # picks that improved the particle's personal best
    share_history: list[list[float]] = field(default_factory=list)  # picks share per iteration


class LearningPSO(Algorithm[_LearnState]):
    """Particle swarm with a learned choice of update operator per particle (default ``pso-rl``).

    Parameters
    ----------
    pop_size : int, default 30
        Number of particles.
    w : float, default 0.7
        Inertia of the ``search`` and ``feedback`` moves (eq. 16).
    c1, c2 : float, default 1.5
        Acceleration coefficients of eq. 16.
    v_clamp : float, default 0.2
        Velocity clamp as a fraction of ``xu - xl``.
    alpha : float, default 5.0
        Non-uniformity exponent of eq. 19 (``transfer`` and ``mutation``).
    local_rate : float, default 0.1
        Share of the coordinates the ``mutation`` move changes (at least one).
    operators : tuple of str, default all of :data:`OPERATORS`
        The moves the bandit chooses from (``hint`` is dropped when the problem has no
        ``propose``).
    temperature : float, default 0.25
        Softmax temperature relative to the best value of the row (:func:`softmax_choice`).
    min_share : float, default 0.02
        Floor of every operator's selection probability.
    learning_rate : float, default 0.1
        Step of the value update.
    q_init : float, default 0.5
        Initial value of every (state, operator).
    gbest_bonus : float, default 0.5
        Extra reward for a move that improved the global best.
    max_iter : int or None, default None
        Maximum number of iterations; None: as many as the budget allows.

    Notes
    -----
    ``Result.info`` holds ``operators``, ``picks`` and ``wins`` per operator, the final
    ``q`` table (rows: rank terciles, best first) and ``share_history`` (each operator's
    share of the picks per iteration).
    """

    name = "pso-rl"

    def __init__(
        self,
        *,
        pop_size: int = DEFAULT_POP_SIZE,
        w: float = 0.7,
        c1: float = 1.5,
        c2: float = 1.5,
        v_clamp: float = 0.2,
        alpha: float = 5.0,
        local_rate: float = 0.1,
        operators: tuple[str, ...] = OPERATORS,
        temperature: float = 0.25,
        min_share: float = 0.02,
        learning_rate: float = 0.1,
        q_init: float = 0.5,
        gbest_bonus: float = 0.5,
        max_iter: int | None = None,
    ) -> None:
        super().__init__(pop_size=pop_size, max_iter=max_iter)
        unknown = [o for o in operators if o not in OPERATORS]
        if unknown or not operators:
            raise ValueError(f"operators must be a non-empty subset of {OPERATORS}, got {operators!r}")
        if temperature <= 0 or not 0.0 < learning_rate <= 1.0:
            raise ValueError("temperature must be > 0 and learning_rate in (0, 1]")
        if not 0.0 <= min_share * len(operators) < 1.0:
            raise ValueError("min_share must be in [0, 1/len(operators))")
        if v_clamp <= 0 or alpha <= 0 or not 0.0 < local_rate <= 1.0:
            raise ValueError("v_clamp and alpha must be > 0, local_rate in (0, 1]")
        self.w, self.c1, self.c2 = float(w), float(c1), float(c2)
        self.v_clamp, self.alpha, self.local_rate = float(v_clamp), float(alpha), float(local_rate)
        self.operators = tuple(operators)
        self.temperature, self.min_share = float(temperature), float(min_share)
        self.learning_rate, self.q_init = float(learning_rate), float(q_init)
        self.gbest_bonus = float(gbest_bonus)

    def _initialize(self, run: Run) -> _LearnState:
        swarm = Swarm.start(run, self.v_clamp)
        has_hint = callable(getattr(run.problem, "propose", None))
        ops = tuple(o for o in self.operators if o != "hint" or has_hint)
        if not ops:
            raise ValueError("operators: only 'hint' given and the problem has no propose()")
        q = np.full((N_STATES, len(ops)), self.q_init)
        return _LearnState(swarm, q, ops, np.zeros(len(ops), int), np.zeros(len(ops), int))

    def _states(self, sw: Swarm, idx: np.ndarray) -> np.ndarray:
        """Rank tercile (0 best) of particles ``idx`` by personal-best value."""
        rank = np.empty(len(sw.pbest_f), int)
        rank[np.argsort(sw.pbest_f, kind="stable")] = np.arange(len(sw.pbest_f))
        return np.minimum(rank[idx] * N_STATES // len(sw.pbest_f), N_STATES - 1)

    def _advance(self, run: Run, st: _LearnState) -> None:
        sw = st.swarm
        idx = random_subset(run.rng, run.pop_size, min(run.pop_size, run.remaining))
        state = self._states(sw, idx)
        op, _ = softmax_choice(st.q[state], self.temperature, self.min_share, run.rng)
        x_old = sw.x[idx].copy()
        x_new, v_new = self._apply(run, st, idx, op, x_old)
        best_before = run.best_f
        f = run.evaluate(x_new)
        sw.v[idx] = v_new
        pb_old = sw.accept(idx, x_new, f)
        scale = _fitness_scale(sw.pbest_f, run.best_f)
        gain = np.maximum(_scaled_diff(pb_old, sw.pbest_f[idx], scale), 0.0)
        improved = sw.pbest_f[idx] < pb_old
        reward = np.where(improved, 0.5 + 0.5 * np.minimum(gain, 1.0), 0.0)
        reward = reward + self.gbest_bonus * (f < best_before)
        bandit_update(st.q, state, op, reward, self.learning_rate)
        n_ops = len(st.ops)
        picks = np.bincount(op, minlength=n_ops)
        st.counts += picks
        st.wins += np.bincount(op, weights=improved, minlength=n_ops).astype(int)
        st.share_history.append((picks / len(idx)).tolist())

    def _apply(self, run: Run, st: _LearnState, idx: np.ndarray, op: np.ndarray,
               x_old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New positions and velocities of particles ``idx`` under their chosen operators."""
        sw = st.swarm
        x_new, v_new = x_old.copy(), sw.v[idx].copy()
        for k, name in enumerate(st.ops):
            sel = op == k
            if not sel.any():
                continue
            s = idx[sel]
            if name in ("search", "feedback"):
                x_new[sel], v_new[sel] = sw.move(run, s, x_old[sel], self.w, self.c1, self.c2)
                if name == "feedback":
                    v_new[sel] = self._feedback(run, sw, s, v_new[sel], x_old[sel] - x_new[sel])
            elif name == "transfer":
                x_new[sel] = non_uniform_mutation(x_old[sel], run.xl, run.xu, run.iteration,
                                                  run.planned_iterations, self.alpha, run.rng)
            elif name == "mutation":
                x_new[sel] = self._local(run, int(sel.sum()))
            else:  # hint: the problem's own move from the particles' positions
                prop = np.asarray(run.problem.propose(x_old[sel], run.rng), float)  # type: ignore[attr-defined]
                x_new[sel] = np.clip(prop.reshape(x_old[sel].shape), run.xl, run.xu)
        return x_new, v_new

    def _local(self, run: Run, m: int) -> np.ndarray:
        """``m`` copies of the global best, a few coordinates each moved by eq. 18-19."""
        assert run.best_x is not None
        base = np.repeat(run.best_x[None, :], m, axis=0)
        mutated = non_uniform_mutation(base, run.xl, run.xu, run.iteration,
                                       run.planned_iterations, self.alpha, run.rng)
        pick = run.rng.random(base.shape) < self.local_rate
        one = run.rng.integers(0, run.n_var, size=m)  # at least one coordinate moves
        pick[np.arange(m), one] = True
        return np.where(pick, mutated, base)

    def _feedback(self, run: Run, sw: Swarm, idx: np.ndarray, v_new: np.ndarray,
                  step_back: np.ndarray) -> np.ndarray:
        """Eq. 20 on the velocities of particles ``idx`` (as in IRLA), clamped."""
        n, m = run.pop_size, len(idx)
        other = (idx + run.rng.integers(1, n, size=m)) % n
        k1 = np.abs(run.rng.standard_normal(m))[:, None]
        k2 = np.abs(run.rng.standard_normal(m))[:, None]
        scale = _fitness_scale(sw.pbest_f, run.best_f)
        s_km = np.tanh(_scaled_diff(sw.pbest_f[idx], sw.pbest_f[other], scale))[:, None]
        v = v_new + k1 * s_km * (sw.v[other] - v_new) + k2 * step_back
        return np.clip(v, -sw.vmax, sw.vmax)

    def _info(self, run: Run, st: _LearnState) -> dict[str, Any]:
        return {
            "operators": list(st.ops),
            "picks": dict(zip(st.ops, st.counts.tolist(), strict=True)),
            "wins": dict(zip(st.ops, st.wins.tolist(), strict=True)),
            "q": st.q.tolist(),
            "share_history": st.share_history,
        }
