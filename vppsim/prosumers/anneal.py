"""Simulated annealing for prosumer self-scheduling (paper 002, 3.5.2), vectorized across prosumers.

Each prosumer runs its own annealing chain; one numpy step advances every chain of a chunk.
The decision is the battery's SoC change per period (``vppsim.prosumers.moves``); the grid
exchange follows from the energy balance, so acquisition/dispatch and charge/discharge are
exclusive by construction (the flip-flops of 3.4.2) and every state is feasible:

- a *swap* move adds ``delta`` kWh to the SoC change of period ``i`` and takes it from period
  ``j`` (charge more when cheap, discharge more when dear): the SoC shifts by ``delta`` between
  the two periods only, the end state is unchanged; half of the swaps are *near* (``j``
  within ``NEAR`` periods of ``i``: local reshaping), the others *far* (``j`` anywhere:
  arbitrage across the day);
- a *single* move (share ``p_single``) changes period ``i`` alone, shifting the SoC
  from ``i`` to the end.

On horizons longer than ``2 * NEAR`` periods the even iterations are near swaps for every
chain (their SoC window is gathered from ``NEAR`` entries instead of scanning the day) and the
odd ones far swaps or, with probability ``2 * p_single``, single moves; shorter horizons draw
every kind on every iteration. With ``p_first`` (warm-started rolling windows) a share of the
moves take the window's first period as ``i``.

Each move has nine candidate steps ``delta``: the kinks of the two periods' piecewise-linear
costs (battery idle, grid exchange zero, paid dispatch at its limit), the two ends of the
feasible range and a random step drawn uniformly in ``+-scale * usable capacity``; all are clamped
to the range that keeps the move feasible (each period's box; the SoC bounds and end floor
over the shifted window). With probability ``p_greedy`` the move takes the cheapest
candidate, otherwise the random one. Acceptance is Metropolis per prosumer, with the cost
change measured in basis points of the prosumer's reference bill
(``ProsumerFleet.reference_bill``) so one temperature suits prosumers of any size: a move
costing ``d`` is accepted when ``d < -log(u) * temp`` (the same test as ``u < exp(-d / temp)``,
with :func:`~vppsim.prosumers.fixedmath.log_fixed` computed once per stage); the temperature
falls geometrically, ``t0 * cooling**stage``, over ``stages`` equal stages. The chains start
from the self-consumption rule (``moves.self_consumption_stored``) or a given warm start
(``e_start``, repaired into the feasible set) and return their best state; prosumers whose
battery has no freedom (no battery) run no chain.

One array step advances every chain of a block by one move, with a few dozen NumPy calls on
arrays of the block's size: the moves of a stage are decoded at once, both periods' costs of
all candidates (and of the current state) are evaluated in one pass, and a single-period
move's partner is a dummy period with no cost and no bounds, so no branch depends on the kind.

Randomness is counter-based: every draw is a SplitMix64 hash of (seed, global prosumer index,
iteration) (:mod:`vppsim.optimizers.rng`), so a prosumer's chain does not depend on which
chunk or process runs it; the same seed gives the same schedules for any number of workers
or chunks.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, replace

import numpy as np

from vppsim.optimizers.rng import GAMMA, MASK64, mix, stream_keys
from vppsim.prosumers.fixedmath import log_fixed, row_sums
from vppsim.prosumers.moves import PeriodCost, repair_stored, self_consumption_stored
from vppsim.prosumers.parallel import ChunkRunner, map_chunks
from vppsim.prosumers.problem import FleetSchedule, ProsumerFleet, power_to_stored, schedule_from_stored


@dataclass(frozen=True)
class SASettings:
    """Annealing settings (the three tuned by ``benchmarks/sa_tuning.py`` come first).

    ``t0``: initial temperature, basis points of the reference bill; ``cooling``: factor per
    stage; ``scale``: largest random step as a share of the usable battery capacity;
    ``iterations``: moves per prosumer; ``stages``: temperature levels; ``p_single``: share
    of single-period moves; ``p_greedy``: share of moves that take the best of the candidate
    steps rather than the random one; ``p_first``: share of moves whose period ``i`` is the
    horizon's first (a warm-started rolling window, where only the first period's data
    changed). The defaults of ``t0``, ``cooling`` and ``scale`` are the best point of
    ``gp_minimize`` and ``forest_minimize`` in ``benchmarks/results/sa_tuning.md`` (the
    paper's best, 400 / 0.85 / 0.077, is re-scored there: its temperature unit is not
    defined, and in ours it is too hot).
    """

    t0: float = 108.26
    cooling: float = 0.820
    scale: float = 0.0638
    iterations: int = 3000
    stages: int = 100
    p_single: float = 0.1
    p_greedy: float = 0.8
    p_first: float = 0.0

    def __post_init__(self) -> None:
        if self.t0 <= 0 or not 0 < self.cooling <= 1 or self.scale <= 0:
            raise ValueError(f"need t0 > 0, 0 < cooling <= 1, scale > 0; got {self}")
        if self.iterations < 1 or self.stages < 1 or not 0 <= self.p_single <= 1:
            raise ValueError(f"need iterations >= 1, stages >= 1, 0 <= p_single <= 1; got {self}")
        if not 0 <= self.p_greedy <= 1 or not 0 <= self.p_first <= 1:
            raise ValueError(f"need 0 <= p_greedy <= 1 and 0 <= p_first <= 1; got {self}")


def temperatures(settings: SASettings) -> np.ndarray:
    """The stages' temperatures ``t0 * cooling**stage`` by repeated multiplication (no ``pow``)."""
    temps = [settings.t0]
    for _ in range(settings.stages - 1):
        temps.append(temps[-1] * settings.cooling)
    return np.asarray(temps)


