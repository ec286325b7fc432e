"""The JAX twins of :mod:`bp_manual.layers.pool`: max and average pooling through ``lax.reduce_window``.

What this module is for: independent forward passes of ``max_pool2d`` and
``avg_pool2d`` (no padding, floor mode, PyTorch's layout), differentiated by
``jax.vjp``.

What it is not for: calling :mod:`bp_manual` (never), or checking arguments.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def _window(kernel_size: int, stride: int | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    s = kernel_size if stride is None else stride
    return (1, 1, kernel_size, kernel_size), (1, 1, s, s)


def max_pool2d(x: jax.Array, kernel_size: int, stride: int | None = None) -> jax.Array:
    """``out[n, c, oh, ow] = max of x[n, c, s*oh : s*oh + k, s*ow : s*ow + k]``, ``s = stride or k``."""
    dims, strides = _window(kernel_size, stride)
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, "VALID")


def avg_pool2d(x: jax.Array, kernel_size: int, stride: int | None = None) -> jax.Array:
    """``out[n, c, oh, ow] = mean of x[n, c, s*oh : s*oh + k, s*ow : s*ow + k]``, ``s = stride or k``."""
    dims, strides = _window(kernel_size, stride)
    return lax.reduce_window(x, 0.0, lax.add, dims, strides, "VALID") / (kernel_size * kernel_size)
