"""Power-flow non-convergence and voltages outside the band, as summary, report and console say.

The scenarios are the shipped default day with the feeder's own loads scaled up
(``feeder.background_load_scale``): at 3.6 the evening peak's power flows diverge while the
rest converge; at 50 none converges. The equilibrium-certificate sections of ``report.md``
(``vppsim run`` with the game price policy, and ``vppsim game``) must show numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from vppsim.cli import main
from vppsim.results.folders import INCOMPLETE_SUFFIX

PARTLY_FAILING_SCALE = 3.6  # the evening peak (steps 17-20 here) diverges, the rest converges
ALL_FAILING_SCALE = 8.0  # no step converges (50, the example, is now out of range: <= 10)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _folder(out: Path) -> dict[str, Any]:
    return {
        "summary": json.loads((out / "summary.json").read_text(encoding="utf-8")),
        "report": (out / "report.md").read_text(encoding="utf-8"),
        "ts": pd.read_parquet(out / "timeseries.parquet"),
        "vm": pd.read_parquet(out / "bus_voltages.parquet"),
    }


def _scaled(raw: dict[str, Any], scale: float) -> dict[str, Any]:
    """The default day, passthrough prices (no game: faster), feeder loads times ``scale``."""
    raw["market"]["price_policy"] = "passthrough"
    raw["feeder"]["background_load_scale"] = scale
    return raw


def _section(report: str, title: str) -> str:
    return report.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``vppsim run`` of the default scenario (game price policy): its folder and console text."""
    out = tmp_path_factory.mktemp("default") / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", "--out", str(out), "--no-figures"])
    assert code == 0
    return {**_folder(out), "stdout": printed.getvalue()}


def test_default_scenario_flags_its_voltage_excursion(default_run: dict[str, Any]) -> None:
    """The default day (all converged) dips to 0.891 pu at bus 17: summary, report, console."""
    r, stdout = default_run, default_run["stdout"]
    s = r["summary"]
    assert s["n_steps"] == 24 and s["power_flow_steps_converged"] == 24
    assert s["power_flow_status"] == "converged"
    assert s["voltage_band_pu"] == [0.9, 1.1]
    assert s["min_voltage_pu"] == pytest.approx(0.8911, abs=1e-4)
    # the steps outside the band, recomputed from the network rows of the time series
    net = r["ts"][r["ts"].kind == "network"]
    low = sorted(int(t) for t in net.loc[net["vm_min_pu"] < 0.9, "step"])
    assert low and s["voltage_band_violation_steps"] == low
    # where: the bus and step of the lowest voltage, from the per-bus table
    vm = r["vm"]
    assert len(vm) == 24 * vm["bus"].nunique()
    worst = vm.loc[vm["vm_pu"].idxmin()]
    assert float(worst["vm_pu"]) == pytest.approx(s["min_voltage_pu"], abs=1e-12)
    assert (s["min_voltage_bus"], s["min_voltage_step"]) == (int(worst["bus"]), int(worst["step"]))
    assert s["min_voltage_bus"] == 17  # VPP1's bus, the end of the long lateral
    assert s["buses_outside_voltage_band"] == sorted(
        int(b) for b in vm.loc[vm["vm_pu"] < 0.9, "bus"].unique())
    assert len(s["warnings"]) == 1 and "0.8911 pu at bus 17" in s["warnings"][0]
    warning = _section(r["report"], "Warnings")
    assert "0.8911 pu at bus 17" in warning and f"in {len(low)} of 24 converged steps" in warning
    assert "WARNING: bus voltage outside the band 0.9-1.1 pu" in stdout
    assert "0.8911 pu at bus 17" in stdout
    assert "power flow converged in 24 of 24 steps" in stdout


