"""`vppsim run / feeders / --version` end to end, and the result-folder contract (docs/design.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import vppsim
import vppsim.results.figures
import vppsim.results.run
from vppsim.cli import main
from vppsim.model import PHASES, VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.folders import INCOMPLETE_SUFFIX
from vppsim.results.run import write_results
from vppsim.scenario.loader import load_scenario

VPPS = ["VPP1", "VPP2", "VPP3"]
FIGURES = {"prices", "exchange", "dispatch", "soc", "network"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# columns that identify a row or are flags/counts, hence have no unit
ID_COLUMNS = {"step", "day", "hour_of_day", "agent", "kind", "vpp", "bus", "fallback", "converged"}
UNIT_SUFFIX = re.compile(r"_(kw|kwh|kvar|cny|cny_per_kwh|pu|pct|h|s|ms|m_s|c|w_m2)$")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`vppsim run --out DIR` on the default scenario (no scenario argument), with figures."""
    out = tmp_path_factory.mktemp("cli") / "run1"
    with pytest.MonkeyPatch.context() as mp:
        captured: list[str] = []
        mp.setattr(sys, "stdout", _Tee(captured))
        code = main(["run", "--out", str(out)])
    return {
        "code": code,
        "out": out,
        "stdout": "".join(captured),
        "summary": json.loads((out / "summary.json").read_text(encoding="utf-8")),
        "ts": pd.read_parquet(out / "timeseries.parquet"),
    }


class _Tee:
    """A minimal stdout replacement that keeps what was printed (module-scoped capsys)."""

    def __init__(self, sink: list[str]) -> None:
        self.sink = sink

    def write(self, text: str) -> int:
        self.sink.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_run_exits_0_and_writes_a_complete_folder(default_run: dict[str, Any]) -> None:
    out: Path = default_run["out"]
    assert default_run["code"] == 0
    assert out.is_dir()
    assert not out.with_name(out.name + INCOMPLETE_SUFFIX).exists()
    names = {p.name for p in out.iterdir()}
    assert {"summary.json", "timeseries.parquet", "report.md", "figures"} <= names
    assert "error.txt" not in names
    assert f"wrote {out}" in default_run["stdout"]
    assert "liu2025_3vpp: seed 2025, 24 h" in default_run["stdout"]


def test_summary_has_every_key_of_the_result_contract(default_run: dict[str, Any]) -> None:
    s = default_run["summary"]
    assert s["scenario"] == "liu2025_3vpp"
    assert s["seed"] == 2025
    assert s["vppsim_version"] == vppsim.__version__
    assert s["horizon_h"] == 24.0
    assert s["days"] == 1 and s["step_h"] == 1.0
    assert list(s["vpp_cost_cny"]) == VPPS
    for key in ("total_vpp_cost_cny", "vpo_profit_cny", "system_cost_cny", "grid_import_kwh",
                "grid_export_kwh", "network_losses_kwh", "curtailment_kwh",
                "peak_grid_import_kw", "peak_feeder_load_kw"):
        assert isinstance(s[key], float), key
    assert 0.0 <= s["renewable_utilization"] <= 1.0
    assert s["curtailment_kwh"] >= 0.0
    assert s["network_losses_kwh"] > 0.0
    assert s["grid_import_kwh"] >= 0.0 and s["grid_export_kwh"] >= 0.0
    cert = s["equilibrium_certificate"]
    assert isinstance(cert, dict) and cert["status"]
    solver = s["solver"]
    assert isinstance(solver, dict)
    assert "iterations" in solver
    assert solver["power_flow"] and solver["lower_level"] and solver["price_policy"] == "game"
    # the search stops in its first population: the tariff passed through reaches the bound
    assert cert["status"] == "computed" and solver["iterations"] >= 0
    assert solver["game"]["days"][0]["stop"] == "stopped at the proven bound"
    assert 0 < solver["game"]["days"][0]["evaluations"] < solver["game"]["budget"]
    wall = s["wall_time_s"]
    for phase in (*PHASES, "load_scenario", "build", "run", "writing"):
        assert wall[phase] >= 0.0, phase


