"""Sensitivity grids (`vppsim montecarlo --grid`) and scenario inheritance (`extends:`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from vppsim.cli import main
from vppsim.montecarlo.sensitivity import COLUMNS, run_grid
from vppsim.paths import data_dir, default_scenario_path
from vppsim.scenario.loader import load_scenario
from vppsim.scenario.schema import ScenarioError

SENSITIVITY_YAML = data_dir("scenarios") / "sensitivity_001.yaml"


def test_shipped_grid_extends_the_default_scenario() -> None:
    grid = load_scenario(SENSITIVITY_YAML).scenario
    base = load_scenario(default_scenario_path()).scenario
    assert grid.name == "sensitivity_001" and base.name == "liu2025_3vpp"
    assert grid.vpps == base.vpps and grid.tariff == base.tariff  # inherited
    assert grid.balancing.allocator == "ga-aco"
    names = [c.name for c in grid.sensitivity.cases]
    assert names == ["wind_pv_10pct", "wind_pv_20pct", "wind_pv_30pct", "load_err_5pct",
                     "load_err_10pct", "load_err_15pct", "wind20_pv20_load10",
                     "wind30_pv10_load15"]
    assert grid.sensitivity.cases[0].paper.deviation_pct == 3.2  # paper 001 Table 5


@pytest.mark.extended
def test_grid_runs_cases_resumes_and_shows_the_trend(tmp_path: Path) -> None:
    """Two cases (wind/PV +-10 % and +-30 %) of 6 samples on a 1-worker LocalCluster: the
    deviation rate rises and the stability index falls with the fluctuation; a re-run
    computes nothing and gives the same table."""
    loaded = load_scenario(SENSITIVITY_YAML)
    spec = loaded.scenario.sensitivity.model_dump()
    spec["cases"] = [spec["cases"][0], spec["cases"][2]]
    loaded = loaded.with_overrides(
        market={**loaded.scenario.market.model_dump(), "price_policy": "passthrough"},
        sensitivity=spec)
    out = tmp_path / "grid"
    table = run_grid(loaded, 6, out, seed=3, workers=1, progress=False)
    assert list(table.columns)[:len(COLUMNS)] == list(COLUMNS)
    assert table["case"].tolist() == ["wind_pv_10pct", "wind_pv_30pct"]
    assert (table["samples"] == 6).all() and (table["errors"] == 0).all()
    lo, hi = table.iloc[0], table.iloc[1]
    assert 0 < lo.deviation_pct < hi.deviation_pct
    assert 1.0 > lo.stability_index > hi.stability_index > 0.0
    assert lo.paper_deviation_pct == 3.2 and hi.paper_stability_index == 0.852
    assert lo.allocation_ms_per_problem > 0 and lo.single_problem_ms > 0
    for name in ("sensitivity.md", "sensitivity.parquet", "sensitivity.json", "sensitivity.png",
                 "wind_pv_10pct/kpis.parquet", "wind_pv_30pct/report.md"):
        assert (out / name).is_file(), name
    md = (out / "sensitivity.md").read_text(encoding="utf-8")
    assert "| wind_pv_30pct |" in md and "deviation %" in md
    rerun = run_grid(loaded, 6, out, seed=3, workers=1, progress=False)
    cols = ["case", "samples", "deviation_pct", "deviation_sd_pct", "stability_index",
            "imbalance_kwh", "system_cost_cny"]
    pd.testing.assert_frame_equal(rerun[cols], table[cols], check_exact=True)
    assert rerun["allocation_ms_per_problem"].isna().all()  # nothing computed on the resume
    assert json.loads((out / "sensitivity.json").read_text())["n_samples"] == 6


def test_grid_without_a_sensitivity_section_exits_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["montecarlo", str(default_scenario_path()), "--samples", "2", "--grid",
                 "--out", str(tmp_path / "g")])
    assert code == 2
    assert "sensitivity: expected a sensitivity section" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def _write(folder: Path, name: str, raw: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    base_raw = yaml.safe_load(default_scenario_path().read_text(encoding="utf-8"))
    (tmp_path / base_raw["profiles"]).write_bytes(
        (default_scenario_path().parent / base_raw["profiles"]).read_bytes())
    _write(tmp_path, "base.yaml", base_raw)
    child = _write(tmp_path, "child.yaml", {
        "extends": "base.yaml", "name": "child",
        "market": {"price_policy": "passthrough"},  # merged: the rest of market stays
        "assumptions": ["only this"],                # replaced
    })
    s = load_scenario(child).scenario
    assert s.name == "child" and s.market.price_policy == "passthrough"
    assert s.market.imbalance_penalty == base_raw["market"]["imbalance_penalty"]
    assert s.assumptions == ["only this"]


@pytest.mark.parametrize(("extends", "expected"), [
    ("missing.yaml", "extends: expected an existing YAML file"),
    ("a.yaml", "extends: expected no cycle"),
    (3, "extends: expected the path of a base scenario YAML file"),
])
def test_bad_extends_is_a_clear_error(tmp_path: Path, extends: Any, expected: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "b.yaml", {"extends": "a.yaml", "name": "b"})
    path = _write(tmp_path, "a.yaml", {"extends": extends, "name": "a"})
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(path)
    assert main(["validate", str(path)]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.extended
def test_montecarlo_allocation_gap_flag_reports_the_gap(tmp_path: Path) -> None:
    """`--allocation-gap` solves every step's exact LP: the GA-ACO's largest gap per sample is
    finite, never negative and small; without it the gap is not computed (NaN)."""
    out = tmp_path / "gap"
    assert main(["montecarlo", "--samples", "3", "--workers", "1", "--allocation-gap",
                 "--quiet", "--out", str(out)]) == 0
    gap = pd.read_parquet(out / "kpis.parquet")["allocation_gap_max"]
    assert gap.notna().all() and (gap >= -1e-9).all() and (gap <= 1e-3).all()
    plain = tmp_path / "plain"
    assert main(["montecarlo", "--samples", "2", "--workers", "1", "--quiet",
                 "--out", str(plain)]) == 0
    assert pd.read_parquet(plain / "kpis.parquet")["allocation_gap_max"].isna().all()
