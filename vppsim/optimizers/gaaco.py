"""GA-ACO (paper 001): a genetic algorithm followed by ant-colony refinement, batched over problems.

The algorithm knows nothing of power systems. It solves a
:class:`~vppsim.optimizers.batched.BatchedProblem`: ``B`` independent problems over ``K``
variables, each with bounds ``lower`` / ``upper`` ``(B, K)``, a sum constraint
``sum_k x_k = target`` and its own ``repair`` onto that feasible set (for the balanced
allocation of :mod:`vppsim.allocation` the exact projection), evaluated as
``(B, M, K) -> (B, M)``; it returns a :class:`~vppsim.optimizers.batched.BatchResult`.
Problems whose feasible set is one point are not searched (their result is the repair of the
initial population's best).

**Batched and reproducible.** One call optimizes ``B`` independent problems with numpy arrays
shaped ``(B, population, K)``. Problem ``b``'s result depends only on its own data and its own
seed: every random number comes from a counter-based generator
(:class:`vppsim.optimizers.rng.CounterRng`, the splitmix64 finalizer over ``uint64`` arrays)
keyed by the problem's seed, the draw site, the iteration and the element index; every
reduction runs within one problem (sums in a fixed order, see
:func:`vppsim.optimizers.batched.sum_last`; no transcendental functions, whose SIMD and scalar
paths may round differently); and a problem that stops early is frozen while the others go on.
So a batch gives bit for bit the results of its problems solved one by one with the same
seeds at the same ``K``. Trailing zero-width genes (``upper == lower``, used to pad problems
to a common ``K``) are never touched by the GA's operators, but the ACO's local pheromone
update (eq. 18) also counts the guides the ants draw for them, so padding a problem to a
larger ``K`` can change its path (a known flaw, kept so that earlier results reproduce;
``tests/test_gaaco.py::test_padding_changes_nothing`` records it). The co-simulation pads every
VPP of a step to the scenario's largest ``K``, alone or in a Monte Carlo chunk alike.

Reading of paper 001 (section "Solving ... Based on Genetic-Heuristic Algorithm")
---------------------------------------------------------------------------------
*GA phase.* Real coding, one chromosome = one allocation, fitness from eq. 10-13 via
``evaluate``. Roulette selection (eq. 16, ``p_i = F_i / sum_j F_j``) on the windowed score
``F_i = f_worst - f_i + 0.1 (f_worst - f_best)`` (the objective is minimized, so it has to be
turned into a positive score). Selected parents are paired consecutively. The paper's hybrid
of single-point and sequential (order) crossover draws a cut ``r`` and exchanges the first
``r`` genes; its order-preserving step zeroes and re-inserts genes whose *values* match,
which never happens with real genes, so here the exchanged head segment is blended instead
(BLX-alpha: ``c1 = a + (1 - l)(b - a)``, ``c2 = b + (1 - l)(a - b)`` on the head, ``l`` uniform
on ``[-alpha, 1 + alpha]``; ``l = 0`` is the plain exchange). Mutation is the paper's
inversion: two random loci, the genes between them reversed. Children are repaired. Adaptive
rates (Srinivas-Patnaik form): crossover ``p_c`` from 0.8 for pairs no better than the
population mean down to 0.6 for the best, mutation ``p_m`` from 0.03 down to 0.01 likewise,
and ``p_m = 0.05`` whenever the population's fitness variance falls below
``diversity_threshold * mean**2``. The best 5 % (at least one) pass unchanged. The phase ends
after ``generations`` or after ``ga_patience`` generations without improvement.

*ACO phase.* The paper's ACO works on "paths" that are whole allocation strategies: "the
pheromone concentration reflects the solution quality ... higher pheromone concentrations
denote superior paths, making them more likely to be selected by subsequent ants", and "the
genetic algorithm-optimized suboptimal solutions ... ranked by fitness value ... [are] nodal
inputs for the ant colony". We read this as a solution-archive colony (ACO for continuous
domains, Socha & Dorigo 2008): the ``archive`` best GA solutions, ranked, each carry a
pheromone ``tau_j``. An ant visits the resources (the paper's demand nodes) and, at each,
picks a guide solution ``j`` by the pseudo-random proportional rule (eq. 17): with probability
``q0 = 0.7`` the one maximizing ``tau_j * eta_j``, else a roulette draw proportional to
``tau_j * eta_j`` (``alpha = beta = 1``; heuristic ``eta_j = 1 / (1 + rank_j)``). Its value for
the resource is the guide's plus noise of scale ``sigma_jk = spread * mean_i |x_ik - x_jk| +
h (upper_k - lower_k)`` (the archive's spread around the guide, plus a floor ``h`` that starts
at ``step0`` and halves after every iteration without improvement). The ant's allocation is
repaired and evaluated. Local update (eq. 18) on every archive member an ant followed:
``tau <- (1 - xi) tau + xi tau0``; the ants join the archive, which keeps its best members
(newcomers at ``tau0``); global update (eq. 19) on the best path:
``tau <- (1 - rho) tau + rho Q tau0`` with the reinforcement coefficient ``Q`` (1.5-2.0). The
paper assigns initial pheromone "according to resource adjustable capacity"; here the
capacity enters through the noise floor ``h (upper_k - lower_k)``. A problem stops when its
largest ``sigma`` of the best member falls below ``min_step`` of the range, or after
``iterations``. Noise is the sum of three uniforms (mean 0, variance 1, bounded by 3):
arithmetic only, so it is reproducible across batch shapes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from vppsim.optimizers.batched import BatchedProblem, BatchResult, fixed_problems, sum_last
from vppsim.optimizers.rng import CounterRng, problem_keys

_PHASE_INIT, _PHASE_GA, _PHASE_ACO = 1, 2, 3


def _site(phase: int, iteration: int, draw: int) -> int:
    return (phase << 48) | (iteration << 12) | draw


@dataclass(frozen=True)
class GaAcoSettings:
    """GA-ACO settings; the ranges are paper 001's, the sizes are ours (it publishes none).

    The defaults are sized for real-time use (a few hundred evaluations per problem) and reach
    the paper case's LP optimum to about 1e-5 of its total fitness.

    Attributes
    ----------
    population
        GA population size per problem.
    generations
        Maximum GA generations.
    crossover
        Adaptive crossover probability range ``(low, high)`` (paper: 0.6-0.8).
    mutation
        Adaptive inversion-mutation probability range (paper: 0.01-0.03).
    mutation_low_diversity
        Mutation probability when diversity collapses (paper: 0.05).
    diversity_threshold
        Low diversity: population variance of the objective ``<= threshold * mean**2``.
    elite_fraction
        Share of the population kept unchanged (paper: 5 %; at least one individual).
    blend_alpha
        BLX-alpha extension of the blended head segment.
    ga_patience
        GA generations without improvement before the ACO phase starts.
    ants
        Ants per ACO iteration.
    iterations
        Maximum ACO iterations.
    archive
        Solutions in the colony's archive (the best GA solutions at the start).
    q0
        Pseudo-random proportional rule threshold (paper: 0.7).
    local_evaporation
        ``xi`` of the local update (paper: 0.1-0.3).
    global_evaporation
        ``rho`` of the global update on the best path.
    reinforcement
        ``Q`` of the global update (paper: 1.5-2.0).
    spread
        Noise scale relative to the archive's spread around the guide.
    step0
        Initial noise floor, as a fraction of each variable's range.
    step_shrink
        Factor applied to the floor after an iteration without improvement.
    min_step
        A problem stops once its noise scale falls below this fraction of the range.
    """

    population: int = 12
    generations: int = 12
    crossover: tuple[float, float] = (0.6, 0.8)
    mutation: tuple[float, float] = (0.01, 0.03)
    mutation_low_diversity: float = 0.05
    diversity_threshold: float = 1e-4
    elite_fraction: float = 0.05
    blend_alpha: float = 0.5
    ga_patience: int = 4
    ants: int = 10
    iterations: int = 60
    archive: int = 10
    q0: float = 0.7
    local_evaporation: float = 0.2
    global_evaporation: float = 0.2
    reinforcement: float = 1.75
    spread: float = 1.0
    step0: float = 0.02
    step_shrink: float = 0.5
    min_step: float = 1e-6

    def __post_init__(self) -> None:
        problems = []
        if self.population < 2 or self.ants < 1 or self.archive < 1:
            problems.append("population: expected >= 2; ants, archive: expected >= 1")
        if self.generations < 0 or self.iterations < 0 or self.ga_patience < 1:
            problems.append("generations, iterations: expected >= 0; ga_patience: expected >= 1")
        for name in ("crossover", "mutation"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi <= 1.0:
                problems.append(f"{name}: expected 0 <= low <= high <= 1")
        for name in ("q0", "local_evaporation", "global_evaporation", "elite_fraction",
                     "mutation_low_diversity", "step_shrink"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name}: expected a value in [0, 1]")
        if not (0.0 < self.step0 <= 1.0 and 0.0 < self.min_step):
            problems.append("step0: expected a value in (0, 1]; min_step: expected > 0")
        if self.spread < 0 or self.blend_alpha < 0 or self.reinforcement < 0:
            problems.append("spread, blend_alpha, reinforcement: expected >= 0")
        if problems:
            raise ValueError("GaAcoSettings: " + "; ".join(problems))


def _take(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` ``(B, M)`` of ``x`` ``(B, N, K)`` -> ``(B, M, K)``; of ``x`` ``(B, N)`` -> ``(B, M)``.

    Plain indexing (``np.take_along_axis`` on axis 1, without its per-call overhead).
    """
    return x[np.arange(x.shape[0])[:, None], idx]