def test_summary_is_consistent_with_the_time_series(default_run: dict[str, Any]) -> None:
    s, ts = default_run["summary"], default_run["ts"]
    vpp, vpo, net = (ts[ts.kind == k] for k in ("vpp", "vpo", "network"))
    per_vpp = vpp.groupby("agent")["cost_cny"].sum()
    for name in VPPS:
        assert s["vpp_cost_cny"][name] == pytest.approx(per_vpp[name], abs=1e-9)
    assert sum(s["vpp_cost_cny"].values()) == pytest.approx(s["total_vpp_cost_cny"], abs=1e-9)
    assert s["system_cost_cny"] == pytest.approx(s["total_vpp_cost_cny"] - s["vpo_profit_cny"], abs=1e-9)
    assert s["vpo_profit_cny"] == pytest.approx(vpo["profit_cny"].sum(), abs=1e-9)
    assert s["system_cost_cny"] == pytest.approx(vpp["cost_cny"].sum() - vpo["profit_cny"].sum(), abs=1e-9)
    assert s["grid_import_kwh"] == pytest.approx(vpo["grid_import_kw"].sum(), abs=1e-9)  # 1 h steps
    assert s["grid_export_kwh"] == pytest.approx(vpo["grid_export_kw"].sum(), abs=1e-9)
    assert s["network_losses_kwh"] == pytest.approx(net["losses_kw"].sum(), abs=1e-9)
    assert s["peak_grid_import_kw"] == pytest.approx(vpo["grid_import_kw"].max(), abs=1e-9)
    # the breakdown adds up to each VPP's cost
    for name, parts in s["vpp_cost_breakdown_cny"].items():
        assert sum(parts.values()) == pytest.approx(s["vpp_cost_cny"][name], abs=1e-6)


def test_timeseries_is_tidy_with_units_in_column_names(default_run: dict[str, Any]) -> None:
    ts = default_run["ts"]
    assert not ts.duplicated(["step", "agent"]).any()
    assert sorted(ts["step"].unique()) == list(range(24))
    agents_per_step = ts.groupby("step")["agent"].apply(frozenset)
    assert agents_per_step.nunique() == 1
    agents = agents_per_step.iloc[0]
    assert {"VPO", "network", *VPPS} <= agents
    assert len(agents) == len(VPPS) + 2 + 12  # VPPs, VPO, network and the 12 members
    assert len(ts) == 24 * len(agents)
    unitless = [c for c in ts.columns if c not in ID_COLUMNS and not UNIT_SUFFIX.search(c)]
    assert unitless == []


