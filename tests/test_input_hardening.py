"""Input hardening (issue 11): absurd numbers, unreadable files and bad seeds are bad input.

Every bad input here ends with exit code 2 from ``vppsim validate`` and ``vppsim run`` (or
``vppsim allocate`` for an allocation case), one message line naming the file, the field and
what was expected (for YAML syntax, duplicate keys and encodings: the line), no traceback and
no result folder. The bad files are the shipped default scenario (or allocation case), changed
in one place and written to ``tmp_path`` with the profile CSV beside it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from vppsim.cli import main
from vppsim.paths import data_dir, default_scenario_path

NothingWritten = Callable[[Path, Path], None]  # the assert_nothing_written fixture

DEFAULT = default_scenario_path()
TEXT = DEFAULT.read_text(encoding="utf-8")
CSV_NAME = yaml.safe_load(TEXT)["profiles"]
CASE = data_dir("scenarios") / "allocation_ieee12.yaml"
SCENARIO = "bad_scenario.yaml"

Raw = dict[str, Any]


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of ``needle`` in ``text``."""
    return text[: text.index(needle)].count("\n") + 1


def _set(path: str, value: Any) -> Callable[[Raw], None]:
    """Edit that sets ``raw[...]`` along a dotted path (ints index lists)."""
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]

    def edit(raw: Raw) -> None:
        node: Any = raw
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return edit


