"""AC power flow at the pandapower boundary.

Agents work in kW/kvar; this module is the only place where those figures are
converted to MW/Mvar for pandapower. :class:`PowerFlow` owns a private copy of a
feeder, adds one static generator (``sgen``) per bus named ``vppsim_bus_<id>``
and, on every :meth:`PowerFlow.solve`, writes the per-bus net injections into
those sgens (generation positive, a negative value means net consumption). The
feeder's own loads stay in place as background load.

The numerical solver sits behind the :class:`PowerFlowBackend` seam:
:class:`PandapowerBackend` (``pandapower.runpp``) and
:class:`LightSim2GridBackend` (``lightsim2grid`` ``LSGrid.ac_pf``), registered
by name in :data:`BACKENDS`.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import networkx as nx
import numpy as np

from vppsim.grids.switches import needs_conversion, switch_free
from vppsim.grids.topology import feeder_graph, slack_bus

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

__all__ = [
    "BACKENDS",
    "KW_PER_MW",
    "SGEN_NAME_PREFIX",
    "LightSim2GridBackend",
    "PandapowerBackend",
    "PowerFlow",
    "PowerFlowBackend",
    "PowerFlowResult",
]

#: kW per MW; the single conversion factor used at the pandapower boundary.
KW_PER_MW = 1000.0
#: Name prefix of the injection sgens added by :class:`PowerFlow`.
SGEN_NAME_PREFIX = "vppsim_bus_"

_NAN = float("nan")


@dataclass(frozen=True)
class PowerFlowResult:
    """Outcome of one AC power flow.

    All figures are NaN when ``converged`` is False.

    Attributes
    ----------
    converged
        Whether the solver converged.
    losses_kw
        Total active losses, ``line_losses_kw + trafo_losses_kw``.
    line_losses_kw
        Sum of line losses (``res_line.pl_mw``).
    trafo_losses_kw
        Sum of 2- and 3-winding transformer losses.
    vm_min_pu
        Lowest bus voltage magnitude (in-service buses).
    vm_max_pu
        Highest bus voltage magnitude (in-service buses).
    max_line_loading_pct
        Highest loading of the rated lines, NaN if no line has a rating (see
        :data:`UNRATED_MAX_I_KA`).
    p_slack_kw
        Active power imported from the upstream grid (sum over
        ``ext_grid``); negative means export.
    vm_pu_by_bus
        Voltage magnitude per bus index (NaN for buses out of
        service or not solved).
    """

    converged: bool
    losses_kw: float
    line_losses_kw: float
    trafo_losses_kw: float
    vm_min_pu: float
    vm_max_pu: float
    max_line_loading_pct: float
    p_slack_kw: float
    vm_pu_by_bus: dict[int, float] = field(default_factory=dict)

    @classmethod
    def not_converged(cls, bus_ids: list[int] | None = None) -> PowerFlowResult:
        """Build a non-converged result with NaN figures."""
        return cls(
            converged=False,
            losses_kw=_NAN,
            line_losses_kw=_NAN,
            trafo_losses_kw=_NAN,
            vm_min_pu=_NAN,
            vm_max_pu=_NAN,
            max_line_loading_pct=_NAN,
            p_slack_kw=_NAN,
            vm_pu_by_bus={int(b): _NAN for b in (bus_ids or [])},
        )

    def to_record(self) -> dict[str, float | bool]:
        """Return the scalar fields (names carry their units) as a flat dict."""
        return {
            "converged": self.converged,
            "losses_kw": self.losses_kw,
            "line_losses_kw": self.line_losses_kw,
            "trafo_losses_kw": self.trafo_losses_kw,
            "vm_min_pu": self.vm_min_pu,
            "vm_max_pu": self.vm_max_pu,
            "max_line_loading_pct": self.max_line_loading_pct,
            "p_slack_kw": self.p_slack_kw,
        }


UNRATED_MAX_I_KA = 99999.0
"""pandapower's MATPOWER converter writes this ``max_i_ka`` for branches without a rating
(``rateA = 0``), as in ``case33bw``; such lines are left out of the loading figure."""


def rated_lines(net: pandapowerNet) -> np.ndarray:
    """Boolean mask of the lines that carry a real current rating."""
    return net.line["max_i_ka"].to_numpy(dtype=float) < UNRATED_MAX_I_KA


def _nan_extreme(values: np.ndarray, func: str) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return _NAN
    return float(getattr(np, func)(finite))


def write_setpoints(model: Any, held: list[np.ndarray] | None,
                    values: list[np.ndarray]) -> list[np.ndarray]:
    """Write load p, q and sgen p, q (MW, Mvar) into an ``LSGrid`` where they differ from ``held``.

    ``held``: what the grid holds (None: unknown, write all). Returns ``values``, the new
    ``held`` (one ``change_*`` call per element is most of a step, so unchanged ones are skipped).
    """
    changes = (model.change_p_load, model.change_q_load, model.change_p_sgen,
               model.change_q_sgen)
    for k, (change, new) in enumerate(zip(changes, values, strict=True)):
        where = range(len(new)) if held is None else np.flatnonzero(new != held[k]).tolist()
        for pos in where:
            change(pos, float(new[pos]))
    return values


def line_flows(model: Any, i_max_ka: np.ndarray, rated: np.ndarray) -> tuple[float, np.ndarray]:
    """Line losses (MW, both ends' injections summed) and rated lines' loading (%) of a solved grid."""
    p1, _, _, i1_ka = model.get_line_res1()
    p2, _, _, i2_ka = model.get_line_res2()
    line_mw = float(np.sum(p1) + np.sum(p2))
    return line_mw, (np.maximum(i1_ka, i2_ka) / i_max_ka * 100.0)[rated]


def injection_setpoints(p_kw_by_bus: Mapping[int, float], q_kvar_by_bus: Mapping[int, float] | None,
                        position: Mapping[int, int], in_service: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Per-bus injections (kW, kvar) -> set-points (MW, Mvar) at each bus's ``position``.

    ``in_service`` is by position. Raises ``ValueError`` for an unknown bus, a non-finite
    value or a non-zero injection at an out-of-service bus.
    """
    p_mw = np.zeros(len(in_service))
    q_mvar = np.zeros(len(in_service))
    for target, values, label in ((p_mw, p_kw_by_bus, "p_kw"), (q_mvar, q_kvar_by_bus, "q_kvar")):
        for bus, value_k in (values or {}).items():
            pos = position.get(int(bus))
            if pos is None:
                raise ValueError(f"{label} given for unknown bus {bus!r}")
            value = float(value_k)
            if not math.isfinite(value):
                raise ValueError(f"{label} for bus {int(bus)} is not finite: {value_k!r}")
            if value != 0.0 and not in_service[pos]:
                raise ValueError(f"{label} given for out-of-service bus {int(bus)}")
            target[pos] = value / KW_PER_MW
    return p_mw, q_mvar


@dataclass(frozen=True)
class SetpointLayout:
    """Where a power flow's set-points live in its ``LSGrid`` (MW, Mvar, in element order).

    ``sgen_positions``: the injection sgen of each bus of ``bus_ids``; the loads' p and q are
    multiplied by ``base_load_scaling`` times the caller's factor; ``sgen_p_mw`` holds every
    sgen's own (scaled) set-point and ``sgen_scaling`` the factor applied to an injection.
    ``batchable``: the grid may be solved as rows of a batch (cold start, no bus renumbering,
    no rated line). ``pristine``/``v_init``/``max_iter``/``tol_pu``: the grid as built and the
    solve's start and settings.
    """

    sgen_positions: np.ndarray
    base_load_scaling: np.ndarray
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    load_bus: np.ndarray
    sgen_p_mw: np.ndarray
    sgen_scaling: np.ndarray
    bus_in_service: np.ndarray
    batchable: bool
    pristine: Any
    v_init: np.ndarray
    max_iter: int
    tol_pu: float


class PowerFlowBackend(ABC):
    """Solver seam: solves a prepared pandapower net in its current state.

    A backend is bound to one net (owned by :class:`PowerFlow`). Before each
    :meth:`run` the caller writes the element set-points (``sgen``/``load``
    ``p_mw``, ``q_mvar``, ``scaling``) into that net; the backend reads them,
    solves, and returns a :class:`PowerFlowResult`. Non-convergence is reported
    through ``converged=False``, never raised.
    """

    name: ClassVar[str]

    def __init__(self, net: pandapowerNet, warm_start: bool = True) -> None:
        self.net = net
        self.warm_start = warm_start

    @abstractmethod
    def run(self) -> PowerFlowResult:
        """Solve the net in its current state."""

    def run_setpoints(self, sgen_pos: np.ndarray, sgen_p_mw: np.ndarray, sgen_q_mvar: np.ndarray,
                      load_scaling: np.ndarray) -> PowerFlowResult:
        """Write set-points into the net (sgens at positions ``sgen_pos``, load scaling), solve."""
        sgen = self.net.sgen
        idx = sgen.index[sgen_pos]
        sgen.loc[idx, "p_mw"] = sgen_p_mw
        sgen.loc[idx, "q_mvar"] = sgen_q_mvar
        self.net.load["scaling"] = load_scaling
        return self.run()


class PandapowerBackend(PowerFlowBackend):
    """Backend running ``pandapower.runpp`` (Newton-Raphson, numba disabled).

    After a converged solve, the next one starts from the previous results
    (``init="results"``) when ``warm_start`` is True; after a failure it goes
    back to pandapower's default initialisation.
    """

    name = "pandapower"

    def __init__(self, net: pandapowerNet, warm_start: bool = True) -> None:
        super().__init__(net, warm_start)
        self._has_results = False

    def run(self) -> PowerFlowResult:
        """Run ``pandapower.runpp`` and read the result tables."""
        import pandapower as pp  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import
        from pandapower.powerflow import LoadflowNotConverged  # noqa: PLC0415

        net = self.net
        init = "results" if (self.warm_start and self._has_results) else "auto"
        try:
            pp.runpp(net, numba=False, init=init)
        except LoadflowNotConverged:
            self._has_results = False
            return PowerFlowResult.not_converged([int(b) for b in net.bus.index])
        self._has_results = True
        return self._read_results()

    def _read_results(self) -> PowerFlowResult:
        net = self.net
        line_mw = float(net.res_line["pl_mw"].sum()) if len(net.line) else 0.0
        trafo_mw = 0.0
        for table in ("res_trafo", "res_trafo3w"):
            if table in net and len(net[table]):
                trafo_mw += float(net[table]["pl_mw"].sum())
        vm = net.res_bus["vm_pu"].to_numpy(dtype=float)
        loading = (
            net.res_line["loading_percent"].to_numpy(dtype=float)[rated_lines(net)]
            if len(net.line)
            else np.empty(0)
        )
        return PowerFlowResult(
            converged=True,
            losses_kw=(line_mw + trafo_mw) * KW_PER_MW,
            line_losses_kw=line_mw * KW_PER_MW,
            trafo_losses_kw=trafo_mw * KW_PER_MW,
            vm_min_pu=_nan_extreme(vm, "min"),
            vm_max_pu=_nan_extreme(vm, "max"),
            max_line_loading_pct=_nan_extreme(loading, "max"),
            p_slack_kw=float(net.res_ext_grid["p_mw"].sum()) * KW_PER_MW,
            vm_pu_by_bus={int(b): float(v) for b, v in zip(net.res_bus.index, vm, strict=True)},
        )


class LightSim2GridBackend(PowerFlowBackend):
    """Backend running lightsim2grid's Newton-Raphson (``LSGrid.ac_pf``).

    The net is converted once with ``lightsim2grid.network.init_from_pandapower``
    (pandapower 3 transformer model); each :meth:`run` copies the current load
    and sgen set-points into the ``LSGrid`` and solves. Losses, flows and slack
    power are those lightsim2grid computes from the solved voltages and its own
    branch data (``get_line_res1/2``, ``get_trafo_res1/2``, ``get_gen_res``).

    A net with switches or buses not numbered ``0..n-1`` (SimBench's ``-sw`` nets) is solved
    on an equivalent copy (:func:`vppsim.grids.switches.switch_free`: open branch ends on
    auxiliary buses, bus-bus switches fused, buses renumbered); set-points are still read from
    :attr:`net` and results come back under its bus numbers.

    Supported nets: exactly one in-service ``ext_grid`` with no generator on its bus and no
    generator flagged as slack, switches on lines, transformers and buses only, and no
    3-winding transformers, wards, impedances or other elements lightsim2grid cannot convert.
    Other nets raise ``ValueError``.
    """

    name = "lightsim2grid"
    #: Newton-Raphson iteration limit (pandapower's default for ``algorithm="nr"``).
    max_iter: ClassVar[int] = 10
    #: Mismatch tolerance (per unit), tighter than pandapower's default 1e-8.
    tol_pu: ClassVar[float] = 1e-10

    def __init__(self, net: pandapowerNet, warm_start: bool = True) -> None:
        from lightsim2grid.network import init_from_pandapower  # noqa: PLC0415 - imports pandapower

        super().__init__(net, warm_start)
        # the net lightsim2grid solves, and each original bus's position in it (None: same)
        self._grid_net, self._bus_pos = (switch_free(net) if needs_conversion(net)
                                         else (net, None))
        self._check_supported(self._grid_net)
        with warnings.catch_warnings():
            # lightsim2grid warns that it creates a slack generator from the
            # ext_grid, which is exactly the supported configuration.
            warnings.simplefilter("ignore")
            try:
                # "pandapower_v2": lightsim2grid 1.2's "pandapower_v3" converter drops most of
                # a transformer's magnetising susceptance (SimBench's 110/20 kV trafos: -2.4e-7
                # instead of pandapower's -0.0105 pu, 2.7e-5 pu off in voltage); the v2
                # converter matches pandapower 3.5's runpp to 1e-14 pu (NOTES.md)
                self._model = init_from_pandapower(self._grid_net,
                                                   pp_orig_file="pandapower_v2")
            except RuntimeError as exc:
                raise ValueError(f"lightsim2grid cannot convert this net: {exc}") from exc
        # the load/sgen set-points the LSGrid holds (p, q of loads, p, q of sgens, MW/Mvar):
        # run_setpoints writes only those that change (one call per element is most of a step)
        self._held: list[np.ndarray] | None = self._sync_injections()
        self._pristine = self._model.copy()
        self._pristine_held = self._held
        self._n_gen = len(self._grid_net.gen)
        self._v_init = self._flat_start()
        self._v_last: np.ndarray | None = None
        # set-points of the net's own loads and sgens for run_setpoints (read once)
        self._static: tuple[np.ndarray, ...] | None = None
        self._line_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._bus_cache: tuple[np.ndarray, list[int]] | None = None

    @staticmethod
    def _check_supported(net: pandapowerNet) -> None:
        n_bus = len(net.bus)
        if not np.array_equal(net.bus.index.to_numpy(), np.arange(n_bus)):
            raise ValueError("lightsim2grid backend needs bus indices 0..n-1")
        if len(net.switch):
            raise ValueError("lightsim2grid backend does not support switches")
        ext = net.ext_grid[net.ext_grid["in_service"]]
        if len(ext) != 1 or len(net.ext_grid) != 1:
            raise ValueError("lightsim2grid backend needs exactly one in-service ext_grid")
        if len(net.gen) and (
            bool(net.gen["slack"].any()) or bool(net.gen["bus"].isin(ext["bus"]).any())
        ):
            raise ValueError(
                "lightsim2grid backend needs the ext_grid as the only slack "
                "(no slack gen, no gen on the ext_grid bus)"
            )

    def _flat_start(self) -> np.ndarray:
        v_init = np.ones(len(self._grid_net.bus), dtype=complex)
        ext = self._grid_net.ext_grid
        v_init[ext["bus"].to_numpy(dtype=int)] = ext["vm_pu"].to_numpy(dtype=float) * np.exp(
            1j * np.deg2rad(ext["va_degree"].to_numpy(dtype=float))
        )
        trafo = self._grid_net.trafo
        shifted = trafo["in_service"].to_numpy(dtype=bool) & (
            np.mod(trafo["shift_degree"].to_numpy(dtype=float), 360.0) != 0.0)
        if shifted.any():
            # phase-shifting transformers (SimBench's 150 degrees): a flat start does not
            # converge; start from a DC power flow of the net as built (pandapower's "dc" init)
            v_dc = self._pristine.copy().dc_pf(v_init.copy(), self.max_iter, self.tol_pu)
            if v_dc.shape[0] and np.all(np.isfinite(v_dc)):
                return np.asarray(v_dc, dtype=complex)
        return v_init

    def _sync_injections(self) -> list[np.ndarray]:
        model = self._model
        held = []
        for table, change_p, change_q in (
            (self.net.load, model.change_p_load, model.change_q_load),
            (self.net.sgen, model.change_p_sgen, model.change_q_sgen),
        ):
            scaling = table["scaling"].to_numpy(dtype=float)
            p_mw = table["p_mw"].to_numpy(dtype=float) * scaling
            q_mvar = table["q_mvar"].to_numpy(dtype=float) * scaling
            for pos in range(len(table)):
                change_p(pos, float(p_mw[pos]))
                change_q(pos, float(q_mvar[pos]))
            held += [p_mw, q_mvar]
        return [held[0], held[1], held[2], held[3]]

    def _write(self, values: list[np.ndarray]) -> None:
        """Write load p, q and sgen p, q into the ``LSGrid`` where they differ from what it holds."""
        self._held = write_setpoints(self._model, self._held, values)

    def run_setpoints(self, sgen_pos: np.ndarray, sgen_p_mw: np.ndarray, sgen_q_mvar: np.ndarray,
                      load_scaling: np.ndarray) -> PowerFlowResult:
        """Copy the given set-points straight into the ``LSGrid`` and solve.

        The pandapower net's ``sgen``/``load`` columns are not written (that pandas update cost
        more than the solve); the feeder's own loads and sgens keep their ``p_mw``/``q_mvar``
        and ``scaling`` from the net, with ``load_scaling`` replacing the loads' scaling.
        """
        self._fresh_model()
        if self._static is None:
            load, sgen = self.net.load, self.net.sgen
            sg_scale = sgen["scaling"].to_numpy(dtype=float)
            self._static = (
                load["p_mw"].to_numpy(dtype=float).copy(),
                load["q_mvar"].to_numpy(dtype=float).copy(),
                sgen["p_mw"].to_numpy(dtype=float) * sg_scale,
                sgen["q_mvar"].to_numpy(dtype=float) * sg_scale,
                sg_scale.copy(),
            )
        load_p, load_q, sg_p, sg_q, sg_scale = self._static
        p = sg_p.copy()
        q = sg_q.copy()
        p[sgen_pos] = sgen_p_mw * sg_scale[sgen_pos]
        q[sgen_pos] = sgen_q_mvar * sg_scale[sgen_pos]
        self._write([load_p * load_scaling, load_q * load_scaling, p, q])
        return self._solve()

    @property
    def voltage_pu(self) -> np.ndarray | None:
        """Complex voltages (per unit, :attr:`net`'s bus order) of the last converged solve, or None."""
        if self._v_last is None:
            return None
        return self._v_last.copy() if self._bus_pos is None else self._v_last[self._bus_pos]

    def _fresh_model(self) -> Any:
        """The ``LSGrid`` to solve on.

        With a cold start, a fresh copy of the converted grid (about 10 us): an ``LSGrid`` that
        solved before can differ in the last bits (it keeps state between solves), so the
        result depends on this solve's input only, whatever this object solved before (the
        samples of a Monte Carlo chunk share one object).
        """
        if not self.warm_start:
            self._model = self._pristine.copy()
            self._held = self._pristine_held
        return self._model

    def run(self) -> PowerFlowResult:
        """Copy set-points into the ``LSGrid``, solve, read its results."""
        self._fresh_model()
        self._held = self._sync_injections()
        self._static = None
        return self._solve()

    def _solve(self) -> PowerFlowResult:
        start = self._v_last if (self.warm_start and self._v_last is not None) else self._v_init
        v_solved = self._model.ac_pf(start.copy(), self.max_iter, self.tol_pu)
        if v_solved.shape[0] == 0 or not np.all(np.isfinite(v_solved)):
            self._v_last = None
            return PowerFlowResult.not_converged([int(b) for b in self.net.bus.index])
        self._v_last = np.asarray(v_solved, dtype=complex).copy()
        return self._read_results()

    def _read_results(self) -> PowerFlowResult:
        model, net = self._model, self._grid_net
        line_mw = 0.0
        loading = np.empty(0)
        if len(net.line):
            if self._line_cache is None:
                self._line_cache = (
                    net.line["max_i_ka"].to_numpy(dtype=float)
                    * net.line["df"].to_numpy(dtype=float)
                    * net.line["parallel"].to_numpy(dtype=float),
                    rated_lines(net),
                )
            line_mw, loading = line_flows(model, *self._line_cache)
        trafo_mw = 0.0
        if len(net.trafo):
            t1 = model.get_trafo_res1()[0]
            t2 = model.get_trafo_res2()[0]
            trafo_mw = float(np.sum(t1) + np.sum(t2))
        vm = np.abs(model.get_V())
        if self._bus_pos is not None:
            vm = vm[self._bus_pos]
        if self._bus_cache is None:
            self._bus_cache = (self.net.bus["in_service"].to_numpy(dtype=bool),
                               [int(b) for b in self.net.bus.index])
        in_service, bus_ids = self._bus_cache
        vm = np.where(in_service, vm, np.nan)
        p_gen_mw = model.get_gen_res()[0]
        p_slack_mw = float(np.sum(p_gen_mw[self._n_gen :]))
        return PowerFlowResult(
            converged=True,
            losses_kw=(line_mw + trafo_mw) * KW_PER_MW,
            line_losses_kw=line_mw * KW_PER_MW,
            trafo_losses_kw=trafo_mw * KW_PER_MW,
            vm_min_pu=_nan_extreme(vm, "min"),
            vm_max_pu=_nan_extreme(vm, "max"),
            max_line_loading_pct=_nan_extreme(loading, "max"),
            p_slack_kw=p_slack_mw * KW_PER_MW,
            vm_pu_by_bus=dict(zip(bus_ids, vm.tolist(), strict=True)),
        )


#: Read-only registry of power-flow backends by name.
BACKENDS: Mapping[str, type[PowerFlowBackend]] = MappingProxyType(
    {
        PandapowerBackend.name: PandapowerBackend,
        LightSim2GridBackend.name: LightSim2GridBackend,
    }
)


class PowerFlow:
    """Repeated AC power flows of one feeder with per-bus kW injections.

    Parameters
    ----------
    net
        Feeder to solve. It is deep-copied; the caller's net is not
        modified. The copy (with the added sgens) is available as
        :attr:`net`.
    background_load_scale
        Constant factor applied to the feeder's own
        loads (on top of their ``scaling`` column).
    backend
        Name of the solver backend in :data:`BACKENDS`.
    warm_start
        Start each solve from the previous converged solution.

    Raises
    ------
    ValueError
        Unknown backend, non-finite scale, or a net the backend
        cannot handle.
    """

    def __init__(
        self,
        net: pandapowerNet,
        background_load_scale: float = 1.0,
        *,
        backend: str = "pandapower",
        warm_start: bool = True,
    ) -> None:
        if not math.isfinite(background_load_scale):
            raise ValueError(f"background_load_scale must be finite, got {background_load_scale}")
        if backend not in BACKENDS:
            raise ValueError(
                f"unknown power-flow backend {backend!r}; valid: {', '.join(sorted(BACKENDS))}"
            )
        import pandapower as pp  # noqa: PLC0415 - lazy: pandapower takes about 1.5-3 s to import

        self.net: pandapowerNet = copy.deepcopy(net)
        self.background_load_scale = float(background_load_scale)
        self._base_load_scaling = self.net.load["scaling"].to_numpy(dtype=float).copy()
        buses = [int(b) for b in self.net.bus.index]
        idx = pp.create_sgens(self.net, buses, p_mw=0.0, q_mvar=0.0,
                              name=[f"{SGEN_NAME_PREFIX}{b}" for b in buses])
        self._sgen_by_bus: dict[int, int] = {b: int(i) for b, i in zip(buses, idx, strict=True)}
        self._sgen_index = np.fromiter(self._sgen_by_bus.values(), dtype=int)
        # positions of the injection sgens in net.sgen, and bus -> position in bus_ids order
        self._sgen_positions = self.net.sgen.index.get_indexer(self._sgen_index)
        self._sgen_pos: dict[int, int] = {b: k for k, b in enumerate(self._sgen_by_bus)}
        self._bus_in_service = {int(b): bool(s) for b, s in self.net.bus["in_service"].items()}
        self._in_service_by_pos = np.array([self._bus_in_service[b] for b in self._sgen_by_bus])
        self.backend: PowerFlowBackend = BACKENDS[backend](self.net, warm_start=warm_start)

    @property
    def bus_ids(self) -> list[int]:
        """Bus indices that can receive injections."""
        return list(self._sgen_by_bus)

    @functools.cached_property
    def graph(self) -> nx.MultiGraph:
        """The feeder's topology (:func:`vppsim.grids.topology.feeder_graph`), built once."""
        return feeder_graph(self.net)

    @functools.cached_property
    def slack_bus(self) -> int:
        """The bus of the feeder's external grid."""
        return slack_bus(self.net)

    def setpoint_layout(self) -> SetpointLayout | None:
        """The set-points of :meth:`solve` as arrays, for batched callers; None off lightsim2grid.

        (:func:`vppsim.grids.batch.batch_power_flows`, the Monte Carlo array path.)
        """
        backend = self.backend
        if not isinstance(backend, LightSim2GridBackend):
            return None
        load, sgen = self.net.load, self.net.sgen
        sg_scale = sgen["scaling"].to_numpy(dtype=float)
        return SetpointLayout(
            sgen_positions=self._sgen_positions.copy(),
            base_load_scaling=self._base_load_scaling.copy(),
            load_p_mw=load["p_mw"].to_numpy(dtype=float).copy(),
            load_q_mvar=load["q_mvar"].to_numpy(dtype=float).copy(),
            load_bus=load["bus"].to_numpy(dtype=int).copy(),
            sgen_p_mw=sgen["p_mw"].to_numpy(dtype=float) * sg_scale,
            sgen_scaling=sg_scale.copy(),
            bus_in_service=self.net.bus["in_service"].to_numpy(dtype=bool).copy(),
            batchable=(not backend.warm_start and backend._bus_pos is None
                       and not rated_lines(self.net).any()),
            pristine=backend._pristine, v_init=backend._v_init,
            max_iter=backend.max_iter, tol_pu=backend.tol_pu)

    @property
    def sgen_by_bus(self) -> Mapping[int, int]:
        """Bus index -> index of its injection sgen in ``net.sgen``."""
        return MappingProxyType(self._sgen_by_bus)

    def _injection_arrays(
        self, p_kw_by_bus: Mapping[int, float], q_kvar_by_bus: Mapping[int, float] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-bus injections (kW, kvar) -> sgen set-points (MW, Mvar) in ``bus_ids`` order."""
        return injection_setpoints(p_kw_by_bus, q_kvar_by_bus, self._sgen_pos,
                                   self._in_service_by_pos)

    def solve(
        self,
        p_kw_by_bus: Mapping[int, float],
        q_kvar_by_bus: Mapping[int, float] | None = None,
        background_factor: float = 1.0,
    ) -> PowerFlowResult:
        """Set the per-bus injections and run one AC power flow.

        Parameters
        ----------
        p_kw_by_bus
            Net active injection per bus in kW (generation
            positive, consumption negative). Buses not listed get 0.
        q_kvar_by_bus
            Net reactive injection per bus in kvar (same sign
            convention); ``None`` means 0 everywhere.
        background_factor
            Per-step factor on the feeder's own loads,
            multiplied with ``background_load_scale``.

        Returns
        -------
        PowerFlowResult
            ``converged=False`` with NaN figures if the solver did not
            converge (no exception is raised for that).

        Raises
        ------
        ValueError
            Unknown or out-of-service bus, or non-finite values.
        """
        if not math.isfinite(background_factor):
            raise ValueError(f"background_factor must be finite, got {background_factor}")
        p_mw, q_mvar = self._injection_arrays(p_kw_by_bus, q_kvar_by_bus)
        scaling = self._base_load_scaling * self.background_load_scale * float(background_factor)
        return self.backend.run_setpoints(self._sgen_positions, p_mw, q_mvar, scaling)