def _adaptive(f: np.ndarray, avg: np.ndarray, best: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Srinivas-Patnaik rate: ``hi`` at or above the mean objective, down to ``lo`` at the best."""
    gap = avg - best
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(gap > 0, (avg - f) / np.where(gap > 0, gap, 1.0), 0.0)
    return np.where(f < avg, hi - (hi - lo) * np.clip(frac, 0.0, 1.0), hi)


def _count_below(cum: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Roulette index: how many of ``cum[b, :]`` (cumulative weights) are ``<= r[b, ...]``.

    Capped at the last index (guards ``r`` rounding up to the total).
    """
    n = cum.shape[1]
    shape = (cum.shape[0],) + (1,) * (r.ndim - 1)
    count = np.zeros(r.shape, dtype=np.int64)
    for j in range(n - 1):
        count += cum[:, j].reshape(shape) <= r
    return count


def _normalish(u: np.ndarray) -> np.ndarray:
    """Noise with mean 0 and variance 1 from three uniforms (last axis), arithmetic only."""
    return (u[..., 0] + u[..., 1] + u[..., 2] - 1.5) * 2.0


def ga_aco(problem: BatchedProblem, seeds: Any = 0, settings: GaAcoSettings | None = None
           ) -> BatchResult:
    """Minimize ``problem`` (``B`` problems at once) by GA followed by ACO refinement.

    Parameters
    ----------
    problem
        ``B`` problems with bounds, a sum constraint and a repair each (see the module
        docstring and :class:`~vppsim.optimizers.batched.BatchedProblem`).
    seeds
        One non-negative int for every problem, or one per problem ``(B,)``. Problem ``b``'s
        result depends only on its data and ``seeds[b]``.
    settings
        :class:`GaAcoSettings` (defaults if None).

    Returns
    -------
    BatchResult
        Best point per problem ``(B, K)``, its objective ``(B,)``, the convergence
        ``history`` ``(B, 1 + generations + iterations)``, ``iterations`` run per problem,
        the wall time of the call and ``info["settings"]``.

    Raises
    ------
    ValueError
        If ``seeds`` is neither one int nor ``B`` ints, or holds negative values.
    """
    s = settings or GaAcoSettings()
    t0 = time.perf_counter()
    nb, nk = problem.n_problems, problem.n_var
    rng = CounterRng(problem_keys(seeds, nb))
    lower = np.asarray(problem.lower, float)
    upper = np.asarray(problem.upper, float)
    width = upper - lower
    live = width > 0
    # genes the operators may touch: up to the last gene with a range (trailing padding excluded)
    span = np.where(live.any(axis=1), nk - np.argmax(live[:, ::-1], axis=1), 0)
    run = ~fixed_problems(problem) & (span > 1)

    u = rng.uniform(_site(_PHASE_INIT, 0, 0), (s.population, nk))
    pop = problem.repair(lower[:, None, :] + u * width[:, None, :])
    fit = problem.evaluate(pop)
    ibest = np.argmin(fit, axis=1)
    best_x = _take(pop, ibest[:, None])[:, 0, :]
    best_f = _take(fit, ibest[:, None])[:, 0]
    hist = [best_f.copy()]
    iters = np.zeros(nb, dtype=int)
    state = (pop, fit, best_x, best_f, iters)
    state = _ga_phase(problem, s, rng, state, run, span, hist)
    state = _aco_phase(problem, s, rng, state, run, lower, upper, width, live, hist)
    _, _, best_x, best_f, iters = state
    return BatchResult(
        x=best_x, f=best_f, history=np.stack(hist, axis=1), iterations=iters,
        wall_s=time.perf_counter() - t0, algorithm="ga-aco", info={"settings": s},
    )


def _ga_phase(problem: BatchedProblem, s: GaAcoSettings, rng: CounterRng, state: tuple, run: np.ndarray,
              span: np.ndarray, hist: list[np.ndarray]) -> tuple:
    """Generations of selection, hybrid crossover, inversion mutation and elitism."""
    pop, fit, best_x, best_f, iters = state
    nb, n, nk = pop.shape
    n_elite = min(n - 1, max(1, int(np.ceil(s.elite_fraction * n))))
    n_child = n - n_elite
    n_pair = (n_child + 1) // 2
    kpos = np.arange(nk)
    stall = np.zeros(nb, dtype=int)
    active = run.copy()
    pc_lo, pc_hi = s.crossover
    pm_lo, pm_hi = s.mutation
    for g in range(1, s.generations + 1):
        if not active.any():
            hist.extend([best_f.copy()] * (s.generations - g + 1))
            break
        f_best = np.min(fit, axis=1)
        f_worst = np.max(fit, axis=1)
        f_avg = sum_last(fit) / n
        var = sum_last((fit - f_avg[:, None]) ** 2) / n
        low_div = var <= s.diversity_threshold * f_avg * f_avg
        order = np.argsort(fit, axis=1, kind="stable")
        elites = _take(pop, order[:, :n_elite])
        # roulette (eq. 16) on a windowed score; a flat population is drawn uniformly
        score = f_worst[:, None] - fit + 0.1 * (f_worst - f_best)[:, None]
        score = np.where((f_worst <= f_best)[:, None], 1.0, score)
        cum = np.cumsum(score, axis=1)
        r = rng.uniform(_site(_PHASE_GA, g, 0), (2 * n_pair,)) * cum[:, -1:]
        pick = _count_below(cum, r)
        pa, pb = pick[:, 0::2], pick[:, 1::2]
        xa, xb = _take(pop, pa), _take(pop, pb)
        fpair = np.minimum(_take(fit, pa), _take(fit, pb))
        # hybrid crossover: head segment of length r exchanged and blended
        pc = _adaptive(fpair, f_avg[:, None], f_best[:, None], pc_lo, pc_hi)
        uc = rng.uniform(_site(_PHASE_GA, g, 1), (n_pair, 3))
        cut = 1 + np.floor(uc[..., 1] * (span[:, None] - 1))
        lam = uc[..., 2] * (1.0 + 2.0 * s.blend_alpha) - s.blend_alpha
        mix = ((kpos < cut[..., None]) & (uc[..., 0] < pc)[..., None]) * (1.0 - lam)[..., None]
        diff = xb - xa
        c1 = xa + mix * diff
        c2 = xb - mix * diff
        kids = np.stack([c1, c2], axis=2).reshape(nb, 2 * n_pair, nk)[:, :n_child]
        fk = np.repeat(fpair, 2, axis=1)[:, :n_child]
        # inversion mutation: genes between two random loci reversed
        pm = _adaptive(fk, f_avg[:, None], f_best[:, None], pm_lo, pm_hi)
        pm = np.where(low_div[:, None], s.mutation_low_diversity, pm)
        um = rng.uniform(_site(_PHASE_GA, g, 2), (n_child, 3))
        i1 = np.floor(um[..., 1] * span[:, None]).astype(int)
        i2 = np.floor(um[..., 2] * span[:, None]).astype(int)
        a = np.minimum(i1, i2)[..., None]
        b = np.maximum(i1, i2)[..., None]
        inside = (kpos >= a) & (kpos <= b) & (um[..., 0] < pm)[..., None]
        src = kpos + inside * (a + b - 2 * kpos)
        kids = problem.repair(np.take_along_axis(kids, src, axis=2))
        fkid = problem.evaluate(kids)
        new_pop = np.concatenate([elites, kids], axis=1)
        new_fit = np.concatenate([_take(fit, order[:, :n_elite]), fkid], axis=1)
        pop = np.where(active[:, None, None], new_pop, pop)
        fit = np.where(active[:, None], new_fit, fit)
        ib = np.argmin(fit, axis=1)
        cand_f = _take(fit, ib[:, None])[:, 0]
        better = active & (cand_f < best_f)
        best_x = np.where(better[:, None], _take(pop, ib[:, None])[:, 0, :], best_x)
        best_f = np.where(better, cand_f, best_f)
        stall = np.where(better, 0, stall + 1)
        iters = iters + active
        active = active & (stall < s.ga_patience)
        hist.append(best_f.copy())
    return pop, fit, best_x, best_f, iters


def _aco_phase(problem: BatchedProblem, s: GaAcoSettings, rng: CounterRng, state: tuple, run: np.ndarray,
               lower: np.ndarray, upper: np.ndarray, width: np.ndarray, live: np.ndarray,
               hist: list[np.ndarray]) -> tuple:
    """Solution-archive ant colony seeded by the GA's best solutions (see the module docstring)."""
    pop, fit, best_x, best_f, iters = state
    nb, n, nk = pop.shape
    z = min(s.archive, n)
    order = np.argsort(fit, axis=1, kind="stable")[:, :z]
    arch = _take(pop, order)
    af = _take(fit, order)
    tau0 = 1.0
    tau = np.full((nb, z), tau0)
    eta = 1.0 / (1.0 + np.arange(z))
    decay = np.asarray([(1.0 - s.local_evaporation) ** c for c in range(s.ants + 1)])
    h = np.full(nb, s.step0)
    active = run.copy()
    members = np.arange(z)
    range_k = np.where(live, width, 1.0)
    # Problems that stop are frozen; once at most half of the rows still run, the arrays are
    # cut down to the running rows (results are per row, so this changes no problem's result,
    # only the work: the batch no longer runs as long as its slowest problem at full width).
    full_x, full_f, full_iters = best_x.copy(), best_f.copy(), iters.copy()
    rows = np.arange(nb)
    for it in range(1, s.iterations + 1):
        if not active.any():
            full_x[rows], full_f[rows], full_iters[rows] = best_x, best_f, iters
            hist.extend([full_f.copy()] * (s.iterations - it + 1))
            break
        if 2 * int(active.sum()) <= len(rows) and len(rows) > 8:
            full_x[rows], full_f[rows], full_iters[rows] = best_x, best_f, iters
            keep_rows = np.nonzero(active)[0]
            rows = rows[keep_rows]
            problem = problem.subset(keep_rows)
            rng = rng.take(keep_rows)
            arch, af, tau, h = arch[keep_rows], af[keep_rows], tau[keep_rows], h[keep_rows]
            lower, upper, width = lower[keep_rows], upper[keep_rows], width[keep_rows]
            range_k = range_k[keep_rows]
            best_x, best_f, iters = best_x[keep_rows], best_f[keep_rows], iters[keep_rows]
            active = active[keep_rows]
        nb = len(rows)
        bi = np.arange(nb)[:, None, None]
        ki = np.arange(nk)[None, None, :]
        te = tau * eta                                             # (B, Z)
        greedy = np.argmax(te, axis=1)                             # (B,)
        cum = np.cumsum(te, axis=1)
        ua = rng.uniform(_site(_PHASE_ACO, it, 0), (s.ants, nk, 5))
        r = ua[..., 1] * cum[:, -1][:, None, None]                 # (B, A, K)
        roul = _count_below(cum, r)
        guide = roul + (ua[..., 0] < s.q0) * (greedy[:, None, None] - roul)   # eq. 17
        # noise scale: the archive's spread around each member, plus a shrinking floor
        dist = np.zeros((nb, z, nk))
        for i in range(z):
            dist += np.abs(arch[:, i : i + 1, :] - arch)
        sigma = s.spread / max(z - 1, 1) * dist + h[:, None, None] * width[:, None, :]
        val = arch[bi, guide, ki] + sigma[bi, guide, ki] * _normalish(ua[..., 2:5])
        ants = problem.repair(np.minimum(np.maximum(val, lower[:, None, :]), upper[:, None, :]))
        fa = problem.evaluate(ants)
        ib = np.argmin(fa, axis=1)
        cand_f = _take(fa, ib[:, None])[:, 0]
        improved = active & (cand_f < best_f)
        best_x = np.where(improved[:, None], _take(ants, ib[:, None])[:, 0, :], best_x)
        best_f = np.where(improved, cand_f, best_f)
        # local update (eq. 18): members that guided an ant evaporate toward tau0
        followed = np.zeros(guide.shape[:2], dtype=np.int64)       # (B, A) bit j: member j followed
        for k in range(nk):
            followed |= np.left_shift(1, guide[:, :, k])
        used = ((followed[:, :, None] >> members) & 1).sum(axis=1)   # (B, Z) ants per member
        tau_l = tau0 + decay[used] * (tau - tau0)
        # the archive keeps its best members; newcomers start at tau0
        allf = np.concatenate([af, fa], axis=1)
        keep = np.argsort(allf, axis=1, kind="stable")[:, :z]
        new_arch = _take(np.concatenate([arch, ants], axis=1), keep)
        new_af = _take(allf, keep)
        new_tau = _take(np.concatenate([tau_l, np.full((nb, s.ants), tau0)], axis=1), keep)
        # global update (eq. 19) on the best path
        rho = s.global_evaporation
        new_tau[:, 0] = (1.0 - rho) * new_tau[:, 0] + rho * s.reinforcement * tau0
        arch = np.where(active[:, None, None], new_arch, arch)
        af = np.where(active[:, None], new_af, af)
        tau = np.where(active[:, None], new_tau, tau)
        h = np.where(active & ~improved, h * s.step_shrink, h)
        iters = iters + active
        active = active & (np.max(sigma[:, 0, :] / range_k, axis=1) >= s.min_step)
        full_f[rows] = best_f
        hist.append(full_f.copy())
    full_x[rows], full_f[rows], full_iters[rows] = best_x, best_f, iters
    return pop, fit, full_x, full_f, full_iters
