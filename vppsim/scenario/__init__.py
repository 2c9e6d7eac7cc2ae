"""Scenarios: the schema (:mod:`.schema`) and loading (:mod:`.loader`)."""
