"""Independent power-flow references shared by the loss tests: pandapower's own case33bw."""

import copy

import pandapower as pp
import pandapower.networks as pn

#: pandapower's own case33bw, read once (reading it takes about a second); copied per run
CASE33 = pn.case33bw()


def runpp_losses_kw(p_kw: dict[int, float], q_kvar: dict[int, float], load_scale: float,
                    tol_mva: float = 1e-8) -> float:
    """Losses of case33bw with its loads scaled by ``load_scale`` and sgens at the given buses, kW."""
    net = copy.deepcopy(CASE33)
    net.load["scaling"] = load_scale
    for b, p in p_kw.items():
        pp.create_sgen(net, b, p_mw=p / 1000.0, q_mvar=q_kvar.get(b, 0.0) / 1000.0)
    pp.runpp(net, numba=False, tolerance_mva=tol_mva)
    return float(net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()) * 1000.0
