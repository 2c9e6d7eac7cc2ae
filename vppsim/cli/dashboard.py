"""``vppsim dashboard``: its options; what it does is :mod:`vppsim.cli.impl.dashboard`."""

from __future__ import annotations

import argparse

from vppsim.cli.common import int_at_least, scenario_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``vppsim dashboard`` to the sub-commands."""
    p = sub.add_parser("dashboard", help="serve a live Mesa (Solara) dashboard of a scenario")
    scenario_argument(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to serve on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int_at_least(1), default=8765,
                   help="port to serve on (default: 8765)")
    p.add_argument("--json", action="store_true",
                   help="print the page's address as one JSON object {url, scenario} on stdout "
                   "when the server starts (it then runs until stopped: no summary)")
    p.set_defaults(impl="vppsim.cli.impl.dashboard:dashboard")
