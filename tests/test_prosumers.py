"""Prosumer self-scheduling (paper 002): checker, exact MILP/LP, SA, rolling horizon."""

from __future__ import annotations

import itertools
import multiprocessing
import sys

import numpy as np
import pytest

import vppsim.model  # noqa: F401 - imports mesa, which sets multiprocessing's default to spawn
from vppsim.prosumers import parallel
from vppsim.prosumers.anneal import SASettings, anneal_fleet
from vppsim.prosumers.exact import binaries_slack, solve_exact
from vppsim.prosumers.moves import repair_stored, self_consumption_stored
from vppsim.prosumers.problem import (
    FleetSchedule,
    ProsumerFleet,
    check_schedules,
    schedule_cost,
    schedule_from_stored,
    synthetic_fleet,
)
from vppsim.prosumers.schedule import rolling_schedule, schedule_fleet

FAST = SASettings(iterations=1500)


@pytest.fixture(scope="module")
def fleet() -> ProsumerFleet:
    return synthetic_fleet(24, np.random.default_rng(11))


@pytest.fixture(scope="module")
def milp(fleet: ProsumerFleet) -> FleetSchedule:
    return solve_exact(fleet, integer=True)


def _tiny(n_periods: int = 4) -> ProsumerFleet:
    """One prosumer, 1 h periods, lossless 2 kW / 4 kWh battery, integer data."""
    return ProsumerFleet(
        dt_h=1.0,
        gen_kw=np.array([[3.0, 0.0, 1.0, 0.0][:n_periods]]),
        load_kw=np.array([[1.0, 2.0, 1.0, 3.0][:n_periods]]),
        price_buy_per_kwh=np.array([[0.3, 1.0, 0.3, 1.2][:n_periods]]),
        price_sell_per_kwh=np.array([[0.1, 0.4, 0.1, 0.4][:n_periods]]),
        acquire_max_kw=[10.0],
        dispatch_max_kw=[1.0],
        charge_max_kw=[2.0],
        discharge_max_kw=[2.0],
        soc_min_kwh=[0.0],
        soc_max_kwh=[4.0],
        soc_init_kwh=[1.0],
        soc_end_min_kwh=[1.0],
        eta_charge=[1.0],
        eta_discharge=[1.0],
        battery_cost_per_kwh=[0.01],
        fixed_cost=[0.5],
    )


def _replace(s: FleetSchedule, **arrays: np.ndarray) -> FleetSchedule:
    fields = {k: getattr(s, k) for k in ("acquire_kw", "paid_kw", "spill_kw", "charge_kw", "discharge_kw",
                                         "soc_kwh", "cost")}
    fields.update(arrays)
    return FleetSchedule(**fields)


def test_synthetic_fleet_is_feasible_without_battery(fleet: ProsumerFleet) -> None:
    idle = schedule_from_stored(fleet, np.zeros((fleet.n, fleet.periods)))
    assert check_schedules(fleet, idle).ok.all()
    greedy = schedule_from_stored(fleet, self_consumption_stored(fleet))
    assert check_schedules(fleet, greedy).ok.all()
    assert greedy.total_cost < idle.total_cost


