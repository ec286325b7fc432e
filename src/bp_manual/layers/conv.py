"""2-D convolution (cross-correlation, as ``torch.nn.functional.conv2d``), its backward pass derived by hand.

What this module is for: the layer ``conv2d`` of the layer library, as a
pair ``conv2d_forward(x, w, b, stride, padding) -> (out, cache)`` and
``conv2d_backward(dout, cache) -> (dx, dw, db)``, and :func:`windows`, the
im2col gather that the convolution and the pooling layers
(:mod:`bp_manual.layers.pool`) share. The derivation, with every term's shape
and the classic traps, is ``docs/layers/conv.md``.

Notation (PyTorch's layout): ``x (N, C, H, W)`` images, ``w (F, C, KH, KW)``
filters, ``b (F,)`` biases, ``s = stride``, ``p = padding``, ``x_pad`` the input
with ``p`` zeros on each side of both spatial axes, ``(Hp, Wp) = (H + 2p, W + 2p)``,
``OH = (Hp - KH) // s + 1``, ``OW = (Wp - KW) // s + 1``::

    out[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, s*oh + i, s*ow + j]

This is a cross-correlation (the kernel is not flipped), which is what every
deep-learning library calls a convolution.

How it is computed: :func:`windows` gathers ``cols[c, i, j, n, oh, ow] =
x_pad[n, c, s*oh + i, s*ow + j]`` with ``KH * KW`` strided slices (one per
kernel offset; a loop over the kernel, not over the image), and one matrix
product over ``(c, i, j)`` does the rest. The backward pass is the adjoint of
those two steps: ``dcols = w^T dout`` (:func:`window_gradients`), then col2im
(:func:`add_windows`), which adds each window's gradient back where the window
was gathered from, one strided slice per kernel offset again; ``dw`` and ``db``
are sums over the batch and the output positions. Slices, ``stack``, ``pad``
and ``@`` exist in NumPy and ``jax.numpy`` alike, and the slice-add is ``+=``
on NumPy and ``.at[].add`` on JAX, so the same code runs under ``jax.jit``.
The same ``dx`` is the full correlation of ``dout`` (dilated when ``s > 1``)
with the flipped kernel (:func:`dilate`, :func:`correlate`), the form
``docs/layers/conv.md`` derives and the catalog's mistakes are written in.

What it is not for: dilation, groups, asymmetric or "same" padding. Speed:
forward plus backward at ``x (32, 16, 28, 28)``, ``w (32, 16, 3, 3)``,
padding 1 against PyTorch's eager CPU is in ``docs/performance.md``
(``benchmarks/bench_layers.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from bp_manual.layers.checks import (
    check_shape,
    float_array,
    nonnegative_int,
    positive_int,
    same_dtype,
    window_fits,
)
from bp_manual.namespace import is_numpy, namespace

Array = Any  # a NumPy array, or a JAX array under jax.jit


class Conv2dCache(NamedTuple):
    """What ``conv2d_backward`` needs from the forward pass.

    Fields: ``x_shape`` ``(N, C, H, W)``; ``w (F, C, KH, KW)``; ``cols
    (C, KH, KW, N, OH, OW)`` the gathered windows of ``x_pad`` (:func:`windows`);
    ``stride``; ``padding``.
    """

    x_shape: tuple[int, int, int, int]
    w: Array
    cols: Array
    stride: int
    padding: int


def output_size(size: int, kernel: int, stride: int) -> int:
    """Number of window positions along one axis: ``(size - kernel) // stride + 1`` (floor mode)."""
    return (size - kernel) // stride + 1


def windows(
    x: Array, KH: int, KW: int, stride: int, pad_before: tuple[int, int] = (0, 0), pad_after: tuple[int, int] = (0, 0)
) -> Array:
    """im2col: ``cols[c, i, j, n, oh, ow] = x_pad[n, c, stride*oh + i, stride*ow + j]``.

    ``x (N, C, H, W)``; ``x_pad`` is ``x`` with ``pad_before = (rows, columns)``
    zeros added above and left of the image and ``pad_after`` below and right,
    ``(Hp, Wp)`` its spatial size. Returns ``cols (C, KH, KW, N, OH, OW)`` with
    ``OH = (Hp - KH) // stride + 1`` (likewise ``OW``); every window lies inside
    ``x_pad`` (the callers check that the kernel fits). Reshaped to
    ``(C*KH*KW, N*OH*OW)`` it is the im2col matrix: one column per window. One
    strided slice per kernel offset ``(i, j)``: ``x_pad[:, :, i::stride, j::stride]``,
    cut to ``OH x OW``, holds offset ``(i, j)`` of every window. Same dtype as
    ``x``; a new array (NumPy or JAX, as ``x``).
    """
    xp = namespace(x)
    widths = ((0, 0), (0, 0), (pad_before[0], pad_after[0]), (pad_before[1], pad_after[1]))
    channels_first = xp.permute_dims(x, (1, 0, 2, 3))  # (C, N, H, W), as the GEMM wants (a view)
    x_pad = xp.pad(channels_first, widths) if any(pad_before + pad_after) else channels_first  # (C, N, Hp, Wp)
    offsets = window_offsets(x_pad, KH, KW, stride)  # KH*KW arrays (C, N, OH, OW)
    cols = xp.stack(offsets, axis=1)  # (C, KH*KW, N, OH, OW), one copy
    return xp.reshape(cols, (x_pad.shape[0], KH, KW, *offsets[0].shape[1:]))


