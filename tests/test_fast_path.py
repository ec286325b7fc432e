"""The fast NumPy path computes the same numbers and refuses the same inputs.

The training step skips work that cannot change its result: a one-sample
``dW`` is a broadcast product instead of an inner-dimension-1 matmul, the SGD
update writes into the step's own gradient arrays, ``train_step`` checks the
values of ``params`` only when the step fails, and ``MLP.step`` relies on its
params having been checked when they were set. These tests hold each shortcut
to the slow form, bit for bit, and to the same refusals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_manual
from bp_manual import MLP
from bp_manual.network import layer_grads
from bp_manual.optim import DivergedError
from strategies import Problem, examples, problems


@settings(max_examples=examples(0.3))
@given(st.integers(1, 300), st.integers(1, 300), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_one_sample_dW_is_the_matmul_bit_for_bit(n_out: int, n_in: int, dtype: type, seed: int) -> None:
    rng = np.random.default_rng(seed)
    delta: np.ndarray = rng.normal(size=(1, n_out)).astype(dtype)
    A: np.ndarray = rng.normal(size=(1, n_in)).astype(dtype)
    fast = layer_grads(delta, A, bias=True)
    np.testing.assert_array_equal(fast["W"], delta.T @ A)
    assert fast["W"].dtype == np.dtype(dtype) and fast["W"].shape == (n_out, n_in)


@settings(max_examples=examples(0.3))
@given(problems(max_layers=3, max_width=16, max_batch=8))
def test_train_step_is_loss_and_grads_then_sgd_step_bit_for_bit(problem: Problem) -> None:
    spec, params, X, Y = problem.spec, problem.params, problem.X, problem.Y
    before = [{k: v.copy() for k, v in layer.items()} for layer in params]
    loss, new = bp_manual.train_step(spec, params, X, Y, 0.1)
    loss_ref, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    ref = [{k: p[k] - 0.1 * g[k] for k in p} for p, g in zip(params, grads, strict=True)]
    assert loss == loss_ref
    for a, b in zip(new, ref, strict=True):
        for k in b:
            np.testing.assert_array_equal(a[k], b[k])
            assert a[k].dtype == b[k].dtype
    for a, b in zip(params, before, strict=True):  # the caller's params are untouched
        for k in b:
            np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_train_step_names_non_finite_params(bad: float) -> None:
    spec = bp_manual.NetworkSpec((3, 4, 2))
    params = bp_manual.init_params(spec, seed=0)
    params[1]["W"][0, 1] = bad
    with pytest.raises(ValueError, match=r"^params\[1\]\['W'\] contains NaN or inf"):
        bp_manual.train_step(spec, params, np.ones((2, 3)), np.zeros((2, 2)), 0.1)


def test_mlp_params_are_checked_when_set() -> None:
    mlp = MLP((3, 4, 2), seed=0)
    old = mlp.params
    bad = [dict(layer) for layer in old]
    bad[0] = {"W": np.full((4, 3), np.nan), "b": old[0]["b"]}
    with pytest.raises(ValueError, match=r"^params\[0\]\['W'\] contains NaN"):
        mlp.params = bad
    with pytest.raises(ValueError, match=r"^params has 1 layers"):
        mlp.params = old[:1]
    assert mlp.params is old


def test_mlp_step_stops_on_params_spoiled_in_place() -> None:
    """Writing NaN into a live array bypasses the setter; the divergence check still stops the step."""
    mlp = MLP((3, 4, 2), seed=0)
    mlp.params[0]["W"][1, 1] = np.nan
    held = mlp.params
    with pytest.raises(DivergedError, match=r"^step 1: "):
        mlp.step(np.ones((2, 3)), np.zeros((2, 2)), 0.1)
    assert mlp.params is held and mlp.steps == 0


def test_bpnetwork_train_equals_the_pure_step() -> None:
    net = bp_manual.BPNetwork(784, 32, 64, 0.05, seed=0)
    spec, params = net.mlp.spec, net.mlp.params
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, 784), rng.normal(0, 1, 64)
    loss_ref, ref = bp_manual.train_step(spec, params, x, y, 0.05)
    assert net.train(x, y) == float(loss_ref)
    np.testing.assert_array_equal(net.w_in2hid, ref[0]["W"])
    np.testing.assert_array_equal(net.w_hid2out, ref[1]["W"])


def test_the_update_and_the_kernels_stay_in_jax_for_jax_arrays() -> None:
    """Arrays of another library take the plain expressions, and results stay in that library
    (eager JAX here: under jax.jit the same code is traced, see tests/test_scan.py)."""
    import jax
    import jax.numpy as jnp

    from bp_manual import activations, optim

    with jax.enable_x64(True):  # the kernels are typed for NumPy; JAX arrays pass through the namespace
        p: Any = [{"W": jnp.asarray([[1.0, -2.0]]), "b": jnp.asarray([0.5])}]
        g: Any = [{"W": jnp.asarray([[0.25, 4.0]]), "b": jnp.asarray([-1.0])}]
        new = optim.sgd_update_prepared(p, g, 0.5)
        assert all(isinstance(new[0][k], jax.Array) for k in ("W", "b"))
        np.testing.assert_array_equal(np.asarray(new[0]["W"]), [[0.875, -4.0]])
        np.testing.assert_array_equal(np.asarray(new[0]["b"]), [1.0])
        Z: Any = jnp.asarray([[-1.5, 0.5, 2.0]])
        for act in bp_manual.HIDDEN.values():
            A = act.f(Z)
            assert isinstance(A, jax.Array) and isinstance(act.derivative(Z, A), jax.Array), act.name
        np.testing.assert_array_equal(np.asarray(activations.relu(Z)), [[0.0, 0.5, 2.0]])
