"""Issue 17's cheaper default run: figures drawn in a forked process, GA-ACO unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vppsim.allocation.gaaco import solve_ga_aco
from vppsim.allocation.problem import AllocationProblem
from vppsim.model import VPPModel
from vppsim.optimizers.gaaco import _take
from vppsim.results.figures import FigureDrawing, draw_run_figures
from vppsim.scenario.loader import load_scenario


@pytest.fixture(scope="module")
def day_ts(passthrough_day_path: Path) -> pd.DataFrame:
    model = VPPModel(load_scenario(passthrough_day_path))
    model.run()
    return model.timeseries()


#: FigureDrawing in a fresh single-threaded process (pytest-xdist workers run threads, where
#: it rightly does not fork): prints whether it forked, the files or the error, and whether a
#: child process is left
_DRAW = """
import json, os, sys
import pandas as pd
from vppsim.results.figures import FigureDrawing
ts = pd.read_parquet(sys.argv[1]).drop(columns=sys.argv[3:])
with FigureDrawing() as drawing:
    forked = drawing._pid is not None
    drawing.draw(sys.argv[2], ts, 1.0)
    try:
        files, error = drawing.files(), None
    except RuntimeError as exc:
        files, error = [], str(exc)
try:
    os.waitpid(-1, os.WNOHANG)
    left = True
except ChildProcessError:
    left = False
print(json.dumps({"forked": forked, "files": files, "error": error, "left": left}))
"""


def _draw_in_a_fresh_process(ts: pd.DataFrame, tmp_path: Path, out: Path,
                             *drop: str) -> dict[str, Any]:
    table = tmp_path / "ts.parquet"
    ts.to_parquet(table)
    done = subprocess.run([sys.executable, "-c", _DRAW, str(table), str(out), *drop],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_forked_figures_are_the_in_process_figures(day_ts, tmp_path):
    got = _draw_in_a_fresh_process(day_ts, tmp_path, tmp_path / "forked")
    assert got["forked"] == sys.platform.startswith("linux") and not got["left"]
    here = draw_run_figures(day_ts, tmp_path / "here", 1.0)
    assert [Path(f).name for f in got["files"]] == [Path(f).name for f in here]
    assert len(here) == 6
    for a, b in zip(got["files"], here, strict=True):  # Agg is deterministic: the same bytes
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert sorted(p.name for p in (tmp_path / "forked").iterdir()) == sorted(
        Path(f).name for f in here)  # nothing but the figures


def test_a_failure_while_drawing_is_raised_in_the_parent(day_ts, tmp_path):
    got = _draw_in_a_fresh_process(day_ts, tmp_path, tmp_path / "figures", "soc_pu")
    assert got["files"] == [] and "KeyError" in got["error"] and "soc_pu" in got["error"]
    assert not got["left"]
    with FigureDrawing() as drawing:  # this process: no fork under threads
        drawing.draw(tmp_path / "here", day_ts.drop(columns=["soc_pu"]), 1.0)
        with pytest.raises((RuntimeError, KeyError), match="soc_pu"):
            drawing.files()


_CLOSE = """
import json, os, sys
import pandas as pd
from vppsim.results.figures import FigureDrawing
drawing = FigureDrawing()
forked = drawing._pid is not None
if sys.argv[2:]:
    drawing.draw(sys.argv[1], pd.read_parquet(sys.argv[2]), 1.0)
drawing.close()  # the parent failed before waiting (or before the run ended)
try:
    os.waitpid(-1, os.WNOHANG)
    left = True
except ChildProcessError:
    left = False
print(json.dumps({"forked": forked, "left": left}))
"""


@pytest.mark.parametrize("with_data", [False, True])
def test_closing_an_unfinished_drawing_leaves_no_process(day_ts, tmp_path, with_data):
    args = [sys.executable, "-c", _CLOSE, str(tmp_path / "figures")]
    if with_data:
        day_ts.to_parquet(tmp_path / "ts.parquet")
        args.append(str(tmp_path / "ts.parquet"))
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["forked"] == sys.platform.startswith("linux") and not got["left"]
    with pytest.raises(RuntimeError, match="nothing to draw"):
        FigureDrawing().files()


def test_take_is_take_along_axis():
    rng = np.random.default_rng(3)
    x3, x2 = rng.random((4, 7, 3)), rng.random((4, 7))
    idx = rng.integers(0, 7, (4, 5))
    np.testing.assert_array_equal(_take(x3, idx), np.take_along_axis(x3, idx[..., None], axis=1))
    np.testing.assert_array_equal(_take(x2, idx), np.take_along_axis(x2, idx, axis=1))


#: GA-ACO's objective and iterations on 24 fixed problems, from main at 2a54dbd (before the
#: indexing and counting changes of issue 17): the results must not move
GA_ACO_MAIN = [
    (2.1243312198215847e-07, 53), (5.61454964964625e-07, 45), (0.08084971824964504, 36),
    (1.502789893081946e-07, 52), (4.0377262683355397e-07, 49), (1.8216953023841853e-07, 43),
    (1.8201270940432224e-07, 48), (4.127035027612358e-08, 42), (3.2077445598355236e-07, 50),
    (4.143040588933111e-07, 44), (5.171962177558109e-07, 50), (1.0795157889820217e-07, 41),
    (1.3561881535562037e-06, 65), (0.4785449606380467, 71), (9.247039195470208e-07, 63),
    (0.09413198033222214, 72), (0.10653647584506304, 72), (1.7380942442246639e-06, 70),
    (0.15350793618407688, 62), (8.469947294642566e-07, 66), (0.6276863175812589, 72),
    (0.33820307052814846, 72), (3.4450384173156934e-07, 65), (4.6443617535141257e-07, 63),
]


def test_ga_aco_results_are_mains_on_fixed_problems():
    rng = np.random.default_rng(17)
    got = []
    for k in (3, 5):
        cap = rng.uniform(10.0, 200.0, (12, k))
        cost = rng.uniform(0.2, 1.5, (12, k))
        need = rng.uniform(0.1, 0.9, 12) * cap.sum(axis=1)
        res = solve_ga_aco(AllocationProblem(cap, cost, need), np.arange(12) + 100 * k)
        got += list(zip(res.objective.tolist(), res.iterations.tolist(), strict=True))
    assert [i for _, i in got] == [i for _, i in GA_ACO_MAIN]
    np.testing.assert_allclose([f for f, _ in got], [f for f, _ in GA_ACO_MAIN], rtol=1e-12,
                               atol=0.0)
