"""Pareto fronts of the loss-aware dispatch: feeder losses, system cost, renewable utilization.

Two ways to the same front:

- :func:`weighted_sum_front`: the SLP (:func:`vppsim.market.loss_aware.solve_loss_aware`) over
  a sweep of the loss weight ``w_losses`` (CNY/kWh) and, where something is curtailed, the
  utilization weight ``w_utilization`` (CNY per unit of U). Each point is the SLP-converged
  optimum of its weighted problem (a local optimum: the loss term is nonconvex), with its
  losses from a full AC power flow.
- :func:`nsga2_front`: pymoo's NSGA-II on a reduced form of the same day: the decision is each
  VPP battery's net power per period (a fraction of its rating, clipped to the energy window
  in time order); curtailment only where a VPP would sell more than its limit; everything else
  follows from the VPPs' balances. Objectives: the AC losses (the same power flows) and the
  system cost (the centralized LP's objective evaluated in closed form, checked against the LP
  in tests/test_loss_aware.py). Constraints: the exchange limits and the end-of-day state of
  charge. The first population is the idle day (every battery at 0), half near it (within 10 %
  of the ratings) and half uniform.

Where exporting raises the losses (reverse flows, dL/dP > 0), losses and renewable utilization
conflict; :func:`utilization_front` traces that front by an epsilon-constraint: the least
losses subject to ``U >= eps`` (one linear row in every SLP step), ``eps`` from the largest
reachable utilization down to the utilization of the least-loss dispatch; NSGA-II then also
decides a curtailment share per VPP and period (``ReducedDay(..., curtail=True)``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vppsim.market.day_ahead import DayAheadMarket
from vppsim.market.loss_aware import (
    DispatchGrid,
    LossAwareDispatch,
    evaluate_losses,
    max_utilization,
    solve_loss_aware,
)
from vppsim.market.lower_level import BatteryData
from vppsim.optimizers.pareto import non_dominated_mask, polyline_distance

__all__ = ["LOSSES_FIRST_CNY_PER_KWH", "FrontPoint", "ReducedDay", "front_distance",
           "non_dominated", "nsga2_front", "utilization_front", "weighted_sum_front"]

#: loss weight of the epsilon-constraint points, CNY/kWh: losses first, the system cost only
#: breaks ties (a cost range of 10,000 CNY weighs 0.1 kWh, below the SLP's tolerance)
LOSSES_FIRST_CNY_PER_KWH = 1e5


@dataclass(frozen=True)
class FrontPoint:
    """One point of a front (one row of ``pareto.parquet``)."""

    method: str
    w_losses: float
    w_utilization: float
    losses_kwh: float
    losses_pct: float
    renewable_utilization: float
    system_cost_cny: float
    u_min: float = float("nan")  # the epsilon-constraint U >= u_min (NaN: none)


def _point(method: str, r: LossAwareDispatch, u_min: float | None = None) -> FrontPoint:
    return FrontPoint(method, r.w_losses, r.w_utilization, r.losses_kwh, r.losses_pct,
                      r.renewable_utilization, r.system_cost_cny,
                      float("nan") if u_min is None else u_min)


def loss_weights(n: int, w_min: float = 0.5, w_max: float = 500.0) -> np.ndarray:
    """``n`` loss weights, CNY/kWh: 0 (loss-blind) and ``n - 1`` geometric steps ``w_min..w_max``."""
    if n < 2:
        raise ValueError(f"loss_weights: expected n >= 2, got {n}")
    return np.concatenate([[0.0], np.geomspace(w_min, w_max, n - 1)])


def weighted_sum_front(market: DayAheadMarket, grid: DispatchGrid, n_points: int = 16,
                       w_utilization: tuple[float, ...] = (0.0,),
                       ) -> tuple[list[FrontPoint], list[LossAwareDispatch]]:
    """SLP optimum of the weighted problem for each pair of weights (all points, in sweep order).

    The loss weights come from :func:`loss_weights`, in increasing order; each SLP starts at
    the previous weight's dispatch (a continuation: fewer iterations, same stopping test).
    """
    points, dispatches = [], []
    for w2 in w_utilization:
        start = None
        for w1 in loss_weights(n_points):
            r = solve_loss_aware(market, grid, float(w1), float(w2), start=start)
            start = r.lp_solution
            points.append(_point("slp", r))
            dispatches.append(r)
    return points, dispatches


def utilization_front(market: DayAheadMarket, grid: DispatchGrid, n_points: int = 12,
                      ) -> tuple[list[FrontPoint], list[LossAwareDispatch]]:
    """Losses vs renewable utilization by epsilon-constraint: least losses s.t. ``U >= eps``.

    ``eps`` runs over ``n_points - 1`` equal steps from :func:`max_utilization` (the first
    point: the least losses at the largest utilization) down towards the utilization of the
    least-loss dispatch; the last point has no constraint (the least losses). Each SLP starts
    at the previous point's dispatch (which meets the next, looser constraint). Every point
    minimizes ``LOSSES_FIRST_CNY_PER_KWH`` x losses + system cost (cost breaks ties only).
    """
    if n_points < 2:
        raise ValueError(f"utilization_front: expected n_points >= 2, got {n_points}")
    w = LOSSES_FIRST_CNY_PER_KWH
    u_least = solve_loss_aware(market, grid, w).renewable_utilization
    points, dispatches, start = [], [], None
    for eps in np.linspace(max_utilization(market), u_least, n_points)[:-1]:
        r = solve_loss_aware(market, grid, w, start=start, u_min=float(eps))
        start = r.lp_solution
        points.append(_point("slp-eps", r, float(eps)))
        dispatches.append(r)
    r = solve_loss_aware(market, grid, w, start=start)
    points.append(_point("slp-eps", r))
    dispatches.append(r)
    return points, dispatches


def non_dominated(points: list[FrontPoint]) -> list[FrontPoint]:
    """The points no other point dominates on (losses, system cost, -utilization), deduplicated.

    Points within 1e-6 relative in every objective count as one.
    """
    obj = np.array([[p.losses_kwh, p.system_cost_cny, -p.renewable_utilization] for p in points])
    scale = np.maximum(np.abs(obj).max(axis=0), 1e-12)
    tol = 1e-6 * scale
    keep: list[int] = []
    for k in np.flatnonzero(non_dominated_mask(obj, tol)):
        if not any(np.all(np.abs(obj[j] - obj[k]) <= tol) for j in keep):
            keep.append(int(k))
    return [points[k] for k in keep]


def _pair(p: FrontPoint, against: str) -> tuple[float, float]:
    return (p.losses_kwh, p.renewable_utilization if against == "utilization"
            else p.system_cost_cny)


def front_distance(points: list[FrontPoint], reference: list[FrontPoint],
                   against: str = "cost") -> tuple[float, float]:
    """Mean and largest distance of ``points`` to the piecewise-linear ``reference`` front.

    In (losses, cost), or (losses, utilization) with ``against="utilization"``, normalized by
    the reference front's ranges; 0 means on the front.
    """
    ref = np.array(sorted(_pair(p, against) for p in reference))
    lo, span = ref.min(axis=0), np.maximum(np.ptp(ref, axis=0), 1e-12)
    if not points:
        return float("nan"), float("nan")
    q = (np.array([_pair(p, against) for p in points]) - lo) / span
    dists = polyline_distance(q, (ref - lo) / span)
    return float(np.mean(dists)), float(np.max(dists))


#: a battery ending the day more than this below its start is repaired (ReducedDay.decode)
END_SOC_TOL_KWH = 1e-9
#: bisection steps of the repair (the factor to 2**-40)
REPAIR_BISECTIONS = 40
#: scales of the tariff-rule schedules in NSGA-II's first population (share of the room to charge)
TARIFF_RULE_SCALES = (0.25, 0.5, 0.75, 1.0)


class ReducedDay:
    """The day as NSGA-II sees it: battery fractions in, (losses kWh, cost CNY) and violations out.

    Raises ``ValueError`` for a market it cannot reduce (VPO storage, generators, controllable
    loads, committed units, EVs or reservoirs): those need the LP. ``curtail=True`` appends a
    curtailment share in [0, 1] per VPP and period (of its wind and of its PV alike) to the
    battery fractions.
    """

    def __init__(self, market: DayAheadMarket, grid: DispatchGrid, curtail: bool = False) -> None:
        for d in market.vpps:
            if d.generators or d.controllable_loads or d.has_members:
                raise ValueError(f"{d.name}: NSGA-II's reduced day has wind, PV, batteries and "
                                 "loads only")
        if market.storage is not None:
            raise ValueError("NSGA-II's reduced day has no VPO storage")
        self.market, self.grid = market, grid
        self.bats = [(i, b) for i, d in enumerate(market.vpps) for b in d.batteries]
        self.n_bat_var = len(self.bats) * market.n_periods
        self.n_var = self.n_bat_var + (len(market.vpps) * market.n_periods if curtail else 0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the decision vector (battery fractions, curtailment shares)."""
        lo = np.concatenate([np.full(self.n_bat_var, -1.0), np.zeros(self.n_var - self.n_bat_var)])
        return lo, np.ones(self.n_var)

    def decode(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Battery fractions ``u`` -> (charge, discharge [n_bat, T], end-SOC shortfall kWh).

        Set-points are clipped to each battery's energy window in time order. A battery that
        would end the day below its starting energy has its discharges scaled down by the largest
        common factor that ends it at its start (bisection; the end state is monotone in the
        factor, and without discharges it cannot end lower), so the shortfall is a repair, not a
        penalty, and is 0 up to the bisection's tolerance.
        """
        T = self.market.n_periods
        u = u[: self.n_bat_var].reshape(len(self.bats), T)
        ch, dis = np.zeros_like(u), np.zeros_like(u)
        short = np.zeros(len(self.bats))
        for k, (_, bat) in enumerate(self.bats):
            ch[k], dis[k], end = self._simulate(bat, u[k], 1.0)
            if end < bat.soc_start_kwh - END_SOC_TOL_KWH:
                lo_a, hi_a = 0.0, 1.0
                for _ in range(REPAIR_BISECTIONS):
                    mid = 0.5 * (lo_a + hi_a)
                    if self._simulate(bat, u[k], mid)[2] >= bat.soc_start_kwh:
                        lo_a = mid
                    else:
                        hi_a = mid
                ch[k], dis[k], end = self._simulate(bat, u[k], lo_a)
            short[k] = max(bat.soc_start_kwh - end, 0.0)
        return ch, dis, short

    def _simulate(self, bat: BatteryData, u_k: np.ndarray,
                  discharge_scale: float) -> tuple[np.ndarray, np.ndarray, float]:
        """One battery's set-points from its fractions, discharges scaled; and its end energy."""
        dt, p = self.market.dt_h, bat.params
        soc, lo, hi = bat.soc_start_kwh, p.soc_min * p.capacity_kwh, p.soc_max * p.capacity_kwh
        ch, dis = np.zeros(len(u_k)), np.zeros(len(u_k))
        for t, frac in enumerate(u_k):
            power = frac * p.p_max_kw
            if power >= 0:
                dis[t] = min(power * discharge_scale, max(soc - lo, 0.0) * p.eta_discharge / dt)
                soc -= dis[t] * dt / p.eta_discharge
            else:
                ch[t] = min(-power, max(hi - soc, 0.0) / (p.eta_charge * dt))
                soc += ch[t] * dt * p.eta_charge
        return ch, dis, soc

    def evaluate(self, u: np.ndarray) -> tuple[float, float, np.ndarray, float]:
        """(losses kWh, system cost CNY, constraint violations >= 0 when violated, utilization)."""
        ch, dis, short = self.decode(u)
        m, dt = self.market, self.market.dt_h
        share = np.zeros((len(m.vpps), m.n_periods))
        if self.n_var > self.n_bat_var:
            share = np.clip(u[self.n_bat_var:].reshape(share.shape), 0.0, 1.0)
        inj, cost, cur_kwh, avail_kwh, viol = [], 0.0, 0.0, 0.0, [short]
        for i, d in enumerate(m.vpps):
            k = d.costs
            rows = [j for j, (vi, _) in enumerate(self.bats) if vi == i]
            wind, pv = d.wind_fc_kw * (1.0 - share[i]), d.pv_fc_kw * (1.0 - share[i])
            net = (wind + pv - d.load_kw + dis[rows].sum(0) - ch[rows].sum(0))
            w_cur = np.clip(net - d.sell_max_kw, 0.0, wind)
            pv_cur = np.clip(net - d.sell_max_kw - w_cur, 0.0, pv)
            net = net - w_cur - pv_cur
            w_cur, pv_cur = w_cur + d.wind_fc_kw * share[i], pv_cur + d.pv_fc_kw * share[i]
            viol.append(np.array([max(float(np.max(-net - d.buy_max_kw)), 0.0)]))
            g = np.maximum(-net, 0.0)
            cost += dt * float(k.mu1_wind_curtail_cny_per_kwh * w_cur.sum()
                               + k.mu2_pv_curtail_cny_per_kwh * pv_cur.sum()
                               + (k.lam1_battery_cny_per_kwh + k.w_bat_battery_cny_per_kwh)
                               * (ch[rows].sum() + dis[rows].sum())
                               + k.lam2_wind_om_cny_per_kwh * d.wind_fc_kw.sum()
                               + k.lam3_pv_om_cny_per_kwh * d.pv_fc_kw.sum()
                               + k.w_b_purchase_cny_per_kwh * g.sum())
            cur_kwh += dt * float(w_cur.sum() + pv_cur.sum())
            avail_kwh += dt * float(d.wind_fc_kw.sum() + d.pv_fc_kw.sum())
            inj.append(net)
        total = np.sum(inj, axis=0)
        cost += dt * float(m.pi_imp @ np.maximum(-total, 0.0) - m.pi_exp @ np.maximum(total, 0.0))
        losses, _ = evaluate_losses(self.grid, np.array(inj), sensitivities=False)
        util = 1.0 - cur_kwh / avail_kwh if avail_kwh > 0 else 1.0
        return dt * float(losses.sum()), cost, np.concatenate(viol), util

    def tariff_rule(self, scale: float) -> np.ndarray:
        """A rule of thumb: charge in the cheapest hours, discharge at the dearest, energy-neutral.

        Each battery charges ``scale`` times the room up to ``soc_max`` evenly over the hours at
        the day's lowest import tariff and discharges the stored energy evenly over the hours at
        the highest; it knows nothing of the LP (a seed for NSGA-II's first population).
        """
        m, dt = self.market, self.market.dt_h
        cheap = m.pi_imp <= m.pi_imp.min() + 1e-12
        dear = m.pi_imp >= m.pi_imp.max() - 1e-12
        rows = []
        for _, bat in self.bats:
            p = bat.params
            room_kwh = max(p.soc_max * p.capacity_kwh - bat.soc_start_kwh, 0.0) * scale
            ch_kw = min(room_kwh / (p.eta_charge * dt * max(cheap.sum(), 1)), p.p_max_kw)
            stored_kwh = ch_kw * cheap.sum() * dt * p.eta_charge
            dis_kw = min(stored_kwh * p.eta_discharge / (dt * max(dear.sum(), 1)), p.p_max_kw)
            rows.append(np.where(cheap, -ch_kw, np.where(dear, dis_kw, 0.0)) / p.p_max_kw)
        return np.concatenate(rows) if rows else np.zeros(0)

    def fractions_of(self, charge_kw: np.ndarray, discharge_kw: np.ndarray) -> np.ndarray:
        """The decision vector of a battery schedule (for checks and seeding)."""
        p_max = np.array([b.params.p_max_kw for _, b in self.bats])[:, None]
        return ((discharge_kw - charge_kw) / p_max).ravel()


def nsga2_front(market: DayAheadMarket, grid: DispatchGrid, *, population: int = 40,
                generations: int = 60, seed: int = 0,
                against: str = "cost") -> tuple[list[FrontPoint], float]:
    """NSGA-II's final non-dominated points (feasible ones) and its wall time, s.

    Objectives: losses and system cost; with ``against="utilization"`` losses and ``-U``, the
    decision then also holds a curtailment share per VPP and period.
    """
    # pymoo: about 1 s to import and an optional extra; only `vppsim pareto` needs it
    from pymoo.algorithms.moo.nsga2 import NSGA2  # noqa: PLC0415
    from pymoo.core.problem import ElementwiseProblem  # noqa: PLC0415
    from pymoo.optimize import minimize  # noqa: PLC0415

    day = ReducedDay(market, grid, curtail=against == "utilization")
    n_con = len(day.bats) + len(market.vpps)
    xl, xu = day.bounds()

    class _Problem(ElementwiseProblem):
        def __init__(self) -> None:
            super().__init__(n_var=day.n_var, n_obj=2, n_ieq_constr=n_con, xl=xl, xu=xu)

        def _evaluate(self, x: np.ndarray, out: dict, *args: object, **kwargs: object) -> None:
            losses, cost, viol, util = day.evaluate(x)
            out["F"] = [losses, -util if against == "utilization" else cost]
            out["G"] = viol - 1e-6

    # first population: the idle day (every battery at 0), four tariff-rule schedules
    # (ReducedDay.tariff_rule), then half near idle, half uniform; curtailment shares (if
    # any) uniform up to a level rising from 0 to 1 over the population
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1.0, 1.0, (population, day.n_var))
    x0[: population // 2] *= 0.1
    x0[:, day.n_bat_var:] = (rng.uniform(0.0, 1.0, (population, day.n_var - day.n_bat_var))
                             * np.linspace(0.0, 1.0, population)[:, None])
    x0[0] = 0.0
    for k, scale in enumerate(TARIFF_RULE_SCALES[: max(population - 1, 0)]):
        x0[1 + k, : day.n_bat_var] = day.tariff_rule(scale)
    start = time.perf_counter()
    res = minimize(_Problem(), NSGA2(pop_size=population, sampling=x0), ("n_gen", generations),
                   seed=seed, verbose=False)
    wall = time.perf_counter() - start
    xs = np.atleast_2d(res.X) if res.X is not None else np.zeros((0, day.n_var))
    points = []
    for x in xs:
        losses, cost, _, util = day.evaluate(x)
        points.append(FrontPoint("nsga2", float("nan"), float("nan"), losses,
                                 100.0 * losses / grid.demand_kwh, util, cost))
    return non_dominated(points), wall
