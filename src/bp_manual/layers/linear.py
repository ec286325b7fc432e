"""The linear (fully connected) layer, ``out = x @ W.T + b``, and its backward pass.

What this module is for: the affine map of a dense layer as a layer of the
library, on inputs with any number of leading axes ``(..., D_in)`` (a batch
``(N, D_in)``, a sequence batch ``(N, T, D_in)``, or one sample ``(D_in,)``),
with PyTorch's layout ``W (D_out, D_in)``. Its equations are the dense
network's (:mod:`bp_manual.network`), and so is the code: the forward is
:func:`~bp_manual.network.layer_forward` and the parameter gradients are
:func:`~bp_manual.network.layer_grads`, applied to the leading axes flattened
into one batch axis of length ``M``.

What it is not for: the nonlinearity (:mod:`bp_manual.layers.activations`) or
a whole network (:mod:`bp_manual.layers.sequential`, :mod:`bp_manual.network`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from bp_manual.layers.checks import check_shape, float_array, same_dtype
from bp_manual.network import layer_forward, layer_grads


class LinearCache(NamedTuple):
    """What :func:`linear_backward` needs: the input ``x (..., D_in)``, ``W (D_out, D_in)``, whether ``b`` was given."""

    x: Any
    W: Any
    bias: bool


def linear_forward(x: Any, W: Any, b: Any | None) -> tuple[Any, LinearCache]:
    """``out = x @ W.T + b``, the affine map of a dense layer.

    ``out[..., i] = sum_j x[..., j] W[i, j] + b[i]``, the same map applied to
    every leading index. Equals PyTorch's ``torch.nn.functional.linear(x, W, b)``
    (and ``nn.Linear``); CS231n's ``affine_forward`` with ``W`` transposed.

    Args:
        x: ``(..., D_in)``, at least 1-D; float32 or float64 (integers become float64).
        W: ``(D_out, D_in)``, the dtype of ``x``.
        b: ``(D_out,)``, the dtype of ``x``, or ``None`` for no bias.

    Returns:
        ``(out, cache)``: ``out`` of shape ``(..., D_out)`` in the inputs' dtype.

    Raises:
        TypeError: a non-numeric input, or inputs of different floating dtypes.
        ValueError: ``x`` 0-dimensional, ``W`` not 2-D, ``b`` not ``(D_out,)``,
            ``x``'s last axis not ``D_in``; NaN or inf in a NumPy input.
    """
    x = float_array("x", x)
    W = float_array("W", W, ndim=2)
    if x.ndim < 1:
        raise ValueError(f"x must have at least 1 dimension (..., D_in), got shape {tuple(x.shape)}")
    check_shape("x", x, (*x.shape[:-1], W.shape[1]), "its last axis is D_in = W.shape[1]")
    if b is not None:
        b = float_array("b", b, ndim=1)
        check_shape("b", b, (W.shape[0],), "D_out = W.shape[0]")
        same_dtype(x=x, W=W, b=b)
    else:
        same_dtype(x=x, W=W)
    return layer_forward(W, b, x), LinearCache(x, W, b is not None)


def linear_backward(dout: Any, cache: LinearCache) -> tuple[Any, Any, Any | None]:
    """``(dx, dW, db)`` for ``out = x @ W.T + b``, given ``dout = dL/dout``.

    With ``M`` the number of leading positions (``x`` seen as ``(M, D_in)``,
    ``dout`` as ``(M, D_out)``)::

        dx = dout @ W                (..., D_in)    each position separately
        dW = dout.T @ x              (D_out, D_in)  summed over all M positions
        db = dout.sum(axis=0)        (D_out,)       summed over all M positions

    ``W`` is shared by every position, so its gradient adds up the contribution
    of each (the multivariate chain rule sums over every path from ``W`` to the
    loss); ``dx`` needs no sum, each position of ``x`` reaches only its own row
    of ``out``. ``db`` is ``None`` when the forward had no bias.

    Args:
        dout: ``(..., D_out)``, the shape of the forward's ``out``.
        cache: from :func:`linear_forward`.
    """
    x, W, bias = cache
    D_out, D_in = W.shape
    M = math.prod(x.shape[:-1])
    dx = dout @ W
    grads = layer_grads(dout.reshape(M, D_out), x.reshape(M, D_in), bias)
    return dx, grads["W"], grads["b"] if bias else None
