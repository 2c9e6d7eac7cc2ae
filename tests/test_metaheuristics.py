"""Metaheuristics (PSO-RL/IRLA, PSO, GA) on small analytic problems defined here."""

from __future__ import annotations

import numpy as np
import pytest

from vppsim.optimizers.algorithms import ALGORITHMS, get_algorithm
from vppsim.optimizers.base import Algorithm, Result, Run
from vppsim.optimizers.elm_ga import ElmGA
from vppsim.optimizers.ga import RealCodedGA
from vppsim.optimizers.irla import IRLA
from vppsim.optimizers.learning_pso import LearningPSO
from vppsim.optimizers.pso import PSO


class CountingProblem:
    """Box problem on [xl, xu]^n that counts evaluated rows and records every point."""

    def __init__(self, n_var: int, xl: float = 0.0, xu: float = 1.0, shift_seed: int = 0) -> None:
        self.n_var = n_var
        self.xl = np.full(n_var, xl)
        self.xu = np.full(n_var, xu)
        rng = np.random.default_rng(shift_seed)
        self.shift = xl + (xu - xl) * rng.uniform(0.2, 0.8, n_var)
        self.rows = 0
        self.calls = 0
        self.out_of_bounds = 0
        self.batch_sizes: list[int] = []

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        assert x.ndim == 2 and x.shape[1] == self.n_var
        self.rows += x.shape[0]
        self.calls += 1
        self.batch_sizes.append(x.shape[0])
        self.out_of_bounds += int(np.sum((x < self.xl) | (x > self.xu)))
        return self.f(x)

    def f(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Sphere(CountingProblem):
    def f(self, x: np.ndarray) -> np.ndarray:
        return np.sum((x - self.shift) ** 2, axis=1)


class Rastrigin(CountingProblem):
    def f(self, x: np.ndarray) -> np.ndarray:
        y = 10.24 * (x - self.shift) / (self.xu - self.xl)
        return 10.0 * self.n_var + np.sum(y * y - 10.0 * np.cos(2.0 * np.pi * y), axis=1)


class Constant(CountingProblem):
    def f(self, x: np.ndarray) -> np.ndarray:
        return np.full(x.shape[0], 42.0)


NAMES = sorted(ALGORITHMS)


def test_registry():
    assert ALGORITHMS == {"pso-rl": LearningPSO, "pso": PSO, "ga": RealCodedGA, "irla-paper": IRLA,
                          "elm-ga": ElmGA}
    assert isinstance(get_algorithm("irla-paper", patience=5), IRLA)
    assert get_algorithm("PSO", w=0.5).w == 0.5
    with pytest.raises(ValueError, match="elm-ga, ga, irla-paper, pso, pso-rl"):
        get_algorithm("sa")
    # Same population size by default: "same evaluation budget" comparisons are fair.
    assert {cls().pop_size for cls in ALGORITHMS.values()} == {30}
    with pytest.raises(TypeError):
        IRLA(30)  # keyword-only hyperparameters


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("budget", [1, 29, 30, 31, 100, 1001])
def test_budget_is_exact_and_bounds_hold(name, budget):
    prob = Rastrigin(12, xl=-2.0, xu=3.0)
    res = get_algorithm(name).minimize(prob, budget, seed=3)
    assert isinstance(res, Result)
    assert prob.rows == budget == res.evaluations
    assert prob.out_of_bounds == 0
    assert np.all(res.x >= prob.xl) and np.all(res.x <= prob.xu)
    assert res.f == pytest.approx(float(prob.f(res.x[None, :])[0]))
    assert res.algorithm == name and res.seed == 3
    assert len(res.history) == res.iterations + 1
    assert res.info["stop_reason"] == "budget"
    assert res.wall_s >= 0.0
    # Whole populations per call: at most one call per iteration plus the initial one.
    assert prob.calls == res.iterations + 1
    assert max(prob.batch_sizes) <= 30


@pytest.mark.parametrize("name", NAMES)
def test_max_iter_and_generator_seed(name):
    prob = Sphere(5)
    res = get_algorithm(name, max_iter=7).minimize(prob, 10_000, np.random.default_rng(1))
    assert res.iterations == 7 and res.info["stop_reason"] == "max_iter"
    assert res.seed is None
    assert prob.rows == res.evaluations < 10_000


@pytest.mark.parametrize("name", NAMES)
def test_reproducible_and_seed_sensitive(name):
    runs = [get_algorithm(name).minimize(Rastrigin(20), 900, seed=s) for s in (5, 5, 6)]
    a, b, c = runs
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.history, b.history)
    assert not np.array_equal(a.x, c.x)
    assert not np.array_equal(a.history, c.history)
    # Passing an equally seeded Generator gives the same trajectory.
    d = get_algorithm(name).minimize(Rastrigin(20), 900, np.random.default_rng(5))
    np.testing.assert_array_equal(a.history, d.history)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("problem", [Sphere, Rastrigin])
