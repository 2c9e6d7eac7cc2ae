"""Registry of the metaheuristics by name: ``get_algorithm("pso-rl", patience=30)``."""

from __future__ import annotations

from typing import Any

from vppsim.optimizers.base import Algorithm
from vppsim.optimizers.elm_ga import ElmGA
from vppsim.optimizers.ga import RealCodedGA
from vppsim.optimizers.irla import IRLA
from vppsim.optimizers.learning_pso import LearningPSO
from vppsim.optimizers.pso import PSO

#: Registry name -> class; every class is an :class:`~vppsim.optimizers.base.Algorithm` with
#: keyword-only hyperparameters and ``minimize(problem, budget, seed) -> Result``. ``pso-rl``
#: is the learning PSO (a bandit chooses each particle's move); ``irla-paper`` is paper 004's
#: IRLA as written, kept for comparison; ``elm-ga`` is paper 003's GA with ELM-surrogate
#: screening (binary and mixed variables too).
ALGORITHMS: dict[str, type[Algorithm]] = {
    "pso-rl": LearningPSO, "pso": PSO, "ga": RealCodedGA, "irla-paper": IRLA, "elm-ga": ElmGA,
}


def get_algorithm(name: str, **kwargs: Any) -> Algorithm:
    """An algorithm instance by registry name.

    Parameters
    ----------
    name : str
        One of ``ALGORITHMS`` (``"pso-rl"``, ``"pso"``, ``"ga"``, ``"irla-paper"``,
        ``"elm-ga"``); case-insensitive.
    **kwargs
        Keyword-only hyperparameters of the class.

    Returns
    -------
    LearningPSO or PSO or RealCodedGA or IRLA or ElmGA
        The configured algorithm.

    Raises
    ------
    ValueError
        If ``name`` is not registered (the message lists the valid names).
    """
    key = str(name).strip().lower()
    if key not in ALGORITHMS:
        valid = ", ".join(sorted(ALGORITHMS))
        raise ValueError(f"unknown algorithm {name!r}; valid names: {valid}")
    return ALGORITHMS[key](**kwargs)
