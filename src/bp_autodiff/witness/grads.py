"""Gradients by JAX: the reference that ``bp_manual``'s hand derivation is held to.

What this module is for: ``loss_and_grads`` with the signature of
``bp_manual.loss_and_grads`` (NumPy in, NumPy out), computed with
``jax.value_and_grad`` of :func:`bp_autodiff.witness.network.loss`; the per-layer
deltas ``dL/dZ_l``, by differentiating with respect to zero probes added to
each ``Z_l``; ``predict``.

What it is not for: training at speed (it converts to and from NumPy on every
call).

64-bit precision. JAX computes in float32 unless its ``jax_enable_x64`` option
is on, silently rounding float64 inputs. Every function here runs inside
``with jax.enable_x64(True):``, a context manager that sets the option for the
current thread only and restores the previous value on exit. So float64
params give float64 results, float32 params stay float32, and a user's own
JAX code outside these calls keeps whatever setting it had: nothing global is
changed. Compiled functions are cached per (spec, shapes, dtype, x64 setting),
at most ``bp_autodiff.witness.jitcache.MAX_COMPILED`` of them per function.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from bp_autodiff.witness import network
from bp_autodiff.witness.jitcache import bounded_jit
from bp_manual.initializers import Params, ParamsLike
from bp_manual.spec import NetworkSpec
from bp_manual.validation import as_inputs, check_params, check_spec, prepare_batch

Array = NDArray[np.floating]


def _value_and_grad_impl(spec: NetworkSpec, params: network.JParams, X: jax.Array, Y: jax.Array):  # type: ignore[no-untyped-def]
    return jax.value_and_grad(network.loss, argnums=1)(spec, params, X, Y)


_value_and_grad = bounded_jit(_value_and_grad_impl, static_argnums=(0,))


def _loss_with_probes(
    spec: NetworkSpec, params: network.JParams, probes: list[jax.Array], X: jax.Array, Y: jax.Array
) -> jax.Array:
    """The loss with ``Z_l + P_l`` in place of ``Z_l``; at ``P = 0`` ``dL/dP_l = dL/dZ_l``."""
    return network.loss_from_logits(spec, network.logits(spec, params, X, probes), Y)


def _grads_and_deltas_impl(spec: NetworkSpec, params: network.JParams, X: jax.Array, Y: jax.Array):  # type: ignore[no-untyped-def]
    probes = [jnp.zeros((X.shape[0], n), X.dtype) for n in spec.sizes[1:]]
    return jax.value_and_grad(_loss_with_probes, argnums=(1, 2))(spec, params, probes, X, Y)


_grads_and_deltas = bounded_jit(_grads_and_deltas_impl, static_argnums=(0,))


_predict = bounded_jit(network.predict, static_argnums=(0,))


def prepare(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[Params, Array, Array]:
    """``(params, X (N, n_in), Y (N, n_out))`` checked and converted as ``bp_manual.validation.prepare_batch`` does.

    NumPy in, NumPy out: JAX arrays are brought to the host first, so their values are
    checked and a float64 computation cannot be demoted by JAX's default float32 mode.
    Raises what ``prepare_batch`` raises (``TypeError``/``ValueError`` naming the argument).
    """
    X, Y, params = host(X), host(Y), host_params(params)
    X_, Y_ = prepare_batch(spec, params, X, Y)
    return [{k: np.asarray(v) for k, v in layer.items()} for layer in params], X_, Y_


def host_params(params: Any) -> Any:
    """``params`` with every JAX array brought to the host (the structure is checked later)."""
    if not isinstance(params, list | tuple):
        return params
    return [{k: host(v) for k, v in layer.items()} if isinstance(layer, dict) else layer for layer in params]


def host(value: Any) -> Any:
    """A JAX array as a NumPy array; anything else unchanged."""
    return np.asarray(value) if isinstance(value, jax.Array) else value


def to_numpy(tree: object) -> Params:
    """Every JAX array in ``tree`` as a NumPy array (a copy on the host)."""
    return jax.tree.map(lambda a: np.array(a), tree)


def loss_and_grads(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[np.floating, Params]:
    """The loss and its gradient, computed by ``jax.value_and_grad``.

    Same signature, shapes and conventions as ``bp_manual.loss_and_grads``:
    ``params`` ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]`` in float32 or
    float64, ``X (N, n_in)``, ``Y (N, n_out)`` or integer labels. Returns the
    loss as a NumPy scalar and ``grads`` as NumPy arrays shaped like
    ``params``, all in the params' dtype.
    """
    params_, X_, Y_ = prepare(spec, params, X, Y)
    with jax.enable_x64(True):
        value, grads = _value_and_grad(spec, params_, X_, Y_)
        return X_.dtype.type(value), to_numpy(grads)


def loss_grads_and_deltas(
    spec: NetworkSpec, params: ParamsLike, X: object, Y: object
) -> tuple[np.floating, Params, list[Array]]:
    """:func:`loss_and_grads` plus ``deltas[l - 1] = dL/dZ_l``, ``(N, n_l)`` each.

    The deltas come from differentiating with respect to zero probes added to
    each pre-activation ``Z_l`` (the loss's value is unchanged at 0).
    """
    params_, X_, Y_ = prepare(spec, params, X, Y)
    with jax.enable_x64(True):
        value, (grads, deltas) = _grads_and_deltas(spec, params_, X_, Y_)
        return X_.dtype.type(value), to_numpy(grads), to_numpy(deltas)  # type: ignore[return-value]


def predict(spec: NetworkSpec, params: ParamsLike, X: object) -> Array:
    """``Y_hat = g(Z_L)`` by the JAX forward pass: ``X (N, n_in)`` or one sample ``(n_in,)``
    -> ``(N, n_out)`` NumPy array in the params' dtype."""
    params = host_params(params)
    dtype = check_params(check_spec(spec), params)
    X_ = as_inputs(spec, host(X), dtype)
    params_ = [{k: np.asarray(v) for k, v in layer.items()} for layer in params]
    with jax.enable_x64(True):
        return np.array(_predict(spec, params_, X_))