def test_run_report_shows_the_equilibrium_certificate_and_both_costs(
    default_run: dict[str, Any],
) -> None:
    """``vppsim run`` under the game policy: the certificate's numbers; planned and realized costs."""
    r, stdout = default_run, default_run["stdout"]
    cert = r["summary"]["equilibrium_certificate"]
    assert cert["status"] == "computed"
    section = _section(r["report"], "Equilibrium certificate")
    assert f"epsilon = {cert['epsilon_cny']:.3e} CNY" in section
    day = cert["days"][0]
    for vpp, regret in day["vpp_regret_cny"].items():
        assert f"| {vpp} | {regret:.3e} |" in section
    assert f"| VPO vs {day['reference']} | {day['vpo_regret_cny']:.3e} |" in section
    # the console names both costs: planned day-ahead (the README's) and realized
    s = r["summary"]
    planned = ", ".join(f"{k} {v:,.2f}" for k, v in s["day_ahead_vpp_cost_cny"].items())
    realized = ", ".join(f"{k} {v:,.2f}" for k, v in s["vpp_cost_cny"].items())
    assert f"planned day-ahead cost (CNY): {planned}" in stdout
    assert f"realized cost incl. imbalance settlement (CNY): {realized}" in stdout
    assert "VPP cost (CNY)" not in stdout


def test_some_steps_not_converged_are_counted_and_aggregates_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], default_scenario_raw: dict[str, Any],
    write_scenario_copy: Callable[..., Path],
) -> None:
    """Peak hours diverge: the count is everywhere, and losses/voltages say they cover N of M."""
    path = write_scenario_copy(_scaled(default_scenario_raw, PARTLY_FAILING_SCALE), "partly")
    out = tmp_path / "partly-out"
    code, stdout, _ = _run(["run", str(path), "--out", str(out), "--no-figures"], capsys)
    assert code == 0
    r = _folder(out)
    s = r["summary"]
    net = r["ts"][r["ts"].kind == "network"]
    ok = net["converged"].astype(bool)
    n, n_ok = len(net), int(ok.sum())
    assert 0 < n_ok < n, "the scale no longer makes only some steps fail"
    assert (s["n_steps"], s["power_flow_steps_converged"]) == (n, n_ok)
    assert s["power_flow_status"] == "partly_converged"
    failed = [int(t) for t in net.loc[~ok, "step"]]
    assert s["power_flow_nonconverged_steps"] == failed
    assert s["network_losses_kwh"] == pytest.approx(net.loc[ok, "losses_kw"].sum() * 1.0)
    # the failed steps carry NaN voltages in the per-bus table, the others a value at every bus
    vm = r["vm"]
    assert vm.loc[vm["step"].isin(failed), "vm_pu"].isna().all()
    assert vm.loc[~vm["step"].isin(failed), "vm_pu"].notna().all()
    text = f"did not converge in {n - n_ok} of {n} steps"
    assert any(text in w for w in s["warnings"])
    assert text in _section(r["report"], "Warnings")
    cover = f"(over {n_ok} of {n} steps)"
    report = r["report"]
    assert re.search(rf"\| network losses \(kWh\) \| [\d,.]+ {re.escape(cover)} \|", report)
    assert re.search(rf"\| min / max bus voltage \(pu\) \| [\d.]+ / [\d.]+ {re.escape(cover)} \|",
                     report)
    assert f"| power flows not converged | {n - n_ok} of {n} steps |" in report
    assert f"power flow converged in {n_ok} of {n} steps; over those {n_ok} steps: losses" in stdout
    assert f"WARNING: the power flow {text}" in stdout


