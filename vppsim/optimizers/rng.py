"""Counter-based random streams: the SplitMix64 finalizer, stream keys, :class:`CounterRng`.

A counter-based draw is a hash of (key, counter) rather than the next state of a sequential
generator, so the numbers one problem (or one prosumer) gets do not depend on how many other
problems are drawn with it, in which chunk, or in which process. Everything here is the
SplitMix64 finalizer (Steele, Lea & Flood 2014) with wrapping 64-bit arithmetic:

- :func:`mix` on ``uint64`` arrays, and :func:`mix_seed` on one Python int (a seed mixer:
  one SplitMix64 step, ``mix(x + GAMMA)``; the two agree bit for bit);
- :func:`problem_keys`: one key per problem from one seed or one seed per problem
  (GA-ACO), and :class:`CounterRng`: uniforms keyed by (key, draw site, element index);
- :func:`stream_keys` / :func:`stream_draw`: one stream per global index (the prosumer
  annealer) and its ``counter``-th 64-bit draw.

Each scheme is fixed: changing a constant changes every result that depends on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: SplitMix64's increment (the golden-ratio gamma), as a Python int and as a numpy uint64
GAMMA = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1
_G = np.uint64(GAMMA)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
#: offset of the per-problem keys of :func:`problem_keys`
_PROBLEM_OFFSET = np.uint64(0x632BE59BD9B4E019)
_TWO53 = 1.0 / 9007199254740992.0


def mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer on a ``uint64`` array (wrapping arithmetic).

    Parameters
    ----------
    z : numpy.ndarray
        ``uint64`` values.

    Returns
    -------
    numpy.ndarray
        The hashed values, same shape, ``uint64``.
    """
    z = (z ^ (z >> np.uint64(30))) * _C1
    z = (z ^ (z >> np.uint64(27))) * _C2
    return z ^ (z >> np.uint64(31))


def mix_seed(x: int) -> int:
    """One SplitMix64 step on a Python int: ``mix(x + GAMMA)`` modulo 2**64.

    A scalar seed mixer (not a random stream), in pure Python because it is called per model
    step where a numpy round trip would cost more than the hash. Equal to
    ``int(mix(np.uint64((x + GAMMA) % 2**64)))``.
    """
    x = (x + GAMMA) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def problem_keys(seeds: Any, n: int) -> np.ndarray:
    """Per-problem generator keys ``(n,)`` from one seed or one seed per problem (ints >= 0).

    Raises
    ------
    ValueError
        If ``seeds`` is neither one int nor ``n`` ints, or holds negative values.
    """
    s = np.asarray(seeds)
    if s.ndim == 0:
        s = np.full(n, s)
    if s.shape != (n,):
        raise ValueError(f"seeds: expected one int or {n} ints, got shape {s.shape}")
    if s.size and (not np.issubdtype(s.dtype, np.integer) or np.any(s < 0)):
        raise ValueError("seeds: expected non-negative integers")
    with np.errstate(over="ignore"):
        return mix(s.astype(np.uint64) * _G + _PROBLEM_OFFSET)


def stream_keys(seed: int, index: np.ndarray) -> np.ndarray:
    """Stream keys from one seed and the streams' global indices (e.g. prosumer indices)."""
    with np.errstate(over="ignore"):
        s = mix(np.array([seed & MASK64], dtype=np.uint64))
        return mix(s ^ mix(np.asarray(index, dtype=np.uint64) * _G + _G))


def stream_draw(keys: np.ndarray, counter: int) -> np.ndarray:
    """The ``counter``-th 64-bit draw of every stream of :func:`stream_keys` (``uint64``)."""
    return mix(keys + np.uint64((counter * GAMMA) & MASK64))


class CounterRng:
    """Counter-based uniforms: a draw depends only on (key, site, element index).

    ``uniform(site, shape)`` returns ``(B, *shape)`` floats in [0, 1), one row per key.
    Element indices are combined with fixed 20-bit strides (each dimension below 2**20), so
    the numbers drawn for element ``(i, j)`` do not depend on the sizes of the other
    dimensions.

    Parameters
    ----------
    keys : numpy.ndarray
        One ``uint64`` key per problem (:func:`problem_keys`).
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.asarray(keys, dtype=np.uint64)
        self._index: dict[tuple[int, ...], np.ndarray] = {}  # element counters per shape

    def _counters(self, shape: tuple[int, ...]) -> np.ndarray:
        """The element counters of ``shape`` (20 bits per dimension), built once per shape."""
        idx = self._index.get(shape)
        if idx is None:
            if len(shape) > 3 or any(d >= 1 << 20 for d in shape):
                raise ValueError("CounterRng: at most 3 dimensions below 2**20")
            idx = np.zeros(shape, dtype=np.uint64)
            for axis, d in enumerate(shape):
                view = [1] * len(shape)
                view[axis] = d
                shift = np.uint64(20 * (len(shape) - 1 - axis))
                idx = idx | (np.arange(d, dtype=np.uint64).reshape(view) << shift)
            self._index[shape] = idx
        return idx

    def uniform(self, site: int, shape: tuple[int, ...]) -> np.ndarray:
        """Uniform [0, 1) draws of site ``site`` (a non-negative int unique per draw)."""
        idx = self._counters(tuple(shape))
        # site * GAMMA + 1 wraps in Python ints; array arithmetic wraps silently
        base = mix(idx + np.uint64((site * GAMMA + 1) & MASK64))
        z = mix(base[None, ...] ^ self.keys.reshape((-1,) + (1,) * len(shape)))
        return (z >> np.uint64(11)).astype(np.float64) * _TWO53

    def take(self, rows: np.ndarray) -> CounterRng:
        """The generator of problems ``rows`` only (their draws are unchanged)."""
        out = CounterRng(self.keys[rows])
        out._index = self._index
        return out
