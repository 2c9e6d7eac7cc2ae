"""The live dashboard: ``vppsim dashboard`` serves a Mesa ``SolaraViz`` page of a scenario.

:mod:`vppsim.dashboard.model` holds the model the page steps (a :class:`vppsim.model.VPPModel`
built from the page's controls), :mod:`vppsim.dashboard.figures` draws its plots from the
model's DataCollector and :mod:`vppsim.dashboard.app` is the Solara page itself (imported
only by Solara's server: it needs the ``dashboard`` extra). This module imports nothing.
"""

#: the module Solara's server runs (``solara run vppsim.dashboard.app``)
APP_MODULE = "vppsim.dashboard.app"
#: the environment variable that hands the scenario path to the page
SCENARIO_ENV = "VPPSIM_DASHBOARD_SCENARIO"
