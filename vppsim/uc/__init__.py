"""Unit commitment of a VPP with demand-side water storage (paper 003): MILP and ELM-GA."""
