"""Build ``grids/ieee12.json``: the 12-bus radial distribution feeder of Das, Nagi & Kothari.

Source: D. Das, H. S. Nagi, D. P. Kothari, "Novel method for solving radial distribution
networks", IEE Proceedings - Generation, Transmission and Distribution 141(4):291-298, 1994.
The numbers below are the paper's line and load data as
distributed with MATPOWER (``data/case12da.m``, BSD-3-Clause): 11 kV, one feeder of eleven
sections, 435 kW + 405 kvar of load. Impedances are in ohm per section, loads in kW / kvar
at the receiving bus. Paper 001 calls its test system an "enhanced IEEE 12-bus" system; this
is the widely reproduced 12-bus radial feeder that name usually refers to.

Run from the repository root: ``python grids/make_ieee12.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandapower as pp

V_KV = 11.0
# (from bus, to bus, r ohm, x ohm); buses numbered 1..12 as in the paper, bus 1 = substation
SECTIONS = [
    (1, 2, 1.093, 0.455),
    (2, 3, 1.184, 0.494),
    (3, 4, 2.095, 0.873),
    (4, 5, 3.188, 1.329),
    (5, 6, 1.093, 0.455),
    (6, 7, 1.002, 0.417),
    (7, 8, 4.403, 1.215),
    (8, 9, 5.642, 1.597),
    (9, 10, 2.890, 0.818),
    (10, 11, 1.514, 0.428),
    (11, 12, 1.238, 0.351),
]
# bus: (P kW, Q kvar)
LOADS = {
    2: (60, 60), 3: (40, 30), 4: (55, 55), 5: (30, 30), 6: (20, 15), 7: (55, 55),
    8: (45, 45), 9: (40, 40), 10: (35, 30), 11: (40, 30), 12: (15, 15),
}


def build() -> pp.pandapowerNet:
    """Return the 12-bus feeder as a pandapower net (bus index = paper's bus number - 1)."""
    net = pp.create_empty_network(name="ieee12 (Das, Nagi & Kothari 1994)", f_hz=50.0, sn_mva=1.0)
    for i in range(1, 13):
        pp.create_bus(net, vn_kv=V_KV, name=f"bus {i}", index=i - 1, min_vm_pu=0.9, max_vm_pu=1.1)
    pp.create_ext_grid(net, bus=0, vm_pu=1.0, va_degree=0.0, name="substation")
    for f, t, r, x in SECTIONS:
        # one section = 1 km of a line whose per-km data are the section's impedance
        pp.create_line_from_parameters(
            net, from_bus=f - 1, to_bus=t - 1, length_km=1.0, r_ohm_per_km=r, x_ohm_per_km=x,
            c_nf_per_km=0.0, max_i_ka=99999.0, name=f"{f}-{t}",
        )
    for bus, (p_kw, q_kvar) in LOADS.items():
        pp.create_load(net, bus=bus - 1, p_mw=p_kw / 1000.0, q_mvar=q_kvar / 1000.0, name=f"load {bus}")
    return net


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "ieee12.json"
    net = build()
    pp.runpp(net)
    print(f"min vm {net.res_bus.vm_pu.min():.4f} pu at bus {int(net.res_bus.vm_pu.idxmin()) + 1}, "
          f"losses {net.res_line.pl_mw.sum() * 1000:.2f} kW")
    pp.to_json(net, str(out))
    print(f"wrote {out}")
