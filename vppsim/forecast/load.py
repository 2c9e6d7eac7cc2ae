"""Day-ahead load forecasting from weather and calendar (paper 000 section 2 (3), issue 14).

A series is an hourly table ``timestamp, temperature_c, humidity_pct, load_kw``
(:func:`read_load_weather` checks it). Features (:func:`load_features`) are the hour of day,
the weekday, the temperature and humidity of the hour being forecast (taken as known: a perfect
weather forecast, as paper 000's regression assumes) and the load 24 h and 168 h earlier. Lags
are at least one day, so the whole of day D is forecast from data up to the end of day D-1:
no value of day D or later enters its forecast.

Forecasters share one interface, ``fit(X, y)`` then ``predict(X)`` on feature tables:

- ``regression``: paper 000 eq. 8, ``P_t = b0 + b1*T_t + b2*H_t``, ordinary least squares
  (numpy); it uses temperature and humidity only, as the paper states.
- ``gbr``: scikit-learn's ``HistGradientBoostingRegressor`` on all six features (optional
  dependency, extra ``forecast``; imported only when this model is built).

:func:`evaluate` fits every model on the first part of the series and scores it on the last
``test_days`` days (a chronological split; :mod:`vppsim.forecast.accuracy`).
:func:`day_ahead_ratio` gives the co-simulation a forecaster's relative error on chosen days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from vppsim.forecast.accuracy import MAPE_ZERO_GUARD, mae, mape, rmse
from vppsim.scenario.schema import ScenarioError

#: the columns of a load + weather series, in order
SERIES_COLUMNS: tuple[str, ...] = ("timestamp", "temperature_c", "humidity_pct", "load_kw")
#: the feature columns built by :func:`load_features`
FEATURES: tuple[str, ...] = ("hour", "weekday", "temperature_c", "humidity_pct",
                             "load_lag_24h_kw", "load_lag_168h_kw")
#: paper 000 eq. 8's regressors
REGRESSION_FEATURES: tuple[str, ...] = ("temperature_c", "humidity_pct")
#: fewest training days (the weekly lag needs a week of history before it is defined)
MIN_TRAIN_DAYS = 14


class Forecaster(Protocol):
    """A load forecaster: fit on a feature table and the load, then predict the load (kW)."""

    name: str

    def fit(self, x_train: pd.DataFrame, y_train: np.ndarray) -> Forecaster:
        """Fit on features ``x_train`` and load ``y_train`` (kW); returns itself."""
        ...

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Predicted load (kW) for each row of ``x``."""
        ...


class RegressionForecaster:
    """Paper 000 eq. 8: ``P_t = b0 + b1*T_t + b2*H_t`` by least squares (``coef_`` = b0, b1, b2)."""

    name = "regression"

    def __init__(self, seed: int = 0) -> None:
        self.coef_: np.ndarray | None = None  # deterministic: the seed is not used

    @staticmethod
    def _design(x: pd.DataFrame) -> np.ndarray:
        cols = x[list(REGRESSION_FEATURES)].to_numpy(dtype=float)
        return np.column_stack([np.ones(len(cols)), cols])

    def fit(self, x_train: pd.DataFrame, y_train: np.ndarray) -> RegressionForecaster:
        """Least-squares coefficients (b0 kW, b1 kW/C, b2 kW/%) on the training rows."""
        self.coef_, *_ = np.linalg.lstsq(self._design(x_train), np.asarray(y_train, float), rcond=None)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """``b0 + b1*T + b2*H`` for each row, kW."""
        if self.coef_ is None:
            raise RuntimeError("fit the regression before predicting")
        return self._design(x) @ self.coef_


