"""What the sub-commands do, loaded only when one runs (``vppsim.cli.main`` dispatches here).

The parsers (``vppsim.cli.run``, ``game``, ...) import nothing heavy, so ``vppsim --help``, a
bad option and an unusable ``--out`` answer without loading pandapower, Mesa or the solvers.
"""
