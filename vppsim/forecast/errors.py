"""Relative forecast errors: ``actual = forecast * (1 + eps)``, the marginal of each error model.

:func:`errors_from_scores` maps standard-normal scores to a quantity's marginal (used by the
joint model in :mod:`vppsim.forecast.uncertainty`); :func:`draw_relative_error` draws
independent errors with the same marginal from a generator passed in.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from vppsim.scenario.schema import ErrorModelSpec


def errors_from_scores(spec: ErrorModelSpec, z: np.ndarray) -> np.ndarray:
    """Map standard-normal scores to relative errors with ``spec``'s marginal (step 3).

    Parameters
    ----------
    spec:
        One quantity's error model.
    z:
        Standard-normal scores, any shape.

    Returns
    -------
    numpy.ndarray
        ``eps`` of the shape of ``z``: ``band*(2*Phi(z) - 1)`` for ``uniform``, the exact
        truncated-normal quantile ``F^-1(Phi(z))`` for ``normal``, zeros for ``none``.
    """
    z = np.asarray(z, dtype=float)
    if spec.kind == "none" or (spec.kind == "uniform" and spec.band == 0.0) or (
        spec.kind == "normal" and spec.sd == 0.0
    ):
        return np.zeros_like(z)
    # work with the smaller tail probability w = Phi(-|z|) and symmetry: exact in both tails
    w = ndtr(-np.abs(z))
    sign = np.sign(z)
    if spec.kind == "uniform":
        return spec.band * sign * (1.0 - 2.0 * w)
    c = spec.clip_sd
    lo = ndtr(-c)
    # quantile of N(0,1) truncated to [-c, c] at probability w (lower half), then mirrored
    x = -ndtri(lo + w * (1.0 - 2.0 * lo))
    return spec.sd * sign * np.minimum(x, c)


def draw_relative_error(
    spec: ErrorModelSpec, rng: np.random.Generator, size: int | tuple[int, ...] | None = None
) -> np.ndarray | float:
    """Draw independent relative errors ``eps`` for one quantity.

    ``uniform``: ``eps ~ U(-band, band)`` (paper 004 section 4.1: wind/PV within +-30 %);
    ``normal``: ``eps ~ N(0, sd)`` truncated to ``+-clip_sd*sd`` (exact truncation, by
    :func:`errors_from_scores` of standard normals); ``none``: 0 and nothing is drawn from
    ``rng``. No correlation and no autocorrelation: for whole samples use
    :func:`vppsim.forecast.uncertainty.sample_relative_errors`.

    Parameters
    ----------
    spec:
        One quantity's error model.
    rng:
        The only source of randomness.
    size:
        Output shape; ``None`` for a single float.

    Returns
    -------
    numpy.ndarray or float
        The errors.
    """
    if spec.kind == "none":
        return np.zeros(size) if size is not None else 0.0
    eps = errors_from_scores(spec, rng.standard_normal(size))
    return eps if size is not None else float(eps)


def error_at(errors: np.ndarray | None, t: int, spec: ErrorModelSpec,
             rng: np.random.Generator) -> float:
    """An agent's relative error at step ``t``.

    ``errors`` is the agent's row of the model's error sample
    (:func:`vppsim.forecast.uncertainty.sample_relative_errors`, drawn once when the model is
    built); an agent without that row (``None``) draws an independent error from ``rng``.
    """
    if errors is not None:
        return float(errors[t])
    return float(draw_relative_error(spec, rng))