def _with_cell(column: str, row: int, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
        return df

    return edit


@dataclass(frozen=True)
class Bad:
    """One bad input: how to make it and the message line it must produce."""

    field: str
    expected: tuple[str, ...]
    edit: Callable[[Raw], None] | None = None
    edit_csv: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    text: str | bytes | None = None  # the scenario file, verbatim
    csv_text: Callable[[str], str] | None = None  # rewrites the CSV text
    beside: dict[str, str | bytes] = field(default_factory=dict)  # more files in the folder
    named: str = SCENARIO  # the file the message names (in the folder)
    n_problems: int = 1


_DUPLICATE_TOP = TEXT.replace("seed: 2025\n", "seed: 2025\nseed: 7\n", 1)
_DUPLICATE_FLOW = TEXT.replace("rated_kw: 100, count: 3,", "rated_kw: 100, count: 3, rated_kw: 1,", 1)
_LATIN1 = TEXT.replace("name: liu2025_3vpp", "name: liu2025_3vpp_caf\u00e9", 1).encode("latin-1")
_BINARY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # starts like a PNG image


def _extra_column(text: str) -> str:
    """The CSV with a second ``vpp1_load_kw`` column appended (pandas would call it .1)."""
    lines = text.splitlines()
    return "\n".join([lines[0] + ",vpp1_load_kw"] + [ln + ",0.0" for ln in lines[1:]]) + "\n"


CASES: dict[str, Bad] = {
    # ---- class 3: non-finite and absurd numbers
    "rated_kw_inf": Bad("vpps[0].members[0].rated_kw", ("expected a finite number, got inf",),
                        edit=_set("vpps.0.members.0.rated_kw", float("inf"))),
    "capacity_kwh_inf": Bad("vpps[0].members[2].capacity_kwh",
                            ("expected a finite number, got inf",),
                            edit=_set("vpps.0.members.2.capacity_kwh", float("inf"))),
    "tariff_price_nan": Bad("tariff.periods[0].import_cny_per_kwh",
                            ("expected a finite number, got nan",),
                            edit=_set("tariff.periods.0.import_cny_per_kwh", float("nan"))),
    "tariff_price_string_inf": Bad("tariff.periods[2].import_cny_per_kwh",
                                   ("expected a finite number, got 'inf'",),
                                   edit=_set("tariff.periods.2.import_cny_per_kwh", "inf")),
    "tariff_price_absurd": Bad("tariff.periods[1].import_cny_per_kwh",
                               ("less than or equal to 10000", "1e+20"),
                               edit=_set("tariff.periods.1.import_cny_per_kwh", 1e20)),
    "wind_count_1e9": Bad("vpps[0].members[0].count",
                          ("less than or equal to 100000", "1000000000"),
                          edit=_set("vpps.0.members.0.count", 1_000_000_000)),
    "wind_power_above_1_gw": Bad("vpps[0].members[0]",
                                 ("expected rated_kw * count <= 1e+06 kW", "2e+06 kW"),
                                 edit=_set("vpps.0.members.0.count", 20_000)),
    "exchange_limit_absurd": Bad("vpps[1].exchange.buy_max_kw", ("less than or equal to",),
                                 edit=_set("vpps.1.exchange.buy_max_kw", 1e15)),
    "profile_wind_inf": Bad("vpps[0].members[0].wind_speed",
                            ("expected finite numbers in column 'vpp1_wind_m_s'", "got inf",
                             f"row 5 of {CSV_NAME}"),
                            edit_csv=_with_cell("vpp1_wind_m_s", 3, "inf")),
    "profile_wind_above_75": Bad("vpps[2].members[0].wind_speed",
                                 ("plausible range 0..75 m/s", "'vpp3_wind_m_s'", "got 120 ",
                                  "row 3"),
                                 edit_csv=_with_cell("vpp3_wind_m_s", 1, 120.0)),
    "profile_temperature_minus_inf": Bad("vpps[0].members[1].temperature",
                                         ("expected finite numbers in column 'ambient_temp_c'",
                                          "got -inf"),
                                         edit_csv=_with_cell("ambient_temp_c", 0, "-inf"),
                                         n_problems=3),  # the three PV plants share the column
    "profile_temperature_absurd": Bad("vpps[0].members[1].temperature",
                                      ("plausible range -90..70 degrees C", "got 500 "),
                                      edit_csv=_with_cell("ambient_temp_c", 12, 500.0),
                                      n_problems=3),
    "profile_irradiance_absurd": Bad("vpps[1].members[1].irradiance",
                                     ("plausible range 0..1500 W/m2", "got 5000 ", "row 14"),
                                     edit_csv=_with_cell("irradiance_w_m2", 12, 5000.0),
                                     n_problems=3),
    "profile_load_absurd": Bad("vpps[2].members[3].profile",
                               ("plausible range 0..1e+06 kW", "'vpp3_load_kw'", "got 1e+09 "),
                               edit_csv=_with_cell("vpp3_load_kw", 20, 1e9)),
    "profile_background_inf": Bad("feeder.background_load_profile",
                                  ("expected finite numbers in column 'background_load_pu'",),
                                  edit_csv=_with_cell("background_load_pu", 2, "inf")),
    # ---- class 5 (schema part): seeds
    "seed_negative": Bad("seed", ("greater than or equal to 0", "-1"), edit=_set("seed", -1)),
    "seed_2_pow_63": Bad("seed", ("less than 9223372036854775808",), edit=_set("seed", 2**63)),
    "seed_inf": Bad("seed", ("expected a finite number, got inf",), edit=_set("seed", float("inf"))),
    # ---- class 4: unreadable files, duplicate keys and columns
    "duplicate_top_level_key": Bad(
        "(file)", ("expected each key once per mapping", "'seed' again",
                   f"(first at line {_line_of(TEXT, 'seed: 2025')})",
                   f"at line {_line_of(TEXT, 'seed: 2025') + 1}, column 1"),
        text=_DUPLICATE_TOP),
    "duplicate_key_in_flow_mapping": Bad(
        "(file)", ("expected each key once per mapping", "'rated_kw' again",
                   f"at line {_line_of(TEXT, 'rated_kw: 100, count: 3,')}"),
        text=_DUPLICATE_FLOW),
    "duplicate_csv_column": Bad(
        "profiles", ("expected each column name once", CSV_NAME, "'vpp1_load_kw' twice"),
        csv_text=_extra_column),
    "not_utf8": Bad("(file)", ("expected UTF-8 text", "0xe9",
                                f"line {_line_of(TEXT, 'name: liu2025_3vpp')}"), text=_LATIN1),
    "binary": Bad("(file)", ("expected UTF-8 text", "0x89 at line 1"), text=_BINARY),
    "control_characters": Bad("(file)", ("control character #x0000", "line 1"),
                              text="name: x\x00\x01\n"),
    "empty_file": Bad("(top level)", ("expected a mapping of scenario fields",
                                      "got an empty document"), text=""),
    "deeply_nested": Bad("(file)", ("expected YAML nested less deeply",),
                         text="name: " + "[" * 5000 + "]" * 5000 + "\n"),
    "yaml_syntax_one_line": Bad("(file)", ("expected valid YAML at line 3, column 4",),
                                text="name: broken\nvpps: [a, b\n  c: d\n"),
    "extends_base_invalid_yaml": Bad(
        "(file)", ("expected valid YAML at line 2",),
        text="extends: base.yaml\nname: child\n", beside={"base.yaml": "name: base\n  bad: [\n"},
        named="base.yaml"),
    "extends_base_not_utf8": Bad(
        "(file)", ("expected UTF-8 text",), text="extends: base.yaml\nname: child\n",
        beside={"base.yaml": _LATIN1}, named="base.yaml"),
    "extends_base_not_a_mapping": Bad(
        "(top level)", ("expected a mapping of scenario fields, got a list",),
        text="extends: base.yaml\nname: child\n", beside={"base.yaml": "- a\n- b\n"},
        named="base.yaml"),
    "extends_base_duplicate_key": Bad(
        "(file)", ("'days' again (first at line 1)", "line 2"),
        text="extends: base.yaml\nname: child\n", beside={"base.yaml": "days: 1\ndays: 2\n"},
        named="base.yaml"),
    "catalog_invalid_yaml": Bad(
        "vpps[0].members[2].catalog", ("in catalog", "my_batteries.yaml",
                                       "expected valid YAML at line 3",
                                       "while parsing a flow mapping at line 2"),
        edit=_set("vpps.0.members.2.catalog", "my_batteries/VPP1"),
        beside={"my_batteries.yaml": "entries:\n  VPP1: {capacity_kwh: 250\n"}),
    "catalog_not_a_mapping": Bad(
        "vpps[0].members[2].catalog", ("in catalog", "expected a mapping with a mapping 'entries'"),
        edit=_set("vpps.0.members.2.catalog", "my_batteries/VPP1"),
        beside={"my_batteries.yaml": "- VPP1\n- VPP2\n"}),
    "catalog_entry_not_a_mapping": Bad(
        "vpps[0].members[2].catalog", ("in catalog", "expected entries.VPP1 to be a mapping"),
        edit=_set("vpps.0.members.2.catalog", "my_batteries/VPP1"),
        beside={"my_batteries.yaml": "entries:\n  VPP1: 250\n"}),
    "catalog_duplicate_key": Bad(
        "vpps[0].members[2].catalog", ("in catalog", "'VPP1' again (first at line 2)", "line 3"),
        edit=_set("vpps.0.members.2.catalog", "my_batteries/VPP1"),
        beside={"my_batteries.yaml": (
            "entries:\n"
            "  VPP1: {capacity_kwh: 250, soc0: 0.4, soc_min: 0.2, soc_max: 0.95, p_max_kw: 60}\n"
            "  VPP1: {capacity_kwh: 25, soc0: 0.4, soc_min: 0.2, soc_max: 0.95, p_max_kw: 6}\n")}),
    "catalog_not_utf8": Bad(
        "vpps[0].members[2].catalog", ("in catalog", "expected UTF-8 text"),
        edit=_set("vpps.0.members.2.catalog", "my_batteries/VPP1"),
        beside={"my_batteries.yaml": "entries:\n  VPP1: {name: caf\u00e9}\n".encode("latin-1")}),
}


def _write(bad: Bad, folder: Path) -> Path:
    """Write the bad scenario, its profile CSV and any other files into ``folder``."""
    folder.mkdir(parents=True)
    path = folder / SCENARIO
    if isinstance(bad.text, bytes):
        path.write_bytes(bad.text)
    elif bad.text is not None:
        path.write_text(bad.text, encoding="utf-8")
    else:
        raw = yaml.safe_load(TEXT)
        if bad.edit:
            bad.edit(raw)
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    csv_src = DEFAULT.parent / CSV_NAME
    if bad.edit_csv:
        bad.edit_csv(pd.read_csv(csv_src)).to_csv(folder / CSV_NAME, index=False)
    elif bad.csv_text:
        (folder / CSV_NAME).write_text(bad.csv_text(csv_src.read_text(encoding="utf-8")),
                                       encoding="utf-8")
    else:
        shutil.copy(csv_src, folder / CSV_NAME)
    for name, content in bad.beside.items():
        target = folder / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return path


def _the_line(err: str, file: Path, field_path: str, n_problems: int = 1) -> str:
    """The one message line ``FILE: FIELD: what``; the message has no other lines."""
    lines = err.strip().splitlines()
    assert lines[0] == "vppsim: invalid scenario", err
    assert len(lines) == 1 + n_problems, err  # one line per problem, nothing else
    prefix = f"{file}: {field_path}: "
    named = [ln for ln in lines if ln.startswith(prefix)]
    assert named, f"no line starts with {prefix!r} in:\n{err}"
    return named[0]



@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_validate_and_run_with_exit_2_and_one_line(
    assert_nothing_written: NothingWritten,
    name: str, tmp_path: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = CASES[name]
    path = _write(bad, tmp_path / "scenario")
    named = path.parent / bad.named
    if bad.named != SCENARIO:  # a base scenario is named as extends resolves it
        named = named.resolve()

    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    line = _the_line(captured.err, named, bad.field, bad.n_problems)
    for text in bad.expected:
        assert text in line, f"{text!r} missing from {line!r}"

    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert _the_line(captured.err, named, bad.field, bad.n_problems) == line
    assert_nothing_written(out, in_tmp)


def test_folder_given_as_scenario_is_named(tmp_path: Path, in_tmp: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "a_folder.yaml"
    folder.mkdir()
    assert main(["validate", str(folder)]) == 2
    line = _the_line(capsys.readouterr().err, folder, "(file)")
    assert "expected a scenario YAML file, got a folder" in line


def test_yaml_merge_keys_and_anchors_are_not_duplicates(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``<<: *anchor`` with an overriding key is one key per mapping; a repeated key is not."""
    text = TEXT.replace("    costs:                                                    # assumed (paper",
                        "    costs: &c1                                                # assumed (paper", 1)
    second = text.index("    costs:", text.index("&c1"))
    end = text.index("    members:", second)
    text = text[:second] + "    costs: {<<: *c1, lam2_wind_om_cny_per_kwh: 0.51}\n" + text[end:]
    folder = tmp_path / "ok"
    folder.mkdir()
    shutil.copy(DEFAULT.parent / CSV_NAME, folder / CSV_NAME)
    (folder / "merge.yaml").write_text(text, encoding="utf-8")
    assert main(["validate", str(folder / "merge.yaml")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    twice = text.replace("lam2_wind_om_cny_per_kwh: 0.51}",
                         "lam2_wind_om_cny_per_kwh: 0.51, lam2_wind_om_cny_per_kwh: 0.6}", 1)
    (folder / "twice.yaml").write_text(twice, encoding="utf-8")
    assert main(["validate", str(folder / "twice.yaml")]) == 2
    line = _the_line(capsys.readouterr().err, folder / "twice.yaml", "(file)")
    assert "'lam2_wind_om_cny_per_kwh' again" in line


# --------------------------------------------------------------------------- allocation cases

CASE_RAW_TEXT = CASE.read_text(encoding="utf-8")

ALLOCATION_CASES: dict[str, tuple[str, tuple[str, ...], Callable[[Raw], None] | str | bytes]] = {
    "capacity_inf": ("resources[0].capacity", ("expected a finite number, got inf",),
                     _set("resources.0.capacity", float("inf"))),
    "capacity_absurd": ("resources[1].capacity", ("less than or equal to 10000000",),
                        _set("resources.1.capacity", 1e300)),
    "demand_absurd": ("demands[1]", ("less than or equal to 10000000",),
                      _set("demands", [258, 1e300])),
    "capacity_exponent_absurd": ("fitness.capacity_exponent", ("less than or equal to 3",),
                                 _set("fitness.capacity_exponent", 1000.0)),
    "paper_allocation_nan": ("paper_allocation[55].pv_station",
                             ("expected a finite number, got nan",),
                             _set("paper_allocation.55.pv_station", float("nan"))),
    "duplicate_key": ("(file)", ("expected each key once per mapping", "'demands' again"),
                      CASE_RAW_TEXT + "demands: [1]\n"),
    "not_utf8": ("(file)", ("expected UTF-8 text", "0xe9"),
                 CASE_RAW_TEXT.replace("Balanced", "Balanc\u00e9d").encode("latin-1")),
    "binary": ("(file)", ("expected UTF-8 text",), _BINARY),
    "empty": ("(top level)", ("expected a mapping of case fields, got an empty document",), ""),
}


def _write_case(spec: Callable[[Raw], None] | str | bytes, path: Path) -> None:
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    elif isinstance(spec, str):
        path.write_text(spec, encoding="utf-8")
    else:
        raw = yaml.safe_load(CASE_RAW_TEXT)
        spec(raw)
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("name", list(ALLOCATION_CASES))
def test_bad_allocation_case_exit_2_one_line(
    assert_nothing_written: NothingWritten,
    name: str, tmp_path: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    field_path, expected, spec = ALLOCATION_CASES[name]
    path = tmp_path / "case.yaml"
    _write_case(spec, path)
    out = tmp_path / "out"
    code = main(["allocate", str(path), "--runs", "1", "--out", str(out), "--quiet",
                 "--no-figures"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    line = _the_line(err, path, field_path)
    for text in expected:
        assert text in line, f"{text!r} missing from {line!r}"
    assert_nothing_written(out, in_tmp)


def _subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vppsim.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, check=False)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_real_process_binary_scenario_exit_2(
    command: str, tmp_path: Path, assert_nothing_written: NothingWritten,
) -> None:
    path = _write(CASES["binary"], tmp_path / "scenario")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "out"
    extra = ["--out", str(out)] if command == "run" else []
    proc = _subprocess(command, str(path), *extra, cwd=cwd)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert "expected UTF-8 text" in _the_line(proc.stderr, path, "(file)")
    assert_nothing_written(out, cwd)


def test_real_process_allocate_non_utf8_case_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "case.yaml"
    _write_case(ALLOCATION_CASES["not_utf8"][2], path)
    proc = _subprocess("allocate", str(path), "--runs", "1", "--out", str(tmp_path / "out"),
                       cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "expected UTF-8 text" in _the_line(proc.stderr, path, "(file)")
    assert not (tmp_path / "out").exists()
