"""Synthesize the 24-hour profiles of the reverse-flow scenario (a light spring holiday).

``liu2025_3vpp_reverse_flow.yaml`` puts large PV plants in the three VPPs of the default
scenario, at the far ends of the IEEE 33-bus feeder, on a day of light demand, so that around
noon their exports reverse the flows in the feeder's far sections and curtailing wind or PV
lowers the losses (paper 000's losses vs renewable utilization trade-off). Every shape is
assumed (no paper publishes this day):

- weather: a clear, cool spring day (irradiance up to 1000 W/m2, 8-19 degrees C); wind speed
  at hub height per VPP, a moderate breeze that drops around noon;
- VPP loads: a holiday, about 55 % of the default scenario's working-day loads;
- background load (per unit of the feeder's own loads, times ``background_load_scale``): a
  holiday shape with a midday dip.

Small seeded noise (numpy, seed 14) roughens the shapes so that no two hours tie exactly.

Run from the repository root:  python scenarios/make_liu2025_reverse_flow_profiles.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT_CSV = HERE / "liu2025_3vpp_reverse_flow_profiles.csv"
SEED = 14
HOURS = np.arange(24)

# ambient temperature, degrees C (a cool spring day)
AMBIENT_C = 13.5 + 5.5 * np.sin((HOURS - 9) / 24 * 2 * np.pi)
# clear-sky irradiance, W/m2: sunrise 06:00, sunset 19:00, 1000 W/m2 at solar noon
IRRADIANCE = np.where((HOURS >= 6) & (HOURS <= 18), np.sin((HOURS - 5.5) / 14 * np.pi), 0.0)
IRRADIANCE = np.clip(1000 * IRRADIANCE**1.5, 0, None)

# holiday loads, kW: about 55 % of the default scenario's working-day VPP loads
LOAD_KW = {
    "vpp1": [110, 102, 99, 98, 100, 108, 120, 138, 160, 172, 178, 180, 178, 175, 172, 170,
             175, 186, 196, 200, 192, 172, 144, 122],
    "vpp2": [88, 83, 80, 80, 83, 92, 110, 135, 160, 175, 182, 185, 182, 178, 175, 172,
             170, 168, 160, 150, 132, 115, 102, 94],
    "vpp3": [99, 91, 88, 87, 89, 97, 112, 130, 138, 135, 130, 128, 128, 130, 135, 145,
             165, 195, 215, 222, 212, 186, 150, 116],
}
# hub-height wind speed, m/s (cut-in 3, rated 12): a breeze that drops around noon
WIND_M_S = {
    "vpp1": [8.0, 8.2, 8.3, 8.1, 7.9, 7.6, 7.2, 6.7, 6.2, 5.8, 5.5, 5.3, 5.2, 5.3, 5.6, 6.0,
             6.5, 7.0, 7.5, 7.9, 8.2, 8.4, 8.4, 8.2],
    "vpp2": [6.8, 6.9, 7.0, 6.9, 6.7, 6.5, 6.2, 5.8, 5.4, 5.1, 4.9, 4.8, 4.8, 4.9, 5.1, 5.4,
             5.8, 6.2, 6.6, 6.9, 7.1, 7.2, 7.1, 7.0],
    "vpp3": [9.6, 9.8, 9.9, 9.8, 9.5, 9.1, 8.6, 8.0, 7.4, 6.9, 6.5, 6.3, 6.2, 6.4, 6.8, 7.3,
             7.9, 8.5, 9.0, 9.4, 9.6, 9.7, 9.7, 9.6],
}
# feeder background load, per unit: holiday, midday dip, evening peak
BACKGROUND_PU = [0.60, 0.56, 0.54, 0.53, 0.54, 0.58, 0.64, 0.70, 0.72, 0.70, 0.66, 0.62,
                 0.60, 0.60, 0.62, 0.66, 0.74, 0.86, 0.96, 1.00, 0.96, 0.86, 0.74, 0.66]


def profiles(seed: int = SEED) -> pd.DataFrame:
    """The 24-hour table: weather, background load, wind speed and load per VPP."""
    rng = np.random.default_rng(seed)
    table: dict[str, object] = {"hour": HOURS, "ambient_temp_c": np.round(AMBIENT_C, 6),
                                "irradiance_w_m2": np.round(IRRADIANCE, 6),
                                "background_load_pu": BACKGROUND_PU}
    for key in ("vpp1", "vpp2", "vpp3"):
        wind = np.array(WIND_M_S[key]) * rng.uniform(0.97, 1.03, 24)
        load = np.array(LOAD_KW[key], float) * rng.uniform(0.98, 1.02, 24)
        table[f"{key}_wind_m_s"] = np.round(wind, 4)
        table[f"{key}_load_kw"] = np.round(load, 2)
    return pd.DataFrame(table)


def main() -> None:
    """Write ``liu2025_3vpp_reverse_flow_profiles.csv`` beside this script."""
    profiles().to_csv(OUT_CSV, index=False)
    print(f"wrote {OUT_CSV}")


if __name__ == "__main__":
    main()
