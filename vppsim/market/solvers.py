"""Names of the game's solvers and objectives: the one list the scenario schema and the CLI read.

``GAME_SOLVERS`` is every metaheuristic of :data:`vppsim.optimizers.algorithms.ALGORITHMS`
(searching the price box with exact lower-level answers, in the registry's order) followed by
``"exact"`` (the exact reference's prices: the MPEC for ``vpo_profit``, the centralized LP's
dual prices for ``system_cost``). This module imports nothing else from :mod:`vppsim.market`, so
reading the names does not load the game.
"""

from __future__ import annotations

from vppsim.optimizers.algorithms import ALGORITHMS

#: The upper level's objectives (paper 004 section 4.3.4's fitness, and the leader's profit).
OBJECTIVES: tuple[str, ...] = ("system_cost", "vpo_profit")

#: The solver that takes the exact reference's prices instead of searching.
EXACT_SOLVER = "exact"

#: The metaheuristics that search the price box, in the registry's order.
SEARCH_SOLVERS: tuple[str, ...] = tuple(ALGORITHMS)

#: Every valid ``solver`` of :func:`vppsim.market.game.solve_game`.
GAME_SOLVERS: tuple[str, ...] = (*SEARCH_SOLVERS, EXACT_SOLVER)
