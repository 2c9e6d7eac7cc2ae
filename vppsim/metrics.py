"""Key performance indicators as plain functions of arrays (paper 000's KPIs).

Every function takes numpy arrays in kW or kWh and returns a float; none of them knows
where the numbers came from, so runs, games, Monte Carlo samples and the loss-aware dispatch
share one definition. Conventions (also in docs/design.md, "Key performance indicators"):

- ``renewable_utilization = used / available`` of the wind and solar energy (1.0 when
  nothing was available: nothing was wasted);
- ``renewable_share = renewable used / total energy served`` (paper 000's ``U = E_renewable /
  E_total``);
- ``load_factor = mean / peak`` of a load profile (1.0 for a flat profile; 0 when the peak is
  not positive is undefined and returns ``nan``);
- ``peak_reduction = 1 - peak / baseline peak`` (a fraction; positive when the peak fell);
- ``hours_outside_band``: hours of the steps in which some bus voltage left ``[min, max]`` pu
  (a step whose power flow did not converge, NaN, is not counted).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def renewable_utilization(used_kwh: ArrayLike, available_kwh: ArrayLike) -> float:
    """Used over available wind and solar energy, in [0, 1]; 1.0 when none was available."""
    used = float(np.sum(used_kwh))
    available = float(np.sum(available_kwh))
    if not np.isfinite(used) or not np.isfinite(available):
        raise ValueError("renewable_utilization: energies must be finite")
    if available <= 0.0:
        return 1.0
    return used / available


def renewable_share(renewable_used_kwh: ArrayLike, served_kwh: ArrayLike) -> float:
    """Paper 000's ``U = E_renewable / E_total``: renewable energy over all energy served."""
    renewable = float(np.sum(renewable_used_kwh))
    served = float(np.sum(served_kwh))
    if served <= 0.0:
        return float("nan")
    return renewable / served


def load_factor(p_kw: ArrayLike) -> float:
    """Mean over peak of a power profile (equal steps); ``nan`` when the peak is not positive."""
    p = np.asarray(p_kw, dtype=float)
    peak = float(p.max()) if p.size else 0.0
    if peak <= 0.0:
        return float("nan")
    return float(p.mean()) / peak


def peak_kw(p_kw: ArrayLike) -> float:
    """Largest value of a power profile, kW."""
    p = np.asarray(p_kw, dtype=float)
    return float(p.max()) if p.size else 0.0


def peak_reduction(p_kw: ArrayLike, baseline_p_kw: ArrayLike) -> float:
    """``1 - peak / baseline peak``: the fraction by which the peak fell against a baseline."""
    base = peak_kw(baseline_p_kw)
    if base <= 0.0:
        return float("nan")
    return 1.0 - peak_kw(p_kw) / base


def hours_outside_band(vm_min_pu: ArrayLike, vm_max_pu: ArrayLike, min_pu: float,
                       max_pu: float, step_h: float) -> float:
    """Hours of the steps whose lowest bus voltage is below ``min_pu`` or highest above ``max_pu``.

    ``vm_min_pu`` and ``vm_max_pu`` hold each step's extreme bus voltages; NaN (a power flow
    that did not converge) counts as inside, so the figure covers the converged steps only.
    """
    lo = np.asarray(vm_min_pu, dtype=float)
    hi = np.asarray(vm_max_pu, dtype=float)
    if lo.shape != hi.shape:
        raise ValueError(f"hours_outside_band: expected arrays of one shape, got {lo.shape} "
                         f"and {hi.shape}")
    with np.errstate(invalid="ignore"):
        outside = (lo < min_pu) | (hi > max_pu)  # NaN compares False
    return float(np.count_nonzero(outside)) * float(step_h)
