"""Multi-day games: each day's game starts where the previous day's outcome ended.

:func:`carry_state` takes the next day's :class:`~vppsim.market.day_ahead.DayAheadMarket` (as
built before any day was played: every battery at its initial state of charge) and the previous
day's :class:`~vppsim.market.outcome.GameOutcome`, and returns the next day's market with

- every VPP battery's ``soc_start_kwh`` set to the end of its day-ahead schedule
  (``VppSchedule.soc_kwh[k, -1]``),
- every generator's ``p_start_kw`` (the output its ramp limit starts from) set to its output in
  the last period (``VppSchedule.gen_kw[j, -1]``),
- the VPO storage's ``soc_start_kwh`` set to the end of its response
  (``StorageResponse.soc_kwh[-1]``).

:func:`solve_game_days` solves day 0, carries its outcome into day 1, and so on. Each day is
solved myopically: the game of day ``d`` does not look at day ``d + 1`` (no look-ahead across
days), and a day's ``end_soc_at_least_initial`` rule applies to that day's own start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.game import GameResult, solve_game
from vppsim.market.lower_level import VppDayAheadData, VppSchedule
from vppsim.market.outcome import GameOutcome
from vppsim.optimizers.rng import mix_seed

#: Largest distance, kWh or kW, by which a carried end state may lie outside its physical bounds
#: (solver round-off; HiGHS's feasibility tolerance is 1e-7). Within it the value is clipped to
#: the bound; beyond it :func:`carry_state` raises ``ValueError``.
ROUNDOFF_TOL = 1e-6


def day_seed(seed: int | None, day: int) -> int | None:
    """The search seed of day ``day`` of a horizon solved with ``seed`` (None stays None).

    Day 0 keeps ``seed`` (so a one-day horizon is the one-day game); day ``d > 0`` gets
    ``mix_seed(mix_seed(seed) + d)`` (SplitMix64, :mod:`vppsim.optimizers.rng`) shifted into
    ``[0, 2**63)``, so the same seed always gives the same days.
    """
    if seed is None or day == 0:
        return seed
    return mix_seed((mix_seed(int(seed)) + int(day)) & ((1 << 64) - 1)) >> 1


def _within(value: float, lo: float, hi: float, what: str) -> float:
    """``value`` clipped to ``[lo, hi]`` if it lies at most :data:`ROUNDOFF_TOL` outside."""
    if not lo - ROUNDOFF_TOL <= value <= hi + ROUNDOFF_TOL:
        raise ValueError(f"{what}: expected a previous day's end in [{lo}, {hi}], got {value}")
    return min(max(float(value), lo), hi)


def _carried_vpp(d: VppDayAheadData, s: VppSchedule) -> VppDayAheadData:
    """``d`` with its batteries and generators starting at the end of schedule ``s``."""
    nb, ng = len(d.batteries), len(d.generators)
    if s.soc_kwh.shape[0] != nb or s.gen_kw.shape[0] != ng:
        raise ValueError(f"{d.name}: expected the previous day's schedule to have {nb} batteries "
                         f"and {ng} generators, got {s.soc_kwh.shape[0]} and {s.gen_kw.shape[0]}")
    batteries = tuple(
        dataclasses.replace(b, soc_start_kwh=_within(
            s.soc_kwh[k, -1], b.params.soc_min * b.params.capacity_kwh,
            b.params.soc_max * b.params.capacity_kwh, f"{d.name} battery {k} soc_kwh"))
        for k, b in enumerate(d.batteries))
    generators = tuple(
        dataclasses.replace(g, p_start_kw=_within(
            s.gen_kw[j, -1], g.p_min_kw, g.p_max_kw, f"{d.name} generator {j} gen_kw"))
        for j, g in enumerate(d.generators))
    return dataclasses.replace(d, batteries=batteries, generators=generators)


def carry_state(market: DayAheadMarket, previous: GameOutcome) -> DayAheadMarket:
    """The next day's ``market`` starting where ``previous`` (the day before's outcome) ended.

    VPPs are matched by name; the VPP names, each VPP's numbers of batteries and generators,
    and whether the VPO has storage must agree. An end state outside its physical bounds by at
    most :data:`ROUNDOFF_TOL` (solver round-off) is clipped to the bound. Pure: ``market`` and
    ``previous`` are not changed.

    Raises
    ------
    ValueError
        If the two days do not match, or an end state lies outside its bounds by more.
    """
    schedules = {s.name: s for s in previous.schedules}
    names = [d.name for d in market.vpps]
    if sorted(schedules) != sorted(names) or len(schedules) != len(previous.schedules):
        raise ValueError(f"carry_state: expected the previous day's outcome to schedule the "
                         f"VPPs {names}, got {[s.name for s in previous.schedules]}")
    vpps = tuple(_carried_vpp(d, schedules[d.name]) for d in market.vpps)
    storage = market.storage
    if (storage is None) != (previous.storage is None):
        raise ValueError("carry_state: expected the VPO to have storage on both days or on "
                         f"neither; the next day has {'none' if storage is None else 'some'}")
    if storage is not None and previous.storage is not None:
        p = storage.params
        soc = _within(previous.storage.soc_kwh[-1], p.soc_min * p.capacity_kwh,
                      p.soc_max * p.capacity_kwh, "VPO storage soc_kwh")
        storage = dataclasses.replace(storage, soc_start_kwh=soc)
    return DayAheadMarket(vpps, market.pi_imp, market.pi_exp, storage)


@dataclass
class HorizonDay:
    """One solved day of a multi-day game: the market it was solved on (carried) and its result."""

    day: int
    seed: int | None
    market: DayAheadMarket
    result: GameResult


def solve_game_days(
    markets_for_day: Callable[[int], DayAheadMarket],
    n_days: int,
    seed: int | None = 0,
    progress: Callable[[HorizonDay], None] | None = None,
    **solve_game_kwargs: Any,
) -> list[HorizonDay]:
    """Solve ``n_days`` day-ahead games in a row, each starting where the one before ended.

    ``markets_for_day(d)`` gives day ``d``'s market before any state is carried (e.g.
    ``VPPModel(loaded, days=n_days).day_ahead_market``); day 0 is solved as given, day ``d > 0``
    on :func:`carry_state` of it and day ``d - 1``'s outcome. Day ``d`` is searched with seed
    :func:`day_seed` ``(seed, d)``; the other keyword arguments go to
    :func:`vppsim.market.game.solve_game` unchanged. ``progress`` is called after each day.

    Raises
    ------
    ValueError
        If ``n_days < 1``, or two days' markets do not match (:func:`carry_state`).
    """
    if n_days < 1:
        raise ValueError(f"n_days: expected an integer >= 1, got {n_days}")
    days: list[HorizonDay] = []
    for d in range(n_days):
        market = markets_for_day(d)
        if days:
            market = carry_state(market, days[-1].result.outcome)
        s = day_seed(seed, d)
        res = solve_game(market, seed=s, **solve_game_kwargs)
        days.append(HorizonDay(d, s, market, res))
        if progress is not None:
            progress(days[-1])
    return days
