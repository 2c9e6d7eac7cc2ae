"""The documentation site builds without warnings, and its generated references are complete.

The site (mkdocs.yml, docs/) is built with ``mkdocs build --strict`` into a temporary folder,
as a user would build it. The scenario reference must hold a section per pydantic model of the
schema with a row for every one of its fields (walked here independently of the generator in
docs/hooks.py), with the schema's numeric defaults; the CLI reference a section per
sub-command of the parser with every one of its options.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from vppsim.agents.registry import default_member_kinds
from vppsim.cli.main import build_parser
from vppsim.scenario.schema import Scenario, scenario_model

ROOT = Path(__file__).resolve().parent.parent


def _models(t: typing.Any) -> list[type[BaseModel]]:
    if isinstance(t, type) and issubclass(t, BaseModel):
        return [t]
    return [m for a in typing.get_args(t) for m in _models(a)]


def schema_models(root: type[BaseModel]) -> set[type[BaseModel]]:
    """Every pydantic model reachable from ``root`` through its fields' annotations."""
    seen: set[type[BaseModel]] = set()
    todo = [root]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for info in model.model_fields.values():
            todo += _models(info.annotation)
    return seen


def subcommands(parser: argparse.ArgumentParser, prefix: str = "vppsim"
                ) -> dict[str, argparse.ArgumentParser]:
    """Every sub-command (recursively) by its full name, ``"vppsim run"``."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[f"{prefix} {name}"] = sub
                out.update(subcommands(sub, f"{prefix} {name}"))
    return out


def sections(page: str, id_prefix: str) -> dict[str, str]:
    """The HTML of each h2 section whose id starts with ``id_prefix``, by id."""
    parts = re.split(r'<h2 id="([^"]+)"', page)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)
            if parts[i].startswith(id_prefix)}


def rows(section: str) -> list[list[str]]:
    """The cells (HTML) of each table row of a section."""
    return [re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
            for tr in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S) if "<td" in tr]


def _text(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def test_site_builds_with_every_page(site: Path) -> None:
    for page in ("index.html", "reference/scenario/index.html", "reference/cli/index.html",
                 "reference/api/index.html", "formulation/index.html", "results/index.html",
                 "extending/index.html", "reproductions/index.html", "design/index.html",
                 "reproductions/benchmarks/game/index.html"):
        assert (site / page).is_file(), page
    assert not (site / "hooks.py").exists()  # the generator is not published with the site
    api = (site / "reference/api/index.html").read_text(encoding="utf-8")
    # mkdocstrings rendered the docstrings, not just the names
    assert "load_scenario" in api and "Monte Carlo" in api and "solve_game" in api


def test_scenario_reference_lists_every_field_of_the_schema(site: Path) -> None:
    page = (site / "reference/scenario/index.html").read_text(encoding="utf-8")
    found = sections(page, "model-")
    models = schema_models(Scenario)
    # the walk reaches the nested models and every built-in member kind
    assert {m.__name__ for m in models} >= {"GameSpec", "VoltageBandSpec", "WindTurbineSpec",
                                            "WaterStorageSpec", "LoadForecastSpec"}
    assert set(found) == {f"model-{m.__name__.lower()}" for m in models}
    checked = 0
    for model in models:
        table = {_text(r[0]).rsplit(".", 1)[-1]: r for r in rows(found[f"model-{model.__name__.lower()}"])}
        assert set(table) == set(model.model_fields), model.__name__
        for name, info in model.model_fields.items():
            default = info.default
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                assert float(_text(table[name][3])) == pytest.approx(default), (model.__name__, name)
                checked += 1
    assert checked > 50
    # units come from the names' suffixes
    wind = {_text(r[0]): r for r in rows(found["model-windturbinespec"])}
    assert _text(wind["vpps[].members[].rated_kw"][2]) == "kW"
    market = {_text(r[0]): r for r in rows(found["model-marketspec"])}
    assert _text(market["market.value_of_lost_load_cny_per_kwh"][2]) == "CNY/kWh"


def test_cli_reference_lists_every_command_and_option(site: Path) -> None:
    page = (site / "reference/cli/index.html").read_text(encoding="utf-8")
    found = sections(page, "vppsim-")
    commands = subcommands(build_parser())
    assert {"vppsim run", "vppsim validate", "vppsim game", "vppsim montecarlo"} <= set(commands)
    assert set(found) == {name.replace(" ", "-") for name in commands}
    for name, parser in commands.items():
        text = _text(found[name.replace(" ", "-")])
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # -h / --help: every command has it, the usage line shows [-h]
            for option in action.option_strings:
                assert option in text, (name, option)


def test_generated_reference_follows_a_new_member_kind() -> None:
    """A member kind from outside vppsim gets its own table (the generator walks the schema)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from toy_heat_pump import HeatPumpSpec
    finally:
        sys.path.remove(str(ROOT / "tests"))
    kinds = default_member_kinds(plugins=False)
    text = hooks.scenario_reference(scenario_model((*kinds.specs, HeatPumpSpec)))
    section = text.split("{#model-heatpumpspec}", 1)[1].split("\n## ", 1)[0]
    assert "`vpps[].members[].shift_kw` | float (> 0) | kW | *required*" in section
    assert "`vpps[].members[].power_factor` | float (> 0, <= 1) |  | `0.95`" in section
