"""2-D max and average pooling (as ``torch.nn.functional.max_pool2d``/``avg_pool2d``), backward passes by hand.

What this module is for: the layers ``max_pool2d`` and ``avg_pool2d`` of the
layer library, each a pair ``<name>_forward(x, kernel_size, stride) -> (out,
cache)`` and ``<name>_backward(dout, cache) -> (dx,)`` (``x`` is the only input;
the window settings are configuration). The derivation is in ``docs/layers/conv.md``.

Notation (PyTorch's layout): ``x (N, C, H, W)``, a square window of
``k = kernel_size``, ``s = stride`` (``kernel_size`` when not given), no
padding, floor mode: ``OH = (H - k) // s + 1``, likewise ``OW``. Window
``(oh, ow)`` covers ``x[:, :, s*oh : s*oh + k, s*ow : s*ow + k]``; with
``s < k`` neighbouring windows overlap, and an input element belongs to up to
``ceil(k / s)**2`` of them.

How it is computed: the forward reduces the windows, the max pool one kernel
offset at a time over the convolution's strided slices
(:func:`bp_manual.layers.conv.window_offsets`), the average pool over its
im2col (:func:`bp_manual.layers.conv.windows`); the backward
is the adjoint of that gather, :func:`~bp_manual.layers.conv.add_windows` (col2im,
which the convolution's backward uses too), which ADDS each
window's gradient into ``dx``: an element shared by overlapping windows gets
the sum of what each window sends it. Writing (``=``) instead of adding keeps
only the last window's share, a mistake that stays invisible while windows do
not overlap (``s = k``, the usual 2x2 stride 2).

Ties: the max pool's gradient goes to the first largest element of each
window in row-major order (as ``numpy.argmax``); where a window holds two equal
largest elements the function has no derivative, and other libraries may pick
another one. The tests use inputs without ties.

What it is not for: padding, dilation, ceil mode, non-square windows or
strides, global pooling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from bp_manual.layers.checks import float_array, positive_int, window_fits
from bp_manual.layers.conv import add_offsets, add_windows, window_offsets, windows
from bp_manual.namespace import is_numpy, namespace

__all__ = ["add_windows", "first_index_of"]  # add_windows: col2im, shared with conv2d's backward

Array = Any  # a NumPy array, or a JAX array under jax.jit


class PoolCache(NamedTuple):
    """What the pooling backward passes need from the forward pass.

    Fields: ``x_shape`` ``(N, C, H, W)``; ``kernel_size``; ``stride``;
    ``argmax (C, N, OH, OW)`` (max pooling only, ``None`` for average pooling):
    the position ``i * k + j`` of each window's largest element, row-major
    within the window.
    """

    x_shape: tuple[int, int, int, int]
    kernel_size: int
    stride: int
    argmax: Array  # None for average pooling


def _check(x: Array, kernel_size: int, stride: int | None) -> tuple[Array, int, int]:
    """Checked ``(x, kernel_size, stride)``, ``stride`` defaulting to ``kernel_size``."""
    x = float_array("x", x, ndim=4)
    k = positive_int("kernel_size", kernel_size)
    s = k if stride is None else positive_int("stride", stride)
    window_fits("kernel_size", (k, k), tuple(x.shape[2:]), "the input (H, W)")
    return x, k, s


def max_pool2d_forward(x: Array, kernel_size: int, stride: int | None = None) -> tuple[Array, PoolCache]:
    """Max pooling: ``out[n, c, oh, ow] = max_{i, j < k} x[n, c, s*oh + i, s*ow + j]``.

    Equals ``torch.nn.functional.max_pool2d(x, kernel_size, stride)`` (no
    padding, floor mode); CS231n assignment 2, ``max_pool_forward_naive``;
    Goodfellow, Bengio and Courville, *Deep Learning*, 9.3.

    Args:
        x: ``(N, C, H, W)`` float32/float64 (lists and integer arrays become float64).
        kernel_size: int >= 1, the side of the square window.
        stride: int >= 1, or ``None`` for ``kernel_size``; ``stride < kernel_size``
            gives overlapping windows.

    Returns:
        ``(out, cache)``: ``out (N, C, OH, OW)`` in ``x``'s dtype,
        ``OH = (H - kernel_size) // stride + 1``; the :class:`PoolCache`.

    Raises:
        TypeError: ``x`` not numeric; ``kernel_size`` or ``stride`` not an int.
        ValueError: ``x`` not 4-D or (NumPy) not finite; ``kernel_size`` or
            ``stride`` below 1; the window larger than the input (named ``kernel_size``).
    """
    x, k, s = _check(x, kernel_size, stride)
    xp = namespace(x)
    N, C, H, W = x.shape
    offsets = window_offsets(xp.permute_dims(x, (1, 0, 2, 3)), k, k, s)  # k*k arrays (C, N, OH, OW), a = i*k + j
    # max over the window, one offset at a time: no (C, k*k, N, OH, OW) copy. The first maximum makes a new array
    # (for k = 1 the only offset is a view of x, which out must not be: the caller may write into out).
    largest = xp.maximum(offsets[0], offsets[1]) if len(offsets) > 1 else xp.asarray(offsets[0], copy=True)
    for offset in offsets[2:]:
        largest = xp.maximum(largest, offset)
    if is_numpy(x):
        argmax = first_index_of(offsets, largest)  # (C, N, OH, OW): the first largest, row-major
    else:  # one reduction, which XLA computes once (it copied first_index_of's chain into each offset's routing)
        argmax = xp.astype(xp.argmax(xp.stack(offsets, axis=1), axis=1), xp.int32)
    return xp.permute_dims(largest, (1, 0, 2, 3)), PoolCache((N, C, H, W), k, s, argmax)


def first_index_of(offsets: Sequence[Array], largest: Array) -> Array:
    """``argmax`` over the window offsets given their ``largest``: per window, the first ``a`` with
    ``offsets[a] == largest`` (``k*k`` arrays ``(C, N, OH, OW)`` and ``largest`` of that shape -> integers).

    The same numbers as ``xp.argmax(xp.stack(offsets, axis=1), axis=1)``, ties included (the first one wins),
    by ``k*k`` whole-array comparisons from the last offset to the first, on the offsets as they are (views
    on NumPy): NumPy's ``argmax`` over a middle axis copies the array into windows-last order and walks
    every window separately, which made it 3 to 30 times slower than the ``max`` it sits next to at
    ``x (32, 16, 28, 28)`` (``benchmarks/bench_layers.py``). The max pool's NumPy path; under ``jax.jit``
    it takes ``argmax``, which XLA computes once where it copied these comparisons into every consumer.
    """
    xp = namespace(largest)
    index = xp.zeros(largest.shape, dtype=xp.int32)
    for a in reversed(range(len(offsets))):  # the last write is the first offset holding the largest
        index = xp.where(offsets[a] == largest, a, index)
    return index


def max_pool2d_backward(dout: Array, cache: PoolCache) -> tuple[Array]:
    """Gradient of max pooling: ``(dx,)``, ``dx`` shaped like ``x``.

    Each window's ``dout[n, c, oh, ow]`` goes to the position of its largest
    element (``cache.argmax``) and nowhere else (the max is locally the identity
    of that element); elements shared by overlapping windows ADD what each
    window sends (col2im, one kernel offset at a time: :func:`~bp_manual.layers.conv.add_offsets`)::

        dx[n, c, s*oh + i, s*ow + j] += dout[n, c, oh, ow] * [i*k + j == argmax[c, n, oh, ow]]

    ``dout (N, C, OH, OW)``; same dtype as ``dout``.
    """
    xp = namespace(dout)
    k = cache.kernel_size
    per_window = xp.permute_dims(dout, (1, 0, 2, 3))  # (C, N, OH, OW), the layout of argmax

    def routed(i: int, j: int) -> Array:  # offset (i, j) of every window: its dout if the max is there, else 0
        return xp.where(cache.argmax == i * k + j, per_window, 0.0)

    return (add_offsets(routed, cache.x_shape, (k, k), cache.stride, dout),)


def avg_pool2d_forward(x: Array, kernel_size: int, stride: int | None = None) -> tuple[Array, PoolCache]:
    """Average pooling: ``out[n, c, oh, ow] = (1 / k**2) sum_{i, j < k} x[n, c, s*oh + i, s*ow + j]``.

    Equals ``torch.nn.functional.avg_pool2d(x, kernel_size, stride)`` (no
    padding, floor mode); Goodfellow, Bengio and Courville, *Deep Learning*, 9.3.
    Arguments, returns and errors as :func:`max_pool2d_forward` (the cache has
    ``argmax=None``).
    """
    x, k, s = _check(x, kernel_size, stride)
    xp = namespace(x)
    N, C, H, W = x.shape
    window_sums = xp.sum(windows(x, k, k, s), axis=(1, 2))  # (C, N, OH, OW)
    out = xp.permute_dims(window_sums, (1, 0, 2, 3)) / (k * k)
    return out, PoolCache((N, C, H, W), k, s, None)


def avg_pool2d_backward(dout: Array, cache: PoolCache) -> tuple[Array]:
    """Gradient of average pooling: ``(dx,)``, ``dx`` shaped like ``x``.

    Every element of a window gets ``1 / k**2`` of the window's ``dout``, and
    shared elements add the shares of all their windows (:func:`add_windows`)::

        dx[n, c, s*oh + i, s*ow + j] += dout[n, c, oh, ow] / k**2

    ``dout (N, C, OH, OW)``; same dtype as ``dout``.
    """
    xp = namespace(dout)
    k = cache.kernel_size
    N, C, OH, OW = dout.shape
    share = xp.permute_dims(dout, (1, 0, 2, 3)) / (k * k)  # (C, N, OH, OW)
    dcols = xp.broadcast_to(share[:, None, None], (C, k, k, N, OH, OW))
    return (add_windows(dcols, cache.x_shape, cache.stride),)
