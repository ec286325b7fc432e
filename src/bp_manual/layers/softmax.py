"""Softmax, log-softmax and cross-entropy as layers, each a forward/backward pair.

What this module is for: the normalisations that turn scores into a
distribution along one axis, and the classification loss on integer labels,
with the backward passes written out:

- ``softmax``: ``s = softmax(x)`` along ``axis``; ``dx = s * (dout - sum(dout * s))``.
- ``log_softmax``: ``y = x - logsumexp(x)`` along ``axis``; ``dx = dout - exp(y) * sum(dout)``.
- ``cross_entropy``: ``L = -(1/N) sum_n log softmax(logits_n)[labels_n]``;
  ``dlogits = dout * (softmax(logits) - onehot(labels)) / N``.

The equations themselves are the stable kernels of :mod:`bp_manual.losses`
(``softmax``, ``log_softmax``, ``cross_entropy``, ``output_delta``), applied
here along any axis: one implementation of each equation. :func:`softmax_along`
and :func:`softmax_dx` are the two halves of the softmax layer without the
argument checks, for layers built on softmax (attention).

Notation: ``x`` any shape, ``axis`` the axis normalised over (``K`` entries);
``logits (N, K)``, ``labels (N,)`` integers in ``[0, K)``.

What it is not for: the dense network's output layer (:mod:`bp_manual.losses`
pairs softmax with cross-entropy there on one-hot targets), label smoothing,
class weights or PyTorch's ``ignore_index`` (a label of ``-100`` is refused as
out of range, not ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bp_manual import losses
from bp_manual.layers.checks import axis_index, float_array, index_array
from bp_manual.namespace import namespace

Array = Any


def _checked(x: object, axis: object) -> tuple[Array, int]:
    """``x`` as a float array of at least one dimension, non-empty along ``axis``, and ``axis`` in ``[0, ndim)``."""
    arr: Array = float_array("x", x)
    if arr.ndim == 0:
        raise ValueError("x must have at least 1 dimension, got shape ()")
    ax = axis_index("axis", axis, arr.ndim)
    _nonempty_along(arr, ax)
    return arr, ax


def _nonempty_along(x: Array, axis: int) -> None:
    if x.shape[axis] == 0:
        raise ValueError(f"x must have at least one entry along axis {axis}, got shape {tuple(x.shape)}")


def along(kernel: Callable[[Array], Array], x: Array, axis: int) -> Array:
    """``kernel``, a row-wise map of ``(M, K)`` arrays, applied along ``axis`` of ``x``.

    ``axis`` is moved last and the other axes flattened into rows, so the same
    kernel serves every axis. Shape and dtype of ``x``.
    """
    xp = namespace(x)
    moved = xp.moveaxis(x, axis, -1)
    rows = kernel(xp.reshape(moved, (-1, moved.shape[-1])))
    return xp.moveaxis(xp.reshape(rows, moved.shape), -1, axis)


def softmax_along(x: Array, axis: int) -> Array:
    """``s = exp(x) / sum(exp(x))`` along ``axis`` (the stable :func:`bp_manual.losses.softmax`), unchecked.

    ``axis`` in ``[0, x.ndim)``. Entries of ``x`` may be ``-inf`` (masked
    scores) as long as each slice along ``axis`` has a finite one; they get
    probability 0.
    """
    return along(losses.softmax, x, axis)


def softmax_dx(s: Array, dout: Array, axis: int) -> Array:
    """The softmax backward: ``dx = s * (dout - sum(dout * s, axis))``, unchecked.

    From ``ds_i/dx_j = s_i ([i == j] - s_j)``: ``dx_j = sum_i dout_i s_i ([i == j] - s_j)
    = s_j dout_j - s_j sum_i dout_i s_i``. The full Jacobian, not its diagonal
    ``s (1 - s)``. Shapes: ``s`` and ``dout`` alike, the result too.
    """
    return s * (dout - (dout * s).sum(axis=axis, keepdims=True))


def softmax_forward(x: Array, axis: int = -1) -> tuple[Array, tuple[Array, int]]:
    """``s = softmax(x)`` along ``axis``: ``s_i = exp(x_i) / sum_j exp(x_j)``; equals ``F.softmax(x, dim=axis)``.

    Computed as ``exp(x - max) / sum(exp(x - max))`` (:func:`bp_manual.losses.softmax`):
    no overflow for any finite ``x``. Source: Bishop, *Pattern Recognition and
    Machine Learning*, 4.3.4; CS231n's notes on the softmax classifier.

    Args:
        x: any shape with at least one dimension, float32 or float64 (other
            real dtypes become float64).
        axis: the axis to normalise over; negative counts from the end.

    Returns:
        ``(s, cache)``, ``s`` with the shape and dtype of ``x``, every slice
        along ``axis`` positive and summing to 1.

    Raises:
        TypeError: ``x`` is not a real array; ``axis`` is not an int.
        ValueError: ``x`` is 0-dimensional, not finite, or empty along ``axis``;
            ``axis`` is out of range.
    """
    x, ax = _checked(x, axis)
    s = softmax_along(x, ax)
    return s, (s, ax)


def softmax_backward(dout: Array, cache: tuple[Array, int]) -> tuple[Array]:
    """``dx = s * (dout - sum(dout * s, axis))`` (:func:`softmax_dx`); ``dout`` shaped like ``s``.

    Returns ``(dx,)``, shape and dtype of ``x``.
    """
    s, axis = cache
    return (softmax_dx(s, dout, axis),)


def log_softmax_forward(x: Array, axis: int = -1) -> tuple[Array, tuple[Array, int]]:
    """``y = log softmax(x) = x - log sum_j exp(x_j)`` along ``axis``; equals ``F.log_softmax(x, dim=axis)``.

    Computed with the maximum shifted out (:func:`bp_manual.losses.log_softmax`):
    finite for finite ``x`` even where ``softmax(x)`` underflows to 0.

    Args:
        x: any shape with at least one dimension, float32 or float64.
        axis: the axis to normalise over; negative counts from the end.

    Returns:
        ``(y, cache)``, ``y`` with the shape and dtype of ``x``, every entry ``<= 0``.

    Raises:
        TypeError: ``x`` is not a real array; ``axis`` is not an int.
        ValueError: ``x`` is 0-dimensional, not finite, or empty along ``axis``;
            ``axis`` is out of range.
    """
    x, ax = _checked(x, axis)
    y = along(losses.log_softmax, x, ax)
    return y, (y, ax)


def log_softmax_backward(dout: Array, cache: tuple[Array, int]) -> tuple[Array]:
    """``dx = dout - softmax(x) * sum(dout, axis)``, with ``softmax(x) = exp(y)``.

    From ``dy_i/dx_j = [i == j] - s_j``: ``dx_j = dout_j - s_j sum_i dout_i``.
    Returns ``(dx,)``, shape and dtype of ``x``.
    """
    y, axis = cache
    return (dout - namespace(y).exp(y) * dout.sum(axis=axis, keepdims=True),)


def one_hot(labels: Array, K: int, dtype: Any) -> Array:
    """``Y (N, K)`` with ``Y[n, labels[n]] = 1`` and 0 elsewhere, of ``dtype``."""
    xp = namespace(labels)
    return (labels[:, None] == xp.arange(K)[None, :]).astype(dtype)


def cross_entropy_forward(logits: Array, labels: Array) -> tuple[Array, tuple[Array, Array]]:
    """``L = -(1/N) sum_n log softmax(logits_n)[labels_n]``; equals ``F.cross_entropy(logits, labels)``.

    The mean over the batch (PyTorch's ``reduction="mean"``), evaluated from
    the logits through the one-hot rows ``Y`` as
    :func:`bp_manual.losses.cross_entropy` does: ``-(1/N) sum Y * log_softmax(logits)``.

    Args:
        logits: ``(N, K)``, ``N >= 1``, ``K >= 1``, float32 or float64.
        labels: ``(N,)``, integers in ``[0, K)``.

    Returns:
        ``(L, cache)``, ``L`` a scalar of the logits' dtype.

    Raises:
        TypeError: ``logits`` is not a real array; ``labels`` is not an integer
            array (float labels, even integral ones, are refused).
        ValueError: ``logits`` is not 2-D, empty, or not finite; ``labels`` is not
            ``(N,)``, or an entry lies outside ``[0, K)``.
    """
    logits = float_array("logits", logits, ndim=2)
    N, K = logits.shape
    if N == 0 or K == 0:
        raise ValueError(f"logits must have at least one row and one column, got shape {(N, K)}")
    labels = index_array("labels", labels, K, ndim=1)
    if labels.shape[0] != N:
        raise ValueError(f"labels must have shape ({N},) (one per row of logits), got {tuple(labels.shape)}")
    Y = one_hot(labels, K, logits.dtype)
    return losses.cross_entropy(logits, Y), (logits, Y)


def cross_entropy_backward(dout: Array, cache: tuple[Array, Array]) -> tuple[Array, None]:
    """``dlogits = dout * (softmax(logits) - Y) / N`` (:func:`bp_manual.losses.output_delta`), ``Y`` one-hot.

    ``dout`` is a scalar (the upstream gradient of the loss). Returns
    ``(dlogits, None)``: ``dlogits (N, K)`` of the logits' dtype; the labels
    have no gradient.
    """
    logits, Y = cache
    return dout * losses.output_delta(losses.softmax(logits), Y), None
