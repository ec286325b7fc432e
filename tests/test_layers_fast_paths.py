"""The layers' fast paths compute what the plain forms compute (``benchmarks/bench_layers.py`` times them).

Each shortcut that a layer of ``bp_manual.layers`` takes for speed is held here to the plain expression it
replaces, on NumPy and under ``jax.jit``: bit for bit where both do the same roundings (an index, a max), within a
derived bound where the shortcut rounds differently (stated at the test). The families' own property tests
(``tests/test_layers_<family>.py``) still hold every layer to its JAX twin and to torch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_manual.layers.conv import windows
from bp_manual.layers.pool import first_index_of
from strategies import examples

SEEDS = st.integers(0, 2**32 - 1)


@settings(max_examples=examples(0.3), deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.sampled_from([np.float32, np.float64]), SEEDS)
def test_first_index_of_is_argmax_ties_included(k: int, s: int, levels: int, dtype: type, seed: int) -> None:
    """``first_index_of`` (the max pool's argmax) equals ``np.argmax`` over the windows, bit for bit.

    The values are drawn from ``levels`` integers, so most windows hold ties (with ``levels = 1``, all do):
    the first largest in row-major order must win, as in ``np.argmax``.
    """
    rng = np.random.default_rng(seed)
    x: np.ndarray = rng.integers(0, levels, size=(2, 3, 7, 8)).astype(dtype)
    cols = windows(x, k, k, s)
    cols = cols.reshape(cols.shape[0], k * k, *cols.shape[3:])
    index = first_index_of(cols, cols.max(axis=1))
    np.testing.assert_array_equal(index, np.argmax(cols, axis=1))
    assert index.dtype.kind == "i"


def test_first_index_of_under_jit_is_argmax() -> None:
    """The same loop traced by ``jax.jit`` on JAX arrays gives ``jnp.argmax``'s indices, ties included."""
    rng = np.random.default_rng(0)
    cols = jnp.asarray(rng.integers(0, 2, size=(3, 9, 2, 4, 5)).astype(np.float32))
    index = jax.jit(lambda c: first_index_of(c, jnp.max(c, axis=1)))(cols)
    np.testing.assert_array_equal(np.asarray(index), np.asarray(jnp.argmax(cols, axis=1)))
