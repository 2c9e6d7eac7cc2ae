"""Allocation case files (``scenarios/allocation_*.yaml``): schema, loading, clear errors.

A case lists resources (name, kind, capacity, call-cost coefficient), the demands to
allocate, optionally a paper's allocation per demand for comparison, and the ``assumptions``
behind numbers the paper does not publish. Errors are :class:`vppsim.scenario.schema.ScenarioError`
(one line per problem: ``file: field: expected``), so the command line maps them to exit 2.
Every number must be finite and within a plausible range (:data:`MAX_CASE_POWER`, in the
case's unit); the file is read as strictly as a scenario (:mod:`vppsim.scenario.files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vppsim.allocation.problem import AllocationProblem, FitnessForm
from vppsim.paths import data_dir
from vppsim.scenario.files import read_yaml_mapping
from vppsim.scenario.schema import ScenarioError, validation_problems

#: largest capacity or demand, in the case's unit (MW or kW)
MAX_CASE_POWER = 1.0e7
#: largest relative call-cost coefficient
MAX_COST_COEFFICIENT = 1.0e6

Kind = Literal["wind", "pv", "storage", "controllable_load", "generator", "other"]


class _Spec(BaseModel):
    # allow_inf_nan=False: every float field (demands, paper_allocation too) must be finite
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ResourceSpec(_Spec):
    """One resource: adjustable capacity (case unit) and relative call-cost coefficient."""

    name: str
    kind: Kind = "other"
    capacity: Annotated[float, Field(ge=0.0, le=MAX_CASE_POWER)]
    cost_coefficient: Annotated[float, Field(gt=0.0, le=MAX_COST_COEFFICIENT)]


class FitnessSpec(_Spec):
    """Fitness form (:class:`vppsim.allocation.FitnessForm`)."""

    capacity_exponent: Annotated[float, Field(ge=-3.0, le=3.0)] = 1.0


class AllocationCase(_Spec):
    """An allocation case file."""

    name: str
    description: str = ""
    unit: Literal["MW", "kW"] = "MW"
    feeder: str | None = None
    fitness: FitnessSpec = FitnessSpec()
    resources: Annotated[list[ResourceSpec], Field(min_length=1)]
    demands: Annotated[list[Annotated[float, Field(gt=0.0, le=MAX_CASE_POWER)]],
                       Field(min_length=1)]
    paper_allocation: dict[float, dict[str, float]] = {}
    assumptions: list[str] = []

    @model_validator(mode="after")
    def _names(self) -> AllocationCase:
        names = [r.name for r in self.resources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"resource names must be unique; repeated: {', '.join(dup)}")
        for demand, alloc in self.paper_allocation.items():
            unknown = sorted(set(alloc) - set(names))
            if unknown:
                raise ValueError(
                    f"paper_allocation {demand:g}: unknown resources {', '.join(unknown)}"
                )
        return self

    @property
    def names(self) -> list[str]:
        """Resource names in file order."""
        return [r.name for r in self.resources]

    def problem(self, demands: list[float] | None = None) -> AllocationProblem:
        """One :class:`AllocationProblem` row per demand (default: the file's demands)."""
        dem = np.asarray(self.demands if demands is None else demands, dtype=float)
        cap = np.array([r.capacity for r in self.resources], dtype=float)
        cost = np.array([r.cost_coefficient for r in self.resources], dtype=float)
        return AllocationProblem(
            np.tile(cap, (len(dem), 1)), np.tile(cost, (len(dem), 1)), dem,
            FitnessForm(self.fitness.capacity_exponent),
        )

    def paper(self, demand: float) -> np.ndarray | None:
        """The paper's allocation for ``demand`` in resource order, or None if it has none."""
        for d, alloc in self.paper_allocation.items():
            if abs(d - demand) <= 1e-9 * max(1.0, abs(demand)):
                return np.array([alloc.get(n, np.nan) for n in self.names], dtype=float)
        return None


def resolve_case_path(path: str | Path) -> Path:
    """``path`` as given if it exists, else the shipped ``scenarios/<path>``."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    shipped = data_dir("scenarios") / p.name
    return shipped if shipped.is_file() else p


def load_allocation_case(path: str | Path) -> AllocationCase:
    """Read and validate an allocation case file.

    Raises
    ------
    ScenarioError
        Missing file, invalid YAML, or a field that fails validation; the message names the
        file, the field path and what was expected.
    """
    p = resolve_case_path(path)
    raw = read_yaml_mapping(p, "allocation case YAML", "case fields")
    try:
        return AllocationCase.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(p, validation_problems(exc, ())) from None
