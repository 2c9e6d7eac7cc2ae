"""The member registry: every kind of VPP member, its scenario spec and the agents it builds.

A scenario's ``vpps[].members[]`` entries are selected by ``kind``. For each kind the registry
holds the spec class that validates an entry (:class:`vppsim.scenario.schema.MemberSpec`) and
the agent class that builds its Mesa agents (``Agent.from_spec(model, spec, vpp)``, which
returns the agents the VPP holds as members, each playing the roles it declares,
:mod:`vppsim.agents.base`). A self-scheduling kind (a prosumer fleet) brings a dispatch
strategy for its VPP instead (:class:`vppsim.agents.vpp.Dispatch`).

A new kind is one module (a spec and an agent class) plus an entry. From outside vppsim::

    kinds = default_member_kinds().with_kind(MemberKind("heat_pump", HeatPumpSpec, HeatPump))
    loaded = load_scenario("my.yaml", member_kinds=kinds)
    VPPModel(loaded).run()

or, for the command line, an entry point in the group ``vppsim.member_kinds`` that names a
:class:`MemberKind` object (``default_member_kinds`` picks it up).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vppsim.agents.battery import Battery
from vppsim.agents.ev import EV
from vppsim.agents.generator import DispatchableGenerator
from vppsim.agents.loads import ControllableLoad, Load
from vppsim.agents.prosumer import FleetProsumer, Prosumer
from vppsim.agents.prosumer_fleet import ProsumerFleetDispatch
from vppsim.agents.renewables import PVPlant, PVProfile, WindTurbine
from vppsim.agents.unit import CommittedUnit
from vppsim.agents.water_storage import WaterStorage
from vppsim.scenario.schema import (
    BatterySpec,
    ControllableLoadSpec,
    EvSpec,
    GeneratorSpec,
    LoadSpec,
    MemberSpec,
    ProsumerFleetSpec,
    ProsumerSpec,
    PVPlantSpec,
    PVProfileSpec,
    Scenario,
    UnitSpec,
    WaterStorageSpec,
    WindTurbineSpec,
    member_tag,
    scenario_model,
)

#: the entry-point group of member kinds from other distributions
ENTRY_POINT_GROUP = "vppsim.member_kinds"


@dataclass(frozen=True)
class MemberKind:
    """One kind of VPP member.

    Attributes
    ----------
    name
        The ``kind`` tag in scenario files; equal to the spec's ``kind`` default.
    spec
        The pydantic spec class (a :class:`~vppsim.scenario.schema.MemberSpec`).
    agent
        The agent class; ``agent.from_spec(model, spec, vpp)`` returns the member agents.
    dispatch
        For a self-scheduling kind: the dispatch strategy class, called ``dispatch(vpp, spec)``,
        that replaces the VPP's allocator dispatch (its agents are built by the strategy).
    """

    name: str
    spec: type[MemberSpec]
    agent: type
    dispatch: type | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.spec, type) and issubclass(self.spec, MemberSpec)):
            raise TypeError(f"member kind {self.name!r}: spec must be a MemberSpec subclass")
        tag = member_tag(self.spec)
        if tag != self.name:
            raise ValueError(f"member kind {self.name!r}: its spec's kind tag is {tag!r}")
        if self.spec.self_scheduling != (self.dispatch is not None):
            raise ValueError(f"member kind {self.name!r}: a self-scheduling spec needs a dispatch "
                             "strategy, and only a self-scheduling spec may have one")
        if self.dispatch is None and not callable(getattr(self.agent, "from_spec", None)):
            raise TypeError(f"member kind {self.name!r}: {self.agent.__name__} has no from_spec()")


class MemberKinds(Mapping[str, MemberKind]):
    """An immutable registry of member kinds by name; :meth:`with_kind` makes a larger one."""

    def __init__(self, kinds: Iterable[MemberKind]) -> None:
        self._kinds: dict[str, MemberKind] = {}
        for kind in kinds:
            if kind.name in self._kinds:
                raise ValueError(f"member kind {kind.name!r} registered twice")
            self._kinds[kind.name] = kind

    def __getitem__(self, name: str) -> MemberKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise KeyError(f"unknown member kind {name!r}; expected one of {sorted(self._kinds)}"
                           ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def __repr__(self) -> str:
        return f"MemberKinds({list(self._kinds)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemberKinds) and list(self.values()) == list(other.values())

    def __hash__(self) -> int:
        return hash(tuple(self.values()))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (MemberKinds, (list(self._kinds.values()),))

    def with_kind(self, *kinds: MemberKind) -> MemberKinds:
        """A registry with these kinds added (a name registered already is an error)."""
        return MemberKinds([*self._kinds.values(), *kinds])

    @property
    def specs(self) -> tuple[type[MemberSpec], ...]:
        """The spec classes, in registration order."""
        return tuple(k.spec for k in self._kinds.values())

    def scenario_model(self) -> type[Scenario]:
        """The scenario class whose VPPs take exactly these member kinds."""
        return scenario_model(self.specs)


#: vppsim's own member kinds (the order of :data:`vppsim.scenario.schema.BUILTIN_MEMBER_SPECS`)
BUILTIN_KINDS: tuple[MemberKind, ...] = (
    MemberKind("battery", BatterySpec, Battery),
    MemberKind("wind", WindTurbineSpec, WindTurbine),
    MemberKind("pv", PVPlantSpec, PVPlant),
    MemberKind("pv_profile", PVProfileSpec, PVProfile),
    MemberKind("load", LoadSpec, Load),
    MemberKind("controllable_load", ControllableLoadSpec, ControllableLoad),
    MemberKind("generator", GeneratorSpec, DispatchableGenerator),
    MemberKind("prosumer", ProsumerSpec, Prosumer),
    MemberKind("prosumer_fleet", ProsumerFleetSpec, FleetProsumer, dispatch=ProsumerFleetDispatch),
    MemberKind("unit", UnitSpec, CommittedUnit),
    MemberKind("ev", EvSpec, EV),
    MemberKind("water_storage", WaterStorageSpec, WaterStorage),
)


def default_member_kinds(plugins: bool = True) -> MemberKinds:
    """The member kinds of vppsim, plus (``plugins``) those of the ``vppsim.member_kinds`` entry points.

    Raises
    ------
    TypeError
        An entry point that does not name a :class:`MemberKind`.
    """
    kinds = list(BUILTIN_KINDS)
    if plugins:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            kind = ep.load()
            if not isinstance(kind, MemberKind):
                raise TypeError(f"entry point {ep.name!r} ({ep.value}) in {ENTRY_POINT_GROUP}: "
                                f"expected a MemberKind, got {type(kind).__name__}")
            kinds.append(kind)
    return MemberKinds(kinds)
