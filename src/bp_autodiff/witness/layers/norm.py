"""The JAX twins of :mod:`bp_manual.layers.norm`: batch norm (batch statistics) and layer norm.

What this module is for: independent forward passes, written from the
papers' definitions with ``jax.numpy``, differentiated by ``jax.vjp`` (which
follows every path through the mean and the variance by itself).

What it is not for: calling :mod:`bp_manual` (never), or checking arguments.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def batch_norm(x: jax.Array, gamma: jax.Array, beta: jax.Array, eps: float = 1e-5) -> jax.Array:
    """``gamma * (x - mean) / sqrt(var + eps) + beta``, statistics per feature over the batch.

    ``x (N, D)`` with ``gamma, beta (D,)``, or ``x (N, C, H, W)`` with ``(C,)``
    (statistics over ``N, H, W``); ``var`` biased (``jnp.var``'s default).
    """
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.var(x, axis=axes, keepdims=True)
    return (x - mean) * lax.rsqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


def layer_norm(x: jax.Array, gamma: jax.Array, beta: jax.Array, eps: float = 1e-5) -> jax.Array:
    """``gamma * (x - mean) / sqrt(var + eps) + beta``, statistics over the last axis of ``x (..., D)``."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) * lax.rsqrt(var + eps) * gamma + beta
