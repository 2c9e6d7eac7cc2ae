"""Pareto-front helpers shared by every bi-objective study: dominance and distance to a front.

Domain-free (objectives are plain arrays, all minimized); the allocation front (paper 001) and
the loss-aware fronts (paper 000) use them.
"""

from __future__ import annotations

import numpy as np


def non_dominated_mask(objectives: np.ndarray, tol: float | np.ndarray = 0.0) -> np.ndarray:
    """Mask of the rows of ``objectives`` (N x M, minimized) that no other row dominates.

    Row ``j`` dominates row ``k`` if it is no worse in every objective (within ``tol``, a scalar
    or one value per objective) and better by more than ``tol`` in at least one. Equal rows do
    not dominate each other: both stay.
    """
    obj = np.asarray(objectives, float)
    le = np.all(obj[None, :, :] <= obj[:, None, :] + tol, axis=2)  # [k, j]: j no worse than k
    lt = np.any(obj[None, :, :] < obj[:, None, :] - tol, axis=2)  # [k, j]: j better somewhere
    return ~np.any(le & lt, axis=1)


def polyline_distance(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Euclidean distance of each point (N x 2) from the polyline through ``vertices`` (K x 2).

    The vertices are joined in the given order; a single vertex is a polyline of length 0.
    """
    pts = np.asarray(points, float)[:, None, :]  # (N, 1, 2)
    a = np.asarray(vertices, float)
    if len(a) == 1:
        return np.linalg.norm(pts[:, 0, :] - a[0], axis=1)
    seg0, seg = a[:-1][None, :, :], (a[1:] - a[:-1])[None, :, :]  # (1, S, 2)
    length2 = np.maximum(np.sum(seg * seg, axis=2), 1e-300)
    s = np.clip(np.sum((pts - seg0) * seg, axis=2) / length2, 0.0, 1.0)
    nearest = seg0 + s[:, :, None] * seg
    return np.min(np.linalg.norm(pts - nearest, axis=2), axis=1)
