"""The hand derivation runs unchanged on ``jax.numpy`` arrays, under ``jax.jit``.

``bp_manual``'s kernels use the array namespace of their inputs, so
``jax.jit(bp_manual.loss_grads_and_deltas, static_argnums=0)`` traces the same
Python code into XLA. Its results must equal ``jax.value_and_grad``'s
(``bp_autodiff``, in its bucketed form: see ``test_bucketed.py``) within the
tolerances of ``tolerances.py``: XLA may fuse and reorder the hand-derived
arithmetic, which the rounding model there covers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_autodiff
import bp_manual
from bp_autodiff.witness import bucketed
from bp_autodiff.witness.jitcache import bounded_jit
from strategies import COVERING, Problem, examples, problems
from tolerances import close, problem_rtol, record

_manual_jit = bounded_jit(bp_manual.loss_grads_and_deltas, static_argnums=(0,))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(len(COVERING)))
@settings(max_examples=examples(0.04))
@given(data=st.data())
def test_jitted_manual_gradients_equal_jax(dtype: type, case: int, data: st.DataObject) -> None:
    """Every network of ``COVERING`` (between them every path of the code), new values each example: one compile
    per network and dtype (a random shape per example compiled every time: 50 compiles, 51 s of the suite)."""
    spec, n = COVERING[case]
    problem: Problem = data.draw(problems(dtypes=(dtype,), spec=spec, batch=n))
    with jax.enable_x64(True):
        params = jax.tree.map(jnp.asarray, problem.params)
        loss, grads, deltas = _manual_jit(problem.spec, params, jnp.asarray(problem.X), jnp.asarray(problem.Y))
        assert isinstance(grads[0]["W"], jax.Array) and grads[0]["W"].dtype == np.dtype(dtype)
    loss_j, grads_j, deltas_j = bucketed.loss_grads_and_deltas(problem.spec, problem.params, problem.X, problem.Y)
    rtol = problem_rtol(problem)
    pairs = [("loss", np.array([loss]), np.array([loss_j]))]
    for l, (g, r) in enumerate(zip(grads, grads_j, strict=True), start=1):
        pairs += [(f"{k}{l}", np.asarray(g[k]), r[k]) for k in r]
    pairs += [(f"delta{l}", np.asarray(d), r) for l, (d, r) in enumerate(zip(deltas, deltas_j, strict=True), 1)]
    for name, value, ref in pairs:
        ok, rel, fraction = close(value, ref, rtol)
        record(f"jitted manual {np.dtype(dtype).name}", rel, fraction, f"{name}: {problem.describe()}")
        assert ok, f"{name}: rel error {rel:.2e} ({fraction:.2f} x tol) for {problem.describe()}"


def test_jit_does_not_change_the_numpy_path() -> None:
    """After tracing, the NumPy path still returns NumPy arrays and scalars."""
    spec = bp_manual.NetworkSpec((3, 4, 2), hidden="tanh")
    params = bp_manual.init_params(spec, seed=0)
    X, Y = np.ones((2, 3)), np.zeros((2, 2))
    with jax.enable_x64(True):
        _manual_jit(spec, jax.tree.map(jnp.asarray, params), jnp.asarray(X), jnp.asarray(Y))
    loss, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    assert type(loss) is np.float64 and type(grads[0]["W"]) is np.ndarray


def test_concrete_jax_arrays_get_the_value_checks() -> None:
    spec = bp_manual.NetworkSpec((3, 2), output="softmax", loss="cross_entropy")
    params = bp_manual.init_params(spec, seed=0)
    with jax.enable_x64(True):
        X_nan = jnp.array([[0.0, jnp.nan, 1.0]])
        bad_labels = jnp.array([0, 5])
        for module in (bp_manual, bp_autodiff):
            with pytest.raises(ValueError, match=r"^X contains NaN or inf"):
                module.loss_and_grads(spec, params, X_nan, jnp.array([0]))
            with pytest.raises(ValueError, match=r"^Y labels must lie in \[0, 2\)"):
                module.loss_and_grads(spec, params, jnp.ones((2, 3)), bad_labels)


def test_float64_network_refuses_jax_arrays_demoted_to_float32() -> None:
    """Outside 64-bit mode JAX cannot hold float64: bp_manual says so instead of
    silently computing in float32; bp_autodiff (NumPy in, NumPy out) copies the
    values to the host first and keeps float64."""
    spec = bp_manual.NetworkSpec((3, 2))
    params = bp_manual.init_params(spec, seed=0)
    X, Y = jnp.ones((2, 3)), jnp.zeros((2, 2))  # float32: x64 is off here
    with pytest.raises(TypeError, match=r"^X became float32 instead of float64"):
        bp_manual.loss_and_grads(spec, params, X, Y)
    loss, grads = bp_autodiff.loss_and_grads(spec, params, X, Y)
    assert type(loss) is np.float64 and grads[0]["W"].dtype == np.float64
