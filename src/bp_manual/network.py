"""The forward pass, the backward pass (the chain rule by hand), and the loss.

What this module is for: the equations of backpropagation for a fully
connected network, one function per step, in the notation of
``docs/derivation.md``:

====================  =====================================================
``X = A_0``           input, ``(N, n_0)``; samples are rows
``W_l``, ``b_l``      weights ``(n_l, n_{l-1})`` and bias ``(n_l,)`` of layer ``l``
``Z_l``               pre-activation ``A_{l-1} @ W_l.T + b_l``, ``(N, n_l)``
``A_l``               activation ``f(Z_l)``; ``Y_hat = A_L = g(Z_L)``
``delta_l``           ``dL/dZ_l``, ``(N, n_l)``
``dW_l``, ``db_l``    ``dL/dW_l = delta_l.T @ A_{l-1}``, ``dL/db_l = sum_rows delta_l``
====================  =====================================================

Layer ``l = 1..L`` of the derivation is ``params[l - 1]`` in code.

What it is not for: input conversion (:mod:`bp_manual.validation`) and
updates (:mod:`bp_manual.optim`). The kernels are pure: they never modify
``params``, ``X``, ``Y`` or a cache, and they use only operators and the
array namespace of their inputs (:mod:`bp_manual.namespace`), so they run
unchanged on ``jax.numpy`` arrays: ``jax.jit(loss_and_grads, static_argnums=0)``
compiles this hand derivation with XLA.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from bp_manual.activations import HIDDEN
from bp_manual.initializers import Params, ParamsLike
from bp_manual.losses import LOSSES, OUTPUTS
from bp_manual.namespace import namespace
from bp_manual.spec import NetworkSpec
from bp_manual.validation import as_inputs, check_params, check_spec, prepare_batch

Array = NDArray[np.floating]


class LayerCache(NamedTuple):
    """What the backward pass needs from layer ``l``'s forward step.

    Attributes:
        A_prev: ``A_{l-1}``, the layer's input, ``(N, n_{l-1})``.
        Z: ``Z_l = A_prev @ W_l.T + b_l``, ``(N, n_l)``.
        A: ``A_l = f(Z_l)``, ``(N, n_l)``.
    """

    A_prev: Array
    Z: Array
    A: Array


Cache = tuple[LayerCache, ...]


def layer_forward(W: Array, b: Array | None, A_prev: Array) -> Array:
    """``Z = A_prev @ W.T + b``: ``(N, n_in), (n_out, n_in), (n_out,) -> (N, n_out)``."""
    Z = A_prev @ W.T
    return Z if b is None else Z + b


def forward(spec: NetworkSpec, params: ParamsLike, X: object) -> tuple[Array, Cache]:
    """Run the network forward and keep what the backward pass needs.

    Args:
        spec: the architecture.
        params: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``, float32 or float64.
        X: ``(N, n_in)``, or one sample ``(n_in,)``; converted to the params' dtype.

    Returns:
        ``(Y_hat, cache)``: ``Y_hat = A_L`` of shape ``(N, n_out)`` and one
        ``LayerCache(A_prev, Z, A)`` per layer, in the params' dtype.
    """
    check_spec(spec)
    dtype = check_params(spec, params)
    return forward_prepared(spec, params, as_inputs(spec, X, dtype))


def forward_prepared(spec: NetworkSpec, params: ParamsLike, X: Array) -> tuple[Array, Cache]:
    """:func:`forward` on inputs already checked: ``X (N, n_in)`` in the params' dtype (``prepare_batch``).

    The kernel itself, without the checks; for callers that checked once and run many times
    (the auditor's finite differences, the training loop, the jitted epoch).
    """
    hidden = HIDDEN[spec.hidden].f
    output = OUTPUTS[spec.output]
    cache: list[LayerCache] = []
    A = X
    for l, layer in enumerate(params, start=1):
        Z = layer_forward(layer["W"], layer.get("b"), A)
        A_next = output(Z) if l == spec.n_layers else hidden(Z)
        cache.append(LayerCache(A, Z, A_next))
        A = A_next
    return A, tuple(cache)


def delta_below(delta: Array, W: Array, f_prime: Array) -> Array:
    """One step of the recursion: ``delta_l = (delta_{l+1} @ W_{l+1}) * f'(Z_l)``.

    Shapes: ``delta (N, n_{l+1})``, ``W (n_{l+1}, n_l)``, ``f_prime (N, n_l)`` -> ``(N, n_l)``.
    """
    return (delta @ W) * f_prime


def layer_grads(delta: Array, A_prev: Array, bias: bool) -> dict[str, Array]:
    """``dW_l = delta_l.T @ A_{l-1}`` ``(n_l, n_{l-1})`` and ``db_l = sum_rows delta_l`` ``(n_l,)``.

    For one sample (``N = 1``) the product is the outer product
    ``dW_ij = delta_i * A_prev_j``, which NumPy's matmul (inner dimension 1)
    computes about 2.5 times slower than ``einsum``'s outer-product loop (and
    broadcasting ``delta.T * A_prev`` about 2 times slower): it is written as
    that ``einsum`` then, which gives the same numbers bit for bit (each entry
    is a single multiplication either way).
    """
    one = delta.shape[0] == 1  # one sample: dW is the outer product of delta_1 and a_1
    dW = namespace(delta).einsum("i,j->ij", delta[0], A_prev[0]) if one else delta.T @ A_prev
    return {"W": dW, "b": delta.sum(axis=0)} if bias else {"W": dW}


def backward(
    spec: NetworkSpec,
    params: ParamsLike,
    cache: Cache,
    Y: Array,
    *,
    f_prime: Callable[[Array, Array], Array] | None = None,
) -> tuple[Params, list[Array]]:
    """The chain rule, from the output layer back to the first.

    Equations (``docs/derivation.md``):

    - output delta: ``delta_L = (Y_hat - Y) / N`` (every output/loss pair; see
      :mod:`bp_manual.losses`);
    - recursion: ``delta_l = (delta_{l+1} @ W_{l+1}) * f'(Z_l)`` for ``l = L-1..1``
      (:func:`delta_below`);
    - gradients: ``dW_l = delta_l.T @ A_{l-1}``, ``db_l = delta_l.sum(axis=0)``
      (:func:`layer_grads`).

    Every gradient is computed from the weights the forward pass used; nothing
    is updated here (the update is :func:`bp_manual.optim.sgd_step`).

    Args:
        spec, params: as for :func:`forward`. The recursion reads ``W`` from
            ``params``; everything else comes from ``cache``.
        cache: the cache :func:`forward` returned for these params.
        Y: the targets, already ``(N, n_out)`` in the params' dtype (see
            :func:`bp_manual.validation.as_targets`).
        f_prime: ``(Z, A) -> f'(Z)`` to use in the recursion instead of the
            spec's hidden derivative (keyword only; the auditor uses it to
            compute what a known mistake would give). Default: the spec's.

    Returns:
        ``(grads, deltas)``: ``grads`` shaped like ``params``; ``deltas[l - 1]``
        is ``delta_l = dL/dZ_l`` of shape ``(N, n_l)``.
    """
    if f_prime is None:
        f_prime = HIDDEN[spec.hidden].derivative
    L = spec.n_layers
    Y_hat = cache[-1].A
    if tuple(Y.shape) != tuple(Y_hat.shape):  # a shape check: also valid while tracing under jax.jit
        raise ValueError(
            f"Y has shape {tuple(Y.shape)}, Y_hat has {tuple(Y_hat.shape)}: backward takes targets already "
            "prepared by bp_manual.validation.as_targets (loss_and_grads does this for you)"
        )
    delta = LOSSES[spec.loss].delta(Y_hat, Y)
    grads: Params = []
    deltas: list[Array] = []
    for l in range(L, 0, -1):  # layer l is params[l - 1] and cache[l - 1]
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]  # layer l - 1
            delta = delta_below(delta, params[l - 1]["W"], f_prime(below.Z, below.A))
    return grads[::-1], deltas[::-1]


def loss_and_grads(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[np.floating, Params]:
    """The loss and its gradient with respect to every parameter, by hand.

    Args:
        spec: the architecture.
        params: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``, float32 or float64.
        X: ``(N, n_in)`` or one sample ``(n_in,)``.
        Y: ``(N, n_out)``; for ``cross_entropy`` also integer labels ``(N,)``
            (see :mod:`bp_manual.validation` for every accepted form).

    Returns:
        ``(loss, grads)``: the batch-mean loss as a NumPy scalar of the params'
        dtype, and ``grads`` shaped like ``params`` in the same dtype.

    Raises:
        TypeError / ValueError: inputs that do not fit ``spec`` (the message
            names the argument).
    """
    loss, grads, _ = loss_grads_and_deltas(spec, params, X, Y)
    return loss, grads


def loss_grads_and_deltas(
    spec: NetworkSpec, params: ParamsLike, X: object, Y: object
) -> tuple[np.floating, Params, list[Array]]:
    """:func:`loss_and_grads` plus the per-layer deltas ``dL/dZ_l``, ``(N, n_l)`` each.

    This is the optional protocol the auditor uses to say in which layer a
    wrong backward pass first goes wrong.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    return loss_grads_and_deltas_prepared(spec, params, X_, Y_)


