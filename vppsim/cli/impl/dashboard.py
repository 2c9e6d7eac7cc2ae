"""``vppsim dashboard``: check the scenario, then run Solara's server on the dashboard page.

The page (:mod:`vppsim.dashboard.app`) needs the ``dashboard`` extra (Solara); this module
does not import it, so ``vppsim run`` and the other commands never load Solara.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys

from vppsim.cli.common import EXIT_BAD_INPUT, print_json
from vppsim.dashboard import APP_MODULE, SCENARIO_ENV
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario


def server_command(host: str, port: int) -> list[str]:
    """The command that serves the dashboard page with Solara.

    Production mode (no auto-restart), no browser opened, no look-up of Solara's newest version.
    """
    return [sys.executable, "-m", "solara", "run", APP_MODULE, "--host", host, "--port", str(port),
            "--production", "--no-open", "--no-check-version", "--log-level", "warning"]


def dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard of ``args.scenario`` until interrupted; the server's exit code."""
    path = (args.scenario or default_scenario_path()).resolve()
    load_scenario(path)  # a bad scenario: ScenarioError, exit 2 before any server starts
    if importlib.util.find_spec("solara") is None:
        print("vppsim: dashboard: expected the dashboard extra (Solara, Mesa's visualization) to "
              "be installed: pip install 'vppsim[dashboard]'", file=sys.stderr)
        return EXIT_BAD_INPUT
    url = f"http://{args.host}:{args.port}"
    print(f"vppsim: dashboard of {path} on {url} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    if getattr(args, "json", False):  # the server runs until stopped: its address, as it starts
        print_json({"url": url, "scenario": str(path)}, getattr(args, "stdout", None))
    # the page is local: Solara's usage statistics stay off
    env = {**os.environ, SCENARIO_ENV: str(path), "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    # with --json the server's own output goes to stderr: stdout holds the address only
    return subprocess.call(server_command(args.host, args.port), env=env,
                           stdout=sys.stderr.fileno() if getattr(args, "json", False) else None)
