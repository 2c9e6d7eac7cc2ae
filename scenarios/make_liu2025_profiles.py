"""Synthesize the 24-hour profiles of the default scenario (paper 004, Figure 3 shape).

Paper 004 publishes Figure 3 only as a picture. These profiles follow its text
(section 4.1): VPP1 has a renewable surplus 10:00-15:00 with (wind+PV)/load = 1.3810 at
13:00, wind-only nights, deficits 20:00-22:00 and 01:00-03:00, and needs 104.17 kW more
than wind and PV give at 20:00. Wind is written as hub-height wind speed and PV as
irradiance and ambient temperature, so the scenario's turbines and PV plants turn them into
power with their own models; the two anchor hours are met exactly by inverting those models.

Run from the repository root:  python scenarios/make_liu2025_profiles.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vppsim.agents.renewables import pv_power_kw
from vppsim.scenario.schema import PVParams, WindTurbineSpec

HERE = Path(__file__).resolve().parent
HOURS = np.arange(24)

# ambient temperature, degrees C (a warm spring day)
AMBIENT_C = 18 + 7 * np.sin((HOURS - 9) / 24 * 2 * np.pi)
# clear-sky-like irradiance, W/m2: sunrise 06:00, sunset 19:00
IRRADIANCE = np.where((HOURS >= 6) & (HOURS <= 18), np.sin((HOURS - 5.5) / 14 * np.pi), 0.0)
IRRADIANCE = np.clip(950 * IRRADIANCE**1.5, 0, None)

LOAD_KW = {
    "vpp1": [200, 185, 180, 178, 182, 196, 230, 268, 300, 318, 326, 332, 330, 325, 318, 312,
             318, 334, 350, 356, 345, 312, 262, 222],
    "vpp2": [160, 150, 145, 145, 150, 170, 220, 290, 350, 380, 390, 395, 390, 385, 380, 375,
             370, 360, 330, 300, 260, 220, 190, 170],
    "vpp3": [180, 165, 160, 158, 162, 180, 220, 260, 270, 260, 250, 245, 245, 250, 260, 280,
             320, 370, 400, 410, 390, 340, 270, 210],
}
# wind power shape, kW (before the VPP1 anchors are imposed)
WIND_KW = {
    "vpp1": [170, 160, 150, 155, 175, 190, 180, 150, 120, 100, 115, 120, 125, 130, 120, 150,
             105, 140, 200, 230, 240, 245, 230, 200],
    "vpp2": [90, 85, 80, 85, 90, 95, 90, 80, 70, 60, 55, 60, 65, 70, 75, 80,
             90, 100, 110, 120, 125, 120, 110, 100],
    "vpp3": [380, 390, 400, 395, 380, 360, 330, 290, 250, 220, 200, 190, 190, 200, 220, 250,
             280, 300, 320, 330, 340, 350, 360, 370],
}
BACKGROUND_PU = [0.62, 0.58, 0.56, 0.55, 0.57, 0.63, 0.72, 0.82, 0.90, 0.94, 0.96, 0.97,
                 0.96, 0.95, 0.94, 0.93, 0.95, 0.99, 1.00, 1.00, 0.97, 0.89, 0.78, 0.68]


def _members(scenario: dict, vpp: str, kind: str) -> dict:
    for v in scenario["vpps"]:
        if v["name"] == vpp:
            return next(m for m in v["members"] if m["kind"] == kind)
    raise KeyError(vpp)


def wind_speed_for(p_kw: np.ndarray, spec: WindTurbineSpec) -> np.ndarray:
    """Invert the linear part of the power curve (cut-in to rated) for a farm of ``count``."""
    frac = np.asarray(p_kw, float) / (spec.rated_kw * spec.count)
    if np.any(frac <= 0) or np.any(frac >= 1):
        raise ValueError("wind power must lie strictly between 0 and the farm rating")
    return spec.cut_in_m_s + frac * (spec.rated_m_s - spec.cut_in_m_s)


def main() -> None:
    """Write ``liu2025_3vpp_profiles.csv`` beside this script."""
    scenario = yaml.safe_load((HERE / "liu2025_3vpp.yaml").read_text(encoding="utf-8"))
    table = {"hour": HOURS, "ambient_temp_c": np.round(AMBIENT_C, 6),
             "irradiance_w_m2": np.round(IRRADIANCE, 6), "background_load_pu": BACKGROUND_PU}
    for i, key in enumerate(("vpp1", "vpp2", "vpp3"), start=1):
        name = f"VPP{i}"
        pv_spec = _members(scenario, name, "pv")
        pv_params = PVParams(**{k: v for k, v in pv_spec.items() if k not in ("kind", "name", "bus")})
        wind_spec = WindTurbineSpec(**_members(scenario, name, "wind"))
        load = np.array(LOAD_KW[key], float)
        pv = pv_power_kw(IRRADIANCE, table["ambient_temp_c"], pv_params)
        wind = np.array(WIND_KW[key], float)
        if key == "vpp1":
            wind[13] = 1.3810 * load[13] - pv[13]  # peak penetration 138.10 % at 13:00
            wind[20] = load[20] - 104.17 - pv[20]  # 104.17 kW short at 20:00
        speed = wind_speed_for(wind, wind_spec)
        table[f"{key}_wind_m_s"] = np.round(speed, 9)
        table[f"{key}_load_kw"] = load
    out = HERE / "liu2025_3vpp_profiles.csv"
    pd.DataFrame(table).to_csv(out, index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
