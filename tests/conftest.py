"""Shared fixtures: copies of the shipped default scenario, edited as dicts and written to tmp_path."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from vppsim.paths import default_scenario_path

DEFAULT_YAML = default_scenario_path()


@pytest.fixture(scope="session")
def _default_scenario_raw_cached() -> dict[str, Any]:
    with DEFAULT_YAML.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture
def default_scenario_raw(_default_scenario_raw_cached: dict[str, Any]) -> dict[str, Any]:
    """A fresh, editable dict of the default scenario YAML (paper 004's three VPPs)."""
    return copy.deepcopy(_default_scenario_raw_cached)


@pytest.fixture
def write_scenario_copy(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a scenario dict as ``tmp_path/<name>.yaml`` with the default CSV beside it.

    The YAML's ``profiles:`` field is kept (it names the CSV relative to the YAML file), so the
    default profile CSV is copied under that name; battery ``catalog:`` references resolve from
    the shipped ``agents/`` folder.
    """

    def write(raw: dict[str, Any], name: str = "scenario") -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=False)
        csv_name = raw["profiles"]
        shutil.copy(DEFAULT_YAML.parent / csv_name, folder / csv_name)
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return path

    return write
