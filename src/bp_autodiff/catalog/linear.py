"""Classic wrong backward passes of the linear layer (:mod:`bp_manual.layers.linear`).

What this module is for: teaching and the auditor's dictionary. Each function
is :func:`bp_manual.layers.linear.linear_backward` with one mistake, marked
``# MISTAKE``; the correct parts call the same kernels
(:func:`bp_manual.network.layer_grads`) so only the mistake is written out.
:data:`MISTAKES` maps each name to its :class:`LayerMistake`.

The two transpositions have the right shape, and so pass a shape check, only
when ``W`` is square (``D_in == D_out``); with a rectangular ``W`` they are
shape errors. They are demonstrated, and tested, with a square ``W``.

What it is not for: correct code.
"""

from __future__ import annotations

import math
from typing import Any

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.layers.linear import LinearCache
from bp_manual.network import layer_grads


def _flat(dout: Any, cache: LinearCache) -> tuple[Any, Any]:
    """``dout`` and ``x`` with their leading axes flattened: ``(M, D_out)``, ``(M, D_in)``."""
    D_out, D_in = cache.W.shape
    M = math.prod(cache.x.shape[:-1])
    return dout.reshape(M, D_out), cache.x.reshape(M, D_in)


def dW_transposed(dout: Any, cache: LinearCache) -> tuple[Any, Any, Any]:
    """Mistake: ``dW = x.T @ dout``, the transpose of ``dout.T @ x``.

    Made by whoever derives ``dW`` for the layout ``out = x @ W`` (CS231n's
    ``W (D_in, D_out)``) and uses it with PyTorch's ``W (D_out, D_in)``.
    Expected finding: ``transpose`` on ``W``.
    """
    W, bias = cache.W, cache.bias
    d2, x2 = _flat(dout, cache)
    dW = x2.T @ d2  # MISTAKE: dL/dW is dout.T @ x, shape (D_out, D_in)
    return dout @ W, dW, d2.sum(axis=0) if bias else None


def dx_with_W_transposed(dout: Any, cache: LinearCache) -> tuple[Any, Any, Any]:
    """Mistake: ``dx = dout @ W.T`` instead of ``dout @ W`` ("the backward multiplies by the transpose").

    Right for the layout ``out = x @ W``, wrong for ``x @ W.T``: the transpose
    of the forward's matrix is already ``W``. Expected finding: ``transpose`` on ``x``.
    """
    W, bias = cache.W, cache.bias
    d2, x2 = _flat(dout, cache)
    grads = layer_grads(d2, x2, bias)
    dx = dout @ W.T  # MISTAKE: out = x @ W.T, so dx = dout @ W
    return dx, grads["W"], grads["b"] if bias else None


def db_not_summed(dout: Any, cache: LinearCache) -> tuple[Any, Any, Any]:
    """Mistake: ``db = dout``, not summed over the positions the bias is broadcast to.

    The bias is added to every row, so its gradient sums over them. Expected
    finding: ``unreduced`` on ``b`` (summing over the leading axes matches).
    """
    W, bias = cache.W, cache.bias
    d2, x2 = _flat(dout, cache)
    grads = layer_grads(d2, x2, bias)
    db = dout  # MISTAKE: b is shared by every row: db = dout summed over the leading axes
    return dout @ W, grads["W"], db


MISTAKES: dict[str, LayerMistake] = {
    "linear_dW_transposed": LayerMistake("linear", dW_transposed, "transpose", ("W",)),
    "linear_dx_with_W_transposed": LayerMistake("linear", dx_with_W_transposed, "transpose", ("x",)),
    "linear_db_not_summed": LayerMistake("linear", db_not_summed, "unreduced", ("b",)),
}
