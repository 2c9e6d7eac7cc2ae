"""vppsim: agent-based co-simulation of virtual power plants."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vppsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"

__all__ = ["__version__"]