def test_history_non_increasing(name, problem):
    res = get_algorithm(name).minimize(problem(48), 1500, seed=2)
    assert np.all(np.diff(res.history) <= 0.0)
    assert res.history[-1] == res.f
    assert res.history[0] > res.f  # it did improve on the initial population


@pytest.mark.parametrize("name", NAMES)
def test_reaches_sphere_optimum(name):
    prob = Sphere(10, shift_seed=11)
    res = get_algorithm(name).minimize(prob, 6000, seed=0)
    assert res.f < 1e-3
    assert np.max(np.abs(res.x - prob.shift)) < 0.05


SWITCHES = ["use_adjustment", "use_adaptive_inertia", "use_mutation", "use_feedback"]


@pytest.mark.parametrize("switch", SWITCHES)
def test_irla_switches_change_the_trajectory(switch):
    base = IRLA().minimize(Rastrigin(10), 1500, seed=4)
    off = IRLA(**{switch: False}).minimize(Rastrigin(10), 1500, seed=4)
    assert off.info["switches"][switch] is False
    assert not np.array_equal(base.history, off.history)
    assert not np.array_equal(base.x, off.x)
    assert off.evaluations <= 1500


def test_irla_without_mutation_only_searches():
    res = IRLA(use_mutation=False).minimize(Sphere(10), 600, seed=0)
    assert res.info["n_transfer"] == 0
    assert res.info["n_search"] == 600 - 30


def test_irla_mutate_when():
    low = IRLA(mutate_when="low_beta").minimize(Rastrigin(10), 1500, seed=4)
    high = IRLA(mutate_when="high_beta").minimize(Rastrigin(10), 1500, seed=4)
    assert low.info["mutate_when"] == "low_beta" and high.info["mutate_when"] == "high_beta"
    assert not np.array_equal(low.history, high.history)
    for r in (low, high):
        assert r.info["n_search"] > 0 and r.info["n_transfer"] > 0
        assert r.info["n_search"] + r.info["n_transfer"] == r.evaluations - 30
    # Eq. 14 only shrinks beta, so fresh factors (U(0, 1)) are the only source of beta >= 0.5:
    # fewer particles have beta >= 0.5, i.e. "low_beta" transfers more than "high_beta".
    assert low.info["n_transfer"] > high.info["n_transfer"]
    with pytest.raises(ValueError, match="mutate_when"):
        IRLA(mutate_when="sometimes")


def test_irla_stop_rule_on_constant_function():
    prob = Constant(8)
    res = IRLA(patience=10).minimize(prob, 6000, seed=0)
    assert res.info["stop_reason"] == "stall"
    assert res.iterations == 10
    assert res.evaluations == prob.rows == 30 * 11 < 6000
    default = IRLA().minimize(Constant(8), 6000, seed=0)
    assert default.info["stop_reason"] == "stall" and default.evaluations < 6000
    no_stall = IRLA(patience=None).minimize(Constant(8), 600, seed=0)
    assert no_stall.info["stop_reason"] == "budget" and no_stall.evaluations == 600


