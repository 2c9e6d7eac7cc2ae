"""Synthesize the 24-hour profiles of the six-VPP scenario (paper 004, section 4.3.5).

Paper 004 publishes no data for its six-VPP extension. VPP1-3 keep the profiles of the
default scenario: their columns, the weather (irradiance, ambient temperature) and the
feeder's background load are copied from ``liu2025_3vpp_profiles.csv`` (run
``make_liu2025_profiles.py`` first if it changed). VPP4-6 get new shapes, all assumed:

- VPP4, industrial: three-shift plant, a flat high load around the clock, steady wind;
- VPP5, residential: low night load, a morning bump and an evening peak (18:00-21:00), plus
  a flexible share (water heaters, air conditioning) that peaks with it; wind picks up in the
  evening;
- VPP6, PV-heavy: a daytime (commercial / agro-processing) load, weak wind.

As in the 3-VPP generator, wind is written as hub-height wind speed (the wind power shape
inverted through each farm's power curve) and PV comes from the shared irradiance and
temperature through the scenario's PV models; loads are in kW.

Run from the repository root:  python scenarios/make_liu2025_6vpp_profiles.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import yaml

from vppsim.scenario.schema import WindTurbineSpec

HERE = Path(__file__).resolve().parent
BASE_CSV = HERE / "liu2025_3vpp_profiles.csv"
BASE_SCENARIO = HERE / "liu2025_3vpp.yaml"
SCENARIO = HERE / "liu2025_6vpp.yaml"
OUT_CSV = HERE / "liu2025_6vpp_profiles.csv"

# columns taken over unchanged from the 3-VPP profiles
COPIED = ["hour", "ambient_temp_c", "irradiance_w_m2", "background_load_pu",
          "vpp1_wind_m_s", "vpp1_load_kw", "vpp2_wind_m_s", "vpp2_load_kw",
          "vpp3_wind_m_s", "vpp3_load_kw"]

# assumed load shapes, kW (hour 0..23)
LOAD_KW = {
    # industrial: three shifts, flat and high
    "vpp4": [292, 288, 285, 284, 286, 292, 305, 322, 334, 338, 340, 336, 326, 334, 340, 339,
             336, 330, 322, 316, 310, 304, 298, 295],
    # residential, inflexible part: evening peak
    "vpp5": [175, 165, 155, 155, 155, 170, 215, 270, 275, 250, 230, 225, 230, 225, 220, 225,
             255, 325, 395, 425, 415, 365, 285, 215],
    # PV-heavy VPP: daytime load
    "vpp6": [210, 202, 198, 196, 200, 212, 245, 290, 330, 355, 370, 375, 370, 368, 365, 360,
             350, 335, 320, 305, 285, 265, 240, 222],
}
# flexible household demand of VPP5 (its controllable load), kW
FLEX_KW = [20, 18, 17, 17, 18, 20, 28, 40, 38, 30, 26, 25, 26, 25, 25, 27, 35, 55, 75, 80,
           76, 62, 42, 28]
# assumed wind power shapes, kW, strictly between 0 and each farm's rating
WIND_KW = {
    "vpp4": [230, 235, 240, 238, 232, 225, 210, 190, 170, 155, 150, 150, 155, 165, 175, 185,
             195, 210, 225, 240, 250, 255, 250, 240],  # 4 x 100 kW, steady
    "vpp5": [180, 170, 160, 150, 140, 130, 115, 100, 90, 85, 80, 85, 95, 110, 125, 145,
             165, 190, 210, 225, 230, 225, 210, 195],  # 3 x 100 kW, evening wind
    "vpp6": [90, 85, 80, 78, 75, 70, 60, 50, 45, 40, 40, 42, 45, 50, 55, 60, 70, 80, 90,
             100, 105, 105, 100, 95],  # 2 x 100 kW, weak
}


def _base_generator() -> ModuleType:
    """The 3-VPP profile generator (for its power-curve inversion)."""
    spec = importlib.util.spec_from_file_location("make_liu2025_profiles",
                                                  HERE / "make_liu2025_profiles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wind_member(scenario: dict, vpp: str) -> WindTurbineSpec:
    for v in scenario["vpps"]:
        if v["name"] == vpp:
            return WindTurbineSpec(**next(m for m in v["members"] if m["kind"] == "wind"))
    raise KeyError(vpp)


def check_default_members(scenario: dict, base: dict) -> None:
    """Raise if VPP1-3's wind, PV, battery or load members differ from the 3-VPP scenario's.

    The copied wind-speed columns were inverted through the 3-VPP farms' power curves, so
    they describe the same power only for the same farms.
    """
    kinds = ("wind", "pv", "battery", "load")
    for name in ("VPP1", "VPP2", "VPP3"):
        mine, theirs = ([m for v in sc["vpps"] if v["name"] == name for m in v["members"]
                         if m["kind"] in kinds] for sc in (scenario, base))
        if mine != theirs:
            raise ValueError(
                f"{SCENARIO.name}: {name}'s wind/PV/battery/load members differ from "
                f"{BASE_SCENARIO.name}'s; copy them over before copying the profiles\n"
                f"  here:  {mine}\n  there: {theirs}"
            )


def main() -> None:
    """Write ``liu2025_6vpp_profiles.csv`` beside this script."""
    wind_speed_for = _base_generator().wind_speed_for
    scenario = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    check_default_members(scenario, yaml.safe_load(BASE_SCENARIO.read_text(encoding="utf-8")))
    base = pd.read_csv(BASE_CSV)
    if len(base) != 24:
        raise ValueError(f"{BASE_CSV.name}: expected 24 hourly rows, got {len(base)}")
    table = {col: base[col].to_numpy() for col in COPIED}
    for i, key in enumerate(("vpp4", "vpp5", "vpp6"), start=4):
        spec = _wind_member(scenario, f"VPP{i}")
        table[f"{key}_wind_m_s"] = np.round(wind_speed_for(np.array(WIND_KW[key], float), spec), 9)
        table[f"{key}_load_kw"] = np.array(LOAD_KW[key], float)
    table["vpp5_flex_load_kw"] = np.array(FLEX_KW, float)
    pd.DataFrame(table).to_csv(OUT_CSV, index=False)
    print(f"wrote {OUT_CSV}")


if __name__ == "__main__":
    main()
