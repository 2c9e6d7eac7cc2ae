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


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in an empty folder so that a default result folder would show up there."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def assert_nothing_written() -> Callable[[Path, Path], None]:
    """Checker: no ``out``, no ``out.incomplete`` and no default ``results/`` under ``cwd``."""

    def check(out: Path, cwd: Path) -> None:
        assert not out.exists()
        assert not out.with_name(out.name + ".incomplete").exists()
        assert not (cwd / "results").exists()

    return check


@pytest.fixture(scope="session")
def passthrough_day_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default 3-VPP day with the tariff passed through (a fast day-ahead), as a file."""
    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    raw["market"]["price_policy"] = "passthrough"
    folder = tmp_path_factory.mktemp("passthrough_day")
    shutil.copy(DEFAULT_YAML.parent / raw["profiles"], folder / raw["profiles"])
    path = folder / "mc.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cluster() -> Any:
    """A 2-worker LocalCluster reached by its address, like `--scheduler ADDRESS` (one start per
    test module)."""
    from distributed import LocalCluster

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                     scheduler_kwargs={"dashboard_address": ":0"})
    yield c
    c.close()