def test_report_and_figures(default_run: dict[str, Any]) -> None:
    out: Path = default_run["out"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# liu2025_3vpp")
    pngs = {p.stem: p for p in (out / "figures").glob("*.png")}
    assert FIGURES <= set(pngs)
    for name in FIGURES:
        data = pngs[name].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, name
        assert f"](figures/{name}.png)" in report
    s = default_run["summary"]
    assert f"{s['total_vpp_cost_cny']:,.2f}" in report


def test_two_days_default_folder_and_seed_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--days", "2", "--seed", "7", "--quiet", "--no-figures"]) == 0
    assert "wrote" not in capsys.readouterr().out
    folders = list((tmp_path / "results").iterdir())
    assert len(folders) == 1
    out = folders[0]
    assert re.fullmatch(r"liu2025_3vpp-\d{8}-\d{6}", out.name)
    assert not (out / "figures").exists()
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["days"] == 2 and s["horizon_h"] == 48.0 and s["seed"] == 7
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert sorted(ts["step"].unique()) == list(range(48))
    assert (ts["kind"] == "network").sum() == 48
    assert sorted(ts["day"].unique()) == [0, 1]
    assert not ts.duplicated(["step", "agent"]).any()


def test_feeders_lists_ieee33_and_ieee24(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feeders"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert {"ieee33", "ieee24"} <= set(names)


def test_feeders_in_a_real_process() -> None:
    proc = subprocess.run([sys.executable, "-m", "vppsim.cli", "feeders"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^ieee33\s", proc.stdout, re.M) and re.search(r"^ieee24\s", proc.stdout, re.M)


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"vppsim {vppsim.__version__}"


def test_failure_after_the_run_started_leaves_an_incomplete_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    work = out.with_name(out.name + INCOMPLETE_SUFFIX)

    def broken_figures(*args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError("figure writer exploded")

    # the figures are drawn by draw_run_figures (in a forked child on Linux), which calls this
    monkeypatch.setattr(vppsim.results.figures, "make_figures", broken_figures)
    with pytest.raises(RuntimeError, match="figure writer exploded"):
        main(["run", "--out", str(out), "--quiet"])
    assert not out.exists()
    assert work.is_dir()
    error = (work / "error.txt").read_text(encoding="utf-8")
    assert "Traceback" in error and "figure writer exploded" in error
    # what was written before the failure is kept, but nothing claims to be complete
    assert (work / "timeseries.parquet").is_file()
    assert json.loads((work / "summary.json").read_text(encoding="utf-8"))["scenario"] == "liu2025_3vpp"
    assert not (work / "report.md").exists()

    # a later run with the same --out replaces the stale .incomplete folder
    monkeypatch.undo()
    assert main(["run", "--out", str(out), "--quiet", "--no-figures"]) == 0
    assert out.is_dir() and not work.exists()
    assert not (out / "error.txt").exists()
    assert (out / "report.md").is_file()


def test_write_results_of_a_model_that_never_ran_fails_incomplete(tmp_path: Path) -> None:
    """A real failure inside write_results: a model without any step has no time series."""
    model = VPPModel(load_scenario(default_scenario_path()))
    out = tmp_path / "never_ran"
    with pytest.raises(Exception):  # noqa: B017 - any failure; the folder state is the point
        write_results(model, out, {}, figures=False)
    assert not out.exists()
    work = out.with_name(out.name + INCOMPLETE_SUFFIX)
    assert (work / "error.txt").read_text(encoding="utf-8").startswith("Traceback")
    assert not (work / "summary.json").exists()


def test_failure_during_the_run_keeps_the_steps_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A step that raises mid-run: exit 1, one clear message, the finished steps kept."""
    from vppsim.agents.network import DistributionNetwork

    original = DistributionNetwork.step_power_flow

    def failing(self: DistributionNetwork, t: int) -> None:
        if t == 5:
            raise RuntimeError("injected failure at step 5")
        original(self, t)

    monkeypatch.setattr(DistributionNetwork, "step_power_flow", failing)
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "failed at step 5" in err and "injected failure" in err
    assert not out.exists()
    partial = out.with_name(out.name + INCOMPLETE_SUFFIX)
    assert "injected failure" in (partial / "error.txt").read_text(encoding="utf-8")
    ts = pd.read_parquet(partial / "timeseries.parquet")
    assert sorted(ts["step"].unique()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("stop", "code", "said"), [
    ("Terminated", 143, "terminated (SIGTERM)"), ("KeyboardInterrupt", 130, "interrupted")])
def test_a_signal_while_an_extension_initializes_is_a_clean_stop(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        stop: str, code: int, said: str) -> None:
    """pybind11 turns Ctrl-C or SIGTERM during a compiled module's import into
    "ImportError: initialization failed" raised from it (seen with lightsim2grid while
    ``vppsim run`` imported its implementation): exit 130/143 as for the signal itself."""
    cli_main = sys.modules["vppsim.cli.main"]
    interrupt = cli_main.Terminated() if stop == "Terminated" else KeyboardInterrupt()

    def importing(name: str, package: str | None = None) -> Any:
        raise ImportError("initialization failed") from interrupt

    monkeypatch.setattr(cli_main.importlib, "import_module", importing)
    assert main(["run", "--quiet", "--no-figures", "--out", str(tmp_path / "out")]) == code
    assert f"vppsim: {said}; what was written so far is kept" in capsys.readouterr().err

    def broken(name: str, package: str | None = None) -> Any:
        raise ImportError("no module named x")  # any other ImportError is not hidden

    monkeypatch.setattr(cli_main.importlib, "import_module", broken)
    with pytest.raises(ImportError, match="no module named x"):
        main(["run", "--quiet", "--no-figures", "--out", str(tmp_path / "out2")])


def test_ctrl_c_while_the_parser_is_built_is_a_clean_stop(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Timed SIGINTs found it: building the parser takes a moment, and a Ctrl-C then was an
    uncaught KeyboardInterrupt (a traceback, exit -2)."""
    cli_main = sys.modules["vppsim.cli.main"]

    def interrupted() -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "build_parser", interrupted)
    assert main(["run", "--quiet"]) == 130
    assert "vppsim: interrupted" in capsys.readouterr().err
