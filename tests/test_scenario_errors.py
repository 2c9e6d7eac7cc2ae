"""Bad input fails before anything runs: exit code 2, one message naming file, field and expectation.

Every bad scenario is the shipped default, loaded with ``yaml.safe_load``, changed in one
place and written to ``tmp_path`` with its profile CSV beside it. Each case goes through
``vppsim run SCENARIO --out DIR`` and must leave no result folder behind (neither ``DIR``
nor ``DIR.incomplete``), and ``vppsim validate SCENARIO`` must fail the same way.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import simpy
import yaml

from vppsim.cli import main
from vppsim.paths import default_scenario_path
from vppsim.results.folders import INCOMPLETE_SUFFIX
from vppsim.scenario.schema import ScenarioError

NothingWritten = Callable[[Path, Path], None]  # the assert_nothing_written fixture

DEFAULT = default_scenario_path()
RAW = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
CSV_NAME = RAW["profiles"]

Raw = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One bad scenario: how to break it and what the message must say on one line."""

    field: str
    expected: tuple[str, ...]
    edit: Callable[[Raw], None] | None = None
    edit_csv: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    yaml_text: str | None = None  # written verbatim instead of the edited default
    missing_file: bool = False
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    n_problems: int = 1  # lines of the message that name the file


def _set(path: str, value: Any) -> Callable[[Raw], None]:
    """Edit that sets ``raw[...]`` along a dotted path (ints index lists)."""
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]

    def edit(raw: Raw) -> None:
        node: Any = raw
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return edit


def _rename_key(raw: Raw) -> None:
    member = raw["vpps"][0]["members"][0]
    member["rated_kW"] = member.pop("rated_kw")


