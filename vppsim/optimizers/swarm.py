"""What the particle swarms (PSO and IRLA) share: the swarm state and the velocity step.

Bounds are handled by clipping with absorbing walls: a coordinate that leaves ``[xl, xu]``
is put on the bound and its velocity component set to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vppsim.optimizers.base import Run


def clip_absorbing(x: np.ndarray, v: np.ndarray, xl: np.ndarray, xu: np.ndarray) -> None:
    """Clip ``x`` into ``[xl, xu]`` in place and zero the velocity components that hit a wall."""
    low = x < xl
    high = x > xu
    np.clip(x, xl, xu, out=x)
    v[low | high] = 0.0


def random_subset(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """All ``n`` indices, or a sorted random ``m`` of them for a budget-truncated last iteration."""
    if m >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=m, replace=False))


@dataclass(eq=False)
class Swarm:
    """Positions ``x``, velocities ``v``, current values ``f`` and personal bests of a swarm.

    ``vmax`` is the velocity clamp per coordinate. The global best is the run's best point
    (:attr:`vppsim.optimizers.base.Run.best_x`): every evaluated point is some particle's
    position, so the best point evaluated is the best personal best.
    """

    x: np.ndarray
    v: np.ndarray
    f: np.ndarray
    pbest_x: np.ndarray
    pbest_f: np.ndarray
    vmax: np.ndarray

    @classmethod
    def start(cls, run: Run, v_clamp: float) -> Swarm:
        """A new swarm: positions drawn, velocities drawn, positions evaluated.

        Positions are uniform in the box (the problem's ``initial_points`` first), velocities
        uniform in ``[-vmax, vmax]`` with ``vmax = v_clamp (xu - xl)``.
        """
        vmax = v_clamp * (run.xu - run.xl)
        x = run.random_population(run.pop_size)
        v = (2.0 * run.rng.random((run.pop_size, run.n_var)) - 1.0) * vmax
        f = run.evaluate(x)
        return cls(x, v, f, x.copy(), f.copy(), vmax)

    def move(self, run: Run, idx: np.ndarray, x: np.ndarray, w: float | np.ndarray, c1: float,
             c2: float) -> tuple[np.ndarray, np.ndarray]:
        """The PSO step of particles ``idx`` from positions ``x``: new positions and velocities.

        ``v <- w v + c1 r1 (pbest - x) + c2 r2 (gbest - x)`` (``r1, r2`` uniform per particle
        and coordinate), clamped to ``vmax``; ``x <- x + v``, clipped with absorbing walls.
        ``w`` is a scalar or one inertia per particle, shape ``(len(idx), 1)``.
        """
        r1 = run.rng.random(x.shape)
        r2 = run.rng.random(x.shape)
        v = w * self.v[idx] + c1 * r1 * (self.pbest_x[idx] - x) + c2 * r2 * (run.best_x - x)
        np.clip(v, -self.vmax, self.vmax, out=v)
        x = x + v
        clip_absorbing(x, v, run.xl, run.xu)
        return x, v

    def accept(self, idx: np.ndarray, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Store new positions and values of particles ``idx``; update their personal bests.

        Returns the personal-best values of ``idx`` before the update.
        """
        self.x[idx], self.f[idx] = x, f
        pb_old = self.pbest_f[idx]
        better = f < pb_old
        bi = idx[better]
        self.pbest_x[bi], self.pbest_f[bi] = x[better], f[better]
        return pb_old
