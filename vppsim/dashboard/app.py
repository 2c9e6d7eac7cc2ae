"""The dashboard page: Mesa's ``SolaraViz`` over a :class:`DashboardModel` (run by Solara).

``solara run vppsim.dashboard.app`` serves :func:`Page`; the scenario's path comes in the
environment variable :data:`vppsim.dashboard.SCENARIO_ENV` (set by ``vppsim dashboard``;
default: the shipped default scenario). Every browser session gets a model of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz

from vppsim.dashboard import SCENARIO_ENV
from vppsim.dashboard.figures import (
    exchanges_figure,
    feeder_figure,
    losses_figure,
    prices_figure,
    soc_figure,
)
from vppsim.dashboard.model import DashboardModel, model_params, scenario_lines
from vppsim.paths import default_scenario_path


def _plot(draw: Callable[[DashboardModel], Figure]) -> Callable[[DashboardModel], Any]:
    """A page component showing ``draw(model)`` as a PNG, redrawn whenever Mesa updates."""
    def component(model: DashboardModel) -> Any:
        return solara.FigureMatplotlib(draw(model), format="png")
    component.__name__ = draw.__name__
    return component


def scenario_card(model: DashboardModel) -> Any:
    """The scenario, the controls in force and the totals so far.

    Plain paragraphs: ``solara.Markdown`` would fetch KaTeX from a CDN.
    """
    with solara.Card("Scenario") as card:
        if model.rejected is not None:
            solara.Error(f"Not run: {model.rejected}. Change the controls and press Reset.")
        for line in scenario_lines(model):
            solara.v.Html(tag="p", children=[line])
    return card


#: the scenario card and the plots (Mesa redraws each after every step, Reset and Play tick)
COMPONENTS = [scenario_card, *(_plot(f) for f in (feeder_figure, prices_figure, exchanges_figure,
                                                   soc_figure, losses_figure))]


def scenario_path() -> Path:
    """The scenario the page shows: :data:`SCENARIO_ENV`, else the shipped default."""
    value = os.environ.get(SCENARIO_ENV)
    return Path(value) if value else default_scenario_path()


def _start(path: Path) -> tuple[DashboardModel, dict[str, Any]]:
    params = model_params(path)
    initial = {k: (v["value"] if isinstance(v, dict) else v) for k, v in params.items()}
    return DashboardModel(**initial), params


@solara.component
def Page() -> Any:
    """One session's page: the model at the scenario's own settings, its controls and plots."""
    path = scenario_path()
    model, params = solara.use_memo(lambda: _start(path), dependencies=[str(path)])
    return SolaraViz(model, components=COMPONENTS, model_params=params,
                     name=f"vppsim: {model.scenario.name}")
