"""CLI polish (issue 16): `--quiet` and `--json` on every command, `vppsim scenarios`, `--quick`.

`--json` prints one JSON value on stdout and nothing else (progress and messages on stderr);
`--quiet` prints nothing on stdout. The figures checked against come from elsewhere: the
result folder's own summary.json, the YAML files read here, the full scenario loader, the
feeder registry.
"""

from __future__ import annotations

import argparse
import json
import runpy
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from vppsim.cli import main
from vppsim.cli.impl.scenarios import shipped_scenarios
from vppsim.cli.main import build_parser
from vppsim.grids import FEEDERS
from vppsim.paths import data_dir, default_scenario_path
from vppsim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
#: every command, as typed (a new one must take --quiet and --json too)
COMMANDS = {"run", "validate", "feeders", "scenarios", "game", "equilibria", "montecarlo",
            "allocate", "uc", "forecast", "pareto", "scenario from-feeder", "dashboard"}


def _commands(parser: argparse.ArgumentParser, words: str = "") -> dict[str, argparse.ArgumentParser]:
    """The parser of every command, found by walking argparse's sub-parsers."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {words.strip(): parser}
    found: dict[str, argparse.ArgumentParser] = {}
    for action in subs:
        for name, sub in action.choices.items():
            found.update(_commands(sub, f"{words}{name} "))
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def test_every_command_takes_quiet_and_json() -> None:
    commands = _commands(build_parser())
    assert set(commands) == COMMANDS
    for name, parser in commands.items():
        assert {"--quiet", "--json"} <= _options(parser), name


def test_top_help_lists_every_command_with_its_purpose(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    lines = capsys.readouterr().out.splitlines()
    for name in {c.split()[0] for c in COMMANDS}:
        line = next((x for x in lines if x.split()[:1] == [name]), None)
        assert line is not None and len(line.split()) > 2, name  # the name, then its purpose


def _json_only(out: str) -> Any:
    """The one JSON value ``out`` holds (json.loads fails on anything else beside it)."""
    assert out.endswith("\n") and out.count("\n") == 1, out[:500]
    return json.loads(out)


def test_validate_json_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    path = default_scenario_path()
    assert main(["validate", str(path), "--json"]) == 0
    got = _json_only(capsys.readouterr().out)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert got["valid"] is True and got["errors"] == []
    assert got["scenario"] == str(path)
    assert got["vpps"] == len(raw["vpps"])
    assert got["members"] == sum(len(v["members"]) for v in raw["vpps"])
    assert main(["validate", str(path), "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_json_on_bad_input_exits_2_with_the_message_on_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndays: 0\n", encoding="utf-8")
    assert main(["validate", str(bad), "--json"]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert "bad.yaml" in printed.err and "days" in printed.err


def test_feeders_json_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feeders", "--json"]) == 0
    got = _json_only(capsys.readouterr().out)
    assert [f["name"] for f in got] == list(FEEDERS)
    assert all(f["description"] == FEEDERS[f["name"]].description for f in got)
    assert main(["feeders", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_scenarios_lists_every_shipped_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(p.name for p in data_dir("scenarios").glob("*.yaml"))
    assert main(["scenarios"]) == 0
    text = capsys.readouterr().out
    listed = [w[0] for w in map(str.split, text.splitlines()) if w and w[0].endswith(".yaml")]
    assert listed == files
    assert main(["scenarios", "--json"]) == 0
    got = _json_only(capsys.readouterr().out)
    assert [r["file"] for r in got["scenarios"]] == files
    assert "invalid" not in {r["kind"] for r in got["scenarios"]}
    assert main(["scenarios", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_scenarios_rows_agree_with_the_full_loader() -> None:
    """Horizon, VPPs, feeder and price policy as load_scenario reads them (SimBench: the YAML)."""
    rows = {r["file"]: r for r in shipped_scenarios()}
    for name, row in rows.items():
        path = data_dir("scenarios") / name
        if row["kind"] != "scenario":
            assert row["kind"] in ("allocation case", "uc case"), name
            continue
        if "simbench" in name:  # building the net takes seconds: the YAML's own fields
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            assert (row["days"], row["vpps"], row["feeder"]) == (
                raw["days"], len(raw["vpps"]), raw["feeder"]["simbench"]), name
            continue
        s = load_scenario(path).scenario
        assert (row["days"], row["step_h"], row["vpps"], row["feeder"], row["price_policy"]) == (
            s.days, s.step_h, len(s.vpps), s.feeder.name, s.market.price_policy), name
        assert row["description"] == " ".join(s.description.split()), name


def test_scenarios_listing_builds_no_net() -> None:
    start = time.perf_counter()
    shipped_scenarios()
    assert time.perf_counter() - start < 2.0  # building one SimBench net alone takes ~4 s


@pytest.fixture
def passthrough_scenario(default_scenario_raw: dict[str, Any],
                         write_scenario_copy: Callable[..., Path]) -> Path:
    """The default day with the tariff passed through (no game: a run of a few seconds)."""
    default_scenario_raw["market"]["price_policy"] = "passthrough"
    return write_scenario_copy(default_scenario_raw, "passthrough")


def test_run_json_is_the_folders_summary(passthrough_scenario: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(passthrough_scenario), "--no-baseline", "--no-figures", "--out",
                 str(out), "--json"]) == 0
    got = _json_only(capsys.readouterr().out)
    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert got["out"] == str(out)
    assert got["scenario"] == on_disk["scenario"] == "liu2025_3vpp"
    assert got["vpo_profit_cny"] == pytest.approx(on_disk["vpo_profit_cny"], rel=1e-12)
    assert set(got) == set(on_disk) | {"out"}


def test_run_quiet_prints_nothing(passthrough_scenario: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(passthrough_scenario), "--no-baseline", "--no-figures", "--out",
                 str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert (out / "summary.json").is_file()


BENCHMARK_SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", BENCHMARK_SCRIPTS)
def test_every_benchmark_takes_quick(script: str, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python benchmarks/X.py` runs it
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    assert stop.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_a_quick_benchmark_prints_its_table_and_writes_nothing() -> None:
    kept = BENCHMARKS / "results" / "allocation.md"
    before = kept.read_bytes() if kept.is_file() else None
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "allocation_benchmark.py"), "--quick"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| demand (MW) | repair | LP objective |" in proc.stdout
    assert "| 100 |" in proc.stdout and "| 1000 |" not in proc.stdout  # the quick rows only
    assert "not written" in proc.stderr
    assert (kept.read_bytes() if kept.is_file() else None) == before
