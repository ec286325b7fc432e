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
    spec: NetworkSpec,
    params: JParams,
    X: jax.Array,
    probes: Sequence[jax.Array] | None = None,
    hidden: Callable[[int, jax.Array], jax.Array] | None = None,
) -> list[tuple[jax.Array, jax.Array]]:
    """``[(Z_l, A_l) for l = 1..L]``, each ``(N, n_l)``: the forward pass, the only loop over layers here.

    ``probes``, if given, are added to each ``Z_l`` (``(N, n_l)`` each, zeros
    in use): differentiating with respect to them gives the deltas ``dL/dZ_l``.
    ``hidden``, if given, is ``(l, Z_l) -> A_l`` for the hidden layers in place
    of ``HIDDEN[spec.hidden]`` (the bucketed witness, :mod:`bp_autodiff.bucketed`,
    picks one of ``HIDDEN``'s functions per layer at run time). Unused outputs
    (e.g. ``A_L`` when only the logits are needed) are dropped by XLA under
    ``jax.jit``.
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
        if l == spec.n_layers:
            A = OUTPUTS[spec.output](Z)
        elif hidden is None:
            A = f(Z)
        else:
            A = hidden(l, Z)
        out.append((Z, A))
    return out


def logits(spec: NetworkSpec, params: JParams, X: jax.Array, probes: Sequence[jax.Array] | None = None) -> jax.Array:
    """``Z_L``, the output layer's pre-activation: ``(N, n_in) -> (N, n_out)`` (``probes`` as for ``layers``)."""
    return layers(spec, params, X, probes)[-1][0]


def forward(spec: NetworkSpec, params: JParams, X: jax.Array) -> jax.Array:
    """``Y_hat = g(Z_L)``, ``(N, n_out)``."""
    return layers(spec, params, X)[-1][1]


def loss_from_logits(
    spec: NetworkSpec, Z: jax.Array, Y: jax.Array, rows: jax.Array | None = None, cols: jax.Array | None = None
) -> jax.Array:
    """The batch-mean loss from the output logits ``Z (N, n_out)`` and targets ``Y (N, n_out)``.

    - ``mse``: ``sum((Z - Y)**2) / (2N)``;
    - ``cross_entropy``: ``-sum(Y * log_softmax(Z)) / N``;
    - ``binary_cross_entropy``: ``-sum(Y log sigmoid(Z) + (1 - Y) log sigmoid(-Z)) / N``.

    ``rows (N,)`` and ``cols (n_out,)``, boolean masks given together, are for
    shapes padded to buckets (:mod:`bp_autodiff.bucketed`): only real rows and
    columns enter the sums, the softmax runs over real columns only, and ``N``
    is the number of real rows. Without them every entry is real.
    """
    if spec.loss == "mse":
        terms, scale = jnp.square(Z - Y), 2
    elif spec.loss == "cross_entropy":
        terms, scale = Y * jax.nn.log_softmax(Z, axis=-1, where=cols), -1
    elif spec.loss == "binary_cross_entropy":
        terms, scale = Y * jax.nn.log_sigmoid(Z) + (1 - Y) * jax.nn.log_sigmoid(-Z), -1
    else:
        raise ValueError(f"unknown loss {spec.loss!r}")
    if rows is None or cols is None:
        return jnp.sum(terms) / (scale * Z.shape[0])
    # a padded entry's term may be -inf or NaN (softmax over real columns only); where() keeps it out
    real = rows[:, None] & cols[None, :]
    return jnp.sum(jnp.where(real, terms, 0)) / (scale * jnp.sum(rows, dtype=Z.dtype))


def loss(spec: NetworkSpec, params: JParams, X: jax.Array, Y: jax.Array) -> jax.Array:
    """The batch-mean loss of the network on ``(X, Y)``, a scalar."""
    return loss_from_logits(spec, logits(spec, params, X), Y)