def test_checker_flags_each_constraint_kind(fleet: ProsumerFleet, milp: FleetSchedule) -> None:
    assert check_schedules(fleet, milp).ok.all()
    p, t = 0, 40
    batt = int(np.argmax(fleet.charge_max_kw))  # a prosumer with a battery
    loop = fleet.eta_charge[batt] * fleet.eta_discharge[batt]  # round-trip efficiency

    def bumped(name: str, row: int, col: int | slice, value: float) -> np.ndarray:
        a = getattr(milp, name).copy()
        a[row, col] += value
        return a

    cases = {
        "balance": _replace(milp, acquire_kw=bumped("acquire_kw", p, t, 0.5)),
        "nonnegative": _replace(milp, spill_kw=bumped("spill_kw", p, t, -milp.spill_kw[p, t] - 0.5)),
        "soc_dynamics": _replace(milp, soc_kwh=bumped("soc_kwh", batt, t, 0.3)),
        "soc_bounds": _replace(milp, soc_kwh=bumped("soc_kwh", batt, slice(None),
                                                   fleet.soc_max_kwh[batt] + 1.0 - milp.soc_kwh[batt].min())),
        "soc_end": _replace(milp, soc_kwh=bumped("soc_kwh", batt, -1, -0.5)),
        "charge_limit": _replace(milp, charge_kw=bumped("charge_kw", batt, t, fleet.charge_max_kw[batt] + 1)),
        "discharge_limit": _replace(milp, discharge_kw=bumped("discharge_kw", batt, t,
                                                             fleet.discharge_max_kw[batt] + 1)),
        "acquire_limit": _replace(milp, acquire_kw=bumped("acquire_kw", p, t, fleet.acquire_max_kw[p] + 1)),
        "dispatch_limit": _replace(milp, paid_kw=bumped("paid_kw", p, t, fleet.dispatch_max_kw[p] + 1)),
        "spill_limit": _replace(milp, spill_kw=bumped("spill_kw", p, 0, fleet.gen_kw[p, 0] + 1.0)),
        # flows added in pairs that keep the balance and the dynamics
        "acquire_dispatch_exclusive": _replace(milp, acquire_kw=bumped("acquire_kw", p, t, 0.4),
                                               paid_kw=bumped("paid_kw", p, t, 0.4)),
        "charge_discharge_exclusive": _replace(
            milp, charge_kw=bumped("charge_kw", batt, t, 0.2),
            discharge_kw=bumped("discharge_kw", batt, t, 0.2 * loop),
            acquire_kw=bumped("acquire_kw", batt, t, 0.2 * (1 - loop)),
        ),
    }
    for kind, bad in cases.items():
        fails = check_schedules(fleet, bad).failing()
        assert kind in fails, (kind, fails)
    for kind in ("acquire_dispatch_exclusive",):
        fails = check_schedules(fleet, cases[kind]).failing()
        assert set(fails) == {kind}, fails
    with pytest.raises(ValueError, match="shape"):
        check_schedules(fleet, _replace(milp, soc_kwh=milp.soc_kwh[:, :-1]))


def test_cost_function_matches_solver_objective(fleet: ProsumerFleet, milp: FleetSchedule) -> None:
    np.testing.assert_allclose(schedule_cost(fleet, milp), milp.info["objective"], atol=1e-6)
    np.testing.assert_allclose(milp.cost, milp.info["objective"], atol=1e-6)


def test_sa_matches_brute_force_on_tiny_case() -> None:
    tiny = _tiny()
    grid = np.arange(-2.0, 2.01, 0.5)  # SoC change per period (kWh), lossless battery
    best = np.inf
    for combo in itertools.product(grid, repeat=tiny.periods):
        e = np.array([combo])
        s = schedule_from_stored(tiny, e)
        if check_schedules(tiny, s).ok[0]:
            best = min(best, float(s.cost[0]))
    sa = anneal_fleet(tiny, SASettings(iterations=600), seed=3)
    exact = solve_exact(tiny, integer=True)
    assert check_schedules(tiny, sa).ok.all()
    assert sa.cost[0] == pytest.approx(best, abs=1e-6)
    assert exact.cost[0] == pytest.approx(best, abs=1e-6)


def test_milp_respects_flip_flops_where_relaxation_does_not() -> None:
    """Sell above buy in some periods: the relaxation buys and sells at once, the MILP cannot."""
    f = synthetic_fleet(6, 5, periods=24, dt_h=1.0)
    sell = f.price_sell_per_kwh.copy()
    sell[:, 2:5] = f.price_buy_per_kwh[:, 2:5] + 0.3
    wear = np.zeros(f.n)  # no wear: cycling the battery at once costs only the losses
    f = f.replace(price_sell_per_kwh=sell, battery_cost_per_kwh=wear)
    m = solve_exact(f, integer=True)
    lp = solve_exact(f, integer=False)
    assert check_schedules(f, m).ok.all()
    assert np.all(np.minimum(m.acquire_kw, m.paid_kw + m.spill_kw) <= 1e-7)
    assert np.all(np.minimum(m.charge_kw, m.discharge_kw) <= 1e-7)
    assert np.all(lp.cost <= m.cost + 1e-6)
    assert not binaries_slack(lp).all()  # the relaxation does use both directions somewhere
    slack = binaries_slack(lp)
    np.testing.assert_allclose(lp.cost[slack], m.cost[slack], atol=1e-6)


def test_lp_equals_milp_when_binaries_slack(fleet: ProsumerFleet, milp: FleetSchedule) -> None:
    lp = solve_exact(fleet, integer=False)
    assert lp.info["binaries_slack"].all()
    np.testing.assert_allclose(lp.cost, milp.cost, atol=1e-6)
    np.testing.assert_allclose(milp.info["lp_objective"], milp.cost, atol=1e-6)