def window_offsets(x_pad: Array, KH: int, KW: int, stride: int) -> list[Array]:
    """Offset ``(i, j)`` of every window of ``x_pad (C, N, Hp, Wp)``, row-major: ``KH * KW`` arrays ``(C, N, OH, OW)``.

    Entry ``i * KW + j`` is ``x_pad[:, :, i::stride, j::stride]`` cut to ``OH x OW``
    (``OH = (Hp - KH) // stride + 1``, likewise ``OW``): element ``(oh, ow)`` of window
    ``(oh, ow)`` at offset ``(i, j)``. Strided slices: views on NumPy, nothing copied.
    :func:`windows` stacks them; the max pool reduces them one at a time without the stack.
    """
    OH = output_size(x_pad.shape[2], KH, stride)
    OW = output_size(x_pad.shape[3], KW, stride)
    return [
        x_pad[:, :, i : i + stride * (OH - 1) + 1 : stride, j : j + stride * (OW - 1) + 1 : stride]
        for i in range(KH)
        for j in range(KW)
    ]


def correlate(cols: Array, w: Array) -> Array:
    """``out[n, f, oh, ow] = sum_{c, i, j} w[f, c, i, j] * cols[c, i, j, n, oh, ow]`` (no bias).

    ``cols (C, KH, KW, N, OH, OW)`` from :func:`windows`, ``w (F, C, KH, KW)`` ->
    ``(N, F, OH, OW)``, the dtype of the inputs. One matrix product
    ``(F, C*KH*KW) @ (C*KH*KW, N*OH*OW)``, written as one (``tensordot`` over the three
    axes computes the same, but ``jax.jit`` compiled its gradient twin below 3 times slower).
    """
    xp = namespace(cols, w)
    C, KH, KW, N, OH, OW = cols.shape
    out = xp.reshape(w, (w.shape[0], C * KH * KW)) @ xp.reshape(cols, (C * KH * KW, N * OH * OW))
    return xp.permute_dims(xp.reshape(out, (w.shape[0], N, OH, OW)), (1, 0, 2, 3))


def window_products(dout: Array, cols: Array) -> Array:
    """``dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] * cols[c, i, j, n, oh, ow]``.

    ``dout (N, F, OH, OW)``, ``cols (C, KH, KW, N, OH, OW)`` from :func:`windows` ->
    ``(F, C, KH, KW)``, the dtype of the inputs. One matrix product
    ``(F, N*OH*OW) @ (N*OH*OW, C*KH*KW)`` (``dout`` made filters-first by one copy, as
    ``tensordot(dout, cols, axes=([0, 2, 3], [3, 4, 5]))`` would make it; written out because
    ``jax.jit`` compiled that ``tensordot`` to a product 2 to 3 times slower than this one).
    """
    xp = namespace(dout, cols)
    N, F, OH, OW = dout.shape
    C, KH, KW = cols.shape[:3]
    dout_by_filter = xp.reshape(xp.permute_dims(dout, (1, 0, 2, 3)), (F, N * OH * OW))
    dw = dout_by_filter @ xp.reshape(cols, (C * KH * KW, N * OH * OW)).T
    return xp.reshape(dw, (F, C, KH, KW))


def window_gradients(dout: Array, w: Array) -> Array:
    """``dcols[c, i, j, n, oh, ow] = sum_f w[f, c, i, j] * dout[n, f, oh, ow]``, the gradient of the windows.

    The adjoint of :func:`correlate` with respect to ``cols``: ``dout (N, F, OH, OW)``,
    ``w (F, C, KH, KW)`` -> ``(C, KH, KW, N, OH, OW)``, the layout of :func:`windows`, in
    the inputs' dtype. One matrix product ``(C*KH*KW, F) @ (F, N*OH*OW)``.
    """
    xp = namespace(dout, w)
    N, F, OH, OW = dout.shape
    _, C, KH, KW = w.shape
    dout_by_filter = xp.reshape(xp.permute_dims(dout, (1, 0, 2, 3)), (F, N * OH * OW))
    dcols = xp.reshape(w, (F, C * KH * KW)).T @ dout_by_filter
    return xp.reshape(dcols, (C, KH, KW, N, OH, OW))


