"""JAX twin of :mod:`bp_manual.layers.dropout`: inverted dropout with the mask as an input.

What this module is for: the witness of the dropout layer, differentiated by
``jax.vjp``; written with ``jnp.where`` (dropped units set to 0, kept ones
divided by the keep probability) rather than the hand derivation's product
with the mask.

What it is not for: drawing masks (``jax.random.bernoulli`` would; the layer
takes the mask as an input), or calling :mod:`bp_manual`, ever.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def dropout(x: jax.Array, mask: jax.Array, p: float) -> jax.Array:
    """``x / (1 - p)`` where ``mask`` is True, 0 elsewhere.

    ``x`` any shape, ``mask`` bool of its shape, ``p`` in ``[0, 1)``.
    """
    keep = 1.0 - p
    return jnp.where(mask, x / keep, jnp.zeros_like(x))