class GradientBoostingForecaster:
    """scikit-learn's ``HistGradientBoostingRegressor`` on calendar, weather and lagged load.

    Missing lags (the first week of a series) are left as NaN, which the model handles. Fixed
    hyper-parameters (200 iterations, learning rate 0.1, no early stopping) and ``seed`` make
    it deterministic. It fits and predicts on one OpenMP thread: on a year of hours a fit takes
    about 1 s that way, and about 11 s with two threads on a busy two-core machine.
    """

    name = "gbr"

    def __init__(self, seed: int = 0) -> None:
        # scikit-learn: about 1 s to import; only runs that use this model need it
        from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: PLC0415
        from threadpoolctl import threadpool_limits  # noqa: PLC0415 - comes with scikit-learn

        self._one_thread = threadpool_limits
        self.model: Any = HistGradientBoostingRegressor(
            max_iter=200, learning_rate=0.1, early_stopping=False, random_state=seed)

    def fit(self, x_train: pd.DataFrame, y_train: np.ndarray) -> GradientBoostingForecaster:
        """Fit the boosted trees on all features."""
        with self._one_thread(limits=1):
            self.model.fit(x_train[list(FEATURES)].to_numpy(dtype=float), np.asarray(y_train, float))
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Predicted load for each row, kW."""
        with self._one_thread(limits=1):
            pred = self.model.predict(x[list(FEATURES)].to_numpy(dtype=float))
        return np.asarray(pred, dtype=float)


#: forecaster name -> constructor taking a seed
FORECASTERS: dict[str, Callable[[int], Forecaster]] = {
    "regression": RegressionForecaster, "gbr": GradientBoostingForecaster}


def make_forecaster(name: str, seed: int = 0) -> Forecaster:
    """A new, unfitted forecaster by name (a key of :data:`FORECASTERS`)."""
    if name not in FORECASTERS:
        raise ValueError(f"expected a forecaster among {sorted(FORECASTERS)}, got {name!r}")
    return FORECASTERS[name](seed)


# ---------------------------------------------------------------- the series


def _numeric_problem(table: pd.DataFrame, column: str, name: str) -> str | None:
    values = pd.to_numeric(table[column], errors="coerce")
    arr = values.to_numpy(dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(bad.argmax())
        got = table[column].iloc[row]
        got = ("an empty or missing value" if pd.isna(got)
               else f"{got:g}" if isinstance(got, int | float) else repr(got))
        return f"expected finite numbers, got {got} at row {row + 2} of {name}"
    if column == "load_kw" and (arr < 0).any():
        row = int((arr < 0).argmax())
        return f"expected non-negative load, got {arr[row]:g} at row {row + 2} of {name}"
    return None


def _timestamps(table: pd.DataFrame, name: str) -> tuple[pd.Series, str | None]:
    """The parsed ``timestamp`` column and what is wrong with it (or None)."""
    stamps = pd.to_datetime(table["timestamp"], errors="coerce", format="ISO8601")
    if stamps.isna().any():
        row = int(stamps.isna().to_numpy().argmax())
        return stamps, (f"expected ISO 8601 date-times, got {table['timestamp'].iloc[row]!r} at row "
                        f"{row + 2} of {name}")
    steps = stamps.diff().iloc[1:] != pd.Timedelta(hours=1)
    if steps.any():
        row = int(steps.to_numpy().argmax()) + 1
        return stamps, (f"expected hourly steps, got {stamps.iloc[row] - stamps.iloc[row - 1]} "
                        f"before row {row + 2} of {name}")
    return stamps, None


def read_load_weather(path: str | Path) -> pd.DataFrame:
    """Read and check an hourly load + weather CSV (columns :data:`SERIES_COLUMNS`).

    Timestamps are ISO 8601 (``2023-01-01 00:00``), one per consecutive hour.

    Raises
    ------
    ScenarioError
        Naming the file and the column: unreadable or not UTF-8, a missing column, a value that
        is not a finite number, a negative load, timestamps that are not consecutive hours.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(path, [("file", "expected an existing CSV file")], what="input file")
    try:
        table = pd.read_csv(path, encoding="utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.start + 1]
        raise ScenarioError(path, [("encoding", f"expected UTF-8 text, got the byte {bad!r} "
                                                "that is not UTF-8")], what="input file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ScenarioError(path, [("file", f"expected a readable CSV file: {str(exc).strip()}")],
                            what="input file") from None
    missing = [c for c in SERIES_COLUMNS if c not in table.columns]
    if missing:
        raise ScenarioError(path, [(c, f"expected a column {c!r}, got columns "
                                       f"{list(table.columns)}") for c in missing],
                            what="input file")
    problems = [(c, p) for c in SERIES_COLUMNS[1:]
                if (p := _numeric_problem(table, c, path.name)) is not None]
    stamps, problem = _timestamps(table, path.name)
    if problem is not None:
        problems.insert(0, ("timestamp", problem))
    if problems:
        raise ScenarioError(path, problems, what="input file")
    out = table[list(SERIES_COLUMNS)].copy()
    out["timestamp"] = stamps
    for c in SERIES_COLUMNS[1:]:
        out[c] = pd.to_numeric(out[c]).astype(float)
    return out.reset_index(drop=True)


def load_features(series: pd.DataFrame) -> pd.DataFrame:
    """The feature table (:data:`FEATURES`), one row per hour of ``series``.

    The lags shift the load by 24 and 168 rows (hours); the first rows have NaN lags.
    """
    stamps = pd.DatetimeIndex(series["timestamp"])
    load = series["load_kw"].astype(float)
    return pd.DataFrame({
        "hour": stamps.hour.to_numpy(dtype=float), "weekday": stamps.dayofweek.to_numpy(dtype=float),
        "temperature_c": series["temperature_c"].to_numpy(dtype=float),
        "humidity_pct": series["humidity_pct"].to_numpy(dtype=float),
        "load_lag_24h_kw": load.shift(24).to_numpy(), "load_lag_168h_kw": load.shift(168).to_numpy(),
    })


def split_row(n_rows: int, test_days: int) -> int:
    """First row of the test part: the last ``test_days`` days; at least 14 days before it.

    Raises ``ValueError`` (saying how many rows are needed) if the series is too short.
    """
    if test_days < 1:
        raise ValueError(f"expected at least 1 test day, got {test_days}")
    need = 24 * (MIN_TRAIN_DAYS + test_days)
    if n_rows < need:
        raise ValueError(f"expected at least {need} hourly rows ({MIN_TRAIN_DAYS} training days + "
                         f"{test_days} test days), got {n_rows}")
    return n_rows - 24 * test_days


@dataclass(frozen=True)
class Evaluation:
    """Out-of-sample errors per model and the test-part forecasts.

    ``metrics``: one row per model (``model, mae_kw, rmse_kw, mape_pct, train_hours,
    test_hours``); ``forecast``: ``timestamp, actual_kw`` and one ``<model>_kw`` column per model.
    """

    metrics: pd.DataFrame
    forecast: pd.DataFrame


def evaluate(series: pd.DataFrame, models: Sequence[str], test_days: int, seed: int = 0) -> Evaluation:
    """Fit each model on all but the last ``test_days`` days and score it on those days.

    Every model sees the same split; the fitted model forecasts each test day from the
    features of that day (lags from earlier days), without refitting.
    """
    start = split_row(len(series), test_days)
    x = load_features(series)
    y = series["load_kw"].to_numpy(dtype=float)
    fc = pd.DataFrame({"timestamp": series["timestamp"].iloc[start:].to_numpy(), "actual_kw": y[start:]})
    rows = []
    for name in models:
        pred = make_forecaster(name, seed).fit(x.iloc[:start], y[:start]).predict(x.iloc[start:])
        fc[f"{name}_kw"] = pred
        rows.append({"model": name, "mae_kw": mae(y[start:], pred), "rmse_kw": rmse(y[start:], pred),
                     "mape_pct": mape(y[start:], pred), "train_hours": start,
                     "test_hours": len(y) - start})
    return Evaluation(metrics=pd.DataFrame(rows), forecast=fc)


def day_ahead_ratio(series: pd.DataFrame, model: str, train_days: int, n_days: int,
                    seed: int = 0) -> np.ndarray:
    """A forecaster's relative forecast ``forecast / actual`` for ``n_days`` days of the series.

    The model is fitted on the first ``train_days`` days and forecasts days ``train_days`` ..
    ``train_days + n_days - 1`` (0-based); one value per hour. Raises ``ValueError`` if the
    series is too short or an actual load there is at most the MAPE zero guard.
    """
    start, stop = 24 * train_days, 24 * (train_days + n_days)
    if train_days < MIN_TRAIN_DAYS or stop > len(series):
        raise ValueError(f"expected at least {MIN_TRAIN_DAYS} training days and {train_days} + "
                         f"{n_days} days in the series, got {len(series) / 24:g} days")
    x = load_features(series)
    y = series["load_kw"].to_numpy(dtype=float)
    if (y[start:stop] <= MAPE_ZERO_GUARD).any():
        raise ValueError("expected positive load_kw on the forecast days (a relative error of "
                         "a zero load is undefined)")
    pred = make_forecaster(model, seed).fit(x.iloc[:start], y[:start]).predict(x.iloc[start:stop])
    return pred / y[start:stop]
