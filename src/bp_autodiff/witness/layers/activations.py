"""JAX twins of :mod:`bp_manual.layers.activations`, from JAX's own library (``jax.nn``, ``jnp``).

What this module is for: the witnesses of the element-wise layers,
differentiated by ``jax.vjp``. Each is JAX's function, not a transcription of
the hand-written kernels, so a wrong constant or branch in
:mod:`bp_manual.activations` cannot hide by being shared.

What it is not for: calling :mod:`bp_manual`, ever.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: The default negative slope of ``leaky_relu`` (PyTorch's and ``jax.nn.leaky_relu``'s), written here again.
LEAKY_SLOPE = 0.01


def relu(x: jax.Array) -> jax.Array:
    """``max(x, 0)`` (``jax.nn.relu``, whose derivative at 0 is 0)."""
    return jax.nn.relu(x)


def leaky_relu(x: jax.Array, slope: float = LEAKY_SLOPE) -> jax.Array:
    """``x if x >= 0 else slope * x`` (``jax.nn.leaky_relu``)."""
    return jax.nn.leaky_relu(x, negative_slope=slope)


def sigmoid(x: jax.Array) -> jax.Array:
    """``1 / (1 + exp(-x))`` (``jax.nn.sigmoid``)."""
    return jax.nn.sigmoid(x)


def tanh(x: jax.Array) -> jax.Array:
    """``tanh(x)`` (``jnp.tanh``)."""
    return jnp.tanh(x)


def softplus(x: jax.Array) -> jax.Array:
    """``log(1 + exp(x))`` (``jax.nn.softplus``, a ``logaddexp(x, 0)``)."""
    return jax.nn.softplus(x)


def gelu(x: jax.Array) -> jax.Array:
    """GELU, tanh form (``jax.nn.gelu(x, approximate=True)``)."""
    return jax.nn.gelu(x, approximate=True)