#: Prosumers annealed together in one array step: blocks this size keep a step's ``(n, T)``
#: arrays in the CPU caches (measured: about 20 % faster per prosumer than blocks of 4,096
#: and 30 % faster than blocks of 256, where numpy's per-call overhead dominates).
BLOCK = 1024
#: Fewest prosumers per worker process (``workers`` is an upper bound when neither ``chunks``
#: nor an ``executor`` is given): a pool's start-up and the fleet's pickling cost about 0.1 s,
#: which a chunk of 256 prosumers (about 0.6 s of annealing at the default settings) repays;
#: smaller fleets run in this process. The result does not depend on it.
MIN_CHUNK = 256
#: Half of the swap partners ``j`` are drawn within this many periods of ``i``.
NEAR = 8


def _anneal_chunk(fleet: ProsumerFleet, start: int, seed: int, settings: SASettings,
                  e_start: np.ndarray | None = None) -> dict:
    """Anneal every prosumer of ``fleet`` (global indices ``start..``) in blocks of :data:`BLOCK`.

    Prosumers whose battery has no freedom (no battery, or a box of zero width in every
    period) keep their start and run no chain.
    """
    e0 = self_consumption_stored(fleet) if e_start is None else repair_stored(fleet, e_start)
    elo, ehi = fleet.stored_energy_bounds_kwh()
    free = np.flatnonzero((ehi > elo).any(axis=1) & (fleet.soc_max_kwh > fleet.soc_min_kwh))
    e = e0.copy()
    history = np.zeros(0)
    for a in range(0, free.size, BLOCK):
        rows = free[a:a + BLOCK]
        part = _anneal_block(fleet.take(rows), start + rows, seed, settings, e0[rows])
        e[rows] = part["e"]
        history = part["history"] if history.size == 0 else history + part["history"]
    fixed = np.setdiff1d(np.arange(fleet.n), free)
    rest = float(row_sums(PeriodCost(fleet.take(fixed)).all(e0[fixed]).ravel()[None, :])[0]) \
        if fixed.size else 0.0
    if history.size == 0:
        history = np.zeros(_stage_bounds(settings).size)
    return {"e": e, "history": history + rest}


