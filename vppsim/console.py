"""The ``vppsim`` console script (and ``python -m vppsim``).

It is :func:`vppsim.cli.main` with the tuning of a short-lived process
(:mod:`vppsim.startup`): one BLAS thread unless the user chose a count, the command line
imported with the garbage collector off, and what is alive when the command returns frozen so
the interpreter's exit does not walk it.
"""

from __future__ import annotations

import gc
import sys
from typing import NoReturn

from vppsim.startup import imports_without_gc, interrupt_of, single_threaded_blas

#: the exit code of a command interrupted by Ctrl-C (``vppsim.cli.common.EXIT_INTERRUPTED``)
EXIT_INTERRUPTED = 130


def console() -> NoReturn:
    """Run the command of ``sys.argv`` and exit with its code."""
    single_threaded_blas()
    try:
        with imports_without_gc():
            from vppsim.cli.main import main  # noqa: PLC0415 - imported with the collector off
    except (KeyboardInterrupt, ImportError) as exc:
        if interrupt_of(exc) is None:  # a Ctrl-C before the command's own handler is in place
            raise
        print("vppsim: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    code = main()
    gc.freeze()  # every file is written and closed: skip the collector's passes at exit
    sys.exit(code)
