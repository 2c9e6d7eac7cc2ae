"""Forecast-error samples for every agent and period: the scenario's uncertainty model.

A *sample* is a full set of relative errors ``eps[agent, t]`` (``actual = forecast * (1 +
eps)``) for the agents that realize a forecast (wind turbines, PV plants, loads). The model is
a Gaussian copula:

1. **Cross-section.** Every (quantity, VPP) pair has one standard-normal score per period;
   all members of a VPP with the same quantity share it (their errors are perfectly
   correlated: one weather/forecast error per VPP, as in paper 004 where each VPP has one
   wind and one PV aggregate). The scores of a period have the correlation matrix
   ``Q kron V``: ``Q`` between quantities (wind-PV ``wind_pv_correlation``, load
   independent), ``V`` between VPPs (``vpp_correlation`` for every pair of VPPs: in this
   version all VPPs are neighbours). Wind of one VPP and PV of another thus correlate with
   ``wind_pv_correlation * vpp_correlation``.
2. **Time.** Each score is a stationary AR(1) with unit variance and the quantity's
   ``autocorrelation`` ``a``: ``z[t] = a*z[t-1] + sqrt(1 - a^2)*x[t]``, ``z[0]`` drawn with
   the target cross-correlation (stationary from the first period). The
   innovations ``x`` are correlated so that the scores of one period have exactly the
   correlation above even when wind and PV have different ``a`` (innovation correlation
   ``rho * (1 - a_i*a_j) / sqrt((1 - a_i^2)(1 - a_j^2))``; the scenario schema rejects
   combinations where that matrix is not positive semi-definite).
3. **Marginals.** ``u = Phi(z)`` is uniform on (0, 1) and maps to each quantity's marginal:
   ``uniform`` -> ``eps = band*(2u - 1)``, exactly uniform on ``[-band, band]``;
   ``normal`` -> the exact inverse CDF of ``N(0, sd)`` truncated to ``+-clip_sd*sd`` (not a
   clipping: no probability mass piles up at the bounds); ``none`` -> 0.

The correlations and the autocorrelation are those of the Gaussian scores ``z``. The Pearson
correlation of the errors themselves is slightly smaller: ``(6/pi)*asin(rho/2)`` for two
uniform errors (at most 0.018 below ``rho``), and close to ``rho`` for truncated normals.

Everything is vectorized over samples, agents and groups; only the AR(1) recursion loops
over periods. Draws come from the ``numpy.random.Generator`` passed in: ``n_samples=None``
gives the same array as the first of ``n_samples`` samples drawn from an equal generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vppsim.forecast.errors import errors_from_scores
from vppsim.scenario.schema import ForecastErrorSpec

QUANTITIES: tuple[str, ...] = ("wind", "pv", "load")


@dataclass(frozen=True)
class ErrorLayout:
    """Which agents carry a forecast error: per agent its quantity and its VPP's index.

    Parameters
    ----------
    quantities:
        Per agent, ``"wind"``, ``"pv"`` or ``"load"``.
    vpps:
        Per agent, the index (0, 1, ...) of the VPP it belongs to.
    names:
        Optional agent names (for reports); empty or one per agent.
    """

    quantities: tuple[str, ...]
    vpps: tuple[int, ...]
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantities", tuple(self.quantities))
        object.__setattr__(self, "vpps", tuple(int(v) for v in self.vpps))
        object.__setattr__(self, "names", tuple(self.names))
        if len(self.quantities) != len(self.vpps):
            raise ValueError(
                f"expected one VPP index per agent, got {len(self.vpps)} for "
                f"{len(self.quantities)} agents"
            )
        if self.names and len(self.names) != len(self.quantities):
            raise ValueError(f"expected no names or one per agent, got {len(self.names)}")
        bad = sorted({q for q in self.quantities if q not in QUANTITIES})
        if bad:
            raise ValueError(f"expected quantities among {QUANTITIES}, got {bad}")
        if any(v < 0 for v in self.vpps):
            raise ValueError(f"expected VPP indices >= 0, got {min(self.vpps)}")

    @property
    def n_agents(self) -> int:
        """Number of agents (rows of a sample)."""
        return len(self.quantities)

    @property
    def n_vpps(self) -> int:
        """Number of VPPs: one more than the largest VPP index (0 without agents)."""
        return max(self.vpps) + 1 if self.vpps else 0

    @property
    def groups(self) -> np.ndarray:
        """Per agent, its (quantity, VPP) group: ``quantity_index * n_vpps + vpp``."""
        q = np.array([QUANTITIES.index(x) for x in self.quantities], dtype=int)
        return q * self.n_vpps + np.array(self.vpps, dtype=int)


def group_correlation(spec: ForecastErrorSpec, n_vpps: int) -> np.ndarray:
    """Correlation matrix of the per-period Gaussian scores of all (quantity, VPP) groups.

    Parameters
    ----------
    spec:
        The scenario's forecast-error model.
    n_vpps:
        Number of VPPs.

    Returns
    -------
    numpy.ndarray
        ``Q kron V``, shape ``(3*n_vpps, 3*n_vpps)``; group ``q*n_vpps + v`` is quantity
        ``QUANTITIES[q]`` of VPP ``v``.
    """
    q = np.eye(3)
    q[0, 1] = q[1, 0] = spec.wind_pv_correlation
    v = np.full((n_vpps, n_vpps), spec.vpp_correlation)
    np.fill_diagonal(v, 1.0)
    return np.kron(q, v)


def correlation_matrix(spec: ForecastErrorSpec, layout: ErrorLayout) -> np.ndarray:
    """Agent-by-agent correlation matrix of the Gaussian scores in one period.

    Parameters
    ----------
    spec:
        The scenario's forecast-error model.
    layout:
        The agents.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_agents, n_agents)``; members of the same quantity and VPP correlate with 1.
    """
    g = layout.groups
    return group_correlation(spec, layout.n_vpps)[np.ix_(g, g)]


def _autocorrelations(spec: ForecastErrorSpec, n_vpps: int) -> np.ndarray:
    """AR(1) coefficient per group."""
    return np.repeat([getattr(spec, q).autocorrelation for q in QUANTITIES], n_vpps)


def _psd_cholesky(a: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Lower-triangular ``L`` with ``L @ L.T == a`` for a positive semi-definite ``a``.

    Unlike :func:`numpy.linalg.cholesky` this accepts singular matrices (perfect correlation):
    a pivot below ``tol`` gives a zero column.
    """
    n = a.shape[0]
    low = np.zeros_like(a, dtype=float)
    for j in range(n):
        d = a[j, j] - low[j, :j] @ low[j, :j]
        if d < -1e-8:
            raise ValueError(f"expected a positive semi-definite correlation matrix (pivot {d:.3g})")
        if d <= tol:
            continue
        low[j, j] = np.sqrt(d)
        low[j + 1 :, j] = (a[j + 1 :, j] - low[j + 1 :, :j] @ low[j, :j]) / low[j, j]
    return low


