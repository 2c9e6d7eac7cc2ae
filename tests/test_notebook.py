"""The shipped notebooks run top to bottom against the installed package.

``default_scenario.ipynb`` runs in the default test run; the five worked notebooks
(``01_quickstart`` .. ``05_real_feeder``, about 3 minutes together) are marked slow and run by
``.ci/run`` after the default run: ``pytest -m slow tests/test_notebook.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WORKED = sorted(p.name for p in NOTEBOOKS.glob("0[0-9]_*.ipynb"))


def _execute(name: str, tmp_path: Path) -> list[dict]:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # the notebooks ship without outputs (nothing to review but the code)
    assert not [c for c in nb.cells if c.cell_type == "code" and c.get("outputs")], name
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    return outputs


def _text(outputs: list[dict]) -> str:
    return "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", ""))
                   for o in outputs)


def _images(outputs: list[dict]) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def test_default_scenario_notebook_executes(tmp_path: Path) -> None:
    outputs = _execute("default_scenario.ipynb", tmp_path)
    assert "system_cost_cny" in _text(outputs)
    assert _images(outputs) >= 1


def test_the_five_worked_notebooks_are_shipped() -> None:
    assert WORKED == ["01_quickstart.ipynb", "02_market_equilibria.ipynb", "03_monte_carlo.ipynb",
                      "04_paper_reproductions.ipynb", "05_real_feeder.ipynb"]


#: what each worked notebook must show (a text from its outputs, and how many figures at least)
EXPECTED = {
    "01_quickstart.ipynb": ("network_losses_kwh", 4),
    "02_market_equilibria.ipynb": ("vpo_profit_pessimistic_cny", 2),
    "03_monte_carlo.ipynb": ("same tables on the scheduler", 2),
    "04_paper_reproductions.ipynb": ("every SA schedule feasible: True", 0),
    "05_real_feeder.ipynb": ("losses_kwh", 1),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", WORKED)
def test_worked_notebook_executes(name: str, tmp_path: Path) -> None:
    outputs = _execute(name, tmp_path)
    text, figures = EXPECTED[name]
    assert text in _text(outputs)
    assert _images(outputs) >= figures


def test_result_figures_leave_pyplot_alone(tmp_path: Path) -> None:
    """Drawing a run's figures neither selects a backend nor registers figures with pyplot
    (a notebook's inline backend keeps working after `vppsim run` in the same process)."""
    code = (
        "import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot as plt\n"
        "from vppsim.cli.main import main\n"
        f"assert main(['run', '--days', '1', '--no-baseline', '--out', r'{tmp_path / 'r'}',"
        " '--quiet']) == 0\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert plt.get_fignums() == [], plt.get_fignums()\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(list((tmp_path / "r" / "figures").glob("*.png"))) >= 3
