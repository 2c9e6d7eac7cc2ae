"""ELM-GA: a genetic algorithm whose offspring are pre-screened by an Extreme Learning Machine.

Paper 003 (unit commitment of a VPP with demand-side water storage) solves its unit
commitment with a hybrid of an Extreme Learning Machine (ELM) and a genetic algorithm; the
paper names the hybrid but does not spell out how the two are coupled. Here the ELM is a
surrogate of the objective, trained online on every candidate evaluated so far: each
generation breeds ``multiplier`` times more offspring than it evaluates, the ELM predicts
them all, and only the most promising (plus a small random share, for exploration) spend real
evaluations.

Variables may be mixed: a problem's optional ``binary`` mask marks 0/1 variables (uniform
crossover, bit-flip mutation); the others are real (SBX, polynomial mutation). A problem's
optional ``repair`` is applied to every candidate before it is screened or evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vppsim.optimizers.base import DEFAULT_POP_SIZE, Algorithm, Run
from vppsim.optimizers.ga import polynomial_mutation, sbx_crossover


class ExtremeLearningMachine:
    """Single-hidden-layer network with random, fixed input weights (Huang et al., 2006).

    The inputs are standardized, ``H = tanh(X_s @ W + b)`` with ``W`` and ``b`` drawn once
    at construction, and the output weights (with an output bias) solve the ridge problem
    ``min ||[H 1] beta - y_s||^2 + ridge ||beta||^2`` on the standardized targets.

    Parameters
    ----------
    n_in : int
        Number of inputs.
    n_hidden : int
        Hidden neurons.
    ridge : float
        Ridge (Tikhonov) weight on the output weights, on standardized targets.
    rng : numpy.random.Generator
        Source of the random input weights and biases.
    """

    def __init__(self, n_in: int, n_hidden: int, ridge: float, rng: np.random.Generator) -> None:
        if n_in < 1 or n_hidden < 1:
            raise ValueError("n_in and n_hidden must be >= 1")
        if ridge <= 0.0:
            raise ValueError("ridge must be > 0")
        self.ridge = float(ridge)
        # pre-activations of order one for standardized inputs
        self.w = rng.standard_normal((n_in, n_hidden)) / np.sqrt(n_in)
        self.b = rng.uniform(-1.0, 1.0, n_hidden)
        self.beta: np.ndarray | None = None
        self.x_mean = np.zeros(n_in)
        self.x_scale = np.ones(n_in)
        self.y_mean = 0.0
        self.y_scale = 1.0

    def _hidden(self, x: np.ndarray) -> np.ndarray:
        """Hidden-layer outputs with a trailing column of ones (the output bias)."""
        h = np.tanh(((x - self.x_mean) / self.x_scale) @ self.w + self.b)
        return np.hstack([h, np.ones((x.shape[0], 1))])

    def fit(self, x: np.ndarray, y: np.ndarray) -> ExtremeLearningMachine:
        """Fit the output weights to the rows of ``x`` (``(m, n_in)``) and targets ``y`` (``(m,)``)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float).reshape(-1)
        if x.shape[0] != y.shape[0] or x.shape[0] < 1:
            raise ValueError("fit needs as many targets as rows, at least one")
        self.x_mean = x.mean(axis=0)
        sd = x.std(axis=0)
        self.x_scale = np.where(sd > 0.0, sd, 1.0)
        self.y_mean = float(y.mean())
        sd_y = float(y.std())
        self.y_scale = sd_y if sd_y > 0.0 else 1.0
        h = self._hidden(x)
        gram = h.T @ h + self.ridge * np.eye(h.shape[1])
        self.beta = np.linalg.solve(gram, h.T @ ((y - self.y_mean) / self.y_scale))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted targets of the rows of ``x``."""
        if self.beta is None:
            raise RuntimeError("predict before fit")
        return self._hidden(np.asarray(x, dtype=float)) @ self.beta * self.y_scale + self.y_mean


def rankdata(values: np.ndarray) -> np.ndarray:
    """``scipy.stats.rankdata`` (average ranks), imported when first used.

    scipy.stats takes about 1 s to import and only ELM-GA needs it (every ``vppsim`` command
    imports this module through the solver names).
    """
    from scipy.stats import rankdata as scipy_rankdata  # noqa: PLC0415 - lazy, see above

    return scipy_rankdata(values)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of ``a`` and ``b`` (NaN if either is constant or too short)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0.0 or np.ptp(b[ok]) == 0.0:
        return float("nan")
    return float(np.corrcoef(rankdata(a[ok]), rankdata(b[ok]))[0, 1])


def win_rate(f: np.ndarray, n_top: int) -> float:
    """How often the first ``n_top`` values (screened in) beat the rest (drawn at random).

    The share of (kept, random) pairs in which the kept candidate has the lower value, ties
    counting half (the AUC of the screening); NaN without both kinds.
    """
    top, rand = f[:n_top, None], f[None, n_top:]
    if top.size == 0 or rand.size == 0:
        return float("nan")
    return float(np.mean((top < rand) + 0.5 * (top == rand)))


def _last_finite(values: list[float]) -> float:
    """The last finite value of a list (NaN if none)."""
    finite = [v for v in values if np.isfinite(v)]
    return finite[-1] if finite else float("nan")


def _finite_mean(values: list[float]) -> float:
    """The mean of the finite values of a list (NaN if none)."""
    a = np.asarray(values, dtype=float)
    return float(a[np.isfinite(a)].mean()) if np.isfinite(a).any() else float("nan")


def novel_rows(archive: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """True for the rows of ``cand`` found neither in ``archive`` nor earlier in ``cand``."""
    both = np.concatenate([archive, cand])
    _, first, inverse = np.unique(both, axis=0, return_index=True, return_inverse=True)
    pos = np.arange(archive.shape[0], both.shape[0])
    return first[inverse.reshape(-1)[pos]] == pos


@dataclass(eq=False)
class _ElmGaState:
    """Population, training archive, surrogate and screening statistics of one run."""

    x: np.ndarray
    f: np.ndarray
    binary: np.ndarray
    mutation_rate: float
    n_elite: int
    archive_x: np.ndarray
    archive_f: np.ndarray
    elm: ExtremeLearningMachine | None = None
    since_fit: int = 0
    n_fits: int = 0
    n_candidates: int = 0
    n_screened_out: int = 0
    screened_generations: int = 0
    spearman: list[float] = field(default_factory=list)
    win_rate: list[float] = field(default_factory=list)


class ElmGA(Algorithm[_ElmGaState]):
    """GA with ELM-surrogate screening of the offspring, for real, binary or mixed variables.

    Each generation breeds ``multiplier * n_eval`` candidates (``n_eval = pop_size - n_elite``
    real evaluations): tournaments pick parents; real variables get SBX and polynomial
    mutation (clipped into the bounds), binary variables uniform crossover and bit-flip
    mutation; the problem's ``repair`` (if any) is applied. Once ``warmup`` evaluations are
    archived, the ELM (refitted every ``retrain_every`` generations on the archive) predicts
    the candidates; the ``n_eval`` best-predicted candidates not already in the archive are
    evaluated, of which a share ``explore`` is drawn at random from the rest instead. The
    evaluated children replace all but the ``n_elite`` best individuals.

    Parameters
    ----------
    pop_size : int, default 30
        Population size (the same default as the other metaheuristics).
    n_hidden : int, default 64
        Hidden neurons of the ELM.
    ridge : float, default 1e-3
        Ridge weight of the ELM's output weights (on standardized targets).
    multiplier : int, default 4
        Candidates bred per real evaluation; 1 switches the screening off (a plain GA).
    explore : float, default 0.15
        Share of each screened batch drawn at random among the candidates the ELM would
        reject (exploration, and honest statistics of the surrogate).
    warmup : int, default 100
        Evaluations archived before the ELM screens (before that: no screening).
    retrain_every : int, default 1
        Generations between refits of the ELM's output weights (input weights stay fixed).
    archive_size : int, default 300
        Most recent evaluated rows kept for training and the novelty check.
    rank_targets : bool, default True
        Train the ELM on the ranks of the archived objective values instead of the values
        (only the order matters for screening, and penalty outliers do not dominate).
    tournament_size : int, default 2
        Individuals per selection tournament (the fittest wins).
    crossover_rate : float, default 0.9
        Crossover probability per parent pair (SBX on reals, uniform on binaries).
    eta_c : float, default 15.0
        SBX distribution index.
    mutation_rate : float or None, default None
        Mutation probability per variable (polynomial on reals, bit flip on binaries);
        None: ``1 / n_var``.
    eta_m : float, default 20.0
        Polynomial-mutation distribution index.
    n_elite : int, default 2
        Best individuals carried unchanged to the next generation (at most ``pop_size - 1``).
    max_iter : int or None, default None
        Maximum number of generations; None: as many as the budget allows.

    Notes
    -----
    The problem may declare ``binary`` (bool mask, shape ``(n_var,)``; their bounds must be
    0 or 1) and ``repair(x) -> x`` (rows to rows); repaired rows are clipped into the bounds
    and binary columns rounded. Non-finite objective values are archived (they count for the
    novelty check) but not used to train the ELM. ``Result.info`` reports the surrogate's
    quality as Spearman's rank correlation of its predictions with the real values on the
    last screened batch of three or more (``surrogate_spearman``; NaN if none) and its mean
    over all screened batches (``surrogate_spearman_mean``; low, as the batch is already the
    best-predicted), the share of (screened-in, random explorer) pairs of a batch in which
    the screened-in candidate is really better (``screen_win_rate``, mean over the batches;
    0.5 is no better than chance), and counts the candidates bred
    (``n_candidates``), screened out (``n_screened_out``) and the ELM's refits.
    """

    name = "elm-ga"

    def __init__(
        self,
        *,
        pop_size: int = DEFAULT_POP_SIZE,
        n_hidden: int = 64,
        ridge: float = 1e-3,
        multiplier: int = 4,
        explore: float = 0.15,
        warmup: int = 100,
        retrain_every: int = 1,
        archive_size: int = 300,
        rank_targets: bool = True,
        tournament_size: int = 2,
        crossover_rate: float = 0.9,
        eta_c: float = 15.0,
        mutation_rate: float | None = None,
        eta_m: float = 20.0,
        n_elite: int = 2,
        max_iter: int | None = None,
    ) -> None:
        super().__init__(pop_size=pop_size, max_iter=max_iter)
        checks = {
            "n_hidden must be >= 1": n_hidden >= 1, "ridge must be > 0": ridge > 0.0,
            "multiplier must be >= 1": multiplier >= 1, "explore must be in [0, 1]":
            0.0 <= explore <= 1.0, "warmup must be >= 0": warmup >= 0,
            "retrain_every must be >= 1": retrain_every >= 1,
            "archive_size must be >= 2": archive_size >= 2,
            "tournament_size must be >= 1": tournament_size >= 1,
            "crossover_rate must be in [0, 1]": 0.0 <= crossover_rate <= 1.0,
            "mutation_rate must be in [0, 1]": mutation_rate is None or 0.0 <= mutation_rate <= 1.0,
            "n_elite must be >= 0": n_elite >= 0,
        }
        for message, ok in checks.items():
            if not ok:
                raise ValueError(message)
        self.n_hidden, self.ridge = int(n_hidden), float(ridge)
        self.multiplier, self.explore = int(multiplier), float(explore)
        self.warmup, self.retrain_every = int(warmup), int(retrain_every)
        self.archive_size, self.tournament_size = int(archive_size), int(tournament_size)
        self.rank_targets = bool(rank_targets)
        self.crossover_rate, self.eta_c = float(crossover_rate), float(eta_c)
        self.mutation_rate = None if mutation_rate is None else float(mutation_rate)
        self.eta_m, self.n_elite = float(eta_m), int(n_elite)

    # ------------------------------------------------------------------ set-up

    def _elites(self, n: int) -> int:
        """Elites of a population of ``n`` (at least one child per generation)."""
        return min(self.n_elite, n - 1)

    def _evaluations_per_iteration(self, run: Run) -> int:
        return run.pop_size - self._elites(run.pop_size)

    @staticmethod
    def _binary_mask(run: Run) -> np.ndarray:
        """The problem's ``binary`` mask (all False without one); checks the bounds are 0/1."""
        mask = getattr(run.problem, "binary", None)
        if mask is None:
            return np.zeros(run.n_var, dtype=bool)
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), (run.n_var,)).copy()
        bounds = np.concatenate([run.xl[mask], run.xu[mask]])
        if not np.all((bounds == 0.0) | (bounds == 1.0)):
            raise ValueError("binary variables must have bounds 0 or 1")
        return mask

    def _finish(self, run: Run, x: np.ndarray, binary: np.ndarray) -> np.ndarray:
        """Rows repaired by the problem (if it can), clipped into the bounds, binaries 0/1."""
        repair = getattr(run.problem, "repair", None)
        if repair is not None:
            y = np.asarray(repair(x.copy()), dtype=float)
            if y.shape != x.shape:
                raise ValueError(f"problem.repair returned shape {y.shape} for {x.shape}")
            x = y
        x = np.clip(x, run.xl, run.xu)
        x[:, binary] = np.round(x[:, binary])
        return x

    def _initialize(self, run: Run) -> _ElmGaState:
        binary = self._binary_mask(run)
        pm = 1.0 / run.n_var if self.mutation_rate is None else self.mutation_rate
        x = run.random_population(run.pop_size)
        x = self._finish(run, x, binary)
        f = run.evaluate(x)
        return _ElmGaState(x, f, binary, pm, self._elites(run.pop_size), x.copy(), f.copy())

    # ------------------------------------------------------------------ variation

    def _select(self, f: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of ``k`` tournament winners."""
        cand = rng.integers(0, f.shape[0], size=(k, self.tournament_size))
        return cand[np.arange(k), np.argmin(f[cand], axis=1)]

    def _breed(self, run: Run, st: _ElmGaState, k: int) -> np.ndarray:
        """``k`` children of tournament-selected parents (before repair)."""
        rng, real, binary = run.rng, ~st.binary, st.binary
        n_pairs = (k + 1) // 2
        parents = self._select(st.f, 2 * n_pairs, rng)
        p1, p2 = st.x[parents[:n_pairs]], st.x[parents[n_pairs:]]
        c1, c2 = p1.copy(), p2.copy()
        if real.any():
            r1, r2 = sbx_crossover(p1[:, real], p2[:, real], self.eta_c, self.crossover_rate, rng)
            c1[:, real], c2[:, real] = r1, r2
        if binary.any():  # uniform crossover of the crossed pairs
            swap = ((rng.random((n_pairs, int(binary.sum()))) < 0.5)
                    & (rng.random((n_pairs, 1)) < self.crossover_rate))
            b1, b2 = p1[:, binary], p2[:, binary]
            c1[:, binary], c2[:, binary] = np.where(swap, b2, b1), np.where(swap, b1, b2)
        kids = np.concatenate([c1, c2])[:k]
        if real.any():
            xl, xu = run.xl[real], run.xu[real]
            kids[:, real] = polynomial_mutation(np.clip(kids[:, real], xl, xu), xl, xu,
                                                self.eta_m, st.mutation_rate, rng)
        if binary.any():
            flip = rng.random((k, int(binary.sum()))) < st.mutation_rate
            kids[:, binary] = np.where(flip, 1.0 - kids[:, binary], kids[:, binary])
        return kids

    # ------------------------------------------------------------------ screening

    def _surrogate(self, run: Run, st: _ElmGaState) -> ExtremeLearningMachine | None:
        """The ELM, refitted when due; None while warming up or without enough data."""
        ok = np.isfinite(st.archive_f)
        if self.multiplier == 1 or run.evaluations < self.warmup or ok.sum() < 2:
            return None
        if st.elm is None:
            st.elm = ExtremeLearningMachine(run.n_var, self.n_hidden, self.ridge, run.rng)
        elif st.since_fit < self.retrain_every:
            st.since_fit += 1
            return st.elm
        y = st.archive_f[ok]
        st.elm.fit(st.archive_x[ok], rankdata(y) if self.rank_targets else y)
        st.n_fits += 1
        st.since_fit = 1
        return st.elm

    def _n_random(self, n_eval: int, n_cand: int) -> int:
        """Candidates of a screened batch of ``n_eval`` drawn at random among the rejected."""
        return min(int(round(self.explore * n_eval)), n_cand - n_eval)

    def _screen(self, run: Run, st: _ElmGaState, cand: np.ndarray, pred: np.ndarray,
                n_eval: int) -> np.ndarray:
        """Indices of the ``n_eval`` candidates to evaluate: best predicted novel ones, some random."""
        novel = novel_rows(st.archive_x, cand)
        order = np.lexsort((pred, ~novel))  # novel first, then by prediction
        n_rand = self._n_random(n_eval, len(cand))
        top = order[: n_eval - n_rand]
        rest = order[n_eval - n_rand:]
        rest_novel = rest[novel[rest]]
        pool = rest_novel if len(rest_novel) >= n_rand else rest
        return np.concatenate([top, run.rng.choice(pool, size=n_rand, replace=False)])

    # ------------------------------------------------------------------ one generation

    def _advance(self, run: Run, st: _ElmGaState) -> None:
        n = run.pop_size
        n_eval = min(n - st.n_elite, run.remaining)
        elm = self._surrogate(run, st)
        n_cand = n_eval * self.multiplier if elm is not None else n_eval
        cand = self._finish(run, self._breed(run, st, n_cand), st.binary)
        if elm is not None:
            pred = elm.predict(cand)
            pick = self._screen(run, st, cand, pred, n_eval)
            kids = cand[pick]
        else:
            kids = cand
        f_kids = run.evaluate(kids)
        st.n_candidates += n_cand
        if elm is not None:
            st.n_screened_out += n_cand - n_eval
            st.screened_generations += 1
            st.spearman.append(rank_correlation(pred[pick], f_kids))
            st.win_rate.append(win_rate(f_kids, len(pick) - self._n_random(n_eval, n_cand)))
        st.archive_x = np.concatenate([st.archive_x, kids])[-self.archive_size:]
        st.archive_f = np.concatenate([st.archive_f, f_kids])[-self.archive_size:]
        keep = np.argsort(st.f, kind="stable")[: n - n_eval]  # elites (more if truncated)
        st.x = np.concatenate([st.x[keep], kids])
        st.f = np.concatenate([st.f[keep], f_kids])

    def _info(self, run: Run, st: _ElmGaState) -> dict[str, Any]:
        return {
            "mutation_rate": st.mutation_rate,
            "n_binary": int(st.binary.sum()),
            "surrogate_spearman": _last_finite(st.spearman),
            "surrogate_spearman_mean": _finite_mean(st.spearman),
            "screen_win_rate": _finite_mean(st.win_rate),
            "n_candidates": st.n_candidates,
            "n_screened_out": st.n_screened_out,
            "screened_generations": st.screened_generations,
            "n_surrogate_fits": st.n_fits,
            "archive_size": int(st.archive_x.shape[0]),
        }
