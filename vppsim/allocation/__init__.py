"""Balanced allocation of a required power across resources (paper 001): problem, baselines, exact LP."""

from vppsim.allocation.gaaco import solve_ga_aco
from vppsim.allocation.problem import (
    AllocationProblem,
    AllocationResult,
    FitnessForm,
    feasibility,
    proportional,
    sum_last,
)

__all__ = [
    "AllocationProblem",
    "AllocationResult",
    "FitnessForm",
    "feasibility",
    "proportional",
    "solve_ga_aco",
    "sum_last",
]
