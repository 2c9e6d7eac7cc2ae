"""Prosumer self-scheduling (paper 002): the batched problem, exact solvers and SA front end."""

from vppsim.prosumers.gaps import FlexibilityCaptured, flexibility_captured, idle_cost
from vppsim.prosumers.problem import (
    FleetSchedule,
    ProsumerFleet,
    Violations,
    check_schedules,
    schedule_cost,
    schedule_from_stored,
    synthetic_fleet,
)

__all__ = [
    "FlexibilityCaptured",
    "FleetSchedule",
    "ProsumerFleet",
    "Violations",
    "check_schedules",
    "flexibility_captured",
    "idle_cost",
    "schedule_cost",
    "schedule_from_stored",
    "synthetic_fleet",
]
