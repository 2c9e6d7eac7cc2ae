"""Formatting helpers shared by the result writers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _round(x: Any) -> Any:
    if isinstance(x, float | np.floating):
        x = float(x)
        return None if math.isnan(x) else x
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_round(v) for v in x]
    return x
