"""``python -m vppsim``: the ``vppsim`` command (:func:`vppsim.console.console`)."""

from vppsim.console import console

console()
