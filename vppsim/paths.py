"""Where the shipped data folders (scenarios, agent catalogs, feeder files) live.

In a source checkout (or an editable install) they are the top-level ``scenarios/``,
``agents/`` and ``grids/`` folders; a wheel carries copies under ``vppsim/_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent

DEFAULT_SCENARIO = "liu2025_3vpp.yaml"


def data_dir(kind: str) -> Path:
    """Return the folder holding shipped data of ``kind`` (scenarios, agents or grids)."""
    if kind not in ("scenarios", "agents", "grids"):
        raise ValueError(f"unknown data folder {kind!r}; expected scenarios, agents or grids")
    bundled = _PACKAGE_DIR / "_data" / kind
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / kind


def default_scenario_path() -> Path:
    """Return the path of the default scenario (paper 004's three VPPs)."""
    return data_dir("scenarios") / DEFAULT_SCENARIO
