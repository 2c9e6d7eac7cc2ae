"""``python -m vppsim.cli``: the ``vppsim`` command."""

import sys

from vppsim.cli.main import main

sys.exit(main())
