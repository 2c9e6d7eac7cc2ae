"""Solvers that know nothing of power systems: exact LP/MILP (HiGHS) and metaheuristics.

Population metaheuristics (PSO, GA, IRLA, the learning PSO) share :class:`Algorithm` and one box-bounded
:class:`Problem` interface; GA-ACO solves batches of sum-constrained problems
(:class:`BatchedProblem`); :mod:`vppsim.optimizers.rng` holds the counter-based streams.
"""

from vppsim.optimizers.algorithms import ALGORITHMS, get_algorithm
from vppsim.optimizers.base import Algorithm, Problem, Result, Run
from vppsim.optimizers.batched import BatchedProblem, BatchResult, sum_last
from vppsim.optimizers.ga import RealCodedGA
from vppsim.optimizers.gaaco import GaAcoSettings, ga_aco
from vppsim.optimizers.highs import LinearProgram, LpBuilder, LpSolution, solve_lp
from vppsim.optimizers.irla import IRLA
from vppsim.optimizers.learning_pso import LearningPSO
from vppsim.optimizers.pso import PSO

__all__ = [
    "ALGORITHMS",
    "IRLA",
    "PSO",
    "Algorithm",
    "BatchResult",
    "BatchedProblem",
    "GaAcoSettings",
    "LearningPSO",
    "LinearProgram",
    "LpBuilder",
    "LpSolution",
    "Problem",
    "RealCodedGA",
    "Result",
    "Run",
    "ga_aco",
    "get_algorithm",
    "solve_lp",
    "sum_last",
]
