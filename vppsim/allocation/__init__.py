"""Balanced allocation of a required power across resources (paper 001): problem, baselines, exact LP."""

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
    "sum_last",
]
