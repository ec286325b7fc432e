"""The JAX twin of :mod:`bp_manual.layers.flatten`: ``flatten`` through ``lax.collapse``.

What this module is for: an independent forward pass of the flatten step,
differentiated by ``jax.vjp`` (whose transpose of a collapse is the inverse
reshape, found by JAX, not written here).

What it is not for: calling :mod:`bp_manual` (never), or checking arguments.
"""

from __future__ import annotations

import jax
from jax import lax


def flatten(x: jax.Array, start_dim: int = 1, end_dim: int = -1) -> jax.Array:
    """``x`` with the axes ``start_dim..end_dim`` (both included; negative from the end) collapsed into one."""
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return lax.collapse(x, start, end + 1)