def test_sa_same_seed_same_result_any_workers_or_chunks(fleet: ProsumerFleet) -> None:
    settings = SASettings(iterations=300)
    one = anneal_fleet(fleet, settings, seed=9)
    two = anneal_fleet(fleet, settings, seed=9, workers=2, chunks=2)  # chunks: a pool even for 24
    chunked = anneal_fleet(fleet, settings, seed=9, chunks=5)
    sub = anneal_fleet(fleet.take(slice(7, 19)), settings, seed=9)
    np.testing.assert_array_equal(one.soc_kwh, two.soc_kwh)
    np.testing.assert_array_equal(one.soc_kwh, chunked.soc_kwh)
    np.testing.assert_array_equal(one.cost, two.cost)
    other = anneal_fleet(fleet, settings, seed=10)
    assert not np.array_equal(one.soc_kwh, other.soc_kwh)
    # a sub-fleet's chains differ (its prosumers get indices 0..), but stay valid
    assert check_schedules(fleet.take(slice(7, 19)), sub).ok.all()


def test_sa_close_to_milp_and_feasible(fleet: ProsumerFleet, milp: FleetSchedule) -> None:
    sa = anneal_fleet(fleet, SASettings(), seed=1)
    assert check_schedules(fleet, sa).ok.all()
    assert np.all(sa.cost >= milp.cost - 1e-6)
    gap = (sa.total_cost - milp.total_cost) / abs(milp.total_cost)
    assert gap < 0.02
    idle = schedule_from_stored(fleet, np.zeros((fleet.n, fleet.periods)))
    captured = (idle.cost - sa.cost).sum() / (idle.cost - milp.cost).sum()
    assert captured > 0.95
    assert sa.info["history"][-1] <= sa.info["history"][0]


def test_repair_makes_any_proposal_feasible(fleet: ProsumerFleet) -> None:
    rng = np.random.default_rng(0)
    wild = rng.normal(0.0, 3.0, (fleet.n, fleet.periods))
    s = schedule_from_stored(fleet, repair_stored(fleet, wild))
    assert check_schedules(fleet, s).ok.all()


def test_schedule_fleet_dispatch_and_errors(fleet: ProsumerFleet) -> None:
    small = fleet.take(slice(0, 3))
    for method in ("sa", "milp", "lp"):
        s = schedule_fleet(small, method, seed=0, settings=FAST)
        assert check_schedules(small, s).ok.all()
    with pytest.raises(ValueError, match="unknown method"):
        schedule_fleet(small, "ga")


def test_rolling_with_perfect_forecast_matches_one_shot() -> None:
    f = synthetic_fleet(3, 4, periods=16, dt_h=1.5)
    one = schedule_fleet(f, "milp")
    roll = rolling_schedule(f, (f.gen_kw, f.load_kw), "milp")
    np.testing.assert_allclose(roll.cost, one.cost, atol=1e-6)
    assert check_schedules(roll.info["fleet"], roll).ok.all()
    # with forecast errors the realized schedule stays feasible and costs at least the hindsight optimum
    rng = np.random.default_rng(2)
    gen_real = f.gen_kw * rng.uniform(0.7, 1.3, f.gen_kw.shape)
    load_real = f.load_kw * rng.uniform(0.9, 1.1, f.load_kw.shape)
    noisy = rolling_schedule(f, (gen_real, load_real), "lp")
    hindsight = schedule_fleet(f.replace(gen_kw=gen_real, load_kw=load_real), "lp")
    assert check_schedules(noisy.info["fleet"], noisy).ok.all()
    assert np.all(noisy.cost >= hindsight.cost - 1e-6)


def _probe(part: object, start: int) -> object:
    return getattr(parallel, "PROBE", None)


def test_sa_pool_is_forked_after_mesa_sets_spawn(monkeypatch: pytest.MonkeyPatch) -> None:
    # mesa.batchrunner makes spawn the process default; the SA's pool still forks (Linux), so
    # its workers see what the parent holds (the probe) instead of importing everything again
    assert multiprocessing.get_start_method() == "spawn"  # mesa is imported (by vppsim.model)
    monkeypatch.setattr(parallel, "PROBE", 7, raising=False)
    fleet = synthetic_fleet(4, 1)
    forked = parallel.map_chunks(_probe, fleet, workers=2, chunks=2, fork=True)
    default = parallel.map_chunks(_probe, fleet, workers=2, chunks=2)
    if sys.platform.startswith("linux"):
        assert forked == [7, 7]
    assert default == [None, None]  # spawned workers import the module afresh