def innovation_factor(spec: ForecastErrorSpec, n_vpps: int) -> np.ndarray:
    """Cholesky factor of the innovations' correlation, so the scores correlate as specified.

    Parameters
    ----------
    spec:
        The scenario's forecast-error model.
    n_vpps:
        Number of VPPs.

    Returns
    -------
    numpy.ndarray
        Lower-triangular, shape ``(3*n_vpps, 3*n_vpps)``.

    Raises
    ------
    ValueError
        If the implied innovation correlation is not positive semi-definite (the scenario
        schema rejects such a ``forecast_error`` first).
    """
    a = _autocorrelations(spec, n_vpps)
    scale = np.sqrt(1.0 - a**2)
    inflate = (1.0 - np.outer(a, a)) / np.outer(scale, scale)  # 1 on the diagonal
    return _psd_cholesky(group_correlation(spec, n_vpps) * inflate)


def sample_gaussian_scores(
    spec: ForecastErrorSpec,
    layout: ErrorLayout,
    n_steps: int,
    rng: np.random.Generator,
    n_samples: int | None = None,
) -> np.ndarray:
    """Draw the standard-normal scores ``z`` behind the errors (step 1 and 2 of the model).

    Parameters
    ----------
    spec:
        The scenario's forecast-error model.
    layout:
        The agents that realize a forecast.
    n_steps:
        Number of periods.
    rng:
        The only source of randomness; draws ``n_samples * n_steps * 3 * n_vpps`` normals.
    n_samples:
        ``None`` for one sample, else the number of samples.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_agents, n_steps)``, or ``(n_samples, n_agents, n_steps)``; every entry
        is standard normal.
    """
    single = n_samples is None
    s = 1 if single else int(n_samples)
    if s < 0 or n_steps < 0:
        raise ValueError(f"expected n_samples >= 0 and n_steps >= 0, got {n_samples}, {n_steps}")
    n_vpps = layout.n_vpps
    n_groups = 3 * n_vpps
    x = rng.standard_normal((s, n_steps, n_groups))
    a = _autocorrelations(spec, n_vpps)
    if np.any(a > 0.0):
        # the first period from the stationary correlation itself, the others from innovations
        x[:, 1:] = x[:, 1:] @ innovation_factor(spec, n_vpps).T
        x[:, :1] = x[:, :1] @ _psd_cholesky(group_correlation(spec, n_vpps)).T
        keep = np.sqrt(1.0 - a**2)
        for t in range(1, n_steps):
            x[:, t] = a * x[:, t - 1] + keep * x[:, t]
    else:
        x = x @ _psd_cholesky(group_correlation(spec, n_vpps)).T
    z = np.moveaxis(x[:, :, layout.groups], 1, 2)  # (samples, agents, steps)
    return z[0] if single else z


def sample_relative_errors(
    spec: ForecastErrorSpec,
    layout: ErrorLayout,
    n_steps: int,
    rng: np.random.Generator,
    n_samples: int | None = None,
) -> np.ndarray:
    """Draw relative forecast errors for every agent and period: one or many full samples.

    Parameters
    ----------
    spec:
        The scenario's forecast-error model (``Scenario.forecast_error``).
    layout:
        The agents that realize a forecast: quantity and VPP index of each.
    n_steps:
        Number of periods.
    rng:
        The only source of randomness. If every quantity of the layout has kind ``none``
        nothing is drawn from it.
    n_samples:
        ``None`` for one sample, else the number of samples (vectorized, no loop over them).

    Returns
    -------
    numpy.ndarray
        ``eps`` of shape ``(n_agents, n_steps)``, or ``(n_samples, n_agents, n_steps)``,
        with ``actual = forecast * (1 + eps)``.
    """
    shape = (layout.n_agents, n_steps) if n_samples is None else (n_samples, layout.n_agents, n_steps)
    if all(getattr(spec, q).kind == "none" for q in set(layout.quantities)):
        return np.zeros(shape)
    z = sample_gaussian_scores(spec, layout, n_steps, rng, n_samples)
    eps = np.zeros(shape)
    quantities = np.array(layout.quantities)
    for q in QUANTITIES:
        rows = quantities == q
        if rows.any():
            eps[..., rows, :] = errors_from_scores(getattr(spec, q), z[..., rows, :])
    return eps