def test_every_step_failing_completes_with_a_result_folder_that_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], default_scenario_raw: dict[str, Any],
    write_scenario_copy: Callable[..., Path],
) -> None:
    """No power flow converges: no crash, exit 0, a complete folder and words, not numbers."""
    path = write_scenario_copy(_scaled(default_scenario_raw, ALL_FAILING_SCALE), "failing")
    out = tmp_path / "failing-out"
    code, stdout, stderr = _run(["run", str(path), "--out", str(out), "--no-figures"], capsys)
    assert code == 0, stderr
    assert out.is_dir() and not out.with_name(out.name + INCOMPLETE_SUFFIX).exists()
    r = _folder(out)
    s = r["summary"]
    assert (s["n_steps"], s["power_flow_steps_converged"]) == (24, 0)
    assert s["power_flow_status"] == "not_converged"
    assert s["power_flow_nonconverged_steps"] == list(range(24))
    for key in ("network_losses_kwh", "min_voltage_pu", "max_voltage_pu", "min_voltage_bus",
                "min_voltage_step", "peak_feeder_load_kw"):
        assert s[key] is None, key
    assert s["voltage_band_violation_steps"] == [] and s["buses_outside_voltage_band"] == []
    assert r["vm"]["vm_pu"].isna().all()
    assert "converged in none of the 24 steps" in s["warnings"][0]
    assert "converged in none of the 24 steps" in _section(r["report"], "Warnings")
    assert "| power flows not converged | 24 of 24 steps |" in r["report"]
    assert "power flow converged in 0 of 24 steps: no losses or voltages" in stdout
    assert "WARNING: the power flow converged in none of the 24 steps" in stdout


def test_voltage_band_is_configurable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], default_scenario_raw: dict[str, Any],
    write_scenario_copy: Callable[..., Path],
) -> None:
    """``feeder.voltage_band``: a band of 0.85-1.05 pu lets the default day's 0.891 pu pass."""
    raw = _scaled(default_scenario_raw, 1.0)
    raw["feeder"]["voltage_band"] = {"min_pu": 0.85, "max_pu": 1.05}
    path = write_scenario_copy(raw, "wide")
    out = tmp_path / "wide-out"
    code, stdout, _ = _run(["run", str(path), "--out", str(out), "--no-figures"], capsys)
    assert code == 0
    r = _folder(out)
    s = r["summary"]
    assert s["voltage_band_pu"] == [0.85, 1.05]
    assert 0.85 < s["min_voltage_pu"] < 0.9 and s["max_voltage_pu"] <= 1.05
    assert s["voltage_band_violation_steps"] == [] and s["warnings"] == []
    assert "WARNING" not in stdout and "## Warnings" not in r["report"]
    assert "| steps outside the voltage band 0.85-1.05 pu | 0 of 24 converged |" in r["report"]


@pytest.mark.parametrize("band, field, expected", [
    ({"min_pu": 1.1, "max_pu": 0.9}, "feeder.voltage_band", "expected min_pu < max_pu"),
    ({"min_pu": 0.0, "max_pu": 1.1}, "feeder.voltage_band.min_pu",
     "Input should be greater than 0"),
    ({"low": 0.9}, "feeder.voltage_band.low", "unknown field"),
])
def test_a_bad_voltage_band_is_one_clear_error(
    band: dict[str, Any], field: str, expected: str, capsys: pytest.CaptureFixture[str],
    default_scenario_raw: dict[str, Any], write_scenario_copy: Callable[..., Path],
) -> None:
    default_scenario_raw["feeder"]["voltage_band"] = band
    path = write_scenario_copy(default_scenario_raw, "bad")
    code, _, stderr = _run(["validate", str(path)], capsys)
    assert code == 2
    assert f"{path}: {field}: {expected}" in stderr and "Traceback" not in stderr


def test_game_report_certificate_shows_its_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vppsim game``: epsilon and the VPO's regret at their size, not rounded to 0.0000."""
    out = tmp_path / "game"
    code, _, _ = _run(["game", "--budget", "40", "--out", str(out), "--quiet"], capsys)
    assert code == 0
    cert = json.loads((out / "summary.json").read_text(encoding="utf-8"))["equilibrium_certificate"]
    section = _section((out / "report.md").read_text(encoding="utf-8"), "Equilibrium certificate")
    assert f"epsilon = {cert['epsilon_cny']:.3e} CNY ({cert['epsilon_rel']:.3e} relative)" in section
    assert f"| VPO vs {cert['reference']} | {cert['vpo_regret_cny']:.3e} |" in section
    assert f"{cert['reference_objective_cny']:,.2f} CNY" in section
