"""A Monte Carlo worker does not keep its samples' Mesa models (mesa 3.3's ``Agent._ids``)."""

from __future__ import annotations

import gc

import pytest

from vppsim.model import VPPModel
from vppsim.montecarlo.chunk import SampleContext, run_chunk
from vppsim.montecarlo.run import batch_scenario, clear_day_ahead, sample_seeds
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario


def _alive() -> int:
    gc.collect()
    return sum(isinstance(o, VPPModel) for o in gc.get_objects())


@pytest.mark.parametrize("path", ["objects", "arrays"])
def test_a_chunk_leaves_no_model_behind(path: str) -> None:
    loaded = batch_scenario(load_scenario(default_scenario_path()), "lightsim2grid", False)
    cleared = clear_day_ahead(loaded, loaded.scenario.seed)
    ctx = SampleContext(loaded, cleared, tuple(v.name for v in loaded.scenario.vpps), path)
    seeds = sample_seeds(loaded.scenario.seed, 6)
    before = _alive()
    run_chunk(ctx, [(i, seeds[i]) for i in range(3)])
    run_chunk(ctx, [(i, seeds[i]) for i in range(3, 6)])
    # before the fix every sample's model (and each chunk's template) stayed alive: +6 or +2
    assert _alive() == before
