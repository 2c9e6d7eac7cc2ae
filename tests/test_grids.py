"""Tests for vppsim.grids: feeder registry and power flow (real pandapower, no mocks)."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from vppsim.grids import (
    BACKENDS,
    FEEDERS,
    FeederError,
    PowerFlow,
    PowerFlowResult,
    bus_ids,
    feeder_names,
    load_feeder,
)

# pandapower's own case24_ieee_rts data predates its tap_dependency_table; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:tap_dependency_table:DeprecationWarning")

INJ_33_KW = {5: 400.0, 12: -250.0, 17: 150.0, 24: 600.0, 31: -80.0}
INJ_33_KVAR = {5: 50.0, 24: -30.0}
INJ_24_KW = {3: 30_000.0, 9: -15_000.0, 18: 20_000.0}


def _independent_solve(
    name: str,
    p_kw: dict[int, float],
    q_kvar: dict[int, float] | None = None,
    background_factor: float = 1.0,
) -> pp.pandapowerNet:
    """Solve a separately built copy with plain create_sgen/create_load elements."""
    net = load_feeder(name)
    net.load["scaling"] *= background_factor
    q_kvar = q_kvar or {}
    for bus in sorted(set(p_kw) | set(q_kvar)):
        p_mw = p_kw.get(bus, 0.0) / 1000.0
        q_mvar = q_kvar.get(bus, 0.0) / 1000.0
        if p_mw >= 0.0:
            pp.create_sgen(net, bus, p_mw=p_mw, q_mvar=q_mvar)
        else:
            pp.create_load(net, bus, p_mw=-p_mw, q_mvar=-q_mvar)
    pp.runpp(net, numba=False)
    return net


def _losses_kw(net: pp.pandapowerNet) -> tuple[float, float]:
    line = float(net.res_line.pl_mw.sum()) * 1000.0
    trafo = float(net.res_trafo.pl_mw.sum()) * 1000.0 if len(net.trafo) else 0.0
    return line, trafo


def _vm_array(result: PowerFlowResult) -> np.ndarray:
    return np.array([result.vm_pu_by_bus[b] for b in sorted(result.vm_pu_by_bus)])


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("name", "n_bus"), [("ieee33", 33), ("ieee24", 24), ("cigre_mv", 15), ("cigre_lv", 44)]
)
def test_registry_feeders_load_with_expected_bus_count(name: str, n_bus: int) -> None:
    net = load_feeder(name)
    assert isinstance(net, pp.pandapowerNet)
    assert len(net.bus) == n_bus
    assert bus_ids(net) == [int(b) for b in net.bus.index]
    assert all(isinstance(b, int) for b in bus_ids(net))


def test_feeder_names_and_infos() -> None:
    names = feeder_names()
    assert {"ieee33", "ieee24", "cigre_mv", "cigre_lv"} <= set(names)
    assert names == sorted(FEEDERS)
    for name, info in FEEDERS.items():
        assert info.name == name
        assert info.description and info.source
        # module-level factories: the registry entries pickle (multiprocessing)
        assert pickle.loads(pickle.dumps(info)) == info


def test_load_feeder_returns_independent_copies() -> None:
    first = load_feeder("ieee33")
    first.load.loc[first.load.index[0], "p_mw"] = 123.0
    second = load_feeder("ieee33")
    assert second.load.p_mw.iloc[0] != 123.0


def test_unknown_name_raises_feeder_error_listing_names() -> None:
    with pytest.raises(FeederError) as info:
        load_feeder("no_such_feeder")
    message = str(info.value)
    for name in feeder_names():
        assert name in message
    assert isinstance(info.value, ValueError)


def test_missing_file_raises_feeder_error(tmp_path: Path) -> None:
    with pytest.raises(FeederError, match="ieee33"):
        load_feeder(tmp_path / "missing.json")
    with pytest.raises(FeederError, match="does not exist"):
        load_feeder("missing.json", base_dir=tmp_path)


def test_invalid_json_raises_feeder_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FeederError):
        load_feeder(bad)


def test_json_round_trip_absolute_and_relative(tmp_path: Path) -> None:
    original = load_feeder("ieee33")
    path = tmp_path / "feeder.json"
    pp.to_json(original, str(path))

    for loaded in (load_feeder(path), load_feeder(str(path)), load_feeder("feeder.json", tmp_path)):
        assert len(loaded.bus) == 33
        assert np.allclose(loaded.load.p_mw.to_numpy(), original.load.p_mw.to_numpy())
        pp.runpp(loaded, numba=False)
        pp.runpp(original, numba=False)
        assert np.allclose(loaded.res_bus.vm_pu, original.res_bus.vm_pu, atol=1e-12)


# --------------------------------------------------------------------------- power flow


def test_powerflow_does_not_modify_input_and_adds_one_sgen_per_bus() -> None:
    net = load_feeder("ieee33")
    n_sgen = len(net.sgen)
    pf = PowerFlow(net)
    assert len(net.sgen) == n_sgen
    added = pf.net.sgen[pf.net.sgen.name.str.startswith("vppsim_bus_", na=False)]
    assert len(added) == 33
    assert sorted(added.bus.tolist()) == bus_ids(net)
    pf.solve(INJ_33_KW)
    pf.solve(INJ_33_KW)
    assert len(pf.net.sgen) == n_sgen + 33


def test_solve_kw_to_mw_conversion() -> None:
    pf = PowerFlow(load_feeder("ieee33"))
    pf.solve(INJ_33_KW, INJ_33_KVAR)
    sgen = pf.net.sgen.loc[pf.sgen_by_bus[5]]
    assert sgen.bus == 5
    assert sgen.p_mw == pytest.approx(0.4)
    assert sgen.q_mvar == pytest.approx(0.05)
    assert pf.net.sgen.loc[pf.sgen_by_bus[12], "p_mw"] == pytest.approx(-0.25)
    # buses not given in a later step are reset to zero
    pf.solve({5: 10.0})
    assert pf.net.sgen.loc[pf.sgen_by_bus[12], "p_mw"] == 0.0
    assert pf.net.sgen.loc[pf.sgen_by_bus[5], "q_mvar"] == 0.0


@pytest.mark.parametrize(
    ("name", "p_kw", "q_kvar", "factor"),
    [
        ("ieee33", INJ_33_KW, INJ_33_KVAR, 1.0),
        ("ieee33", INJ_33_KW, None, 0.7),
        ("ieee24", INJ_24_KW, {3: 5_000.0}, 1.0),
        ("cigre_mv", {5: 800.0, 11: -300.0}, None, 1.0),
        ("cigre_lv", {20: 15.0, 30: -5.0}, None, 1.2),
    ],
)
def test_solve_matches_independent_runpp(
    name: str, p_kw: dict[int, float], q_kvar: dict[int, float] | None, factor: float
) -> None:
    pf = PowerFlow(load_feeder(name))
    result = pf.solve(p_kw, q_kvar, background_factor=factor)
    ref = _independent_solve(name, p_kw, q_kvar, factor)

    assert result.converged
    line_kw, trafo_kw = _losses_kw(ref)
    assert result.line_losses_kw == pytest.approx(line_kw, abs=1e-9)
    assert result.trafo_losses_kw == pytest.approx(trafo_kw, abs=1e-9)
    assert result.losses_kw == pytest.approx(line_kw + trafo_kw, abs=1e-9)
    assert result.p_slack_kw == pytest.approx(float(ref.res_ext_grid.p_mw.sum()) * 1000.0, abs=1e-9)
    ref_vm = ref.res_bus.vm_pu.sort_index().to_numpy()
    np.testing.assert_allclose(_vm_array(result), ref_vm, rtol=0, atol=1e-9)
    assert result.vm_min_pu == pytest.approx(np.nanmin(ref_vm), abs=1e-9)
    assert result.vm_max_pu == pytest.approx(np.nanmax(ref_vm), abs=1e-9)
    rated = ref.line.max_i_ka < 99999.0  # pandapower's placeholder for "no rating"
    if rated.any():
        ref_loading_pct = float(ref.res_line.loading_percent[rated].max())
        assert result.max_line_loading_pct == pytest.approx(ref_loading_pct, abs=1e-9)
    else:  # case33bw: Baran & Wu publish no line ratings
        assert math.isnan(result.max_line_loading_pct)


def test_background_load_scale_matches_independent_runpp() -> None:
    pf = PowerFlow(load_feeder("ieee33"), background_load_scale=0.5)
    result = pf.solve(INJ_33_KW, background_factor=1.2)
    ref = _independent_solve("ieee33", INJ_33_KW, None, 0.6)
    assert result.losses_kw == pytest.approx(sum(_losses_kw(ref)), abs=1e-9)


def test_warm_started_sequence_matches_cold_solves() -> None:
    pf = PowerFlow(load_feeder("ieee33"))
    cold = PowerFlow(load_feeder("ieee33"), warm_start=False)
    for factor in (1.0, 0.4, 1.3, 0.9):
        p_kw = {bus: value * factor for bus, value in INJ_33_KW.items()}
        warm_result = pf.solve(p_kw, background_factor=factor)
        cold_result = cold.solve(p_kw, background_factor=factor)
        ref = _independent_solve("ieee33", p_kw, None, factor)
        assert cold_result.losses_kw == pytest.approx(sum(_losses_kw(ref)), abs=1e-9)
        np.testing.assert_allclose(_vm_array(cold_result), ref.res_bus.vm_pu.to_numpy(), atol=1e-9)
        # a warm start stops at a different point within the solver tolerance
        np.testing.assert_allclose(_vm_array(warm_result), _vm_array(cold_result), atol=1e-7)
        assert warm_result.losses_kw == pytest.approx(cold_result.losses_kw, rel=1e-6)


def test_ieee24_losses_include_transformers() -> None:
    result = PowerFlow(load_feeder("ieee24")).solve(INJ_24_KW)
    assert result.converged
    assert result.trafo_losses_kw > 0.0
    assert result.line_losses_kw > 0.0
    total_kw = result.line_losses_kw + result.trafo_losses_kw
    assert result.losses_kw == pytest.approx(total_kw, rel=1e-15)


def test_non_convergence_reported_and_recovers() -> None:
    pf = PowerFlow(load_feeder("ieee33"))
    baseline = pf.solve(INJ_33_KW)
    assert baseline.converged

    failed = pf.solve(INJ_33_KW, background_factor=50.0)
    assert failed.converged is False
    record = failed.to_record()
    assert record["converged"] is False
    assert all(math.isnan(v) for k, v in record.items() if k != "converged")
    assert set(failed.vm_pu_by_bus) == set(bus_ids(pf.net))
    assert all(math.isnan(v) for v in failed.vm_pu_by_bus.values())

    recovered = pf.solve(INJ_33_KW)
    assert recovered.converged
    assert recovered.losses_kw == pytest.approx(baseline.losses_kw, rel=1e-6)
    assert recovered.vm_min_pu == pytest.approx(baseline.vm_min_pu, abs=1e-7)


def test_non_convergence_from_constructor_scale() -> None:
    pf = PowerFlow(load_feeder("ieee33"), background_load_scale=50.0)
    assert pf.solve({}).converged is False
    assert pf.solve({}, background_factor=1.0 / 50.0).converged


def test_to_record_fields_and_units() -> None:
    record = PowerFlow(load_feeder("ieee33")).solve(INJ_33_KW).to_record()
    assert set(record) == {
        "converged",
        "losses_kw",
        "line_losses_kw",
        "trafo_losses_kw",
        "vm_min_pu",
        "vm_max_pu",
        "max_line_loading_pct",
        "p_slack_kw",
    }
    assert record["converged"] is True
    assert all(isinstance(v, float) for k, v in record.items() if k != "converged")


def test_invalid_inputs_raise() -> None:
    pf = PowerFlow(load_feeder("ieee33"))
    with pytest.raises(ValueError, match="unknown bus"):
        pf.solve({999: 1.0})
    with pytest.raises(ValueError, match="not finite"):
        pf.solve({3: float("nan")})
    with pytest.raises(ValueError, match="unknown power-flow backend"):
        PowerFlow(load_feeder("ieee33"), backend="nope")


def test_no_lines_gives_nan_loading() -> None:
    net = pp.create_empty_network()
    hv = pp.create_bus(net, vn_kv=20.0)
    lv = pp.create_bus(net, vn_kv=0.4)
    pp.create_ext_grid(net, hv)
    pp.create_transformer(net, hv, lv, std_type="0.4 MVA 20/0.4 kV")
    pp.create_load(net, lv, p_mw=0.1)
    result = PowerFlow(net).solve({lv: 20.0})
    assert result.converged
    assert math.isnan(result.max_line_loading_pct)
    assert result.line_losses_kw == 0.0
    assert result.trafo_losses_kw > 0.0


# --------------------------------------------------------------------------- lightsim2grid


def test_backend_registry() -> None:
    assert {"pandapower", "lightsim2grid"} <= set(BACKENDS)


@pytest.mark.parametrize(
    ("name", "p_kw", "q_kvar"),
    [("ieee33", INJ_33_KW, INJ_33_KVAR), ("ieee24", INJ_24_KW, {3: 5_000.0})],
)
def test_lightsim2grid_matches_pandapower(
    name: str, p_kw: dict[int, float], q_kvar: dict[int, float]
) -> None:
    import lightsim2grid  # noqa: F401  (a dependency: fail, do not skip, when missing)
    ref_pf = PowerFlow(load_feeder(name))
    ls_pf = PowerFlow(load_feeder(name), backend="lightsim2grid")
    for factor in (1.0, 0.6, 50.0, 1.1):
        ref = ref_pf.solve(p_kw, q_kvar, background_factor=factor)
        res = ls_pf.solve(p_kw, q_kvar, background_factor=factor)
        assert res.converged == ref.converged
        if not ref.converged:
            continue
        np.testing.assert_allclose(_vm_array(res), _vm_array(ref), rtol=0, atol=1e-6)
        assert res.losses_kw == pytest.approx(ref.losses_kw, rel=1e-6)
        assert res.line_losses_kw == pytest.approx(ref.line_losses_kw, rel=1e-6)
        assert res.trafo_losses_kw == pytest.approx(ref.trafo_losses_kw, rel=1e-6, abs=1e-9)
        assert res.p_slack_kw == pytest.approx(ref.p_slack_kw, rel=1e-6)
        assert res.max_line_loading_pct == pytest.approx(ref.max_line_loading_pct, rel=1e-6,
                                                         nan_ok=True)


@pytest.mark.parametrize("name", ["ieee33", "ieee24"])
def test_lightsim2grid_matches_pandapower_on_60_random_cases(name: str) -> None:
    """60 seeded random cases per feeder: random injections (P and Q) at random buses and a
    random background-load factor, some far beyond the feeder's limits. Voltages within
    1e-6 pu, losses within 1e-6 relative, non-convergence reported alike by both backends."""
    import lightsim2grid  # noqa: F401  (a dependency: fail, do not skip, when missing)
    rng = np.random.default_rng(20261125)
    ref_pf = PowerFlow(load_feeder(name), warm_start=False)
    ls_pf = PowerFlow(load_feeder(name), backend="lightsim2grid", warm_start=False)
    buses = ref_pf.bus_ids
    scale_kw = 2_000.0 if name == "ieee33" else 200_000.0
    n_failed = 0
    for _ in range(60):
        chosen = rng.choice(buses, size=int(rng.integers(1, 8)), replace=False)
        p_kw = {int(b): float(v) for b, v in zip(chosen, rng.normal(0.0, scale_kw, len(chosen)), strict=True)}
        q_kvar = {int(b): float(v) for b, v in zip(chosen, rng.normal(0.0, scale_kw / 4, len(chosen)),
                                                  strict=True)}
        factor = float(rng.choice([rng.uniform(0.0, 2.0), rng.uniform(5.0, 60.0)], p=[0.85, 0.15]))
        ref = ref_pf.solve(p_kw, q_kvar, background_factor=factor)
        res = ls_pf.solve(p_kw, q_kvar, background_factor=factor)
        assert res.converged == ref.converged, (p_kw, q_kvar, factor)
        if not ref.converged:
            n_failed += 1
            assert math.isnan(res.losses_kw) and math.isnan(ref.losses_kw)
            continue
        np.testing.assert_allclose(_vm_array(res), _vm_array(ref), rtol=0, atol=1e-6)
        assert res.losses_kw == pytest.approx(ref.losses_kw, rel=1e-6)
        assert res.p_slack_kw == pytest.approx(ref.p_slack_kw, rel=1e-6, abs=1e-6)
    assert n_failed < 60  # most cases converge; the hard ones exercise the failure path


def test_lightsim2grid_rejects_unsupported_net() -> None:
    import lightsim2grid  # noqa: F401  (a dependency: fail, do not skip, when missing)
    net = load_feeder("ieee33")
    pp.create_ext_grid(net, 17, vm_pu=1.0)   # a second slack
    with pytest.raises(ValueError, match="exactly one in-service ext_grid"):
        PowerFlow(net, backend="lightsim2grid")
    # a net with switches (cigre_mv: open ring switches) is solved on a switch-free copy, as
    # pandapower.runpp solves it
    flows = [PowerFlow(load_feeder("cigre_mv"), backend=b) for b in ("lightsim2grid", "pandapower")]
    ls, ref = (f.solve({5: -300.0}) for f in flows)
    assert abs(ls.losses_kw - ref.losses_kw) < 1e-4
    assert max(abs(ls.vm_pu_by_bus[b] - v) for b, v in ref.vm_pu_by_bus.items()) < 1e-6


def test_injection_at_out_of_service_bus_rejected() -> None:
    net = load_feeder("ieee33")
    net.bus.loc[32, "in_service"] = False
    pf = PowerFlow(net)
    with pytest.raises(ValueError, match="out-of-service"):
        pf.solve({32: 5.0})
    result = pf.solve({32: 0.0, 5: 10.0})
    assert result.converged
    assert math.isnan(result.vm_pu_by_bus[32])
    assert not math.isnan(result.vm_min_pu)
