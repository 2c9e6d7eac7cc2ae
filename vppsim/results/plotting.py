"""matplotlib without a display: the Agg backend, imported when the first figure is drawn.

matplotlib takes about half a second to import; runs with ``--no-figures``, Monte Carlo
workers and the tests that draw nothing do not pay it. This is the one place that imports it.
"""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib  # noqa: PLC0415 - deliberate lazy import (see the module docstring)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt
