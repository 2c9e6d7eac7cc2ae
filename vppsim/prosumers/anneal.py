"""Simulated annealing for prosumer self-scheduling (paper 002, 3.5.2), vectorized across prosumers.

Each prosumer runs its own annealing chain; one numpy step advances every chain of a chunk.
The decision is the battery's SoC change per period (``vppsim.prosumers.moves``); the grid
exchange follows from the energy balance, so acquisition/dispatch and charge/discharge are
exclusive by construction (the flip-flops of 3.4.2) and every state is feasible:

- a *swap* move adds ``delta`` kWh to the SoC change of period ``i`` and takes it from period
  ``j`` (charge more when cheap, discharge more when dear): the SoC shifts by ``delta`` between
  the two periods only, the end state is unchanged; half of the partners ``j`` lie within
  ``NEAR`` periods of ``i`` (local reshaping), the others anywhere (arbitrage across the day);
- a *single* move (probability ``p_single``) changes period ``i`` alone, shifting the SoC
  from ``i`` to the end.

Each move has nine candidate steps ``delta``: the kinks of the two periods' piecewise-linear
costs (battery idle, grid exchange zero, paid dispatch at its limit), the two ends of the
feasible range and a random step drawn uniformly in ``+-scale * usable capacity``; all are clamped
to the range that keeps the move feasible (each period's box; the SoC bounds and end floor
over the shifted window). With probability ``p_greedy`` the move takes the cheapest
candidate, otherwise the random one. Acceptance is Metropolis per prosumer, with the cost
change measured in basis points of the prosumer's reference bill
(``ProsumerFleet.reference_bill``) so one temperature suits prosumers of any size; the
temperature falls geometrically, ``t0 * cooling**stage``, over ``stages`` equal stages. The
chains start from the self-consumption rule (``moves.self_consumption_stored``) and return
their best state.

Randomness is counter-based: every draw is a SplitMix64 hash of (seed, global prosumer index,
iteration) (:mod:`vppsim.optimizers.rng`), so a prosumer's chain does not depend on which
chunk or process runs it; the same seed gives the same schedules for any number of workers
or chunks.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import asdict, dataclass

import numpy as np

from vppsim.optimizers.rng import stream_draw, stream_keys
from vppsim.prosumers.fixedmath import exp_fixed, row_sums
from vppsim.prosumers.moves import PeriodCost, self_consumption_stored
from vppsim.prosumers.parallel import ChunkRunner, map_chunks
from vppsim.prosumers.problem import FleetSchedule, ProsumerFleet, power_to_stored, schedule_from_stored


@dataclass(frozen=True)
class SASettings:
    """Annealing settings (the three tuned by ``benchmarks/sa_tuning.py`` come first).

    ``t0``: initial temperature, basis points of the reference bill; ``cooling``: factor per
    stage; ``scale``: largest random step as a share of the usable battery capacity; ``iterations``: moves
    per prosumer; ``stages``: temperature levels; ``p_single``: share of single-period moves;
    ``p_greedy``: share of moves that take the best of the candidate steps rather than the
    random one. The defaults of ``t0``, ``cooling`` and ``scale`` are the best point of
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

    def __post_init__(self) -> None:
        if self.t0 <= 0 or not 0 < self.cooling <= 1 or self.scale <= 0:
            raise ValueError(f"need t0 > 0, 0 < cooling <= 1, scale > 0; got {self}")
        if self.iterations < 1 or self.stages < 1 or not 0 <= self.p_single <= 1:
            raise ValueError(f"need iterations >= 1, stages >= 1, 0 <= p_single <= 1; got {self}")


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
#: Half of the swap partners ``j`` are drawn within this many periods of ``i``.
NEAR = 8


def _anneal_chunk(fleet: ProsumerFleet, start: int, seed: int, settings: SASettings) -> dict:
    """Anneal every prosumer of ``fleet`` (global indices ``start..``) in blocks of :data:`BLOCK`."""
    parts = [_anneal_block(fleet.take(slice(a, min(a + BLOCK, fleet.n))), start + a, seed, settings)
             for a in range(0, fleet.n, BLOCK)] or [_anneal_block(fleet, start, seed, settings)]
    return {"e": np.concatenate([p["e"] for p in parts]),
            "history": np.sum([p["history"] for p in parts], axis=0)}