def _with_cell(column: str, row: int, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
        return df

    return edit


CASES: dict[str, Case] = {
    "unknown_field_typo": Case(  # also reports the correctly spelled field as missing
        "vpps[0].members[0].rated_kW", ("unknown field", "spelling"), edit=_rename_key, n_problems=2
    ),
    "wrong_type_string_for_number": Case(
        "vpps[0].members[0].rated_kw", ("valid number", "'lots'"),
        edit=_set("vpps.0.members.0.rated_kw", "lots"),
    ),
    "negative_capacity": Case(
        "vpps[0].members[2].capacity_kwh", ("greater than 0", "-250"),
        edit=_set("vpps.0.members.2.capacity_kwh", -250),
    ),
    "soc_min_above_soc_max": Case(
        "vpps[1].members[2]", ("expected soc_min < soc_max", "soc_min=0.9"),
        edit=lambda raw: raw["vpps"][1]["members"][2].update(soc_min=0.9, soc_max=0.5),
    ),
    "soc0_outside_bounds": Case(
        "vpps[1].members[2]", ("expected soc_min <= soc0 <= soc_max", "0.99"),
        edit=_set("vpps.1.members.2.soc0", 0.99),
    ),
    "vpp_bus_not_on_feeder": Case(
        "vpps[2].bus", ("expected a bus of feeder 'ieee33' (0..32)", "got 99"),
        edit=_set("vpps.2.bus", 99),
    ),
    "member_bus_not_on_feeder": Case(
        "vpps[0].members[1].bus", ("expected a bus of feeder 'ieee33'", "got 40"),
        edit=_set("vpps.0.members.1.bus", 40),
    ),
    "missing_profile_file": Case(
        "profiles", ("expected an existing CSV file", "no_such_profiles.csv"),
        edit=_set("profiles", "no_such_profiles.csv"),
    ),
    "profile_23_rows": Case(
        "profiles", ("expected 24 rows", "got 23"), edit_csv=lambda df: df.iloc[:23]
    ),
    "profile_column_missing": Case(
        "vpps[0].members[3].profile", ("expected a column of", "'vpp9_load_kw'"),
        edit=_set("vpps.0.members.3.profile", "vpp9_load_kw"),
    ),
    "profile_non_numeric": Case(
        "vpps[1].members[3].profile",
        ("expected numbers in column 'vpp2_load_kw'", "'abc'", f"row 7 of {CSV_NAME}"),
        edit_csv=_with_cell("vpp2_load_kw", 5, "abc"),
    ),
    "profile_empty_cell": Case(
        "vpps[1].members[3].profile",
        ("expected numbers in column 'vpp2_load_kw'", "empty or missing value", "row 12"),
        edit_csv=_with_cell("vpp2_load_kw", 10, None),
    ),
    "profile_negative": Case(
        "vpps[2].members[0].wind_speed",
        ("expected non-negative values in column 'vpp3_wind_m_s'", "-1.5", "row 9"),
        edit_csv=_with_cell("vpp3_wind_m_s", 7, -1.5),
    ),
    "unknown_feeder": Case(
        "feeder.name", ("unknown feeder name 'ieee99'", "ieee33", "ieee24"),
        edit=_set("feeder.name", "ieee99"),
    ),
    "unknown_price_policy": Case(
        "market.price_policy", ("expected one of", "passthrough", "'magic'"),
        edit=_set("market.price_policy", "magic"),
    ),
    "unknown_catalog_entry": Case(
        "vpps[1].members[2].catalog", ("expected an entry of catalog 'liu2025_batteries'", "'VPP9'"),
        edit=_set("vpps.1.members.2.catalog", "liu2025_batteries/VPP9"),
    ),
    "unknown_catalog": Case(
        "vpps[1].members[2].catalog", ("expected an agent catalog among", "'no_such_catalog'"),
        edit=_set("vpps.1.members.2.catalog", "no_such_catalog/VPP2"),
    ),
    "tariff_hours_not_covering_day": Case(
        "tariff", ("expected the periods to cover hours 0-23 exactly once", "missing [7]"),
        edit=_set("tariff.periods.0.hours", [0, 1, 2, 3, 4, 5, 6]),
    ),
    "tariff_export_above_import": Case(
        "tariff.periods[2]", ("expected export_cny_per_kwh <= import_cny_per_kwh", "2.0 > 1.4"),
        edit=_set("tariff.periods.2.export_cny_per_kwh", 2.0),
    ),
    "link_key_not_a_vpp": Case(
        "communication.links.VPP7", ("expected a VPP name", "VPP1"),
        edit=_set("communication.links", {"VPP7": {"latency_s": 1.0}}),
    ),
    "duplicate_agent_names": Case(
        "(top level)", ("expected unique agent names", "VPP2-LOAD"),
        edit=_set("vpps.1.members.0.name", "VPP2-LOAD"),
    ),
    "invalid_yaml_syntax": Case(
        "(file)", ("expected valid YAML",), yaml_text="name: broken\nvpps: [a, b\n  c: d\n"
    ),
    "yaml_not_a_mapping": Case(
        "(top level)", ("expected a mapping of scenario fields",), yaml_text="- just\n- a list\n"
    ),
    "scenario_file_does_not_exist": Case(
        "(file)", ("expected an existing scenario YAML file",), missing_file=True
    ),
    "days_override_too_large": Case(
        "days", ("less than or equal to 3660", "5000"), extra_args=("--days", "5000")
    ),
}


def _write_case(case: Case, folder: Path) -> Path:
    """Write the bad scenario (and the profile CSV beside it) into ``folder``."""
    folder.mkdir(parents=True)
    path = folder / "bad_scenario.yaml"
    if case.missing_file:
        return path
    if case.yaml_text is not None:
        path.write_text(case.yaml_text, encoding="utf-8")
        return path
    raw = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    if case.edit:
        case.edit(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    csv_src = DEFAULT.parent / CSV_NAME
    if case.edit_csv:
        case.edit_csv(pd.read_csv(csv_src)).to_csv(folder / CSV_NAME, index=False)
    else:
        shutil.copy(csv_src, folder / CSV_NAME)
    return path


def _line_naming(err: str, file: Path | str, field_path: str) -> str:
    """The message line ``FILE: FIELD: what``; fails if there is none."""
    prefix = f"{file}: {field_path}: "
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert lines, f"no line starts with {prefix!r} in:\n{err}"
    return lines[0]



@pytest.mark.parametrize("name", list(CASES))
def test_bad_scenario_fails_with_exit_2_and_names_file_and_field(
    assert_nothing_written: NothingWritten,
    name: str, tmp_path: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    path = _write_case(case, tmp_path / "scenario")
    out = tmp_path / "out"

    code = main(["run", str(path), "--out", str(out), "--quiet", *case.extra_args])
    captured = capsys.readouterr()

    assert code == 2
    assert "Traceback" not in captured.err
    line = _line_naming(captured.err, path, case.field)
    for text in case.expected:
        assert text in line, f"{text!r} missing from {line!r}"
    # one problem, said once and briefly (no follow-on errors, no dump of the whole input)
    named = [ln for ln in captured.err.splitlines() if ln.startswith(f"{path}: ")]
    assert len(named) == case.n_problems, captured.err
    assert all(len(ln) < len(str(path)) + 400 for ln in named), captured.err
    assert_nothing_written(out, in_tmp)

    if not case.extra_args:  # the same file fails validation the same way
        assert main(["validate", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert _line_naming(captured.err, path, case.field) == line


def test_days_zero_is_bad_input(
    tmp_path: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str], assert_nothing_written: NothingWritten,
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(DEFAULT), "--days", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--days: expected an integer >= 1, got 0" in err
    assert_nothing_written(out, in_tmp)


def test_out_pointing_at_existing_folder_is_bad_input(
    tmp_path: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    assert main(["run", str(DEFAULT), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--out: expected a folder that does not exist yet, got {out}" in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert not out.with_name(out.name + INCOMPLETE_SUFFIX).exists()
    assert not (in_tmp / "results").exists()


def test_validate_default_scenario_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEFAULT)]) == 0
    captured = capsys.readouterr()
    assert f"{DEFAULT}: valid (3 VPPs, 12 members, feeder ieee33" in captured.out
    assert captured.err == ""


def test_unmodified_copy_is_valid(tmp_path: Path) -> None:
    """Guard for the cases above: the copying itself produces a valid scenario."""
    path = _write_case(Case("", ()), tmp_path / "scenario")
    assert main(["validate", str(path)]) == 0


def _subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vppsim.cli", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120, check=False,
    )


@pytest.mark.parametrize("name", ["vpp_bus_not_on_feeder", "invalid_yaml_syntax"])
def test_bad_scenario_real_process_exit_status_2(
    name: str, tmp_path: Path, assert_nothing_written: NothingWritten,
) -> None:
    case = CASES[name]
    path = _write_case(case, tmp_path / "scenario")
    out = tmp_path / "out"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = _subprocess("run", str(path), "--out", str(out), cwd=cwd)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("vppsim: invalid scenario\n")
    line = _line_naming(proc.stderr, path, case.field)
    for text in case.expected:
        assert text in line
    assert_nothing_written(out, cwd)


def test_real_process_days_zero(
    tmp_path: Path, assert_nothing_written: NothingWritten,
) -> None:
    out = tmp_path / "out"
    proc = _subprocess("run", "--days", "0", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == "vppsim: --days: expected an integer >= 1, got 0"
    assert_nothing_written(out, tmp_path)


def test_scenario_error_survives_simpy_and_pickle() -> None:
    """A ScenarioError raised inside a simpy process or sent between processes keeps its text.

    simpy re-raises a failed process's error as ``type(e)(*e.args)`` and pickle rebuilds it
    the same way; before, that rebuild was a TypeError and the CLI exited 1.
    """
    original = ScenarioError("s.yaml", [("vpps[0].prosumers.scheduler", "expected local")])

    def process(env: simpy.Environment):
        yield env.timeout(1)
        raise original

    env = simpy.Environment()
    env.process(process(env))
    with pytest.raises(ScenarioError) as info:
        env.run()
    again = pickle.loads(pickle.dumps(original))
    for exc in (info.value, again):
        assert str(exc) == str(original)
        assert str(exc).startswith("invalid scenario\ns.yaml: vpps[0].prosumers.scheduler: ")
        assert (exc.file, exc.problems) == ("s.yaml", original.problems)
