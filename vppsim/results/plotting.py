"""matplotlib without pyplot's global state: figures are plain ``Figure`` objects.

matplotlib takes about half a second to import; runs with ``--no-figures``, Monte Carlo
workers and the tests that draw nothing do not pay it. This is the one place that imports it.
No backend is selected and no figure is registered with pyplot, so drawing result figures
inside a notebook or a GUI session neither switches its backend nor shows stray figures.
"""

from __future__ import annotations

from typing import Any

#: keyword arguments of ``subplots`` that belong to the figure, not to its axes grid
_FIGURE_KW = ("figsize", "dpi", "layout", "constrained_layout", "tight_layout")


class _Figures:
    """The part of ``matplotlib.pyplot`` the package uses, on standalone ``Figure`` objects."""

    def __init__(self) -> None:
        import matplotlib  # noqa: PLC0415 - deliberate lazy import (see the module docstring)
        from matplotlib.figure import Figure  # noqa: PLC0415

        self._matplotlib = matplotlib
        self._figure = Figure
        self.rcParams = matplotlib.rcParams

    def subplots(self, nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Any, Any]:
        """``pyplot.subplots``: a new figure (never registered with pyplot) and its axes."""
        fig = self._figure(**{k: kw.pop(k) for k in _FIGURE_KW if k in kw})
        return fig, fig.subplots(nrows, ncols, **kw)

    def get_cmap(self, name: str) -> Any:
        """A registered colormap by name."""
        return self._matplotlib.colormaps[name]

    @staticmethod
    def close(fig: Any = None) -> None:
        """Nothing to release: pyplot never held the figure (kept so callers read as before)."""


def pyplot() -> Any:
    """A pyplot-like namespace (``subplots``, ``close``, ``get_cmap``, ``rcParams``) of figures."""
    return _Figures()


def tariff_and_prices(ax: Any, t: Any, pi_imp: Any, pi_exp: Any, c_sell: Any, c_buy: Any) -> None:
    """Step lines of the grid tariff under the VPO's internal prices on ``ax``.

    The tariff is drawn as wide light bands underneath and the internal prices as thin lines
    on top, so a price equal to the tariff (the tariff passed through, a price at its bound)
    shows as a line inside its band instead of hiding it. Every array holds one value per
    step plus the last repeated (``where="post"`` steps ending at ``t[-1]``).
    """
    band = {"where": "post", "lw": 9, "alpha": 0.3, "solid_capstyle": "butt", "zorder": 1}
    ax.step(t, pi_imp, color="tab:orange", label="grid import tariff (pi_imp, band)", **band)
    ax.step(t, pi_exp, color="tab:green", label="grid export tariff (pi_exp, band)", **band)
    ax.step(t, c_sell, where="post", color="C3", lw=1.4, zorder=3,
            label="VPO sells to the VPPs (c_sell, line)")
    ax.step(t, c_buy, where="post", color="C0", lw=1.4, zorder=3,
            label="VPO buys from the VPPs (c_buy, line)")
