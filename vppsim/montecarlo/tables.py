"""The Monte Carlo tables: KPI columns (one row per sample) and per-step series (tidy)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

#: scalar KPIs of one sample, taken from :func:`vppsim.results.summarize` (same names, units)
KPI_SCALARS: tuple[str, ...] = (
    "total_vpp_cost_cny",
    "vpo_profit_cny",
    "system_cost_cny",
    "imbalance_kwh",
    "curtailment_kwh",
    "network_losses_kwh",
    "min_voltage_pu",
    "max_voltage_pu",
    "max_line_loading_pct",
    "renewable_utilization",
    "unmet_energy_kwh",
    "spilled_energy_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "peak_grid_import_kw",
    "power_flow_nonconverged_steps",
    "allocation_deviation_rate",
    "allocation_stability_index",
    "allocation_gap_max",
)


#: per-step series kept for the fan charts: time-series ``kind`` -> columns
STEP_SERIES: dict[str, tuple[str, ...]] = {
    "vpo": ("c_sell_cny_per_kwh", "c_buy_cny_per_kwh", "grid_import_kw", "grid_export_kw"),
    "network": ("vm_min_pu", "vm_max_pu", "losses_kw"),
    "battery": ("soc_pu",),
    "vpp": ("imbalance_kw", "cost_cny"),
}


STEPS_SCHEMA = pa.schema([
    ("sample", pa.int64()),
    ("agent", pa.string()),
    ("quantity", pa.string()),
    ("step", pa.int64()),
    ("value", pa.float64()),
])


def kpi_columns(vpp_names: Sequence[str]) -> list[str]:
    """Column order of the KPI table for a scenario with these VPPs."""
    return (["sample", "seed"] + [f"cost_cny__{v}" for v in vpp_names] + list(KPI_SCALARS)
            + ["error"])


def kpi_schema(vpp_names: Sequence[str]) -> pa.Schema:
    """Arrow schema of the KPI table (:func:`kpi_columns`): int sample and seed, float KPIs, str error."""
    fields = [("sample", pa.int64()), ("seed", pa.int64())]
    fields += [(c, pa.float64()) for c in kpi_columns(vpp_names)[2:-1]]
    fields.append(("error", pa.string()))
    return pa.schema(fields)
