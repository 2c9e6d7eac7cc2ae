"""The console script's process tuning (vppsim.startup, vppsim.console): the collector is off
while the command imports and frozen at exit, and nothing else changes."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path

import pandas as pd
import pytest

import vppsim.console as console_module
from vppsim.cli.common import EXIT_INTERRUPTED
from vppsim.cli.main import main
from vppsim.startup import BLAS_THREAD_VARIABLES, imports_without_gc


def _env(**extra: str) -> dict[str, str]:
    """This environment without any BLAS thread count, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES}
    return {**env, **extra}


def test_imports_without_gc_restores_the_collector() -> None:
    assert gc.isenabled()
    with imports_without_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ImportError), imports_without_gc():
        import vppsim.no_such_module  # noqa: F401, PLC0415
    assert gc.isenabled()  # restored after a failed import too
    gc.disable()
    try:
        with imports_without_gc():
            pass
        assert not gc.isenabled()  # a collector switched off by the caller stays off
    finally:
        gc.enable()


def test_a_command_run_in_process_leaves_the_collector_as_it_was(tmp_path: Path) -> None:
    frozen = gc.get_freeze_count()
    assert main(["run", "--quiet", "--no-figures", "--no-baseline",
                 "--out", str(tmp_path / "out")]) == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # only the console script freezes, at its exit


def test_the_installed_script_is_the_console() -> None:
    (script,) = entry_points(group="console_scripts", name="vppsim")
    assert script.value == "vppsim.console:console"


#: the console in a fresh interpreter: the run's exit code, the collector's state at exit
_CONSOLE = """
import atexit, gc, json, os, sys
seen = {}
atexit.register(lambda: print(json.dumps(seen)))
atexit.register(lambda: seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count(),
                                    blas=os.environ.get("OPENBLAS_NUM_THREADS")))
sys.argv = ["vppsim", *sys.argv[1:]]
from vppsim.console import console
console()
"""


def test_the_console_runs_the_command_and_freezes_at_exit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", _CONSOLE, "run", "--quiet", "--no-figures",
                           "--no-baseline", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["enabled"]  # the command ran with the collector on
    assert seen["blas"] == "1"  # one BLAS thread: no count was chosen
    assert seen["frozen"] > 100_000  # what was alive at exit: the imports' objects
    assert main(["run", "--quiet", "--no-figures", "--no-baseline",
                 "--out", str(tmp_path / "in_process")]) == 0
    # the same results as in-process (the time series less its solve times)
    assert (out / "kpis.csv").read_bytes() == (tmp_path / "in_process" / "kpis.csv").read_bytes()
    ts, ts_in = (pd.read_parquet(f / "timeseries.parquet").drop(columns="allocation_solve_ms")
                 for f in (out, tmp_path / "in_process"))
    pd.testing.assert_frame_equal(ts, ts_in)


def test_python_m_vppsim_passes_the_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "vppsim", "validate", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "bad.yaml" in done.stderr


_BLAS = """
import json, os, sys
from vppsim.startup import single_threaded_blas
if sys.argv[1] == "numpy first":
    import numpy
print(json.dumps([single_threaded_blas(), os.environ.get("OPENBLAS_NUM_THREADS")]))
"""


@pytest.mark.parametrize(("case", "extra", "expected"), [
    ("fresh", {}, [True, "1"]),
    ("fresh", {"OMP_NUM_THREADS": "2"}, [False, None]),  # the user's choice stands
    ("fresh", {"OPENBLAS_NUM_THREADS": "4"}, [False, "4"]),
    ("numpy first", {}, [False, None]),  # too late: OpenBLAS has read its count
])
def test_single_threaded_blas_only_where_it_takes_effect(case: str, extra: dict[str, str],
                                                         expected: list[object]) -> None:
    done = subprocess.run([sys.executable, "-c", _BLAS, case], capture_output=True, text=True,
                          timeout=120, env=_env(**extra), check=True)
    assert json.loads(done.stdout) == expected


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), "extension"])
def test_ctrl_c_while_the_console_imports_is_a_clean_stop(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str],
                                                          interrupt: object) -> None:
    @contextmanager
    def interrupted() -> Iterator[None]:
        if isinstance(interrupt, KeyboardInterrupt):
            raise interrupt
        raise ImportError("initialization failed") from KeyboardInterrupt()  # pybind11's form
        yield

    monkeypatch.setattr(console_module, "imports_without_gc", interrupted)
    monkeypatch.setattr(console_module, "single_threaded_blas", lambda: False)
    with pytest.raises(SystemExit) as stop:
        console_module.console()
    assert stop.value.code == console_module.EXIT_INTERRUPTED == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "vppsim: interrupted\n"


def test_other_import_errors_of_the_console_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def broken() -> Iterator[None]:
        raise ImportError("a missing dependency")
        yield

    monkeypatch.setattr(console_module, "imports_without_gc", broken)
    monkeypatch.setattr(console_module, "single_threaded_blas", lambda: False)
    with pytest.raises(ImportError, match="a missing dependency"):
        console_module.console()
