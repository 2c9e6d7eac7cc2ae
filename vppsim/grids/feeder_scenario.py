"""A scenario generated from a SimBench feeder: its DERs grouped into N VPPs (``scenario from-feeder``).

Which elements are DERs (members of a VPP):

* sgens of type PV (``PV``, ``PV_MV``, ...), wind (``Wind_MV``, ...) and SimBench's aggregated
  LV renewables of MV grids (``lv_RES``, counted as PV): each becomes a ``pv_profile`` member
  taking over its SimBench profile (``sgen/<i>``). The member kinds have no wind turbine driven
  by a power profile (``wind`` needs a wind-speed column), so wind sgens are ``pv_profile``
  members too, named ``WIND``: a profile-following generator costed at the PV rates;
* storage elements: a ``battery`` member each, sized from SimBench (``max_e_mwh``, ``sn_mva``);
  the feeder's own storage elements are idle in the power flow of a SimBench scenario, so the
  battery member stands in for it (SimBench storage profiles are not used, see NOTES.md);
* loads: with ``loads="der-buses"`` (the default) the loads at a bus with a PV, wind or
  storage element (the prosumer's own load); with ``loads="all"`` every load. They become
  ``load`` members taking over ``load/<i>`` (planned for by their VPP, not curtailable).

Other sgens (biomass, hydro, gas, ...) and the loads not chosen stay as background following
their SimBench profiles. Out-of-service elements are left out. DER buses are partitioned by
:func:`vppsim.grids.partition.partition_buses`; every VPP gets one assumed battery (unless
it holds SimBench storage) and assumed costs, tariff and limits, all listed in the YAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import yaml
from pandapower.auxiliary import pandapowerNet

from vppsim.grids.partition import FeederPartition, partition_buses

__all__ = ["LOAD_CHOICES", "Der", "FeederScenario", "der_elements", "feeder_scenario"]

#: which loads join a VPP: those at a PV/wind/storage bus, or all of them
LOAD_CHOICES = ("der-buses", "all")
#: assumed battery: power = this share of the VPP's rated generation (of its load if none) ...
BATTERY_POWER_SHARE = 0.5
#: ... and two hours at that power
BATTERY_HOURS = 2.0
_KW_PER_MW = 1000.0

#: the tariff and costs of scenarios/simbench_lv_rural.yaml (the default scenario's, assumed)
TARIFF = {"periods": [
    {"name": "valley", "hours": [0, 1, 2, 3, 4, 5, 6, 7],
     "import_cny_per_kwh": 0.53, "export_cny_per_kwh": 0.40},
    {"name": "flat", "hours": [8, 9, 10, 16, 17, 18, 22, 23],
     "import_cny_per_kwh": 0.79, "export_cny_per_kwh": 0.72},
    {"name": "peak", "hours": [11, 12, 13, 14, 15, 19, 20, 21],
     "import_cny_per_kwh": 1.40, "export_cny_per_kwh": 1.04}]}
COSTS = {"mu1_wind_curtail_cny_per_kwh": 0.50, "mu2_pv_curtail_cny_per_kwh": 0.50,
         "lam1_battery_cny_per_kwh": 0.05, "lam2_wind_om_cny_per_kwh": 0.51,
         "lam3_pv_om_cny_per_kwh": 0.05, "w_b_purchase_cny_per_kwh": 0.03,
         "w_bat_battery_cny_per_kwh": 0.02}
MARKET = {"price_policy": "passthrough", "imbalance_penalty": 0.10,
          "value_of_lost_load_cny_per_kwh": 10.0}
FORECAST_ERROR = {"pv": {"kind": "uniform", "band": 0.10}, "load": {"kind": "normal", "sd": 0.05}}


@dataclass(frozen=True)
class Der:
    """One SimBench element: ``element`` is ``load/<i>``, ``sgen/<i>`` or ``storage/<i>``.

    ``kind``: ``pv``, ``wind``, ``storage``, ``load`` (VPP members) or ``background`` (stays
    with the grid); ``rated_kw``: the element's ``p_mw`` (sgens, loads) or ``sn_mva``
    (storage) in kW.
    """

    element: str
    kind: str
    bus: int
    rated_kw: float
    capacity_kwh: float = 0.0


def _sgen_kind(sgen_type: str) -> str:
    t = str(sgen_type).lower()
    if "pv" in t or t == "lv_res":
        return "pv"
    return "wind" if "wind" in t else "background"


def der_elements(net: pandapowerNet, loads: str = "der-buses") -> list[Der]:
    """Every in-service load, sgen and storage element of ``net``, classified (module doc)."""
    if loads not in LOAD_CHOICES:
        raise ValueError(f"expected loads in {LOAD_CHOICES}, got {loads!r}")
    out: list[Der] = []
    for i, row in net.sgen[net.sgen["in_service"]].iterrows():
        out.append(Der(f"sgen/{i}", _sgen_kind(row["type"]), int(row["bus"]),
                       float(row["p_mw"]) * _KW_PER_MW))
    for i, row in net.storage[net.storage["in_service"]].iterrows():
        out.append(Der(f"storage/{i}", "storage", int(row["bus"]),
                       float(row["sn_mva"]) * _KW_PER_MW,
                       float(row["max_e_mwh"]) * _KW_PER_MW))
    der_buses = {d.bus for d in out if d.kind != "background"}
    for i, row in net.load[net.load["in_service"]].iterrows():
        member = loads == "all" or int(row["bus"]) in der_buses
        out.append(Der(f"load/{i}", "load" if member else "background", int(row["bus"]),
                       float(row["p_mw"]) * _KW_PER_MW))
    return out


@dataclass(frozen=True)
class FeederScenario:
    """A generated scenario: its YAML text and the rows of its DER table (``<stem>_ders.csv``)."""

    yaml_text: str
    ders: list[dict[str, object]]
    partition: FeederPartition
    n_members: int


def _battery(name: str, bus: int, gen_kw: float, load_kw: float) -> dict[str, object]:
    """The assumed battery of a VPP (:data:`BATTERY_POWER_SHARE`, :data:`BATTERY_HOURS`)."""
    p_kw = max(1.0, round(BATTERY_POWER_SHARE * (gen_kw if gen_kw > 0 else load_kw), 1))
    return {"kind": "battery", "name": name, "bus": bus, "capacity_kwh": BATTERY_HOURS * p_kw,
            "p_max_kw": p_kw, "soc0": 0.5, "soc_min": 0.1, "soc_max": 0.9}


def _member(vpp: str, d: Der) -> dict[str, object]:
    """The member taking over SimBench element ``d``."""
    table, _, index = d.element.partition("/")
    name = f"{vpp}-{d.kind.upper()}-{table}{index}"
    if d.kind == "storage":
        return {"kind": "battery", "name": name, "bus": d.bus,
                "capacity_kwh": round(d.capacity_kwh, 3), "p_max_kw": round(d.rated_kw, 3),
                "soc0": 0.5, "soc_min": 0.0, "soc_max": 1.0}
    return {"kind": "pv_profile" if d.kind in ("pv", "wind") else "load", "name": name,
            "bus": d.bus, "profile": d.element}


def _vpp(k: int, seed: int, ders: list[Der]) -> tuple[dict[str, object], list[str]]:
    """VPP ``k``'s spec and the names of its members (in the order of ``ders``)."""
    name = f"VPP-{k + 1}"
    members = [_member(name, d) for d in ders]
    gen_kw = sum(d.rated_kw for d in ders if d.kind in ("pv", "wind"))
    load_kw = sum(d.rated_kw for d in ders if d.kind == "load")
    if not any(d.kind == "storage" for d in ders):
        members.append(_battery(f"{name}-BAT", seed, gen_kw, load_kw))
    bat_kw = sum(float(m["p_max_kw"]) for m in members if m["kind"] == "battery")
    spec = {"name": name, "bus": seed,
            "exchange": {"buy_max_kw": float(math.ceil(load_kw + bat_kw)),
                         "sell_max_kw": float(math.ceil(gen_kw + bat_kw))},
            "costs": dict(COSTS), "members": members}
    return spec, [str(m["name"]) for m in members]


