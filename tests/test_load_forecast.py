"""Load forecasting (issue 14): metrics, paper 000's regression, gradient boosting, the CLI and
the co-simulation hook (a load planned on a forecaster's forecast, realized at its profile)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from vppsim.cli.main import main
from vppsim.forecast.accuracy import mae, mape, rmse
from vppsim.forecast.load import (
    GradientBoostingForecaster,
    RegressionForecaster,
    evaluate,
    load_features,
    read_load_weather,
)
from vppsim.model import VPPModel
from vppsim.paths import data_dir
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError

SERIES = data_dir("scenarios") / "load_weather_hourly.csv"
TEST_DAYS = 28


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return read_load_weather(SERIES)


@pytest.fixture(scope="module")
def both(series: pd.DataFrame) -> Any:
    return evaluate(series, ["regression", "gbr"], TEST_DAYS, seed=0)


# ---------------------------------------------------------------- metrics


def test_metrics_on_hand_computed_cases() -> None:
    actual = np.array([100.0, 200.0, 0.0])
    forecast = np.array([110.0, 180.0, 5.0])  # errors +10, -20, +5
    assert mae(actual, forecast) == pytest.approx(35.0 / 3.0, rel=1e-15)
    assert rmse(actual, forecast) == pytest.approx(math.sqrt(525.0 / 3.0), rel=1e-15)
    # the zero actual is left out: (10/100 + 20/200) / 2 = 10 %
    assert mape(actual, forecast) == pytest.approx(10.0, rel=1e-15)
    assert math.isnan(mape(np.zeros(2), np.ones(2)))
    with pytest.raises(ValueError, match="one shape"):
        mae(actual, forecast[:2])


# ---------------------------------------------------------------- models


def test_regression_recovers_known_coefficients_on_a_noiseless_series() -> None:
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"temperature_c": rng.uniform(-10, 35, 500), "humidity_pct": rng.uniform(20, 100, 500)})
    y = 120.0 + 3.5 * x.temperature_c.to_numpy() - 0.8 * x.humidity_pct.to_numpy()
    model = RegressionForecaster().fit(x, y)
    np.testing.assert_allclose(model.coef_, [120.0, 3.5, -0.8], rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.predict(x), y, rtol=0, atol=1e-9)


def test_gbr_beats_the_regression_out_of_sample_on_the_shipped_series(
        series: pd.DataFrame, both: Any) -> None:
    m = both.metrics.set_index("model")
    assert list(m.index) == ["regression", "gbr"]
    assert (m.test_hours == 24 * TEST_DAYS).all() and (m.train_hours == len(series) - 24 * TEST_DAYS).all()
    for col in ("mae_kw", "rmse_kw", "mape_pct"):
        assert m.at["gbr", col] < 0.5 * m.at["regression", col], col
    # the regression's figures against an independent fit (normal equations on the training days)
    k = len(series) - 24 * TEST_DAYS
    a = np.column_stack([np.ones(len(series)), series.temperature_c, series.humidity_pct])
    beta = np.linalg.solve(a[:k].T @ a[:k], a[:k].T @ series.load_kw.to_numpy()[:k])
    err = a[k:] @ beta - series.load_kw.to_numpy()[k:]
    assert m.at["regression", "mae_kw"] == pytest.approx(np.abs(err).mean(), rel=1e-9)
    assert m.at["regression", "rmse_kw"] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-9)


def test_no_leakage_future_load_does_not_change_a_forecast(series: pd.DataFrame) -> None:
    k = len(series) - 24 * TEST_DAYS
    cut = k + 24 * 10  # a day boundary inside the test part
    x = load_features(series)
    y = series.load_kw.to_numpy()
    model = GradientBoostingForecaster(seed=0).fit(x.iloc[:k], y[:k])
    before = model.predict(x.iloc[k:])
    altered = series.copy()
    altered.loc[cut:, "load_kw"] += 500.0  # the load from day `cut` on
    after = model.predict(load_features(altered).iloc[k:])
    # the day starting at `cut` is forecast from the days before it: unchanged
    np.testing.assert_array_equal(after[: cut + 24 - k], before[: cut + 24 - k])
    # later days see the altered load through their lags (so the check above can fail)
    assert np.abs(after[cut + 24 - k:] - before[cut + 24 - k:]).max() > 1.0
    # and the weather of later hours does not reach earlier forecasts either
    warm = series.copy()
    warm.loc[cut:, "temperature_c"] += 10.0
    ev0 = evaluate(series, ["regression", "gbr"], TEST_DAYS)
    ev1 = evaluate(warm, ["regression", "gbr"], TEST_DAYS)
    pd.testing.assert_frame_equal(ev0.forecast.iloc[: cut - k], ev1.forecast.iloc[: cut - k])


def test_same_seed_same_result(series: pd.DataFrame, both: Any) -> None:
    again = evaluate(series, ["gbr"], TEST_DAYS, seed=0)
    np.testing.assert_array_equal(again.forecast.gbr_kw, both.forecast.gbr_kw)


# ---------------------------------------------------------------- CLI


def test_cli_prints_the_table_and_writes_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                    both: Any) -> None:
    out = tmp_path / "fc"
    assert main(["forecast", "--model", "all", "--test-days", str(TEST_DAYS), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    metrics = pd.read_csv(out / "metrics.csv")
    pd.testing.assert_frame_equal(metrics, both.metrics, check_dtype=False)
    for r in metrics.itertuples():
        assert f"{r.mae_kw:.2f}" in printed and f"{r.mape_pct:.2f}" in printed
    fc = pd.read_parquet(out / "forecast.parquet")
    assert list(fc.columns) == ["timestamp", "actual_kw", "regression_kw", "gbr_kw"]
    assert len(fc) == 24 * TEST_DAYS
    np.testing.assert_array_equal(fc.gbr_kw, both.forecast.gbr_kw)
    assert (out / "forecast.png").stat().st_size > 10_000


def _bad_csvs(folder: Path) -> dict[str, tuple[Path, str]]:
    text = SERIES.read_text(encoding="utf-8").splitlines()
    cases: dict[str, tuple[str | bytes, str]] = {
        "missing column": ("\n".join(",".join(r.split(",")[:3]) for r in text), "load_kw"),
        "non-finite": ("\n".join(text[:5] + [text[5].rsplit(",", 1)[0] + ",nan"] + text[6:]), "load_kw"),
        "not a number": ("\n".join(text[:5] + [text[5].replace(",", ",warm,", 1).replace(
            ",warm," + text[5].split(",")[1], ",warm")] + text[6:]), "temperature_c"),
        "not hourly": ("\n".join(text[:5] + text[6:]), "timestamp"),
        "too short": ("\n".join(text[:200]), "--test-days"),
        "encoding": ("\n".join(text[:3]).encode() + b"\n2023-01-01 03:00,\xb01.0,50,300\n", "encoding"),
    }
    out = {}
    for name, (content, field) in cases.items():
        path = folder / f"{name.replace(' ', '_')}.csv"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content + "\n", encoding="utf-8")
        out[name] = (path, field)
    return out


def test_bad_csv_exits_2_naming_file_and_column(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name, (path, field) in _bad_csvs(tmp_path).items():
        out = tmp_path / f"out_{path.stem}"
        assert main(["forecast", str(path), "--model", "regression", "--out", str(out)]) == 2, name
        err = capsys.readouterr().err
        assert f"{path.name}: {field}: expected" in err, (name, err)
        assert "Traceback" not in err and not out.exists(), name


# ---------------------------------------------------------------- co-simulation hook


def _balance_residual_kwh(ts: pd.DataFrame, dt_h: float) -> float:
    """Largest |energy balance| residual over VPPs and steps, recomputed from the member rows."""
    members = ts[ts.vpp.notna() & (ts.kind != "vpp")]
    vpps = ts[ts.kind == "vpp"].set_index(["agent", "step"])

    def per_vpp(kinds: tuple[str, ...], values: pd.Series) -> pd.Series:
        rows = members.kind.isin(kinds)
        s = values[rows].groupby([members.vpp[rows], members.step[rows]]).sum()
        return s.rename_axis(["agent", "step"]).reindex(vpps.index, fill_value=0.0)

    supply = per_vpp(("wind", "pv", "generator"), members.p_kw)
    storage = per_vpp(("battery",), members.discharge_kw - members.charge_kw)
    served = per_vpp(("load",), members.load_kw - members.load_curtailed_kw - members.unmet_kw)
    residual = supply + storage + vpps.buy_kw - vpps.sell_kw - served - vpps.spill_kw
    return float((residual.abs() * dt_h).max())


def _scenario(tmp_path: Path, name: str, raw: dict[str, Any]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(SERIES, folder / SERIES.name)
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _day_raw(profiles: str) -> dict[str, Any]:
    raw = yaml.safe_load((data_dir("scenarios") / "liu2025_3vpp.yaml").read_text(encoding="utf-8"))
    raw["market"]["price_policy"] = "passthrough"
    raw["balancing"]["allocator"] = "merit-order"
    raw["forecast_error"] = {q: {"kind": "none"} for q in ("wind", "pv", "load")}
    raw["profiles"] = profiles
    return raw


def test_cosim_plans_on_the_forecast_and_settles_its_error(tmp_path: Path, series: pd.DataFrame) -> None:
    profiles = pd.read_csv(data_dir("scenarios") / "liu2025_3vpp_profiles.csv")
    profile = profiles.vpp1_load_kw.to_numpy(dtype=float)
    # independent forecast: paper 000's regression fitted on the first 90 days, for day 90
    a = np.column_stack([np.ones(len(series)), series.temperature_c, series.humidity_pct])
    y = series.load_kw.to_numpy()
    beta = np.linalg.lstsq(a[: 24 * 90], y[: 24 * 90], rcond=None)[0]
    day = slice(24 * 90, 24 * 91)
    expected_kw = profile * (a[day] @ beta) / y[day]

    raw = _day_raw("profiles.csv")
    raw["vpps"][0]["members"][3]["forecast"] = {"model": "regression", "series": SERIES.name,
                                                "train_days": 90}
    path = _scenario(tmp_path, "hook", raw)
    profiles.to_csv(path.parent / "profiles.csv", index=False)
    model = VPPModel(load_scenario(path))
    model.run()
    ts = model.timeseries()
    assert set(ts.kind) >= {"vpp", "wind", "pv", "battery", "load"}
    assert _balance_residual_kwh(ts, 1.0) <= 1e-6
    load = ts[ts.agent == "VPP1-LOAD"].sort_values("step")
    np.testing.assert_allclose(load.p_forecast_kw, expected_kw, rtol=1e-9)
    np.testing.assert_allclose(load.load_kw, profile, rtol=0, atol=1e-12)  # realized = profile
    assert np.abs(expected_kw - profile).max() > 10.0

    # the same day with the forecast written into the profile and no forecaster: same plan
    twin = _day_raw("profiles.csv")
    twin["vpps"][0]["members"][3]["profile"] = "vpp1_forecast_kw"
    twin_path = _scenario(tmp_path, "twin", twin)
    profiles.assign(vpp1_forecast_kw=expected_kw).to_csv(twin_path.parent / "profiles.csv", index=False)
    ref = VPPModel(load_scenario(twin_path))
    ref.run()
    rts = ref.timeseries()
    for col in ("committed_buy_kw", "committed_sell_kw"):
        np.testing.assert_allclose(ts[ts.agent == "VPP1"].sort_values("step")[col],
                                   rts[rts.agent == "VPP1"].sort_values("step")[col], atol=1e-9)

    # the forecast error is settled: imbalance where the forecast missed, none elsewhere
    imb = ts[ts.kind == "vpp"].pivot(index="step", columns="agent", values="imbalance_kw")
    gap_kw = profile - expected_kw  # more load than planned: the VPP buys more (imbalance > 0)
    assert np.abs(imb.VPP1).max() > 1.0
    # over the day the imbalance is the forecast error, except what the battery shifted: at most
    # its usable energy (per step it may differ: early surplus fills the battery, so later
    # planned charging is sold instead)
    bat = model.loaded.scenario.vpps[0].members[2]
    shift_kwh = (bat.soc_max - bat.soc_min) * bat.capacity_kwh / min(bat.eta_charge, bat.eta_discharge)
    assert np.sign(imb.VPP1.sum()) == np.sign(gap_kw.sum()) != 0
    assert abs(imb.VPP1.sum() - gap_kw.sum()) <= shift_kwh
    assert np.corrcoef(imb.VPP1, gap_kw)[0, 1] > 0.5
    np.testing.assert_allclose(imb[["VPP2", "VPP3"]], 0.0, atol=1e-9)


@pytest.mark.parametrize(("forecast", "field", "words"), [
    ({"model": "prophet", "series": SERIES.name}, "forecast.model", "expected one of ['gbr', 'regression']"),
    ({"series": "nowhere.csv"}, "forecast.series", "expected an existing CSV file"),
    ({"series": SERIES.name, "train_days": 365}, "forecast.train_days", "run days"),
    ({"series": SERIES.name, "train_days": 3}, "forecast.train_days", "greater than or equal to 14"),
    ({"series": SERIES.name, "lags": 3}, "forecast.lags", "unknown field"),
])
def test_bad_forecast_option_is_one_clear_error(tmp_path: Path, forecast: dict[str, Any], field: str,
                                                words: str) -> None:
    raw = _day_raw("liu2025_3vpp_profiles.csv")
    raw["vpps"][0]["members"][3]["forecast"] = forecast
    path = _scenario(tmp_path, "bad", raw)
    shutil.copy(data_dir("scenarios") / "liu2025_3vpp_profiles.csv", path.parent)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert len(exc.value.problems) == 1
    got_field, message = exc.value.problems[0]
    assert got_field == f"vpps[0].members[3].{field}" and words in message, exc.value.problems
