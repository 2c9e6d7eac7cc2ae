"""The floor plan, checked with the tests so it cannot decay silently.

- import-linter's contracts (``[tool.importlinter]`` in pyproject.toml): layers import
  downward only, the optimizers know nothing of power systems, the scenario schema imports
  nothing else from vppsim, no import cycles inside a package;
- ruff, with PLC0415 (no imports inside functions) among its rules;
- the only imports inside functions are the deliberate lazy ones listed here;
- no function in vppsim is longer than 100 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from importlinter.cli import lint_imports

import vppsim

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(vppsim.__file__).resolve().parent

#: the deliberate lazy imports (heavy dependencies, imported only by the code that needs them)
LAZY_IMPORTS = {
    "results/plotting.py": "matplotlib: about 0.5 s to import; only runs that draw need it",
    "montecarlo/cluster.py": "distributed: about 1 s to import; only Monte Carlo batches need it",
    "localcluster.py": "dask and distributed: about 1 s to import; only a LocalCluster needs them",
    "prosumers/cluster.py": "distributed: about 1 s to import; only prosumer scheduling on a "
                            "Dask cluster (schedule_fleet's scheduler) needs it",
    "forecast/load.py": "scikit-learn: about 2 s to import; only the gbr load forecaster needs it",
    "market/pareto.py": "pymoo: an optional extra, about 1 s to import; only NSGA-II fronts need it",
    "grids/simbench.py": "simbench: an optional extra, about 1 s to import (5 s per grid); only "
                         "SimBench feeders and profiles need it",
    # issue 17: a default run builds its feeder from grids/*.tables.json on lightsim2grid
    # (vppsim.grids.tables/light), so pandapower (1.5-3 s) is imported only by what builds,
    # reads or solves a pandapower net
    "grids/powerflow.py": "pandapower and lightsim2grid's pandapower converter: only a PowerFlow "
                          "of a pandapower net needs them",
    "grids/registry.py": "pandapower: only building or reading a pandapower net needs it",
    "grids/topology.py": "pandapower.topology: only the graph of a pandapower net needs it",
    "grids/switches.py": "pandapower: only the switch-free copy of a net with switches needs it",
    "grids/losses.py": "pandapower: only the loss model's Ybus probe needs it",
    "optimizers/elm_ga.py": "scipy.stats: about 1 s to import; only ELM-GA's ranking needs it "
                            "(every command imports the optimizers through the solver names)",
    "console.py": "the command line: imported with the garbage collector off (vppsim.startup), "
                  "after the BLAS thread count is set",
}


def test_import_contracts_hold() -> None:
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                          no_logo=True)
    assert status == 0, "an import-linter contract is broken (see the captured output)"


def test_ruff_is_clean_including_no_imports_inside_functions() -> None:
    paths = [p for p in ("vppsim", "tests", "benchmarks", "scenarios") if (ROOT / p).is_dir()]
    res = subprocess.run([sys.executable, "-m", "ruff", "check", *paths], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_the_only_imports_inside_functions_are_the_listed_lazy_ones() -> None:
    found: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in _functions(tree):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [a.name for a in node.names]
                    mod = getattr(node, "module", None) or names[0]
                    found.setdefault(path.relative_to(PACKAGE).as_posix(), []).append(mod)
    assert set(found) == set(LAZY_IMPORTS), found
    # no lazy import inside the package, but the console's of the command line itself
    assert found.pop("console.py") == ["vppsim.cli.main"]
    assert all(not m.startswith("vppsim") for mods in found.values() for m in mods), found


def test_no_function_is_longer_than_100_lines() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for fn in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            n = fn.end_lineno - fn.lineno + 1
            if n > 100:
                long.append(f"{path.relative_to(PACKAGE)}:{fn.lineno} {fn.name} ({n} lines)")
    assert not long, long


def test_the_command_line_loads_no_heavy_package_before_a_command_runs() -> None:
    """``vppsim --help``, a bad option or an unusable ``--out`` answer without pandapower & co.

    The parsers (``vppsim.cli.<command>``) name their implementation (``vppsim.cli.impl``),
    which ``vppsim.cli.main`` imports only when the command runs.
    """
    heavy = ("pandapower", "mesa", "matplotlib", "distributed", "lightsim2grid", "simpy")
    code = ("import sys, vppsim.cli.main; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "", f"loaded by the parsers: {res.stdout.strip()}"