def _random_move(keys: np.ndarray, k: int, t: int, single_cut: np.uint64) -> tuple[np.ndarray, ...]:
    """Move ``k`` of every chain, decoded from the chain's draws ``2k + 1`` and ``2k + 2``.

    Returns the periods ``i`` and ``j``, whether the move is a single-period one, the uniform
    of the random step, the uniform of the Metropolis test and the byte that chooses between
    the greedy and the random step. Call under ``np.errstate(over="ignore")``.
    """
    h1 = stream_draw(keys, 2 * k + 1)
    h2 = stream_draw(keys, 2 * k + 2)
    i = ((h1 & np.uint64(0xFFFF)) * np.uint64(t)) >> np.uint64(16)
    jo = (((h1 >> np.uint64(16)) & np.uint64(0xFFFF)) * np.uint64(t - 1)) >> np.uint64(16)
    single = ((h1 >> np.uint64(32)) & np.uint64(0xFF)) < single_cut
    u_mag = (h1 >> np.uint64(40)).astype(float) * (1.0 / (1 << 24))
    u_acc = (h2 >> np.uint64(11)).astype(float) * (1.0 / (1 << 53))
    i = i.astype(np.intp)
    # half the partners lie within NEAR periods of i (either side), the rest anywhere
    jo = jo.astype(np.intp)
    near = (h2 & np.uint64(0x100)) != 0
    after = (h2 & np.uint64(0x200)) != 0
    jn = np.where(after, i + 1 + jo % NEAR, i - 1 - jo % NEAR)
    j = np.where(near & (jn >= 0) & (jn < t), jn, (i + 1 + jo) % t)
    single |= t == 1
    return i, j, single, u_mag, u_acc, h2 & np.uint64(0xFF)


