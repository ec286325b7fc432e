"""JAX twin of :mod:`bp_manual.layers.attention`: scaled dot-product attention.

What this module is for: ``softmax(q k^T / sqrt(d)) v`` written again with
``jnp.einsum`` and its own softmax, to be differentiated by ``jax.vjp``. The
causal mask is PyTorch's ``is_causal``: key ``s`` is visible to query ``t``
when ``s <= t`` (aligned at the top left when ``T != S``).

What it is not for: calling :mod:`bp_manual`, ever.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bp_autodiff.witness.layers.softmax import softmax


def attention(q: jax.Array, k: jax.Array, v: jax.Array, causal: bool = False) -> jax.Array:
    """``q (N, T, d)``, ``k (N, S, d)``, ``v (N, S, dv)`` -> ``(N, T, dv)``."""
    d = q.shape[-1]
    scores = jnp.einsum("ntd,nsd->nts", q, k) / jnp.sqrt(jnp.asarray(d, dtype=q.dtype))
    if causal:
        T, S = q.shape[1], k.shape[1]
        visible = jnp.tril(jnp.ones((T, S), dtype=bool))
        scores = jnp.where(visible, scores, -jnp.inf)
    return jnp.einsum("nts,nsv->ntv", softmax(scores, axis=-1), v)
