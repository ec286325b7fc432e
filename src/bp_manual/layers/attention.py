"""Scaled dot-product attention, forward and backward, optionally causal.

What this module is for: the attention of "Attention is all you need"
(Vaswani et al., 2017, eq. 1) for one head, with the backward pass written out::

    scores = q k^T / sqrt(d)          (N, T, S)
    P = softmax(scores) along S       (masked first when causal)
    out = P v                         (N, T, dv)

The softmax and its backward are those of :mod:`bp_manual.layers.softmax`
(:func:`~bp_manual.layers.softmax.softmax_along`, :func:`~bp_manual.layers.softmax.softmax_dx`).

Notation: ``N`` batch, ``T`` queries, ``S`` keys, ``d`` the query/key width,
``dv`` the value width; ``q (N, T, d)``, ``k (N, S, d)``, ``v (N, S, dv)``.

What it is not for: multiple heads or the input/output projections (compose
with ``linear``), dropout on the attention weights, arbitrary masks, or speed
(the ``(N, T, S)`` weights are kept whole; no flash-attention tiling).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from bp_manual.layers.checks import check_shape, float_array, same_dtype
from bp_manual.layers.softmax import softmax_along, softmax_dx
from bp_manual.namespace import namespace

Array = Any


class AttentionCache(NamedTuple):
    """What :func:`attention_backward` needs: the inputs, the weights ``P (N, T, S)`` and ``scale = 1/sqrt(d)``."""

    q: Array
    k: Array
    v: Array
    P: Array
    scale: float


def causal_mask(T: int, S: int, xp: Any) -> Array:
    """``(T, S)`` booleans, True where query ``t`` may attend to key ``s``: ``s <= t``.

    Aligned at the top left, as PyTorch's ``is_causal=True`` is for ``T != S``
    (``torch.ones(T, S).tril()``): every query sees key 0, so no row is empty.
    """
    return xp.arange(T)[:, None] >= xp.arange(S)[None, :]


def attention_forward(q: Array, k: Array, v: Array, causal: bool = False) -> tuple[Array, AttentionCache]:
    """``out = softmax(q k^T / sqrt(d)) v``, equal to ``F.scaled_dot_product_attention(q, k, v, is_causal=causal)``.

    With ``causal=True`` query ``t`` attends to keys ``s <= t`` only: the other
    scores are set to ``-inf`` before the softmax, so their weights are exactly
    0. For ``T != S`` the mask is aligned at the top left, as PyTorch's
    ``is_causal`` is (:func:`causal_mask`).

    Args:
        q: ``(N, T, d)``, queries; ``T >= 1``, ``d >= 1``.
        k: ``(N, S, d)``, keys; ``S >= 1``.
        v: ``(N, S, dv)``, values.
        causal: mask out keys later than the query.
        All float32 or all float64 (other real dtypes become float64).

    Returns:
        ``(out, cache)`` with ``out (N, T, dv)``.

    Raises:
        TypeError: an input is not a real array, they mix float32 and float64,
            or ``causal`` is not a bool.
        ValueError: an input is not 3-D, ``k`` or ``v`` disagrees with ``q``
            (the message names it and the expected shape), ``T``, ``S`` or ``d``
            is 0, or an input holds NaN or inf.
    """
    q = float_array("q", q, ndim=3)
    k = float_array("k", k, ndim=3)
    v = float_array("v", v, ndim=3)
    N, T, d = q.shape
    S = k.shape[1]
    if T == 0 or d == 0:
        raise ValueError(f"q must have at least one query and one feature, got shape {tuple(q.shape)}")
    if S == 0:
        raise ValueError(f"k must have at least one key, got shape {tuple(k.shape)}")
    check_shape("k", k, (N, S, d), "N and d from q")
    check_shape("v", v, (N, S, v.shape[2]), "N from q, S from k")
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__} {causal!r}")
    same_dtype(q=q, k=k, v=v)
    xp = namespace(q, k, v)
    scale = 1.0 / math.sqrt(d)
    scores = (q @ xp.swapaxes(k, 1, 2)) * scale
    if causal:
        scores = xp.where(causal_mask(T, S, xp), scores, -xp.inf)
    P = softmax_along(scores, 2)
    return P @ v, AttentionCache(q, k, v, P, scale)


def attention_backward(dout: Array, cache: AttentionCache) -> tuple[Array, Array, Array]:
    """Gradients of :func:`attention_forward`; ``dout (N, T, dv)``.

    Backwards through the three lines of the forward::

        dv = P^T dout                                   (N, S, dv)
        dP = dout v^T                                   (N, T, S)
        dscores = P * (dP - sum_s dP * P)               (the softmax backward, full Jacobian)
        dq = dscores k / sqrt(d),   dk = dscores^T q / sqrt(d)

    The mask needs no step of its own: a masked weight is exactly 0, so its
    ``dscores`` is 0 too. The ``1/sqrt(d)`` of the forward appears in both
    ``dq`` and ``dk``.

    Returns:
        ``(dq, dk, dv)``, shaped and typed like ``q``, ``k``, ``v``.
    """
    q, k, v, P, scale = cache
    xp = namespace(dout, P)
    dv = xp.swapaxes(P, 1, 2) @ dout
    dP = dout @ xp.swapaxes(v, 1, 2)
    dscores = softmax_dx(P, dP, 2)
    dq = (dscores @ k) * scale
    dk = (xp.swapaxes(dscores, 1, 2) @ q) * scale
    return dq, dk, dv