def _stage_bounds(settings: SASettings) -> np.ndarray:
    """First iteration of every non-empty stage, and ``iterations`` at the end."""
    per_stage = max(1, settings.iterations // settings.stages)
    starts = [s * per_stage for s in range(settings.stages) if s * per_stage < settings.iterations]
    return np.asarray([*starts, settings.iterations])


@dataclass
class _Moves:
    """The moves of one stage for every chain, decoded from the chains' draws at once.

    Arrays ``(iterations of the stage, chains)``: flat indices ``fi`` of period ``i`` and
    ``fj`` of period ``j`` (a single-period move's ``j`` is the dummy entry ``N * T``: no
    cost, unbounded), the sign ``sgn`` with which the SoC window ``win`` (an index into
    :func:`_window_masks`) shifts by the step, the random step's uniform, the greedy flag and
    the Metropolis threshold ``-log(u)``. On *band* iterations (``band[m]``) every chain
    makes a near swap: its window lies in the :data:`NEAR` SoC entries ``band_idx`` (flat
    indices into the SoC array), of which ``band_mask`` marks the window.
    """

    fi: np.ndarray
    fj: np.ndarray
    sgn: np.ndarray
    win: np.ndarray
    u_mag: np.ndarray
    greedy: np.ndarray
    neg_log_u: np.ndarray
    band: np.ndarray
    band_idx: np.ndarray
    band_mask: np.ndarray


def _stage_moves(keys: np.ndarray, k0: int, k1: int, t: int, settings: SASettings) -> _Moves:
    """Moves ``k0..k1-1`` of every chain: draws ``2k + 1`` and ``2k + 2`` of its stream.

    With ``t > 2 * NEAR`` even iterations are band iterations (near swaps only) and odd ones
    draw far swaps and, twice as often, single moves (so that each kind keeps its share);
    shorter horizons draw every kind on every iteration.
    """
    ks = range(k0, k1)
    c1 = np.array([((2 * k + 1) * GAMMA) & MASK64 for k in ks], dtype=np.uint64)[:, None]
    c2 = np.array([((2 * k + 2) * GAMMA) & MASK64 for k in ks], dtype=np.uint64)[:, None]
    h1 = mix(keys[None, :] + c1)
    h2 = mix(keys[None, :] + c2)
    i = (((h1 & np.uint64(0xFFFF)) * np.uint64(t)) >> np.uint64(16)).astype(np.intp)
    if settings.p_first > 0:
        first = ((h2 >> np.uint64(16)) & np.uint64(0xFF)) < np.uint64(round(settings.p_first * 256))
        i[first] = 0
    jo = ((((h1 >> np.uint64(16)) & np.uint64(0xFFFF)) * np.uint64(max(t - 1, 1))) >> np.uint64(16))
    jo = jo.astype(np.intp)
    banded = t > 2 * NEAR
    band = (np.arange(k0, k1) % 2 == 0) & banded
    p_single = min(1.0, 2.0 * settings.p_single) if banded else settings.p_single
    single = ((h1 >> np.uint64(32)) & np.uint64(0xFF)) < np.uint64(round(p_single * 256))
    single = (single | (t == 1)) & ~band[:, None]
    u_mag = (h1 >> np.uint64(40)).astype(float) * (1.0 / (1 << 24))
    # (m + 1/2) / 2**53: never 0, so -log(u) is finite
    u_acc = ((h2 >> np.uint64(11)).astype(float) + 0.5) * (1.0 / (1 << 53))
    greedy = (h2 & np.uint64(0xFF)) < np.uint64(round(settings.p_greedy * 256))
    # near partners within NEAR periods of i (either side; the other side if out of range)
    d = 1 + jo % NEAR
    after = (h2 & np.uint64(0x200)) != 0
    after = np.where(after, i + d < t, i - d < 0)
    jn = np.where(after, i + d, i - d)
    far = i + 1 + jo
    far = np.where(far >= t, far - t, far)
    near = band[:, None] if banded else (h2 & np.uint64(0x100)) != 0
    j = np.where(near & (jn >= 0) & (jn < t), jn, far)
    lo_w = np.where(single, i, np.minimum(i, j))
    hi_w = np.where(single, t, np.maximum(i, j))
    n = keys.size
    base = np.arange(n) * t
    start = np.minimum(lo_w, max(t - NEAR, 0))[:, :, None] + np.arange(NEAR)
    return _Moves(fi=base + i, fj=np.where(single, n * t, base + j),
                  sgn=np.where(single | (i < j), 1.0, -1.0), win=lo_w * (t + 1) + hi_w,
                  u_mag=u_mag, greedy=greedy, neg_log_u=-log_fixed(u_acc), band=band,
                  band_idx=np.arange(n)[:, None] * (t + 1) + start,
                  band_mask=(start >= lo_w[:, :, None]) & (start < hi_w[:, :, None]))


def _window_masks(t: int) -> np.ndarray:
    """``masks[lo * (t + 1) + hi, p]``: ``lo <= p < hi``, and the end column ``p = t`` if ``hi = t``.

    Column ``t`` of the SA's SoC array holds the last SoC less the end floor's excess over
    ``soc_min``: windows that reach the end see the end floor through it.
    """
    p = np.arange(t + 1)
    lo = np.repeat(np.arange(t + 1), t + 1)
    hi = np.tile(np.arange(t + 1), t + 1)
    inside = (p[None, :] >= lo[:, None]) & (p[None, :] < hi[:, None])
    inside[:, t] = hi == t
    return inside


def _kinks(fleet: ProsumerFleet) -> tuple[np.ndarray, np.ndarray]:
    """Kinks of each period's cost in SoC-change terms (flat arrays).

    Grid exchange zero, and paid dispatch at its limit (or surplus equal to the generation at
    a negative sell price).
    """
    net = fleet.load_kw - fleet.gen_kw
    k3 = np.where(fleet.price_sell_per_kwh < 0, -fleet.load_kw, -fleet.dispatch_max_kw[:, None] - net)
    return power_to_stored(fleet, -net).ravel(), power_to_stored(fleet, k3).ravel()


class _Kernel:
    """One block's chains: flat per-period data with a dummy entry, the state, one move step.

    Every array indexed by flat period ``n * T + t`` has one more entry, the dummy
    ``N * T`` that single-period moves use as their partner: zero cost coefficients, zero
    SoC change, unbounded box. The cost of SoC change ``e`` in a period is
    ``pb * acq - ps * paid + wear * |b|`` with the battery power ``b = e * (up or down)``,
    ``r = net + b``, ``acq = max(r, 0)``, ``paid = min(max(-r, 0), dmax)`` (3.3.1; ``dt`` is
    folded into ``pb``, ``ps`` and ``wear``; at a negative sell price the surplus is spilled
    first, up to the generation).
    """

    def __init__(self, fleet: ProsumerFleet, e: np.ndarray) -> None:
        n, t = fleet.n, fleet.periods
        dt = fleet.dt_h

        def flat(a: np.ndarray, dummy: float = 0.0) -> np.ndarray:
            return np.append(np.asarray(a, float).ravel(), dummy)

        elo, ehi = fleet.stored_energy_bounds_kwh()
        self.elo, self.ehi = flat(elo, -np.inf), flat(ehi, np.inf)
        kink_grid, kink_paid = _kinks(fleet)
        self.kink_grid, self.kink_paid = flat(kink_grid), flat(kink_paid)
        self.net = flat(fleet.load_kw - fleet.gen_kw)
        self.gen = flat(fleet.gen_kw)
        self.pb = flat(dt * fleet.price_buy_per_kwh)
        self.ps = flat(dt * fleet.price_sell_per_kwh)
        self.wear = flat(np.repeat(dt * fleet.battery_cost_per_kwh, t))
        self.any_negative = bool(np.any(fleet.price_sell_per_kwh < 0))
        self.up = 1.0 / (fleet.eta_charge * dt)  # kW per kWh stored, charging
        self.down = fleet.eta_discharge / dt  # kW per kWh taken, discharging
        self.lossy = bool(np.all(self.up >= self.down))  # eta_charge * eta_discharge <= 1
        self.dmax = fleet.dispatch_max_kw
        self.e = flat(e)
        self.soc_max, self.soc_min = fleet.soc_max_kwh, fleet.soc_min_kwh
        soc = fleet.soc_init_kwh[:, None] + np.cumsum(e, axis=1)
        excess = fleet.soc_lower_kwh()[:, -1] - self.soc_min
        self.soc = np.concatenate([soc, soc[:, -1:] - excess[:, None]], axis=1)
        self.soc_flat = self.soc.reshape(-1)  # a view
        self.masks = _window_masks(t)
        self.rows = np.arange(n)
        self.cand = np.zeros((10, n))  # row 9 stays 0: the current state's cost
        self.e_pair = np.empty((2, 10, n))

    def gather(self, mv: _Moves) -> dict[str, np.ndarray]:
        """The static per-period data of the stage's periods ``i`` and ``j``, gathered at once."""
        fij = np.stack([mv.fi, mv.fj], axis=1)  # (S, 2, N)
        out = {name: getattr(self, name)[fij][:, :, None, :] for name in ("net", "pb", "ps", "wear")}
        if self.any_negative:
            out["gen"] = self.gen[fij][:, :, None, :]
        for name in ("elo", "ehi", "kink_grid", "kink_paid"):
            out[name] = getattr(self, name)[fij]
        return out

    def costs(self, g: dict[str, np.ndarray], m: int, e: np.ndarray) -> np.ndarray:
        """Cost of SoC changes ``e`` ``(2, K, N)`` at move ``m``'s periods ``i`` and ``j``."""
        if self.lossy:  # up >= down: the charging factor applies above 0, discharging below
            b = np.maximum(e * self.up, e * self.down)
        else:
            b = e * np.where(e > 0, self.up, self.down)
        r = b + g["net"][m]
        acq = np.maximum(r, 0.0)
        surplus = acq - r  # max(-r, 0), exactly
        ps = g["ps"][m]
        if self.any_negative:
            paid = np.where(ps < 0, np.maximum(surplus - g["gen"][m], 0.0),
                            np.minimum(surplus, self.dmax))
        else:
            paid = np.minimum(surplus, self.dmax)
        out = g["pb"][m] * acq
        out -= ps * paid
        np.abs(b, out=b)
        b *= g["wear"][m]
        out += b
        return out

    def step(self, mv: _Moves, g: dict[str, np.ndarray], m: int, step: np.ndarray,
             thr: np.ndarray) -> np.ndarray:
        """Move ``m`` of the stage ``mv`` for every chain; returns the accepted cost changes."""
        fi, fj, sgn = mv.fi[m], mv.fj[m], mv.sgn[m]
        e_f, cand, inf = self.e, self.cand, np.inf
        elo, ehi, kink_grid, kink_paid = g["elo"][m], g["ehi"][m], g["kink_grid"][m], g["kink_paid"][m]
        band = mv.band[m]
        if band:  # the window lies in NEAR entries: gather them
            idx, mask = mv.band_idx[m], mv.band_mask[m]
            soc = self.soc_flat[idx]
        else:
            soc, mask = self.soc, self.masks[mv.win[m]]
        w_up = self.soc_max - np.max(soc, axis=1, where=mask, initial=-inf)
        w_dn = np.min(soc, axis=1, where=mask, initial=inf) - self.soc_min
        pos = sgn > 0
        ei, ej = e_f[fi], e_f[fj]
        # the step's range: both periods' boxes, the SoC bounds over the shifted window
        lo_d = np.maximum(elo[0] - ei, ej - ehi[1])
        np.maximum(lo_d, -np.where(pos, w_dn, w_up), out=lo_d)
        np.minimum(lo_d, 0.0, out=cand[6])
        hi_d = np.minimum(ehi[0] - ei, ej - elo[1])
        np.minimum(hi_d, np.where(pos, w_up, w_dn), out=hi_d)
        np.maximum(hi_d, 0.0, out=cand[7])
        # candidates: the kinks of both periods' costs, the window ends, a random step
        np.negative(ei, out=cand[0])
        np.subtract(kink_grid[0], ei, out=cand[1])
        np.subtract(kink_paid[0], ei, out=cand[2])
        cand[3] = ej
        np.subtract(ej, kink_grid[1], out=cand[4])
        np.subtract(ej, kink_paid[1], out=cand[5])
        cand[8] = step
        np.maximum(cand, cand[6], out=cand)
        np.minimum(cand, cand[7], out=cand)
        pair = self.e_pair
        np.add(ei, cand, out=pair[0])
        np.subtract(ej, cand, out=pair[1])
        c = self.costs(g, m, pair)
        d_c = c[0] + c[1]
        d_c -= d_c[9]
        pick = np.where(mv.greedy[m], np.argmin(d_c, axis=0), 8)
        rows = self.rows
        d_cost = d_c[pick, rows]
        acc = d_cost < thr
        da = np.where(acc, cand[pick, rows], 0.0)
        e_f[fi] += da
        e_f[fj] -= da
        e_f[-1] = 0.0
        if band:
            self.soc_flat[idx] = soc + np.where(mask, (sgn * da)[:, None], 0.0)
        else:
            np.add(self.soc, (sgn * da)[:, None], out=self.soc, where=mask)
        return np.where(acc, d_cost, 0.0)


def _anneal_block(fleet: ProsumerFleet, index: np.ndarray, seed: int, settings: SASettings,
                  e: np.ndarray) -> dict:
    """Anneal the prosumers of ``fleet`` (global indices ``index``) from the feasible ``e``.

    Returns the best states and the history of the block's best total cost.
    """
    n, t = fleet.n, fleet.periods
    kern = _Kernel(fleet, e)
    cur = row_sums(PeriodCost(fleet).all(e))
    best_e, best = e.copy(), cur.copy()
    state = kern.e[:-1].reshape(n, t)
    ref = fleet.reference_bill() * 1e-4  # currency per basis point of the bill
    size = settings.scale * np.maximum(fleet.soc_max_kwh - fleet.soc_min_kwh, 0.0)
    keys = stream_keys(seed, index)
    history = [float(row_sums(best[None, :])[0])]
    temps = temperatures(settings)
    bounds = _stage_bounds(settings)
    with np.errstate(over="ignore"):
        for stage in range(bounds.size - 1):
            mv = _stage_moves(keys, int(bounds[stage]), int(bounds[stage + 1]), t, settings)
            thr = mv.neg_log_u * (temps[stage] * ref)  # accept iff the cost change < thr
            steps = size * (2.0 * mv.u_mag - 1.0)
            g = kern.gather(mv)
            for m in range(mv.fi.shape[0]):
                cur += kern.step(mv, g, m, steps[m], thr[m])
            better = cur < best
            best_e[better] = state[better]
            best[better] = cur[better]
            history.append(float(row_sums(best[None, :])[0]))
    return {"e": best_e, "history": np.asarray(history)}


def _anneal_part(fleet: ProsumerFleet, start: int, seed: int, settings: SASettings,
                 e_start: np.ndarray | None, first_index: int = 0) -> dict:
    """:func:`_anneal_chunk` of a chunk (global index ``start``) with its rows of a warm start.

    ``e_start`` covers the whole fleet, whose first prosumer has global index ``first_index``.
    """
    row = start - first_index
    part = None if e_start is None else e_start[row:row + fleet.n]
    return _anneal_chunk(fleet, start, seed, settings, part)


def anneal_fleet(
    fleet: ProsumerFleet,
    settings: SASettings | None = None,
    seed: int = 0,
    workers: int = 1,
    chunks: int | None = None,
    executor: Executor | None = None,
    e_start: np.ndarray | None = None,
    cluster: ChunkRunner | None = None,
    first_index: int = 0,
) -> FleetSchedule:
    """Schedules of every prosumer by simulated annealing, parallel over chunks of prosumers.

    ``workers > 1`` runs the chunks in a process pool (``chunks`` defaults to ``workers``,
    and without ``chunks`` at most one worker per :data:`MIN_CHUNK` prosumers is used);
    an ``executor`` (e.g. a Dask client's ``get_executor()``) or a ``cluster``
    (:class:`~vppsim.prosumers.cluster.ProsumerCluster`) may be passed instead. The
    result depends on ``seed``, ``settings`` and ``e_start`` only, not on ``workers`` or
    ``chunks``. ``e_start`` ``(N, T)``: SoC changes to start from (a warm start, e.g. the
    previous rolling window's plan; repaired into the feasible set), else the
    self-consumption rule. ``first_index``: the global index of the fleet's first prosumer
    (keys its random streams). ``info`` holds ``wall_s``, ``settings``, ``seed`` and
    ``history`` (the sum over prosumers of the best cost after the start and after each stage).
    """
    settings = settings or SASettings()
    t0 = time.perf_counter()
    if e_start is not None and np.shape(e_start) != (fleet.n, fleet.periods):
        raise ValueError(f"e_start must have shape {(fleet.n, fleet.periods)}, got {np.shape(e_start)}")
    if executor is None and cluster is None and chunks is None and workers > 1:
        workers = max(1, min(int(workers), fleet.n // MIN_CHUNK))  # a pool only where it pays
    parts = map_chunks(_anneal_part, fleet, int(seed), settings, e_start, int(first_index),
                       workers=workers, chunks=chunks, executor=executor, cluster=cluster,
                       first_index=first_index, fork=True)
    e = np.concatenate([p["e"] for p in parts]) if parts else np.zeros((0, fleet.periods))
    history = np.sum([p["history"] for p in parts], axis=0)
    info = {"wall_s": time.perf_counter() - t0, "settings": asdict(settings), "seed": int(seed),
            "workers": workers, "history": history}
    return schedule_from_stored(fleet, e, method="sa", info=info)


#: Warm-started windows (rolling horizon): moves per period of the window (at least
#: ``WARM_MIN``), stages, and a starting temperature in basis points of the bill. The start is
#: the previous window's plan, already close to optimal, so a short, cool polish suffices
#: (``benchmarks/prosumer_benchmark.py --rolling`` compares it with the exact rolling result).
WARM_PER_PERIOD = 2.0
WARM_MIN = 20
WARM_STAGES = 10
WARM_T0 = 1.0
WARM_P_FIRST = 0.5


def warm_settings(periods: int, settings: SASettings | None = None) -> SASettings:
    """Settings of a warm-started window of ``periods`` periods (``settings``' moves otherwise)."""
    its = max(WARM_MIN, round(WARM_PER_PERIOD * periods))
    return replace(settings or SASettings(), iterations=its, stages=min(WARM_STAGES, its), t0=WARM_T0,
                   p_first=WARM_P_FIRST)
