"""Sensitivity grids: one Monte Carlo batch per forecast-error case (``vppsim montecarlo --grid``).

A scenario with a ``sensitivity:`` section (e.g. ``scenarios/sensitivity_001.yaml``, paper
001's Table 5) lists cases, each a complete ``forecast_error`` model. Every case runs as an
ordinary, resumable Monte Carlo batch (:func:`vppsim.montecarlo.run.run_montecarlo`) in
``OUT/<case>/`` on one shared Dask client, and the grid's table compares per case:

- ``deviation_pct``: mean and standard deviation over the samples of the allocation
  deviation rate (:func:`vppsim.results.allocation_kpis`), in %;
- ``stability_index``: its mean over the samples (same place);
- ``allocation_ms_per_problem``: the real-time allocator's worker time per VPP and step
  (batched over the VPPs and the samples of a chunk; wall-clock, not reproducible);
- ``single_problem_ms``: the allocator's time for one such problem solved alone (the
  median over the first problems of one sample of the first case that need a search),
  comparable to a paper's per-run time;
- imbalance, unmet energy and system cost means;

beside the paper's published figures (``paper:`` in the scenario). Written as
``OUT/sensitivity.parquet`` and ``OUT/sensitivity.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vppsim.model import VPPModel
from vppsim.montecarlo.cluster import open_client
from vppsim.montecarlo.run import clear_day_ahead, run_montecarlo, sample_seeds
from vppsim.montecarlo.store import create_folder
from vppsim.results.folders import safe_name
from vppsim.results.format import number
from vppsim.results.plotting import pyplot
from vppsim.scenario.loader import LoadedScenario

COLUMNS = (
    "case", "samples", "errors",
    "deviation_pct", "deviation_sd_pct", "paper_deviation_pct", "paper_deviation_sd_pct",
    "stability_index", "paper_stability_index",
    "allocation_ms_per_problem", "single_problem_ms", "paper_time_s",
    "imbalance_kwh", "unmet_energy_kwh", "system_cost_cny",
)


def run_grid(loaded: LoadedScenario, n_samples: int, out: str | Path, seed: int | None = None,
             workers: int | None = None, scheduler: Any = None, progress: bool = True,
             allocation_gap: bool = False) -> pd.DataFrame:
    """Run every case of ``loaded.scenario.sensitivity`` and write the grid's table.

    Each case is resumable on its own (its folder's manifest holds its forecast-error model);
    a re-run computes only what is missing. One Dask client (a ``LocalCluster`` unless
    ``scheduler`` is given) serves all cases. ``allocation_gap``: also solve every step's
    exact LP (see :func:`vppsim.montecarlo.run.run_montecarlo`).
    """
    spec = loaded.scenario.sensitivity
    if spec is None:
        raise ValueError(f"{loaded.path}: sensitivity: expected a sensitivity section with cases "
                         "for --grid")
    out = Path(out)
    create_folder(out)  # an unwritable OUT fails here, before the cluster starts
    client, cluster, owned = open_client(workers, scheduler)
    rows = []
    single_ms = None
    try:
        for case in spec.cases:
            case_loaded = loaded.with_overrides(forecast_error=case.forecast_error.model_dump())
            t0 = time.perf_counter()
            res = run_montecarlo(case_loaded, n_samples, out / safe_name(case.name), seed=seed,
                                 scheduler=client, progress=progress,
                                 allocation_gap=allocation_gap)
            if single_ms is None:
                single_ms = single_problem_ms(case_loaded, seed)
            rows.append(_row(case, res, single_ms, time.perf_counter() - t0,
                             n_steps=case_loaded.scenario.n_steps,
                             n_vpps=len(case_loaded.scenario.vpps)))
    finally:
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()
    table = pd.DataFrame(rows, columns=[*COLUMNS, "wall_s"])
    table.to_parquet(out / "sensitivity.parquet", index=False)
    figure(table, out / "sensitivity.png")
    (out / "sensitivity.md").write_text(render(table, loaded, n_samples, "sensitivity.png"),
                                        encoding="utf-8")
    (out / "sensitivity.json").write_text(
        json.dumps({"scenario": loaded.scenario.name, "n_samples": n_samples, "seed": seed,
                    "source": spec.source, "rows": table.to_dict("records")}, indent=2,
                   default=float) + "\n", encoding="utf-8")
    return table


def _row(case: Any, res: Any, single_ms: float | None, wall_s: float, n_steps: int,
         n_vpps: int) -> dict[str, Any]:
    k = res.kpis[res.kpis["error"].isna()]
    paper = case.paper
    dev = k["allocation_deviation_rate"].to_numpy(dtype=float) * 100.0
    phases = res.summary.get("worker_phase_ms_per_sample") or {}
    alloc_ms = phases.get("allocation")
    return {
        "case": case.name,
        "samples": len(res.kpis),
        "errors": res.n_errors,
        "deviation_pct": float(np.mean(dev)) if len(dev) else None,
        "deviation_sd_pct": float(np.std(dev, ddof=1)) if len(dev) > 1 else None,
        "paper_deviation_pct": paper.deviation_pct if paper else None,
        "paper_deviation_sd_pct": paper.deviation_sd_pct if paper else None,
        "stability_index": float(k["allocation_stability_index"].mean()) if len(k) else None,
        "paper_stability_index": paper.stability_index if paper else None,
        # per VPP and step; None when this run resumed a finished batch (nothing computed)
        "allocation_ms_per_problem": (alloc_ms / (n_steps * n_vpps)
                                      if alloc_ms is not None and res.computed_samples else None),
        "single_problem_ms": single_ms,
        "paper_time_s": paper.time_s if paper else None,
        "imbalance_kwh": float(k["imbalance_kwh"].mean()) if len(k) else None,
        "unmet_energy_kwh": float(k["unmet_energy_kwh"].mean()) if len(k) else None,
        "system_cost_cny": float(k["system_cost_cny"].mean()) if len(k) else None,
        "wall_s": wall_s,
    }


def single_problem_ms(loaded: LoadedScenario, seed: int | None, n_problems: int = 24) -> float:
    """Median time (ms) of the scenario's allocator on one VPP-step problem solved alone.

    The problems are those of one sample's day (its first ``n_problems`` VPP-steps that need a
    search: something to re-allocate over at least two resources with headroom), each solved
    by a separate allocator call.
    """
    base = loaded.scenario.seed if seed is None else seed
    cleared = clear_day_ahead(loaded, base)
    model = VPPModel(loaded, seed=sample_seeds(base, 1)[0], shared_day_ahead=cleared)
    times = []
    while model.t < model.n_steps and len(times) < n_problems:
        t = model.t
        inputs = model.begin_step()
        outs = []
        for i, x in enumerate(inputs):
            t0 = time.perf_counter()
            outs.append(model.allocator([x], [model.allocation_key(t, i)])[0])
            if outs[-1].info.get("allocation_searched", 1.0) > 0.0 and abs(
                    outs[-1].info.get("allocation_required_kw", 0.0)) > 1e-9:
                times.append(time.perf_counter() - t0)
        model.finish_step(inputs, outs)
    return float(np.median(times) * 1e3) if times else float("nan")


def figure(table: pd.DataFrame, path: Path) -> Path:
    """Deviation rate (mean +- sd) and stability index per case, ours beside the paper's."""
    plt = pyplot()

    x = np.arange(len(table))
    w = 0.38
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, col, sd, label in ((ax1, "deviation_pct", "deviation_sd_pct", "deviation rate (%)"),
                               (ax2, "stability_index", None, "stability index")):
        ours = table[col].astype(float).to_numpy()
        paper = table[f"paper_{col}"].astype(float).to_numpy()
        ax.bar(x - w / 2, ours, w, label="vppsim",
               yerr=table[sd].astype(float).to_numpy() if sd else None, capsize=3)
        ax.bar(x + w / 2, paper, w, label="paper 001 Table 5",
               yerr=table[f"paper_{sd}"].astype(float).to_numpy() if sd else None, capsize=3)
        ax.set_xticks(x, table["case"], rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    ax1.legend()
    ax2.set_ylim(0.0, 1.0)
    fig.suptitle("Sensitivity of the real-time allocation to forecast error (definitions differ)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render(table: pd.DataFrame, loaded: LoadedScenario, n_samples: int,
           figure_file: str | None = None) -> str:
    """The grid's table as Markdown, ours beside the paper's, with the definitions."""
    spec = loaded.scenario.sensitivity
    lines = [
        f"# Sensitivity grid: {loaded.scenario.name}",
        "",
        f"{n_samples} Monte Carlo samples per case; allocator "
        f"`{loaded.scenario.balancing.allocator}`. Paper figures: {spec.source if spec else ''}.",
        "",
        "| case | deviation % (sd) | paper % (sd) | stability | paper | alloc ms/problem "
        "(batched) | alone ms | paper s | imbalance kWh | unmet kWh |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    def f(x: Any, spec: str) -> str:
        return number(x, spec=spec)

    for r in table.itertuples():
        lines.append(
            f"| {r.case} | {f(r.deviation_pct, '.2f')} ({f(r.deviation_sd_pct, '.2f')}) | "
            f"{f(r.paper_deviation_pct, '.1f')} ({f(r.paper_deviation_sd_pct, '.1f')}) | "
            f"{f(r.stability_index, '.3f')} | {f(r.paper_stability_index, '.3f')} | "
            f"{f(r.allocation_ms_per_problem, '.3f')} | {f(r.single_problem_ms, '.2f')} | "
            f"{f(r.paper_time_s, '.2f')} | {f(r.imbalance_kwh, ',.1f')} | "
            f"{f(r.unmet_energy_kwh, ',.2f')} |")
    lines += [
        "",
        "Definitions (paper 001 publishes none):",
        "",
        "- **deviation %**: energy a VPP could not deliver from its own members as committed "
        "(|imbalance with the VPO| + unmet and spill beyond the plan) over its demand, summed "
        "over VPPs and steps; mean (sd) over the samples.",
        "- **stability**: 1 - mean over VPP-steps of min(1, |D| / H), D the power the plan no "
        "longer covers, H the members' headroom in that direction; 1 = the plan holds.",
        "- **alloc ms/problem**: the allocator's worker time per VPP and step when the VPPs of "
        "all samples of a chunk are allocated in one batched call (forced problems included); "
        "**alone ms**: one problem that needs a search "
        "per call (median). The paper's time is one GA-ACO run of its six-resource case.",
        "",
    ]
    if figure_file:
        lines += [f"![deviation and stability per case]({figure_file})", ""]
    return "\n".join(lines)
