"""JAX twins of :mod:`bp_manual.layers.softmax`: ``softmax``, ``log_softmax``, ``cross_entropy``.

What this module is for: the same functions written again from ``jax.numpy``
primitives (not ``jax.nn.softmax``, whose gradient is a hand-written rule), to be
differentiated by ``jax.vjp``. ``log_softmax`` is ``x - logsumexp(x)`` and
``softmax`` is ``exp(x - m) / sum(exp(x - m))``; the shift ``m`` is the maximum
held constant (``lax.stop_gradient``): both functions are unchanged by any
shift, so its derivative contributes nothing and need not be taken through a
``max`` (whose gradient at ties is a convention). ``cross_entropy`` picks the
label's log-probability with ``take_along_axis``, not through one-hot rows.

What it is not for: calling :mod:`bp_manual`, ever.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def _shift(x: jax.Array, axis: int) -> jax.Array:
    return lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))


def softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    """``exp(x_i) / sum_j exp(x_j)`` along ``axis``; shape and dtype of ``x``."""
    e = jnp.exp(x - _shift(x, axis))
    return e / jnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    """``x - log sum_j exp(x_j)`` along ``axis``; shape and dtype of ``x``."""
    m = _shift(x, axis)
    return x - (m + jnp.log(jnp.sum(jnp.exp(x - m), axis=axis, keepdims=True)))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """``-(1/N) sum_n log softmax(logits_n)[labels_n]``: ``logits (N, K)``, integer ``labels (N,)`` -> scalar."""
    picked = jnp.take_along_axis(log_softmax(logits, axis=1), labels[:, None], axis=1)
    return -jnp.mean(picked)
