"""The forecast-error uncertainty model: marginals, correlations, AR(1), schema, co-simulation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from vppsim.forecast import (
    ErrorLayout,
    correlation_matrix,
    draw_relative_error,
    sample_gaussian_scores,
    sample_relative_errors,
)
from vppsim.model import VPPModel
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ErrorModelSpec, ForecastErrorSpec, ScenarioError

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
N_SAMPLES = 20_000
# two VPPs with wind, PV and load each; VPP 0 has two PV plants (same group)
LAYOUT = ErrorLayout(
    quantities=("wind", "pv", "load", "pv", "wind", "pv", "load"),
    vpps=(0, 0, 0, 0, 1, 1, 1),
)
W0, P0, L0, P0B, W1, P1, L1 = range(7)


def _spec(**kw: object) -> ForecastErrorSpec:
    base: dict[str, object] = {
        "wind": {"kind": "uniform", "band": 0.3},
        "pv": {"kind": "uniform", "band": 0.3},
        "load": {"kind": "normal", "sd": 0.05},
    }
    base.update(kw)
    return ForecastErrorSpec.model_validate(base)


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x.ravel(), y.ravel())[0, 1])


# ---------------------------------------------------------------------------- marginals


def test_uniform_band_marginal() -> None:
    spec = _spec(wind={"kind": "uniform", "band": 0.3, "autocorrelation": 0.5},
                 wind_pv_correlation=0.6, vpp_correlation=0.4)
    eps = sample_relative_errors(spec, LAYOUT, 4, np.random.default_rng(1), n_samples=N_SAMPLES)
    wind = eps[:, [W0, W1], :]
    assert wind.min() >= -0.3 and wind.max() <= 0.3
    assert wind.min() < -0.299 and wind.max() > 0.299
    for t in range(4):  # one period of one agent: independent across samples
        ks = stats.kstest(wind[:, 0, t], stats.uniform(loc=-0.3, scale=0.6).cdf)
        assert ks.pvalue > 0.001, (t, ks)


def test_normal_marginal_is_truncated_normal() -> None:
    spec = _spec(load={"kind": "normal", "sd": 0.05, "clip_sd": 2.0, "autocorrelation": 0.3})
    eps = sample_relative_errors(spec, LAYOUT, 3, np.random.default_rng(2), n_samples=N_SAMPLES)
    load = eps[:, L0, :]
    assert np.abs(load).max() <= 2.0 * 0.05 + 1e-15
    truncated = stats.truncnorm(-2.0, 2.0, scale=0.05)
    assert load.std() == pytest.approx(truncated.std(), rel=0.02)
    assert abs(load.mean()) < 0.002
    # exact truncation, not clipping: no mass piles up at the bounds
    assert (np.abs(load) > 0.0999).mean() < 0.002
    assert stats.kstest(load[:, 0], truncated.cdf).pvalue > 0.001


def test_none_gives_zeros_and_draws_nothing() -> None:
    spec = ForecastErrorSpec()
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    eps = sample_relative_errors(spec, LAYOUT, 24, rng)
    assert eps.shape == (LAYOUT.n_agents, 24) and not eps.any()
    assert rng.bit_generator.state == state
    # a single quantity set to none is zero while the others vary
    eps = sample_relative_errors(_spec(load={"kind": "none"}), LAYOUT, 24, rng)
    assert not eps[[L0, L1]].any() and eps[[W0, P0]].all()


def test_draw_relative_error_still_works() -> None:
    rng = np.random.default_rng(4)
    uni = ErrorModelSpec(kind="uniform", band=0.3)
    assert isinstance(draw_relative_error(uni, rng), float)
    x = draw_relative_error(uni, rng, 5000)
    assert x.shape == (5000,) and np.abs(x).max() <= 0.3
    nor = draw_relative_error(ErrorModelSpec(kind="normal", sd=0.1, clip_sd=1.5), rng, 5000)
    assert np.abs(nor).max() <= 0.15
    assert draw_relative_error(ErrorModelSpec(), rng) == 0.0


# ---------------------------------------------------------------------------- dependence


def test_cross_correlations_of_scores() -> None:
    spec = _spec(wind_pv_correlation=0.6, vpp_correlation=0.4)
    z = sample_gaussian_scores(spec, LAYOUT, 2, np.random.default_rng(5), n_samples=N_SAMPLES)
    tol = 0.03  # about 4 standard errors of a correlation from 20,000 samples
    for t in range(2):
        zt = z[:, :, t]
        assert _corr(zt[:, W0], zt[:, P0]) == pytest.approx(0.6, abs=tol)
        assert _corr(zt[:, W1], zt[:, P1]) == pytest.approx(0.6, abs=tol)
        assert _corr(zt[:, W0], zt[:, W1]) == pytest.approx(0.4, abs=tol)
        assert _corr(zt[:, P0], zt[:, P1]) == pytest.approx(0.4, abs=tol)
        assert _corr(zt[:, L0], zt[:, L1]) == pytest.approx(0.4, abs=tol)
        assert _corr(zt[:, W0], zt[:, P1]) == pytest.approx(0.24, abs=tol)
        assert _corr(zt[:, L0], zt[:, W0]) == pytest.approx(0.0, abs=tol)
        assert zt.std(axis=0) == pytest.approx(np.ones(7), abs=0.03)
        np.testing.assert_array_equal(zt[:, P0], zt[:, P0B])  # same VPP and quantity
    emp = np.corrcoef(z[:, :, 0].T)
    np.testing.assert_allclose(emp, correlation_matrix(spec, LAYOUT), atol=0.03)


def test_error_correlation_follows_copula() -> None:
    spec = _spec(wind_pv_correlation=-0.7)
    eps = sample_relative_errors(spec, LAYOUT, 1, np.random.default_rng(6), n_samples=N_SAMPLES)
    # Pearson correlation of two uniform margins of a Gaussian copula: (6/pi) asin(rho/2)
    expected = 6.0 / np.pi * np.arcsin(-0.7 / 2.0)
    assert _corr(eps[:, W0, 0], eps[:, P0, 0]) == pytest.approx(expected, abs=0.03)


@pytest.mark.parametrize("a_wind, a_pv, rho", [(0.8, 0.8, 0.5), (0.9, 0.3, 0.4), (0.0, 0.6, 0.5)])
def test_autocorrelation_with_exact_contemporaneous_correlation(
    a_wind: float, a_pv: float, rho: float
) -> None:
    spec = _spec(wind={"kind": "uniform", "band": 0.3, "autocorrelation": a_wind},
                 pv={"kind": "uniform", "band": 0.3, "autocorrelation": a_pv},
                 wind_pv_correlation=rho, vpp_correlation=0.3)
    z = sample_gaussian_scores(spec, LAYOUT, 12, np.random.default_rng(7), n_samples=N_SAMPLES)
    for agent, a in ((W0, a_wind), (P1, a_pv)):
        for t in (1, 11):  # stationary: same lag-1 correlation early and late
            assert _corr(z[:, agent, t - 1], z[:, agent, t]) == pytest.approx(a, abs=0.03)
        assert _corr(z[:, agent, 0], z[:, agent, 3]) == pytest.approx(a**3, abs=0.03)
        assert z[:, agent, :].std(axis=0) == pytest.approx(np.ones(12), abs=0.03)
    for t in (0, 6, 11):  # the wind-PV correlation holds in every period
        assert _corr(z[:, W0, t], z[:, P0, t]) == pytest.approx(rho, abs=0.03)
        assert _corr(z[:, W0, t], z[:, W1, t]) == pytest.approx(0.3, abs=0.03)


def test_perfect_correlations_are_allowed() -> None:
    spec = _spec(wind_pv_correlation=1.0, vpp_correlation=1.0)
    z = sample_gaussian_scores(spec, LAYOUT, 5, np.random.default_rng(8), n_samples=100)
    for agent in (P0, W1, P1):
        np.testing.assert_allclose(z[:, agent], z[:, W0], atol=1e-12)


# ---------------------------------------------------------------------------- reproducibility, shape


def test_same_seed_same_array_and_shapes() -> None:
    spec = _spec(wind_pv_correlation=0.5, vpp_correlation=0.2,
                 wind={"kind": "uniform", "band": 0.3, "autocorrelation": 0.7})
    one = sample_relative_errors(spec, LAYOUT, 24, np.random.default_rng(9))
    again = sample_relative_errors(spec, LAYOUT, 24, np.random.default_rng(9))
    other = sample_relative_errors(spec, LAYOUT, 24, np.random.default_rng(10))
    assert one.shape == (7, 24)
    np.testing.assert_array_equal(one, again)
    assert not np.allclose(one, other)
    many = sample_relative_errors(spec, LAYOUT, 24, np.random.default_rng(9), n_samples=50)
    assert many.shape == (50, 7, 24)
    np.testing.assert_array_equal(many[0], one)  # the single sample is the first of many
    assert not np.allclose(many[1], many[0])
    assert sample_relative_errors(spec, LAYOUT, 24, np.random.default_rng(9), 0).shape == (0, 7, 24)
    empty = ErrorLayout(quantities=(), vpps=())
    assert sample_relative_errors(spec, empty, 24, np.random.default_rng(9)).shape == (0, 24)


def test_layout_validation() -> None:
    with pytest.raises(ValueError, match="quantities"):
        ErrorLayout(quantities=("wind", "hydro"), vpps=(0, 0))
    with pytest.raises(ValueError, match="one VPP index per agent"):
        ErrorLayout(quantities=("wind",), vpps=(0, 1))


# ---------------------------------------------------------------------------- schema


def _write_scenario(tmp_path: Path, forecast_error: dict[str, object]) -> Path:
    raw = yaml.safe_load((SCENARIOS / "liu2025_3vpp.yaml").read_text(encoding="utf-8"))
    raw["forecast_error"].update(forecast_error)
    shutil.copy(SCENARIOS / raw["profiles"], tmp_path / raw["profiles"])
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_existing_scenario_keeps_defaults() -> None:
    fe = load_scenario(SCENARIOS / "liu2025_3vpp.yaml").scenario.forecast_error
    assert (fe.wind_pv_correlation, fe.vpp_correlation, fe.wind.autocorrelation) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "change, path",
    [
        ({"wind_pv_correlation": 1.5}, "forecast_error.wind_pv_correlation"),
        ({"vpp_correlation": -0.2}, "forecast_error.vpp_correlation"),
        ({"wind": {"kind": "uniform", "band": 0.3, "autocorrelation": 1.0}},
         "forecast_error.wind.autocorrelation"),
    ],
)
def test_schema_rejects_out_of_range(tmp_path: Path, change: dict[str, object], path: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write_scenario(tmp_path, change))
    assert path in str(info.value)


def test_schema_rejects_non_psd_correlation(tmp_path: Path) -> None:
    change = {
        "wind": {"kind": "uniform", "band": 0.3, "autocorrelation": 0.9},
        "pv": {"kind": "uniform", "band": 0.3, "autocorrelation": 0.0},
        "wind_pv_correlation": 0.8,  # bound sqrt(1 - 0.81) = 0.436
    }
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write_scenario(tmp_path, change))
    msg = str(info.value)
    assert "forecast_error:" in msg and "wind_pv_correlation" in msg
    assert "positive semi-definite" in msg
    change["wind_pv_correlation"] = 0.4
    assert load_scenario(_write_scenario(tmp_path, change)).scenario.forecast_error.wind_pv_correlation == 0.4


# ---------------------------------------------------------------------------- co-simulation


def test_cosimulation_uses_the_sample(tmp_path: Path) -> None:
    path = _write_scenario(tmp_path, {
        "wind": {"kind": "uniform", "band": 0.3, "autocorrelation": 0.6},
        "pv": {"kind": "uniform", "band": 0.3, "autocorrelation": 0.6},
        "wind_pv_correlation": 0.5, "vpp_correlation": 0.5,
    })
    loaded = load_scenario(path)
    model = VPPModel(loaded, seed=3)
    layout = model.error_layout
    assert layout.n_agents == 9 and set(layout.quantities) == {"wind", "pv", "load"}
    # the model's sample is the sampler's first draw from the model's seeded generator
    ref = VPPModel(loaded, seed=3)
    for a, b in zip(model.realizers, ref.realizers, strict=True):
        if hasattr(a, "forecast_error"):
            np.testing.assert_array_equal(a.forecast_error, b.forecast_error)
    model.run()
    ts = model.timeseries()
    ren = ts[ts.kind.isin(["wind", "pv"])]
    assert len(ren) > 0
    fc, avail = ren.p_forecast_kw.to_numpy(), ren.p_available_kw.to_numpy()
    assert (avail <= fc * 1.3 + 1e-9).all()
    assert (avail >= fc * 0.7 - 1e-9).all()
    agents = {a.name: a for a in model.realizers if hasattr(a, "forecast_error")}
    for name, g in ren.groupby("agent"):
        a = agents[name]
        expected = np.clip(a.forecast_kw * (1.0 + a.forecast_error), 0.0, a.cap_kw)
        np.testing.assert_allclose(g.sort_values("step").p_available_kw.to_numpy(),
                                   expected[: len(g)], atol=1e-9)
