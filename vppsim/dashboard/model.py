"""The model a dashboard page steps: a scenario with the page's controls applied.

Mesa's ``SolaraViz`` builds a new model from keyword arguments on every Reset
(``model_params``); :class:`DashboardModel` takes them (the scenario path and the controls)
and builds a :class:`vppsim.model.VPPModel` of the scenario with them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from vppsim.allocation.realtime import ALLOCATORS
from vppsim.market.pricing import PRICE_POLICIES
from vppsim.market.solvers import GAME_SOLVERS
from vppsim.model import VPPModel
from vppsim.scenario.loader import LoadedScenario, load_scenario
from vppsim.scenario.schema import ScenarioError

#: the scenario card shows the description up to this many characters
DESCRIPTION_CHARS = 160
#: the forecast-error quantities the error-scale control scales
ERROR_QUANTITIES = ("wind", "pv", "load")


def scaled_forecast_error(loaded: LoadedScenario, scale: float) -> dict[str, Any]:
    """The scenario's ``forecast_error`` with every band and standard deviation times ``scale``.

    0 gives perfect forecasts, 1 the scenario's own errors; a band is capped at 1 (100 %).
    """
    if not 0.0 <= scale <= 10.0:
        raise ValueError(f"error_scale: expected a number in 0..10, got {scale}")
    spec = loaded.scenario.forecast_error.model_dump()
    for q in ERROR_QUANTITIES:
        spec[q]["band"] = min(1.0, spec[q]["band"] * scale)
        spec[q]["sd"] = spec[q]["sd"] * scale
    return spec


def error_summary(loaded: LoadedScenario) -> str:
    """The scenario's forecast errors in a few words (``wind +-30 %, pv +-30 %, load sd 5 %``)."""
    parts = []
    for q in ERROR_QUANTITIES:
        e = getattr(loaded.scenario.forecast_error, q)
        if e.kind == "uniform":
            parts.append(f"{q} ±{100 * e.band:g} %")
        elif e.kind == "normal":
            parts.append(f"{q} sd {100 * e.sd:g} %")
    return ", ".join(parts) or "none"


def feeder_positions(model: VPPModel) -> dict[int, tuple[float, float]]:
    """Drawing positions of the feeder's buses: pandapower's geodata if every bus has some.

    Otherwise a Kamada-Kawai layout of the feeder graph (deterministic: no random start).
    """
    graph = model.space.G
    geo = model.network.power_flow.net.bus.get("geo")
    if geo is not None and geo.reindex(list(graph.nodes)).notna().all():
        xy = {}
        for bus in graph.nodes:
            coords = json.loads(geo.loc[bus])["coordinates"]
            xy[int(bus)] = (float(coords[0]), float(coords[1]))
        return xy
    return {int(k): (float(v[0]), float(v[1]))
            for k, v in nx.kamada_kawai_layout(nx.Graph(graph)).items()}


def configured(scenario: str | Path, price_policy: str, game_solver: str, allocator: str,
               error_scale: float, seed: int | str) -> tuple[LoadedScenario, int]:
    """The scenario at ``scenario`` with the page's controls applied, and the seed.

    Raises
    ------
    ScenarioError
        A control the scenario cannot take (a seed that is not an integer 0..2**63-1, an
        error scale outside 0..10, a combination the scenario schema rejects).
    """
    loaded = load_scenario(scenario)
    try:
        seed_value = int(str(seed).strip())
    except ValueError:
        seed_value = -1
    if not 0 <= seed_value < 2**63:
        raise ScenarioError(loaded.path, [("seed", f"expected an integer 0..2**63-1, got {seed!r}")])
    try:
        forecast_error = scaled_forecast_error(loaded, float(error_scale))
    except ValueError as exc:
        raise ScenarioError(loaded.path, [("error_scale", str(exc))]) from None
    s = loaded.scenario
    market = s.market.model_dump()
    market["price_policy"] = price_policy
    market["game"]["solver"] = game_solver
    balancing = {**s.balancing.model_dump(), "allocator": allocator}
    return loaded.with_overrides(market=market, balancing=balancing,
                                 forecast_error=forecast_error), seed_value


