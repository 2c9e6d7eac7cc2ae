"""The settings ``vppsim game`` resolves from its options and the scenario (one day or several)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from vppsim.cli.common import EXIT_BAD_INPUT
from vppsim.market.solvers import EXACT_SOLVER
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import LoadedScenario, load_scenario


@dataclass(frozen=True)
class GameSettings:
    """The scenario and the game's solver, objective, budget and seed after the defaults."""

    loaded: LoadedScenario
    solver: str
    objective: str
    budget: int
    seed: int

    @property
    def reference_time_limit_s(self) -> float:
        """Time limit of the exact reference, s (the scenario's ``market.game``)."""
        return self.loaded.scenario.market.game.reference_time_limit_s


def game_settings(args: argparse.Namespace) -> GameSettings | int:
    """Resolve the options against the scenario's ``market.game``; an exit code on bad input."""
    loaded = load_scenario(args.scenario or default_scenario_path())
    s = loaded.scenario
    spec = s.market.game
    budget = args.budget if args.budget is not None else spec.budget
    if budget < 10:
        print(f"vppsim: --budget: expected an integer >= 10, got {budget}", file=sys.stderr)
        return EXIT_BAD_INPUT
    solver = args.solver or spec.solver
    milp = [v.name for v in s.vpps if any(type(m).milp for m in v.members)]
    if solver == EXACT_SOLVER and milp:
        print(f"vppsim: --solver: expected a search solver (e.g. pso-rl): the exact solver needs "
              f"LP followers, and {', '.join(milp)} hold members with binaries (committed units, "
              "reservoirs), got 'exact'", file=sys.stderr)
        return EXIT_BAD_INPUT
    return GameSettings(loaded, solver, args.objective or spec.objective,
                        budget, args.seed if args.seed is not None else s.seed)