def test_irla_handles_huge_objective_scale():
    """The fitness scaling keeps eq. 14-15 and 20 unsaturated for objectives ~1e4 or 1e-6."""

    class Scaled(Sphere):
        def __init__(self, k: float) -> None:
            super().__init__(10)
            self.k = k

        def f(self, x: np.ndarray) -> np.ndarray:
            return self.k * super().f(x)

    a = IRLA().minimize(Scaled(1.0), 1200, seed=9)
    b = IRLA().minimize(Scaled(1e4), 1200, seed=9)
    c = IRLA().minimize(Scaled(1e-6), 1200, seed=9)
    # The algorithm only sees differences relative to the pbest spread: same trajectory.
    np.testing.assert_allclose(b.x, a.x, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(c.x, a.x, rtol=1e-6, atol=1e-9)


def test_non_finite_objective_values_are_worst():
    class Holey(Sphere):
        def f(self, x: np.ndarray) -> np.ndarray:
            out = super().f(x)
            out[x[:, 0] > 0.7] = np.nan
            out[x[:, 1] > 0.9] = np.inf
            return out

    for name in NAMES:
        res = get_algorithm(name).minimize(Holey(6), 900, seed=1)
        assert np.isfinite(res.f) and res.x[0] <= 0.7 and res.x[1] <= 0.9
        assert np.all(np.diff(res.history[np.isfinite(res.history)]) <= 0)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        PSO().minimize(Sphere(3), 0, seed=0)
    with pytest.raises(TypeError):
        PSO().minimize(Sphere(3), 10, seed="x")
    with pytest.raises(ValueError):
        IRLA(tau=2.0)
    with pytest.raises(ValueError):
        RealCodedGA(n_elite=30)


# ---------------------------------------------------------------- the Algorithm base


class LocalSearch(Algorithm[dict]):
    """A tiny algorithm written with the base only: Gaussian steps around the best point."""

    name = "local-search"

    def __init__(self, *, step: float = 0.3, target: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.target = target

    def _initialize(self, run: Run) -> dict:
        run.evaluate(run.random_population(run.pop_size))
        return {"step": self.step}

    def _advance(self, run: Run, state: dict) -> None:
        m = min(run.pop_size, run.remaining)
        noise = run.rng.standard_normal((m, run.n_var)) * state["step"] * (run.xu - run.xl)
        run.evaluate(np.clip(run.best_x + noise, run.xl, run.xu))
        state["step"] *= 0.97

    def _stop(self, run: Run, state: dict) -> str | None:
        return "target" if self.target is not None and run.best_f <= self.target else None

    def _info(self, run: Run, state: dict) -> dict:
        return {"final_step": state["step"]}


def test_custom_algorithm_from_initialize_and_advance_only():
    prob = Sphere(6, shift_seed=3)
    res = LocalSearch(pop_size=10).minimize(prob, 2000, seed=1)
    assert isinstance(res, Result) and res.algorithm == "local-search" and res.seed == 1
    assert prob.rows == res.evaluations == 2000
    assert res.info["stop_reason"] == "budget" and res.info["pop_size"] == 10
    assert res.info["planned_iterations"] == 199 and res.iterations == 199
    assert res.info["final_step"] == pytest.approx(0.3 * 0.97**199)
    assert len(res.history) == res.iterations + 1 and np.all(np.diff(res.history) <= 0.0)
    assert res.f == float(prob.f(res.x[None, :])[0]) == res.history[-1]
    assert res.f < 1e-4 and prob.out_of_bounds == 0
    # the base's repr lists the keyword-only hyperparameters of the constructor
    assert repr(LocalSearch(step=0.5)) == "LocalSearch(step=0.5, target=None)"
    assert repr(PSO(w_end=0.4)) == ("PSO(pop_size=30, w=0.7, w_end=0.4, c1=1.5, c2=1.5, "
                                    "v_clamp=0.2, max_iter=None)")


def test_custom_algorithm_stop_rules_and_seeds():
    stopped = LocalSearch(target=1e-2).minimize(Sphere(4), 10_000, seed=0)
    assert stopped.info["stop_reason"] == "target" and stopped.f <= 1e-2
    assert stopped.evaluations < 10_000
    capped = LocalSearch(max_iter=3).minimize(Sphere(4), 10_000, seed=0)
    assert capped.info["stop_reason"] == "max_iter" and capped.iterations == 3
    assert capped.evaluations == 4 * 30
    a, b, c = (LocalSearch().minimize(Rastrigin(5), 300, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.history, b.history)
    assert not np.array_equal(a.x, c.x)


@pytest.mark.parametrize("name", [*NAMES, "local-search"])
@pytest.mark.parametrize("pop_size", [2, 7, 30])
def test_budget_never_exceeded(name, pop_size):
    rng = np.random.default_rng(pop_size)
    for budget in [1, 2, 3, *rng.integers(4, 400, size=6).tolist()]:
        prob = Rastrigin(5)
        opts = {"n_elite": min(2, pop_size - 1)} if name == "ga" else {}
        alg = (LocalSearch(pop_size=pop_size) if name == "local-search"
               else get_algorithm(name, pop_size=pop_size, **opts))
        res = alg.minimize(prob, int(budget), seed=int(budget))
        assert prob.rows == res.evaluations <= budget
        assert max(prob.batch_sizes) <= min(pop_size, budget)


def test_base_refuses_a_broken_algorithm():
    class Greedy(LocalSearch):
        def _advance(self, run: Run, state: dict) -> None:
            run.evaluate(run.random_population(run.pop_size + 1))

    class Idle(LocalSearch):
        def _advance(self, run: Run, state: dict) -> None:
            pass

    with pytest.raises(RuntimeError, match="exceed"):
        Greedy().minimize(Sphere(3), 1000, seed=0)
    with pytest.raises(RuntimeError, match="at least one row"):
        Idle().minimize(Sphere(3), 1000, seed=0)
    with pytest.raises(TypeError):
        Algorithm()  # abstract: _initialize and _advance are missing
    with pytest.raises(ValueError, match="pop_size"):
        LocalSearch(pop_size=1)
    with pytest.raises(ValueError, match="max_iter"):
        LocalSearch(max_iter=-1)
