"""Process-level tuning of a short-lived ``vppsim`` command: the garbage collector, BLAS threads.

A command imports numpy, pandas, scipy, mesa, pydantic and the package: about a million
container objects, almost none of them garbage. CPython's cyclic collector runs its passes
over them while they are created (about 0.1-0.2 s of the default ``vppsim run``'s imports)
and again at exit, when the interpreter tears the modules down (0.25-0.35 s). Neither finds
anything to free. :func:`imports_without_gc` switches the collector off around an import;
the console script (:mod:`vppsim.console`) freezes what is alive when the command has
returned (``gc.freeze``), so the teardown skips it. Objects' ``__del__`` methods still run
when their reference counts drop; only cycles alive at exit are left to the operating
system, which Python does not promise to finalize anyway. Library code and the tests, which
call :func:`vppsim.cli.main` in a long-lived process, see the collector as they left it.

OpenBLAS (numpy's BLAS) starts a worker thread per core that busy-waits for about 0.1 s after
numpy's import and after every BLAS call: about 0.2 s of CPU in the default ``vppsim run``,
taken from the processes that draw the figures and run the baseline beside it. vppsim's
matrices are small (tens of rows), where one BLAS thread is as fast, so the console starts
with one (:func:`single_threaded_blas`) unless the user chose a thread count; Dask's workers
get the same from Dask itself.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def imports_without_gc() -> Iterator[None]:
    """While inside, the cyclic garbage collector is off; its previous state is restored after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: environment variables that set the BLAS thread count (any one set: the user's choice)
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS",
                         "MKL_NUM_THREADS")


def single_threaded_blas() -> bool:
    """One OpenBLAS thread for this process, if numpy is not loaded and no count was chosen.

    Returns whether it was set (``OPENBLAS_NUM_THREADS=1``, read once when numpy loads).
    """
    if "numpy" in sys.modules or any(v in os.environ for v in BLAS_THREAD_VARIABLES):
        return False
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    return True


def interrupt_of(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM raised as one) that ``exc`` is or comes from, else None.

    pybind11 reports an interrupt that arrives while a compiled extension initializes as
    ``ImportError: initialization failed`` raised from it.
    """
    if isinstance(exc, KeyboardInterrupt):
        return exc
    if isinstance(exc, ImportError) and isinstance(exc.__cause__, KeyboardInterrupt):
        return exc.__cause__
    return None
