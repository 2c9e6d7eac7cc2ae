"""Registry of named distribution/transmission feeders and a feeder loader.

Every named feeder is built by a plain module-level factory function around
:mod:`pandapower.networks` (so :class:`FeederInfo` objects pickle cleanly for
multiprocessing). Any other feeder can be given as a path to a pandapower JSON
file (see ``grids/README.md`` at the repository root).

Sources of the named feeders
----------------------------
``ieee33``
    ``pandapower.networks.case33bw``: M. E. Baran and F. F. Wu, "Network
    reconfiguration in distribution systems for loss reduction and load
    balancing", IEEE Trans. Power Delivery 4(2):1401-1407, 1989
    (doi:10.1109/61.25627); data via MATPOWER. 33-bus, 12.66 kV radial feeder.
``ieee24``
    ``pandapower.networks.case24_ieee_rts``: IEEE Reliability Test System Task
    Force, "IEEE Reliability Test System", IEEE Trans. PAS-98(6):2047-2054,
    1979 (doi:10.1109/TPAS.1979.319398); data via MATPOWER. 24-bus, 138/230 kV.
``cigre_mv``
    ``pandapower.networks.create_cigre_network_mv(with_der=False)``: CIGRE
    Task Force C6.04.02, "Benchmark Systems for Network Integration of
    Renewable and Distributed Energy Resources", CIGRE TB 575, 2014.
    European 20 kV MV benchmark, without the DER variant's generators.
``cigre_lv``
    ``pandapower.networks.create_cigre_network_lv()``: CIGRE TB 575 (2014),
    European 0.4 kV LV benchmark (residential, industrial, commercial).
``ieee12``
    ``grids/ieee12.json`` (built by ``grids/make_ieee12.py``): D. Das, H. S. Nagi,
    D. P. Kothari, "Novel method for solving radial distribution networks", IEE Proc.
    Gener. Transm. Distrib. 141(4):291-298, 1994; data as in MATPOWER ``case12da``.
    12-bus, 11 kV radial feeder (paper 001's test system).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING

from vppsim.grids.simbench import SIMBENCH_PREFIX, SimbenchError, simbench_net
from vppsim.paths import data_dir

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

__all__ = [
    "FEEDERS",
    "FeederError",
    "FeederInfo",
    "bus_ids",
    "feeder_names",
    "load_feeder",
]


class FeederError(ValueError):
    """Raised when a feeder name or feeder file cannot be resolved or read."""


@dataclass(frozen=True)
class FeederInfo:
    """Description of one named feeder.

    Attributes
    ----------
    name
        Registry key.
    factory
        Module-level function (picklable) returning a new net.
    description
        Short human-readable description.
    source
        Bibliographic citation of the data origin.
    """

    name: str
    factory: Callable[[], pandapowerNet]
    description: str
    source: str

    def build(self) -> pandapowerNet:
        """Build a new network instance from the factory."""
        return self.factory()


def _pp() -> ModuleType:
    """pandapower, imported when a net is first built or read (about 1.5-3 s)."""
    import pandapower  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import

    return pandapower


def _pn() -> ModuleType:
    """``pandapower.networks`` (lazy, as :func:`_pp`)."""
    import pandapower.networks  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import

    return pandapower.networks


def _ieee33() -> pandapowerNet:
    """Baran & Wu (1989) 33-bus feeder, ``pandapower.networks.case33bw``."""
    return _pn().case33bw()


def _ieee24() -> pandapowerNet:
    """IEEE RTS 24-bus system, ``pandapower.networks.case24_ieee_rts``."""
    return _pn().case24_ieee_rts()


def _cigre_mv() -> pandapowerNet:
    """CIGRE MV benchmark without DER, ``create_cigre_network_mv``."""
    return _pn().create_cigre_network_mv(with_der=False)


def _cigre_lv() -> pandapowerNet:
    """CIGRE LV benchmark, ``create_cigre_network_lv``."""
    return _pn().create_cigre_network_lv()


def _ieee12() -> pandapowerNet:
    """Das, Nagi & Kothari (1994) 12-bus feeder, from the shipped ``grids/ieee12.json``."""
    return _pp().from_json(str(data_dir("grids") / "ieee12.json"))


_CIGRE_TB575 = (
    "CIGRE Task Force C6.04.02, 'Benchmark Systems for Network Integration of "
    "Renewable and Distributed Energy Resources', CIGRE Technical Brochure 575, 2014"
)

#: Read-only registry of named feeders (name -> :class:`FeederInfo`).
FEEDERS: Mapping[str, FeederInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            FeederInfo(
                name="ieee33",
                factory=_ieee33,
                description="IEEE 33-bus 12.66 kV radial distribution feeder (case33bw)",
                source=(
                    "M. E. Baran, F. F. Wu, 'Network reconfiguration in distribution "
                    "systems for loss reduction and load balancing', IEEE Trans. Power "
                    "Delivery 4(2):1401-1407, 1989, doi:10.1109/61.25627 "
                    "(data: MATPOWER case33bw via pandapower.networks.case33bw)"
                ),
            ),
            FeederInfo(
                name="ieee24",
                factory=_ieee24,
                description="IEEE Reliability Test System 24-bus, 138/230 kV (case24_ieee_rts)",
                source=(
                    "IEEE RTS Task Force, 'IEEE Reliability Test System', IEEE Trans. "
                    "Power Apparatus and Systems PAS-98(6):2047-2054, 1979, "
                    "doi:10.1109/TPAS.1979.319398 (data: MATPOWER case24_ieee_rts via "
                    "pandapower.networks.case24_ieee_rts)"
                ),
            ),
            FeederInfo(
                name="cigre_mv",
                factory=_cigre_mv,
                description="CIGRE European 20 kV MV benchmark feeder, without DER",
                source=_CIGRE_TB575
                + " (pandapower.networks.create_cigre_network_mv(with_der=False))",
            ),
            FeederInfo(
                name="cigre_lv",
                factory=_cigre_lv,
                description="CIGRE European 0.4 kV LV benchmark feeder",
                source=_CIGRE_TB575 + " (pandapower.networks.create_cigre_network_lv())",
            ),
            FeederInfo(
                name="ieee12",
                factory=_ieee12,
                description="12-bus 11 kV radial distribution feeder (Das, Nagi & Kothari 1994)",
                source=(
                    "D. Das, H. S. Nagi, D. P. Kothari, 'Novel method for solving radial "
                    "distribution networks', IEE Proc. Gener. Transm. Distrib. 141(4):291-298, "
                    "1994 (data: MATPOWER case12da; pandapower JSON grids/ieee12.json)"
                ),
            ),
        )
    }
)


@functools.cache
def _built(name: str) -> pandapowerNet:
    """Build a registry feeder once per process; callers get deep copies, never this instance.

    pandapower's case converters take about 0.3 s per build.
    """
    return FEEDERS[name].build()


def feeder_names() -> list[str]:
    """Return the registered feeder names, sorted."""
    return sorted(FEEDERS)


def _unknown_message(what: str) -> str:
    names = ", ".join(feeder_names())
    return f"{what}; valid feeder names are: {names} (or a path to a pandapower JSON file)"


def load_feeder(name_or_path: str | Path, base_dir: Path | None = None) -> pandapowerNet:
    """Load a feeder by registry name or from a pandapower JSON file.

    Parameters
    ----------
    name_or_path
        A name from :data:`FEEDERS`, ``simbench:<code>`` (a SimBench grid,
        :mod:`vppsim.grids.simbench`), or a path to a pandapower
        JSON file (``pandapower.to_json`` format).
    base_dir
        Directory against which a relative path is resolved
        (default: the current working directory).

    Returns
    -------
    pandapowerNet
        A new, independent network (never shared between calls).

    Raises
    ------
    FeederError
        Unknown name, missing file, or unreadable JSON.
    """
    if isinstance(name_or_path, str) and name_or_path in FEEDERS:
        return copy.deepcopy(_built(name_or_path))
    if isinstance(name_or_path, str) and name_or_path.startswith(SIMBENCH_PREFIX):
        try:
            return simbench_net(name_or_path.removeprefix(SIMBENCH_PREFIX))
        except SimbenchError as exc:
            raise FeederError(str(exc)) from exc

    path = Path(name_or_path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        if isinstance(name_or_path, str) and not _looks_like_path(name_or_path):
            raise FeederError(_unknown_message(f"unknown feeder name {name_or_path!r}"))
        raise FeederError(_unknown_message(f"feeder file {str(path)!r} does not exist"))
    try:
        net = _pp().from_json(str(path))
    except Exception as exc:  # pandapower raises assorted errors on bad input
        raise FeederError(f"cannot read pandapower JSON {str(path)!r}: {exc}") from exc
    if not isinstance(net, _pp().auxiliary.pandapowerNet):
        raise FeederError(f"{str(path)!r} does not contain a pandapower network")
    return net


def _looks_like_path(text: str) -> bool:
    return any(sep in text for sep in ("/", "\\")) or text.lower().endswith(".json")


def bus_ids(net: pandapowerNet) -> list[int]:
    """Return the bus index values of ``net`` as plain ints."""
    return [int(i) for i in net.bus.index]
