"""The forecast-error model fitted from a naive forecast (vppsim.forecast.fit, `vppsim forecast
--fit-errors`): recovers a known error spread on synthetic series, gives finite figures on the
SimBench LV week."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from vppsim.cli import main
from vppsim.forecast import ErrorLayout, sample_relative_errors
from vppsim.forecast.fit import (
    fit_profiles,
    naive_forecast,
    relative_errors,
    truncated_sd_factor,
)
from vppsim.paths import data_dir
from vppsim.scenario.schema import ErrorModelSpec, ForecastErrorSpec

SPD = 24
DAYS = 300


def _series(eps: np.ndarray, method: str, k: int) -> np.ndarray:
    """A series whose naive forecast errs by exactly ``eps`` (day 0..k-1: a daily shape)."""
    shape = 1.0 + np.sin(np.linspace(0.0, np.pi, SPD))  # positive, peak 2
    x = np.empty(eps.size)
    x[:k * SPD] = np.tile(shape, k)
    for d in range(k, eps.size // SPD):
        sl = slice(d * SPD, (d + 1) * SPD)
        if method == "persistence":
            forecast = x[sl.start - SPD: sl.stop - SPD]
        else:
            forecast = np.mean([x[sl.start - j * SPD: sl.stop - j * SPD] for j in range(1, k + 1)],
                               axis=0)
        x[sl] = forecast * (1.0 + eps[sl])
    return x


def test_naive_forecasts_by_hand() -> None:
    x = np.arange(4 * SPD, dtype=float)
    p = naive_forecast(x, SPD)
    assert np.isnan(p[:SPD]).all() and np.array_equal(p[SPD:], x[:-SPD])
    a = naive_forecast(x, SPD, "average", 3)
    assert np.isnan(a[:3 * SPD]).all()
    np.testing.assert_allclose(a[3 * SPD:], (x[2 * SPD:-SPD] + x[SPD:-2 * SPD] + x[:-3 * SPD]) / 3)
    np.testing.assert_array_equal(naive_forecast(x, SPD, "average", 1), p)
    # relative errors only where the forecast is >= 5 % of the peak
    e = relative_errors(np.array([10.0, 1.0, 4.0]), np.array([5.0, 0.2, 2.0]))
    np.testing.assert_allclose(e, [1.0, np.nan, 1.0])


@pytest.mark.parametrize(("method", "k"), [("persistence", 1), ("average", 3)])
def test_fit_recovers_a_known_normal_sd(method: str, k: int) -> None:
    sd = 0.08
    eps = np.random.default_rng(15).normal(0.0, sd, DAYS * SPD)
    fit = fit_profiles([("load", _series(eps, method, k))], SPD, method, k, min_fraction=0.0)["load"]
    n = (DAYS - k) * SPD
    assert fit.n == n
    # the sample sd of n normal draws has a standard error sd / sqrt(2 (n - 1))
    assert abs(fit.sd - sd) < 4 * sd / math.sqrt(2 * (n - 1))
    assert abs(fit.bias) < 4 * sd / math.sqrt(n)
    assert abs(fit.autocorrelation) < 4 / math.sqrt(n) or fit.autocorrelation == 0.0
    assert fit.normal_sd == pytest.approx(fit.sd / truncated_sd_factor(3.0))


def test_fit_recovers_the_models_own_draws() -> None:
    """Errors drawn by the scenario's own model (truncated normal with AR(1) autocorrelation,
    uniform band): the fit returns the parameters they were drawn with."""
    spec = ForecastErrorSpec(pv=ErrorModelSpec(kind="uniform", band=0.3, autocorrelation=0.0),
                             load=ErrorModelSpec(kind="normal", sd=0.1, autocorrelation=0.0))
    eps = sample_relative_errors(spec, ErrorLayout(quantities=("pv", "load"), vpps=(0, 0)),
                                 DAYS * SPD, np.random.default_rng(3))
    fits = fit_profiles([("pv", _series(eps[0], "persistence", 1)),
                         ("load", _series(eps[1], "persistence", 1))], SPD, min_fraction=0.0)
    n = (DAYS - 1) * SPD
    # a uniform on [-b, b] has sd b / sqrt(3); its sample sd's standard error is about
    # sd * sqrt(0.8 / (4 n)) (kurtosis 1.8); the fit's band is sqrt(3) times the sample sd
    assert abs(fits["pv"].uniform_band - 0.3) < 4 * 0.3 * math.sqrt(0.8 / (4 * n))
    assert abs(fits["load"].normal_sd - 0.1) < 4 * 0.1 / math.sqrt(2 * n)
    assert fits["pv"].spec("uniform") == {"kind": "uniform", "band": round(fits["pv"].uniform_band, 4),
                                          "autocorrelation": round(fits["pv"].autocorrelation, 4)}


def test_fit_errors_on_the_lv_week(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("simbench")
    out = tmp_path / "fit"
    scenario = data_dir("scenarios") / "simbench_lv_rural.yaml"
    assert main(["forecast", "--fit-errors", str(scenario), "--out", str(out)]) == 0
    block = yaml.safe_load((out / "forecast_error.yaml").read_text(encoding="utf-8"))
    fe = block["forecast_error"]
    assert set(fe) == {"pv", "load"}
    assert fe["pv"]["kind"] == "uniform" and 0.0 < fe["pv"]["band"] <= 1.0
    assert fe["load"]["kind"] == "normal" and 0.0 < fe["load"]["sd"] <= 5.0
    ForecastErrorSpec.model_validate(fe)  # the printed block is a valid forecast_error:
    assert "forecast_error:" in capsys.readouterr().out
    # one-day history is too short for the 7-day average: exit 2, nothing written
    assert main(["forecast", "--fit-errors", str(scenario), "--naive", "average",
                 "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
