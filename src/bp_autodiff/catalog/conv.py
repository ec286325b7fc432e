"""Classic wrong backward passes of ``conv2d`` (:mod:`bp_manual.layers.conv`), each mistake marked ``# MISTAKE``.

What this module is for: :data:`MISTAKES`, the convolution entries of the
layer library's catalog, for teaching, for the auditor's dictionary of
diagnoses, and for the test that the property test catches each one
(``tests/test_layers_conv.py``). Each function is the correct
``conv2d_backward`` with one mistake, built from the same kernels
(:func:`~bp_manual.layers.conv.windows`, :func:`~bp_manual.layers.conv.correlate`,
:func:`~bp_manual.layers.conv.dilate`) so that only the mistake is written out.
Each entry's ``config`` is a setting where the mistake shows; several hide at
other settings, which is why a check at one setting is not enough.

What it is not for: correct code (:func:`bp_manual.layers.conv.conv2d_backward`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.layers.conv import Conv2dCache, correlate, dilate, windows

Array = Any


def _dw_db(dout: Array, cache: Conv2dCache) -> tuple[Array, Array]:
    """The correct ``dw`` and ``db`` (as ``conv2d_backward``)."""
    db = np.sum(dout, axis=(0, 2, 3))
    dw = np.tensordot(dout, cache.cols, axes=([0, 2, 3], [3, 4, 5]))
    return dw, db


def _full_correlation(dout: Array, cache: Conv2dCache, kernel: Array) -> Array:
    """``dx_pad (N, C, Hp, Wp)``: the full correlation of the dilated ``dout`` with ``kernel (C, F, KH, KW)``."""
    _, _, H, W = cache.x_shape
    _, _, KH, KW = cache.w.shape
    s, p = cache.stride, cache.padding
    rows_left, cols_left = (H + 2 * p - KH) % s, (W + 2 * p - KW) % s
    d_cols = windows(dilate(dout, s), KH, KW, 1, (KH - 1, KW - 1), (KH - 1 + rows_left, KW - 1 + cols_left))
    return correlate(d_cols, kernel)


def _correct_dx(dout: Array, cache: Conv2dCache) -> Array:
    """The correct ``dx`` (as ``conv2d_backward``)."""
    _, _, H, W = cache.x_shape
    p = cache.padding
    w_flipped = np.flip(np.transpose(cache.w, (1, 0, 2, 3)), axis=(2, 3))
    return _full_correlation(dout, cache, w_flipped)[:, :, p : p + H, p : p + W]


def dx_unflipped_kernel(dout: Array, cache: Conv2dCache) -> tuple[Array, Array, Array]:
    """Mistake: ``dx`` as the full correlation of ``dout`` with ``w`` itself, not rotated by 180 degrees.

    The forward is a correlation, so its adjoint is a correlation with the
    *flipped* kernel (equivalently a true convolution with ``w``). People
    reuse their forward correlation and forget the flip; with a kernel that is
    symmetric under the rotation (a 1x1 kernel, a constant one) the result is
    still right, so the mistake shows only for a general ``KH x KW`` kernel.
    Wrong: ``dx``. Finding: ``layer_mistake``.
    """
    _, _, H, W = cache.x_shape
    p = cache.padding
    w_swapped = np.transpose(cache.w, (1, 0, 2, 3))  # MISTAKE: not flipped along the two kernel axes
    dx = _full_correlation(dout, cache, w_swapped)[:, :, p : p + H, p : p + W]
    return (dx, *_dw_db(dout, cache))


def dx_cropped_with_negative_end(dout: Array, cache: Conv2dCache) -> tuple[Array, Array, Array]:
    """Mistake: the padding cropped off ``dx_pad`` with ``dx_pad[:, :, p:-p, p:-p]``.

    Right for every ``p >= 1``; at ``p = 0`` the slice ``0:-0`` is ``0:0``,
    empty, so ``dx`` has shape ``(N, C, 0, 0)``. Four of the wrong convolution
    backward passes in the course repositories of issue 14 did this and passed
    their course's check, which only tried padding 1. Shown at ``padding=0``.
    Wrong: ``dx`` (wrong shape). Finding: ``layer_mistake``.
    """
    p = cache.padding
    w_flipped = np.flip(np.transpose(cache.w, (1, 0, 2, 3)), axis=(2, 3))
    dx_pad = _full_correlation(dout, cache, w_flipped)
    dx = dx_pad[:, :, p:-p, p:-p]  # MISTAKE: at p = 0 this is empty; p : p + H is right for every p
    return (dx, *_dw_db(dout, cache))


def dout_not_dilated(dout: Array, cache: Conv2dCache) -> tuple[Array, Array, Array]:
    """Mistake: the stride forgotten in ``dx``: ``dout`` used without ``stride - 1`` zeros between its entries.

    Window ``(oh, ow)`` starts at ``x_pad[s*oh, s*ow]``, so its gradient must
    land there; without the dilation it lands at ``(oh, ow)`` (the loop form of
    this mistake writes ``dx_pad[:, :, oh:oh + KH, ...]`` instead of
    ``dx_pad[:, :, s*oh:s*oh + KH, ...]``). The result is padded at the bottom and
    right to the right shape, as such code does. Right at stride 1, so shown at
    ``stride=2``. Wrong: ``dx``. Finding: ``layer_mistake``.
    """
    _, _, H, W = cache.x_shape
    _, _, KH, KW = cache.w.shape
    p = cache.padding
    _, _, OH, OW = dout.shape
    rows_left, cols_left = H + 2 * p - (OH - 1) - KH, W + 2 * p - (OW - 1) - KW  # fill up to (Hp, Wp)
    d_cols = windows(dout, KH, KW, 1, (KH - 1, KW - 1), (KH - 1 + rows_left, KW - 1 + cols_left))  # MISTAKE: no dilate
    w_flipped = np.flip(np.transpose(cache.w, (1, 0, 2, 3)), axis=(2, 3))
    dx = correlate(d_cols, w_flipped)[:, :, p : p + H, p : p + W]
    return (dx, *_dw_db(dout, cache))


def db_not_summed_over_batch(dout: Array, cache: Conv2dCache) -> tuple[Array, Array, Array]:
    """Mistake: ``db`` summed over the output positions but not over the batch: shape ``(N, F)``.

    The bias is shared by every sample as well as every position, so its
    gradient sums over ``n`` too. With a batch of one the values are right and
    only the shape differs. Wrong: ``db``. Finding: ``unreduced``.
    """
    dx = _correct_dx(dout, cache)
    dw, _ = _dw_db(dout, cache)
    db = np.sum(dout, axis=(2, 3))  # MISTAKE: axis 0 (the batch) not summed
    return dx, dw, db


#: The classic wrong backward passes of ``conv2d``, by name.
MISTAKES: dict[str, LayerMistake] = {
    "dx_unflipped_kernel": LayerMistake("conv2d", dx_unflipped_kernel, "layer_mistake", ("x",), {"padding": 1}),
    "dx_cropped_with_negative_end": LayerMistake(
        "conv2d", dx_cropped_with_negative_end, "layer_mistake", ("x",), {"padding": 0}
    ),
    "dout_not_dilated": LayerMistake("conv2d", dout_not_dilated, "layer_mistake", ("x",), {"stride": 2, "padding": 1}),
    "db_not_summed_over_batch": LayerMistake("conv2d", db_not_summed_over_batch, "unreduced", ("b",), {}),
}
