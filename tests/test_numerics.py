"""Stable numerics: finite values and no NumPy warnings for any |Z| <= 1e4.

``pyproject.toml`` turns every warning into an error, and these tests also run
under ``np.errstate`` raising on overflow, division by zero and invalid
operations, so an overflow in ``exp`` or a ``log(0)`` fails them rather than
passing silently. Underflow stays ignored (NumPy's default): ``exp(-1e4)``
rounding to 0 is the intended, exact-to-rounding result.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bp_autodiff
import bp_manual
from bp_manual import activations, losses
from strategies import examples

EXTREMES = np.array(
    [-1e4, -1e3, -746.0, -745.0, -88.0, -30.0, -1e-300, 0.0, 1e-300, 30.0, 88.0, 745.0, 746.0, 1e3, 1e4]
)


@pytest.fixture(params=[np.float64, np.float32])
def Z(request: pytest.FixtureRequest) -> np.ndarray:
    z = EXTREMES.astype(request.param)
    return np.stack([z, z[::-1], np.zeros_like(z)])


def test_activations_and_derivatives_are_finite(Z: np.ndarray) -> None:
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for act in bp_manual.HIDDEN.values():
            A = act.f(Z)
            D = act.derivative(Z, A)
            assert A.dtype == D.dtype == Z.dtype, act.name
            assert np.all(np.isfinite(A)) and np.all(np.isfinite(D)), act.name
        S = activations.sigmoid(Z)
        assert np.all((S >= 0) & (S <= 1))
        assert S[0, 0] == 0.0 and S[0, -1] == 1.0 and S[2, 0] == 0.5


def test_softmax_and_log_softmax_are_finite(Z: np.ndarray) -> None:
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        P = losses.softmax(Z)
        logP = losses.log_softmax(Z)
    assert np.all(np.isfinite(P)) and np.all(np.isfinite(logP))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=4 * np.finfo(Z.dtype).eps)
    assert np.all(logP <= 0)


@pytest.mark.parametrize("loss", sorted(bp_manual.LOSSES))
@pytest.mark.parametrize("side", ["manual", "jax"])
def test_losses_and_gradients_are_finite_at_extreme_logits(Z: np.ndarray, loss: str, side: str) -> None:
    """A one-layer identity network with ``W = I`` puts ``Z`` itself at the output,
    including one-hot targets whose probability underflows to 0."""
    n = Z.shape[1]
    spec = bp_manual.NetworkSpec((n, n), output=bp_manual.LOSSES[loss].output, loss=loss, bias=False)
    params = [{"W": np.eye(n, dtype=Z.dtype)}]
    if loss == "cross_entropy":
        Y: np.ndarray = np.argmin(Z, axis=1)  # the least likely class: probability underflows
    elif loss == "binary_cross_entropy":
        Y = (Z < 0).astype(Z.dtype)  # always the wrong side
    else:
        Y = np.zeros_like(Z)
    module = bp_manual if side == "manual" else bp_autodiff
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, grads = module.loss_and_grads(spec, params, Z, Y)
    assert np.isfinite(value)
    assert np.all(np.isfinite(grads[0]["W"]))


def test_cross_entropy_of_a_certain_wrong_answer_is_large_but_finite() -> None:
    Z = np.array([[1e4, -1e4]])
    assert losses.cross_entropy(Z, np.array([[0.0, 1.0]])) == pytest.approx(2e4)
    assert losses.cross_entropy(Z, np.array([[1.0, 0.0]])) == 0.0
    assert losses.binary_cross_entropy(np.array([[-1e4]]), np.array([[1.0]])) == pytest.approx(1e4)


@settings(max_examples=examples(1.0))
@given(
    Z=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=6),
        elements=st.floats(-1e4, 1e4, allow_nan=False),
    ),
    loss=st.sampled_from(sorted(bp_manual.LOSSES)),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_any_pre_activation_within_1e4_gives_finite_values_and_gradients(Z: np.ndarray, loss: str, dtype: type) -> None:
    """The same as above for hypothesis-drawn ``Z`` anywhere in [-1e4, 1e4], manual side
    (the JAX side compiles per shape, so it keeps to the fixed extremes above)."""
    Z = Z.astype(dtype)
    n = Z.shape[1]
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for act in bp_manual.HIDDEN.values():
            A = act.f(Z)
            assert np.all(np.isfinite(A)) and np.all(np.isfinite(act.derivative(Z, A)))
        assert np.all(np.isfinite(losses.softmax(Z))) and np.all(np.isfinite(losses.log_softmax(Z)))
        spec = bp_manual.NetworkSpec((n, n), output=bp_manual.LOSSES[loss].output, loss=loss, bias=False)
        Y: np.ndarray = np.argmin(Z, axis=1) if loss == "cross_entropy" else (Z < 0).astype(dtype)
        value, grads = bp_manual.loss_and_grads(spec, [{"W": np.eye(n, dtype=dtype)}], Z, Y)
    assert np.isfinite(value) and np.all(np.isfinite(grads[0]["W"]))


def _two_branch_sigmoid(Z: np.ndarray) -> np.ndarray:
    """The form ``activations.sigmoid`` had before issue 17: ``1 / (1 + E)`` for ``Z >= 0``, ``E / (1 + E)`` else."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_the_two_branch_form_bit_for_bit(dtype: type) -> None:
    """The six-operation sigmoid divides the same two numbers as the two-branch form, so every
    value is the same bits: normal values at several scales, subnormals, both zeros, the
    underflow boundaries of ``exp`` in both dtypes, and +-inf; NaN stays NaN."""
    rng = np.random.default_rng(7)
    scales = [rng.normal(0.0, s, 5000) for s in (1e-30, 1e-3, 1.0, 10.0, 100.0, 1e3)]
    info = np.finfo(dtype)
    tiny, sub, big = float(info.tiny), float(info.smallest_subnormal), float(info.max)
    edges = [0.0, -0.0, sub, -sub, tiny, 88.0, 104.0, 745.0, 746.0]
    special: np.ndarray = np.array(edges + [-e for e in edges[4:]] + [np.inf, -np.inf, big, -big])
    Z: np.ndarray = np.concatenate([*scales, special]).astype(dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        got = activations.sigmoid(Z)
        want = _two_branch_sigmoid(Z)
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(activations.sigmoid(np.array([np.nan], dtype))).all()