def _anneal_block(fleet: ProsumerFleet, start: int, seed: int, settings: SASettings) -> dict:
    """Anneal every prosumer of ``fleet`` (global indices ``start..``); returns best states."""
    n, t = fleet.n, fleet.periods
    if n == 0:
        return {"e": np.zeros((0, t)), "history": np.zeros(settings.stages + 1)}
    cost_fn = PeriodCost(fleet)
    elo, ehi = fleet.stored_energy_bounds_kwh()
    e = self_consumption_stored(fleet)
    soc = fleet.soc_init_kwh[:, None] + np.cumsum(e, axis=1)
    up = fleet.soc_max_kwh[:, None] - soc  # slack to the upper SoC bound
    dn = soc - fleet.soc_lower_kwh()  # slack to the lower bound / end floor
    cost_t = cost_fn.all(e)
    cur = row_sums(cost_t)
    best_e, best = e.copy(), cur.copy()
    inv_ref = 1e4 / fleet.reference_bill()  # currency -> basis points of the bill
    size = settings.scale * np.maximum(fleet.soc_max_kwh - fleet.soc_min_kwh, 0.0)
    keys = stream_keys(seed, np.arange(start, start + n))
    rows = np.arange(n)
    base = rows * t
    before = np.arange(t + 1)[:, None] > np.arange(t)[None, :]  # before[k, p]: p < k
    per_stage = max(1, settings.iterations // settings.stages)
    single_cut = np.uint64(int(round(settings.p_single * 256)))
    history = [float(row_sums(best[None, :])[0])]
    temps = temperatures(settings)
    inf = np.inf
    # kinks of each period's cost in SoC-change terms: battery idle, grid exchange zero, and
    # paid dispatch at its limit (or surplus equal to the generation at a negative sell price)
    net = fleet.load_kw - fleet.gen_kw
    k3 = np.where(fleet.price_sell_per_kwh < 0, -fleet.load_kw, -fleet.dispatch_max_kw[:, None] - net)
    kink_grid = power_to_stored(fleet, -net).ravel()
    kink_paid = power_to_stored(fleet, k3).ravel()
    e_f, cost_f, elo_f, ehi_f = e.ravel(), cost_t.ravel(), elo.ravel(), ehi.ravel()
    greedy_cut = np.uint64(int(round(settings.p_greedy * 256)))

    with np.errstate(over="ignore"):
        for k in range(settings.iterations):
            stage = k // per_stage
            temp = temps[min(stage, settings.stages - 1)]
            i, j, single, u_mag, u_acc, greedy_byte = _random_move(keys, k, t, single_cut)
            fi, fj = base + i, base + j
            # window whose SoC shifts by sgn*delta
            lo_w = np.where(single, i, np.minimum(i, j))
            hi_w = np.where(single, t, np.maximum(i, j))
            sgn = np.where(single | (i < j), 1.0, -1.0)
            mask = before[hi_w] ^ before[lo_w]  # lo_w <= period < hi_w
            w_up = np.min(up, axis=1, where=mask, initial=inf)
            w_dn = np.min(dn, axis=1, where=mask, initial=inf)
            ei = e_f[fi]
            ej = e_f[fj]
            lo_d = np.maximum(elo_f[fi] - ei, np.where(sgn > 0, -w_dn, -w_up))
            hi_d = np.minimum(ehi_f[fi] - ei, np.where(sgn > 0, w_up, w_dn))
            lo_d = np.where(single, lo_d, np.maximum(lo_d, ej - ehi_f[fj]))
            hi_d = np.where(single, hi_d, np.minimum(hi_d, ej - elo_f[fj]))
            lo_d = np.minimum(lo_d, 0.0)
            hi_d = np.maximum(hi_d, 0.0)
            # candidates: the kinks of both periods' costs, the window ends, a random step
            cand = np.stack([-ei, kink_grid[fi] - ei, kink_paid[fi] - ei,
                             ej, ej - kink_grid[fj], ej - kink_paid[fj],
                             lo_d, hi_d, size * (2.0 * u_mag - 1.0)])
            cand = np.minimum(np.maximum(cand, lo_d), hi_d)
            ci_old = cost_f[fi]
            cj_old = np.where(single, 0.0, cost_f[fj])
            ci_c = cost_fn(rows, fi, ei + cand)
            cj_c = np.where(single, 0.0, cost_fn(rows, fj, ej - cand))
            d_c = ci_c + cj_c - (ci_old + cj_old)
            pick = np.where(greedy_byte < greedy_cut, np.argmin(d_c, axis=0), 8)
            delta = cand[pick, rows]
            ci_new = ci_c[pick, rows]
            cj_new = cj_c[pick, rows]
            d_cost = d_c[pick, rows]
            acc = u_acc < exp_fixed(-np.maximum(d_cost, 0.0) * inv_ref / temp)
            acc &= delta != 0.0
            if acc.any():
                da = np.where(acc, delta, 0.0)
                e_f[fi] += da
                e_f[fj] -= np.where(single, 0.0, da)
                cost_f[fi] = np.where(acc, ci_new, ci_old)
                cost_f[fj] = np.where(acc & ~single, cj_new, cost_f[fj])
                shift = (sgn * da)[:, None]
                np.subtract(up, shift, out=up, where=mask)
                np.add(dn, shift, out=dn, where=mask)
                cur += np.where(acc, d_cost, 0.0)
            if (k + 1) % per_stage == 0 or k + 1 == settings.iterations:
                better = cur < best
                best_e[better] = e[better]
                best[better] = cur[better]
                history.append(float(row_sums(best[None, :])[0]))
    return {"e": best_e, "history": np.asarray(history)}


def anneal_fleet(
    fleet: ProsumerFleet,
    settings: SASettings | None = None,
    seed: int = 0,
    workers: int = 1,
    chunks: int | None = None,
    executor: Executor | None = None,
    cluster: ChunkRunner | None = None,
    first_index: int = 0,
) -> FleetSchedule:
    """Schedules of every prosumer by simulated annealing, parallel over chunks of prosumers.

    ``workers > 1`` runs the chunks in a process pool (``chunks`` defaults to ``workers``);
    an ``executor`` (e.g. a Dask client's ``get_executor()``) or a ``cluster``
    (:class:`~vppsim.prosumers.cluster.ProsumerCluster`) may be passed instead. The
    result depends on ``seed`` and ``settings`` only, not on ``workers`` or ``chunks``;
    ``first_index``: the global index of the fleet's first prosumer (keys its random streams).
    ``info`` holds ``wall_s``, ``settings``, ``seed`` and ``history`` (the sum over
    prosumers of the best cost after the start and after each stage).
    """
    settings = settings or SASettings()
    t0 = time.perf_counter()
    parts = map_chunks(_anneal_chunk, fleet, int(seed), settings, workers=workers, chunks=chunks,
                       executor=executor, cluster=cluster, first_index=first_index)
    e = np.concatenate([p["e"] for p in parts]) if parts else np.zeros((0, fleet.periods))
    history = np.sum([p["history"] for p in parts], axis=0)
    info = {"wall_s": time.perf_counter() - t0, "settings": asdict(settings), "seed": int(seed),
            "workers": workers, "history": history}
    return schedule_from_stored(fleet, e, method="sa", info=info)
