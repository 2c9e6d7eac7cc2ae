"""IRLA: the improved reinforcement-learning PSO of paper 004, section 3.5 and Table 1.

Every mechanism of the paper is here, each behind a switch so that a benchmark can ablate
it: the adjustment factor (eq. 14-15), the PSO search (eq. 16) with adaptive inertia
(eq. 17), the non-uniform mutation "particle transfer" (eq. 18-19), the population feedback
(eq. 20) and the stop rule of Table 1. The algorithm knows nothing of power systems.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vppsim.optimizers.base import DEFAULT_POP_SIZE, Algorithm, Run
from vppsim.optimizers.swarm import Swarm, random_subset

MutateWhen = Literal["low_beta", "high_beta"]


def _fitness_scale(pbest_f: np.ndarray, gbest_f: float) -> float:
    """Scale that makes objective differences O(1): the spread (max - min) of the pbest values.

    Differences between pbest values divided by it lie in ``[-1, 1]``, whatever the size of
    the objective (1e-6 or 1e4). Only finite values count; falls back to ``|gbest|`` when
    they have no spread, and to 1 when that is 0 too (or not finite).
    """
    finite = pbest_f[np.isfinite(pbest_f)]
    if finite.size >= 2:
        s = float(np.ptp(finite))
        if s > 0.0 and np.isfinite(s):
            return s
    a = abs(gbest_f)
    return a if (a > 0.0 and np.isfinite(a)) else 1.0


def _scaled_diff(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """``(a - b) / scale`` clipped to [-50, 50]; infinite values give the sign of ``a - b``."""
    with np.errstate(invalid="ignore"):
        z = (a - b) / scale
    z = np.where(np.isnan(z), 0.0, z)  # inf - inf: no information
    return np.clip(z, -50.0, 50.0)


def action_factor(z: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Eq. 15: ``g(z) = (1 + exp(-sigma z))^-1 - 1``, in ``(-1, 0)``.

    Parameters
    ----------
    z : numpy.ndarray
        Scaled change of the personal best values (``<= 0`` for minimization).
    sigma : numpy.ndarray
        Standard normal draws, one per particle.

    Returns
    -------
    numpy.ndarray
        ``g(z)``, computed as ``-1 / (1 + exp(sigma z))`` (the same value, overflow-safe).
    """
    u = np.clip(sigma * z, -60.0, 60.0)
    return -1.0 / (1.0 + np.exp(u))


def non_uniform_mutation(
    x: np.ndarray,
    xl: np.ndarray,
    xu: np.ndarray,
    d: int,
    t_max: int,
    alpha: float,
    rng: np.random.Generator,
    rate: float = 1.0,
) -> np.ndarray:
    """Eq. 18-19, Michalewicz's non-uniform mutation, per coordinate.

    ``x + Delta(d, xu - x)`` if ``r < 0.5`` else ``x - Delta(d, x - xl)``, with
    ``Delta(d, z) = z (1 - r'^((1 - d/T)^alpha))``; ``r, r'`` are U(0, 1), drawn
    independently per particle and per coordinate. The step shrinks from uniform (d = 0)
    to zero (d = T); the result stays inside ``[xl, xu]`` by construction.

    Parameters
    ----------
    x : numpy.ndarray
        Positions, shape ``(k, n_var)``.
    xl, xu : numpy.ndarray
        Bounds, shape ``(n_var,)``.
    d : int
        Current iteration (0-based: the generation being mutated).
    t_max : int
        ``T``, the maximum number of iterations.
    alpha : float
        Non-uniformity exponent.
    rng : numpy.random.Generator
        Source of the draws.
    rate : float, default 1.0
        Probability that a coordinate is mutated (1.0: the whole vector, as eq. 18 reads).

    Returns
    -------
    numpy.ndarray
        Mutated positions (a new array).
    """
    up = rng.random(x.shape) < 0.5
    r = rng.random(x.shape)
    expo = max(1.0 - d / max(t_max, 1), 0.0) ** alpha
    frac = 1.0 - r**expo
    y = np.where(up, x + (xu - x) * frac, x - (x - xl) * frac)
    if rate < 1.0:
        keep = rng.random(x.shape) >= rate
        y = np.where(keep, x, y)
    return np.clip(y, xl, xu)


