"""Process-level tuning of a short-lived ``vppsim`` command: the garbage collector.

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
"""

from __future__ import annotations

import gc
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
