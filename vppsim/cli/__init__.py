"""Command line: ``vppsim run``, ``validate``, ``game``, ``montecarlo``, ``allocate``, ``feeders``."""

from vppsim.cli.main import main

__all__ = ["main"]
