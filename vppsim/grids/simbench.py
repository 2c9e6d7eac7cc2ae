"""SimBench feeders and their 2016 element profiles (the optional ``simbench`` extra).

Source: S. Meinecke et al., "SimBench - A Benchmark Dataset of Electric Power Systems to
Compare Innovative Solutions based on Power Flow Analysis", Energies 13(12):3290, 2020
(doi:10.3390/en13123290); grids and profiles from the ``simbench`` package (offline).

The ``simbench`` package is imported only here and only when a SimBench feeder or profile is
asked for, so the default run does not import it. Powers come out of SimBench in MW and leave
this module in kW (``KW_PER_MW``); each element's profile is its absolute power
(``simbench.get_absolute_values``), averaged over the scenario's step (mean power).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

__all__ = [
    "SIMBENCH_PREFIX",
    "SIMBENCH_STEP_H",
    "ElementProfiles",
    "element_profiles",
    "simbench_codes",
    "simbench_net",
]

#: feeder names ``simbench:<code>`` are SimBench grids (``feeder: {simbench: CODE}`` sets it)
SIMBENCH_PREFIX = "simbench:"
#: the resolution of SimBench's profiles, hours
SIMBENCH_STEP_H = 0.25
#: the profiles' year (2016, a leap year: 366 days of 96 quarter hours)
SIMBENCH_YEAR = 2016
_KW_PER_MW = 1000.0


class SimbenchError(ValueError):
    """An unknown SimBench code, a missing ``simbench`` package or a window outside 2016."""


def _simbench() -> ModuleType:
    """The ``simbench`` package, imported on first use (the default run never imports it)."""
    try:
        import simbench  # noqa: PLC0415
    except ImportError as exc:
        raise SimbenchError("the 'simbench' package is not installed; "
                            "pip install 'vppsim[simbench]'") from exc
    return simbench


@functools.cache
def simbench_codes() -> tuple[str, ...]:
    """Every SimBench code the installed ``simbench`` package knows."""
    return tuple(_simbench().collect_all_simbench_codes())


@functools.cache
def _built(code: str) -> pandapowerNet:
    """Build a SimBench net once per process (about 5 s: it reads the package's CSV tables)."""
    return _simbench().get_simbench_net(code)


def simbench_net(code: str) -> pandapowerNet:
    """A new copy of the SimBench grid ``code`` (with its ``profiles``), never a shared one.

    Raises :class:`SimbenchError` naming a few valid codes when ``code`` is unknown.
    """
    codes = simbench_codes()
    if code not in codes:
        examples = [c for c in codes if c.endswith("--0-sw") and ("-LV-" in c or "-MV-" in c)][:6]
        raise SimbenchError(f"unknown SimBench code {code!r}; valid codes are e.g. "
                            f"{', '.join(examples)} ({len(codes)} in all, "
                            "simbench.collect_all_simbench_codes())")
    return copy.deepcopy(_built(code))


@dataclass(frozen=True)
class ElementProfiles:
    """The absolute power of a SimBench net's loads and sgens per step of a window, kW/kvar.

    Rows are steps, columns the elements in the order of ``load_index``/``sgen_index``
    (pandapower indices); ``load_bus``/``sgen_bus`` are their buses. Loads draw
    ``load_p_kw`` (positive consumption) and ``load_q_kvar``; sgens inject ``sgen_p_kw``
    (SimBench gives them no reactive profile: 0).
    """

    load_index: np.ndarray
    load_bus: np.ndarray
    load_p_kw: np.ndarray
    load_q_kvar: np.ndarray
    sgen_index: np.ndarray
    sgen_bus: np.ndarray
    sgen_p_kw: np.ndarray

    def columns(self) -> dict[str, np.ndarray]:
        """Profile columns ``load/<index>`` and ``sgen/<index>``: active power, kW."""
        out = {f"load/{i}": self.load_p_kw[:, k] for k, i in enumerate(self.load_index)}
        out.update({f"sgen/{i}": self.sgen_p_kw[:, k] for k, i in enumerate(self.sgen_index)})
        return out

    def element_bus(self, element: str) -> int | None:
        """The bus of ``load/<i>`` or ``sgen/<i>``, or None if the net has no such element."""
        table, _, index = element.partition("/")
        ids, buses = {"load": (self.load_index, self.load_bus),
                      "sgen": (self.sgen_index, self.sgen_bus)}.get(table, (None, None))
        if ids is None or not index.isdigit() or int(index) not in set(ids.tolist()):
            return None
        return int(buses[list(ids).index(int(index))])

    def background_by_bus(self, taken: set[str], buses: list[int], load_factor: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Net injection of the elements not ``taken`` by a member, per step and bus (kW, kvar).

        Columns follow ``buses``; generation positive, loads negative and multiplied by
        ``load_factor`` (per step: the feeder's ``background_load_scale`` times its optional
        ``background_load_profile``).
        """
        pos = {b: k for k, b in enumerate(buses)}
        n = self.load_p_kw.shape[0]
        p = np.zeros((n, len(buses)))
        q = np.zeros((n, len(buses)))
        f = np.asarray(load_factor, dtype=float)[:n]
        for k, (i, b) in enumerate(zip(self.load_index, self.load_bus, strict=True)):
            if f"load/{i}" not in taken:
                p[:, pos[int(b)]] -= self.load_p_kw[:, k] * f
                q[:, pos[int(b)]] -= self.load_q_kvar[:, k] * f
        for k, (i, b) in enumerate(zip(self.sgen_index, self.sgen_bus, strict=True)):
            if f"sgen/{i}" not in taken:
                p[:, pos[int(b)]] += self.sgen_p_kw[:, k]
        return p, q


def window_rows(start: str, days: int) -> tuple[int, int]:
    """First and end row (quarter hours) of ``days`` days of 2016 from ``start`` (YYYY-MM-DD)."""
    try:
        day = dt.date.fromisoformat(start)
    except ValueError as exc:
        raise SimbenchError(f"expected a date YYYY-MM-DD, got {start!r}") from exc
    first = dt.date(SIMBENCH_YEAR, 1, 1)
    end = dt.date(SIMBENCH_YEAR + 1, 1, 1)
    if not first <= day or day + dt.timedelta(days=days) > end:
        raise SimbenchError(f"expected {days} day(s) from a start within {SIMBENCH_YEAR} (the "
                            f"profiles' year, {first}..{end - dt.timedelta(days=1)}), got {start!r}")
    per_day = int(round(24 / SIMBENCH_STEP_H))
    row = (day - first).days * per_day
    return row, row + days * per_day


def _mean_per_step(values_mw: np.ndarray, rows: tuple[int, int], step_h: float) -> np.ndarray:
    """Rows ``rows`` of a quarter-hour table, as mean power per step of ``step_h`` h, in kW."""
    block = values_mw[rows[0]:rows[1]]
    k = int(round(step_h / SIMBENCH_STEP_H))
    return block.reshape(-1, k, block.shape[1]).mean(axis=1) * _KW_PER_MW


def element_profiles(net: pandapowerNet, start: str, days: int, step_h: float) -> ElementProfiles:
    """The loads' and sgens' SimBench profiles of ``days`` days from ``start``, kW per step.

    ``step_h`` (0.25, 0.5 or 1 h): quarter hours are averaged to it (mean power, so the energy
    of every step is kept).
    """
    rows = window_rows(start, days)
    absolute = _simbench().get_absolute_values(net, profiles_instead_of_study_cases=True)

    def table(element: str, column: str, index: np.ndarray) -> np.ndarray:
        frame = absolute.get((element, column))
        if frame is None or frame.shape[1] == 0:
            return np.zeros((days * int(round(24 / step_h)), len(index)))
        values = frame.reindex(columns=index).fillna(0.0).to_numpy(dtype=float)
        in_service = net[element].loc[index, "in_service"].to_numpy(dtype=float)
        return _mean_per_step(values, rows, step_h) * in_service

    load_index = net.load.index.to_numpy(dtype=int)
    sgen_index = net.sgen.index.to_numpy(dtype=int)
    return ElementProfiles(
        load_index=load_index, load_bus=net.load["bus"].to_numpy(dtype=int),
        load_p_kw=table("load", "p_mw", load_index),
        load_q_kvar=table("load", "q_mvar", load_index),
        sgen_index=sgen_index, sgen_bus=net.sgen["bus"].to_numpy(dtype=int),
        sgen_p_kw=table("sgen", "p_mw", sgen_index))