class DashboardModel(VPPModel):
    """A :class:`VPPModel` of the scenario at ``scenario`` with the dashboard's controls.

    Controls the scenario cannot take do not crash the page: the model is then the scenario
    as written, stopped (``running`` False), and ``rejected`` holds the one message saying
    which control and what was expected (the page shows it). The same holds for a
    :class:`ScenarioError` raised while stepping (e.g. the game asked of a VPP without a
    day-ahead LP).

    Parameters
    ----------
    scenario:
        Path of the scenario YAML.
    price_policy, game_solver, allocator:
        ``market.price_policy``, ``market.game.solver`` and ``balancing.allocator``.
    error_scale:
        Multiplies every forecast-error band and standard deviation (0: perfect forecasts).
    seed:
        The run's seed (an integer, or its text from the page's input box).

    Attributes
    ----------
    feeder_xy:
        Drawing position of every bus (:func:`feeder_positions`).
    rejected:
        None, or the message of the controls' or the step's :class:`ScenarioError`.
    """

    def __init__(self, scenario: str, price_policy: str = "passthrough",
                 game_solver: str = "pso-rl", allocator: str = "ga-aco",
                 error_scale: float = 1.0, seed: int | str = 0):
        self.rejected: str | None = None
        try:
            loaded, seed_value = configured(scenario, price_policy, game_solver, allocator,
                                            error_scale, seed)
        except ScenarioError as exc:
            self.rejected = str(exc)
            loaded, seed_value = load_scenario(scenario), None
        super().__init__(loaded, seed=seed_value)
        self.running = self.rejected is None
        self.feeder_xy = feeder_positions(self)

    def step(self) -> None:
        """One step; a :class:`ScenarioError` stops the model with its message in ``rejected``."""
        if self.rejected is not None:
            self.running = False
            self.steps -= 1  # Mesa counted a step that did not happen
            return
        try:
            super().step()
        except ScenarioError as exc:
            self.rejected = str(exc)
            self.running = False
            self.steps -= 1

    def last_voltages(self) -> dict[int, float]:
        """Every bus's voltage magnitude at the last collected step, pu (empty before step 1)."""
        c = self.datacollector
        if not c.bus_vm_pu:
            return {}
        return dict(zip(c.voltage_buses, np.asarray(c.bus_vm_pu[-1][1], dtype=float), strict=True))


def model_params(path: Path) -> dict[str, Any]:
    """Mesa ``model_params`` of the page: the scenario (fixed) and the controls at its values."""
    loaded = load_scenario(path)
    s = loaded.scenario
    return {
        "scenario": str(path),
        "price_policy": {"type": "Select", "value": s.market.price_policy,
                         "values": list(PRICE_POLICIES), "label": "Price policy"},
        "game_solver": {"type": "Select", "value": s.market.game.solver,
                        "values": list(GAME_SOLVERS), "label": "Game solver (policy 'game')"},
        "allocator": {"type": "Select", "value": s.balancing.allocator,
                      "values": list(ALLOCATORS), "label": "Real-time allocator"},
        "error_scale": {"type": "SliderFloat", "value": 1.0, "min": 0.0, "max": 2.0,
                        "step": 0.1,
                        "label": "Forecast-error bands ×"},
        "seed": {"type": "InputText", "value": str(s.seed), "label": "Seed"},
    }


def scenario_lines(model: DashboardModel) -> list[str]:
    """The scenario, the controls the model runs with and the run's totals so far, line by line."""
    s = model.scenario
    vpps = ", ".join(f"{v.name} (bus {v.bus})" for v in model.vpps)
    about = " ".join(s.description.split())
    if len(about) > DESCRIPTION_CHARS:  # the card is one grid cell high
        about = about[:DESCRIPTION_CHARS].rsplit(" ", 1)[0] + " …"
    lines = [f"{s.name}: {about}",
             f"Feeder {s.feeder.name}; VPPs {vpps}; {model.n_steps} steps of {model.step_h:g} h.",
             f"Price policy {s.market.price_policy} (game solver {s.market.game.solver}), "
             f"allocator {s.balancing.allocator}, seed {model.seed_used}; forecast errors: "
             f"{error_summary(model.loaded)}."]
    table = model.datacollector.model_table()
    if model.rejected is not None:
        lines.append("The scenario as written, not run (see the message above).")
    elif table.empty:
        lines.append("Not stepped yet: press Step or ▶.")
    else:
        lines.append(f"After {model.t} step(s): VPO profit {table['vpo_profit_cny'].sum():.1f} CNY, "
                     f"VPP costs {table['total_vpp_cost_cny'].sum():.1f} CNY, losses "
                     f"{table['losses_kw'].sum() * model.step_h:.1f} kWh, lowest voltage "
                     f"{table['vm_min_pu'].min():.4f} pu.")
    return lines