@dataclass(eq=False)
class _IrlaState:
    """The swarm plus IRLA's own per-particle state and counters."""

    swarm: Swarm
    w: np.ndarray  # inertia per particle (eq. 17)
    beta: np.ndarray  # adjustment factor per particle (eq. 14-15)
    stall: int = 0  # consecutive iterations without a pbest gain above xi (Table 1)
    n_search: int = 0
    n_transfer: int = 0
    n_fresh: int = 0


class IRLA(Algorithm[_IrlaState]):
    """Improved reinforcement-learning PSO of paper 004, section 3.5 (registry ``irla-paper``).

    The default ``pso-rl`` is :class:`vppsim.optimizers.learning_pso.LearningPSO`, whose
    operator choice is learned; this class is the paper's fixed rule, kept for comparison.

    One iteration (Table 1), for every particle ``k``:

    1. **Choice** by the adjustment factor ``beta_k``: with ``mutate_when="low_beta"`` (the
       paper's prose, the default) the particle searches with eq. 16 when
       ``beta_k >= 0.5`` and is transferred with eq. 18 otherwise; ``"high_beta"`` is the
       flowchart's reading (transfer when ``beta_k >= 0.5``).
    2. **Search**, eq. 16: ``v <- w_k v + c1 r1 (pbest_k - x) + c2 r2 (gbest - x)``,
       ``x <- x + v``. The paper writes ``x^{d+1} = x^d + v^d``; that lags the attraction
       by one iteration and is read as a typo: the new velocity ``v^{d+1}`` is used, as in
       every PSO. ``r1, r2`` are U(0, 1) per particle and coordinate.
    3. **Transfer**, eq. 18-19: non-uniform mutation of every coordinate of ``x_k``
       (``mutation_rate``), with ``T`` = the maximum number of iterations (``max_iter``,
       or the number the budget allows) and ``d`` the 0-based current iteration. The
       velocity is kept.
    4. Evaluate the whole swarm in one call; update pbest and gbest.
    5. **Adjustment**, eq. 14-15: ``sigma_k ~ N(0, 1)``; if ``sigma_k > 0`` the factor
       carries on, ``beta_k <- beta_k (1 + tau g(z_k))`` with
       ``g(z) = (1 + exp(-sigma z))^-1 - 1`` and ``z_k`` the change of particle k's pbest
       value; if ``sigma_k < 0`` "a fresh adjustment factor is employed":
       ``beta_k ~ U(0, 1)``. The paper's "remains the same as the previous iteration" is
       read as "continues from the previous factor through eq. 14" (otherwise eq. 14
       would never apply). ``z`` is divided by the spread (max - min) of the swarm's
       pbest values (fallback ``|gbest|``, then 1), so ``|z| <= 1`` and g is not
       saturated whatever the size of the objective (1e-6 or 1e4). Since ``g < 0``,
       eq. 14 only shrinks ``beta`` (by ``1 - tau/2`` without improvement, by up to
       ``1 - tau`` on improvement); ``tau <= 1`` keeps ``beta`` in ``(0, 1]``.
    6. **Adaptive inertia**, eq. 17: ``w_k <- |w_k + 2 rho (w_best - w_k)|``,
       ``rho ~ U(0, 1)`` per particle, ``w_best`` the inertia of the particle with the
       best current fitness (this generation's ``x_best``); the result is clipped to
       ``w_bounds``, whose upper end 0.78 is the order-2 stability limit of PSO for
       ``c1 + c2 = 3`` (Poli 2009: ``c1 + c2 < 24 (1 - w^2) / (7 - 5 w)``).
    7. **Population feedback**, eq. 20:
       ``v_k <- v_k + |kappa1| tanh(z_km) (v_m - v_k) + |kappa2| (x_old,k - x_k)``,
       ``kappa ~ N(0, 1)`` per particle, ``m`` a uniformly random other particle,
       ``z_km = (pbest_k - pbest_m) / scale`` (the same spread as in step 5, so
       ``|z_km| <= 1``; with the standard deviation instead, tanh saturates more often and
       the feedback noise kept the swarm from converging on a sphere). The paper's last
       term ``x_old,i - v_k`` mixes a position and a velocity; it is read as
       ``x_old,k - x_k`` with ``x_old,k`` the particle's position in the previous
       generation (before this iteration's move), i.e. a pull back along its last step.
       The velocity is then clamped again.
    8. **Stop** (Table 1, "d > d_max or pbest^d - pbest^{d-1} <= xi"): after ``max_iter``
       iterations; or when for ``patience`` consecutive iterations no particle improved
       its pbest value by more than ``xi = max(xi_rel |gbest|, xi_abs)`` (Table 1 tests the
       pbest values, not gbest; the literal one-iteration rule stops at the first
       iteration in which no particle improves, and a rule on gbest alone stopped IRLA
       half-way on a 10-D sphere, whose gbest often stalls for 20-70 iterations while
       the swarm still progresses); or when the budget is spent.

    Parameters
    ----------
    pop_size : int, default 30
        Number of particles (the same default as ``PSO`` and ``RealCodedGA``).
    c1, c2 : float, default 1.5
        Acceleration coefficients of eq. 16.
    tau : float, default 0.1
        Penalty factor of eq. 14, in ``(0, 1]`` so that ``beta`` stays positive (the paper
        gives no value). Larger values shrink ``beta`` faster: with ``"low_beta"``, 0.1
        gives about 47 % search moves, 0.5 about 34 %, 1.0 about 25 % (``"high_beta"``:
        the complement; measured on 10-D sphere and Rastrigin, where 0.1 converged best).
    alpha : float, default 5.0
        Non-uniformity exponent of eq. 19 (Michalewicz's ``b = 5``).
    mutation_rate : float, default 1.0
        Probability that each coordinate of a transferred particle is mutated.
    w_init : tuple of float, default (0.4, 0.78)
        Initial inertia weights are drawn uniformly in this interval, per particle.
    w_bounds : tuple of float, default (0.2, 0.78)
        Eq. 17's result is clipped into this interval: above 0.78 the swarm is not
        order-2 stable with ``c1 = c2 = 1.5``; below 0.2 it collapses at once.
    v_clamp : float, default 0.2
        Velocity clamp as a fraction of ``xu - xl`` per coordinate.
    mutate_when : {"low_beta", "high_beta"}, default "low_beta"
        When a particle is transferred (eq. 18) instead of searching (eq. 16):
        ``beta < 0.5`` (prose of section 3.5, docs/design.md) or ``beta >= 0.5`` (Table 1).
    max_iter : int or None, default None
        ``d_max``; None: as many iterations as the budget allows.
    patience : int or None, default 20
        Consecutive iterations in which no pbest improved by more than ``xi`` before
        stopping; None disables the stall rule.
    xi_rel : float, default 1e-9
        Improvement threshold relative to ``|gbest|``.
    xi_abs : float, default 0.0
        Absolute floor of the improvement threshold.
    use_adjustment : bool, default True
        Eq. 14-15. Off: ``beta_k`` is redrawn from U(0, 1) every iteration (a fair coin
        between search and transfer, no learning).
    use_adaptive_inertia : bool, default True
        Eq. 17. Off: every particle keeps its initial inertia.
    use_mutation : bool, default True
        Eq. 18-19. Off: every particle always searches with eq. 16 (``beta`` is then
        irrelevant).
    use_feedback : bool, default True
        Eq. 20. Off: the velocity of eq. 16 is carried to the next iteration unchanged.

    Notes
    -----
    Bounds: clipping with absorbing walls (the coordinate is put on the bound and its
    velocity component zeroed); the mutation stays inside the box by construction.
    Initial positions are uniform in the box, velocities uniform in ``[-vmax, vmax]``,
    ``beta ~ U(0, 1)``. If the remaining budget is smaller than the swarm, a random
    subset of that size moves in the last iteration. ``Result.info`` holds the stop reason
    (``"budget"``, ``"max_iter"`` or ``"stall"``), ``n_search`` / ``n_transfer`` (particle
    moves by eq. 16 / eq. 18), ``n_beta_fresh`` (fresh factors drawn by eq. 14-15's
    ``sigma < 0`` rule), the final mean ``beta`` and inertia, ``mutate_when`` and the switches.
    """

    name = "irla-paper"

    def __init__(
        self,
        *,
        pop_size: int = DEFAULT_POP_SIZE,
        c1: float = 1.5,
        c2: float = 1.5,
        tau: float = 0.1,
        alpha: float = 5.0,
        mutation_rate: float = 1.0,
        w_init: tuple[float, float] = (0.4, 0.78),
        w_bounds: tuple[float, float] = (0.2, 0.78),
        v_clamp: float = 0.2,
        mutate_when: MutateWhen = "low_beta",
        max_iter: int | None = None,
        patience: int | None = 20,
        xi_rel: float = 1e-9,
        xi_abs: float = 0.0,
        use_adjustment: bool = True,
        use_adaptive_inertia: bool = True,
        use_mutation: bool = True,
        use_feedback: bool = True,
    ) -> None:
        super().__init__(pop_size=pop_size, max_iter=max_iter)
        if mutate_when not in ("low_beta", "high_beta"):
            raise ValueError(f"mutate_when must be 'low_beta' or 'high_beta', got {mutate_when!r}")
        if not 0.0 < tau <= 1.0:
            raise ValueError("tau must be in (0, 1]")
        if alpha <= 0:
            raise ValueError("alpha must be > 0")
        if not 0.0 < mutation_rate <= 1.0:
            raise ValueError("mutation_rate must be in (0, 1]")
        if not 0.0 <= w_bounds[0] <= w_bounds[1]:
            raise ValueError("w_bounds must satisfy 0 <= low <= high")
        if not w_init[0] <= w_init[1]:
            raise ValueError("w_init must satisfy low <= high")
        if v_clamp <= 0:
            raise ValueError("v_clamp must be > 0")
        if patience is not None and patience < 1:
            raise ValueError("patience must be >= 1 or None")
        self.c1 = float(c1)
        self.c2 = float(c2)
        self.tau = float(tau)
        self.alpha = float(alpha)
        self.mutation_rate = float(mutation_rate)
        self.w_init = (float(w_init[0]), float(w_init[1]))
        self.w_bounds = (float(w_bounds[0]), float(w_bounds[1]))
        self.v_clamp = float(v_clamp)
        self.mutate_when: MutateWhen = mutate_when
        self.patience = patience
        self.xi_rel = float(xi_rel)
        self.xi_abs = float(xi_abs)
        self.use_adjustment = bool(use_adjustment)
        self.use_adaptive_inertia = bool(use_adaptive_inertia)
        self.use_mutation = bool(use_mutation)
        self.use_feedback = bool(use_feedback)

    def _initialize(self, run: Run) -> _IrlaState:
        # Table 1, step 1: positions, velocities (evaluated), inertia weights, adjustment factors
        swarm = Swarm.start(run, self.v_clamp)
        w = run.rng.uniform(self.w_init[0], self.w_init[1], size=run.pop_size)
        return _IrlaState(swarm, w, run.rng.random(run.pop_size))

    def _advance(self, run: Run, st: _IrlaState) -> None:
        sw = st.swarm
        idx = random_subset(run.rng, run.pop_size, min(run.pop_size, run.remaining))
        x_old = sw.x[idx].copy()
        v_new = sw.v[idx].copy()
        x_new = self._move(run, st, idx, x_old, v_new)
        # Fitness of the new generation (one call), pbest and gbest.
        pb_old = sw.accept(idx, x_new, run.evaluate(x_new))
        scale = _fitness_scale(sw.pbest_f, run.best_f)
        self._adjust(run, st, idx, pb_old, scale)
        if self.use_adaptive_inertia:
            # Adaptive inertia, eq. 17 (w_best: inertia of the best current particle).
            w_lo, w_hi = self.w_bounds
            w_best = st.w[int(np.argmin(sw.f))]
            rho = run.rng.random(len(idx))
            st.w[idx] = np.clip(np.abs(st.w[idx] + 2.0 * rho * (w_best - st.w[idx])), w_lo, w_hi)
        if self.use_feedback:
            v_new = self._feedback(run, sw, idx, v_new, x_old - x_new, scale)
        sw.v[idx] = v_new
        # Stop rule, Table 1: no pbest value improved by more than xi.
        xi = max(self.xi_rel * abs(run.best_f), self.xi_abs) if np.isfinite(run.best_f) else 0.0
        with np.errstate(invalid="ignore"):
            gain = pb_old - sw.pbest_f[idx]  # >= 0; inf -> finite is an infinite gain
        gain = np.where(np.isnan(gain), 0.0, gain)
        st.stall = st.stall + 1 if gain.size == 0 or float(gain.max()) <= xi else 0

    def _move(self, run: Run, st: _IrlaState, idx: np.ndarray, x_old: np.ndarray,
              v_new: np.ndarray) -> np.ndarray:
        """Search (eq. 16) or transfer (eq. 18) of particles ``idx``; new positions.

        The choice is made by ``beta``; ``v_new`` (the particles' velocities) is updated in
        place for the searching particles, a transferred particle keeps its velocity.
        """
        m = len(idx)
        if self.use_mutation:
            high = st.beta[idx] >= 0.5
            transfer = ~high if self.mutate_when == "low_beta" else high
        else:
            transfer = np.zeros(m, dtype=bool)
        search = ~transfer
        x_new = x_old.copy()
        if search.any():  # particle search, eq. 16 (position moved by the new velocity)
            s = idx[search]
            x_new[search], v_new[search] = st.swarm.move(run, s, x_old[search], st.w[s, None],
                                                         self.c1, self.c2)
        if transfer.any():  # particle transfer, eq. 18-19 (velocity kept)
            x_new[transfer] = non_uniform_mutation(
                x_old[transfer], run.xl, run.xu, run.iteration, run.planned_iterations,
                self.alpha, run.rng, self.mutation_rate,
            )
        st.n_search += int(search.sum())
        st.n_transfer += int(transfer.sum())
        return x_new

    def _adjust(self, run: Run, st: _IrlaState, idx: np.ndarray, pb_old: np.ndarray,
                scale: float) -> None:
        """Adjustment factor, eq. 14-15 (or a fresh U(0, 1) factor with the switch off)."""
        m = len(idx)
        if not self.use_adjustment:
            st.beta[idx] = run.rng.random(m)
            return
        z = _scaled_diff(st.swarm.pbest_f[idx], pb_old, scale)
        sigma = run.rng.standard_normal(m)
        b = st.beta[idx] * (1.0 + self.tau * action_factor(z, sigma))
        fresh = sigma < 0.0
        b[fresh] = run.rng.random(int(fresh.sum()))
        st.n_fresh += int(fresh.sum())
        st.beta[idx] = b

    def _feedback(self, run: Run, sw: Swarm, idx: np.ndarray, v_new: np.ndarray,
                  step_back: np.ndarray, scale: float) -> np.ndarray:
        """Population feedback, eq. 20 (with x_old,k - x_k, ``step_back``, for x_old,i - v_k)."""
        n, m = run.pop_size, len(idx)
        other = (idx + run.rng.integers(1, n, size=m)) % n
        k1 = np.abs(run.rng.standard_normal(m))[:, None]
        k2 = np.abs(run.rng.standard_normal(m))[:, None]
        s_km = np.tanh(_scaled_diff(sw.pbest_f[idx], sw.pbest_f[other], scale))[:, None]
        v_all = sw.v.copy()
        v_all[idx] = v_new
        v_new = v_new + k1 * s_km * (v_all[other] - v_new) + k2 * step_back
        np.clip(v_new, -sw.vmax, sw.vmax, out=v_new)
        return v_new

    def _stop(self, run: Run, st: _IrlaState) -> str | None:
        return "stall" if self.patience is not None and st.stall >= self.patience else None

    def _info(self, run: Run, st: _IrlaState) -> dict[str, Any]:
        return {
            "n_search": st.n_search,
            "n_transfer": st.n_transfer,
            "n_beta_fresh": st.n_fresh,
            "mean_beta": float(st.beta.mean()),
            "mean_inertia": float(st.w.mean()),
            "mutate_when": self.mutate_when,
            "switches": {
                "use_adjustment": self.use_adjustment,
                "use_adaptive_inertia": self.use_adaptive_inertia,
                "use_mutation": self.use_mutation,
                "use_feedback": self.use_feedback,
            },
        }