def loss_grads_and_deltas_prepared(
    spec: NetworkSpec, params: ParamsLike, X: Array, Y: Array
) -> tuple[np.floating, Params, list[Array]]:
    """:func:`loss_grads_and_deltas` on inputs already checked by ``prepare_batch`` (the kernel, no checks)."""
    _, cache = forward_prepared(spec, params, X)
    grads, deltas = backward(spec, params, cache, Y)
    return loss_from_cache(spec, cache, Y), grads, deltas


def loss_from_cache(spec: NetworkSpec, cache: Cache, Y: Array) -> np.floating:
    """The batch-mean loss from a forward pass's cache (its logits ``Z_L``) and prepared targets ``Y (N, n_out)``."""
    return LOSSES[spec.loss].value(cache[-1].Z, Y)


def loss(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> np.floating:
    """The batch-mean loss (see :func:`loss_and_grads` for shapes); no gradients."""
    X_, Y_ = prepare_batch(spec, params, X, Y)
    _, cache = forward_prepared(spec, params, X_)
    return loss_from_cache(spec, cache, Y_)


def predict(spec: NetworkSpec, params: ParamsLike, X: object) -> Array:
    """``Y_hat = A_L``, ``(N, n_out)`` (also for a 1-D one-sample ``X``), params' dtype."""
    return forward(spec, params, X)[0]
