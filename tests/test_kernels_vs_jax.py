"""Each kernel on its own against the witness: every activation and its derivative, the output
activations, each loss and its output delta.

The network-level property (``test_gradients_vs_jax.py``) catches a wrong kernel only when the
drawn network uses it; these properties check each kernel directly, on every draw, so a wrong
derivative is caught at once (the mutation campaign of ``docs/testing.md`` found the cheap,
direct check worth having). The reference is the JAX witness's own definition
(``bp_autodiff.witness.network.HIDDEN``, ``OUTPUTS``, ``loss_from_logits``, written from JAX's
primitives, not from ``bp_manual``), differentiated by ``jax.grad``, in float64.

Tolerance: ``close(..., FLOAT64_RTOL)`` from ``tests/tolerances.py``, the float64 gradient
tolerance (``1e-9`` relative to the array's largest element). Each kernel here is a few
float64 operations per element, so both sides round by a few ``u = 1.1e-16`` relative; the
policy's ``1e-9`` (derived there for whole networks) covers them with room to spare, and a
wrong formula is off by ``O(1)``. ReLU-type kinks: elements within ``1e-3`` of 0 are moved
to ``0.5``, so both sides differentiate the same branch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_manual
from bp_autodiff.witness import network as witness
from bp_manual.activations import HIDDEN
from bp_manual.losses import LOSSES, OUTPUTS, log_softmax
from strategies import examples
from tolerances import FLOAT64_RTOL, close

SHAPE = (6, 5)  # one shape: one compile per kernel, not per example


def _logits(seed: int, scale: float) -> np.ndarray:
    Z = np.random.default_rng(seed).normal(0.0, scale, SHAPE)
    Z[np.abs(Z) < 1e-3] = 0.5
    return Z


def _check(name: str, actual: object, reference: object) -> None:
    a, r = np.asarray(actual), np.asarray(reference)
    assert a.shape == r.shape and a.dtype == np.float64, (name, a.shape, a.dtype, r.shape)
    ok, rel, fraction = close(a, r, FLOAT64_RTOL)
    assert ok, f"{name}: max rel error {rel:.3e} ({fraction:.2f} x tolerance)"


@pytest.mark.parametrize("name", sorted(HIDDEN))
@settings(max_examples=examples(0.2))
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.1, 1.0, 4.0, 30.0]))
def test_activation_and_its_derivative_equal_jax(name: str, seed: int, scale: float) -> None:
    Z = _logits(seed, scale)
    act, f = HIDDEN[name], witness.HIDDEN[name]
    A = act.f(Z)
    with jax.enable_x64(True):
        Zj = jnp.asarray(Z)
        A_ref = f(Zj)
        D_ref = jax.grad(lambda z: jnp.sum(f(z)))(Zj)  # elementwise f: the gradient of the sum is f'
    _check(f"{name}(Z)", A, A_ref)
    _check(f"{name}'(Z)", act.derivative(Z, A), D_ref)


@pytest.mark.parametrize(("output", "loss"), [(pair[0], pair[1]) for pair in bp_manual.losses.VALID_PAIRS])
@settings(max_examples=examples(0.2))
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.1, 1.0, 4.0, 30.0]))
def test_output_loss_and_delta_equal_jax(output: str, loss: str, seed: int, scale: float) -> None:
    """``g(Z)``, ``L(Z, Y)`` and ``delta_L = (Y_hat - Y) / N`` against the witness's ``g``, loss and ``jax.grad``."""
    rng = np.random.default_rng(seed)
    Z = _logits(seed, scale)
    if loss == "mse":
        Y = rng.normal(0.0, 1.0, SHAPE)
    elif loss == "cross_entropy":
        Y = rng.dirichlet(np.ones(SHAPE[1]), SHAPE[0])  # rows summing to 1, not one-hot
    else:
        Y = rng.uniform(0.0, 1.0, SHAPE)
    spec = bp_manual.NetworkSpec((3, SHAPE[1]), output=output, loss=loss)
    Y_hat = OUTPUTS[output](Z)
    with jax.enable_x64(True):
        Zj, Yj = jnp.asarray(Z), jnp.asarray(Y)
        Y_hat_ref = witness.OUTPUTS[output](Zj)
        L_ref = witness.loss_from_logits(spec, Zj, Yj)
        delta_ref = jax.grad(lambda z: witness.loss_from_logits(spec, z, Yj))(Zj)
        log_softmax_ref = jax.nn.log_softmax(Zj, axis=-1)
    _check(f"{output}(Z)", Y_hat, Y_hat_ref)
    _check(f"{loss}(Z, Y)", np.array([LOSSES[loss].value(Z, Y)]), np.array([L_ref]))
    _check(f"delta_L for {loss}", LOSSES[loss].delta(Y_hat, Y), delta_ref)
    _check("log_softmax(Z)", log_softmax(Z), log_softmax_ref)


def test_kinks_follow_the_documented_convention() -> None:
    """At ``Z = 0`` (either sign of zero): ``relu'(0) = 0`` and ``leaky_relu'(0) = slope``
    (the left derivative, as the module docstring says), and both functions give 0."""
    from bp_manual.activations import LEAKY_SLOPE

    Z = np.array([[0.0, -0.0, 1.0, -1.0]])
    relu, leaky = HIDDEN["relu"], HIDDEN["leaky_relu"]
    np.testing.assert_array_equal(relu.derivative(Z, relu.f(Z)), [[0.0, 0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(leaky.derivative(Z, leaky.f(Z)), [[LEAKY_SLOPE, LEAKY_SLOPE, 1.0, LEAKY_SLOPE]])
    np.testing.assert_array_equal(relu.f(Z), [[0.0, 0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(leaky.f(Z), [[0.0, 0.0, 1.0, -LEAKY_SLOPE]])


def test_backward_refuses_unprepared_targets_in_full() -> None:
    """``backward`` on targets not shaped like ``Y_hat`` names both shapes and the fix, word for word."""
    spec = bp_manual.NetworkSpec((3, 4, 2))
    params = bp_manual.init_params(spec, seed=0)
    X = np.ones((5, 3))
    _, cache = bp_manual.forward(spec, params, X)
    message = (
        r"^Y has shape \(5,\), Y_hat has \(5, 2\): backward takes targets already prepared by "
        r"bp_manual.validation.as_targets \(loss_and_grads does this for you\)$"
    )
    with pytest.raises(ValueError, match=message):
        bp_manual.network.backward(spec, params, cache, np.ones(5))
