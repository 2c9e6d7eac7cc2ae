"""The default ``vppsim run`` imports only what it uses (issue 17: a default day in under 2 s).

pandapower (1.5-3 s: the built-in feeders come from grids/*.tables.json and lightsim2grid is the
default backend), scipy.stats (about 1 s), Dask and the MPEC-free extras stay out of a fresh
interpreter that parses the command line and runs the default scenario without figures;
matplotlib comes in only to draw them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: heavy modules a default run without figures must not import
NOT_ON_THE_DEFAULT_RUN = ("pandapower", "scipy.stats", "dask", "distributed", "matplotlib",
                          "sklearn", "pymoo", "simbench")

_CHILD = """
import json, sys
from vppsim.cli.main import main
after_cli = sorted(sys.modules)
code = main(["run", "--out", sys.argv[1], "--quiet", "--no-figures"])
print(json.dumps({"code": code, "after_cli": after_cli, "after_run": sorted(sys.modules)}))
"""


def _loaded(mods: list[str], name: str) -> bool:
    return name in mods


def test_default_run_without_figures_imports_no_heavy_module(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    seen = json.loads(res.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    assert (tmp_path / "out" / "summary.json").is_file()
    assert "vppsim.cli.impl.run" not in seen["after_cli"]  # the parser loads no implementation
    for stage in ("after_cli", "after_run"):
        heavy = [m for m in NOT_ON_THE_DEFAULT_RUN if _loaded(seen[stage], m)]
        assert not heavy, f"{stage}: {heavy}"
    # the run did solve its power flows on lightsim2grid (the test would pass vacuously otherwise)
    assert "lightsim2grid" in seen["after_run"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["wall_time_s"]["power_flow"] > 0.0
