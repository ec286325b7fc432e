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
from bp_manual.optim import DivergedError, check_update
from bp_manual.validation import as_inputs, as_targets, check_lr
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


# --- the cheaper checks of the seed regime (issue 17, item 4): each catches what the old one caught ---------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_finite_weights_pass_the_divergence_check_without_a_warning(dtype: type) -> None:
    """The update runs under its caller's ``np.errstate`` (``sgd_step`` opens it): weights near the
    dtype's maximum pass with no overflow warning (``pyproject.toml`` makes warnings errors)."""
    big = float(np.finfo(dtype).max) / 4
    params: list[dict[str, np.ndarray]] = [{"W": np.full((3, 2), big, dtype), "b": np.full(3, -big, dtype)}]
    grads: list[dict[str, np.ndarray]] = [{"W": np.zeros((3, 2), dtype), "b": np.zeros(3, dtype)}]
    new = bp_manual.sgd_step(params, grads, 0.1)
    np.testing.assert_array_equal(new[0]["W"], params[0]["W"])
    check_update(new, 0.1)
    new[0]["b"][1] = np.inf
    with pytest.raises(DivergedError, match=r"^b1 \(layer 1\) became non-finite"):
        check_update(new, 0.1)


def _full_check_error(net: bp_manual.BPNetwork, x: object, y: object) -> tuple[type, str] | None:
    """What the checks before this work raised: every check of ``inputs_org`` (values included),
    then of ``groundtruth_org``, then ``learning_rate``, all before any computation."""
    spec, dtype = net.mlp.spec, net.w_in2hid.dtype
    try:
        X = as_inputs(spec, x, dtype, name="inputs_org")
        if X.shape[0] != 1:
            return None
        as_targets(spec, y, 1, dtype, name="groundtruth_org")
        check_lr(net.learning_rate, name="learning_rate")
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("arg", ["inputs_org", "groundtruth_org"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_bpnetwork_train_names_a_non_finite_argument_after_the_step_fails(dtype: type, arg: str, bad: float) -> None:
    """The NaN/inf test of ``train``'s arguments runs when the step fails; it raises the full
    check's own error (same type, same message, same index) and changes nothing."""
    net = bp_manual.BPNetwork(784, 32, 64, 0.01, seed=0, dtype=dtype)
    rng = np.random.default_rng(3)
    n = 784 if arg == "inputs_org" else 64
    for position, as_list in ((0, False), (n // 2, True), (n - 1, False)):
        x, y = rng.uniform(0, 1, 784), rng.normal(0, 1, 64)
        (x if arg == "inputs_org" else y)[position] = bad
        before = [net.w_in2hid.copy(), net.w_hid2out.copy()]
        args = (list(x), list(y)) if as_list else (x, y)  # lists, as the seed passes them
        expected = _full_check_error(net, *args)
        assert expected == (ValueError, f"{arg} contains NaN or inf (first at index (0, {position}))")
        with pytest.raises(ValueError) as info:
            net.train(*args)
        assert (type(info.value), str(info.value)) == expected
        np.testing.assert_array_equal(net.w_in2hid, before[0])
        np.testing.assert_array_equal(net.w_hid2out, before[1])
        assert net.mlp.steps == 0


def test_bpnetwork_train_names_bad_arguments_in_the_order_it_always_did() -> None:
    """Two bad arguments at once: the one named is the one the full checks named first."""
    good_x, good_y = [0.5, 1.0, -1.0, 2.0], [0.0, 1.0]
    nan_x, inf_y = [0.5, np.nan, -1.0, 2.0], [np.inf, 1.0]
    cases = [  # (x, y, learning_rate)
        (nan_x, [0.0, 0.0, 0.0], 0.1),  # NaN input and a target of the wrong shape
        (nan_x, inf_y, 0.1),
        (nan_x, good_y, -1.0),
        (nan_x, good_y, "fast"),
        (good_x, inf_y, -1.0),
        (good_x, inf_y, "fast"),
        (good_x, [0.0, 0.0, 0.0], 0.1),
        ([0.5, 1.0], inf_y, 0.1),
    ]
    for x, y, lr in cases:
        net = bp_manual.BPNetwork(4, 3, 2, 0.1, seed=0)
        net.learning_rate = lr  # type: ignore[assignment]  # a bad value on purpose
        before = [net.w_in2hid.copy(), net.w_hid2out.copy()]
        expected = _full_check_error(net, x, y)
        assert expected is not None
        with pytest.raises((TypeError, ValueError)) as info:
            net.train(x, y)
        assert (type(info.value), str(info.value)) == expected, (x, y, lr)
        np.testing.assert_array_equal(net.w_in2hid, before[0])
        np.testing.assert_array_equal(net.w_hid2out, before[1])


def test_bpnetwork_train_still_stops_on_weights_spoiled_in_place() -> None:
    """Clean arguments and a NaN written into the live weights: the step's divergence check, as before;
    a NaN argument as well: the argument is named first, as the full checks did."""
    net = bp_manual.BPNetwork(6, 4, 3, 0.1, seed=0)
    net.w_hid2out[2, 1] = np.nan
    held = [net.w_in2hid.copy(), net.w_hid2out.copy()]
    with pytest.raises(DivergedError, match=r"^step 1: "):
        net.train(np.ones(6), np.zeros(3))
    with pytest.raises(ValueError, match=r"^inputs_org contains NaN or inf \(first at index \(0, 0\)\)"):
        net.train([np.nan, 1, 1, 1, 1, 1], np.zeros(3))
    np.testing.assert_array_equal(net.w_in2hid, held[0])
    np.testing.assert_array_equal(net.w_hid2out, held[1])


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_finite_false_keeps_the_nan_test_where_other_value_tests_need_it(loss: str) -> None:
    """``as_targets(finite=False)`` leaves out the NaN/inf test for ``mse`` only; the other losses'
    row-sum and range tests would misname a NaN or inf, so those targets are still tested first."""
    output = bp_manual.LOSSES[loss].output
    spec = bp_manual.NetworkSpec((3, 2), output=output, loss=loss)
    dtype = np.dtype(np.float64)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match=r"^Y contains NaN or inf"):
            as_targets(spec, np.array([[bad, 0.0]]), 1, dtype, finite=False)
    mse = bp_manual.NetworkSpec((3, 2))
    assert np.isnan(as_targets(mse, np.array([np.nan, 0.0]), 1, dtype, finite=False)[0, 0])
    assert np.isinf(as_inputs(mse, [np.inf, 0.0, 1.0], dtype, finite=False)[0, 0])
    with pytest.raises(ValueError, match=r"^X has 2 features"):
        as_inputs(mse, [np.nan, 0.0], dtype, finite=False)
    float32 = np.dtype(np.float32)  # a conversion keeps the NaN/inf test, which its range test needs
    with pytest.raises(ValueError, match=r"^X contains NaN or inf \(first at index \(0, 1\)\)"):
        as_inputs(mse, [1e300, np.nan, 0.0], float32, finite=False)
    with pytest.raises(ValueError, match=r"^Y contains NaN or inf"):
        as_targets(mse, np.array([np.inf, 0.0]), 1, float32, finite=False)
    with pytest.raises(ValueError, match=r"^X has values beyond the float32 range"):
        as_inputs(mse, [1e300, 0.0, 0.0], float32, finite=False)