def _flow(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()


def _assumptions(code: str, loads: str, n: int, storage: bool) -> list[str]:
    caveat = (["SimBench storage elements become battery members (the feeder's own storage "
               "elements are idle in the power flow; their SimBench profiles are not used), "
               "state of charge 0.5 at the start"] if storage else [])
    return caveat + [
        f"grid, loads, PV and wind systems and their 2016 profiles: SimBench {code} (simbench "
        "package)",
        f"{n} VPPs by electrical proximity: k-medoids on shortest-path line length over the "
        "feeder graph (vppsim scenario from-feeder; each VPP's buses form a connected region)",
        "members: PV, wind and aggregated LV renewable sgens (pv_profile; wind costed at PV rates: "
        "no profile-driven wind kind), storage (battery), "
        + ("every load" if loads == "all" else "the loads at a PV, wind or storage bus")
        + "; other sgens and loads stay as background",
        f"one battery per VPP without SimBench storage: {BATTERY_POWER_SHARE:g} x the VPP's "
        f"rated PV+wind power (its rated load if none), {BATTERY_HOURS:g} h at that power, "
        "SoC 0.1..0.9 from 0.5 (assumed)",
        "exchange limits: the VPP's rated load (buy) or generation (sell) plus its battery "
        "power (assumed)",
        "tariff and cost coefficients: scenarios/simbench_lv_rural.yaml's (the default "
        "scenario's tariff, paper 004 Table 3; VPP2's costs with PV O&M 0.05 CNY/kWh; assumed)",
        "imbalance penalty, value of lost load, forecast errors: assumed",
    ]


def _yaml_text(head: dict[str, object], vpps: list[dict[str, object]],
               assumptions: list[str], stem: str) -> str:
    """The scenario as YAML with comments: assumptions on top, one member per line."""
    lines = [f"# Generated by `vppsim scenario from-feeder` from SimBench "
             f"{head['feeder']['simbench']}; DER table: {stem}_ders.csv.",  # type: ignore[index]
             "# Every number SimBench does not give is assumed:"]
    lines += [f"#  - {a}" for a in assumptions]
    lines.append(yaml.safe_dump({k: head[k] for k in ("name", "description", "seed", "days",
                                                       "step_h")}, sort_keys=False).strip())
    lines.append(f"profiles: {_flow(head['profiles'])}")
    lines.append(f"feeder: {_flow(head['feeder'])}")
    lines.append("tariff:                              # assumed (simbench_lv_rural.yaml's)")
    lines.append("  periods:")
    lines += [f"    - {_flow(period)}" for period in TARIFF["periods"]]
    lines.append(f"market: {_flow(MARKET)}   # assumed")
    lines.append("vpo: {name: VPO}")
    lines.append("balancing: {allocator: proportional}")
    lines.append(f"forecast_error: {_flow(FORECAST_ERROR)}   # assumed")
    lines.append("vpps:")
    for v in vpps:
        lines.append(f"  - name: {v['name']}")
        lines.append(f"    bus: {v['bus']}                        # the VPP's medoid DER bus")
        lines.append(f"    exchange: {_flow(v['exchange'])}   # assumed")
        lines.append(f"    costs: {_flow(v['costs'])}   # assumed")
        lines.append("    members:")
        for m in v["members"]:  # type: ignore[attr-defined]
            note = ("" if m["kind"] != "battery" else "   # SimBench storage; soc0 assumed"
                    if "-STORAGE-" in str(m["name"]) else "   # assumed")
            lines.append(f"      - {_flow(m)}{note}")
    lines.append("assumptions:")
    lines += [f"  - {_flow(a)}" for a in assumptions]
    return "\n".join(lines) + "\n"


def feeder_scenario(net: pandapowerNet, graph: nx.MultiGraph, code: str, n_vpps: int, *,
                    start: str, days: int, step_h: float, loads: str = "der-buses",
                    stem: str = "scenario", seed: int = 2016) -> FeederScenario:
    """Group ``net``'s DERs into ``n_vpps`` VPPs on ``graph`` and write the scenario (module doc).

    Raises ValueError for ``n_vpps`` outside 1..(DER buses) or a feeder without DERs.
    """
    elements = der_elements(net, loads)
    ders = [d for d in elements if d.kind != "background"]
    if not ders:
        raise ValueError(f"SimBench {code} has no PV, wind, storage or load elements in service")
    part = partition_buses(graph, [d.bus for d in ders], n_vpps)
    vpps, names = [], []
    for k, seed_bus in enumerate(part.seeds):
        spec, member_names = _vpp(k, seed_bus, [d for d in ders if part.region_of[d.bus] == k])
        vpps.append(spec)
        names.append(member_names)
    rows = []
    for d in elements:
        k = part.region_of.get(d.bus) if d.kind != "background" else None
        rows.append({"element": d.element, "kind": d.kind, "bus": d.bus,
                     "rated_kw": round(d.rated_kw, 6),
                     "vpp": "" if k is None else f"VPP-{k + 1}",
                     "seed_bus": "" if k is None else part.seeds[k],
                     "distance_km": "" if k is None else round(part.distance_km[d.bus], 6)})
    head = {"name": stem, "description": f"{n_vpps} VPPs of SimBench {code}'s DERs grouped by "
            f"electrical proximity, {days} day(s) from {start} at {step_h:g} h steps.",
            "seed": seed, "days": days, "step_h": step_h,
            "profiles": {"simbench": {"start": start}},
            "feeder": {"simbench": code, "power_flow_backend": "lightsim2grid"}}
    storage = any(d.kind == "storage" for d in ders)
    text = _yaml_text(head, vpps, _assumptions(code, loads, n_vpps, storage), stem)
    return FeederScenario(yaml_text=text, ders=rows, partition=part,
                          n_members=sum(len(n) for n in names))
