"""Batched problems: ``B`` independent problems x ``K`` variables, each with a sum constraint.

The interface of the batched solvers (GA-ACO, :mod:`vppsim.optimizers.gaaco`): a
:class:`BatchedProblem` is solved as a whole and a :class:`BatchResult` holds one answer per
problem. Problem ``b``'s feasible set is

    ``{x in R^K : sum_k x_k = target_b,  lower_bk <= x_k <= upper_bk}``

and the problem supplies its own projection onto it (:meth:`BatchedProblem.repair`), so a
solver only proposes points and never handles the constraint itself. Zero-width variables
(``lower == upper``) are fixed; trailing ones pad problems with fewer variables to a common
``K``.

Bit-for-bit batches: a problem's result must not depend on the other problems of its batch.
The solvers only reduce within a problem; a problem's ``evaluate`` and ``repair`` must do the
same, with sums in a fixed order (:func:`sum_last`): numpy's own reductions may pair the terms
differently for different array shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


def sum_last(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis in a fixed left-to-right order.

    numpy's own reductions may pair terms differently for different array shapes; this
    sequential sum makes each row's result independent of how many rows are computed
    together (batched results equal lone results bit for bit).
    """
    out = x[..., 0].copy()
    for j in range(1, x.shape[-1]):
        out += x[..., j]
    return out


@runtime_checkable
class BatchedProblem(Protocol):
    """``B`` independent minimization problems over ``K`` variables with a sum constraint each.

    ``isinstance(obj, BatchedProblem)`` checks that the members exist (not their shapes).

    Attributes
    ----------
    n_problems : int
        ``B``.
    n_var : int
        ``K``, the same for every problem (pad with zero-width variables).
    lower, upper : numpy.ndarray
        Bounds, shape ``(B, K)``, ``lower <= upper``.
    target : numpy.ndarray
        Right-hand side of the sum constraint ``sum_k x_k = target``, shape ``(B,)``, inside
        ``[sum_k lower_k, sum_k upper_k]``.
    """

    @property
    def n_problems(self) -> int:
        """``B``, the number of problems."""
        ...

    @property
    def n_var(self) -> int:
        """``K``, the number of variables of every problem."""
        ...

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds ``(B, K)``."""
        ...

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds ``(B, K)``."""
        ...

    @property
    def target(self) -> np.ndarray:
        """Right-hand side of each problem's sum constraint ``(B,)``."""
        ...

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Objective values (to minimize) of points ``(B, M, K)``, shape ``(B, M)``.

        Row ``b`` of the points belongs to problem ``b``; the points are feasible (repaired).
        """
        ...

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Map any points ``(B, M, K)`` onto the feasible sets (e.g. the exact projection).

        Must return feasible points of the same shape and leave feasible points (nearly)
        where they are.
        """
        ...

    def subset(self, rows: np.ndarray) -> BatchedProblem:
        """The problems ``rows`` (indices into the batch) as a new, smaller batch."""
        ...


def fixed_problems(problem: BatchedProblem) -> np.ndarray:
    """True where a problem's feasible set is a single point, shape ``(B,)``.

    That is: the target is at or beyond the sum of the lower or of the upper bounds, or at
    most one variable has a range.
    """
    lower = np.asarray(problem.lower, float)
    upper = np.asarray(problem.upper, float)
    target = np.asarray(problem.target, float)
    n_free = np.sum(upper > lower, axis=1)
    return (target <= sum_last(lower)) | (target >= sum_last(upper)) | (n_free <= 1)


@dataclass
class BatchResult:
    """What a batched solver returns: one answer per problem of the batch.

    Attributes
    ----------
    x
        ``(B, K)`` best point per problem (feasible: the output of the problem's repair).
    f
        ``(B,)`` its objective value.
    history
        ``(B, 1 + iterations)`` best objective after the initial population and after every
        iteration (padded with the final value after a problem stops).
    iterations
        ``(B,)`` iterations actually run per problem.
    wall_s
        Wall time of the whole call (all problems together).
    algorithm
        Name of the solver, e.g. ``"ga-aco"``.
    info
        Solver-specific details (e.g. the settings).
    """

    x: np.ndarray
    f: np.ndarray
    history: np.ndarray
    iterations: np.ndarray
    wall_s: float
    algorithm: str
    info: dict[str, Any] = field(default_factory=dict)
