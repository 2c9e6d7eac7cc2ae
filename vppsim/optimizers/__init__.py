"""Solvers: exact LP/MILP (HiGHS) now; metaheuristics share the same problem interface."""

from vppsim.optimizers.highs import LinearProgram, LpBuilder, LpSolution, solve_lp

__all__ = ["LinearProgram", "LpBuilder", "LpSolution", "solve_lp"]
