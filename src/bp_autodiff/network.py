"""The same network in ``jax.numpy``: forward and loss, written independently.

What this module is for: the witness. It shares with :mod:`bp_manual` only the
spec, the params structure and the input checks; every equation is written
again here from JAX's own primitives (``jax.nn.sigmoid``, ``jax.nn.log_softmax``,
``jax.nn.log_sigmoid``, ...), and there is no backward pass: JAX
differentiates these functions itself (:mod:`bp_autodiff.grads`).

What it is not for: being called directly with NumPy float64 arrays outside
:mod:`bp_autodiff.grads`, which takes care of 64-bit mode.

All functions are traceable by ``jax.jit`` with ``spec`` static.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp

from bp_manual.spec import NetworkSpec

JParams = list[dict[str, jax.Array]]

#: Written here, not imported from ``bp_manual``, so a wrong slope there cannot
#: hide by being shared; a test checks the two agree.
LEAKY_SLOPE = 0.01

#: Hidden activations, from JAX's library (not from ``bp_manual``).
HIDDEN: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda Z: Z,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": partial(jax.nn.leaky_relu, negative_slope=LEAKY_SLOPE),
    "softplus": jax.nn.softplus,
}

OUTPUTS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda Z: Z,
    "softmax": partial(jax.nn.softmax, axis=-1),
    "sigmoid": jax.nn.sigmoid,
}


def layers(
    spec: NetworkSpec, params: JParams, X: jax.Array, probes: Sequence[jax.Array] | None = None
) -> list[tuple[jax.Array, jax.Array]]:
    """``[(Z_l, A_l) for l = 1..L]``, each ``(N, n_l)``: the forward pass, the only loop over layers here.

    ``probes``, if given, are added to each ``Z_l`` (``(N, n_l)`` each, zeros
    in use): differentiating with respect to them gives the deltas ``dL/dZ_l``.
    Unused outputs (e.g. ``A_L`` when only the logits are needed) are dropped
    by XLA under ``jax.jit``.
    """
    f = HIDDEN[spec.hidden]
    out = []
    A = X
    for l, layer in enumerate(params, start=1):
        Z = jnp.matmul(A, layer["W"].T)
        if spec.bias:
            Z = Z + layer["b"]
        if probes is not None:
            Z = Z + probes[l - 1]
        A = OUTPUTS[spec.output](Z) if l == spec.n_layers else f(Z)
        out.append((Z, A))
    return out


def logits(spec: NetworkSpec, params: JParams, X: jax.Array, probes: Sequence[jax.Array] | None = None) -> jax.Array:
    """``Z_L``, the output layer's pre-activation: ``(N, n_in) -> (N, n_out)`` (``probes`` as for ``layers``)."""
    return layers(spec, params, X, probes)[-1][0]


def forward(spec: NetworkSpec, params: JParams, X: jax.Array) -> jax.Array:
    """``Y_hat = g(Z_L)``, ``(N, n_out)``."""
    return layers(spec, params, X)[-1][1]


def loss_from_logits(spec: NetworkSpec, Z: jax.Array, Y: jax.Array) -> jax.Array:
    """The batch-mean loss from the output logits ``Z (N, n_out)`` and targets ``Y (N, n_out)``.

    - ``mse``: ``sum((Z - Y)**2) / (2N)``;
    - ``cross_entropy``: ``-sum(Y * log_softmax(Z)) / N``;
    - ``binary_cross_entropy``: ``-sum(Y log sigmoid(Z) + (1 - Y) log sigmoid(-Z)) / N``.
    """
    N = Z.shape[0]
    if spec.loss == "mse":
        return jnp.sum(jnp.square(Z - Y)) / (2 * N)
    if spec.loss == "cross_entropy":
        return -jnp.sum(Y * jax.nn.log_softmax(Z, axis=-1)) / N
    if spec.loss == "binary_cross_entropy":
        return -jnp.sum(Y * jax.nn.log_sigmoid(Z) + (1 - Y) * jax.nn.log_sigmoid(-Z)) / N
    raise ValueError(f"unknown loss {spec.loss!r}")


def loss(spec: NetworkSpec, params: JParams, X: jax.Array, Y: jax.Array) -> jax.Array:
    """The batch-mean loss of the network on ``(X, Y)``, a scalar."""
    return loss_from_logits(spec, logits(spec, params, X), Y)