def dilate(a: Array, stride: int) -> Array:
    """``a (N, F, OH, OW)`` with ``stride - 1`` zeros inserted between neighbouring entries of the last two axes.

    Returns ``(N, F, stride*(OH-1) + 1, stride*(OW-1) + 1)``: ``dilated[:, :, stride*oh, stride*ow] =
    a[:, :, oh, ow]``, zero elsewhere (``a`` itself when ``stride == 1``). Each entry gets
    ``stride - 1`` zeros after it on both axes, then the trailing zeros are cut.
    """
    if stride == 1:
        return a
    xp = namespace(a)
    N, F, OH, OW = a.shape
    spread = xp.pad(a[:, :, :, None, :, None], ((0, 0), (0, 0), (0, 0), (0, stride - 1), (0, 0), (0, stride - 1)))
    spread = xp.reshape(spread, (N, F, OH * stride, OW * stride))
    return spread[:, :, : stride * (OH - 1) + 1, : stride * (OW - 1) + 1]


def add_to(a: Array, index: tuple[slice, ...], values: Array) -> Array:
    """``a`` with ``values`` added at ``a[index]``, where ``index`` is made of slices.

    On NumPy ``a`` is the caller's own scratch array and is updated in place
    (a basic slice addresses each element once, so ``a[index] += values`` adds
    every value; ``np.add.at`` is needed only for index arrays with repeats).
    On JAX arrays, which are immutable, it returns ``a.at[index].add(values)``.
    """
    if is_numpy(a):
        a[index] += values
        return a
    return a.at[index].add(values)


def add_windows(dcols: Array, x_shape: tuple[int, int, int, int], stride: int) -> Array:
    """col2im, the adjoint of :func:`windows` (no padding: pass the padded shape and crop): ``dx (N, C, H, W)``.

    ``dcols (C, KH, KW, N, OH, OW)`` holds, for every window ``(oh, ow)`` and
    offset ``(i, j)`` in it, the gradient that window sends to
    ``x[n, c, s*oh + i, s*ow + j]``. Every element receives the SUM over the
    windows that contain it::

        dx[n, c, s*oh + i, s*ow + j] += dcols[c, i, j, n, oh, ow]

    :func:`add_offsets` with ``dcols[:, i, j]`` as offset ``(i, j)``'s gradients. Same dtype as ``dcols``.
    """
    return add_offsets(lambda i, j: dcols[:, i, j], x_shape, dcols.shape[1:3], stride, dcols)


def add_offsets(
    offset_gradient: Callable[[int, int], Array],
    x_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: int,
    like: Array,
) -> Array:
    """col2im from the gradients of one kernel offset at a time: ``dx (N, C, H, W)``, ``like``'s dtype.

    ``offset_gradient(i, j)`` is ``(C, N, OH, OW)``: what every window sends to its
    element at offset ``(i, j)``, ``x[n, c, s*oh + i, s*ow + j]`` (``OH, OW`` the
    window positions of ``x_shape`` at this ``kernel`` and ``stride``)::

        dx[n, c, s*oh + i, s*ow + j] += offset_gradient(i, j)[c, n, oh, ow]

    One slice-add per offset ``(i, j)``; within one offset the windows do not
    share elements, across offsets they do when ``stride < kernel``: the ``+=``
    is what accumulates them. Asked for one offset at a time, a caller (the max
    pool) need not hold all ``KH * KW`` of them at once.
    """
    xp = namespace(like)
    N, C, H, W = x_shape
    KH, KW = kernel
    OH, OW = output_size(H, KH, stride), output_size(W, KW, stride)
    dx = xp.zeros((N, C, H, W), dtype=like.dtype)
    for i in range(KH):
        for j in range(KW):
            rows = slice(i, i + stride * (OH - 1) + 1, stride)
            columns = slice(j, j + stride * (OW - 1) + 1, stride)
            to_nc = xp.permute_dims(offset_gradient(i, j), (1, 0, 2, 3))
            dx = add_to(dx, (slice(None), slice(None), rows, columns), to_nc)
    return dx


