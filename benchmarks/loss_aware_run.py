"""Feeder losses of ``vppsim run`` under three day-ahead policies on the default day.

Run from the repository root: ``python benchmarks/loss_aware_run.py``. Prints a Markdown table
and writes ``benchmarks/results/loss_aware_run.md``: the default scenario (one day) with the
loss-blind centralized dispatch (``loss_aware`` at ``w_losses = 0``), the shipped game and the
loss-aware dispatch (50 CNY per kWh lost), each run through the co-simulation with and
without forecast error; losses are the run's own power-flow losses (``network_losses_kwh`` and
``network_losses_pct`` of the KPI table), costs the realized total VPP cost and system cost.
``--quick``: the three policies without forecast error only (printed, not written).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _bench import add_quick, progress, table_path, write_table

from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.results.kpis import model_kpis
from vppsim.scenario.loader import LoadedScenario, load_scenario

POLICIES = (("loss-blind dispatch", "loss_aware", 0.0), ("game (shipped)", "game", 0.0),
            ("loss-aware dispatch", "loss_aware", 50.0))


def _variant(base: LoadedScenario, policy: str, w_losses: float, errors: bool) -> LoadedScenario:
    market = base.scenario.market.model_dump()
    market.update(price_policy=policy, loss_aware={"w_losses_cny_per_kwh": w_losses,
                                                   "w_utilization_cny": 0.0})
    changes: dict[str, object] = {"market": market}
    if not errors:
        changes["forecast_error"] = {}
    return base.with_overrides(**changes)


def main() -> None:
    """Run the six days and print / write the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick(ap, "the three policies without forecast error")
    args = ap.parse_args()
    base = load_scenario(default_scenario_path())
    lines = [f"# Feeder losses of `vppsim run`, {base.scenario.name} day 0", "",
             "| forecast error | day ahead | losses (kWh) | losses (%) | system cost (CNY) | "
             "max balance residual (kW) | wall (s) |", "|---|---|---:|---:|---:|---:|---:|"]
    cases = [(e, p) for e in ((False,) if args.quick else (False, True)) for p in POLICIES]
    for errors, (label, policy, w) in progress(cases, "runs"):
        start = time.perf_counter()
        model = VPPModel(_variant(base, policy, w, errors))
        model.run()
        wall = time.perf_counter() - start
        kpi = model_kpis(model)
        ts = model.timeseries()
        residual = float(np.abs(ts[ts.kind.isin(["vpp", "vpo"])]
                                ["energy_balance_residual_kw"]).max())
        vpo_profit = float(ts[ts.kind == "vpo"]["profit_cny"].sum())
        system = kpi["total_vpp_cost_cny"] - vpo_profit
        lines.append(f"| {'as shipped' if errors else 'off'} | {label} | "
                     f"{kpi['network_losses_kwh']:,.2f} | {kpi['network_losses_pct']:.3f} | "
                     f"{system:,.2f} | {residual:.1e} | {wall:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    write_table(text, table_path(args.quick, "loss_aware_run.md"))


if __name__ == "__main__":
    main()
