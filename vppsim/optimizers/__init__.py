"""Solvers: exact LP/MILP (HiGHS) and metaheuristics sharing one problem interface."""

from vppsim.optimizers.algorithms import ALGORITHMS, get_algorithm
from vppsim.optimizers.base import Problem, Result
from vppsim.optimizers.ga import RealCodedGA
from vppsim.optimizers.highs import LinearProgram, LpBuilder, LpSolution, solve_lp
from vppsim.optimizers.irla import IRLA
from vppsim.optimizers.pso import PSO

__all__ = [
    "ALGORITHMS",
    "IRLA",
    "PSO",
    "LinearProgram",
    "LpBuilder",
    "LpSolution",
    "Problem",
    "RealCodedGA",
    "Result",
    "get_algorithm",
    "solve_lp",
]
