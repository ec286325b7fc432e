"""The JAX witness itself: its constants and its forward pass."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_autodiff.witness.activations as jnet
import bp_manual
from bp_autodiff.witness import network
from bp_autodiff.witness.jitcache import bounded_jit
from bp_manual import activations
from strategies import COVERING, Problem, examples, problems
from tolerances import close, gradient_rtol

_forward_jit = bounded_jit(network.predict, static_argnums=(0,))


def test_leaky_slope_is_written_twice_and_agrees() -> None:
    assert jnet.LEAKY_SLOPE == activations.LEAKY_SLOPE == 0.01


def test_witness_covers_every_name() -> None:
    assert set(jnet.HIDDEN) == set(bp_manual.HIDDEN)
    assert set(jnet.OUTPUTS) == set(bp_manual.OUTPUTS)


@pytest.mark.parametrize("case", range(len(COVERING)))
@settings(max_examples=examples(0.03))
@given(data=st.data())
def test_jax_forward_equals_manual_predict(case: int, data: st.DataObject) -> None:
    """Same rounding model as the gradients (the forward half of it), same tolerance; every network of
    ``COVERING``, both dtypes: one compile per network and dtype, not one per random shape."""
    spec, n = COVERING[case]
    problem: Problem = data.draw(problems(spec=spec, batch=n))
    with jax.enable_x64(True):
        params = jax.tree.map(jax.numpy.asarray, problem.params)
        Y_hat_j = np.asarray(_forward_jit(problem.spec, params, problem.X))
    Y_hat_m = bp_manual.predict(problem.spec, problem.params, problem.X)
    assert Y_hat_m.dtype == Y_hat_j.dtype == np.dtype(problem.dtype)
    ok, rel, fraction = close(Y_hat_m, Y_hat_j, gradient_rtol(problem.spec.sizes, problem.X.shape[0], problem.dtype))
    assert ok, (rel, fraction, problem.describe())


def _memory_maps() -> int:
    with open("/proc/self/maps", encoding="ascii", errors="replace") as fh:
        return sum(1 for _ in fh)


def test_bounded_jit_keeps_at_most_its_cap_and_stays_correct() -> None:
    """Each XLA executable holds about 20 memory maps; the cap keeps the count
    bounded (an unbounded cache segfaulted after about 3,000 compiles)."""
    square_sum = bounded_jit(lambda x: (x * x).sum(), max_compiled=3)
    maps_before = _memory_maps()
    for n in range(1, 41):
        assert float(square_sum(np.arange(n, dtype=np.float32))) == sum(i * i for i in range(n))
        assert square_sum.n_compiled <= 3
    maps_after = _memory_maps()
    assert maps_after - maps_before < 40 * 10  # 40 live executables would add about 800
