"""Counter-based streams of vppsim.optimizers.rng: SplitMix64, keys, CounterRng."""

from __future__ import annotations

import numpy as np
import pytest

from vppsim.optimizers.rng import (
    GAMMA,
    MASK64,
    CounterRng,
    mix,
    mix_seed,
    problem_keys,
    stream_draw,
    stream_keys,
)


def test_mix_seed_is_splitmix64():
    # reference outputs of splitmix64.c (Vigna): seeds 0 and 1234567
    assert mix_seed(0) == 0xE220A8397B1DCDAF
    outputs = [mix_seed(1234567 + k * GAMMA) for k in range(5)]
    assert outputs == [6457827717110365317, 3203168211198807973, 9817491932198370423,
                       4593380528125082431, 16408922859458223821]


def test_scalar_and_array_mixers_agree():
    rng = np.random.default_rng(0)
    xs = [0, 1, 2**63, MASK64, MASK64 - GAMMA, *rng.integers(0, 2**63, 200, dtype=np.uint64).tolist()]
    xs += [x * 2 + 1 for x in xs[5:]]  # large values above 2**63 too
    arr = np.array([(x + GAMMA) & MASK64 for x in xs], dtype=np.uint64)
    with np.errstate(over="ignore"):
        hashed = mix(arr)
    assert [int(h) for h in hashed] == [mix_seed(x) for x in xs]
    # Python ints beyond 64 bits wrap like uint64
    assert mix_seed(2**64 + 5) == mix_seed(5) and mix_seed(-1) == mix_seed(MASK64)


def test_counter_rng_depends_only_on_key_site_and_index():
    keys = problem_keys([3, 9, 3], 3)
    assert keys[0] == keys[2] and keys[0] != keys[1]
    rng = CounterRng(keys)
    u = rng.uniform(17, (5, 4))
    np.testing.assert_array_equal(u[0], u[2])  # same key, other row of the batch
    alone = CounterRng(problem_keys(9, 1)).uniform(17, (5, 4))
    np.testing.assert_array_equal(alone[0], u[1])  # other batch
    larger = rng.uniform(17, (8, 6))
    np.testing.assert_array_equal(larger[:, :5, :4], u)  # other sizes of the other dimensions
    np.testing.assert_array_equal(rng.take(np.array([1])).uniform(17, (5, 4))[0], u[1])
    assert not np.array_equal(rng.uniform(18, (5, 4)), u)  # other site
    assert np.all((u >= 0.0) & (u < 1.0))
    with pytest.raises(ValueError, match="seeds"):
        problem_keys([1, -2, 3], 3)
    with pytest.raises(ValueError, match="2\\*\\*20"):
        rng.uniform(0, (1 << 20,))


def test_stream_keys_do_not_depend_on_chunking():
    whole = stream_keys(42, np.arange(0, 100))
    parts = np.concatenate([stream_keys(42, np.arange(a, min(a + 33, 100))) for a in range(0, 100, 33)])
    np.testing.assert_array_equal(whole, parts)
    assert len(np.unique(whole)) == 100
    assert not np.array_equal(stream_keys(43, np.arange(100)), whole)
    with np.errstate(over="ignore"):
        d1, d2 = stream_draw(whole, 1), stream_draw(whole, 2)
    assert d1.dtype == np.uint64 and not np.array_equal(d1, d2)
    np.testing.assert_array_equal(stream_draw(whole[10:20], 1), d1[10:20])
    # the counter-th draw is mix(key + counter * gamma), wrapping
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(d2, mix(whole + np.uint64(GAMMA) * np.uint64(2)))
