"""Flatten: a run of axes merged into one (as ``torch.flatten``), and its backward pass, the inverse reshape.

What this module is for: the step between a convolutional stack and a dense
one, ``x (N, C, H, W) -> out (N, C*H*W)``, in the layer contract
``flatten_forward(x, start_dim=1, end_dim=-1) -> (out, cache)`` and
``flatten_backward(dout, cache) -> (dx,)``. With other axes it also turns a
sequence model's ``(N, T, K)`` logits into ``(N*T, K)`` rows for
cross-entropy (``start_dim=0, end_dim=1``).

The forward moves no number: ``out`` holds the entries of ``x`` in row-major
(C) order, so ``out[n, (c*H + h)*W + w] = x[n, c, h, w]``. Its Jacobian is
a permutation that happens to be the identity on the memory, so the backward
is the inverse reshape ``dx = dout.reshape(x.shape)``, exact (no rounding).
The classic trap is a backward that unflattens in another order than the
forward flattened, e.g. channels last ``(N, H, W, C)`` when the forward was
channels first (code ported from a channels-last library): every shape
still fits and the gradients land on the wrong pixels.

What it is not for: any other reshape or transpose, or integer inputs (the
embedding's indices are flattened by the embedding itself).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from bp_manual.layers.checks import axis_index, float_array
from bp_manual.namespace import namespace

Array = Any  # a NumPy array, or a JAX array under jax.jit


class FlattenCache(NamedTuple):
    """What :func:`flatten_backward` needs: the shape of ``x``."""

    x_shape: tuple[int, ...]


def flattened_shape(shape: tuple[int, ...], start_dim: int, end_dim: int) -> tuple[int, ...]:
    """``shape`` with the axes ``start_dim..end_dim`` (both included, non-negative) merged into their product."""
    return (*shape[:start_dim], math.prod(shape[start_dim : end_dim + 1]), *shape[end_dim + 1 :])


def flatten_forward(x: Array, start_dim: int = 1, end_dim: int = -1) -> tuple[Array, FlattenCache]:
    """``out = x`` with the axes ``start_dim`` to ``end_dim`` (both included) merged, in row-major order.

    Equals ``torch.flatten(x, start_dim, end_dim)`` (and ``nn.Flatten()`` with
    its defaults ``start_dim=1, end_dim=-1``: ``(N, C, H, W) -> (N, C*H*W)``).

    Args:
        x: any shape with at least one dimension, float32 or float64 (integer
            and boolean arrays become float64).
        start_dim, end_dim: axes of ``x``, negative counting from the end, with
            ``start_dim <= end_dim`` once both are made non-negative.

    Returns:
        ``(out, cache)``: ``out`` of shape ``x.shape[:start] + (prod of
        x.shape[start:end+1],) + x.shape[end+1:]``, ``x``'s dtype; the
        :class:`FlattenCache`.

    Raises:
        TypeError: ``x`` not numeric; ``start_dim`` or ``end_dim`` not an int.
        ValueError: ``x`` 0-dimensional or (NumPy) not finite; an axis out of
            range; ``start_dim`` after ``end_dim``.
    """
    x = float_array("x", x)
    if x.ndim == 0:
        raise ValueError("x must have at least 1 dimension, got shape ()")
    start = axis_index("start_dim", start_dim, x.ndim)
    end = axis_index("end_dim", end_dim, x.ndim)
    if start > end:
        raise ValueError(
            f"start_dim must not come after end_dim, got start_dim={start_dim}, end_dim={end_dim} "
            f"for x of shape {tuple(x.shape)}"
        )
    shape = tuple(int(d) for d in x.shape)
    return namespace(x).reshape(x, flattened_shape(shape, start, end)), FlattenCache(shape)


def flatten_backward(dout: Array, cache: FlattenCache) -> tuple[Array]:
    """``(dx,)`` with ``dx = dout.reshape(x.shape)``: every entry back where the forward took it from.

    ``dout`` has the forward's ``out`` shape; ``dx`` has ``x``'s shape and
    ``dout``'s dtype, the same numbers (the backward of a reshape is the
    inverse reshape in the same, row-major, order).
    """
    return (namespace(dout).reshape(dout, cache.x_shape),)
