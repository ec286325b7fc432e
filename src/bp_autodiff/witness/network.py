"""The same network in ``jax.numpy``: the witness's twin of :mod:`bp_manual.network`.

What this module is for: the forward pass and the loss, written independently.
It shares with :mod:`bp_manual` only the spec, the params structure and the
input checks; every equation is written again from JAX's own primitives
(:mod:`bp_autodiff.witness.activations`, :mod:`bp_autodiff.witness.losses`),
and there is no backward pass: JAX differentiates these functions itself
(:mod:`bp_autodiff.witness.grads`). Names mean what they mean in
:mod:`bp_manual.network`: ``layer_forward``, ``predict``, ``loss``.

What it is not for: being called directly with NumPy float64 arrays outside
:mod:`bp_autodiff.witness.grads`, which takes care of 64-bit mode.

All functions are traceable by ``jax.jit`` with ``spec`` static.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from bp_autodiff.witness.activations import HIDDEN, OUTPUTS
from bp_autodiff.witness.losses import loss_from_logits
from bp_manual.spec import NetworkSpec

JParams = list[dict[str, jax.Array]]


def layer_forward(W: jax.Array, b: jax.Array | None, A_prev: jax.Array) -> jax.Array:
    """``Z = A_prev @ W.T + b``: ``(N, n_in), (n_out, n_in), (n_out,) -> (N, n_out)``."""
    Z = jnp.matmul(A_prev, W.T)
    return Z if b is None else Z + b


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
    of ``HIDDEN[spec.hidden]`` (the bucketed witness, :mod:`bp_autodiff.witness.bucketed`,
    picks one of ``HIDDEN``'s functions per layer at run time). Unused outputs
    (e.g. ``A_L`` when only the logits are needed) are dropped by XLA under
    ``jax.jit``.
    """
    f = HIDDEN[spec.hidden]
    out = []
    A = X
    for l, layer in enumerate(params, start=1):
        Z = layer_forward(layer["W"], layer["b"] if spec.bias else None, A)
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


def predict(spec: NetworkSpec, params: JParams, X: jax.Array) -> jax.Array:
    """``Y_hat = g(Z_L)``, ``(N, n_out)``."""
    return layers(spec, params, X)[-1][1]


def loss(spec: NetworkSpec, params: JParams, X: jax.Array, Y: jax.Array) -> jax.Array:
    """The batch-mean loss of the network on ``(X, Y)``, a scalar."""
    return loss_from_logits(spec, logits(spec, params, X), Y)
