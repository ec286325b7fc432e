"""JAX twin of :mod:`bp_manual.layers.linear`: ``linear(x, W, b) = x W^T + b``, written with ``jnp.einsum``.

What this module is for: the witness of the linear layer, differentiated by
``jax.vjp``. Written as a contraction over ``D_in`` for every leading index,
not as the matmul the hand derivation uses, so the two share no code and not
even the same expression.

What it is not for: calling :mod:`bp_manual`, ever.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def linear(x: jax.Array, W: jax.Array, b: jax.Array | None) -> jax.Array:
    """``out[..., i] = sum_j x[..., j] W[i, j] + b[i]``.

    ``x (..., D_in)``, ``W (D_out, D_in)``, ``b (D_out,)`` or ``None``; ``out (..., D_out)``.
    """
    out = jnp.einsum("...j,ij->...i", x, W)
    return out if b is None else out + b
