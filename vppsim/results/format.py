"""Formatting helpers shared by the result writers: JSON-ready values, numbers, units."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: column-name suffix -> unit, as the tables name their columns (``cost_cny__VPP1`` included)
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_cny", "CNY"), ("_kwh", "kWh"), ("_kw", "kW"), ("_pu", "pu"), ("_pct", "%"),
    ("_steps", "steps"),
)


def json_ready(x: Any) -> Any:
    """``x`` with numpy scalars as Python ones and NaN as None, recursively (for ``json.dumps``)."""
    if isinstance(x, float | np.floating):
        x = float(x)
        return None if math.isnan(x) else x
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, dict):
        return {k: json_ready(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_ready(v) for v in x]
    return x


def number(x: Any, decimals: int = 2, *, spec: str | None = None, missing: str = "n/a") -> str:
    """A number as a report shows it.

    ``missing`` for None, NaN or infinity; a float with ``decimals`` (thousands separated) or
    any value in the format ``spec``; anything else as ``str``.
    """
    if x is None or (isinstance(x, float | np.floating) and not math.isfinite(x)):
        return missing
    if spec is not None:
        return format(x, spec)
    if isinstance(x, float | np.floating):
        return f"{x:,.{decimals}f}"
    return str(x)


def unit_of(column: str) -> str:
    """The unit a column name carries (``''`` if none; ``share`` for renewable utilization)."""
    for suffix, unit in UNIT_SUFFIXES:
        if column.endswith(suffix) or f"{suffix}__" in column:
            return unit
    return "share" if column == "renewable_utilization" else ""


def decimals_for(column: str) -> int:
    """Decimals to show for a column: 4 for per-unit values and shares, else 2."""
    return 4 if column.endswith("_pu") or column == "renewable_utilization" else 2
