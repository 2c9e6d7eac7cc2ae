"""Exact LP/MILP solving with HiGHS (``highspy``), behind a small sparse-model builder."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

INF = highspy.kHighsInf


@dataclass
class LinearProgram:
    """``min c@x + offset`` s.t. ``row_lo <= A@x <= row_hi``, ``col_lo <= x <= col_hi``."""

    c: np.ndarray
    a: sp.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray  # bool per column
    offset: float = 0.0
    names: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def is_mip(self) -> bool:
        """True when some column is integer."""
        return bool(self.integer.any())


@dataclass(frozen=True)
class LpSolution:
    """A solver answer: ``status`` is HiGHS' model status text; ``x`` is None unless optimal."""

    status: str
    optimal: bool
    objective: float
    x: np.ndarray | None
    row_dual: np.ndarray | None = None


class LpBuilder:
    """Build a sparse LP by named blocks of columns and rows.

    ``add_var("ch", n, lo, hi, cost)`` returns the column indices of a block; rows are added
    as sparse (columns, coefficients) pairs with bounds.
    """

    def __init__(self) -> None:
        self._c: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self.n = 0
        self.names: dict[str, np.ndarray] = {}
        self._rows: list[int] = []
        self._cols: list[int] = []
        self._vals: list[float] = []
        self._rlo: list[float] = []
        self._rhi: list[float] = []
        self.offset = 0.0

    def add_var(
        self,
        name: str,
        size: int,
        lo: float | np.ndarray = 0.0,
        hi: float | np.ndarray = INF,
        cost: float | np.ndarray = 0.0,
        integer: bool = False,
    ) -> np.ndarray:
        """Add ``size`` columns; returns their indices."""
        idx = np.arange(self.n, self.n + size)
        self.n += size
        self._c.append(np.broadcast_to(np.asarray(cost, float), size).copy())
        self._lo.append(np.broadcast_to(np.asarray(lo, float), size).copy())
        self._hi.append(np.broadcast_to(np.asarray(hi, float), size).copy())
        self._int.append(np.full(size, integer))
        self.names[name] = idx
        return idx

    def add_row(self, cols: list[int] | np.ndarray, vals: list[float] | np.ndarray,
                lo: float, hi: float) -> None:
        """Add one row ``lo <= sum(vals * x[cols]) <= hi``."""
        r = len(self._rlo)
        cols = np.asarray(cols, dtype=int)
        vals = np.broadcast_to(np.asarray(vals, dtype=float), cols.shape)
        self._rows.extend([r] * len(cols))
        self._cols.extend(cols.tolist())
        self._vals.extend(vals.tolist())
        self._rlo.append(lo)
        self._rhi.append(hi)

    def add_rows_from(self, lp: LinearProgram, cols: np.ndarray) -> None:
        """Copy every row of ``lp`` with its bounds, its columns mapped to ``cols`` here."""
        a = lp.a.tocsr()
        for r in range(a.shape[0]):
            sl = slice(a.indptr[r], a.indptr[r + 1])
            self.add_row(cols[a.indices[sl]], a.data[sl], lp.row_lo[r], lp.row_hi[r])

    def build(self) -> LinearProgram:
        """Return the assembled :class:`LinearProgram`."""
        a = sp.csc_matrix(
            (self._vals, (self._rows, self._cols)), shape=(len(self._rlo), self.n)
        )
        return LinearProgram(
            c=np.concatenate(self._c),
            a=a,
            row_lo=np.asarray(self._rlo, float),
            row_hi=np.asarray(self._rhi, float),
            col_lo=np.concatenate(self._lo),
            col_hi=np.concatenate(self._hi),
            integer=np.concatenate(self._int),
            offset=self.offset,
            names=dict(self.names),
        )


def _quiet_highs() -> highspy.Highs:
    """A ``Highs`` instance, created with stdout silenced.

    highspy prints its licence banner when the first instance is constructed, before any
    option can turn output off; the banner goes to the process's file descriptor 1.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real stdout (some embedded interpreters)
        return highspy.Highs()
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def new_highs(threads: int = 1) -> highspy.Highs:
    """A silent, deterministic ``Highs`` instance (one thread, fixed random seed)."""
    h = _quiet_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", threads)
    return h


def pass_model(h: highspy.Highs, lp: LinearProgram) -> None:
    """Load ``lp`` into the HiGHS instance ``h`` (column-wise matrix, integrality if any)."""
    model = highspy.HighsLp()
    model.num_col_ = lp.a.shape[1]
    model.num_row_ = lp.a.shape[0]
    model.col_cost_ = lp.c
    model.col_lower_ = lp.col_lo
    model.col_upper_ = lp.col_hi
    model.row_lower_ = lp.row_lo
    model.row_upper_ = lp.row_hi
    model.offset_ = lp.offset
    a = lp.a.tocsc()
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = a.indptr
    model.a_matrix_.index_ = a.indices
    model.a_matrix_.value_ = a.data
    if lp.is_mip:
        model.integrality_ = [
            highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
            for i in lp.integer
        ]
    h.passModel(model)


def solve_lp(lp: LinearProgram, time_limit_s: float | None = None) -> LpSolution:
    """Solve ``lp`` with HiGHS; infeasible or unbounded models return ``optimal=False``."""
    h = new_highs()
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    pass_model(h, lp)
    h.run()
    status = h.getModelStatus()
    text = h.modelStatusToString(status)
    if status != highspy.HighsModelStatus.kOptimal:
        return LpSolution(status=text, optimal=False, objective=float("nan"), x=None)
    sol = h.getSolution()
    x = np.asarray(sol.col_value)
    duals = None if lp.is_mip else np.asarray(sol.row_dual)
    obj = float(h.getInfo().objective_function_value)
    return LpSolution(status=text, optimal=True, objective=obj, x=x, row_dual=duals)
