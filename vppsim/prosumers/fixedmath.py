"""Elementary functions with the same bits on every CPU, for the prosumer SA and its fleets.

NumPy's ``exp``, ``sin``, ``power`` and its sums have CPU-specific SIMD code (AVX-512, AVX2,
the baseline loops) whose results differ in the last bits; the SA's accept/reject decisions
and the synthetic fleets' profiles then depend on the machine. The functions here use only
operations whose result IEEE 754 fixes exactly whatever the code path: ``+``, ``-``, ``*``,
``/`` (correctly rounded, one ufunc call each, so never fused), ``rint``, ``frexp``,
``ldexp``, comparisons, and running sums in a fixed order (``cumsum``). Their accuracy is a
few units in the last place; what matters is that they are the same everywhere.
"""

from __future__ import annotations

import math

import numpy as np

#: ln 2 split in a high part with trailing zero bits and the rest (fdlibm), and 1 / ln 2
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
#: Taylor coefficients 1/k! of exp on |r| <= ln(2)/2, k = 12 .. 0 (Horner order)
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(12, -1, -1))
#: 2 / (2k + 1), k = 0 .. 19: log(m) = sum 2 s^(2k+1) / (2k+1), s = (m - 1) / (m + 1)
_LOG_SERIES = tuple(2.0 / (2 * k + 1) for k in range(19, -1, -1))
#: (-1)^k / (2k + 1)!, k = 0 .. 14: sin on [-pi, pi]
_SIN_TAYLOR = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(14, -1, -1))
_SQRT_HALF = math.sqrt(0.5)


def _horner(coefs: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    p = np.full_like(x, coefs[0])
    for c in coefs[1:]:  # in place: the SA calls this every iteration
        p *= x
        p += c
    return p


def exp_fixed(x: np.ndarray) -> np.ndarray:
    """``exp(x)`` for ``x <= 0`` (relative error below 1e-15; below -745: 0).

    ``x = k ln 2 + r`` with ``k = rint(x / ln 2)``, a degree-12 Taylor polynomial of ``r``
    by Horner's rule, scaled by ``2**k`` (``ldexp``, exact).
    """
    x = np.maximum(np.asarray(x, float), -746.0)
    k = np.rint(x * _INV_LN2)
    r = x - k * _LN2_HI
    r -= k * _LN2_LO
    return np.ldexp(_horner(_EXP_TAYLOR, r), k.astype(np.int32))


def log_fixed(x: np.ndarray) -> np.ndarray:
    """Natural logarithm of ``x > 0`` (relative error about 1e-15).

    ``x = m 2**e`` (``frexp``, exact) with ``m`` in ``[sqrt(1/2), sqrt(2))``; ``log m`` from the
    series of ``atanh((m - 1) / (m + 1))``.
    """
    m, e = np.frexp(np.asarray(x, float))
    low = m < _SQRT_HALF
    m = np.where(low, m * 2.0, m)
    e = np.where(low, e - 1, e).astype(float)
    s = (m - 1.0) / (m + 1.0)
    return s * _horner(_LOG_SERIES, s * s) + (e * _LN2_HI + e * _LN2_LO)


def sin_fixed(x: np.ndarray) -> np.ndarray:
    """``sin(x)`` for moderate ``|x|`` (absolute error about 1e-15 for ``|x| < 100``).

    Reduced to ``[-pi, pi]`` by ``x - 2 pi rint(x / 2 pi)``, then a degree-29 Taylor polynomial.
    """
    x = np.asarray(x, float)
    r = x - (2.0 * math.pi) * np.rint(x / (2.0 * math.pi))
    return r * _horner(_SIN_TAYLOR, r * r)


def row_sums(a: np.ndarray) -> np.ndarray:
    """Sum of each row of ``a`` ``(N, T)`` left to right (``np.sum``'s pairwise SIMD order varies)."""
    a = np.asarray(a, float)
    if a.shape[-1] == 0:
        return np.zeros(a.shape[:-1])
    return np.cumsum(a, axis=-1)[..., -1]
