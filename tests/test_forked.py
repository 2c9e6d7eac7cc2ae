"""A call in a forked child (vppsim.forked) and `vppsim run`'s baseline computed that way."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from vppsim.forked import ForkedCall, ForkedCallError, can_fork

LINUX = sys.platform.startswith("linux")

#: ForkedCall in a fresh single-threaded process (pytest-xdist workers run threads, where it
#: rightly does not fork): prints whether it forked, the answer or the error, whether the
#: answer came from another process, and whether a child process is left
_CALL = """
import json, os, signal, sys, time
from vppsim.forked import ForkedCall, ForkedCallError

def answer(kind):
    if kind == "raise":
        raise ValueError("bad field x")
    if kind == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "unpicklable":
        return lambda: None
    if kind == "slow":
        time.sleep(60)
    return {"pid": os.getpid(), "value": [1.5, 2.5]}

call = ForkedCall(answer, sys.argv[1])
forked = call.forked
if sys.argv[1] == "slow":
    call.close()  # the parent failed first
    got, error = None, None
else:
    try:
        got, error = call.result(), None
    except ForkedCallError as exc:
        got, error = None, str(exc)
try:
    os.waitpid(-1, os.WNOHANG)
    left = True
except ChildProcessError:
    left = False
other = got is not None and got["pid"] != os.getpid()
print(json.dumps({"forked": forked, "got": got, "error": error, "other": other, "left": left}))
"""


def _call(kind: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _CALL, kind], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_answer_comes_back_from_the_child():
    got = _call("ok")
    assert got["forked"] == LINUX and got["other"] == LINUX and not got["left"]
    assert got["got"]["value"] == [1.5, 2.5]


@pytest.mark.parametrize(("kind", "message"), [
    ("raise", "ValueError: bad field x"),
    ("die", "the child process ended without an answer (exit -9)"),
    ("unpicklable", "the answer could not be pickled"),
])
def test_a_failed_child_is_an_error_in_the_parent(kind, message):
    if not LINUX:
        pytest.skip("nothing is forked here")
    got = _call(kind)
    assert got["forked"] and got["got"] is None and not got["left"]
    assert message in got["error"]


def test_closing_an_unfinished_call_leaves_no_process():
    got = _call("slow")
    assert got["forked"] == LINUX and not got["left"]


def test_with_another_thread_the_call_is_made_here():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        call = ForkedCall(lambda x: x * 2, 21)
        assert not call.forked
        assert call.result() == 42
        with pytest.raises(ForkedCallError, match="read already"):  # not a second call
            call.result()
        with pytest.raises(ZeroDivisionError):  # in this process: the exception as it is
            ForkedCall(lambda: 1 / 0).result()
    finally:
        stop.set()
        other.join()


#: `vppsim run` in a fresh process; with an argument, a second thread runs first, so that
#: nothing may be forked and the baseline runs after the coordinated run in this process
_RUN = """
import sys, threading
from vppsim.cli.main import main
from vppsim.forked import can_fork
stop = threading.Event()
if sys.argv[2] == "in-process":
    threading.Thread(target=stop.wait, daemon=True).start()
print("can_fork", can_fork(), file=sys.stderr)
code = main(["run", "--quiet", "--no-figures", "--days", sys.argv[3], "--out", sys.argv[1]])
stop.set()
sys.exit(code)
"""


@pytest.mark.parametrize("days", [1, 2])  # 2: streamed by day, each run with its own store
def test_the_forked_baseline_gives_the_in_process_kpis(tmp_path, days):
    out = {}
    for how in ("forked", "in-process"):
        out[how] = tmp_path / how
        done = subprocess.run([sys.executable, "-c", _RUN, str(out[how]), how, str(days)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert f"can_fork {how == 'forked' and LINUX}" in done.stderr
        assert "WARNING" not in done.stderr  # the baseline did not fail
        assert "leaked" not in done.stderr  # no multiprocessing semaphore left by the child
    assert (out["forked"] / "kpis.csv").read_bytes() == (out["in-process"] / "kpis.csv").read_bytes()
    kpis = json.loads((out["forked"] / "summary.json").read_text(encoding="utf-8"))["kpis"]
    assert kpis["baseline"] is not None
    assert kpis["rows"]["peak_feeder_load_kw"]["baseline"] > 0


#: `vppsim run` in a fresh process: its exit code and whether a child process is left
_RUN_LEFT = """
import json, os, sys
from vppsim.cli.main import main
code = main(["run", *sys.argv[2:], "--quiet", "--no-baseline", "--out", sys.argv[1]])
try:
    os.waitpid(-1, os.WNOHANG)
    left = True
except ChildProcessError:
    left = False
print(json.dumps({"code": code, "left": left}))
"""


def test_the_drawing_forked_by_the_command_line_draws_or_ends(tmp_path):
    """`vppsim run` forks its drawing process before importing the model; no child is left."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nseed: -1\n", encoding="utf-8")
    got = {}
    for case, args in (("ok", []), ("bad", [str(bad)])):
        done = subprocess.run([sys.executable, "-c", _RUN_LEFT, str(tmp_path / case), *args],
                              capture_output=True, text=True, timeout=300)
        got[case] = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["ok"] == {"code": 0, "left": False}
    assert sorted(p.name for p in (tmp_path / "ok" / "figures").iterdir()) == [
        "dispatch.png", "exchange.png", "network.png", "prices.png", "soc.png", "vpo_profit.png"]
    assert got["bad"] == {"code": 2, "left": False}  # the drawing process was ended
    assert not (tmp_path / "bad").exists()