def conv2d_forward(x: Array, w: Array, b: Array, stride: int = 1, padding: int = 0) -> tuple[Array, Conv2dCache]:
    """2-D cross-correlation with bias: ``out = b + sum_{c,i,j} w[f,c,i,j] x_pad[n,c,s*oh+i,s*ow+j]``.

    Equals ``torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding)``
    (CS231n assignment 2, ``conv_forward_naive``; Goodfellow, Bengio and
    Courville, *Deep Learning*, 9.1 and 9.5).

    Args:
        x: ``(N, C, H, W)`` float32/float64 (lists and integer arrays become float64).
        w: ``(F, C, KH, KW)``, the same dtype; non-square kernels allowed.
        b: ``(F,)``, the same dtype.
        stride: int >= 1, the same along both spatial axes.
        padding: int >= 0, zeros added on all four sides.

    Returns:
        ``(out, cache)``: ``out (N, F, OH, OW)`` in the inputs' dtype, with
        ``OH = (H + 2 padding - KH) // stride + 1`` (likewise ``OW``; floor, as
        PyTorch), and the :class:`Conv2dCache` for :func:`conv2d_backward`.

    Raises:
        TypeError: a non-numeric array; float32 and float64 inputs mixed; a
            non-integer ``stride`` or ``padding``.
        ValueError: ``x`` or ``w`` not 4-D, ``b`` not 1-D; ``w``'s channels
            (axis 1) differ from ``x``'s ``C``; ``b`` not ``(F,)``; the kernel larger
            than the padded input (named ``w``); ``stride < 1`` or
            ``padding < 0``; NaN or inf in a NumPy input.
    """
    x = float_array("x", x, ndim=4)
    w = float_array("w", w, ndim=4)
    b = float_array("b", b, ndim=1)
    same_dtype(x=x, w=w, b=b)
    stride = positive_int("stride", stride)
    padding = nonnegative_int("padding", padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    check_shape("w", w, (F, C, KH, KW), f"axis 1 is the input channels, x has C = {C}")
    check_shape("b", b, (F,), f"one bias per filter, w has F = {F}")
    window_fits("w", (KH, KW), (H + 2 * padding, W + 2 * padding), "the padded input (H + 2 padding, W + 2 padding)")

    cols = windows(x, KH, KW, stride, (padding, padding), (padding, padding))  # (C, KH, KW, N, OH, OW)
    out = correlate(cols, w) + b[:, None, None]  # (N, F, OH, OW)
    return out, Conv2dCache((N, C, H, W), w, cols, stride, padding)


def conv2d_backward(dout: Array, cache: Conv2dCache) -> tuple[Array, Array, Array]:
    """Gradients of ``conv2d``: ``(dx, dw, db)``, shaped like ``x``, ``w``, ``b``.

    ``dout (N, F, OH, OW)`` is ``dL/dout``. With ``cols`` the windows of the
    forward (``docs/layers/conv.md`` derives each line)::

        db[f]             = sum_{n, oh, ow} dout[n, f, oh, ow]
        dw[f, c, i, j]    = sum_{n, oh, ow} dout[n, f, oh, ow] * x_pad[n, c, s*oh + i, s*ow + j]
        dcols[c, i, j, n, oh, ow] = sum_f w[f, c, i, j] * dout[n, f, oh, ow]
        dx_pad[n, c, s*oh + i, s*ow + j] += dcols[c, i, j, n, oh, ow]     (col2im)
        dx                = dx_pad[:, :, p : p + H, p : p + W]

    ``dcols`` is the gradient of the windows (the adjoint of the forward's
    product); col2im (:func:`add_windows`) returns it to the places the windows
    were gathered from, adding where windows overlap. Rows of ``x_pad`` that no
    window reached (``(Hp - KH) % s`` at the bottom, likewise on the right) get 0.
    The same ``dx`` is the full correlation of the dilated ``dout`` with the
    flipped kernel (:func:`dilate`, :func:`correlate`; ``docs/layers/conv.md``).
    Same dtype as ``dout``; never modifies ``dout`` or the cache.
    """
    xp = namespace(dout)
    N, C, H, W = cache.x_shape
    s, p = cache.stride, cache.padding

    db = xp.sum(dout, axis=(0, 2, 3))  # (F,)
    dw = window_products(dout, cache.cols)  # (F, C, KH, KW)

    dcols = window_gradients(dout, cache.w)  # (C, KH, KW, N, OH, OW): what each window sends back
    dx_pad = add_windows(dcols, (N, C, H + 2 * p, W + 2 * p), s)  # col2im: += where windows overlap
    dx = dx_pad[:, :, p : p + H, p : p + W]  # not [p:-p]: at p = 0 that is empty
    return dx, dw, db
