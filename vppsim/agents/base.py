"""What every agent at a feeder bus shares, and what a VPP needs from its members, by role.

The model's feeder is a Mesa network space (:class:`mesa.discrete_space.Network` over the
feeder graph, one cell per bus). Every VPP, member, prosumer, the VPO and the distribution
network sit in the cell of their bus (:class:`BusAgent`), so neighbourhoods, feeder paths and
distances are queries on the graph.

A member agent declares the roles it plays for its VPP in ``roles``; the VPP builds its
day-ahead LP (paper 004 eq. 1-6) and its real-time balancing problem from the members of each
role, never from their classes. The protocols below say what a role needs; one agent may play
several roles (a heat pump that shifts its demand is a ``load`` and a ``storage``).

Every member also reports its own row of the time series (``report``), says what it injects
at its bus (``injection_kw``) and, if it realizes with forecast error, names the quantity of
its error model in ``error_quantity`` (``wind``, ``pv`` or ``load``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from mesa.discrete_space import FixedAgent

if TYPE_CHECKING:
    from vppsim.scenario.schema import BatteryParams, GeneratorSpec

#: The roles a VPP knows, in the order its LP and balancing problems list them.
ROLES: tuple[str, ...] = ("wind", "pv", "load", "curtailable_load", "storage", "generator",
                         "unit", "ev", "reservoir")


class BusAgent(FixedAgent):
    """An agent fixed at a feeder bus: a cell of ``model.space``; ``bus`` is its coordinate."""

    name: str

    def place(self, bus: int) -> None:
        """Put the agent into the cell of ``bus`` (once; fixed agents do not move)."""
        self.cell = self.model.space[int(bus)]

    @property
    def bus(self) -> int:
        """The pandapower index of the agent's bus."""
        return self.cell.coordinate

    def join(self, spec: Any, bus: int, owner: str) -> None:
        """Take a member's spec and name, sit at ``bus``, belong to ``owner`` (no VPP yet)."""
        self.spec = spec
        self.name = spec.name
        self.place(bus)
        self.owner = owner
        self.vpp_name: str | None = None


class Member(Protocol):
    """What every member agent of a VPP has."""

    name: str
    roles: ClassVar[frozenset[str]]
    vpp_name: str | None

    @property
    def bus(self) -> int: ...  # noqa: D102

    def report(self, t: int) -> dict[str, Any]:
        """Its row of step ``t`` (after ``agent`` and the step columns), units in the names."""
        ...

    def injection_kw(self) -> tuple[float, float]:
        """Active and reactive power it injects at its bus this step (kW, kvar; generation > 0)."""
        ...


class RenewableMember(Member, Protocol):
    """Role ``wind`` or ``pv``: a variable renewable the VPP may curtail."""

    forecast_kw: np.ndarray
    available_kw: float

    def curtail_to(self, p_kw: float) -> None:
        """Use ``p_kw`` of the available output; the rest is curtailed."""
        ...


class LoadMember(Member, Protocol):
    """Role ``load``: demand that follows a forecast; the VPP records what it could not serve."""

    forecast_kw: np.ndarray
    demand_kw: float
    curtailed_kw: float
    unmet_kw: float


class CurtailableLoadMember(LoadMember, Protocol):
    """Role ``curtailable_load``: a load whose share ``reserve_ratio * participation`` may be cut."""

    reserve_ratio: np.ndarray
    participation: float
    curtail_cost_cny_per_kwh: float

    def curtailable_kw(self, t: int, demand_kw: float | None = None) -> float:
        """Curtailable power at step ``t``."""
        ...


class StorageMember(Member, Protocol):
    """Role ``storage``: energy the VPP charges and discharges (paper 004 eq. 2)."""

    params: BatteryParams
    soc_kwh: float

    def max_charge_kw(self, dt_h: float) -> float:
        """Largest charge power this step."""
        ...

    def max_discharge_kw(self, dt_h: float) -> float:
        """Largest discharge power this step."""
        ...

    def apply(self, charge_kw: float, discharge_kw: float, dt_h: float) -> None:
        """Apply a set-point for one step."""
        ...


class GeneratorMember(Member, Protocol):
    """Role ``generator``: a dispatchable unit with a convex cost curve."""

    spec: GeneratorSpec
    p_kw: float
    last_p_kw: float

    def cost_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Widths (kW) and slopes (CNY/kWh) of its piecewise-linear cost."""
        ...

    def limits_kw(self, dt_h: float) -> tuple[float, float]:
        """Output range reachable this step."""
        ...

    def set_output(self, p_kw: float) -> None:
        """Apply an output set-point."""
        ...

    def cost_cny_per_h(self, p_kw: float) -> float:
        """Hourly cost at output ``p_kw``."""
        ...
