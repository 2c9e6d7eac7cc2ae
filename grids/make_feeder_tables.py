"""Build ``grids/<name>.tables.json``: the built-in feeders as plain tables, without pandapower.

A run on lightsim2grid reads these tables (:mod:`vppsim.grids.tables`) instead of building the
pandapower net (importing pandapower and converting MATPOWER's case takes about 3 s). The
tables are exactly pandapower's: ``tests/test_feeder_tables.py`` compares every value with
the net :func:`vppsim.grids.registry.load_feeder` builds, and the power flows of both paths.

Only nets of buses, lines, constant-power loads and one external grid are written (the other
feeders keep their pandapower path). Run from the repository root after a pandapower upgrade
that changes a built-in case: ``python grids/make_feeder_tables.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from vppsim.grids.registry import load_feeder
from vppsim.grids.tables import TABLE_COLUMNS, tables_file, tables_of_net

#: the built-in feeders shipped as tables
FEEDERS = ("ieee33", "ieee12")


def main() -> None:
    """Write one tables file per feeder in :data:`FEEDERS`."""
    for name in FEEDERS:
        doc = tables_of_net(load_feeder(name), name)
        assert set(doc["tables"]) == set(TABLE_COLUMNS)
        path = tables_file(name, Path(__file__).resolve().parent)
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
