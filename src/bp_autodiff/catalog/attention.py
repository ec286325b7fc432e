"""Classic wrong backward passes of scaled dot-product ``attention``.

What this module is for: the mistakes people make deriving attention's
backward (:mod:`bp_manual.layers.attention`), each a readable backward
``(dout, cache) -> (dq, dk, dv)`` with its mistake marked ``# MISTAKE``,
registered in :data:`MISTAKES` for teaching, for the auditor's diagnosis and
for the test that the layer's property test catches every one of them. They
use the correct layer's cache and softmax kernels, so only the mistake is
written out.

What it is not for: correct code (:mod:`bp_manual.layers.attention`).
"""

from __future__ import annotations

from typing import Any

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.layers.attention import AttentionCache, attention_backward
from bp_manual.layers.softmax import softmax_along, softmax_dx
from bp_manual.namespace import namespace


def attention_no_scale_in_backward(dout: Any, cache: AttentionCache) -> tuple[Any, Any, Any]:
    """Mistake: ``dq = dscores k`` and ``dk = dscores^T q``, the ``1/sqrt(d)`` of the forward left out.

    The scale is a constant, so it is easy to treat it as "not part of the
    graph"; but ``scores = q k^T / sqrt(d)`` carries it into both gradients.
    ``dq`` and ``dk`` come out ``sqrt(d)`` times too large; hides at ``d = 1``.
    """
    q, k, v, P, _ = cache
    xp = namespace(dout, P)
    dv = xp.swapaxes(P, 1, 2) @ dout
    dscores = softmax_dx(P, dout @ xp.swapaxes(v, 1, 2), 2)
    dq = dscores @ k  # MISTAKE: should be (dscores @ k) * scale
    dk = xp.swapaxes(dscores, 1, 2) @ q  # MISTAKE: likewise
    return dq, dk, dv


def attention_softmax_diagonal_only(dout: Any, cache: AttentionCache) -> tuple[Any, Any, Any]:
    """Mistake: the softmax backward inside attention taken element-wise, ``dscores = dP * P * (1 - P)``.

    The softmax family's ``softmax_diagonal_only`` met inside a bigger layer:
    each weight ``P_ts`` also depends on the other scores of its row.
    """
    q, k, v, P, scale = cache
    xp = namespace(dout, P)
    dv = xp.swapaxes(P, 1, 2) @ dout
    dP = dout @ xp.swapaxes(v, 1, 2)
    dscores = dP * P * (1.0 - P)  # MISTAKE: should be P * (dP - sum_s dP * P) (softmax_dx)
    return (dscores @ k) * scale, (xp.swapaxes(dscores, 1, 2) @ q) * scale, dv


def attention_mask_not_in_backward(dout: Any, cache: AttentionCache) -> tuple[Any, Any, Any]:
    """Mistake: the backward recomputes the weights from ``q`` and ``k`` (to save memory) and forgets the mask.

    Recomputing ``P`` instead of storing it is what memory-efficient attention
    does; the recomputation must apply the causal mask again, or future keys
    get weight and gradient. Hides when ``causal=False``.
    """
    q, k, v, _, scale = cache
    xp = namespace(dout, q)
    P = softmax_along((q @ xp.swapaxes(k, 1, 2)) * scale, 2)  # MISTAKE: the causal mask is not applied
    dv = xp.swapaxes(P, 1, 2) @ dout
    dscores = softmax_dx(P, dout @ xp.swapaxes(v, 1, 2), 2)
    return (dscores @ k) * scale, (xp.swapaxes(dscores, 1, 2) @ q) * scale, dv


def attention_dq_dk_swapped(dout: Any, cache: AttentionCache) -> tuple[Any, Any, Any]:
    """Mistake: ``dq`` and ``dk`` returned in each other's place.

    ``scores = q k^T`` looks symmetric in ``q`` and ``k``; with as many queries as
    keys (``T = S``, self-attention) the shapes match and nothing complains.
    Expected finding: ``swapped`` between ``q`` and ``k``.
    """
    dq, dk, dv = attention_backward(dout, cache)
    return dk, dq, dv  # MISTAKE: the order is (dq, dk, dv)


#: The classic mistakes of attention, by name. Each shows with ``d >= 2``,
#: several keys, and ``T = S`` (the swap); the mask one needs ``causal=True``.
MISTAKES: dict[str, LayerMistake] = {
    "attention_no_scale_in_backward": LayerMistake(
        "attention", attention_no_scale_in_backward, "layer_mistake", ("q", "k")
    ),
    "attention_softmax_diagonal_only": LayerMistake(
        "attention", attention_softmax_diagonal_only, "layer_mistake", ("q", "k")
    ),
    "attention_mask_not_in_backward": LayerMistake(
        "attention", attention_mask_not_in_backward, "layer_mistake", ("q", "k", "v"), {"causal": True}
    ),
    "attention_dq_dk_swapped": LayerMistake("attention", attention_dq_dk_swapped, "swapped", ("q", "k")),
}
