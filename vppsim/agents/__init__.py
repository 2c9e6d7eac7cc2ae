"""Agents of the co-simulation: VPPs, their members by role, the VPO and the distribution network.

One module per agent kind; the member registry (:mod:`vppsim.agents.registry`) says which kinds a
scenario may name and how each is built.
"""
