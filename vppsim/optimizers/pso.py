"""Plain global-best particle swarm optimization (the baseline of paper 004's Figure 9)."""

from __future__ import annotations

from vppsim.optimizers.base import DEFAULT_POP_SIZE, Algorithm, Run
from vppsim.optimizers.swarm import Swarm, random_subset


class PSO(Algorithm[Swarm]):
    """Plain global-best particle swarm optimization (Kennedy-Eberhart with inertia).

    ``v <- w v + c1 r1 (pbest - x) + c2 r2 (gbest - x)``, ``x <- x + v``, with ``r1, r2``
    drawn per particle and per coordinate from U(0, 1).

    Parameters
    ----------
    pop_size : int, default 30
        Number of particles (the same default as ``IRLA`` and ``RealCodedGA``).
    w : float, default 0.7
        Inertia weight. Constant by default (close to Clerc's 0.7298, which is convergent
        with ``c1 = c2 = 1.5``); give ``w_end`` for a linearly varying inertia.
    w_end : float or None, default None
        If given, the inertia goes linearly from ``w`` (first iteration) to ``w_end`` (last
        planned iteration), e.g. ``w=0.9, w_end=0.4`` (Shi-Eberhart).
    c1, c2 : float, default 1.5
        Cognitive and social acceleration coefficients.
    v_clamp : float, default 0.2
        Velocity clamp as a fraction of the range ``xu - xl`` per coordinate.
    max_iter : int or None, default None
        Maximum number of iterations; None: as many as the budget allows.

    Notes
    -----
    Bounds are handled by clipping with absorbing walls: a coordinate that leaves
    ``[xl, xu]`` is clipped onto the bound and its velocity component is set to zero.
    Initial positions are uniform in the box, initial velocities uniform in
    ``[-vmax, vmax]``. Each iteration evaluates the whole swarm in one
    ``problem.evaluate`` call; if the remaining budget is smaller than the swarm, only a
    random subset of that size moves in the last iteration.
    """

    name = "pso"

    def __init__(
        self,
        *,
        pop_size: int = DEFAULT_POP_SIZE,
        w: float = 0.7,
        w_end: float | None = None,
        c1: float = 1.5,
        c2: float = 1.5,
        v_clamp: float = 0.2,
        max_iter: int | None = None,
    ) -> None:
        super().__init__(pop_size=pop_size, max_iter=max_iter)
        if v_clamp <= 0:
            raise ValueError("v_clamp must be > 0")
        self.w = float(w)
        self.w_end = None if w_end is None else float(w_end)
        self.c1 = float(c1)
        self.c2 = float(c2)
        self.v_clamp = float(v_clamp)

    def _initialize(self, run: Run) -> Swarm:
        return Swarm.start(run, self.v_clamp)

    def _advance(self, run: Run, swarm: Swarm) -> None:
        idx = random_subset(run.rng, run.pop_size, min(run.pop_size, run.remaining))
        if self.w_end is None:
            w = self.w
        else:
            frac = run.iteration / max(run.planned_iterations - 1, 1)
            w = self.w + (self.w_end - self.w) * min(frac, 1.0)
        x, v = swarm.move(run, idx, swarm.x[idx], w, self.c1, self.c2)
        f = run.evaluate(x)
        swarm.v[idx] = v
        swarm.accept(idx, x, f)
