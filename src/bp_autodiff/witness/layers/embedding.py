"""JAX twin of :mod:`bp_manual.layers.embedding`: ``embedding(indices, E) = E[indices]``, by ``jnp.take``.

What this module is for: the witness of the embedding layer, differentiated by
``jax.vjp`` (JAX's transpose of a gather is a scatter-add, so repeated indices
accumulate there by construction).

What it is not for: calling :mod:`bp_manual`, ever.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def embedding(indices: jax.Array, E: jax.Array) -> jax.Array:
    """Rows of ``E (V, D)`` at ``indices`` (int, any shape): ``indices.shape + (D,)``."""
    return jnp.take(E, indices, axis=0)
