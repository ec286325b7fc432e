"""Classic wrong backward passes of the pooling layers (:mod:`bp_manual.layers.pool`), mistakes marked ``# MISTAKE``.

What this module is for: :data:`MISTAKES`, the pooling entries of the layer
library's catalog (teaching, the auditor's dictionary, and the test that the
property test catches each one, ``tests/test_layers_conv.py``). Each function
is the correct backward with one mistake, built from the same pieces
(:func:`~bp_manual.layers.pool.add_windows`' loop, the cached ``argmax``).
Each entry's ``config`` is a setting where the mistake shows: a pool backward
that writes instead of adding is right whenever windows do not overlap (the
usual 2x2 stride 2), so its entries are configured with overlapping windows.

Not in the catalog: routing the gradient to *every* element equal to the
window's maximum. That differs from the argmax only at ties, where the
function has no derivative; it is a convention, not a mistake.

What it is not for: correct code (:mod:`bp_manual.layers.pool`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.layers.pool import PoolCache, add_windows

Array = Any


def _write_windows(dcols: Array, x_shape: tuple[int, int, int, int], stride: int) -> Array:
    """col2im that WRITES each window's gradient: where windows overlap, the last one wins."""
    N, C, H, W = x_shape
    _, KH, KW, _, OH, OW = dcols.shape
    dx = np.zeros((N, C, H, W), dtype=dcols.dtype)
    for i in range(KH):
        for j in range(KW):
            rows = slice(i, i + stride * (OH - 1) + 1, stride)
            columns = slice(j, j + stride * (OW - 1) + 1, stride)
            dx[:, :, rows, columns] = np.transpose(dcols[:, i, j], (1, 0, 2, 3))  # MISTAKE: = instead of +=
    return dx


def _max_dcols(dout: Array, cache: PoolCache, argmax: Array) -> Array:
    """``dcols (C, k, k, N, OH, OW)``: each window's ``dout`` at its ``argmax`` (row-major), 0 elsewhere."""
    k = cache.kernel_size
    C, N, OH, OW = argmax.shape
    is_max = np.arange(k * k)[None, :, None, None, None] == argmax[:, None]
    dcols = np.where(is_max, np.transpose(dout, (1, 0, 2, 3))[:, None], 0.0)
    return np.reshape(dcols, (C, k, k, N, OH, OW))


def _avg_dcols(dout: Array, cache: PoolCache, scale: float) -> Array:
    """``dcols (C, k, k, N, OH, OW)``: every element of a window gets ``scale * dout``."""
    k = cache.kernel_size
    N, C, OH, OW = dout.shape
    share = np.transpose(dout, (1, 0, 2, 3)) * scale
    return np.broadcast_to(share[:, None, None], (C, k, k, N, OH, OW))


def max_pool_overwrites(dout: Array, cache: PoolCache) -> tuple[Array]:
    """Mistake: max pool backward with ``dx[window] = ...`` instead of ``dx[window] += ...``.

    Where windows overlap, an element that is the maximum of two windows gets
    only the last window's gradient. Right for non-overlapping windows (stride
    = kernel size), the setting most course checks use: 7 of the 13 max pools
    in issue 14's course repositories did this. Shown at ``kernel_size=3,
    stride=2``. The ``=`` is in :func:`_write_windows`. Wrong: ``x``. Finding: ``lost_accumulation``.
    """
    dx = _write_windows(_max_dcols(dout, cache, cache.argmax), cache.x_shape, cache.stride)
    return (dx,)


def max_pool_argmax_transposed(dout: Array, cache: PoolCache) -> tuple[Array]:
    """Mistake: the flat index of the window's maximum unravelled column-major: ``(i, j) = (a % k, a // k)``.

    ``argmax`` over a flattened ``k x k`` window gives ``a = i*k + j``
    (row-major); reading it back as ``(a % k, a // k)`` sends the gradient to
    the mirror position across the window's diagonal, which is right only
    when the maximum happens to lie on the diagonal. Wrong: ``x``. Finding:
    ``layer_mistake``.
    """
    k = cache.kernel_size
    a = cache.argmax
    transposed = (a % k) * k + a // k  # MISTAKE: row a // k, column a % k is the right reading
    dx = add_windows(_max_dcols(dout, cache, transposed), cache.x_shape, cache.stride)
    return (dx,)


def avg_pool_unscaled(dout: Array, cache: PoolCache) -> tuple[Array]:
    """Mistake: average pool backward without the ``1 / k**2``: every window element gets all of ``dout``.

    That is the backward pass of a *sum* pool. Wrong: ``x``, by the factor
    ``k**2``. Finding: ``scale``.
    """
    dx = add_windows(_avg_dcols(dout, cache, 1.0), cache.x_shape, cache.stride)  # MISTAKE: 1, not 1 / k**2
    return (dx,)


def avg_pool_overwrites(dout: Array, cache: PoolCache) -> tuple[Array]:
    """Mistake: average pool backward with ``=`` instead of ``+=`` (as :func:`max_pool_overwrites`).

    The ``=`` is in :func:`_write_windows`. Shown at ``kernel_size=3, stride=1``. Wrong: ``x``.
    Finding: ``lost_accumulation``.
    """
    k = cache.kernel_size
    dx = _write_windows(_avg_dcols(dout, cache, 1.0 / (k * k)), cache.x_shape, cache.stride)
    return (dx,)


#: The classic wrong backward passes of ``max_pool2d`` and ``avg_pool2d``, by name.
MISTAKES: dict[str, LayerMistake] = {
    "max_pool_overwrites": LayerMistake(
        "max_pool2d", max_pool_overwrites, "lost_accumulation", ("x",), {"kernel_size": 3, "stride": 2}
    ),
    "max_pool_argmax_transposed": LayerMistake(
        "max_pool2d", max_pool_argmax_transposed, "layer_mistake", ("x",), {"kernel_size": 3, "stride": 3}
    ),
    "avg_pool_unscaled": LayerMistake("avg_pool2d", avg_pool_unscaled, "scale", ("x",), {"kernel_size": 2}),
    "avg_pool_overwrites": LayerMistake(
        "avg_pool2d", avg_pool_overwrites, "lost_accumulation", ("x",), {"kernel_size": 3, "stride": 1}
    ),
}
