"""Relative forecast errors: ``actual = forecast * (1 + eps)``, drawn from a generator passed in."""

from __future__ import annotations

import numpy as np

from vppsim.scenario import ErrorModelSpec


def draw_relative_error(
    spec: ErrorModelSpec, rng: np.random.Generator, size: int | tuple[int, ...] | None = None
) -> np.ndarray | float:
    """Draw relative errors ``eps`` for one quantity.

    ``uniform``: ``eps ~ U(-band, band)`` (paper 004 section 4.1: wind/PV within +-30 %);
    ``normal``: ``eps ~ N(0, sd)`` truncated to ``+-clip_sd*sd`` by clipping; ``none``: 0.
    ``none`` draws nothing from ``rng``.
    """
    if spec.kind == "uniform":
        return rng.uniform(-spec.band, spec.band, size)
    if spec.kind == "normal":
        eps = rng.normal(0.0, spec.sd, size)
        return np.clip(eps, -spec.clip_sd * spec.sd, spec.clip_sd * spec.sd)
    return np.zeros(size) if size is not None else 0.0
