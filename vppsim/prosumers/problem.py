"""Batched prosumer self-scheduling problem of paper 002 (sections 3.3-3.4).

``N`` prosumers, ``T`` periods of ``dt_h`` hours. Per prosumer and period the decisions are
acquisition (buy), paid dispatch (sale), non-paid dispatch (spill), battery charge and
discharge (all kW, held over the period) and the battery state (kWh at the end of the period):

- energy balance (3.3.2, 3.4.4): ``gen + acquire + discharge = load + paid + spill + charge``;
- dispatch breakdown (3.3.4): dispatch = paid + spill; paid up to the export limit, spill up
  to the prosumer's own generation (curtailment);
- battery dynamics (3.3.5): ``soc[t] = soc[t-1] + eta_c*charge*dt - discharge*dt/eta_d``;
- charge/discharge limits (3.3.6) and capacity bounds (3.3.7) ``soc_min <= soc <= soc_max``,
  plus an end-of-horizon floor ``soc[T-1] >= soc_end_min`` (ours: without it the battery is
  emptied at the end of every horizon);
- acquisition and dispatch limits (3.3.3, 3.4.3);
- flip-flop exclusivity (3.4.2): no acquisition while dispatching, no charge while
  discharging (the MILP's binaries);
- objective (3.3.1): ``sum_t dt * (p_buy*acquire - p_sell*paid + c_batt*(charge+discharge))``
  plus a fixed cost per horizon.

Prices are given (grid-determined, 3.1): prosumers only choose quantities. Money is in the
scenario's currency (CNY in this project) and named ``_per_kwh`` in field names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from vppsim.prosumers.fixedmath import exp_fixed, log_fixed, row_sums, sin_fixed

_PER_PERIOD = (
    "gen_kw",
    "load_kw",
    "price_buy_per_kwh",
    "price_sell_per_kwh",
)
_PER_PROSUMER = (
    "acquire_max_kw",
    "dispatch_max_kw",
    "charge_max_kw",
    "discharge_max_kw",
    "soc_min_kwh",
    "soc_max_kwh",
    "soc_init_kwh",
    "soc_end_min_kwh",
    "eta_charge",
    "eta_discharge",
    "battery_cost_per_kwh",
    "fixed_cost",
)


@dataclass(frozen=True)
class ProsumerFleet:
    """Parameters of ``N`` prosumers over ``T`` periods (arrays ``(N, T)`` or ``(N,)``).

    Per period: forecast generation and load (kW), buy and sell prices (currency/kWh; a
    common price may be given as shape ``(T,)`` and is broadcast). Per prosumer: limits
    (kW), battery energy bounds and initial state (kWh), efficiencies, battery wear cost per
    kWh of throughput (charged plus discharged energy) and a fixed cost per horizon.
    """

    dt_h: float
    gen_kw: np.ndarray
    load_kw: np.ndarray
    price_buy_per_kwh: np.ndarray
    price_sell_per_kwh: np.ndarray
    acquire_max_kw: np.ndarray
    dispatch_max_kw: np.ndarray
    charge_max_kw: np.ndarray
    discharge_max_kw: np.ndarray
    soc_min_kwh: np.ndarray
    soc_max_kwh: np.ndarray
    soc_init_kwh: np.ndarray
    soc_end_min_kwh: np.ndarray
    eta_charge: np.ndarray
    eta_discharge: np.ndarray
    battery_cost_per_kwh: np.ndarray
    fixed_cost: np.ndarray

    def __post_init__(self) -> None:
        gen = np.atleast_2d(np.asarray(self.gen_kw, float))
        n, t = gen.shape
        for name in _PER_PERIOD:
            a = np.asarray(getattr(self, name), float)
            a = np.ascontiguousarray(np.broadcast_to(a, (n, t)))
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        for name in _PER_PROSUMER:
            a = np.ascontiguousarray(np.broadcast_to(np.asarray(getattr(self, name), float), (n,)))
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        if self.dt_h <= 0:
            raise ValueError(f"dt_h must be positive, got {self.dt_h}")
        if np.any(self.eta_charge <= 0) or np.any(self.eta_discharge <= 0):
            raise ValueError("efficiencies must be positive")
        if np.any(self.soc_min_kwh > self.soc_max_kwh + 1e-12):
            raise ValueError("soc_min_kwh must be <= soc_max_kwh")

    @property
    def n(self) -> int:
        """Number of prosumers."""
        return int(self.gen_kw.shape[0])

    @property
    def periods(self) -> int:
        """Number of periods."""
        return int(self.gen_kw.shape[1])

    def take(self, idx: Any) -> ProsumerFleet:
        """The sub-fleet of prosumers ``idx`` (an index array, slice or mask)."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _PER_PERIOD + _PER_PROSUMER:
            kw[name] = np.asarray(kw[name])[idx]
        return ProsumerFleet(**kw)

    def replace(self, **changes: Any) -> ProsumerFleet:
        """A copy with some fields changed."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        kw.update(changes)
        return ProsumerFleet(**kw)

    def window(self, start: int, soc_init_kwh: np.ndarray | None = None) -> ProsumerFleet:
        """The same fleet over periods ``start..T-1`` (rolling horizon), from ``soc_init_kwh``."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _PER_PERIOD:
            kw[name] = kw[name][:, start:]
        if soc_init_kwh is not None:
            kw["soc_init_kwh"] = np.asarray(soc_init_kwh, float)
        return ProsumerFleet(**kw)

    def soc_lower_kwh(self) -> np.ndarray:
        """Lower SoC bound per period ``(N, T)``: ``soc_min``, and ``soc_end_min`` at the end."""
        lb = np.repeat(self.soc_min_kwh[:, None], self.periods, axis=1)
        lb[:, -1] = np.maximum(lb[:, -1], self.soc_end_min_kwh)
        return lb

    def battery_power_bounds_kw(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds ``(lo, hi)`` on battery net power ``charge - discharge`` per period (kW).

        Intersection of the power limits (3.3.6) with what the grid limits allow given the
        energy balance: ``load - gen + b <= acquire_max`` and ``gen - load - b <= dispatch_max +
        gen`` (paid up to the export limit, the rest spilled, at most the generation).
        """
        net = self.load_kw - self.gen_kw
        hi = np.minimum(self.charge_max_kw[:, None], self.acquire_max_kw[:, None] - net)
        lo = np.maximum(-self.discharge_max_kw[:, None], -self.dispatch_max_kw[:, None] - self.load_kw)
        return lo, hi

    def stored_energy_bounds_kwh(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds on the SoC change per period (kWh), mapped from :meth:`battery_power_bounds_kw`."""
        lo, hi = self.battery_power_bounds_kw()
        return power_to_stored(self, lo), power_to_stored(self, hi)

    def reference_bill(self) -> np.ndarray:
        """Cost of the load bought at the buy price, without PV or battery (``(N,)``, > 0).

        Used only as a per-prosumer scale (SA temperatures, gap normalization); summed left to
        right (not by numpy's SIMD-dependent pairwise sum), so the SA's decisions are the same on
        every CPU.
        """
        bill = self.dt_h * row_sums(np.abs(self.price_buy_per_kwh) * self.load_kw)
        return np.maximum(bill, 1e-6)


@dataclass(frozen=True)
class FleetSchedule:
    """Schedules of a fleet: flows in kW per period, battery state in kWh at period end.

    ``cost`` is the objective (3.3.1) per prosumer; ``info`` holds solver details
    (``wall_s``, statuses, for exact methods ``binaries_slack``, ...).
    """

    acquire_kw: np.ndarray
    paid_kw: np.ndarray
    spill_kw: np.ndarray
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray
    cost: np.ndarray
    method: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def total_cost(self) -> float:
        """Sum of the per-prosumer costs."""
        return float(np.sum(self.cost))


def power_to_stored(fleet: ProsumerFleet, b_kw: np.ndarray) -> np.ndarray:
    """SoC change (kWh) of battery net power ``b_kw`` (charge > 0) over one period (3.3.5)."""
    dt = fleet.dt_h
    ec = fleet.eta_charge[:, None]
    ed = fleet.eta_discharge[:, None]
    return np.where(b_kw > 0, b_kw * ec * dt, b_kw * dt / ed)


def stored_to_power(fleet: ProsumerFleet, e_kwh: np.ndarray) -> np.ndarray:
    """Battery net power (kW, charge > 0) that changes the SoC by ``e_kwh`` in one period."""
    dt = fleet.dt_h
    ec = fleet.eta_charge[:, None]
    ed = fleet.eta_discharge[:, None]
    return np.where(e_kwh > 0, e_kwh / (ec * dt), e_kwh * ed / dt)


def stored_of_schedule(fleet: ProsumerFleet, sched: FleetSchedule) -> np.ndarray:
    """SoC changes ``(N, T)`` (kWh) of a schedule of ``fleet``, the inverse of :func:`schedule_from_stored`.

    A prosumer without an answer (non-finite SoC, e.g. an infeasible exact solve) gets 0.
    """
    e = np.diff(sched.soc_kwh, axis=1, prepend=fleet.soc_init_kwh[:, None])
    return np.where(np.isfinite(e), e, 0.0)


def schedule_from_stored(fleet: ProsumerFleet, e_kwh: np.ndarray, method: str = "",
                         info: dict[str, Any] | None = None) -> FleetSchedule:
    """Complete schedule from the SoC changes ``e_kwh`` ``(N, T)`` (the SA's decision).

    Charge or discharge follows from the sign of ``e`` (exclusive by construction); the grid
    exchange from the energy balance (3.4.4): a deficit is acquired, a surplus is dispatched,
    paid up to the export limit and spilled beyond it (spilled first when the sell price is
    negative). Acquisition and dispatch are exclusive by construction.
    """
    b = stored_to_power(fleet, e_kwh)
    ch = np.maximum(b, 0.0)
    dis = np.maximum(-b, 0.0)
    r = fleet.load_kw - fleet.gen_kw + b
    acq = np.maximum(r, 0.0)
    surplus = np.maximum(-r, 0.0)
    dmax = fleet.dispatch_max_kw[:, None]
    neg = fleet.price_sell_per_kwh < 0
    spill_first = np.minimum(surplus, fleet.gen_kw)
    paid = np.where(neg, surplus - spill_first, np.minimum(surplus, dmax))
    spill = surplus - paid
    soc = fleet.soc_init_kwh[:, None] + np.cumsum(e_kwh, axis=1)
    cost = flows_cost(fleet, acq, paid, ch, dis)
    return FleetSchedule(acq, paid, spill, ch, dis, soc, cost, method, dict(info or {}))


def flows_cost(fleet: ProsumerFleet, acquire_kw: np.ndarray, paid_kw: np.ndarray,
               charge_kw: np.ndarray, discharge_kw: np.ndarray) -> np.ndarray:
    """Objective (3.3.1) per prosumer: energy bought minus sold, battery wear, fixed cost."""
    per = (fleet.price_buy_per_kwh * acquire_kw - fleet.price_sell_per_kwh * paid_kw
           + fleet.battery_cost_per_kwh[:, None] * (charge_kw + discharge_kw))
    return fleet.dt_h * row_sums(per) + fleet.fixed_cost


def schedule_cost(fleet: ProsumerFleet, sched: FleetSchedule) -> np.ndarray:
    """Objective (3.3.1) of ``sched`` per prosumer, recomputed from its flows."""
    return flows_cost(fleet, sched.acquire_kw, sched.paid_kw, sched.charge_kw, sched.discharge_kw)


@dataclass(frozen=True)
class Violations:
    """Worst violation per prosumer and constraint kind (kW or kWh; 0 when satisfied)."""

    by_kind: dict[str, np.ndarray]
    tol: float

    @property
    def worst(self) -> np.ndarray:
        """Worst violation of any kind per prosumer."""
        return np.max(np.stack(list(self.by_kind.values())), axis=0)

    @property
    def ok(self) -> np.ndarray:
        """Per prosumer: every constraint holds within ``tol``."""
        return self.worst <= self.tol

    def failing(self) -> dict[str, np.ndarray]:
        """Kinds violated by some prosumer, with the indices of the violating prosumers."""
        return {k: np.nonzero(v > self.tol)[0] for k, v in self.by_kind.items() if np.any(v > self.tol)}


def check_schedules(fleet: ProsumerFleet, sched: FleetSchedule, tol: float = 1e-6) -> Violations:
    """Check every constraint of sections 3.3-3.4 on ``sched``, independently of any solver.

    Returns the worst violation per prosumer for each kind: ``nonnegative``, ``balance``,
    ``soc_dynamics`` (including the initial state), ``soc_bounds``, ``soc_end``,
    ``charge_limit``, ``discharge_limit``, ``acquire_limit``, ``dispatch_limit`` (paid),
    ``spill_limit`` (at most the generation), ``acquire_dispatch_exclusive`` and
    ``charge_discharge_exclusive`` (the smaller of the two flows of a period, as kW).
    """
    dt = fleet.dt_h
    acq, paid, spill = sched.acquire_kw, sched.paid_kw, sched.spill_kw
    ch, dis, soc = sched.charge_kw, sched.discharge_kw, sched.soc_kwh
    shape = (fleet.n, fleet.periods)
    for name, a in (("acquire_kw", acq), ("paid_kw", paid), ("spill_kw", spill), ("charge_kw", ch),
                    ("discharge_kw", dis), ("soc_kwh", soc)):
        if np.shape(a) != shape:
            raise ValueError(f"schedule field {name} has shape {np.shape(a)}, expected {shape}")

    def rowmax(x: np.ndarray) -> np.ndarray:
        return np.max(np.maximum(x, 0.0), axis=1)

    prev = np.concatenate([fleet.soc_init_kwh[:, None], soc[:, :-1]], axis=1)
    expected = prev + fleet.eta_charge[:, None] * ch * dt - dis * dt / fleet.eta_discharge[:, None]
    flows = np.stack([acq, paid, spill, ch, dis])
    v = {
        "nonnegative": rowmax(-flows.min(axis=0)),
        "balance": np.max(np.abs(fleet.gen_kw + acq + dis - fleet.load_kw - paid - spill - ch), axis=1),
        "soc_dynamics": np.max(np.abs(soc - expected), axis=1),
        "soc_bounds": np.maximum(rowmax(fleet.soc_min_kwh[:, None] - soc),
                                 rowmax(soc - fleet.soc_max_kwh[:, None])),
        "soc_end": np.maximum(fleet.soc_end_min_kwh - soc[:, -1], 0.0),
        "charge_limit": rowmax(ch - fleet.charge_max_kw[:, None]),
        "discharge_limit": rowmax(dis - fleet.discharge_max_kw[:, None]),
        "acquire_limit": rowmax(acq - fleet.acquire_max_kw[:, None]),
        "dispatch_limit": rowmax(paid - fleet.dispatch_max_kw[:, None]),
        "spill_limit": rowmax(spill - fleet.gen_kw),
        "acquire_dispatch_exclusive": rowmax(np.minimum(acq, paid + spill)),
        "charge_discharge_exclusive": rowmax(np.minimum(ch, dis)),
    }
    return Violations(v, tol)


#: Usable SoC window of the synthetic fleet's batteries, as fractions of their capacity.
SYNTHETIC_SOC_BOUNDS = (0.10, 0.95)


def _tou_price(hour: np.ndarray) -> np.ndarray:
    """An assumed Chinese-style time-of-use tariff (CNY/kWh): valley, flat and peak hours."""
    price = np.full(hour.shape, 0.62)
    price[(hour >= 23) | (hour < 7)] = 0.31
    price[((hour >= 8) & (hour < 11)) | ((hour >= 18) & (hour < 22))] = 1.05
    return price


def synthetic_fleet(n: int, rng: np.random.Generator | int, periods: int = 96,
                    dt_h: float = 0.25) -> ProsumerFleet:
    """A heterogeneous fleet of ``n`` residential prosumers; synthetic, every number assumed.

    Paper 002 publishes no parameter values. Assumed here: PV on 70 % of the roofs (1-5 kWp,
    a clear-sky bell from 06:00 to 18:00 with a day-level cloudiness and smooth noise); load
    of 8-25 kWh a day with a night base and morning and evening peaks; a battery on 75 % of
    the prosumers (5, 7, 10 or 13.5 kWh, 0.35-0.5 C, 95 % one-way efficiency, 10-95 % usable,
    starting and ending at 50 %, wear 0.02-0.06 CNY/kWh); a time-of-use buy price (valley 0.31,
    flat 0.62, peak 1.05 CNY/kWh, scaled by 0.9-1.1 per prosumer); a sell price of 0.35-0.45
    CNY/kWh, never above 90 % of the buy price; an export limit of 3-6 kW; an import limit
    above the peak load plus the charge power; a fixed cost of 0.5-1 CNY a day.
    """
    rng = np.random.default_rng(rng)
    hour = (np.arange(periods) + 0.5) * dt_h % 24.0

    # exp, sin, powers, sums and the convolution by fixedmath / fixed-order adds: the same
    # profiles on every CPU (numpy's SIMD code paths differ in the last bits)
    def smooth_noise(sigma: float) -> np.ndarray:
        z = rng.normal(0.0, sigma, (n, periods))
        x = np.arange(-6, 7) / 2.5
        k = exp_fixed(-0.5 * (x * x))
        k = k / math.fsum(k)
        zp = np.pad(z, ((0, 0), (6, 6)))
        out = np.zeros_like(z)
        for j in range(13):  # np.convolve(row, k, "same"), k symmetric, in a fixed order
            out = out + k[j] * zp[:, j:j + periods]
        return out * 2.0

    sine = np.clip(sin_fixed(np.pi * (hour - 6.0) / 12.0), 0.0, None)
    bell = np.where(sine > 0, exp_fixed(1.3 * log_fixed(np.where(sine > 0, sine, 1.0))), 0.0)
    kwp = rng.uniform(1.0, 5.0, n) * (rng.random(n) < 0.7)
    cloud = rng.uniform(0.35, 1.0, n)
    gen = kwp[:, None] * bell[None, :] * np.clip(cloud[:, None] + smooth_noise(0.12), 0.05, 1.0)
    gen = np.where(bell[None, :] > 0, gen, 0.0)

    def bump(center: np.ndarray, width: float) -> np.ndarray:
        d = (hour[None, :] - center[:, None] + 12.0) % 24.0 - 12.0
        return exp_fixed(-0.5 * ((d / width) * (d / width)))

    shape = (0.35 + 0.9 * bump(rng.uniform(6.5, 8.5, n), 1.0) * rng.uniform(0.5, 1.2, n)[:, None]
             + 1.4 * bump(rng.uniform(18.0, 20.5, n), 1.6) * rng.uniform(0.7, 1.3, n)[:, None]
             + 0.3 * bump(np.full(n, 13.0), 2.5))
    shape = np.clip(shape * (1.0 + smooth_noise(0.10)), 0.05, None)
    daily_kwh = rng.uniform(8.0, 25.0, n) * periods * dt_h / 24.0
    load = shape * (daily_kwh / (row_sums(shape) * dt_h))[:, None]

    has_batt = rng.random(n) < 0.75
    cap = rng.choice([5.0, 7.0, 10.0, 13.5], n) * has_batt
    c_rate = rng.uniform(0.35, 0.5, n)
    p_batt = cap * c_rate
    buy = _tou_price(hour)[None, :] * rng.uniform(0.9, 1.1, n)[:, None]
    sell = np.minimum(rng.uniform(0.35, 0.45, n)[:, None], 0.9 * buy)
    return ProsumerFleet(
        dt_h=dt_h,
        gen_kw=gen,
        load_kw=load,
        price_buy_per_kwh=buy,
        price_sell_per_kwh=sell,
        acquire_max_kw=np.ceil(load.max(axis=1) * 1.2 + p_batt + 1.0),
        dispatch_max_kw=rng.uniform(3.0, 6.0, n),
        charge_max_kw=p_batt,
        discharge_max_kw=p_batt,
        soc_min_kwh=SYNTHETIC_SOC_BOUNDS[0] * cap,
        soc_max_kwh=SYNTHETIC_SOC_BOUNDS[1] * cap,
        soc_init_kwh=0.50 * cap,
        soc_end_min_kwh=0.50 * cap,
        eta_charge=np.full(n, 0.95),
        eta_discharge=np.full(n, 0.95),
        battery_cost_per_kwh=rng.uniform(0.02, 0.06, n),
        fixed_cost=rng.uniform(0.5, 1.0, n),
    )
