"""The shipped notebook runs top to bottom against the installed package."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_default_scenario_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOKS / "default_scenario.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "system_cost_cny" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
